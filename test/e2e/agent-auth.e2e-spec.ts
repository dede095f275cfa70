import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { ADMIN_TOKEN, Broker, call, Reply, registerAgent, startBroker, TestAgent } from '../support/broker';
import { ask, askFor, expectError, introspect, LOW_RISK, nowSeconds, PII } from '../support/flows';

/** A JWT with `alg: none` and no signature, claiming to be `agentId`. */
function unsecured(agentId: string, aud: string): string {
  const now = nowSeconds();
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ iss: agentId, sub: agentId, aud, iat: now, exp: now + 60, jti: randomUUID() })}.`;
}

describe('agent authentication', () => {
  let broker: Broker;
  let agent: TestAgent;

  /** An agent call carrying exactly `token` (no fresh assertion). */
  const withToken = (token: string | undefined, path = '/v1/grants', method = 'GET'): Promise<Reply> =>
    call(`${broker.url}${path}`, method, { token });

  beforeAll(async () => {
    broker = await startBroker();
    agent = await registerAgent(broker);
  });
  afterAll(() => broker.close());

  describe('assertions', () => {
    it('accepts a fresh assertion', async () => {
      const res = await withToken(await agent.assertion());
      expect(res.status).toBe(200);
      expect(Array.isArray(res.body.items)).toBe(true);
    });

    it('asks for credentials when there are none (401 AUTHENTICATION_REQUIRED)', async () => {
      expectError(await withToken(undefined), 401, 'AUTHENTICATION_REQUIRED');
      expectError(await call(`${broker.url}/v1/access-requests`, 'POST', { body: { resource: 'crm.customers' } }), 401, 'AUTHENTICATION_REQUIRED');
    });

    it('refuses a replayed assertion (401 ASSERTION_REPLAYED), and a replay cannot submit', async () => {
      const token = await agent.assertion();
      expect((await withToken(token)).status).toBe(200);
      expectError(await withToken(token), 401, 'ASSERTION_REPLAYED');
      const before = await broker.prisma.accessRequest.count({ where: { agentId: agent.id } });
      const post = await call(`${broker.url}/v1/access-requests`, 'POST', {
        token,
        body: { resource: 'crm.customers', actions: ['read'], columns: ['id'], duration: '5m', reason: 'replay' },
      });
      expectError(post, 401, 'ASSERTION_REPLAYED');
      expect(await broker.prisma.accessRequest.count({ where: { agentId: agent.id } })).toBe(before);
    });

    it('refuses an assertion signed with another key', async () => {
      const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      expectError(await withToken(await agent.assertion({ key: privateKey as TestAgent['privateKey'] })), 401, 'INVALID_ASSERTION');
    });

    it('refuses a wrong audience', async () => {
      expectError(await withToken(await agent.assertion({ aud: 'https://some-other-broker.example.com' })), 401, 'INVALID_ASSERTION');
    });

    it('refuses expired assertions and lifetimes over 5 minutes', async () => {
      const now = nowSeconds();
      expectError(await withToken(await agent.assertion({ iat: now - 600, exp: now - 300 })), 401, 'INVALID_ASSERTION');
      expectError(await withToken(await agent.assertion({ iat: now - 90, exp: now - 31 })), 401, 'INVALID_ASSERTION');
      expectError(await withToken(await agent.assertion({ iat: now, exp: now + 301 })), 401, 'INVALID_ASSERTION');
      expectError(await withToken(await agent.assertion({ iat: now, exp: now + 3600 })), 401, 'INVALID_ASSERTION');
    });

    it('refuses an iat in the future beyond the skew', async () => {
      const now = nowSeconds();
      expectError(await withToken(await agent.assertion({ iat: now + 120, exp: now + 180 })), 401, 'INVALID_ASSERTION');
    });

    it('accepts clocks within the 30 s skew (exp 20 s ago, iat 20 s ahead)', async () => {
      const now = nowSeconds();
      expect((await withToken(await agent.assertion({ iat: now - 80, exp: now - 20 }))).status).toBe(200);
      expect((await withToken(await agent.assertion({ iat: now + 20, exp: now + 80 }))).status).toBe(200);
    });

    it('refuses alg none and HS256 tokens', async () => {
      expectError(await withToken(unsecured(agent.id, broker.url)), 401, 'INVALID_ASSERTION');
      const now = nowSeconds();
      const hs = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(agent.id)
        .setSubject(agent.id)
        .setAudience(broker.url)
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .setJti(randomUUID())
        .sign(new TextEncoder().encode('a-shared-secret-of-32-bytes-long!'));
      expectError(await withToken(hs), 401, 'INVALID_ASSERTION');
      // An ES256 signature does not pass for an Ed25519 agent either.
      const { privateKey } = await generateKeyPair('ES256');
      const es = await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256' })
        .setIssuer(agent.id)
        .setSubject(agent.id)
        .setAudience(broker.url)
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .setJti(randomUUID())
        .sign(privateKey);
      expectError(await withToken(es), 401, 'INVALID_ASSERTION');
    });

    it('refuses an unknown agent id and garbage', async () => {
      expectError(await withToken(await agent.assertion({ iss: randomUUID() })), 401, 'INVALID_ASSERTION');
      expectError(await withToken('not-a-jwt'), 401, 'INVALID_ASSERTION');
    });

    it("answers another agent's request as not found", async () => {
      const { id } = await askFor(agent, 'pending', PII);
      const other = await registerAgent(broker);
      expectError(await other.call('GET', `/v1/access-requests/${id}`), 404, 'REQUEST_NOT_FOUND');
      expectError(await other.call('POST', `/v1/access-requests/${id}/cancel`), 404, 'REQUEST_NOT_FOUND');
      expect((await agent.call('GET', `/v1/access-requests/${id}`)).body.status).toBe('pending');
    });
  });

  describe('suspension and key rotation', () => {
    it('suspends an agent: 403 on its calls, its active grant revoked; resume lets it ask again', async () => {
      const suspect = await registerAgent(broker);
      const { grant } = await askFor(suspect, 'approved');
      expect((await introspect(broker, grant.token)).body.active).toBe(true);

      const suspended = await broker.admin('POST', `/v1/admin/agents/${suspect.id}/suspend`);
      expect(suspended.status).toBe(200);
      expect(suspended.body.revokedGrants).toEqual([grant.id]);
      expect(suspended.body.agent.status).toBe('suspended');

      expectError(await ask(suspect), 403, 'AGENT_SUSPENDED');
      expectError(await suspect.call('GET', '/v1/grants'), 403, 'AGENT_SUSPENDED');
      expect((await introspect(broker, grant.token)).body).toEqual({ active: false });
      expect((await broker.prisma.grant.findUnique({ where: { id: grant.id } }))!.status).toBe('revoked');
      expect(await broker.prisma.auditEvent.count({ where: { grantId: grant.id, type: 'grant.revoked' } })).toBe(1);

      const resumed = await broker.admin('POST', `/v1/admin/agents/${suspect.id}/resume`);
      expect(resumed.status).toBe(200);
      expect(resumed.body.status).toBe('active');
      const again = await ask(suspect);
      expect(again.status).toBe(201);
      expect(again.body.status).toBe('approved');
      // The old grant stays revoked.
      expect((await introspect(broker, grant.token)).body).toEqual({ active: false });
    });

    it('rotates the agent key: the old key is refused at once, the new key works', async () => {
      const rotating = await registerAgent(broker);
      const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      const res = await broker.admin('PUT', `/v1/admin/agents/${rotating.id}/key`, { publicJwk: await exportJWK(publicKey) });
      expect(res.status).toBe(200);
      expectError(await withToken(await rotating.assertion()), 401, 'INVALID_ASSERTION');
      const submitted = await call(`${broker.url}/v1/access-requests`, 'POST', {
        token: await rotating.assertion({ key: privateKey as TestAgent['privateKey'] }),
        body: { resource: 'crm.customers', actions: ['read'], columns: ['id'], duration: '5m', reason: 'after rotation' },
      });
      expect(submitted.status).toBe(201);
      expect(submitted.body.status).toBe('approved');
    });

    it('rotates to a P-256 key: the agent now signs ES256', async () => {
      const rotating = await registerAgent(broker);
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      expect((await broker.admin('PUT', `/v1/admin/agents/${rotating.id}/key`, { publicJwk: await exportJWK(publicKey) })).status).toBe(200);
      expectError(await withToken(await rotating.assertion()), 401, 'INVALID_ASSERTION');
      const now = nowSeconds();
      const es = await new SignJWT({})
        .setProtectedHeader({ alg: 'ES256' })
        .setIssuer(rotating.id)
        .setSubject(rotating.id)
        .setAudience(broker.url)
        .setIssuedAt(now)
        .setExpirationTime(now + 60)
        .setJti(randomUUID())
        .sign(privateKey);
      expect((await withToken(es)).status).toBe(200);
    });
  });

  describe('replicas', () => {
    /** A call to `replica`, signed for it (its issuer is its own address). */
    const on = async (replica: Broker, who: TestAgent, method: string, path: string, body?: unknown) =>
      call(`${replica.url}${path}`, method, { token: await who.assertion({ aud: replica.config.issuer }), body });
    const rowsOf = async (who: TestAgent) => ({
      requests: await broker.prisma.accessRequest.count({ where: { agentId: who.id } }),
      grants: await broker.prisma.grant.count({ where: { agentId: who.id, status: 'active' } }),
    });

    it('another replica refuses a suspended agent at once, and a rotated key', async () => {
      const replica = await startBroker();
      try {
        const a = await registerAgent(broker);
        // The replica authenticates the agent, and keeps it in memory.
        expect((await on(replica, a, 'POST', '/v1/access-requests', LOW_RISK)).body.status).toBe('approved');
        expect((await broker.admin('POST', `/v1/admin/agents/${a.id}/suspend`)).status).toBe(200);
        expectError(await on(replica, a, 'POST', '/v1/access-requests', LOW_RISK), 403, 'AGENT_SUSPENDED');
        expect(await rowsOf(a)).toEqual({ requests: 1, grants: 0 });

        const b = await registerAgent(broker);
        expect((await on(replica, b, 'GET', '/v1/grants')).status).toBe(200);
        const { publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
        expect((await broker.admin('PUT', `/v1/admin/agents/${b.id}/key`, { publicJwk: await exportJWK(publicKey) })).status).toBe(200);
        expectError(await on(replica, b, 'POST', '/v1/access-requests', LOW_RISK), 401, 'INVALID_ASSERTION');
        expect(await rowsOf(b)).toEqual({ requests: 0, grants: 0 });
      } finally {
        await replica.close();
      }
    });

    it('a replica that never heard of the suspension still writes nothing for the agent: Postgres decides', async () => {
      // Another Redis prefix: it shares the database but not the channel that announces agent changes.
      const deaf = await startBroker({ GATEHOUSE_REDIS_PREFIX: `${process.env.GATEHOUSE_REDIS_PREFIX}_deaf_${randomUUID().slice(0, 6)}` });
      try {
        const a = await registerAgent(broker);
        expect((await on(deaf, a, 'POST', '/v1/access-requests', LOW_RISK)).body.status).toBe('approved');
        expect((await broker.admin('POST', `/v1/admin/agents/${a.id}/suspend`)).status).toBe(200);
        const before = await rowsOf(a);
        expectError(await on(deaf, a, 'POST', '/v1/access-requests', LOW_RISK), 403, 'AGENT_SUSPENDED');
        expect(await rowsOf(a)).toEqual(before);
        // Having found out, it refuses at authentication from then on.
        expectError(await on(deaf, a, 'GET', '/v1/grants'), 403, 'AGENT_SUSPENDED');
      } finally {
        await deaf.close();
      }
    });
  });

  describe('rate limit and admin tokens', () => {
    it('answers the 6th call in a row with 429 RATE_LIMITED and Retry-After', async () => {
      const limited = await startBroker({ GATEHOUSE_RATE_LIMIT: '5/10s' });
      try {
        const busy = await registerAgent(limited);
        const statuses: number[] = [];
        for (let i = 0; i < 5; i++) statuses.push((await busy.call('GET', '/v1/grants')).status);
        expect(statuses).toEqual([200, 200, 200, 200, 200]);
        const sixth = await busy.call('GET', '/v1/grants');
        expectError(sixth, 429, 'RATE_LIMITED');
        const retryAfter = Number(sixth.headers.get('retry-after'));
        expect(Number.isInteger(retryAfter)).toBe(true);
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(10);
        // The limit is per agent: another agent is not throttled.
        expect((await (await registerAgent(limited)).call('GET', '/v1/grants')).status).toBe(200);
      } finally {
        await limited.close();
      }
    });

    it('refuses the admin API without a valid admin token (401 INVALID_ADMIN_TOKEN)', async () => {
      expectError(await call(`${broker.url}/v1/admin/agents`, 'GET', { token: 'wrong-admin-token-0123456789' }), 401, 'INVALID_ADMIN_TOKEN');
      expectError(await call(`${broker.url}/v1/admin/agents`, 'GET'), 401, 'INVALID_ADMIN_TOKEN');
      expectError(await call(`${broker.url}/v1/admin/agents`, 'GET', { token: `${ADMIN_TOKEN}x` }), 401, 'INVALID_ADMIN_TOKEN');
      // An agent assertion is not an admin credential.
      expectError(await call(`${broker.url}/v1/admin/agents`, 'GET', { token: await agent.assertion() }), 401, 'INVALID_ADMIN_TOKEN');
      expect((await broker.admin('GET', '/v1/admin/agents')).status).toBe(200);
    });
  });
});
