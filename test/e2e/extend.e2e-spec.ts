import { Broker, call, eventually, registerAgent, Reply, startBroker, TestAgent } from '../support/broker';
import { askFor, delegate, expectError, introspect, users, verifyGrantToken } from '../support/flows';
import { FakeSlack } from '../support/fake-slack';
import { CHANNEL, click, people, Person, settledRequest, startSlackBroker, visibleText } from '../support/slack';

// POST /v1/grants/{id}/extend against the real Postgres and Redis: a linked request decided by the
// policy, the chain's total against maxDuration, the old grant superseded in the same commit and
// refused at introspection and forward-auth at once, and only ever one grant per extension.

jest.setTimeout(30_000);

const POLICY = 'test/fixtures/extend-policy.yaml';
const NAMES = { resource: 'crm.customers', actions: ['read'], columns: ['id', 'name'], duration: '10m', reason: 'Draft a reply to ticket 4521' };
const PII = { resource: 'crm.customers', actions: ['read'], columns: ['email'], duration: '10m', reason: 'Call the customer back' };
const ISSUES = {
  resource: 'github.issues',
  actions: ['read'],
  columns: undefined,
  operations: ['read-issues'],
  duration: '10m',
  reason: 'Triage issue 12',
};

const extend = (
  agent: TestAgent,
  grantId: string,
  body: unknown = { duration: '10m', reason: 'The ticket needs another look' },
  headers?: Record<string, string>,
) => agent.call('POST', `/v1/grants/${grantId}/extend`, body, headers);
const secondsUntil = (iso: string) => (new Date(iso).getTime() - Date.now()) / 1000;

