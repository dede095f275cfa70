import { AccessDeniedError, GatehouseError, gatewayRefusal, InvalidRequestError, NotFoundError, WaitTimeoutError } from '@gatehouse/sdk';
import { Broker, startBroker } from '../support/broker';
import { introspect, LOW_RISK, PII, users, verifyGrantToken } from '../support/flows';
import { sdkAgent } from '../support/sdk';
import { NodeGateway } from '../../scripts/demo-gateway';

describe('SDK against a running broker', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(() => broker?.close());

  it('gets a low-risk grant at once, with a token that verifies', async () => {
    const agent = await sdkAgent(broker);
    const result = await agent.requestAccess({ ...LOW_RISK, columns: ['id', 'name'] });
    expect(result.status).toBe('approved');
    if (result.status !== 'approved') return;
    expect(result.grant).toMatchObject({ resource: 'crm.customers', actions: ['read'], columns: ['id', 'name'] });
    expect(result.request.decision.rules).toEqual(['low-risk-reads']);
    const { payload } = await verifyGrantToken(broker, result.grant.token);
    expect(payload).toMatchObject({ jti: result.grant.id, client_id: agent.agentId, req: result.request.id });
  });

  it('waits for a person: pending, then waitForGrant returns the grant after an admin approval', async () => {
    const agent = await sdkAgent(broker);
    const { dana } = await users(broker, { dana: ['crm-owners'] });
    const result = await agent.requestAccess(PII);
    expect(result.status).toBe('pending');
    if (result.status !== 'pending') return;
    expect(result.handle.request.approval).toMatchObject({ approvers: 'crm-owners', required: 1, received: 0 });
    const waiting = agent.waitForGrant(result.handle, { timeoutMs: 15_000 });
    await new Promise((r) => setTimeout(r, 300));
    const approved = await broker.admin('POST', `/v1/admin/access-requests/${result.handle.requestId}/approve`, { asUser: dana });
    expect(approved.status).toBe(200);
    const grant = await waiting;
    expect(grant).toMatchObject({ resource: 'crm.customers', columns: ['email', 'phone'] });
    expect((await verifyGrantToken(broker, grant.token)).payload.jti).toBe(grant.id);
  });

  it('gives up waiting after timeoutMs with WaitTimeoutError; the request stays pending and can be cancelled', async () => {
    const agent = await sdkAgent(broker);
    const result = await agent.requestAccess(PII);
    if (result.status !== 'pending') throw new Error('expected pending');
    const started = Date.now();
    const error = await agent.waitForGrant(result.handle, { timeoutMs: 1200 }).catch((e) => e);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(error.code).toBe('WAIT_TIMEOUT');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect((await agent.getRequest(result.handle.requestId)).status).toBe('pending');
    expect((await agent.cancel(result.handle)).status).toBe('cancelled');
  });

  it('throws a typed AccessDeniedError carrying the decision', async () => {
    const agent = await sdkAgent(broker);
    const error = await agent.requestAccess({ ...LOW_RISK, columns: ['id', 'ssn'] }).catch((e) => e);
    expect(error).toBeInstanceOf(AccessDeniedError);
    expect(error).toBeInstanceOf(GatehouseError);
    expect(error.code).toBe('REQUEST_DENIED');
    expect(error.decision).toMatchObject({ outcome: 'deny', rules: ['no-restricted'], message: 'Restricted columns are never granted to agents.' });
    expect((await agent.getRequest(error.requestId)).status).toBe('denied');
  });

  it('maps API errors to typed errors with code, status and details', async () => {
    const agent = await sdkAgent(broker);
    const unknown = await agent.requestAccess({ ...LOW_RISK, columns: ['id', 'shoe_size'] }).catch((e) => e);
    expect(unknown).toBeInstanceOf(InvalidRequestError);
    expect({ code: unknown.code, status: unknown.status }).toEqual({ code: 'UNKNOWN_COLUMN', status: 422 });
    const missing = await agent.getRequest('00000000-0000-4000-8000-000000000000').catch((e) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect(missing.code).toBe('REQUEST_NOT_FOUND');
    expect(Array.isArray(missing.details)).toBe(true);
  });

  it('extends a grant: at once when the policy approves (the old token goes inactive), else a handle to wait on', async () => {
    const agent = await sdkAgent(broker);
    const first = await agent.requestAccess({ ...LOW_RISK, columns: ['id', 'name'], duration: '10m' });
    if (first.status !== 'approved') throw new Error('expected approved');
    const extended = await agent.extend(first.grant, { duration: '5m', reason: 'One more reply' });
    expect(extended.status).toBe('approved');
    if (extended.status !== 'approved') return;
    expect(extended.request.extends).toBe(first.grant.id);
    expect(extended.grant.id).not.toBe(first.grant.id);
    expect((await verifyGrantToken(broker, extended.grant.token)).payload.jti).toBe(extended.grant.id);
    expect((await introspect(broker, first.grant.token)).body).toEqual({ active: false });
    expect((await agent.listGrants({ status: 'superseded' })).map((g) => g.id)).toEqual([first.grant.id]);
    await expect(agent.extend(first.grant.id, { duration: '5m', reason: 'again' })).rejects.toMatchObject({ code: 'GRANT_NOT_ACTIVE', status: 409 });

    const { erin } = await users(broker, { erin: ['crm-owners'] });
    const pii = await agent.requestAccess(PII);
    if (pii.status !== 'pending') throw new Error('expected pending');
    await broker.admin('POST', `/v1/admin/access-requests/${pii.handle.requestId}/approve`, { asUser: erin });
    const piiGrant = await agent.waitForGrant(pii.handle, { timeoutMs: 5000 });
    const asked = await agent.extend(piiGrant.id, { duration: '10m', reason: 'The customer calls back' });
    if (asked.status !== 'pending') throw new Error('expected pending');
    const waiting = agent.waitForGrant(asked.handle, { timeoutMs: 15_000 });
    await broker.admin('POST', `/v1/admin/access-requests/${asked.handle.requestId}/approve`, { asUser: erin });
    const grant = await waiting;
    expect(grant).toMatchObject({ status: 'active', columns: ['email', 'phone'] });
    expect((await introspect(broker, piiGrant.token)).body).toEqual({ active: false });
  });

  it('releases a grant: listGrants drops it and introspection calls it inactive', async () => {
    const agent = await sdkAgent(broker);
    const result = await agent.requestAccess(LOW_RISK);
    if (result.status !== 'approved') throw new Error('expected approved');
    expect((await agent.listGrants()).map((g) => g.id)).toEqual([result.grant.id]);
    expect((await introspect(broker, result.grant.token)).body.active).toBe(true);
    const released = await agent.release(result.grant);
    expect(released.status).toBe('released');
    expect(await agent.listGrants()).toEqual([]);
    expect((await agent.listGrants({ status: 'released' })).map((g) => g.id)).toEqual([result.grant.id]);
    expect((await introspect(broker, result.grant.token)).body).toEqual({ active: false });
    expect((await agent.release(result.grant)).status).toBe('released'); // twice is harmless
  });

  it('retries a 503 that hid a created request with the same Idempotency-Key: one request, not two', async () => {
    const seen: { key: string | null }[] = [];
    let swallowed = false;
    // The first answer is lost on the way back (the broker did create the request); the SDK sees a 503.
    const flaky: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (init?.method === 'POST' && String(input).endsWith('/v1/access-requests')) {
        seen.push({ key: new Headers(init.headers).get('idempotency-key') });
        if (!swallowed) {
          swallowed = true;
          return new Response(JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'lost', details: [] } }), { status: 503 });
        }
      }
      return res;
    };
    const agent = await sdkAgent(broker, { fetch: flaky, retry: { baseDelayMs: 50 } });
    const result = await agent.requestAccess(LOW_RISK);
    expect(result.status).toBe('approved');
    expect(seen).toHaveLength(2);
    expect(seen[0].key).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen[1].key).toBe(seen[0].key);
    const listed = await broker.admin('GET', `/v1/admin/access-requests?agentId=${agent.agentId}`);
    expect(listed.body.items.map((r: { id: string }) => r.id)).toEqual([result.request.id]);
  });

  it('a new requestAccess call gets a new key: the same body twice is two requests', async () => {
    const agent = await sdkAgent(broker);
    const first = await agent.requestAccess(LOW_RISK);
    const second = await agent.requestAccess(LOW_RISK);
    expect(second.request.id).not.toBe(first.request.id);
  });
});

