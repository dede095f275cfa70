import { Client } from 'pg';
import Redis from 'ioredis';

const SERVER_URL = process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';

/** Removes the run's database, its template and every Redis key under its prefix. */
export default async function globalTeardown(): Promise<void> {
  const database = process.env.GATEHOUSE_TEST_DATABASE;
  if (database) {
    // The run's database, its template, and any scratch copy a spec left behind all share its name.
    const admin = new Client({ connectionString: `${SERVER_URL}/postgres` });
    await admin.connect();
    const { rows } = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [database]);
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    await admin.end();
  }
  const prefix = process.env.GATEHOUSE_REDIS_PREFIX;
  if (prefix) {
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
    await redis.quit();
  }
}
