import { Queue } from 'bullmq';
import Redis from 'ioredis';
import {
  APPROVAL_NOTIFIER,
  ApprovalNotifier,
  CONNECT_TIMEOUT_MS,
  dependencyDown,
  loadConfig,
  PrismaService,
  Reconcile,
  RestoreLostJobs,
} from '@gatehouse/core';
import { Broker, call, eventually, registerAgent, Reply, startBroker, TestAgent } from '../support/broker';
import { createScratchDatabase } from '../support/database';
import { ask, expectError, introspect, LOW_RISK, PII, sleep } from '../support/flows';
import { jobsWithId } from '../support/jobs';
import { CuttableProxy, ThrowawayRedis, withPort } from '../support/outage';

// Redis and Postgres "go down" here without touching the shared servers: the broker talks to a
// Redis of this file's own and reaches Postgres through a proxy that can cut every connection.
jest.setTimeout(120_000);

/** An outage answer must come this fast: no request waits for a timeout of its own. */
const PROMPT_MS = 3000;
/** Service must resume this soon after the dependency is back, with no restart. */
const RECOVERY_MS = 5000;

type Endpoint = 'submit' | 'admin list' | 'introspection' | 'readiness';

let scratch: { url: string; drop: () => Promise<void> };
let redis: ThrowawayRedis;
let postgres: CuttableProxy;
let broker: Broker;
let agent: TestAgent;
let token: string;
let httpToken: string;
const figures: Record<string, number> = {};

beforeAll(async () => {
  scratch = await createScratchDatabase();
  redis = await ThrowawayRedis.start();
  const target = new URL(scratch.url);
  postgres = await CuttableProxy.start({ host: target.hostname, port: Number(target.port) });
  broker = await startBroker({
    DATABASE_URL: withPort(scratch.url, postgres.port),
    REDIS_URL: redis.url,
    GATEHOUSE_REDIS_PREFIX: 'outages',
    GATEHOUSE_RECONCILE_INTERVAL: '1s',
    // HTTP resources too: gateways' checks must go on through an outage.
    GATEHOUSE_POLICY_FILE: 'test/fixtures/http-policy.yaml',
    GATEHOUSE_TEST_GITHUB_TOKEN: 'ghp_outage_test',
  });
  agent = await registerAgent(broker);
  const granted = await ask(agent);
  expect(granted.body.status).toBe('approved');
  token = granted.body.grant.token;
  const http = await ask(agent, { resource: 'github.issues', columns: undefined, operations: ['read-issues'] });
  expect(http.body.status).toBe('approved');
  httpToken = http.body.grant.token;
}, 120_000);

afterAll(async () => {
  await broker?.close();
  await postgres?.stop();
  await redis?.stop();
  await scratch?.drop();
  // The figures the issue note reports.
  console.log(`outage figures (ms): ${JSON.stringify(figures)}`);
});

async function timed(request: () => Promise<Reply>): Promise<Reply & { ms: number }> {
  const started = Date.now();
  const reply = await request();
  return { ...reply, ms: Date.now() - started };
}

const endpoints: Record<Endpoint, () => Promise<Reply>> = {
  submit: () => ask(agent),
  'admin list': () => broker.admin('GET', '/v1/admin/access-requests?limit=5'),
  introspection: () => introspect(broker, token),
  readiness: () => call(`${broker.url}/health/ready`, 'GET'),
};

