import { Broker, call, eventually, registerAgent, Reply, startBroker, TestAgent } from '../support/broker';
import { askFor, nowSeconds, sleep, verifyGrantToken } from '../support/flows';
import { request as httpRequest } from 'node:http';
import { UsageRecorder } from '@gatehouse/core';

// Forward-auth against the real Postgres and Redis: the decisions gateways act on, their headers,
// endings reaching every replica, and what lands on the trail.

const GATEWAY_TOKEN = 'test-gateway-token-0123456789';
const UPSTREAM_SECRET = 'ghp_upstream_secret_value';
const ENV = {
  GATEHOUSE_POLICY_FILE: 'test/fixtures/http-policy.yaml',
  GATEHOUSE_TEST_GITHUB_TOKEN: UPSTREAM_SECRET,
  GATEHOUSE_GATEWAY_TOKENS: `edge:${GATEWAY_TOKEN}`,
  GATEHOUSE_USAGE_FLUSH_INTERVAL: '1h',
};
const READ = {
  resource: 'github.issues',
  actions: ['read'],
  columns: undefined,
  operations: ['read-issues'],
  duration: '10m',
  reason: 'Triage issue 12',
};

/** Asks forward-auth, as nginx would: the call in X-Forwarded-* headers, the agent's token as a bearer. */
function forward(
  broker: Broker,
  token: string | undefined,
  call_: { method?: string; host?: string; uri: string },
  extra: Record<string, string> = {},
): Promise<Reply> {
  return call(`${broker.url}/v1/authz/forward`, 'GET', {
    token,
    headers: {
      'x-forwarded-method': call_.method ?? 'GET',
      'x-forwarded-host': call_.host ?? 'github.egress.test',
      'x-forwarded-uri': call_.uri,
      ...extra,
    },
  });
}

