import { ADMIN_TOKEN, Broker, call, INTROSPECTION_TOKEN, registerAgent, Reply, startBroker, TestAgent } from '../support/broker';
import { askFor, expectError } from '../support/flows';

// The OpenID AuthZEN Authorization API 1.0 endpoints: discovery, one evaluation, many, and the same
// decision as forward-auth for the same call.

const GATEWAY_TOKEN = 'test-gateway-token-0123456789';
const ENV = {
  GATEHOUSE_POLICY_FILE: 'test/fixtures/http-policy.yaml',
  GATEHOUSE_TEST_GITHUB_TOKEN: 'ghp_x',
  GATEHOUSE_GATEWAY_TOKENS: `edge:${GATEWAY_TOKEN}`,
  // A resource server scoped to the CRM's audience only.
  GATEHOUSE_INTROSPECTION_TOKENS: `crm:${INTROSPECTION_TOKEN}:crm-api`,
};

describe('AuthZEN', () => {
  let broker: Broker;
  let agent: TestAgent;
  let httpToken: string;
  let dataToken: string;

  const evaluate = (body: unknown, credential: string | null = GATEWAY_TOKEN, path = 'evaluation'): Promise<Reply> =>
    call(`${broker.url}/access/v1/${path}`, 'POST', { token: credential ?? undefined, body, headers: { 'x-request-id': 'pep-42' } });
  const subject = (token = httpToken, id = agent.id) => ({ type: 'agent', id, properties: { token } });
  const http = (url: string) => ({ type: 'http', id: url });

  beforeAll(async () => {
    broker = await startBroker(ENV);
    agent = await registerAgent(broker);
    httpToken = (
      await askFor(agent, 'approved', {
        resource: 'github.issues',
        actions: ['read'],
        columns: undefined,
        operations: ['read-issues'],
        duration: '10m',
      })
    ).grant.token;
    dataToken = (await askFor(agent, 'approved', { resource: 'crm.customers', actions: ['read'], columns: ['id', 'name'], duration: '10m' })).grant
      .token;
  });
  afterAll(() => broker.close());

  it('publishes its discovery document', async () => {
    const res = await call(`${broker.url}/.well-known/authzen-configuration`, 'GET');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      policy_decision_point: broker.url,
      access_evaluation_endpoint: `${broker.url}/access/v1/evaluation`,
      access_evaluations_endpoint: `${broker.url}/access/v1/evaluations`,
    });
  });

  it('answers only an authenticated enforcement point, and refuses a malformed request 400', async () => {
    const body = { subject: subject(), resource: http('https://github.egress.test/repos/a/b/issues'), action: { name: 'GET' } };
    expectError(await evaluate(body, null), 401, 'INVALID_ADMIN_TOKEN');
    expectError(await evaluate(body, 'wrong-token-0123456789abcdef'), 401, 'INVALID_ADMIN_TOKEN');
    expectError(await evaluate({ subject: subject(), action: { name: 'GET' } }), 400, 'VALIDATION_FAILED');
    expect((await evaluate(body, ADMIN_TOKEN)).body.decision).toBe(true);
  });

  it('allows a call the grant covers, naming grant, agent and operation, and echoes X-Request-ID', async () => {
    const res = await evaluate({
      subject: subject(),
      resource: http('https://github.egress.test/repos/a/b/issues?state=open'),
      action: { name: 'GET' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('pep-42');
    expect(res.body).toEqual({
      decision: true,
      context: { grant: expect.any(String), agent: agent.id, user: agent.id, resource: 'github.issues', operation: 'read-issues' },
    });
    const byProperties = await evaluate({
      subject: subject(),
      resource: { type: 'http', id: 'issues', properties: { host: 'api.github.test', path: '/repos/a/b/issues/1' } },
      action: { name: 'HEAD' },
    });
    expect(byProperties.body.decision).toBe(true);
  });

  it('denies what the grant does not cover, with what would be needed, and a token issued to someone else', async () => {
    const res = await evaluate({
      subject: subject(),
      resource: http('https://github.egress.test/repos/a/b/issues/1/comments'),
      action: { name: 'POST' },
    });
    expect(res.body).toEqual({
      decision: false,
      context: {
        code: 'NOT_GRANTED',
        reason: expect.any(String),
        needed: { resource: 'github.issues', operations: ['comment'], actions: ['write'] },
      },
    });
    const other = await evaluate({
      subject: subject(httpToken, 'someone-else'),
      resource: http('https://github.egress.test/repos/a/b/issues'),
      action: { name: 'GET' },
    });
    expect(other.body).toMatchObject({ decision: false, context: { code: 'NOT_GRANTED' } });
    const noToken = await evaluate({
      subject: { type: 'agent', id: agent.id },
      resource: http('https://github.egress.test/repos/a/b/issues'),
      action: { name: 'GET' },
    });
    expect(noToken.body).toMatchObject({ decision: false, context: { code: 'AUTHENTICATION_REQUIRED' } });
  });

  it('decides data resources by the columns and action of the grant', async () => {
    const ask = (columns: string[], action = 'read', token = dataToken) =>
      evaluate({
        subject: subject(token),
        resource: { type: 'gatehouse_data', id: 'crm.customers', properties: { columns } },
        action: { name: action },
      });
    expect((await ask(['id'])).body.decision).toBe(true);
    expect((await ask(['id', 'email'])).body).toMatchObject({ decision: false, context: { code: 'NOT_GRANTED' } });
    expect((await ask(['id'], 'write')).body.decision).toBe(false);
    expect((await ask(['id'], 'read', httpToken)).body.decision).toBe(false);
  });

  it('tells a client scoped to some audiences nothing true about others', async () => {
    const scoped = (resource: unknown, token: string, action = 'GET') =>
      evaluate({ subject: subject(token), resource, action: { name: action } }, INTROSPECTION_TOKEN);
    expect((await scoped({ type: 'gatehouse_data', id: 'crm.customers', properties: { columns: ['id'] } }, dataToken, 'read')).body.decision).toBe(
      true,
    );
    expect((await scoped(http('https://github.egress.test/repos/a/b/issues'), httpToken)).body).toMatchObject({
      decision: false,
      context: { code: 'NOT_GRANTED' },
    });
  });

  it('evaluates many with defaults, in order, honouring the evaluations semantic', async () => {
    const base = { subject: subject(), action: { name: 'GET' } };
    const items = [
      { resource: http('https://github.egress.test/repos/a/b/issues') },
      { resource: http('https://github.egress.test/repos/a/b/issues/1/comments'), action: { name: 'POST' } },
      { resource: http('https://github.egress.test/repos/a/b/issues/2') },
    ];
    const all = await evaluate({ ...base, evaluations: items }, GATEWAY_TOKEN, 'evaluations');
    expect(all.body.evaluations.map((e: { decision: boolean }) => e.decision)).toEqual([true, false, true]);
    const denyFirst = await evaluate(
      { ...base, evaluations: items, options: { evaluations_semantic: 'deny_on_first_deny' } },
      GATEWAY_TOKEN,
      'evaluations',
    );
    expect(denyFirst.body.evaluations.map((e: { decision: boolean }) => e.decision)).toEqual([true, false]);
    const permitFirst = await evaluate(
      { ...base, evaluations: items, options: { evaluations_semantic: 'permit_on_first_permit' } },
      GATEWAY_TOKEN,
      'evaluations',
    );
    expect(permitFirst.body.evaluations.map((e: { decision: boolean }) => e.decision)).toEqual([true]);
    const single = await evaluate({ ...base, resource: http('https://github.egress.test/repos/a/b/issues') }, GATEWAY_TOKEN, 'evaluations');
    expect(single.body.decision).toBe(true);
    const incomplete = await evaluate(
      { action: { name: 'GET' }, evaluations: [{ resource: http('https://github.egress.test/x') }] },
      GATEWAY_TOKEN,
      'evaluations',
    );
    expect(incomplete.body.evaluations[0]).toMatchObject({ decision: false, context: { code: 'VALIDATION_FAILED' } });
  });

  it('gives the same decision as forward-auth for the same call', async () => {
    const calls: [string, string][] = [
      ['GET', '/repos/acme/app/issues'],
      ['HEAD', '/repos/acme/app/issues/7'],
      ['POST', '/repos/acme/app/issues/7/comments'],
      ['DELETE', '/repos/acme/app'],
      ['GET', '/users/octocat'],
      ['GET', '/repos/acme/app/issues/../../x'],
      ['PUT', '/repos/acme/app/issues'],
    ];
    for (const [method, uri] of calls) {
      const forward = await call(`${broker.url}/v1/authz/forward`, 'GET', {
        token: httpToken,
        headers: { 'x-forwarded-method': method, 'x-forwarded-host': 'github.egress.test', 'x-forwarded-uri': uri },
      });
      const authzen = await evaluate({
        subject: subject(),
        resource: { type: 'http', id: 'x', properties: { host: 'github.egress.test', path: uri } },
        action: { name: method },
      });
      expect({ method, uri, authzen: authzen.body.decision }).toEqual({ method, uri, authzen: forward.status === 200 });
    }
  });
});
