// The admin pending list (GET /v1/admin/access-requests?status=pending&limit=50) with 1,000,000
// requests stored (1% of them pending), first page and a page deep in the list by cursor: the
// broker against the floor's endpoint (bench/floor.js) running the same three reads with pg.
const autocannon = require('autocannon');
const { REDIS_URL, scratchDatabase, start, freePort, waitFor, dropRedisPrefix, sql } = require('./lib');

const ADMIN = 'bench-admin-token-0123456789';

async function load(url, path, { connections = 10, duration = 10 } = {}) {
  const result = await autocannon({ url: `${url}${path}`, connections, duration, headers: { authorization: `Bearer ${ADMIN}` } });
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}${path}: ${result.non2xx} non-2xx and ${result.errors} errors`);
  return { rps: Math.round(result.requests.average), p50: result.latency.p50, p99: result.latency.p99 };
}

async function pendingList({ rows = 1_000_000 } = {}) {
  const id = Date.now().toString(36);
  const name = `gatehouse_bench_list_${id}`;
  const db = await scratchDatabase(name);
  const prefix = `bench_list_${id}`;
  const agentId = '00000000-0000-4000-8000-000000000001';
  const started = Date.now();
  await sql(name, `INSERT INTO agents (id, name, public_jwk, key_id, updated_at) VALUES ($1, 'bench-list', '{}', 'k', now())`, [agentId]);
  // One request in a hundred pending; the rest decided; spread over thirty days.
  await sql(
    name,
    `
    INSERT INTO access_requests (id, agent_id, resource, actions, columns, duration_seconds, reason, status, decision, policy_version, risk_score,
                                 approver_group, required_approvals, approval_expires_at, created_at, updated_at)
    SELECT gen_random_uuid(), $1::uuid, 'crm.customers', '{read}', '{id,email}', 900, 'benchmark row',
           CASE WHEN n % 100 = 0 THEN 'pending' WHEN n % 3 = 0 THEN 'denied' ELSE 'approved' END,
           '{"outcome": "require_approval", "rules": ["pii-needs-owner"], "message": "x", "riskScore": 40, "policyVersion": "v", "sensitivity": "pii", "durationSeconds": 900}',
           'v', 40, CASE WHEN n % 100 = 0 THEN 'crm-owners' END, CASE WHEN n % 100 = 0 THEN 1 ELSE 0 END,
           CASE WHEN n % 100 = 0 THEN now() + interval '1 day' END,
           now() - (n * interval '2.592 seconds'), now()
      FROM generate_series(1, $2::int) AS n`,
    [agentId, rows],
  );
  await sql(name, 'ANALYZE access_requests');
  const loadedIn = Date.now() - started;
  // A cursor half way down the pending list, in the API's format.
  const {
    rows: [mid],
  } = await sql(name, "SELECT created_at, id::text AS id FROM access_requests WHERE status = 'pending' ORDER BY created_at, id OFFSET $1 LIMIT 1", [
    Math.floor(rows / 200),
  ]);
  const cursor = Buffer.from(`${mid.created_at.toISOString()}|${mid.id}`).toString('base64url');

  const brokerPort = await freePort();
  const floorPort = await freePort();
  const broker = start(['dist/apps/gatehouse/apps/gatehouse/src/main.js'], {
    DATABASE_URL: db.url,
    REDIS_URL,
    PORT: String(brokerPort),
    GATEHOUSE_ADMIN_TOKENS: `bench:${ADMIN}`,
    GATEHOUSE_REDIS_PREFIX: prefix,
    LOG_LEVEL: 'warn',
    GATEHOUSE_AUTH_FAILURE_LIMIT: '1000000/1s',
    GATEHOUSE_RECONCILE_INTERVAL: '1h',
  });
  const floor = start(['bench/floor.js'], {
    DATABASE_URL: db.url,
    REDIS_URL,
    PORT: String(floorPort),
    FLOOR_AGENT_ID: agentId,
    FLOOR_AGENT_JWK: JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }),
  });
  try {
    const brokerUrl = `http://127.0.0.1:${brokerPort}`;
    const floorUrl = `http://127.0.0.1:${floorPort}`;
    await waitFor(async () => (await fetch(`${brokerUrl}/health/ready`)).ok);
    await waitFor(async () => (await fetch(`${floorUrl}/v1/admin/access-requests?limit=1`)).ok);
    const first = '/v1/admin/access-requests?status=pending&limit=50';
    const deep = `${first}&cursor=${cursor}`;
    const result = { rows, pending: rows / 100, loadedInSeconds: Math.round(loadedIn / 1000) };
    for (const [label, path] of [
      ['firstPage', first],
      ['deepPage', deep],
    ]) {
      const b = await load(brokerUrl, path);
      const f = await load(floorUrl, path);
      result[label] = { broker: b, floor: f, p99Ratio: +(b.p99 / Math.max(1, f.p99)).toFixed(2) };
    }
    return result;
  } finally {
    await floor.stop();
    await broker.stop();
    await db.drop();
    await dropRedisPrefix(prefix);
  }
}

module.exports = { pendingList };