describe('SDK against a rate-limited broker (2 requests / 2 s)', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startBroker({ GATEHOUSE_RATE_LIMIT: '2/2s' });
  });
  afterAll(() => broker?.close());

  it('waits out a 429 as Retry-After says, then creates exactly one request', async () => {
    const attempts: { at: number; status: number; retryAfter: string | null; key: string | null }[] = [];
    const recording: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (init?.method === 'POST')
        attempts.push({
          at: Date.now(),
          status: res.status,
          retryAfter: res.headers.get('retry-after'),
          key: new Headers(init.headers).get('idempotency-key'),
        });
      return res;
    };
    const agent = await sdkAgent(broker, { fetch: recording });
    await agent.listGrants();
    await agent.listGrants(); // the window's two points are spent
    const result = await agent.requestAccess(LOW_RISK);
    expect(result.status).toBe('approved');

    expect(attempts[0].status).toBe(429);
    expect(Number(attempts[0].retryAfter)).toBeGreaterThanOrEqual(1);
    const last = attempts[attempts.length - 1];
    expect(last.status).toBe(201);
    expect(last.at - attempts[0].at).toBeGreaterThanOrEqual(Number(attempts[0].retryAfter) * 1000 - 50);
    expect(new Set(attempts.map((a) => a.key)).size).toBe(1);
    const listed = await broker.admin('GET', `/v1/admin/access-requests?agentId=${agent.agentId}`);
    expect(listed.body.items.map((r: { id: string }) => r.id)).toEqual([result.request.id]);
  });
});

