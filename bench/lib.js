// Shared plumbing of the benchmarks: scratch databases, processes, readiness, percentiles.
const { spawn } = require('node:child_process');
const { createServer } = require('node:net');
const { Client } = require('pg');
const Redis = require('ioredis');

const SERVER = process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROOT = require('node:path').join(__dirname, '..');

async function sql(database, query, values) {
  const client = new Client({ connectionString: `${SERVER}/${database}` });
  await client.connect();
  try {
    return await client.query(query, values);
  } finally {
    await client.end();
  }
}

/** A migrated database of its own; `drop` removes it. */
async function scratchDatabase(name) {
  await sql('postgres', `CREATE DATABASE "${name}"`);
  await run(process.execPath, ['scripts/migrate.js'], { DATABASE_URL: `${SERVER}/${name}` });
  return { url: `${SERVER}/${name}`, drop: () => sql('postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}

function run(command, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited ${code}`))));
  });
}

/** Starts a long-running process; `stop` sends SIGTERM and waits for it to exit. */
function start(args, env) {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  return {
    child,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function waitFor(check, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error('service did not become ready');
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function dropRedisPrefix(prefix) {
  const redis = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length) await redis.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

module.exports = { SERVER, REDIS_URL, ROOT, sql, scratchDatabase, run, start, freePort, waitFor, dropRedisPrefix, percentile };
