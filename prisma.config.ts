import path from 'node:path';
import { defineConfig } from 'prisma/config';
import { PrismaPg } from '@prisma/adapter-pg';
import { parse } from 'pg-connection-string';

const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/gatehouse';

// The WebAssembly schema engine needs a driver adapter; `parse` (not a bare connection string)
// keeps the shadow database working. Idle connections must not hold the CLI open after its work
// (pg keeps them 10 s); see also scripts/prisma-timers.js.
export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: path.join('prisma', 'schema.prisma'),
  migrations: { path: path.join('prisma', 'migrations') },
  adapter: async () => new PrismaPg({ ...(parse(process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL) as object), allowExitOnIdle: true } as never),
});