/** The contract's outage answer: 503 UNAVAILABLE in the error shape, with Retry-After, promptly. */
function expectUnavailable(reply: Reply & { ms: number }, endpoint: string): void {
  expect({ endpoint, status: reply.status, code: reply.body?.error?.code }).toEqual({ endpoint, status: 503, code: 'UNAVAILABLE' });
  expectError(reply, 503, 'UNAVAILABLE');
  expect(Number(reply.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(reply.ms).toBeLessThan(PROMPT_MS);
}

/** Calls every endpoint once, in the order a client might, then all of them at once a few times. */
async function expectEveryEndpointUnavailable(dependency: 'postgres' | 'redis'): Promise<number> {
  let slowest = 0;
  for (const [endpoint, request] of Object.entries(endpoints)) {
    const reply = await timed(request);
    expectUnavailable(reply, endpoint);
    slowest = Math.max(slowest, reply.ms);
    if (endpoint === 'readiness') expect(reply.body.error.details).toEqual([{ path: dependency, message: expect.stringMatching(/not answering/) }]);
  }
  const burst = await Promise.all(
    Array.from({ length: 5 }, () => Object.entries(endpoints).map(async ([endpoint, request]) => [endpoint, await timed(request)] as const)).flat(),
  );
  for (const [endpoint, reply] of burst) {
    expectUnavailable(reply, endpoint);
    slowest = Math.max(slowest, reply.ms);
  }
  return slowest;
}

/** Forward-auth decides in memory: allowed and refused calls answer as usual, promptly, whatever is down. */
async function expectGatewayChecksServed(): Promise<number> {
  let slowest = 0;
  const check = (method: string, uri: string) =>
    timed(() =>
      call(`${broker.url}/v1/authz/forward`, 'GET', {
        token: httpToken,
        headers: { 'x-forwarded-method': method, 'x-forwarded-host': 'github.egress.test', 'x-forwarded-uri': uri },
      }),
    );
  for (let i = 0; i < 5; i++) {
    const allowed = await check('GET', `/repos/acme/app/issues/${i}`);
    const refused = await check('POST', `/repos/acme/app/issues/${i}/comments`);
    expect([allowed.status, refused.status, refused.body.error.code]).toEqual([200, 403, 'NOT_GRANTED']);
    slowest = Math.max(slowest, allowed.ms, refused.ms);
  }
  expect(slowest).toBeLessThan(PROMPT_MS);
  return slowest;
}

/** Polls the agent's submit until it is served again; returns how long that took. */
async function recoveryTime(from: number): Promise<number> {
  await eventually(async () => (await ask(agent)).status === 201, RECOVERY_MS, 50);
  return Date.now() - from;
}

async function expectEverythingServed(): Promise<void> {
  expect((await ask(agent)).body.status).toBe('approved');
  expect((await endpoints['admin list']()).status).toBe(200);
  expect((await endpoints.introspection()).body).toMatchObject({ active: true });
  expect(await endpoints.readiness()).toMatchObject({ status: 200, body: { status: 'ok' } });
}

describe('Redis down', () => {
  it('every endpoint answers 503 UNAVAILABLE with Retry-After, never 500, and serves again once Redis is back, with no restart', async () => {
    await redis.kill();
    figures.redisDownSlowestAnswer = await expectEveryEndpointUnavailable('redis');
    figures.redisDownSlowestGatewayCheck = await expectGatewayChecksServed();
    // Metrics answer during an outage, when they matter most, with the gauges' last values.
    const scrape = await timed(() => call(`${broker.url}/metrics`, 'GET'));
    expect({ status: scrape.status, fast: scrape.ms < PROMPT_MS }).toEqual({ status: 200, fast: true });
    expect(String(scrape.body)).toMatch(/^gatehouse_active_grants \d+$/m);
    // Later in an outage Redis clients reconnect a second apart: answers must stay prompt.
    await sleep(3000);
    figures.redisDownLaterSlowestAnswer = await expectEveryEndpointUnavailable('redis');

    const back = Date.now();
    await redis.restart();
    figures.redisRecovery = await recoveryTime(back);
    expect(figures.redisRecovery).toBeLessThan(RECOVERY_MS);
    await expectEverythingServed();
  });
});

describe('Postgres down', () => {
  it('every endpoint answers 503 UNAVAILABLE with Retry-After while connections are refused, and serves again once healed', async () => {
    await postgres.cut();
    figures.postgresDownSlowestAnswer = await expectEveryEndpointUnavailable('postgres');
    figures.postgresDownSlowestGatewayCheck = await expectGatewayChecksServed();

    const back = Date.now();
    await postgres.heal();
    figures.postgresRecovery = await recoveryTime(back);
    expect(figures.postgresRecovery).toBeLessThan(RECOVERY_MS);
    await expectEverythingServed();
  });

  it('answers 503 promptly too when Postgres accepts connections and never answers', async () => {
    await postgres.hang();
    figures.postgresHangSlowestAnswer = await expectEveryEndpointUnavailable('postgres');
    const back = Date.now();
    await postgres.heal();
    figures.postgresHangRecovery = await recoveryTime(back);
    await expectEverythingServed();
  });
});

describe('the Postgres connect timeout', () => {
  it('a connection Postgres accepts and never answers fails after CONNECT_TIMEOUT_MS, as an outage', async () => {
    await postgres.hang();
    const prisma = new PrismaService(loadConfig({ DATABASE_URL: withPort(scratch.url, postgres.port) }));
    try {
      const started = Date.now();
      const error = await prisma.$queryRaw`SELECT 1`.then(
        () => undefined,
        (e: unknown) => e,
      );
      const elapsed = Date.now() - started;
      figures.postgresConnectTimeout = elapsed;
      expect(dependencyDown(error)).toBe('postgres');
      expect(elapsed).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 50);
      expect(elapsed).toBeLessThan(CONNECT_TIMEOUT_MS + 1500);
    } finally {
      await postgres.heal();
      await prisma.$disconnect();
    }
    await recoveryTime(Date.now());
  });
});

describe('jobs lost in Redis', () => {
  let lifecycle: Queue;
  let maintenance: Queue;

  beforeAll(() => {
    const connection = { url: redis.url };
    lifecycle = new Queue('lifecycle', { connection, prefix: 'outages' });
    maintenance = new Queue('maintenance', { connection, prefix: 'outages' });
    // These queues see Redis die too; their errors are expected, not worth printing.
    for (const queue of [lifecycle, maintenance]) queue.on('error', () => undefined);
  });

  afterAll(async () => {
    await lifecycle?.close();
    await maintenance?.close();
  });

  const schedules = async () => (await maintenance.getJobSchedulers()).map((s) => s.key).sort();
  const grantRow = (id: string) => broker.prisma.grant.findUnique({ where: { id } });

  it('after a restart empty, comes back by itself: schedules re-created, lost delayed jobs restored, a grant past its lost expiry ended, sealing resumed', async () => {
    expect(await schedules()).toEqual(['reconcile', 'seal-audit']);
    const short = (await ask(agent, { duration: '2s' })).body;
    const long = (await ask(agent, { duration: '15m' })).body;
    const pending = (await ask(agent, PII)).body;
    expect([short.status, long.status, pending.status]).toEqual(['approved', 'approved', 'pending']);
    expect(await lifecycle.getJobState(`expire-${short.grant.id}`)).toBe('delayed');
    expect(await lifecycle.getJobState(`timeout-${pending.id}`)).toBe('delayed');

    // An assertion signed and captured before the outage: its jti will be forgotten with the data.
    const captured = await agent.assertion();
    // Redis dies and comes back with nothing: every job and schedule is gone. The short grant
    // falls due meanwhile, so only the reconciler can end it.
    await redis.kill();
    await sleep(new Date(short.grant.expiresAt).getTime() - Date.now() + 500);
    const back = Date.now();
    await redis.restart();

    await eventually(async () => (await schedules()).length === 2, RECOVERY_MS, 50);
    figures.schedulesBackAfterRedisRestart = Date.now() - back;
    expect(await schedules()).toEqual(['reconcile', 'seal-audit']);
    // The delayed jobs Postgres says should exist are back (enqueued anew after the restart),
    // due when they were due.
    for (const [id, dueAt] of [
      [`expire-${long.grant.id}`, long.grant.expiresAt],
      [`timeout-${pending.id}`, pending.approval.expiresAt],
    ]) {
      const restored = await eventually(() => lifecycle.getJob(id), RECOVERY_MS, 50);
      expect(await restored.getState()).toBe('delayed');
      expect(restored.timestamp).toBeGreaterThanOrEqual(back);
      expect(Math.abs(restored.timestamp + restored.delay - new Date(dueAt).getTime())).toBeLessThanOrEqual(5);
    }

    const ended = await eventually(
      async () => {
        const row = await grantRow(short.grant.id);
        return row?.status === 'expired' ? row : undefined;
      },
      RECOVERY_MS,
      50,
    );
    figures.lostExpiryEndedAfterRedisRestart = Date.now() - back;
    expect(ended).toMatchObject({ status: 'expired', endedBy: 'system' });
    expect(await grantRow(long.grant.id)).toMatchObject({ status: 'active' });

    // The forgotten jtis cannot be replayed: what was issued before the restart is refused.
    const replayed = await call(`${broker.url}/v1/access-requests`, 'POST', { token: captured, body: LOW_RISK });
    expectError(replayed, 401, 'ASSERTION_REPLAYED');
    expect(replayed.body.error.message).toContain('replay cache');

    // Sealing resumed: new events are chained and nothing is left unsealed.
    expect((await ask(agent)).status).toBe(201);
    const verified = await eventually(
      async () => {
        const res = await broker.admin('GET', '/v1/admin/audit/verify');
        expect(res.status).toBe(200);
        return res.body.valid === true && res.body.unsealed === 0 ? res.body : undefined;
      },
      RECOVERY_MS,
      100,
    );
    expect(verified).toMatchObject({ valid: true, unsealed: 0, staleUnsealed: 0 });
    figures.auditSealedAfterRedisRestart = Date.now() - back;
  });

  it('after a reconnect with nothing lost, an expiry job that could not be enqueued is put back at once', async () => {
    const long = (await ask(agent, { duration: '15m' })).body;
    const jobId = `expire-${long.grant.id}`;
    // As if Redis had been away when the grant committed: its enqueue failed.
    expect(await lifecycle.remove(jobId)).toBe(1);
    const killer = new Redis(redis.url);
    try {
      // Drops the broker's connections (not this one) without losing any data.
      expect(Number(await killer.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'))).toBeGreaterThan(0);
      expect(await killer.exists('outages:queues:intact')).toBe(1);
    } finally {
      killer.disconnect();
    }
    const restored = await eventually(() => lifecycle.getJob(jobId), RECOVERY_MS, 50);
    expect(await restored.getState()).toBe('delayed');
    expect(Math.abs(restored.timestamp + restored.delay - new Date(long.grant.expiresAt).getTime())).toBeLessThanOrEqual(5);
  });

  it('restoring the jobs again changes nothing: one job per fixed id', async () => {
    const long = (await ask(agent, { duration: '15m' })).body;
    const restore = broker.app.get(RestoreLostJobs);
    const first = await restore.execute(new Date());
    const second = await restore.execute(new Date());
    expect(second).toEqual(first);
    expect(first.expiries).toBeGreaterThanOrEqual(1);
    const jobs = await jobsWithId(lifecycle, `expire-${long.grant.id}`);
    expect(jobs).toHaveLength(1);
    expect(jobs[0].timestamp + jobs[0].delay).toBeGreaterThanOrEqual(new Date(long.grant.expiresAt).getTime() - 5);
  });
});

describe("the notifier's repair hook", () => {
  it('is called by the reconciler with its clock, and its failure is logged, not fatal', async () => {
    const notifier = broker.app.get<ApprovalNotifier>(APPROVAL_NOTIFIER);
    const seen: Date[] = [];
    notifier.reconcile = async (now) => {
      seen.push(now);
      throw new Error('Slack is down');
    };
    try {
      const now = new Date();
      await expect(broker.app.get(Reconcile).execute(now)).resolves.toEqual(expect.objectContaining({ expired: expect.any(Number) }));
      expect(seen).toContain(now);
    } finally {
      delete notifier.reconcile;
    }
  });
});
