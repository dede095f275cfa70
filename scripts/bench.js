#!/usr/bin/env node
// Measures auto-approved POST /v1/access-requests: median and p99 latency and throughput at 50
// concurrent connections (autocannon), against the built broker in its own process and database.
// Usage: npm run bench [-- --duration 20 --connections 50]
const { spawn } = require('node:child_process');
const { randomUUID } = require('node:crypto');
const { Client } = require('pg');
const autocannon = require('autocannon');

const args = Object.fromEntries(process.argv.slice(2).join(' ').split('--').filter(Boolean).map((a) => a.trim().split(/\s+/)));
const DURATION = Number(args.duration ?? 20);
const CONNECTIONS = Number(args.connections ?? 50);
const PORT = Number(args.port ?? 3999);
const SERVER = process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';
const DB = `gatehouse_bench_${Date.now().toString(36)}`;
const ADMIN = 'bench-admin-token-0123456789';
const URL_ = `http://127.0.0.1:${PORT}`;

async function sql(query) {
  const c = new Client({ connectionString: `${SERVER}/postgres` });
  await c.connect();
  try { await c.query(query); } finally { await c.end(); }
}

async function waitReady() {
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`${URL_}/health/ready`)).ok) return; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('broker did not become ready');
}

async function main() {
  const { generateKeyPair, exportJWK, SignJWT } = await import('jose');
  const env = {
    ...process.env, DATABASE_URL: `${SERVER}/${DB}`, PORT: String(PORT), GATEHOUSE_ADMIN_TOKENS: `bench:${ADMIN}`,
    GATEHOUSE_RATE_LIMIT: '1000000/10s', GATEHOUSE_REDIS_PREFIX: `bench_${Date.now().toString(36)}`, LOG_LEVEL: 'warn',
  };
  await new Promise((resolve, reject) => spawn(process.execPath, ['scripts/migrate.js'], { env, stdio: 'ignore' }).on('exit', (c) => (c === 0 ? resolve() : reject(new Error('migrate failed')))));
  const broker = spawn(process.execPath, [...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), 'dist/apps/gatehouse/apps/gatehouse/src/main.js'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await waitReady();
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const reg = await fetch(`${URL_}/v1/admin/agents`, {
      method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench-agent', publicJwk: await exportJWK(publicKey) }),
    });
    const agentId = (await reg.json()).id;
    // Assertions are single-use; sign them all before the clock starts.
    const needed = Math.max(20000, DURATION * 3000);
    const now = Math.floor(Date.now() / 1000);
    const assertions = [];
    for (let i = 0; i < needed; i++) {
      assertions.push(await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA' }).setIssuer(agentId).setSubject(agentId)
        .setAudience(`http://localhost:${PORT}`).setIssuedAt(now).setExpirationTime(now + 290).setJti(randomUUID()).sign(privateKey));
    }
    const body = JSON.stringify({ resource: 'crm.customers', actions: ['read'], columns: ['id', 'name', 'company'], duration: '10m', reason: 'benchmark: auto-approved read' });
    let next = 0;
    const result = await autocannon({
      url: URL_, connections: CONNECTIONS, duration: DURATION,
      requests: [{ method: 'POST', path: '/v1/access-requests', headers: { 'content-type': 'application/json' }, body,
        setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${assertions[next++ % assertions.length]}` } }) }],
    });
    const c = new Client({ connectionString: `${SERVER}/${DB}` });
    await c.connect();
    const { rows } = await c.query("SELECT count(*)::int AS grants FROM grants");
    await c.end();
    console.log(JSON.stringify({
      connections: CONNECTIONS, durationSeconds: DURATION, requests: result.requests.total, non2xx: result.non2xx, errors: result.errors,
      throughputRps: Math.round(result.requests.average), latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
      grantsIssued: rows[0].grants, assertionsSigned: needed,
    }, null, 2));
  } finally {
    broker.kill('SIGTERM');
    await new Promise((r) => broker.on('exit', r));
    await sql(`DROP DATABASE IF EXISTS "${DB}" WITH (FORCE)`);
    const Redis = require('ioredis');
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const keys = await redis.keys(`${env.GATEHOUSE_REDIS_PREFIX}*`);
    if (keys.length) await redis.unlink(...keys);
    await redis.quit();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