describe('forward-auth', () => {
  let broker: Broker;
  let agent: TestAgent;
  let token: string;
  let grantId: string;

  beforeAll(async () => {
    broker = await startBroker(ENV);
    agent = await registerAgent(broker);
    const request = await askFor(agent, 'approved', READ);
    token = request.grant.token;
    grantId = request.grant.id;
  });
  afterAll(() => broker.close());

  it('issues an HTTP grant whose token names the operations and the upstream', async () => {
    const { payload } = await verifyGrantToken(broker, token, { audience: 'github-egress' });
    expect(payload.authorization_details).toEqual([
      { type: 'gatehouse_http', identifier: 'github.issues', actions: ['read'], operations: ['read-issues'], locations: ['https://api.github.test'] },
    ]);
    expect(payload.scope).toBe('github.issues:read');
  });

  it('allows a covered call and names the grant, agent, user, resource and operation', async () => {
    const res = await forward(broker, token, { uri: '/repos/acme/app/issues?state=open' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-gatehouse-grant')).toBe(grantId);
    expect(res.headers.get('x-gatehouse-agent')).toBe(agent.id);
    expect(res.headers.get('x-gatehouse-user')).toBe(agent.id);
    expect(res.headers.get('x-gatehouse-resource')).toBe('github.issues');
    expect(res.headers.get('x-gatehouse-operation')).toBe('read-issues');
  });

  it('gives the upstream credential only to an authenticated gateway, never to the agent calling directly', async () => {
    const direct = await forward(broker, token, { uri: '/repos/acme/app/issues' });
    expect(direct.status).toBe(200);
    expect(direct.headers.get('authorization')).toBeNull();
    expect(direct.headers.get('x-gatehouse-upstream-credential')).toMatch(/^withheld/);
    const forged = await forward(broker, token, { uri: '/repos/acme/app/issues' }, { 'x-gatehouse-gateway': 'not-the-gateway-token-000' });
    expect(forged.headers.get('authorization')).toBeNull();
    const gateway = await forward(broker, token, { uri: '/repos/acme/app/issues' }, { 'x-gatehouse-gateway': GATEWAY_TOKEN });
    expect(gateway.status).toBe(200);
    expect(gateway.headers.get('authorization')).toBe(`Bearer ${UPSTREAM_SECRET}`);
  });

  it('refuses 403 NOT_GRANTED a call the grant does not cover, naming exactly what to ask for', async () => {
    const res = await forward(broker, token, { method: 'POST', uri: '/repos/acme/app/issues/12/comments' });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('NOT_GRANTED');
    expect(res.body.error.needed).toEqual({ resource: 'github.issues', operations: ['comment'], actions: ['write'] });
    expect(JSON.parse(res.headers.get('x-gatehouse-needed')!)).toEqual(res.body.error.needed);
    expect(res.headers.get('x-gatehouse-error')).toBe('NOT_GRANTED');
    // The agent can ask for exactly that, and the policy decides it as any request.
    const asked = await agent.call('POST', '/v1/access-requests', { ...res.body.error.needed, duration: '10m', reason: 'Reply on issue 12' });
    expect(asked.status).toBe(201);
    expect(asked.body.status).toBe('pending');
    expect(asked.body.decision.rules).toEqual(['comments-need-platform']);
    expect(asked.body.operations).toEqual(['comment']);
  });

  it('refuses a call to another host, or one no operation describes, and never grants an ambiguous path', async () => {
    const otherHost = await forward(broker, token, { host: 'status.test', uri: '/status' });
    expect(otherHost.status).toBe(403);
    expect(otherHost.body.error.needed).toEqual({ resource: 'status.api', operations: ['read-status'], actions: ['read'] });
    const undescribed = await forward(broker, token, { uri: '/users/octocat' });
    expect(undescribed.status).toBe(403);
    expect(undescribed.body.error.needed).toBeUndefined();
    for (const uri of [
      '/repos/acme/app/issues/../../../admin',
      '/repos/acme/app/issues/%2e%2e/x',
      '/repos/acme%2Fapp/x/issues',
      '//repos/acme/app/issues',
    ]) {
      const res = await forward(broker, token, { uri });
      expect({ uri, status: res.status, code: res.body.error.code }).toEqual({ uri, status: 403, code: 'NOT_GRANTED' });
    }
  });

  it('answers 401 without a valid grant token (and still says what would be needed)', async () => {
    const none = await forward(broker, undefined, { uri: '/repos/a/b/issues' });
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('AUTHENTICATION_REQUIRED');
    expect(none.body.error.needed).toEqual({ resource: 'github.issues', operations: ['read-issues'], actions: ['read'] });
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
    for (const bad of ['garbage', `${token.slice(0, -4)}AAAA`, await agent.assertion()]) {
      const res = await forward(broker, bad, { uri: '/repos/a/b/issues' });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('INVALID_TOKEN');
    }
  });

  it("refuses a data grant's token at the gateway", async () => {
    const data = await askFor(agent, 'approved', {
      resource: 'crm.customers',
      actions: ['read'],
      columns: ['id', 'name'],
      duration: '10m',
      reason: 'look up',
    });
    const res = await forward(broker, data.grant.token, { uri: '/repos/a/b/issues' });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('NOT_GRANTED');
  });

  it("takes Envoy's ext_authz shape: the call's own method, Host and path after the prefix, a body it never reads", async () => {
    // fetch may not set Host; node:http sends it as Envoy does (the original :authority).
    const envoy = (method: string, path: string, body?: string) =>
      new Promise<{ status: number; body: any }>((resolve, reject) => {
        const url = new URL(`${broker.url}/v1/authz/forward${path}`);
        const request = httpRequest(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            method,
            headers: { authorization: `Bearer ${token}`, host: 'github.egress.test', ...(body ? { 'content-type': 'text/plain' } : {}) },
          },
          (res) => {
            let text = '';
            res.on('data', (chunk) => (text += chunk));
            res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : null }));
          },
        );
        request.on('error', reject);
        request.end(body);
      });
    expect((await envoy('GET', '/repos/acme/app/issues/3')).status).toBe(200);
    const refused = await envoy('POST', '/repos/acme/app/issues/3/comments', 'a comment body the gateway forwarded');
    expect(refused.status).toBe(403);
    expect(refused.body.error.needed.operations).toEqual(['comment']);
  });

  it('refuses an expired token at its exp, before any job ends the grant', async () => {
    const short = await askFor(agent, 'approved', { ...READ, duration: '2s' });
    expect((await forward(broker, short.grant.token, { uri: '/repos/a/b/issues' })).status).toBe(200);
    const exp = Date.parse(short.grant.expiresAt);
    await sleep(Math.max(0, exp - Date.now()) + 50);
    const res = await forward(broker, short.grant.token, { uri: '/repos/a/b/issues' });
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/expired/);
  });

  it('refuses a released grant at once in this process', async () => {
    const request = await askFor(agent, 'approved', READ);
    expect((await forward(broker, request.grant.token, { uri: '/repos/a/b/issues' })).status).toBe(200);
    expect((await agent.call('POST', `/v1/grants/${request.grant.id}/release`)).status).toBe(200);
    const res = await forward(broker, request.grant.token, { uri: '/repos/a/b/issues' });
    expect(res.status).toBe(401);
    expect(res.body.error.message).toMatch(/ended/);
  });

  it('writes allowed calls as grant.used counts per operation, and shows them on the grant', async () => {
    const request = await askFor(agent, 'approved', { ...READ, operations: undefined });
    for (let i = 0; i < 5; i++) expect((await forward(broker, request.grant.token, { uri: `/repos/a/b/issues/${i}` })).status).toBe(200);
    await broker.app.get(UsageRecorder).flush();
    const grant = await broker.admin('GET', `/v1/admin/grants/${request.grant.id}`);
    expect(grant.status).toBe(200);
    expect(grant.body.operations).toEqual(['read-issues']);
    expect(grant.body.usage).toEqual([{ operation: 'read-issues', calls: 5, firstAt: expect.any(String), lastAt: expect.any(String) }]);
    const audit = await broker.admin('GET', `/v1/admin/audit?requestId=${request.id}&type=grant.used`);
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0]).toMatchObject({ grantId: request.grant.id, agentId: agent.id, data: { operation: 'read-issues', calls: 5 } });
    // A second flush adds to the same row.
    await forward(broker, request.grant.token, { uri: '/repos/a/b/issues' });
    await broker.app.get(UsageRecorder).flush();
    expect((await broker.admin('GET', `/v1/admin/grants/${request.grant.id}`)).body.usage[0].calls).toBe(6);
  });

  it('writes refusals as access.refused, at most 20 per agent per minute, and counts the rest', async () => {
    const noisy = await registerAgent(broker);
    const request = await askFor(noisy, 'approved', READ);
    for (let i = 0; i < 35; i++) await forward(broker, request.grant.token, { method: 'DELETE', uri: '/repos/acme/app' });
    const recorder = broker.app.get(UsageRecorder);
    await recorder.flush(new Date(Date.now() + 61_000));
    const audit = await broker.admin('GET', `/v1/admin/audit?agentId=${noisy.id}&type=access.refused&limit=100`);
    const oneByOne = audit.body.items.filter((e: any) => e.data.code === 'NOT_GRANTED');
    const summary = audit.body.items.filter((e: any) => e.data.dropped !== undefined);
    expect(oneByOne).toHaveLength(20);
    expect(oneByOne[0]).toMatchObject({ grantId: request.grant.id, data: { method: 'DELETE', host: 'github.egress.test', path: '/repos/acme/app' } });
    expect(summary).toHaveLength(1);
    expect(summary[0].data.dropped).toBe(15);
  });
});

