import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyError } from '@gatehouse/domain';
import { ConfigError, loadConfig } from '@gatehouse/core';
import { Broker, call, eventually, putUser, registerAgent, startBroker, TestAgent } from '../support/broker';
import { createScratchDatabase } from '../support/database';
import { delegate } from '../support/flows';

// The audit tests count every event and then tamper with the trail, so this file runs its brokers
// on a database and a Redis prefix of its own.
jest.setTimeout(60_000);

const REQUESTS = '/v1/access-requests';
const FIXTURE = readFileSync('test/fixtures/policy.yaml', 'utf8');
const lowRisk = { resource: 'crm.customers', actions: ['read'], columns: ['id', 'name'], duration: '15m', reason: 'Summarise open tickets' };
const piiRead = { ...lowRisk, columns: ['id', 'email'] };

let scratch: { url: string; drop: () => Promise<void> };
let env: Record<string, string>;
let broker: Broker;
let agent: TestAgent;
const tempDirs: string[] = [];

/** A temp directory of its own per policy file, so the broker's directory watch sees only that file. */
function policyFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-policy-'));
  tempDirs.push(dir);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, text);
  return file;
}

beforeAll(async () => {
  scratch = await createScratchDatabase();
  env = { DATABASE_URL: scratch.url, GATEHOUSE_REDIS_PREFIX: `${process.env.GATEHOUSE_REDIS_PREFIX}_audit` };
  broker = await startBroker(env);
  agent = await registerAgent(broker);
  await putUser(broker, 'alice', ['sales']);
  await delegate(broker, agent, 'alice');
}, 120_000);

