import { gatewayRefusal } from '@gatehouse/sdk';
import { Broker, registerAgent, startBroker, TestAgent } from '../support/broker';
import { askFor } from '../support/flows';
import { asResponse, callThrough, freePort, GatewayProcess, GatewayReply, RecordingUpstream } from '../support/gateways';

// One set of scenarios for every real gateway of deploy/: an agent's calls go through the gateway,
// which asks Gatehouse (real Postgres and Redis behind it) and passes allowed calls to a recording
// upstream. What the agent sees and what the upstream receives are both asserted.

export const GATEWAY_TOKEN = 'test-gateway-token-0123456789';
const UPSTREAM_SECRET = 'ghp_upstream_secret_value';
const HOST = 'github.egress.test';
const READ = {
  resource: 'github.issues',
  actions: ['read'],
  columns: undefined,
  operations: ['read-issues'],
  duration: '10m',
  reason: 'Triage issue 12',
};

/** What a gateway spec provides: how to start its gateway in front of `upstream`, asking the broker at `brokerUrl`. */
export type StartGateway = (brokerUrl: string, upstream: RecordingUpstream) => Promise<GatewayProcess>;

/** Throws unless `reply` is Gatehouse's refusal as the SDK reads it; returns what the SDK saw. */
async function refusalOf(reply: GatewayReply) {
  const refusal = await gatewayRefusal(asResponse(reply));
  if (!refusal) throw new Error(`not a Gatehouse refusal: ${reply.status} ${JSON.stringify(reply.body)}`);
  return refusal;
}

