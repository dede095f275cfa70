import { decodeProtectedHeader, errors } from 'jose';
import { Broker, call, putUser, registerAgent, startBroker, TestAgent } from '../support/broker';
import { ask, askFor, delegate, expectError, LOW_RISK, nowSeconds, PII, verifyGrantToken } from '../support/flows';

const POLICY_VERSION = /^sha256:[0-9a-f]{64}$/;
const ALL_CUSTOMER_COLUMNS = ['id', 'name', 'email', 'phone', 'ssn'];
const CLAIMS_FOR_USER = ['act', 'aud', 'authorization_details', 'client_id', 'exp', 'iat', 'iss', 'jti', 'nbf', 'purpose', 'req', 'scope', 'sub'];
const CLAIMS_FOR_AGENT = CLAIMS_FOR_USER.filter((claim) => claim !== 'act');

/** Milliseconds from now until an ISO instant. */
const msUntil = (iso: string) => new Date(iso).getTime() - Date.now();

describe('decisions (POST /v1/access-requests)', () => {
  let broker: Broker;
  let agent: TestAgent;

  beforeAll(async () => {
    broker = await startBroker();
    agent = await registerAgent(broker);
    // Only the id and email matter here (the token's sub); groups play no part in these decisions.
    await putUser(broker, 'alice', ['sales']);
    await delegate(broker, agent, 'alice');
  });
  afterAll(() => broker.close());

  describe('the three outcomes', () => {
    it('approves a low-risk read at once, with a grant and no approval', async () => {
      const res = await ask(agent, { onBehalfOf: 'alice@example.com' });
      expect(res.status).toBe(201);
      const body = res.body;
      expect(body.status).toBe('approved');
      expect(body.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(body.approval).toBeUndefined();
      expect(body.decision).toEqual({
        outcome: 'approve',
        rules: ['low-risk-reads'],
        message: expect.any(String),
        riskScore: expect.any(Number),
        policyVersion: expect.stringMatching(POLICY_VERSION),
        anomalies: [], // a young agent: its baseline does not speak yet
      });
      expect(body.decision.message.length).toBeGreaterThan(0);
      expect(body.decision.riskScore).toBeGreaterThanOrEqual(0);
      expect(body.decision.riskScore).toBeLessThanOrEqual(100);
      expect(body.grant).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        status: 'active',
        token: expect.any(String),
        expiresAt: expect.any(String),
        resource: 'crm.customers',
        actions: ['read'],
        columns: ['id', 'name'],
      });
      expect(msUntil(body.grant.expiresAt)).toBeGreaterThan(14 * 60_000);
      expect(msUntil(body.grant.expiresAt)).toBeLessThanOrEqual(15 * 60_000);

      const row = await broker.prisma.grant.findUnique({ where: { id: body.grant.id } });
      expect(row).toMatchObject({ requestId: body.id, agentId: agent.id, status: 'active', columns: ['id', 'name'] });
    });

    it('sends pii to the resource owners: pending, with the approval and no grant', async () => {
      const res = await ask(agent, PII);
      expect(res.status).toBe(201);
      expect(res.body.status).toBe('pending');
      expect(res.body.grant).toBeUndefined();
      expect(res.body.decision).toMatchObject({
        outcome: 'require_approval',
        rules: ['pii-needs-owner'],
        policyVersion: expect.stringMatching(POLICY_VERSION),
      });
      expect(typeof res.body.decision.riskScore).toBe('number');
      expect(res.body.decision.message.length).toBeGreaterThan(0);
      expect(res.body.approval).toEqual({ kind: 'approvers', approvers: 'crm-owners', required: 1, received: 0, expiresAt: expect.any(String) });
      // defaults.approvalTimeout is 15m
      expect(msUntil(res.body.approval.expiresAt)).toBeGreaterThan(14 * 60_000);
      expect(msUntil(res.body.approval.expiresAt)).toBeLessThanOrEqual(15 * 60_000);
      expect(await broker.prisma.grant.count({ where: { requestId: res.body.id } })).toBe(0);
    });

    it('denies restricted columns with the rule and its message, and issues nothing', async () => {
      const res = await ask(agent, { columns: ['id', 'ssn'] });
      expect(res.status).toBe(201);
      expect(res.body.status).toBe('denied');
      expect(res.body.grant).toBeUndefined();
      expect(res.body.approval).toBeUndefined();
      expect(res.body.decision).toEqual({
        outcome: 'deny',
        rules: ['no-restricted'],
        message: 'Restricted columns are never granted to agents.',
        riskScore: expect.any(Number),
        policyVersion: expect.stringMatching(POLICY_VERSION),
        anomalies: [], // a young agent: its baseline does not speak yet
      });
      expect(await broker.prisma.grant.count({ where: { requestId: res.body.id } })).toBe(0);
    });

    it('records the same policy version on every decision, and it is the loaded policy', async () => {
      const versions = await Promise.all([ask(agent), ask(agent, PII), ask(agent, { columns: ['ssn'] })]);
      const policy = await broker.admin('GET', '/v1/admin/policy');
      expect(policy.status).toBe(200);
      expect(versions.map((r) => r.body.decision.policyVersion)).toEqual([policy.body.version, policy.body.version, policy.body.version]);
    });

    it('answers GET /v1/access-requests/{id} with the same shape and the same token', async () => {
      const created = await askFor(agent, 'approved');
      const read = await agent.call('GET', `/v1/access-requests/${created.id}`);
      expect(read.status).toBe(200);
      expect(read.body).toEqual(created);
    });
  });

  describe('scope and duration', () => {
    it('clamps 30m to the rule maxDuration of 20m', async () => {
      const body = await askFor(agent, 'approved', { duration: '30m' });
      expect(body.decision.rules).toEqual(['low-risk-reads']);
      const left = msUntil(body.grant.expiresAt);
      expect(left).toBeGreaterThan(19 * 60_000);
      expect(left).toBeLessThanOrEqual(20 * 60_000);
      const { payload } = await verifyGrantToken(broker, body.grant.token);
      expect(payload.exp! - payload.iat!).toBe(20 * 60);
    });

    it('takes ISO 8601 durations (PT10M)', async () => {
      const body = await askFor(agent, 'approved', { duration: 'PT10M' });
      const { payload } = await verifyGrantToken(broker, body.grant.token);
      expect(payload.exp! - payload.iat!).toBe(10 * 60);
    });

    it('reads omitted columns as every column of the resource, so crm.customers (with ssn) is denied', async () => {
      const { columns: _omit, ...withoutColumns } = LOW_RISK;
      const res = await agent.call('POST', '/v1/access-requests', withoutColumns);
      expect(res.status).toBe(201);
      expect(res.body.status).toBe('denied');
      expect(res.body.decision.rules).toEqual(['no-restricted']);
      expect([...res.body.columns].sort()).toEqual([...ALL_CUSTOMER_COLUMNS].sort());
      const row = await broker.prisma.accessRequest.findUnique({ where: { id: res.body.id } });
      expect([...row!.columns].sort()).toEqual([...ALL_CUSTOMER_COLUMNS].sort());
    });

    it('grants every column of crm.deals when columns are omitted (all internal or below)', async () => {
      const res = await agent.call('POST', '/v1/access-requests', {
        resource: 'crm.deals',
        actions: ['read'],
        duration: '10m',
        reason: 'Pipeline summary',
      });
      expect(res.status).toBe(201);
      expect(res.body.status).toBe('approved');
      expect([...res.body.grant.columns].sort()).toEqual(['amount', 'id', 'stage']);
      // crm.deals names no audience: the resource id is the audience.
      const { payload } = await verifyGrantToken(broker, res.body.grant.token, { audience: 'crm.deals' });
      expect((payload.authorization_details as any[])[0].columns.sort()).toEqual(['amount', 'id', 'stage']);
    });

    it('refuses a reason-less request (400) and an unknown column (422) with the error shape', async () => {
      const { reason: _omit, ...noReason } = LOW_RISK;
      expectError(await agent.call('POST', '/v1/access-requests', noReason), 400, 'VALIDATION_FAILED');
      expectError(await ask(agent, { columns: ['id', 'shoe_size'] }), 422, 'UNKNOWN_COLUMN');
    });
  });

  describe('the grant token', () => {
    it('acting for a user: header and exactly the contract claims, with their values', async () => {
      const body = await askFor(agent, 'approved', { onBehalfOf: 'alice@example.com', columns: ['name', 'id'] });
      const before = nowSeconds();
      const { payload, protectedHeader } = await verifyGrantToken(broker, body.grant.token);

      expect(protectedHeader.alg).toBe('EdDSA');
      expect(protectedHeader.typ).toBe('at+jwt');
      expect(typeof protectedHeader.kid).toBe('string');
      expect(protectedHeader.kid!.length).toBeGreaterThan(0);
      const jwks = await call(`${broker.url}/.well-known/jwks.json`, 'GET');
      expect(jwks.body.keys.map((k: { kid: string }) => k.kid)).toContain(protectedHeader.kid);

      expect(Object.keys(payload).sort()).toEqual(CLAIMS_FOR_USER);
      expect(payload).toMatchObject({
        iss: broker.url,
        sub: 'alice',
        client_id: agent.id,
        act: { sub: agent.id },
        aud: 'crm-api',
        jti: body.grant.id,
        req: body.id,
        scope: 'crm.customers:read',
        purpose: LOW_RISK.reason,
      });
      expect(payload.act).toEqual({ sub: agent.id });
      expect(payload.authorization_details).toEqual([
        { type: 'gatehouse_data', identifier: 'crm.customers', actions: ['read'], columns: expect.any(Array) },
      ]);
      expect([...(payload.authorization_details as any[])[0].columns].sort()).toEqual(['id', 'name']);
      expect(Math.abs(payload.iat! - before)).toBeLessThanOrEqual(5);
      expect(payload.nbf).toBe(payload.iat);
      expect(payload.exp! - payload.iat!).toBe(15 * 60);
      expect(payload.exp).toBe(Math.floor(new Date(body.grant.expiresAt).getTime() / 1000));
    });

    it('acting for nobody: sub is the agent and there is no act claim', async () => {
      const body = await askFor(agent, 'approved');
      const { payload } = await verifyGrantToken(broker, body.grant.token);
      expect(Object.keys(payload).sort()).toEqual(CLAIMS_FOR_AGENT);
      expect(payload.sub).toBe(agent.id);
      expect(payload.client_id).toBe(agent.id);
      expect(payload.act).toBeUndefined();
    });

    it('does not verify for another audience or as another token type', async () => {
      const body = await askFor(agent, 'approved');
      await expect(verifyGrantToken(broker, body.grant.token, { audience: 'billing-api' })).rejects.toMatchObject({
        code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
        claim: 'aud',
      });
      await expect(verifyGrantToken(broker, body.grant.token, { typ: 'JWT' })).rejects.toBeInstanceOf(errors.JWTClaimValidationFailed);
      await expect(verifyGrantToken(broker, body.grant.token, { typ: 'JWT' })).rejects.toMatchObject({ claim: 'typ' });
      // A tampered payload must not verify either.
      const [h, p, s] = body.grant.token.split('.');
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
      const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: 'crm.customers:write' })).toString('base64url')}.${s}`;
      await expect(verifyGrantToken(broker, forged)).rejects.toBeInstanceOf(errors.JWSSignatureVerificationFailed);
      expect(decodeProtectedHeader(forged).alg).toBe('EdDSA');
    });

    it('publishes RFC 8414 metadata that points at the keys and introspection', async () => {
      const res = await call(`${broker.url}/.well-known/oauth-authorization-server`, 'GET');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        issuer: broker.url,
        jwks_uri: `${broker.url}/.well-known/jwks.json`,
        introspection_endpoint: `${broker.url}/v1/introspect`,
      });
      expect(res.body.authorization_details_types_supported).toContain('gatehouse_data');
      const jwks = await call(res.body.jwks_uri, 'GET');
      expect(jwks.status).toBe(200);
      expect(jwks.body.keys.length).toBeGreaterThan(0);
      for (const key of jwks.body.keys) {
        expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: expect.any(String) });
        expect(key.d).toBeUndefined();
      }
    });
  });

  describe('P-256 agents', () => {
    it('authenticates an ES256 agent; its grants are still EdDSA tokens for it', async () => {
      const es = await registerAgent(broker, { alg: 'ES256' });
      await delegate(broker, es, 'alice');
      const approved = await ask(es, { onBehalfOf: 'alice' });
      expect(approved.status).toBe(201);
      expect(approved.body.status).toBe('approved');
      const { payload, protectedHeader } = await verifyGrantToken(broker, approved.body.grant.token);
      expect(protectedHeader.alg).toBe('EdDSA');
      expect(payload).toMatchObject({ sub: 'alice', client_id: es.id, act: { sub: es.id } });

      const pending = await ask(es, PII);
      expect(pending.status).toBe(201);
      expect(pending.body.status).toBe('pending');
      const read = await es.call('GET', `/v1/access-requests/${pending.body.id}`);
      expect(read.status).toBe(200);
      expect(read.body.id).toBe(pending.body.id);
    });
  });
});