afterAll(async () => {
  await broker?.close();
  await scratch?.drop();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

describe('audit trail', () => {
  let deniedId: string;

  it('seals every event into a chain that verifies', async () => {
    const approved = await agent.call('POST', REQUESTS, { ...lowRisk, onBehalfOf: 'alice' });
    expect(approved.body.status).toBe('approved');
    const pending = await agent.call('POST', REQUESTS, piiRead);
    expect(pending.body.status).toBe('pending');
    deniedId = pending.body.id;
    const denied = await broker.admin('POST', `/v1/admin/access-requests/${deniedId}/deny`, { comment: 'not for this ticket' });
    expect(denied.status).toBe(200);
    expect(denied.body.status).toBe('denied');

    const verified = await eventually(async () => {
      const res = await broker.admin('GET', '/v1/admin/audit/verify');
      expect(res.status).toBe(200);
      return res.body.valid === true && res.body.unsealed === 0 ? res.body : undefined;
    });
    const events = await broker.prisma.auditEvent.count();
    expect(events).toBeGreaterThanOrEqual(9); // policy, agent, user, 3 + 3 for the two requests
    expect(verified).toMatchObject({ valid: true, checked: events, head: { seq: String(events) }, unsealed: 0, staleUnsealed: 0 });
    expect(verified.checkpoints).toBeGreaterThanOrEqual(1);
    expect(verified.brokenAt).toBeUndefined();
  });

  it("pages a request's events in order", async () => {
    const first = await broker.admin('GET', `/v1/admin/audit?requestId=${deniedId}&limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.items).toHaveLength(2);
    expect(typeof first.body.nextCursor).toBe('string');
    const second = await broker.admin('GET', `/v1/admin/audit?requestId=${deniedId}&limit=2&cursor=${first.body.nextCursor}`);
    expect(second.status).toBe(200);
    expect(second.body.items).toHaveLength(1);
    expect(second.body.nextCursor).toBeUndefined();

    const events = [...first.body.items, ...second.body.items];
    expect(events.map((e) => e.type)).toEqual(['request.created', 'request.pending', 'request.denied']);
    expect(events.every((e) => e.requestId === deniedId && e.agentId === agent.id && typeof e.hash === 'string')).toBe(true);
    const seqs = events.map((e) => Number(e.seq));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(events[2].actor).toBe('admin:ops');
  });

  it('reports an edited sealed row', async () => {
    await broker.prisma.$executeRawUnsafe(`UPDATE audit_events SET data = '{"x":1}' WHERE seq = 3`);
    const res = await broker.admin('GET', '/v1/admin/audit/verify');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ valid: false, brokenAt: '3', checked: 2 });
    expect(res.body.reason).toMatch(/edited/);
  });
});

describe('operations', () => {
  it('answers liveness and readiness with Postgres and Redis up', async () => {
    const live = await call(`${broker.url}/health/live`, 'GET');
    expect(live).toMatchObject({ status: 200, body: { status: 'ok' } });
    const ready = await call(`${broker.url}/health/ready`, 'GET');
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ok', info: { postgres: { status: 'up' }, redis: { status: 'up' } } });
  });

  it('exposes Prometheus metrics for decisions, grants and queues', async () => {
    expect((await agent.call('POST', REQUESTS, lowRisk)).body.status).toBe('approved');
    const res = await fetch(`${broker.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/^gatehouse_access_requests_total\{outcome="approve"\} [1-9]\d*$/m);
    expect(text).toMatch(/^gatehouse_decision_duration_seconds_count [1-9]\d*$/m);
    expect(text).toMatch(/^gatehouse_active_grants [1-9]\d*$/m);
    expect(text).toMatch(/^gatehouse_queue_lag_seconds\{queue="lifecycle"\} \d/m);
    // Responses by route pattern and status: the route, never the raw path with its ids.
    expect(text).toMatch(/^gatehouse_http_responses_total\{route="\/v1\/access-requests",status="201"\} [1-9]\d*$/m);
    expect(text).not.toMatch(/gatehouse_http_responses_total\{route="\/v1\/access-requests\/[0-9a-f]{8}/);
  });

  it('serves Swagger UI and an OpenAPI document that lists the API', async () => {
    const ui = await fetch(`${broker.url}/docs`);
    expect(ui.status).toBe(200);
    expect(ui.headers.get('content-type')).toMatch(/text\/html/);
    expect(await ui.text()).toMatch(/swagger-ui/i);
    const doc = await call(`${broker.url}/docs/openapi.json`, 'GET');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.body.paths)).toEqual(
      expect.arrayContaining([
        '/v1/access-requests',
        '/v1/access-requests/{id}',
        '/v1/admin/audit/verify',
        '/v1/authz/forward',
        '/access/v1/evaluation',
        '/access/v1/evaluations',
        '/.well-known/authzen-configuration',
      ]),
    );
    expect(Object.keys(doc.body.paths['/v1/access-requests'])).toContain('post');
    // Forward-auth is a raw Fastify route: it is in the document by hand, with every method a gateway may forward.
    expect(Object.keys(doc.body.paths['/v1/authz/forward'])).toEqual(expect.arrayContaining(['get', 'post']));
    expect(Object.keys(doc.body.paths['/v1/authz/forward'].get.responses)).toEqual(['200', '401', '403']);
    expect(doc.body.paths['/v1/authz/forward/{path}']).toBeDefined();
  });
});

describe('policy', () => {
  it('shows the loaded version and rule ids', async () => {
    const res = await broker.admin('GET', '/v1/admin/policy');
    expect(res.status).toBe(200);
    expect(res.body.version).toBe(`sha256:${createHash('sha256').update(FIXTURE).digest('hex')}`);
    expect(res.body.rules.map((r: { id: string }) => r.id).sort()).toEqual([
      'deal-writes-need-two',
      'low-risk-reads',
      'no-restricted',
      'pii-needs-owner',
    ]);
    expect(res.body.lastReloadError).toBeNull();
  });

  it('evaluates a request as a dry run and stores nothing', async () => {
    const dry = await registerAgent(broker);
    const events = () => broker.prisma.auditEvent.count({ where: { agentId: dry.id } });
    const eventsBefore = await events();
    const { version } = (await broker.admin('GET', '/v1/admin/policy')).body;
    const evaluate = (body: object) => broker.admin('POST', '/v1/admin/policy/evaluate', { ...body, agentId: dry.id });

    const approve = await evaluate({ ...lowRisk, duration: '30m' });
    expect(approve.status).toBe(200);
    expect(approve.body).toMatchObject({ decision: { outcome: 'approve', rules: ['low-risk-reads'], policyVersion: version }, duration: '20m' });
    const ask = await evaluate({ ...piiRead, duration: '1h' });
    expect(ask.body).toMatchObject({ decision: { outcome: 'require_approval', rules: ['pii-needs-owner'] }, duration: '30m' });
    const deny = await evaluate({ ...lowRisk, columns: ['ssn'] });
    expect(deny.body).toMatchObject({ decision: { outcome: 'deny', rules: ['no-restricted'] } });

    expect(await broker.prisma.accessRequest.count({ where: { agentId: dry.id } })).toBe(0);
    expect(await events()).toBe(eventsBefore);
  });

  it('reloads an edited file, and keeps the last good policy on a bad edit', async () => {
    const file = policyFile(FIXTURE);
    const live = await startBroker({ ...env, GATEHOUSE_POLICY_FILE: file });
    try {
      const policy = async () => (await live.admin('GET', '/v1/admin/policy')).body;
      const original = await policy();

      const edited = FIXTURE.replace('id: low-risk-reads', 'id: low-risk-reads-v2');
      writeFileSync(file, edited);
      const reloaded = await eventually(async () => {
        const p = await policy();
        return p.version !== original.version ? p : undefined;
      });
      expect(reloaded.version).toBe(`sha256:${createHash('sha256').update(edited).digest('hex')}`);
      expect(reloaded.rules.map((r: { id: string }) => r.id)).toContain('low-risk-reads-v2');
      expect(reloaded.lastReloadError).toBeNull();
      const loaded = await eventually(async () => {
        const rows = await live.prisma.auditEvent.findMany({ where: { type: 'policy.loaded' } });
        const mine = rows.filter((r) => (r.data as { version?: string }).version === reloaded.version);
        return mine.length > 0 ? mine : undefined;
      });
      expect(loaded).toHaveLength(1);
      expect((loaded[0].data as { rules: string[] }).rules).toContain('low-risk-reads-v2');

      writeFileSync(file, 'version: 1\nrules: [ { id: broken\n');
      const refused = await eventually(async () => {
        const p = await policy();
        return p.lastReloadError ? p : undefined;
      });
      expect(refused.lastReloadError).toContain(file);
      expect(refused.version).toBe(reloaded.version);
      const evaluated = await live.admin('POST', '/v1/admin/policy/evaluate', { ...lowRisk, agentId: agent.id });
      expect(evaluated.body.decision).toMatchObject({ outcome: 'approve', rules: ['low-risk-reads-v2'], policyVersion: reloaded.version });
    } finally {
      await live.close();
    }
  });

  it('refuses to start on a policy that does not validate, naming the file and path', async () => {
    const file = policyFile(FIXTURE.replace('effect: deny', 'effect: maybe'));
    const error = await startBroker({ ...env, GATEHOUSE_POLICY_FILE: file }).then(
      async (started) => {
        await started.close();
        throw new Error('the broker started on an invalid policy');
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).message).toContain(file);
    expect((error as PolicyError).message).toContain('rules[0].effect');
  });
});

describe('configuration', () => {
  function configError(env: Record<string, string>): ConfigError {
    try {
      loadConfig(env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return error as ConfigError;
    }
    throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
  }

  it('accepts an empty environment (every default)', () => {
    expect(loadConfig({})).toMatchObject({ port: 3000, redisUrl: 'redis://127.0.0.1:6379', slack: undefined });
  });

  it.each([
    ['PORT=abc', { PORT: 'abc' }, ['PORT']],
    ['REDIS_URL=http://x', { REDIS_URL: 'http://x' }, ['REDIS_URL']],
    ['GATEHOUSE_ADMIN_TOKENS=short:abc', { GATEHOUSE_ADMIN_TOKENS: 'short:abc' }, ['GATEHOUSE_ADMIN_TOKENS']],
    ['only SLACK_BOT_TOKEN', { SLACK_BOT_TOKEN: 'xoxb-123' }, ['SLACK_SIGNING_SECRET', 'SLACK_APPROVALS_CHANNEL']],
  ])('refuses %s, naming the variable', (_name, env, named) => {
    const error = configError(env);
    for (const variable of named) expect(error.message).toMatch(new RegExp(`\\b${variable}\\b`));
  });

  it('does not echo a rejected admin token', () => {
    expect(configError({ GATEHOUSE_ADMIN_TOKENS: 'ops:tooshort-secret' }).message).not.toContain('tooshort-secret');
  });
});