describe('extending a grant', () => {
  let broker: Broker;
  let agent: TestAgent;

  const grantRow = (id: string) => broker.prisma.grant.findUnique({ where: { id } });
  const events = (grantId: string, type: string) => broker.prisma.auditEvent.findMany({ where: { grantId, type } });
  /** The chain looks older than it is: its first grant started `minutes` ago (time that would have passed). */
  const backdate = (grantId: string, minutes: number) =>
    broker.prisma.$executeRaw`UPDATE grants SET issued_at = issued_at - make_interval(mins => ${minutes}) WHERE id = ${grantId}::uuid`;
  const forward = (token: string, uri: string) =>
    call(`${broker.url}/v1/authz/forward`, 'GET', {
      token,
      headers: { 'x-forwarded-method': 'GET', 'x-forwarded-host': 'github.egress.test', 'x-forwarded-uri': uri },
    });

  beforeAll(async () => {
    broker = await startBroker({ GATEHOUSE_POLICY_FILE: POLICY });
    agent = await registerAgent(broker);
  });
  afterAll(() => broker.close());

  it('approved at once: a new grant and token, the old grant superseded in the same commit and inactive at introspection', async () => {
    const first = await askFor(agent, 'approved', NAMES);
    const res = await extend(agent, first.grant.id);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      status: 'approved',
      extends: first.grant.id,
      resource: 'crm.customers',
      actions: ['read'],
      columns: ['id', 'name'],
      duration: '10m',
      reason: 'The ticket needs another look',
      decision: { outcome: 'approve', rules: ['low-risk-reads'] },
      grant: { status: 'active', resource: 'crm.customers', columns: ['id', 'name'] },
    });
    expect(res.body.decision.message).toMatch(/^Approved by rule low-risk-reads\. Extension: \d+s used \+ 10m of 20m allowed in all\.$/);
    expect(res.body.grant.id).not.toBe(first.grant.id);
    const { payload } = await verifyGrantToken(broker, res.body.grant.token);
    expect(payload).toMatchObject({ jti: res.body.grant.id, req: res.body.id, client_id: agent.id });

    const old = await grantRow(first.grant.id);
    expect(old).toMatchObject({ status: 'superseded', endedBy: 'policy', endReason: `extended by grant ${res.body.grant.id}` });
    const [superseded] = await events(first.grant.id, 'grant.superseded');
    const [issued] = await events(res.body.grant.id, 'grant.issued');
    // one transaction: the new grant's audit event and the old grant's end share the transaction id
    expect(superseded.xid).toBe(issued.xid);
    expect(superseded).toMatchObject({ actor: 'policy', requestId: first.id, data: { by: { grantId: res.body.grant.id, requestId: res.body.id } } });
    expect((await introspect(broker, first.grant.token)).body).toEqual({ active: false });
    expect((await introspect(broker, res.body.grant.token)).body).toMatchObject({ active: true, jti: res.body.grant.id });

    // the agent and the admin see the old grant as superseded; the old request's view says so too
    expect((await agent.call('GET', `/v1/access-requests/${first.id}`)).body.grant).toMatchObject({ id: first.grant.id, status: 'superseded' });
    expect((await agent.call('GET', `/v1/access-requests/${first.id}`)).body.grant.token).toBeUndefined();
    const superseding = await broker.admin('GET', `/v1/admin/grants?status=superseded&agentId=${agent.id}`);
    expect(superseding.body.items.map((g: { id: string }) => g.id)).toEqual([first.grant.id]);
  });

  it('shows extends and the chain to admins, across several extensions', async () => {
    const first = await askFor(agent, 'approved', NAMES);
    const second = (await extend(agent, first.grant.id, { duration: '5m', reason: 'More replies' })).body;
    const third = (await extend(agent, second.grant.id, { duration: '5m', reason: 'Last reply' })).body;
    expect(third).toMatchObject({ status: 'approved', extends: second.grant.id });
    const detail = await broker.admin('GET', `/v1/admin/access-requests/${second.id}`);
    expect(detail.status).toBe(200);
    expect(detail.body.extends).toBe(first.grant.id);
    expect(detail.body.chain).toEqual([
      { requestId: first.id, status: 'approved', grant: expect.objectContaining({ id: first.grant.id, status: 'superseded' }) },
      {
        requestId: second.id,
        status: 'approved',
        extends: first.grant.id,
        grant: expect.objectContaining({ id: second.grant.id, status: 'superseded' }),
      },
      { requestId: third.id, status: 'approved', extends: second.grant.id, grant: expect.objectContaining({ id: third.grant.id, status: 'active' }) },
    ]);
    expect(detail.body.explanation.extension).toEqual({ usedSeconds: expect.any(Number), limitSeconds: 1200 });
    const created = detail.body.events.find((e: { type: string }) => e.type === 'request.created');
    expect(created.data.extends).toBe(first.grant.id);
    // the chain's first grant started the clock: the third request counts from it
    const row = await broker.prisma.accessRequest.findUnique({ where: { id: third.id } });
    expect(row!.chainStartedAt!.toISOString()).toBe((await grantRow(first.grant.id))!.issuedAt.toISOString());
  });

  it('refuses the old token at forward-auth at once, and lets the new one through', async () => {
    const first = await askFor(agent, 'approved', ISSUES);
    expect((await forward(first.grant.token, '/repos/a/b/issues')).status).toBe(200);
    const res = await extend(agent, first.grant.id);
    expect(res.body).toMatchObject({ status: 'approved', operations: ['read-issues'] });
    const refused = await forward(first.grant.token, '/repos/a/b/issues');
    expect(refused.status).toBe(401);
    expect(refused.body.error.message).toMatch(/replaced by an extension/);
    expect((await forward(res.body.grant.token, '/repos/a/b/issues')).status).toBe(200);
  });

  it("clamps an extension to what the chain's maxDuration leaves, and says so", async () => {
    const first = await askFor(agent, 'approved', NAMES);
    await backdate(first.grant.id, 15);
    const res = await extend(agent, first.grant.id, { duration: '15m', reason: 'Still drafting' });
    expect(res.body).toMatchObject({ status: 'approved', decision: { outcome: 'approve' } });
    expect(res.body.decision.message).toMatch(/Extension shortened to (5m|4m5\ds): the grant has run 15m(\ds)?, and maxDuration allows 20m in all\./);
    expect(secondsUntil(res.body.grant.expiresAt)).toBeGreaterThan(4 * 60 + 45);
    expect(secondsUntil(res.body.grant.expiresAt)).toBeLessThanOrEqual(5 * 60);
  });

  it('dry-runs an extension like it decides one (extends: {used})', async () => {
    const dry = await broker.admin('POST', '/v1/admin/policy/evaluate', { ...NAMES, duration: '15m', agentId: agent.id, extends: { used: '15m' } });
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ status: 'approved', duration: '5m', decision: { extension: { usedSeconds: 900, limitSeconds: 1200 } } });
    expect(dry.body.decision.message).toContain('Extension shortened to 5m: the grant has run 15m, and maxDuration allows 20m in all.');
    const over = await broker.admin('POST', '/v1/admin/policy/evaluate', { ...NAMES, agentId: agent.id, extends: { used: '20m' } });
    expect(over.body).toMatchObject({ status: 'denied', decision: { outcome: 'deny', rules: ['low-risk-reads'] } });
    expectError(
      await broker.admin('POST', '/v1/admin/policy/evaluate', { ...NAMES, agentId: agent.id, extends: { used: 'a while' } }),
      400,
      'VALIDATION_FAILED',
    );
  });

  it('denies an extension once the chain used its maxDuration, and the old grant stays', async () => {
    const first = await askFor(agent, 'approved', NAMES);
    await backdate(first.grant.id, 20);
    const res = await extend(agent, first.grant.id);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'denied', extends: first.grant.id, decision: { outcome: 'deny', rules: ['low-risk-reads'] } });
    expect(res.body.decision.message).toMatch(
      /^This grant has run 20m\d*s? across its extensions, and its maxDuration allows 20m in all; ask for a new request instead\.$/,
    );
    expect(res.body.grant).toBeUndefined();
    expect(await grantRow(first.grant.id)).toMatchObject({ status: 'active' });
    expect((await introspect(broker, first.grant.token)).body.active).toBe(true);
  });

  it('lets a rule written for extensions allow more than the defaults', async () => {
    const first = await askFor(agent, 'approved', {
      resource: 'status.api',
      actions: ['read'],
      columns: undefined,
      operations: ['read-status'],
      duration: '10m',
      reason: 'Watch a deploy',
    });
    await backdate(first.grant.id, 90);
    const res = await extend(agent, first.grant.id, { duration: '30m', reason: 'The deploy is slow' });
    expect(res.body).toMatchObject({ status: 'approved', duration: '30m', decision: { rules: ['long-status-extensions', 'low-risk-reads'] } });
    // low-risk-reads alone would cap the chain at 20m; the extension rule's 3h replaces it
    expect(secondsUntil(res.body.grant.expiresAt)).toBeGreaterThan(29 * 60);
  });

  it('applies the extension condition: a rule for extensions denies what a new request would get', async () => {
    const writes = { resource: 'crm.customers', actions: ['write'], columns: ['name'], duration: '10m', reason: 'Fix a name' };
    const first = (await broker.admin('POST', `/v1/admin/access-requests/${(await askFor(agent, 'pending', writes)).id}/approve`, {})).body;
    expect(first.status).toBe('approved');
    const res = await extend(agent, first.grant.id);
    expect(res.body).toMatchObject({
      status: 'denied',
      decision: { rules: ['no-extended-writes'], message: 'Writes are never extended; ask for a new request.' },
    });
  });

  it('asks people when the policy says so; an approval through REST supersedes the old grant then', async () => {
    const first = (await broker.admin('POST', `/v1/admin/access-requests/${(await askFor(agent, 'pending', PII)).id}/approve`, {})).body;
    const res = await extend(agent, first.grant.id);
    expect(res.body).toMatchObject({
      status: 'pending',
      extends: first.grant.id,
      decision: { outcome: 'require_approval', rules: ['pii-needs-owner'] },
    });
    expect((await introspect(broker, first.grant.token)).body.active).toBe(true);
    // one extension at a time
    expectError(await extend(agent, first.grant.id), 409, 'EXTENSION_PENDING');
    const approved = await broker.admin('POST', `/v1/admin/access-requests/${res.body.id}/approve`, { comment: 'ok' });
    expect(approved.status).toBe(200);
    const view = (await agent.call('GET', `/v1/access-requests/${res.body.id}`)).body;
    expect(view).toMatchObject({ status: 'approved', grant: { status: 'active' } });
    expect(await grantRow(first.grant.id)).toMatchObject({ status: 'superseded', endedBy: 'admin:ops' });
    expect((await introspect(broker, first.grant.token)).body).toEqual({ active: false });
    expect((await introspect(broker, view.grant.token)).body.active).toBe(true);
  });

  it('refuses to approve an extension whose grant was revoked meanwhile; one whose grant expired still gets its own', async () => {
    const revoked = (await broker.admin('POST', `/v1/admin/access-requests/${(await askFor(agent, 'pending', PII)).id}/approve`, {})).body;
    const waiting = (await extend(agent, revoked.grant.id)).body;
    expect((await broker.admin('POST', `/v1/admin/grants/${revoked.grant.id}/revoke`, { reason: 'incident' })).status).toBe(200);
    expectError(await broker.admin('POST', `/v1/admin/access-requests/${waiting.id}/approve`, {}), 409, 'GRANT_NOT_ACTIVE');
    expect(await broker.prisma.grant.count({ where: { requestId: waiting.id } })).toBe(0);

    const expiring = (await broker.admin('POST', `/v1/admin/access-requests/${(await askFor(agent, 'pending', PII)).id}/approve`, {})).body;
    const later = (await extend(agent, expiring.grant.id)).body;
    await broker.prisma.$executeRaw`UPDATE grants SET expires_at = now() - interval '1 second' WHERE id = ${expiring.grant.id}::uuid`;
    const approved = await broker.admin('POST', `/v1/admin/access-requests/${later.id}/approve`, {});
    expect(approved.body).toMatchObject({ status: 'approved', grant: { status: 'active' } });
    expect((await grantRow(expiring.grant.id))!.status).not.toBe('superseded');
    expect(await events(expiring.grant.id, 'grant.superseded')).toHaveLength(0);
  });

  it("answers 404 for another agent's grant or an unknown one, 409 for an ended grant, 400 for a bad body", async () => {
    const other = await registerAgent(broker);
    const theirs = await askFor(other, 'approved', NAMES);
    expectError(await extend(agent, theirs.grant.id), 404, 'GRANT_NOT_FOUND');
    expectError(await extend(agent, '00000000-0000-4000-8000-000000000000'), 404, 'GRANT_NOT_FOUND');
    expectError(await extend(agent, 'not-a-grant'), 404, 'GRANT_NOT_FOUND');

    const mine = await askFor(agent, 'approved', NAMES);
    expectError(await extend(agent, mine.grant.id, { duration: '10m' }), 400, 'VALIDATION_FAILED');
    expectError(await extend(agent, mine.grant.id, { duration: '10m', reason: 'x', columns: ['ssn'] }), 400, 'VALIDATION_FAILED');
    expectError(await extend(agent, mine.grant.id, { duration: 'soon', reason: 'x' }), 422, 'INVALID_DURATION');
    expect((await agent.call('POST', `/v1/grants/${mine.grant.id}/release`)).status).toBe(200);
    const ended = await extend(agent, mine.grant.id);
    expectError(ended, 409, 'GRANT_NOT_ACTIVE');
    expect(ended.body.error.message).toMatch(/The grant is released; only a live grant can be extended/);
    const superseded = await askFor(agent, 'approved', NAMES);
    await extend(agent, superseded.grant.id);
    expectError(await extend(agent, superseded.grant.id), 409, 'GRANT_NOT_ACTIVE');
  });

  it('makes one grant of concurrent extensions of one grant', async () => {
    const first = await askFor(agent, 'approved', NAMES);
    const replies: Reply[] = await Promise.all(
      Array.from({ length: 4 }, (_, i) => extend(agent, first.grant.id, { duration: '5m', reason: `try ${i}` })),
    );
    const won = replies.filter((r) => r.status === 201);
    expect(won).toHaveLength(1);
    for (const lost of replies.filter((r) => r.status !== 201)) expectError(lost, 409, 'GRANT_NOT_ACTIVE');
    const extensions = await broker.prisma.accessRequest.findMany({ where: { extendsGrantId: first.grant.id }, include: { grant: true } });
    expect(extensions).toHaveLength(1);
    expect(extensions[0].grant).not.toBeNull();
    expect(await events(first.grant.id, 'grant.superseded')).toHaveLength(1);
  });

  it('makes one grant of concurrent approvals of one extension, and supersedes once', async () => {
    const first = (await broker.admin('POST', `/v1/admin/access-requests/${(await askFor(agent, 'pending', PII)).id}/approve`, {})).body;
    const waiting = (await extend(agent, first.grant.id)).body;
    const replies = await Promise.all(Array.from({ length: 4 }, () => broker.admin('POST', `/v1/admin/access-requests/${waiting.id}/approve`, {})));
    for (const r of replies) expect(r.status).toBe(200);
    expect(await broker.prisma.grant.count({ where: { requestId: waiting.id } })).toBe(1);
    expect(await events(first.grant.id, 'grant.superseded')).toHaveLength(1);
  });

  it('replays a retry with the same Idempotency-Key instead of extending twice', async () => {
    const first = await askFor(agent, 'approved', NAMES);
    const body = { duration: '5m', reason: 'retry me' };
    const a = await extend(agent, first.grant.id, body, { 'idempotency-key': `ext-${first.grant.id}` });
    const b = await extend(agent, first.grant.id, body, { 'idempotency-key': `ext-${first.grant.id}` });
    expect(a.status).toBe(201);
    expect(b.body.id).toBe(a.body.id);
    expect(b.body.grant.id).toBe(a.body.grant.id);
    expectError(
      await extend(agent, first.grant.id, { ...body, reason: 'other' }, { 'idempotency-key': `ext-${first.grant.id}` }),
      409,
      'IDEMPOTENCY_KEY_REUSED',
    );

    const second = await askFor(agent, 'approved', NAMES);
    const key = { 'idempotency-key': `ext-${second.grant.id}` };
    const racing = await Promise.all(Array.from({ length: 4 }, () => extend(agent, second.grant.id, body, key)));
    expect(racing.map((r) => r.status)).toEqual([201, 201, 201, 201]);
    expect(new Set(racing.map((r) => r.body.id)).size).toBe(1);
    expect(await broker.prisma.accessRequest.count({ where: { extendsGrantId: second.grant.id } })).toBe(1);
  });

  it('keeps the user acted for, proven by the same delegation', async () => {
    const { alice } = await users(broker, { alice: ['support'] });
    await delegate(broker, agent, alice);
    const first = await askFor(agent, 'approved', { ...NAMES, onBehalfOf: alice });
    const res = await extend(agent, first.grant.id);
    expect(res.body).toMatchObject({ status: 'approved', onBehalfOf: alice });
    const { payload } = await verifyGrantToken(broker, res.body.grant.token);
    expect(payload).toMatchObject({ sub: alice, act: { sub: agent.id } });

    // the delegation ended (its end written straight to Postgres, the grant left live): refused as a submit would be
    await broker.prisma
      .$executeRaw`UPDATE delegations SET expires_at = now() - interval '1 second' WHERE agent_id = ${agent.id}::uuid AND user_id = ${alice}`;
    const refused = await extend(agent, res.body.grant.id);
    expectError(refused, 403, 'DELEGATION_REQUIRED');
    expect(await broker.prisma.accessRequest.count({ where: { extendsGrantId: res.body.grant.id } })).toBe(0);
  });
});

