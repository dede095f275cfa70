import { randomUUID } from 'node:crypto';
import { RedisService } from '@gatehouse/core';
import { ADMIN_TOKEN, Broker, call, eventually, INTROSPECTION_TOKEN, registerAgent, Reply, startBroker, TestAgent } from '../support/broker';
import { askFor, expectError, introspect, PII, sleep } from '../support/flows';

const FAILURE_LIMIT = 5;
const FAILURE_WINDOW_S = 4;
const MAX_WAITS = 2;
const CRM_ONLY = 'introspect-crm-only-0123456789';
const DEALS_ONLY = 'introspect-deals-only-0123456789';

/** A fresh documentation address (RFC 5737) for each test that fails authentications, so budgets never mix. */
let lastOctet = 10;
const newAddress = () => `203.0.113.${lastOctet++}`;
const from = (ip: string) => ({ 'x-forwarded-for': ip });

/**
 * One broker for the whole file, its log written to `logged`. nestjs-pino keeps one logger per
 * process (the first app's), so this broker is started before any other in this file.
 */
function startLoggedBroker(logged: string[]): Promise<Broker> {
  return startBroker(
    {
      GATEHOUSE_INTROSPECTION_TOKENS: `crm:${INTROSPECTION_TOKEN},crm-api-server:${CRM_ONLY}:crm-api,deals-server:${DEALS_ONLY}:crm.deals|https://deals.example.com:8443`,
      GATEHOUSE_AUTH_FAILURE_LIMIT: `${FAILURE_LIMIT}/${FAILURE_WINDOW_S}s`,
      GATEHOUSE_MAX_WAITS_PER_AGENT: String(MAX_WAITS),
      // Lets each test speak from an address of its own through X-Forwarded-For.
      GATEHOUSE_TRUST_PROXY: 'true',
    },
    { logged },
  );
}

