import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

const SERVER_URL = process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';

async function admin<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: `${SERVER_URL}/postgres` });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates database `name` as a copy of the run's migrated template. Postgres refuses a copy while
 * another copy of the same template is being made (55006): parallel workers wait their turn.
 */
export async function copyOfTemplate(name: string): Promise<string> {
  const template = process.env.GATEHOUSE_TEST_TEMPLATE;
  if (!template) throw new Error('GATEHOUSE_TEST_TEMPLATE is not set: run the specs through jest (global setup migrates the template)');
  for (let attempt = 0; ; attempt++) {
    try {
      await admin((c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`));
      return `${SERVER_URL}/${name}`;
    } catch (error) {
      if ((error as { code?: string }).code !== '55006' || attempt >= 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** A migrated database of its own, for specs that corrupt data on purpose (audit tampering). */
export async function createScratchDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${process.env.GATEHOUSE_TEST_DATABASE ?? 'gatehouse_test'}_${randomBytes(3).toString('hex')}`;
  const url = await copyOfTemplate(name);
  return { url, drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined) };
}