describe('SDK through a gateway (HTTP resources)', () => {
  const GATEWAY_TOKEN = 'test-gateway-token-0123456789';
  const echoOperation = (c: { operation?: string }) => ({ status: 200, body: { upstream: 'ok', operation: c.operation } });
  let broker: Broker;
  let gateway: NodeGateway;
  beforeAll(async () => {
    broker = await startBroker({
      GATEHOUSE_POLICY_FILE: 'test/fixtures/http-policy.yaml',
      GATEHOUSE_TEST_GITHUB_TOKEN: 'ghp_sdk_test',
      GATEHOUSE_GATEWAY_TOKENS: `edge:${GATEWAY_TOKEN}`,
    });
    gateway = await NodeGateway.start({ brokerUrl: broker.url, gatewayToken: GATEWAY_TOKEN, host: 'github.egress.test', upstream: echoOperation });
  });
  afterAll(async () => {
    await gateway?.close();
    await broker?.close();
  });

  it('asks for exactly what the gateway says is missing, then calls again with the new grant', async () => {
    const agent = await sdkAgent(broker);
    const { response, grant } = await agent.fetchWithAccess(
      `${gateway.url}/repos/acme/app/issues/3`,
      { method: 'GET' },
      { reason: 'Triage issue 3', duration: '10m' },
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ upstream: 'ok', operation: 'read-issues' });
    expect(grant).toMatchObject({ resource: 'github.issues', operations: ['read-issues'], actions: ['read'] });
    // The upstream got the gateway's credential, never the agent's token.
    expect(gateway.calls.at(-1)).toMatchObject({ method: 'GET', path: '/repos/acme/app/issues/3', authorization: 'Bearer ghp_sdk_test' });
    // The same grant serves the next call without asking again.
    const again = await agent.fetchWithAccess(`${gateway.url}/repos/acme/app/issues`, { method: 'GET' }, { reason: 'Triage', grant });
    expect(again.response.status).toBe(200);
    expect(again.grant?.id).toBe(grant!.id);
    expect((await agent.listGrants()).map((g) => g.id)).toEqual([grant!.id]);
  });

  it('reports a call a person must approve as pending (WaitTimeoutError), and the refusal itself when nothing can be asked', async () => {
    const agent = await sdkAgent(broker);
    const pending = agent.fetchWithAccess(
      `${gateway.url}/repos/acme/app/issues/3/comments`,
      { method: 'POST', body: '{"body":"hi"}' },
      { reason: 'Reply' },
    );
    await expect(pending).rejects.toBeInstanceOf(WaitTimeoutError);
    expect(gateway.calls.some((c) => c.path.endsWith('/comments'))).toBe(false);
    const undescribed = agent.fetchWithAccess(`${gateway.url}/users/octocat`, { method: 'GET' }, { reason: 'Look up' });
    await expect(undescribed).rejects.toMatchObject({ name: 'GatewayRefusalError', code: 'AUTHENTICATION_REQUIRED', status: 401 });
  });

  it("reads Gatehouse's refusal from nginx's headers as well as from a JSON body", async () => {
    const needed = { resource: 'github.issues', operations: ['comment'], actions: ['write'] };
    const fromHeaders = await gatewayRefusal(
      new Response('<html>403 Forbidden</html>', {
        status: 403,
        headers: { 'x-gatehouse-error': 'NOT_GRANTED', 'x-gatehouse-needed': JSON.stringify(needed) },
      }),
    );
    expect(fromHeaders).toMatchObject({ code: 'NOT_GRANTED', status: 403, needed });
    const fromBody = await gatewayRefusal(new Response(JSON.stringify({ error: { code: 'NOT_GRANTED', message: 'no', needed } }), { status: 403 }));
    expect(fromBody).toMatchObject({ code: 'NOT_GRANTED', message: 'no', needed });
    expect(await gatewayRefusal(new Response('upstream says no', { status: 403 }))).toBeNull();
    expect(await gatewayRefusal(new Response('ok', { status: 200 }))).toBeNull();
  });
});
