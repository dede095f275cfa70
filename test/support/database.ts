import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Client } from 'pg';

const SERVER_URL = process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';

/** A migrated database of its own, for specs that corrupt data on purpose (audit tampering). */
export async function createScratchDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${process.env.GATEHOUSE_TEST_DATABASE ?? 'gatehouse_test'}_${randomBytes(3).toString('hex')}`;
  const admin = new Client({ connectionString: `${SERVER_URL}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = `${SERVER_URL}/${name}`;
  execFileSync(process.execPath, ['scripts/prisma.js', 'migrate', 'deploy'], { stdio: 'pipe', env: { ...process.env, DATABASE_URL: url } });
  return {
    url,
    drop: async () => {
      const client = new Client({ connectionString: `${SERVER_URL}/postgres` });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await client.end();
    },
  };
}
