#!/usr/bin/env node
// npm run bench:authz [-- --duration 6 --connections 32 --rounds 2]
// Forward-auth (GET /v1/authz/forward, as a gateway asks it) in one run, each figure beside a
// reference measured on the same machine in the same run:
//   1. checks/s and p99 of the broker against bench/authz-floor.js (node:http + node:crypto
//      verifying the same EdDSA token and looking its jti up in a Set), rounds alternating;
//   2. p99 of the broker at half the floor's rate (goal: under 5 ms);
//   3. the same with 100,000 live grants (and 100,000 ended ones in the in-memory set), the load
//      spread over 100,000 distinct tokens, against a few (goal: no growth); and apart, the same
//      within 10 s of those 100,000 grants ending at once;
//   4. nginx with auth_request to Gatehouse (deploy/nginx) against nginx straight to the upstream.
const { randomUUID, createPrivateKey, sign } = require('node:crypto');
const { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } = require('node:fs');
const { spawn } = require('node:child_process');
const { tmpdir, loadavg, cpus } = require('node:os');
const { join, delimiter } = require('node:path');
const autocannon = require('autocannon');
const { REDIS_URL, ROOT, scratchDatabase, start, freePort, waitFor, dropRedisPrefix, sql } = require('./lib');

const argv = process.argv.slice(2);
const flag = (name, fallback) => {
  const at = argv.indexOf(`--${name}`);
  return at >= 0 ? Number(argv[at + 1]) : fallback;
};
const DURATION = flag('duration', 6);
const CONNECTIONS = flag('connections', 32);
const ROUNDS = flag('rounds', 2);
const FEW = 100;
const MANY = 100_000;
const HOST = 'bench.egress.test';
const GATEWAY_TOKEN = 'bench-gateway-token-0123456789';
const ADMIN = 'bench-admin-token-0123456789';

const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Grant tokens like the broker's own (same claims, its key), one per grant row inserted for them. */
async function mintTokens(database, template, count, agentId) {
  const [header, payload] = template
    .split('.')
    .slice(0, 2)
    .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
  const {
    rows: [key],
  } = await sql(database, 'SELECT private_jwk FROM signing_keys WHERE kid = $1', [header.kid]);
  const privateKey = createPrivateKey({ key: key.private_jwk, format: 'jwk' });
  const { rows } = await sql(
    database,
    `WITH ids AS (SELECT gen_random_uuid() AS rid, gen_random_uuid() AS gid FROM generate_series(1, $1::int)),
          requests AS (
            INSERT INTO access_requests (id, agent_id, resource, actions, columns, operations, duration_seconds, reason, status, decision, policy_version, risk_score, decided_at, decided_by, created_at, updated_at)
            SELECT rid, $2::uuid, 'bench.api', '{read}', '{}', '{read-items}', 3600, 'bench', 'approved', '{"outcome":"approve"}', 'bench', 0, now(), 'policy', now(), now() FROM ids)
     INSERT INTO grants (id, request_id, agent_id, subject, audience, resource, actions, columns, operations, purpose, kid, issued_at, expires_at, status)
     SELECT gid, rid, $2::uuid, $2::text, 'bench-egress', 'bench.api', '{read}', '{}', '{read-items}', 'bench', $3, now(), to_timestamp($4), 'active' FROM ids
     RETURNING id::text AS id, request_id::text AS req`,
    [count, agentId, header.kid, payload.exp],
  );
  const head = b64(header);
  return rows.map(({ id, req }) => {
    const body = `${head}.${b64({ ...payload, jti: id, req })}`;
    return `${body}.${sign(null, Buffer.from(body), privateKey).toString('base64url')}`;
  });
}

/** Grants ended early: the broker's ended-grants set picks them up from Postgres within a second. */
async function endGrants(database, count, agentId) {
  await sql(
    database,
    `WITH ids AS (SELECT gen_random_uuid() AS rid, gen_random_uuid() AS gid FROM generate_series(1, $1::int)),
          requests AS (
            INSERT INTO access_requests (id, agent_id, resource, actions, columns, operations, duration_seconds, reason, status, decision, policy_version, risk_score, decided_at, decided_by, created_at, updated_at)
            SELECT rid, $2::uuid, 'bench.api', '{read}', '{}', '{read-items}', 3600, 'bench', 'approved', '{"outcome":"approve"}', 'bench', 0, now(), 'policy', now(), now() FROM ids)
     INSERT INTO grants (id, request_id, agent_id, subject, audience, resource, actions, columns, operations, purpose, kid, issued_at, expires_at, status, ended_at, ended_by)
     SELECT gid, rid, $2::uuid, $2::text, 'bench-egress', 'bench.api', '{read}', '{}', '{read-items}', 'bench', 'bench', now(), now() + interval '1 hour', 'revoked', now(), 'bench' FROM ids`,
    [count, agentId],
  );
}

