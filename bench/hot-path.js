// The auto-approve path, broker against the bare floor (bench/floor.js), side by side in one run:
// autocannon at 50 connections on pre-signed assertions (single-use: signed before the clock
// starts), alternating broker and floor so that both meet the same machine state.
const { randomUUID } = require('node:crypto');
const autocannon = require('autocannon');
const { REDIS_URL, scratchDatabase, start, freePort, waitFor, dropRedisPrefix, sql } = require('./lib');

const BODY = JSON.stringify({
  resource: 'crm.customers',
  actions: ['read'],
  columns: ['id', 'name', 'company'],
  duration: '10m',
  reason: 'benchmark: auto-approved read',
});

async function signAssertions(SignJWT, privateKey, agentId, audience, count) {
  const now = Math.floor(Date.now() / 1000);
  const out = [];
  for (let i = 0; i < count; i++) {
    out.push(
      await new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA' })
        .setIssuer(agentId)
        .setSubject(agentId)
        .setAudience(audience)
        .setIssuedAt(now)
        .setExpirationTime(now + 290)
        .setJti(randomUUID())
        .sign(privateKey),
    );
  }
  return out;
}

async function load(url, assertions, { connections, duration }) {
  let next = 0;
  const result = await autocannon({
    url,
    connections,
    duration,
    requests: [
      {
        method: 'POST',
        path: '/v1/access-requests',
        headers: { 'content-type': 'application/json' },
        body: BODY,
        setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${assertions[next++]}` } }),
      },
    ],
  });
  if (next > assertions.length) throw new Error('ran out of pre-signed assertions: raise the count');
  // A figure over failed requests measures nothing.
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx answers and ${result.errors} errors under load`);
  return {
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
  };
}

/** Runs `rounds` alternating rounds of broker then floor; returns each round and the ratio of the medians. */
async function hotPath({ connections = 50, duration = 15, rounds = 2 } = {}) {
  const { generateKeyPair, exportJWK, SignJWT } = await import('jose');
  const id = Date.now().toString(36);
  const db = await scratchDatabase(`gatehouse_bench_${id}`);
  const prefix = `bench_${id}`;
  const brokerPort = await freePort();
  const floorPort = await freePort();
  const admin = 'bench-admin-token-0123456789';
  const broker = start([...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), 'dist/apps/gatehouse/apps/gatehouse/src/main.js'], {
    DATABASE_URL: db.url,
    REDIS_URL,
    PORT: String(brokerPort),
    GATEHOUSE_ADMIN_TOKENS: `bench:${admin}`,
    GATEHOUSE_RATE_LIMIT: '1000000/10s',
    GATEHOUSE_AUTH_FAILURE_LIMIT: '1000000/1s',
    GATEHOUSE_REDIS_PREFIX: prefix,
    LOG_LEVEL: 'warn',
    GATEHOUSE_POLICY_FILE: 'policies/default.yaml',
  });
  let floor;
  try {
    const brokerUrl = `http://127.0.0.1:${brokerPort}`;
    await waitFor(async () => (await fetch(`${brokerUrl}/health/ready`)).ok);
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const publicJwk = await exportJWK(publicKey);
    const reg = await fetch(`${brokerUrl}/v1/admin/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench-agent', publicJwk }),
    });
    const agentId = (await reg.json()).id;
    floor = start(['bench/floor.js'], {
      DATABASE_URL: db.url,
      REDIS_URL,
      PORT: String(floorPort),
      FLOOR_AGENT_ID: agentId,
      FLOOR_AGENT_JWK: JSON.stringify(publicJwk),
    });
    const floorUrl = `http://127.0.0.1:${floorPort}`;
    await waitFor(async () => (await fetch(`${floorUrl}/v1/access-requests`, { method: 'POST' })).status === 401);

    const perRound = Math.max(30_000, duration * 2_500);
    const rows = [];
    for (let round = 0; round < rounds; round++) {
      // The broker's issuer is http://localhost:PORT (its default); the floor's is its own address.
      const b = await load(brokerUrl, await signAssertions(SignJWT, privateKey, agentId, `http://localhost:${brokerPort}`, perRound), {
        connections,
        duration,
      });
      const f = await load(floorUrl, await signAssertions(SignJWT, privateKey, agentId, floorUrl, perRound), { connections, duration });
      rows.push({ round: round + 1, broker: b, floor: f, ratio: +(b.rps / f.rps).toFixed(2), p99Ratio: +(b.p99 / f.p99).toFixed(2) });
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const {
      rows: [counts],
    } = await sql(
      db.url.split('/').pop(),
      "SELECT count(*) FILTER (WHERE kid = 'floor')::int AS floor, count(*) FILTER (WHERE kid <> 'floor')::int AS broker FROM grants",
    );
    return {
      connections,
      durationSeconds: duration,
      rounds: rows,
      ratio: +(median(rows.map((r) => r.broker.rps)) / median(rows.map((r) => r.floor.rps))).toFixed(2),
      p99Ratio: +(median(rows.map((r) => r.broker.p99)) / median(rows.map((r) => r.floor.p99))).toFixed(2),
      grantsIssued: counts,
    };
  } finally {
    await floor?.stop();
    await broker.stop();
    await db.drop();
    await dropRedisPrefix(prefix);
  }
}

module.exports = { hotPath };