describe('extending a grant: approval in Slack', () => {
  let broker: Broker;
  let fake: FakeSlack;
  let agent: TestAgent;
  let p: Record<string, Person>;

  beforeAll(async () => {
    ({ broker, fake } = await startSlackBroker({ GATEHOUSE_POLICY_FILE: POLICY }));
    agent = await registerAgent(broker);
    p = await people(broker, { olivia: ['crm-owners'] });
  });
  afterAll(() => broker.close());

  it('shows the extension with the earlier request, the time used and the new total; a click supersedes the old grant', async () => {
    const asked = await askFor(agent, 'pending', PII);
    expect((await click(broker, p.olivia.slack, 'approve', asked.id)).status).toBe(200);
    await settledRequest(broker, asked.id, 'approved');
    const first = (await agent.call('GET', `/v1/access-requests/${asked.id}`)).body;
    await broker.prisma.$executeRaw`UPDATE grants SET issued_at = issued_at - interval '12 minutes' WHERE id = ${first.grant.id}::uuid`;

    const res = await extend(agent, first.grant.id, { duration: '15m', reason: 'The *customer* <!here> calls back' });
    expect(res.body).toMatchObject({ status: 'pending', extends: first.grant.id });
    const post = await eventually(async () => fake.of('chat.postMessage', res.body.id).find((c) => !c.body.thread_ts && c.body.channel === CHANNEL));
    const text = visibleText(post.body);
    expect(text).toContain(`*Extension* of request \`${asked.id}\``);
    expect(text).toMatch(/its grant has run 12m\d*s? so far; with this request, 27m\d*s? in all of 30m allowed in all/);
    expect(text).not.toContain('<!here>');

    expect((await click(broker, p.olivia.slack, 'approve', res.body.id)).status).toBe(200);
    await settledRequest(broker, res.body.id, 'approved');
    const view = (await agent.call('GET', `/v1/access-requests/${res.body.id}`)).body;
    expect(view.grant.status).toBe('active');
    // the chain's 30m total: 12m used, so at most 18m of the 15m asked... 15m fits
    expect(secondsUntil(view.grant.expiresAt)).toBeGreaterThan(14 * 60);
    expect((await introspect(broker, first.grant.token)).body).toEqual({ active: false });
    expect(await broker.prisma.grant.findUnique({ where: { id: first.grant.id } })).toMatchObject({
      status: 'superseded',
      endedBy: `user:${p.olivia.id}`,
    });
    // the first request's thread says its grant was replaced
    await eventually(async () =>
      fake.of('chat.postMessage').find((c) => typeof c.body.text === 'string' && c.body.text.includes('an approved extension replaced it')),
    );
  });
});
