// Expiry lateness (when a grant actually ended, minus its exp) with 10,000 live grants falling due
// in the same second: the broker (grants issued through its API, ended by its expiry jobs, with the
// reconciler held back so that the jobs do the work) against a bare BullMQ worker doing only the
// conditional UPDATE (bench/expiry-reference.js), in the same run.
const { randomUUID } = require('node:crypto');
const autocannon = require('autocannon');
const { REDIS_URL, scratchDatabase, start, freePort, waitFor, dropRedisPrefix, sql, percentile, run } = require('./lib');

async function lateness(database, kid) {
  const { rows } = await sql(
    database,
    `SELECT extract(epoch FROM ended_at - expires_at) * 1000 AS ms FROM grants WHERE ${kid === 'reference' ? "kid = 'reference'" : "kid <> 'reference'"} AND status = 'expired'`,
  );
  const ms = rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
  return { grants: ms.length, p50: Math.round(percentile(ms, 50)), p99: Math.round(percentile(ms, 99)), max: Math.round(ms[ms.length - 1]) };
}

async function untilNoneActive(database, where, ms) {
  await waitFor(async () => (await sql(database, `SELECT count(*)::int AS n FROM grants WHERE status = 'active' AND ${where}`)).rows[0].n === 0, ms);
}

async function expiryLateness({ grants = 10_000 } = {}) {
  const { generateKeyPair, exportJWK, SignJWT } = await import('jose');
  const id = Date.now().toString(36);
  const name = `gatehouse_bench_expiry_${id}`;
  const db = await scratchDatabase(name);
  const prefix = `bench_expiry_${id}`;
  const port = await freePort();
  const admin = 'bench-admin-token-0123456789';
  const broker = start(['dist/apps/gatehouse/apps/gatehouse/src/main.js'], {
    DATABASE_URL: db.url,
    REDIS_URL,
    PORT: String(port),
    GATEHOUSE_ADMIN_TOKENS: `bench:${admin}`,
    GATEHOUSE_RATE_LIMIT: '1000000/10s',
    GATEHOUSE_AUTH_FAILURE_LIMIT: '1000000/1s',
    GATEHOUSE_REDIS_PREFIX: prefix,
    LOG_LEVEL: 'warn',
    GATEHOUSE_RECONCILE_INTERVAL: '1h',
  });
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${url}/health/ready`)).ok);
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const reg = await fetch(`${url}/v1/admin/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench-expiry', publicJwk: await exportJWK(publicKey) }),
    });
    const agentId = (await reg.json()).id;

    // Every grant asks for exactly the seconds left until `due`, so that all of them end in the same second.
    const now = Math.floor(Date.now() / 1000);
    const due = now + 45;
    const assertions = [];
    for (let i = 0; i < grants; i++) {
      assertions.push(
        await new SignJWT({})
          .setProtectedHeader({ alg: 'EdDSA' })
          .setIssuer(agentId)
          .setSubject(agentId)
          .setAudience(`http://localhost:${port}`)
          .setIssuedAt(now)
          .setExpirationTime(now + 290)
          .setJti(randomUUID())
          .sign(privateKey),
      );
    }
    let next = 0;
    const issued = await autocannon({
      url,
      connections: 50,
      amount: grants,
      requests: [
        {
          method: 'POST',
          path: '/v1/access-requests',
          headers: { 'content-type': 'application/json' },
          setupRequest: (req) => ({
            ...req,
            headers: { ...req.headers, authorization: `Bearer ${assertions[next++]}` },
            body: JSON.stringify({
              resource: 'crm.customers',
              actions: ['read'],
              columns: ['id', 'name'],
              duration: `${due - Math.floor(Date.now() / 1000)}s`,
              reason: 'benchmark: expiring together',
            }),
          }),
        },
      ],
    });
    if (issued.non2xx > 0) throw new Error(`${issued.non2xx} grants were refused`);
    const {
      rows: [spread],
    } = await sql(
      name,
      "SELECT count(*)::int AS n, extract(epoch FROM max(expires_at) - min(expires_at))::int AS spread FROM grants WHERE kid <> 'reference'",
    );
    await untilNoneActive(name, "kid <> 'reference'", 180_000);
    const broker_ = await lateness(name, 'broker');

    // The reference: as many grants, due together, ended by a bare worker.
    const refDue = new Date(Date.now() + 15_000);
    await sql(
      name,
      `
      WITH r AS (
        INSERT INTO access_requests (id, agent_id, resource, actions, columns, duration_seconds, reason, status, decision, policy_version, risk_score, created_at, updated_at)
        SELECT gen_random_uuid(), $1::uuid, 'crm.customers', '{read}', '{id}', 60, 'reference', 'approved', '{}', 'reference', 0, now(), now()
        FROM generate_series(1, $2::int) RETURNING id)
      INSERT INTO grants (id, request_id, agent_id, subject, audience, resource, actions, columns, purpose, kid, issued_at, expires_at, status)
      SELECT gen_random_uuid(), r.id, $1::uuid, 'x', 'crm-api', 'crm.customers', '{read}', '{id}', 'reference', 'reference', now(), $3, 'active' FROM r`,
      [agentId, grants, refDue],
    );
    await run(process.execPath, ['bench/expiry-reference.js'], { DATABASE_URL: db.url, REDIS_URL, REFERENCE_PREFIX: `${prefix}_ref` });
    const reference = await lateness(name, 'reference');
    return { grants, dueWithinSeconds: spread.spread, broker: broker_, reference, p99Ratio: +(broker_.p99 / Math.max(1, reference.p99)).toFixed(2) };
  } finally {
    await broker.stop();
    await db.drop();
    await dropRedisPrefix(prefix);
  }
}

module.exports = { expiryLateness };
