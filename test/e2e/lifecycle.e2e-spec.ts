import { randomUUID } from 'node:crypto';
import { JOBS, QUEUES, QueueService, Reconcile } from '@gatehouse/core';
import { Broker, call, registerAgent, startBroker, TestAgent } from '../support/broker';
import { ask, askFor, delegate, expectError, introspect, LOW_RISK, PII, sleep, users, verifyGrantToken } from '../support/flows';

describe('lifecycle: grants, decisions by people, long-polls, idempotency, admin views', () => {
  let broker: Broker;
  let agent: TestAgent;
  let people: Record<string, string>;

  const approve = (id: string, body: Record<string, unknown> = {}) => broker.admin('POST', `/v1/admin/access-requests/${id}/approve`, body);
  const deny = (id: string, body: Record<string, unknown> = {}) => broker.admin('POST', `/v1/admin/access-requests/${id}/deny`, body);
  const revoke = (grantId: string) => broker.admin('POST', `/v1/admin/grants/${grantId}/revoke`, { reason: 'incident 77' });
  const release = (who: TestAgent, grantId: string) => who.call('POST', `/v1/grants/${grantId}/release`);
  const auditCount = (where: Record<string, unknown>) => broker.prisma.auditEvent.count({ where });

  beforeAll(async () => {
    broker = await startBroker();
    agent = await registerAgent(broker);
    people = await users(broker, { alice: ['crm-owners'], bob: ['support'], carol: ['crm-owners'], lead1: ['sales-leads'], lead2: ['sales-leads'] });
    await delegate(broker, agent, people.alice);
  });
  afterAll(() => broker.close());

  describe('introspection and the end of a grant', () => {
    it('is active with the claims, as JSON and as a form, until the agent releases the grant', async () => {
      const { grant, id } = await askFor(agent, 'approved');
      for (const as of ['json', 'form'] as const) {
        const res = await introspect(broker, grant.token, as);
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({
          active: true,
          jti: grant.id,
          req: id,
          client_id: agent.id,
          sub: agent.id,
          aud: 'crm-api',
          iss: broker.url,
          scope: 'crm.customers:read',
        });
        expect(res.body.exp).toBe(Math.floor(new Date(grant.expiresAt).getTime() / 1000));
      }
      const released = await release(agent, grant.id);
      expect(released.status).toBe(200);
      expect(released.body).toMatchObject({ id: grant.id, status: 'released' });
      expect(released.body.token).toBeUndefined();
      for (const as of ['json', 'form'] as const) expect((await introspect(broker, grant.token, as)).body).toEqual({ active: false });
      expect((await broker.prisma.grant.findUnique({ where: { id: grant.id } }))!.status).toBe('released');
      expect(await auditCount({ grantId: grant.id, type: 'grant.released' })).toBe(1);

      const again = await release(agent, grant.id);
      expect(again.status).toBe(200);
      expect(again.body.status).toBe('released');
      expect(await auditCount({ grantId: grant.id, type: 'grant.released' })).toBe(1);
    });

    it('goes inactive after an admin revokes; releasing then is a conflict', async () => {
      const { grant } = await askFor(agent, 'approved');
      expect((await introspect(broker, grant.token)).body.active).toBe(true);
      const revoked = await revoke(grant.id);
      expect(revoked.status).toBe(200);
      expect(revoked.body).toMatchObject({ id: grant.id, status: 'revoked' });
      expect((await introspect(broker, grant.token, 'form')).body).toEqual({ active: false });
      expect(await broker.prisma.grant.findUnique({ where: { id: grant.id } })).toMatchObject({
        status: 'revoked',
        endedBy: 'admin:ops',
        endReason: 'incident 77',
      });
      expectError(await release(agent, grant.id), 409, 'GRANT_NOT_ACTIVE');
    });

    it('refuses to let another agent release a grant (404), and leaves it active', async () => {
      const { grant } = await askFor(agent, 'approved');
      const other = await registerAgent(broker);
      expectError(await release(other, grant.id), 404, 'GRANT_NOT_FOUND');
      expect((await introspect(broker, grant.token)).body.active).toBe(true);
    });

    it('expires a short grant: inactive right after expiresAt, then the job marks the row, audited once', async () => {
      const { grant, id } = await askFor(agent, 'approved', { duration: '3s' });
      expect((await introspect(broker, grant.token)).body.active).toBe(true);
      await sleep(Math.max(0, new Date(grant.expiresAt).getTime() - Date.now()) + 50);
      expect((await introspect(broker, grant.token)).body).toEqual({ active: false });

      const deadline = Date.now() + 10_000;
      while ((await broker.prisma.grant.findUnique({ where: { id: grant.id } }))!.status !== 'expired') {
        if (Date.now() > deadline) throw new Error('the expiry job did not mark the grant expired within 10 s');
        await sleep(100);
      }
      await sleep(500); // a duplicate job or the reconciler must not add a second event
      expect(await auditCount({ grantId: grant.id, type: 'grant.expired' })).toBe(1);
      const read = await agent.call('GET', `/v1/access-requests/${id}`);
      expect(read.body.grant).toMatchObject({ id: grant.id, status: 'expired' });
      expect(read.body.grant.token).toBeUndefined();
    });

    it('treats a grant past expiresAt as expired even when its expiry job was lost', async () => {
      const { grant, id } = await askFor(agent, 'approved', { duration: '2s' });
      await broker.app.get(QueueService).queues[QUEUES.lifecycle].remove(JOBS.expireGrant.id({ grantId: grant.id }));
      await sleep(Math.max(0, new Date(grant.expiresAt).getTime() - Date.now()) + 50);
      expect((await introspect(broker, grant.token)).body).toEqual({ active: false });
      const read = await agent.call('GET', `/v1/access-requests/${id}`);
      expect(read.body.grant.status).toBe('expired');
      expect(read.body.grant.token).toBeUndefined();
      const listed = await broker.admin('GET', `/v1/admin/grants?agentId=${agent.id}&status=active`);
      expect(listed.body.items.map((g: { id: string }) => g.id)).not.toContain(grant.id);
      const expired = await broker.admin('GET', `/v1/admin/grants?agentId=${agent.id}&status=expired`);
      expect(expired.body.items).toEqual(expect.arrayContaining([expect.objectContaining({ id: grant.id, status: 'expired' })]));
      expectError(await release(agent, grant.id), 409, 'GRANT_NOT_ACTIVE');
      // The reconciler repairs the row (once, however often it runs).
      await broker.app.get(Reconcile).execute(new Date());
      await broker.app.get(Reconcile).execute(new Date());
      expect((await broker.prisma.grant.findUnique({ where: { id: grant.id } }))!.status).toBe('expired');
      expect(await auditCount({ grantId: grant.id, type: 'grant.expired' })).toBe(1);
    });

    it('needs a credential (401) and answers a garbage token with {active:false}', async () => {
      const { grant } = await askFor(agent, 'approved');
      expectError(await introspect(broker, grant.token, 'json', null), 401, 'INVALID_ADMIN_TOKEN');
      expectError(await introspect(broker, grant.token, 'json', 'not-a-real-credential-000'), 401, 'INVALID_ADMIN_TOKEN');
      const garbage = await introspect(broker, 'garbage.not.ajwt');
      expect(garbage.status).toBe(200);
      expect(garbage.body).toEqual({ active: false });
    });
  });

  describe('long-poll and cancel', () => {
    it('wait=10 returns as soon as an admin approves, with the token', async () => {
      const { id } = await askFor(agent, 'pending', PII);
      const started = Date.now();
      const approval = sleep(300).then(() => approve(id));
      const res = await agent.call('GET', `/v1/access-requests/${id}?wait=10`);
      const elapsed = Date.now() - started;
      expect((await approval).status).toBe(200);
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('approved');
      expect(typeof res.body.grant.token).toBe('string');
      await verifyGrantToken(broker, res.body.grant.token);
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(3000);
    });

    it('wait=1 on a pending request answers pending after about a second; wait=61 is refused', async () => {
      const { id } = await askFor(agent, 'pending', PII);
      const started = Date.now();
      const res = await agent.call('GET', `/v1/access-requests/${id}?wait=1`);
      const elapsed = Date.now() - started;
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('pending');
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(elapsed).toBeLessThan(3000);
      expectError(await agent.call('GET', `/v1/access-requests/${id}?wait=61`), 400, 'VALIDATION_FAILED');
    });

    it('cancels a pending request, twice is fine, approving it then is a conflict', async () => {
      const { id } = await askFor(agent, 'pending', PII);
      for (let i = 0; i < 2; i++) {
        const res = await agent.call('POST', `/v1/access-requests/${id}/cancel`);
        expect(res.status).toBe(200);
        expect(res.body.status).toBe('cancelled');
      }
      expectError(await approve(id), 409, 'REQUEST_NOT_PENDING');
      expect(await broker.prisma.grant.count({ where: { requestId: id } })).toBe(0);
      expect(await auditCount({ requestId: id, type: 'request.cancelled' })).toBe(1);
    });
  });

  describe('decisions by admins and people', () => {
    it('approves with narrower columns and a shorter duration', async () => {
      const { id } = await askFor(agent, 'pending', PII);
      const res = await approve(id, { columns: ['email'], duration: '5m', comment: 'email is enough' });
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('approved');
      expect(res.body.grant.columns).toEqual(['email']);
      const { payload } = await verifyGrantToken(broker, res.body.grant.token);
      expect((payload.authorization_details as any[])[0].columns).toEqual(['email']);
      expect(payload.exp! - payload.iat!).toBe(300);
      expect(Math.abs(payload.exp! - (Date.now() / 1000 + 300))).toBeLessThan(5);
    });

    it('refuses to broaden what was asked (422 NARROWING_ONLY), leaving the request pending', async () => {
      const { id } = await askFor(agent, 'pending', PII);
      expectError(await approve(id, { columns: ['email', 'name'] }), 422, 'NARROWING_ONLY');
      expectError(await approve(id, { duration: '20m' }), 422, 'NARROWING_ONLY');
      const read = await agent.call('GET', `/v1/access-requests/${id}`);
      expect(read.body.status).toBe('pending');
      expect(read.body.approval.received).toBe(0);
    });

    it('denies; approving a denied request is a conflict', async () => {
      const { id } = await askFor(agent, 'pending', PII);
      const res = await deny(id, { comment: 'not for this ticket' });
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('denied');
      expect(res.body.grant).toBeUndefined();
      expectError(await approve(id), 409, 'REQUEST_NOT_PENDING');
      expect((await agent.call('GET', `/v1/access-requests/${id}`)).body.status).toBe('denied');
    });

    it('lets only eligible people approve: not a member, not the user acted for; a member approves', async () => {
      const { id } = await askFor(agent, 'pending', { ...PII, onBehalfOf: people.alice });
      expectError(await approve(id, { asUser: people.bob }), 403, 'NOT_AN_APPROVER');
      expectError(await approve(id, { asUser: people.alice }), 403, 'SELF_APPROVAL');
      const refusal = await broker.prisma.auditEvent.findFirst({ where: { requestId: id, type: 'approval.refused', actor: `user:${people.alice}` } });
      expect(refusal).not.toBeNull();
      expect(refusal!.data).toMatchObject({ code: 'SELF_APPROVAL' });
      expect((await agent.call('GET', `/v1/access-requests/${id}`)).body.status).toBe('pending');

      const ok = await approve(id, { asUser: people.carol });
      expect(ok.status).toBe(200);
      expect(ok.body.status).toBe('approved');
      expect(ok.body.decidedBy).toBe(`user:${people.carol}`);
      const { payload } = await verifyGrantToken(broker, ok.body.grant.token);
      expect(payload.sub).toBe(people.alice);
    });

    it('needs two distinct people for deal writes: one person twice still counts once', async () => {
      const { id, approval } = await askFor(agent, 'pending', {
        resource: 'crm.deals',
        actions: ['write'],
        columns: ['stage'],
        duration: '10m',
        reason: 'Move deal 9 to won',
      });
      expect(approval).toMatchObject({ approvers: 'sales-leads', required: 2, received: 0 });
      for (let i = 0; i < 2; i++) {
        const res = await approve(id, { asUser: people.lead1 });
        expect(res.status).toBe(200);
        expect(res.body.status).toBe('pending');
        expect(res.body.approval).toMatchObject({ required: 2, received: 1 });
      }
      expect(await broker.prisma.grant.count({ where: { requestId: id } })).toBe(0);
      const done = await approve(id, { asUser: people.lead2 });
      expect(done.status).toBe(200);
      expect(done.body.status).toBe('approved');
      expect(done.body.grant.actions).toEqual(['write']);
      expect(await broker.prisma.grant.count({ where: { requestId: id } })).toBe(1);
    });

    it('issues exactly one grant when 20 admins approve at once', async () => {
      const { id } = await askFor(agent, 'pending', PII);
      const replies = await Promise.all(Array.from({ length: 20 }, () => approve(id)));
      expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200));
      expect(new Set(replies.map((r) => r.body.status))).toEqual(new Set(['approved']));
      expect(await broker.prisma.grant.count({ where: { requestId: id } })).toBe(1);
      expect(await auditCount({ requestId: id, type: 'grant.issued' })).toBe(1);
      expect(await auditCount({ requestId: id, type: 'request.approved' })).toBe(1);
    });
  });

  describe('idempotency', () => {
    it('answers a retry with the first answer, and refuses the key with another body', async () => {
      const key = `retry-${randomUUID()}`;
      const first = await ask(agent, {}, { 'Idempotency-Key': key });
      const second = await ask(agent, {}, { 'Idempotency-Key': key });
      expect([first.status, second.status]).toEqual([201, 201]);
      expect(second.body).toEqual(first.body);
      expect(second.body.grant.token).toBe(first.body.grant.token);
      // The same body with its fields in another order is the same request.
      const reordered = Object.fromEntries(Object.entries({ ...LOW_RISK }).reverse());
      const third = await agent.call('POST', '/v1/access-requests', reordered, { 'Idempotency-Key': key });
      expect(third.status).toBe(201);
      expect(third.body.id).toBe(first.body.id);
      expectError(await ask(agent, { duration: '10m' }, { 'Idempotency-Key': key }), 409, 'IDEMPOTENCY_KEY_REUSED');
      expect(await broker.prisma.accessRequest.count({ where: { agentId: agent.id, idempotencyKey: key } })).toBe(1);
    });

    it('stores one request when five retries race', async () => {
      const key = `race-${randomUUID()}`;
      const replies = await Promise.all(Array.from({ length: 5 }, () => ask(agent, PII, { 'Idempotency-Key': key })));
      expect(replies.map((r) => r.status)).toEqual(Array(5).fill(201));
      expect(new Set(replies.map((r) => r.body.id)).size).toBe(1);
      expect(await broker.prisma.accessRequest.count({ where: { agentId: agent.id, idempotencyKey: key } })).toBe(1);
    });
  });

  describe('admin views', () => {
    it('pages pending requests of one agent with nextCursor', async () => {
      const lister = await registerAgent(broker);
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await askFor(lister, 'pending', PII)).id);
      await askFor(lister, 'approved'); // not pending: must not be listed
      const path = `/v1/admin/access-requests?status=pending&agentId=${lister.id}&limit=2`;
      const first = await broker.admin('GET', path);
      expect(first.status).toBe(200);
      expect(first.body.items).toHaveLength(2);
      expect(typeof first.body.nextCursor).toBe('string');
      const second = await broker.admin('GET', `${path}&cursor=${encodeURIComponent(first.body.nextCursor)}`);
      expect(second.status).toBe(200);
      const seen = [...first.body.items, ...second.body.items];
      expect(seen.map((r: { id: string }) => r.id)).toEqual(ids);
      expect(seen.every((r: { status: string; agentId: string }) => r.status === 'pending' && r.agentId === lister.id)).toBe(true);
      if (second.body.nextCursor) {
        const third = await broker.admin('GET', `${path}&cursor=${encodeURIComponent(second.body.nextCursor)}`);
        expect(third.body.items).toEqual([]);
      }
    });

    it("shows a request's explanation and its audit events", async () => {
      const { id, decision } = await askFor(agent, 'pending', PII);
      await approve(id, { asUser: people.carol });
      const res = await broker.admin('GET', `/v1/admin/access-requests/${id}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id, status: 'approved' });
      expect(res.body.explanation).toMatchObject({
        rules: ['pii-needs-owner'],
        riskScore: decision.riskScore,
        policyVersion: decision.policyVersion,
      });
      const types = res.body.events.map((e: { type: string }) => e.type);
      expect(types).toEqual(expect.arrayContaining(['request.created', 'request.pending', 'request.approved', 'grant.issued']));
      expect(types[0]).toBe('request.created');
      expect(res.body.grant.token).toBeUndefined();
    });

    it('lists active grants of an agent with their fields, and no tokens', async () => {
      const lister = await registerAgent(broker);
      const kept = await askFor(lister, 'approved');
      const ended = await askFor(lister, 'approved');
      await revoke(ended.grant.id);
      const res = await broker.admin('GET', `/v1/admin/grants?agentId=${lister.id}&status=active`);
      expect(res.status).toBe(200);
      expect(res.body.items).toHaveLength(1);
      expect(res.body.items[0]).toMatchObject({
        id: kept.grant.id,
        requestId: kept.id,
        agentId: lister.id,
        status: 'active',
        resource: 'crm.customers',
        actions: ['read'],
        columns: ['id', 'name'],
        expiresAt: kept.grant.expiresAt,
      });
      expect(res.body.items[0].token).toBeUndefined();
      const bad = await call(`${broker.url}/v1/admin/grants?status=bogus`, 'GET', { token: 'x'.repeat(30) });
      expectError(bad, 401, 'INVALID_ADMIN_TOKEN');
    });
  });
});