describe('forward-auth across replicas', () => {
  let a: Broker;
  let b: Broker;
  let agent: TestAgent;

  beforeAll(async () => {
    a = await startBroker(ENV);
    b = await startBroker(ENV);
    // Both replicas must sign and verify as the same issuer.
    b.config.issuer = a.config.issuer;
    agent = await registerAgent(a);
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  async function refusedWithin(broker: Broker, token: string, ms: number): Promise<number> {
    const started = Date.now();
    await eventually(async () => (await forward(broker, token, { uri: '/repos/a/b/issues' })).status === 401, ms, 20);
    return Date.now() - started;
  }

  it('refuses a revocation made on one replica at the other within a second', async () => {
    const request = await askFor(agent, 'approved', READ);
    expect((await forward(b, request.grant.token, { uri: '/repos/a/b/issues' })).status).toBe(200);
    expect((await a.admin('POST', `/v1/admin/grants/${request.grant.id}/revoke`, { reason: 'test' })).status).toBe(200);
    expect(await refusedWithin(b, request.grant.token, 1000)).toBeLessThan(1000);
  });

  it('refuses a suspended agent everywhere within a second', async () => {
    const other = await registerAgent(a);
    const request = await askFor(other, 'approved', READ);
    expect((await forward(b, request.grant.token, { uri: '/repos/a/b/issues' })).status).toBe(200);
    expect((await a.admin('POST', `/v1/admin/agents/${other.id}/suspend`)).status).toBe(200);
    expect(await refusedWithin(b, request.grant.token, 1000)).toBeLessThan(1000);
  });

  it('refuses within a second an ending no message announced (written straight to Postgres)', async () => {
    const request = await askFor(agent, 'approved', READ);
    expect((await forward(b, request.grant.token, { uri: '/repos/a/b/issues' })).status).toBe(200);
    await a.prisma.$executeRaw`UPDATE grants SET status = 'revoked', ended_at = now(), ended_by = 'test' WHERE id = ${request.grant.id}::uuid`;
    expect(await refusedWithin(b, request.grant.token, 1000)).toBeLessThan(1000);
  });

  it('knows, when it starts, the grants ended before it started', async () => {
    const request = await askFor(agent, 'approved', READ);
    expect((await agent.call('POST', `/v1/grants/${request.grant.id}/release`)).status).toBe(200);
    const late = await startBroker(ENV);
    late.config.issuer = a.config.issuer;
    try {
      expect((await forward(late, request.grant.token, { uri: '/repos/a/b/issues' })).status).toBe(401);
    } finally {
      await late.close();
    }
  });

  it('still answers at its exp and nowhere else decides differently', async () => {
    const request = await askFor(agent, 'approved', READ);
    const [fromA, fromB] = await Promise.all([
      forward(a, request.grant.token, { uri: '/repos/x/y/issues' }),
      forward(b, request.grant.token, { uri: '/repos/x/y/issues' }),
    ]);
    expect([fromA.status, fromB.status]).toEqual([200, 200]);
    expect(nowSeconds()).toBeLessThan(Date.parse(request.grant.expiresAt) / 1000);
  });
});