describe('limits an operator expects', () => {
  const logged: string[] = [];
  let broker: Broker;
  let agent: TestAgent;

  beforeAll(async () => {
    broker = await startLoggedBroker(logged);
    agent = await registerAgent(broker);
  });
  afterAll(() => broker.close());

  const expectRetryAfter = (res: Reply, atMost: number) => {
    const seconds = Number(res.headers.get('retry-after'));
    expect(Number.isInteger(seconds)).toBe(true);
    expect(seconds).toBeGreaterThanOrEqual(1);
    expect(seconds).toBeLessThanOrEqual(atMost);
  };

  describe('failed authentications per source address', () => {
    const badAssertion = (ip: string) => call(`${broker.url}/v1/grants`, 'GET', { token: 'not-a-jwt', headers: from(ip) });

    it('counts every 401 (agent, admin, introspection) and then refuses the address 429 with Retry-After', async () => {
      const ip = newAddress();
      const failures = [
        await badAssertion(ip),
        await call(`${broker.url}/v1/grants`, 'GET', { headers: from(ip) }),
        await call(`${broker.url}/v1/admin/agents`, 'GET', { token: 'not-the-admin-token-at-all', headers: from(ip) }),
        await call(`${broker.url}/v1/introspect`, 'POST', { token: 'not-an-introspection-token', body: { token: 'x' }, headers: from(ip) }),
        await badAssertion(ip),
      ];
      expect(failures.map((r) => r.status)).toEqual(Array(FAILURE_LIMIT).fill(401));

      const refused = await call(`${broker.url}/v1/admin/agents`, 'GET', { token: ADMIN_TOKEN, headers: from(ip) });
      expectError(refused, 429, 'RATE_LIMITED');
      expect(refused.body.error.message).toMatch(/failed authentications from this address/);
      expectRetryAfter(refused, FAILURE_WINDOW_S);
      // Other addresses are not affected, and neither are health probes from the refused one.
      expect((await call(`${broker.url}/v1/admin/agents`, 'GET', { token: ADMIN_TOKEN, headers: from(newAddress()) })).status).toBe(200);
      expect((await call(`${broker.url}/health/live`, 'GET', { headers: from(ip) })).status).toBe(200);
      // The operator hears of it once, with the address.
      expect(
        logged.filter((line) => line.includes('"context":"AuthFailures"') && line.includes(`${ip} reached ${FAILURE_LIMIT} failed authentications`)),
      ).toHaveLength(1);
    });

    it('refuses before any work: a signed assertion is not consumed, a bad body is not read, nothing is stored', async () => {
      const ip = newAddress();
      for (let i = 0; i < FAILURE_LIMIT; i++) expect((await badAssertion(ip)).status).toBe(401);

      const before = await broker.prisma.accessRequest.count({ where: { agentId: agent.id } });
      const jti = randomUUID();
      const assertion = await agent.assertion({ jti });
      const refused = await call(`${broker.url}/v1/access-requests`, 'POST', {
        token: assertion,
        body: { ...PII, reason: 'blocked' },
        headers: from(ip),
      });
      expectError(refused, 429, 'RATE_LIMITED');
      expectRetryAfter(refused, FAILURE_WINDOW_S);
      // Malformed JSON and an unknown route answer 429 too: the refusal comes before parsing and routing.
      expectError(
        await call(`${broker.url}/v1/access-requests`, 'POST', { token: await agent.assertion(), raw: '{"broken', headers: from(ip) }),
        429,
        'RATE_LIMITED',
      );
      expectError(await call(`${broker.url}/v1/no-such-route`, 'GET', { headers: from(ip) }), 429, 'RATE_LIMITED');
      expect(await broker.prisma.accessRequest.count({ where: { agentId: agent.id } })).toBe(before);
      const redis = broker.app.get(RedisService);
      expect(await redis.client.exists(redis.key('jti', agent.id, jti))).toBe(0);

      // The very same assertion is accepted from another address: its jti was never burned.
      const elsewhere = await call(`${broker.url}/v1/access-requests`, 'POST', {
        token: assertion,
        body: { ...PII, reason: 'blocked' },
        headers: from(newAddress()),
      });
      expect(elsewhere.status).toBe(201);
      expect(await redis.client.exists(redis.key('jti', agent.id, jti))).toBe(1);
    });

    it('lets the address back in once the window has passed, with an assertion it was refused', async () => {
      const ip = newAddress();
      for (let i = 0; i < FAILURE_LIMIT; i++) expect((await badAssertion(ip)).status).toBe(401);
      const assertion = await agent.assertion();
      const refused = await call(`${broker.url}/v1/grants`, 'GET', { token: assertion, headers: from(ip) });
      expectError(refused, 429, 'RATE_LIMITED');
      await sleep(Number(refused.headers.get('retry-after')) * 1000 + 100);
      expect((await call(`${broker.url}/v1/grants`, 'GET', { token: assertion, headers: from(ip) })).status).toBe(200);
    });

    it('does not count successful authentications', async () => {
      const ip = newAddress();
      for (let i = 0; i < FAILURE_LIMIT - 1; i++) expect((await badAssertion(ip)).status).toBe(401);
      for (let i = 0; i < 3 * FAILURE_LIMIT; i++) expect((await agent.call('GET', '/v1/grants', undefined, from(ip))).status).toBe(200);
      expectError(await badAssertion(ip), 401, 'INVALID_ASSERTION');
      expectError(await badAssertion(ip), 429, 'RATE_LIMITED');
    });
  });

  describe('long-polls per agent', () => {
    const poll = (who: TestAgent, id: string, wait: number, signal?: AbortSignal) =>
      who
        .assertion()
        .then((token) => fetch(`${broker.url}/v1/access-requests/${id}?wait=${wait}`, { headers: { authorization: `Bearer ${token}` }, signal }));
    const read = (who: TestAgent, id: string, wait: number) => who.call('GET', `/v1/access-requests/${id}?wait=${wait}`);

    it(`holds at most ${MAX_WAITS} per agent; a decision, a hang-up and a timeout each free a slot`, async () => {
      const [r1, r2, r3] = [await askFor(agent, 'pending', PII), await askFor(agent, 'pending', PII), await askFor(agent, 'pending', PII)];
      const decided = poll(agent, r1.id, 30);
      const hangUp = new AbortController();
      const abandoned = poll(agent, r2.id, 30, hangUp.signal).catch((error: Error) => error);
      await sleep(300);

      const refused = await read(agent, r3.id, 1);
      expectError(refused, 429, 'RATE_LIMITED');
      expect(refused.body.error.message).toMatch(/fewer requests at once/);
      expectRetryAfter(refused, 30);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(25);
      // Reads that do not hold are never refused, nor is another agent's hold.
      expect((await read(agent, r3.id, 0)).body.status).toBe('pending');
      const other = await registerAgent(broker);
      const theirs = await askFor(other, 'pending', PII);
      expect((await read(other, theirs.id, 1)).body.status).toBe('pending');

      // A decision ends the first hold and frees exactly one slot.
      expect((await broker.admin('POST', `/v1/admin/access-requests/${r1.id}/approve`, {})).status).toBe(200);
      expect(((await (await decided).json()) as { status: string }).status).toBe('approved');
      const held = new AbortController();
      const third = poll(agent, r3.id, 30, held.signal).catch((error: Error) => error);
      await sleep(300);
      expectError(await read(agent, r3.id, 1), 429, 'RATE_LIMITED');
      // A decided request is read at once even with ?wait, whatever the slots.
      expect((await read(agent, r1.id, 30)).body.status).toBe('approved');

      // A client that hangs up frees its slot.
      hangUp.abort();
      expect(await abandoned).toMatchObject({ name: 'AbortError' });
      await eventually(async () => (await read(agent, r3.id, 1)).status === 200);
      // That hold ended by its timeout and freed its slot as well: the next one is accepted.
      const afterTimeout = await read(agent, r3.id, 1);
      expect({ status: afterTimeout.status, body: afterTimeout.body.status }).toEqual({ status: 200, body: 'pending' });
      held.abort();
      await third;
    });
  });

  describe('introspection scoped to audiences', () => {
    let crmToken: string;
    let dealsToken: string;

    beforeAll(async () => {
      crmToken = (await askFor(agent, 'approved')).grant.token;
      dealsToken = (await askFor(agent, 'approved', { resource: 'crm.deals', columns: ['id', 'amount'] })).grant.token;
    });

    it("a scoped credential sees its audience's tokens with their claims, and any other token as exactly {active: false}", async () => {
      const own = await introspect(broker, crmToken, 'json', CRM_ONLY);
      expect(own.status).toBe(200);
      expect(own.body).toMatchObject({ active: true, aud: 'crm-api', purpose: 'Draft a reply to ticket 4521' });
      const foreign = await introspect(broker, dealsToken, 'form', CRM_ONLY);
      expect(foreign.status).toBe(200);
      expect(foreign.body).toEqual({ active: false });

      expect((await introspect(broker, dealsToken, 'json', DEALS_ONLY)).body).toMatchObject({ active: true, aud: 'crm.deals' });
      expect((await introspect(broker, crmToken, 'json', DEALS_ONLY)).body).toEqual({ active: false });
    });

    it('an unscoped credential and an admin token see every audience', async () => {
      for (const credential of [INTROSPECTION_TOKEN, ADMIN_TOKEN]) {
        expect((await introspect(broker, crmToken, 'json', credential)).body).toMatchObject({ active: true, aud: 'crm-api' });
        expect((await introspect(broker, dealsToken, 'json', credential)).body).toMatchObject({ active: true, aud: 'crm.deals' });
      }
    });

    it('a released token is inactive for its own audience too', async () => {
      const { grant } = await askFor(agent, 'approved');
      expect((await introspect(broker, grant.token, 'json', CRM_ONLY)).body.active).toBe(true);
      expect((await agent.call('POST', `/v1/grants/${grant.id}/release`)).status).toBe(200);
      expect((await introspect(broker, grant.token, 'json', CRM_ONLY)).body).toEqual({ active: false });
    });

    it('a bad entry stops the start, naming the variable', async () => {
      await expect(startBroker({ GATEHOUSE_INTROSPECTION_TOKENS: `crm:${CRM_ONLY}:` })).rejects.toThrow(
        /GATEHOUSE_INTROSPECTION_TOKENS: .*empty audience/,
      );
    });
  });

  describe('credentials sent in the wrong place are never logged', () => {
    type LogLine = {
      msg?: string;
      req?: { id?: string; method?: string; url?: string; headers?: Record<string, string> };
      res?: { statusCode?: number };
    };
    const requestLine = (id: string) => logged.map((line) => JSON.parse(line) as LogLine).find((line) => line.req?.id === id && line.res);

    it('logs method, path with query keys but no values, whitelisted headers and status; never other headers or bodies', async () => {
      const ip = newAddress();
      const secret = (label: string) => `${label}-${randomUUID()}`;
      const secrets = {
        accessToken: secret('qs-access-token'),
        token: secret('qs-token'),
        assertion: secret('qs-assertion'),
        bare: secret('qs-bare'),
        apiKey: secret('x-api-key'),
        authToken: secret('x-auth-token'),
        proxy: secret('proxy-authorization'),
        cookie: secret('cookie'),
        whatever: secret('x-whatever'),
        bearer: secret('bearer'),
        body: secret('body'),
      };
      const sends: [string, string, Parameters<typeof call>[2]][] = [
        [`/v1/grants?access_token=${secrets.accessToken}&status=active`, 'GET', {}],
        [`/v1/admin/agents?token=${secrets.token}`, 'GET', { token: ADMIN_TOKEN }], // 400: an unknown query parameter
        [`/v1/introspect?assertion=${secrets.assertion}&${secrets.bare}`, 'POST', { token: INTROSPECTION_TOKEN, body: { token: secrets.body } }],
        [
          '/v1/admin/policy',
          'GET',
          {
            token: ADMIN_TOKEN,
            headers: {
              'x-api-key': secrets.apiKey,
              'x-auth-token': secrets.authToken,
              'proxy-authorization': `Basic ${secrets.proxy}`,
              cookie: `session=${secrets.cookie}`,
              'x-whatever': secrets.whatever,
            },
          },
        ],
        ['/v1/grants', 'GET', { token: secrets.bearer }],
      ];
      const ids: string[] = [];
      const statuses: number[] = [];
      for (const [path, method, init] of sends) {
        const id = `limits-${randomUUID()}`;
        ids.push(id);
        statuses.push(
          (await call(`${broker.url}${path}`, method, { ...init, headers: { ...init?.headers, ...from(ip), 'x-request-id': id } })).status,
        );
      }
      expect(statuses).toEqual([401, 400, 200, 200, 401]);
      const lines = await eventually(async () => {
        const found = ids.map(requestLine);
        return found.every(Boolean) && (found as LogLine[]);
      });

      expect(lines.map((line) => line.msg)).toEqual([
        'GET /v1/grants?access_token=[redacted]&status=[redacted] 401',
        'GET /v1/admin/agents?token=[redacted] 400',
        'POST /v1/introspect?assertion=[redacted]&[redacted] 200',
        'GET /v1/admin/policy 200',
        'GET /v1/grants 401',
      ]);
      expect(lines[0]).toMatchObject({
        req: { method: 'GET', url: '/v1/grants?access_token=[redacted]&status=[redacted]' },
        res: { statusCode: 401 },
      });
      expect(Object.keys(lines[3].req!.headers!).sort()).toEqual(['accept', 'host', 'user-agent', 'x-forwarded-for', 'x-request-id']);
      expect(lines[3].req!.headers!['x-forwarded-for']).toBe(ip);

      const output = logged.join('');
      for (const [where, value] of Object.entries({ ...secrets, adminToken: ADMIN_TOKEN, introspectionToken: INTROSPECTION_TOKEN })) {
        expect({ where, logged: output.includes(value) }).toEqual({ where, logged: false });
      }
    });
  });

  describe('forward-auth', () => {
    it('writes no request line per gateway check (its allows and refusals go to the trail in batches), while other requests are logged', async () => {
      const checkIds = [`fa-${randomUUID()}`, `fa-${randomUUID()}`];
      await call(`${broker.url}/v1/authz/forward`, 'GET', { headers: { 'x-request-id': checkIds[0], 'x-forwarded-uri': '/x' } });
      await call(`${broker.url}/v1/authz/forward/repos/a/b`, 'GET', { headers: { 'x-request-id': checkIds[1] } });
      const otherId = `fa-other-${randomUUID()}`;
      await call(`${broker.url}/v1/admin/policy`, 'GET', { token: ADMIN_TOKEN, headers: { 'x-request-id': otherId } });
      const lineOf = (id: string) => logged.find((line) => line.includes(`"id":"${id}"`));
      await eventually(async () => lineOf(otherId));
      expect(checkIds.map(lineOf)).toEqual([undefined, undefined]);
    });
  });

  describe('without a proxy header', () => {
    it('counts the socket address', async () => {
      // Every test above spoke through X-Forwarded-For or succeeded; 127.0.0.1 itself has a clean record.
      for (let i = 0; i < FAILURE_LIMIT; i++) expect((await call(`${broker.url}/v1/grants`, 'GET', { token: 'not-a-jwt' })).status).toBe(401);
      expectError(await call(`${broker.url}/v1/grants`, 'GET', { token: await agent.assertion() }), 429, 'RATE_LIMITED');
      expect((await agent.call('GET', '/v1/grants', undefined, from(newAddress()))).status).toBe(200);
    });
  });
});