export function gatewayScenarios(startGateway: StartGateway): void {
  let broker: Broker;
  let upstream: RecordingUpstream;
  let gateway: GatewayProcess;
  let agent: TestAgent;
  let token: string;
  let grantId: string;

  beforeAll(async () => {
    broker = await startBroker({
      GATEHOUSE_POLICY_FILE: 'test/fixtures/http-policy.yaml',
      GATEHOUSE_TEST_GITHUB_TOKEN: UPSTREAM_SECRET,
      GATEHOUSE_GATEWAY_TOKENS: `edge:${GATEWAY_TOKEN}`,
      GATEHOUSE_USAGE_FLUSH_INTERVAL: '1h',
    });
    upstream = await RecordingUpstream.start();
    gateway = await startGateway(broker.url, upstream);
    agent = await registerAgent(broker);
    const request = await askFor(agent, 'approved', READ);
    token = request.grant.token;
    grantId = request.grant.id;
  });
  afterAll(async () => {
    await gateway?.stop();
    await upstream?.close();
    await broker?.close();
  });

  const through = (options: { method?: string; host?: string; path: string; token?: string; headers?: Record<string, string>; body?: string }) =>
    callThrough(gateway, { host: HOST, ...options });

  it('passes a granted call to the upstream with the upstream credential and without the agent token', async () => {
    const before = upstream.calls.length;
    const res = await through({ path: '/repos/acme/app/issues?state=open', token });
    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { upstream: 'ok', path: '/repos/acme/app/issues?state=open' } });
    expect(upstream.calls).toHaveLength(before + 1);
    const received = upstream.calls[before];
    expect(received).toMatchObject({ method: 'GET', url: '/repos/acme/app/issues?state=open' });
    expect(received.headers.authorization).toBe(`Bearer ${UPSTREAM_SECRET}`);
    expect(received.headers['x-gatehouse-grant']).toBe(grantId);
    expect(received.headers['x-gatehouse-operation']).toBe('read-issues');
    // Neither the agent's token nor the gateway's own credential travels upstream.
    const everything = JSON.stringify(received.headers);
    expect(everything).not.toContain(token);
    expect(everything).not.toContain(GATEWAY_TOKEN);
  });

  it('drops the agent token when the resource has no upstream credential, whatever the agent adds', async () => {
    const status = await askFor(agent, 'approved', { ...READ, resource: 'status.api', operations: ['read-status'] });
    const before = upstream.calls.length;
    const res = await through({
      host: 'status.test',
      path: '/status',
      token: status.grant.token,
      // Headers only Gatehouse's answer may set: the agent's copies must not reach the upstream.
      headers: {
        'x-gatehouse-upstream-authorization': 'Bearer forged',
        'x-gatehouse-grant': 'forged',
        'x-gatehouse-user': 'someone-else',
        'x-gatehouse-gateway': GATEWAY_TOKEN,
      },
    });
    expect(res.status).toBe(200);
    expect(upstream.calls).toHaveLength(before + 1);
    const received = upstream.calls[before].headers;
    // No Authorization at all: neither the agent's token nor a value the agent planted.
    expect(received.authorization).toBeUndefined();
    expect(received['x-gatehouse-grant']).toBe(status.grant.id);
    expect(received['x-gatehouse-user']).toBe(agent.id);
    expect(received['x-gatehouse-resource']).toBe('status.api');
    expect(received['x-gatehouse-gateway']).toBeUndefined();
    expect(JSON.stringify(received)).not.toContain(status.grant.token);
  });

  it('refuses an ungranted call with 403 NOT_GRANTED naming what to ask for, and the upstream never sees it', async () => {
    const before = upstream.calls.length;
    const res = await through({ method: 'POST', path: '/repos/acme/app/issues/12/comments', token, body: '{"body":"hello"}' });
    expect(res.status).toBe(403);
    const refusal = await refusalOf(res);
    expect(refusal.code).toBe('NOT_GRANTED');
    expect(refusal.needed).toEqual({ resource: 'github.issues', operations: ['comment'], actions: ['write'] });
    expect(res.headers['x-gatehouse-error']).toBe('NOT_GRANTED');
    // The agent can ask for exactly that; the policy sends it to the owners.
    const asked = await agent.call('POST', '/v1/access-requests', { ...refusal.needed, duration: '10m', reason: 'Reply on issue 12' });
    expect({ status: asked.status, outcome: asked.body.status, operations: asked.body.operations }).toEqual({
      status: 201,
      outcome: 'pending',
      operations: ['comment'],
    });
    // Nor does a path no operation describes, or an ambiguous one, get through.
    for (const path of ['/users/octocat', '/repos/acme/app/issues/%2e%2e/x']) {
      const other = await through({ path, token });
      expect({ path, status: other.status }).toEqual({ path, status: 403 });
    }
    expect(upstream.calls).toHaveLength(before);
  });

  it('answers 401 without a token or with a bad one, and the upstream never sees it', async () => {
    const before = upstream.calls.length;
    const none = await through({ path: '/repos/acme/app/issues' });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer /);
    const refusal = await refusalOf(none);
    expect(refusal.code).toBe('AUTHENTICATION_REQUIRED');
    expect(refusal.needed).toEqual({ resource: 'github.issues', operations: ['read-issues'], actions: ['read'] });
    const forged = await through({ path: '/repos/acme/app/issues', token: `${token.slice(0, -4)}AAAA` });
    expect(forged.status).toBe(401);
    expect((await refusalOf(forged)).code).toBe('INVALID_TOKEN');
    expect(upstream.calls).toHaveLength(before);
  });

  it('refuses a released grant and a revoked one within a second', async () => {
    for (const end of ['release', 'revoke'] as const) {
      const request = await askFor(agent, 'approved', READ);
      expect((await through({ path: '/repos/a/b/issues', token: request.grant.token })).status).toBe(200);
      const ended =
        end === 'release'
          ? await agent.call('POST', `/v1/grants/${request.grant.id}/release`)
          : await broker.admin('POST', `/v1/admin/grants/${request.grant.id}/revoke`, { reason: 'gateway test' });
      expect(ended.status).toBe(200);
      const started = Date.now();
      let res: GatewayReply;
      do res = await through({ path: '/repos/a/b/issues', token: request.grant.token });
      while (res.status === 200 && Date.now() - started < 1000);
      expect({ end, status: res.status }).toEqual({ end, status: 401 });
      expect(Date.now() - started).toBeLessThan(1000);
      expect((await refusalOf(res)).message).toBeDefined();
    }
  });

  it('refuses every call while Gatehouse cannot be reached (fails closed)', async () => {
    const unreachable = await startGateway(`http://127.0.0.1:${await freePort()}`, upstream);
    try {
      const before = upstream.calls.length;
      const res = await callThrough(unreachable, { host: HOST, path: '/repos/acme/app/issues', token });
      expect(res.status).toBeGreaterThanOrEqual(500);
      expect(upstream.calls).toHaveLength(before);
    } finally {
      await unreachable.stop();
    }
  });
}