/** CPU seconds (user + system) a process has used so far, from /proc: robust to other load on the machine. */
function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / 100;
}

/**
 * autocannon on forward-auth (or through nginx); every answer must be 200. `rate` caps requests/s.
 * `cpu`: the server processes ({label: [pid...]}) whose CPU time per request is reported (µs).
 */
async function load(url, path, tokens, { rate, host, gateway = true, cpu = {} } = {}) {
  const cpuBefore = Object.fromEntries(Object.entries(cpu).map(([label, pids]) => [label, cpuSeconds(pids)]));
  let next = 0;
  const headers = { 'x-forwarded-method': 'GET', 'x-forwarded-host': HOST, 'x-forwarded-uri': '/items/42?fields=name' };
  if (gateway) headers['x-gatehouse-gateway'] = GATEWAY_TOKEN;
  if (host) headers.host = host;
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: DURATION,
    ...(rate ? { overallRate: rate } : {}),
    requests: [
      {
        method: 'GET',
        path,
        headers,
        setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${tokens[next++ % tokens.length]}` } }),
      },
    ],
  });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${url}${path}: ${result.non2xx} non-2xx answers and ${result.errors} errors under load`);
  const cpuUsPerRequest = Object.fromEntries(
    Object.entries(cpu).map(([label, pids]) => [label, Math.round(((cpuSeconds(pids) - cpuBefore[label]) * 1e6) / result.requests.total)]),
  );
  return {
    rps: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    cpuUsPerRequest,
  };
}

function findBinary(name) {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'].filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/** One nginx: deploy/nginx's server (auth_request to the broker) and a plain proxy to the same upstream. */
async function startNginx(binary, brokerHostPort, upstreamUrl) {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-nginx-'));
  chmodSync(dir, 0o755);
  const gated = await freePort();
  const plain = await freePort();
  const values = { GATEHOUSE_SERVER: brokerHostPort, GATEWAY_TOKEN, UPSTREAM_URL: upstreamUrl, LISTEN: `127.0.0.1:${gated}`, SERVER_NAME: HOST };
  let server = readFileSync(join(ROOT, 'deploy/nginx/gatehouse.conf.template'), 'utf8');
  for (const [name, value] of Object.entries(values)) server = server.split(`\${${name}}`).join(value);
  writeFileSync(join(dir, 'gatehouse.conf'), server);
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  include ${dir}/gatehouse.conf;
  server { listen 127.0.0.1:${plain}; location / { proxy_pass ${upstreamUrl}; } }
}
`,
  );
  const child = spawn(binary, ['-e', `${dir}/error.log`, '-p', dir, '-c', `${dir}/nginx.conf`], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await waitFor(async () => (await fetch(`http://127.0.0.1:${plain}/items/1`)).ok, 10_000);
  const workers = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return {
    pids: [child.pid, ...workers],
    gated: `http://127.0.0.1:${gated}`,
    plain: `http://127.0.0.1:${plain}`,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function main() {
  const { generateKeyPair, exportJWK, SignJWT } = await import('jose');
  const id = Date.now().toString(36);
  const db = await scratchDatabase(`gatehouse_bench_authz_${id}`);
  const database = db.url.split('/').pop();
  const prefix = `bench_authz_${id}`;
  const brokerPort = await freePort();
  const stops = [];
  const broker = start([...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), 'dist/apps/gatehouse/apps/gatehouse/src/main.js'], {
    DATABASE_URL: db.url,
    REDIS_URL,
    PORT: String(brokerPort),
    GATEHOUSE_ADMIN_TOKENS: `bench:${ADMIN}`,
    GATEHOUSE_GATEWAY_TOKENS: `bench-gateway:${GATEWAY_TOKEN}`,
    GATEHOUSE_RATE_LIMIT: '1000000/10s',
    GATEHOUSE_AUTH_FAILURE_LIMIT: '1000000/1s',
    GATEHOUSE_REDIS_PREFIX: prefix,
    GATEHOUSE_POLICY_FILE: 'bench/authz-policy.yaml',
    BENCH_UPSTREAM_TOKEN: 'bench-upstream-secret',
    LOG_LEVEL: 'warn',
  });
  stops.push(() => broker.stop());
  try {
    const brokerUrl = `http://127.0.0.1:${brokerPort}`;
    await waitFor(async () => (await fetch(`${brokerUrl}/health/ready`)).ok);

    // An agent and one grant through the API; the others are minted like it.
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const reg = await fetch(`${brokerUrl}/v1/admin/agents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench-gateway-agent', publicJwk: await exportJWK(publicKey) }),
    });
    const agentId = (await reg.json()).id;
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA' })
      .setIssuer(agentId)
      .setSubject(agentId)
      .setAudience(`http://localhost:${brokerPort}`)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .setJti(randomUUID())
      .sign(privateKey);
    const asked = await fetch(`${brokerUrl}/v1/access-requests`, {
      method: 'POST',
      headers: { authorization: `Bearer ${assertion}`, 'content-type': 'application/json' },
      body: JSON.stringify({ resource: 'bench.api', actions: ['read'], operations: ['read-items'], duration: '1h', reason: 'bench:authz' }),
    });
    const granted = await asked.json();
    if (granted.status !== 'approved') throw new Error(`the bench grant was not approved: ${JSON.stringify(granted)}`);
    const template = granted.grant.token;
    const few = [template, ...(await mintTokens(database, template, FEW - 1, agentId))];
    const probe = await fetch(`${brokerUrl}/v1/authz/forward`, {
      headers: {
        authorization: `Bearer ${few[FEW - 1]}`,
        'x-forwarded-method': 'GET',
        'x-forwarded-host': HOST,
        'x-forwarded-uri': '/items/1',
        'x-gatehouse-gateway': GATEWAY_TOKEN,
      },
    });
    if (probe.status !== 200 || probe.headers.get('authorization') !== 'Bearer bench-upstream-secret')
      throw new Error(`a minted token was refused: ${probe.status}`);

    const floorPort = await freePort();
    const jwks = await (await fetch(`${brokerUrl}/.well-known/jwks.json`)).json();
    const kid = JSON.parse(Buffer.from(template.split('.')[0], 'base64url').toString('utf8')).kid;
    const floor = start(['bench/authz-floor.js'], {
      PORT: String(floorPort),
      FLOOR_PUBLIC_JWK: JSON.stringify(jwks.keys.find((k) => k.kid === kid)),
      FLOOR_ISSUER: JSON.parse(Buffer.from(template.split('.')[1], 'base64url').toString('utf8')).iss,
    });
    stops.push(() => floor.stop());
    const floorUrl = `http://127.0.0.1:${floorPort}`;
    await waitFor(async () => (await fetch(floorUrl, { headers: { authorization: `Bearer ${template}` } })).ok);

    // 1. Flat out, alternating.
    const rounds = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const b = await load(brokerUrl, '/v1/authz/forward', few, { cpu: { broker: [broker.child.pid] } });
      const f = await load(floorUrl, '/', few, { gateway: false, cpu: { floor: [floor.child.pid] } });
      rounds.push({
        round,
        broker: b,
        floor: f,
        ratio: +(b.rps / f.rps).toFixed(2),
        cpuRatio: +(f.cpuUsPerRequest.floor / b.cpuUsPerRequest.broker).toFixed(2),
      });
    }
    const median = (xs) => {
      const sorted = [...xs].sort((a, c) => a - c);
      const mid = Math.floor(sorted.length / 2);
      return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    };
    const floorRps = median(rounds.map((r) => r.floor.rps));
    const half = Math.round(floorRps / 2);

    // 2. and 3. At half the floor's rate: few live grants, then 100,000 (and 100,000 ended).
    const atHalfFew = await load(brokerUrl, '/v1/authz/forward', few, { rate: half, cpu: { broker: [broker.child.pid] } });
    // The floor at the same rate: what this machine's scheduling (the load generator shares the cores) costs any server.
    const floorAtHalf = await load(floorUrl, '/', few, { rate: half, gateway: false, cpu: { floor: [floor.child.pid] } });
    const many = await mintTokens(database, template, MANY, agentId);
    await sql(database, 'CHECKPOINT'); // the inserts' writes behind us, not during the measurement
    await endGrants(database, MANY, agentId);
    const endedAt = Date.now();
    await new Promise((r) => setTimeout(r, 1000)); // the ended-grants poll (every 400 ms) takes them in
    // Each poll re-reads the endings of its last 10 s (OVERLAP_MS in ended-grants.ts, for
    // transactions that commit late): 100,000 at once cost every replica that long. Measured apart.
    const justAfterMassEnding = await load(brokerUrl, '/v1/authz/forward', many, { rate: half, cpu: { broker: [broker.child.pid] } });
    await new Promise((r) => setTimeout(r, Math.max(0, endedAt + 11_000 - Date.now())));
    const atHalfMany = await load(brokerUrl, '/v1/authz/forward', many, { rate: half, cpu: { broker: [broker.child.pid] } });
    const atHalfFewAgain = await load(brokerUrl, '/v1/authz/forward', few, { rate: half, cpu: { broker: [broker.child.pid] } });
    const {
      rows: [counts],
    } = await sql(
      database,
      "SELECT count(*) FILTER (WHERE status = 'active')::int AS live, count(*) FILTER (WHERE status = 'revoked')::int AS ended FROM grants",
    );

    // 4. nginx with auth_request against nginx straight to the upstream.
    let nginx = { skipped: 'nginx is not installed (apt-get install -y nginx-light)' };
    const binary = findBinary('nginx');
    if (binary) {
      const upstreamPort = await freePort();
      const upstream = start(['bench/authz-upstream.js'], { PORT: String(upstreamPort) });
      stops.push(() => upstream.stop());
      await waitFor(async () => (await fetch(`http://127.0.0.1:${upstreamPort}/`)).ok);
      const server = await startNginx(binary, `127.0.0.1:${brokerPort}`, `http://127.0.0.1:${upstreamPort}`);
      stops.push(() => server.stop());
      // CPU per call: nginx and the upstream, plus the broker where nginx asks it.
      const withGatehouse = await load(server.gated, '/items/42?fields=name', few, {
        host: HOST,
        gateway: false,
        cpu: { nginx: server.pids, upstream: [upstream.child.pid], broker: [broker.child.pid] },
      });
      const straight = await load(server.plain, '/items/42?fields=name', few, {
        host: HOST,
        gateway: false,
        cpu: { nginx: server.pids, upstream: [upstream.child.pid] },
      });
      nginx = {
        withGatehouse,
        straight,
        ratio: +(withGatehouse.rps / straight.rps).toFixed(2),
        addedP99: +(withGatehouse.p99 - straight.p99).toFixed(2),
      };
    }

    return {
      // Other work on the machine moves every figure: the 1-minute load average at the end of the run.
      loadAverage: +loadavg()[0].toFixed(1),
      cores: cpus().length,
      connections: CONNECTIONS,
      durationSeconds: DURATION,
      flatOut: { rounds, ratio: +(median(rounds.map((r) => r.broker.rps)) / floorRps).toFixed(2), goal: '>= 0.5' },
      atHalfFloorRate: { rate: half, fewGrants: { live: FEW, ...atHalfFew }, floor: floorAtHalf, goal: 'p99 < 5 ms' },
      manyGrants: {
        live: counts.live,
        endedInMemory: counts.ended,
        distinctTokens: MANY,
        ...atHalfMany,
        // The few-token load again, after: what changed with the machine rather than with the grants.
        fewAgain: atHalfFewAgain,
        p99Growth: +(atHalfMany.p99 - Math.max(atHalfFew.p99, atHalfFewAgain.p99)).toFixed(2),
        // Within 10 s of 100,000 grants ending at once (see above).
        justAfterMassEnding,
      },
      nginx,
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await db.drop();
    await dropRedisPrefix(prefix);
  }
}

main()
  .then((result) => console.log(JSON.stringify({ authz: result }, null, 2)))
  .catch((error) => {
    console.error(error);
    process.exit(1);
  });
