import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Client } from 'pg';
import { copyOfTemplate } from './database';

const SERVER_URL = process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';

/**
 * One database and one Redis key prefix per test run, so runs never see each other's rows or jobs.
 * Migrations run once, into a template; the run's database and every scratch database are copies
 * of it (`CREATE DATABASE ... TEMPLATE`, a fraction of a second against about 11 s for
 * `prisma migrate deploy`). Workers inherit process.env, so every spec connects without wiring.
 */
export default async function globalSetup(): Promise<void> {
  const id = `${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const database = `gatehouse_test_${id}`;
  const template = `${database}_template`;
  const admin = new Client({ connectionString: `${SERVER_URL}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${template}"`);
  await admin.end();
  execFileSync(process.execPath, ['scripts/prisma.js', 'migrate', 'deploy'], {
    stdio: 'pipe',
    env: { ...process.env, DATABASE_URL: `${SERVER_URL}/${template}` },
  });

  process.env.GATEHOUSE_TEST_TEMPLATE = template;
  process.env.GATEHOUSE_TEST_DATABASE = database;
  await copyOfTemplate(database);
  process.env.DATABASE_URL = `${SERVER_URL}/${database}`;
  process.env.REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  process.env.GATEHOUSE_REDIS_PREFIX = `ghtest_${id}`;
}
