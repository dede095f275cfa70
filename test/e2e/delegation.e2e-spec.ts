import { decodeJwt } from 'jose';
import { Broker, eventually, putUser, registerAgent, startBroker, TestAgent } from '../support/broker';
import { ask, askFor, delegate, expectError, introspect, LOW_RISK, PII, users } from '../support/flows';
import { FakeSlack } from '../support/fake-slack';
import {
  answerConsent,
  buttons,
  click,
  people,
  Person,
  slackMessage,
  ephemeralsTo,
  settledRequest,
  startSlackBroker,
  visibleText,
} from '../support/slack';

// A user named in onBehalfOf is a claim to prove: a live delegation proves it, or the user is asked
// (a Slack DM), or the request is refused. Rules, approvers, tokens and the trail only see proven users.

const POLICY = 'test/fixtures/slack-policy.yaml';
const FORECAST = {
  resource: 'finance.forecast',
  actions: ['read'],
  columns: ['quarter', 'revenue'],
  duration: '10m',
  reason: 'Prepare the board deck',
};
const TICKET = { resource: 'support.tickets', actions: ['read'], columns: ['subject', 'body'], duration: '10m', reason: 'Summarise ticket 9' };

/** This agent's rows (the run's database is shared with the spec files running beside this one). */
async function rowCounts(broker: Broker, agentId: string) {
  const where = { where: { agentId } };
  const [requests, grants, delegations, events] = await Promise.all([
    broker.prisma.accessRequest.count(where),
    broker.prisma.grant.count(where),
    broker.prisma.delegation.count(where),
    broker.prisma.auditEvent.count(where),
  ]);
  return { requests, grants, delegations, events };
}

describe('delegation without Slack: only an admin delegation proves a user', () => {
  let broker: Broker;
  let agent: TestAgent;
  let u: Record<string, string>;

  beforeAll(async () => {
    broker = await startBroker({ GATEHOUSE_POLICY_FILE: POLICY });
    agent = await registerAgent(broker);
    u = await users(broker, { ceo: ['executives'], colleague: ['support'], owner: ['crm-owners'], alice: ['support'] });
  });
  afterAll(() => broker.close());

  it('refuses every way of acting for someone who did not delegate (403 DELEGATION_REQUIRED), writing nothing', async () => {
    const before = await rowCounts(broker, agent.id);
    // an executive, to satisfy onBehalfOf.groups and be approved at once
    expectError(await ask(agent, { ...FORECAST, onBehalfOf: u.ceo }), 403, 'DELEGATION_REQUIRED');
    // a colleague as "requester", so that this person alone may approve
    expectError(await ask(agent, { ...TICKET, onBehalfOf: u.colleague }), 403, 'DELEGATION_REQUIRED');
    // an approver, to stop them approving (self-approval)
    const refused = await ask(agent, { ...PII, onBehalfOf: `${u.owner}@example.com` });
    expectError(refused, 403, 'DELEGATION_REQUIRED');
    expect(refused.body.error.details).toEqual([{ path: 'onBehalfOf', message: expect.stringContaining('no live delegation') }]);
    expect(await rowCounts(broker, agent.id)).toEqual(before);
  });

  it('a delegation limited to resources proves the user there only; the token says who acts for whom', async () => {
    const made = await delegate(broker, agent, u.ceo, { resources: ['finance.*'] });
    expect(made).toMatchObject({
      agentId: agent.id,
      userId: u.ceo,
      resources: ['finance.*'],
      expiresAt: null,
      status: 'live',
      source: 'admin',
      createdBy: 'admin:ops',
    });
    const approved = await askFor(agent, 'approved', { ...FORECAST, onBehalfOf: u.ceo });
    expect(approved.decision.rules).toEqual(['forecast-for-executives']);
    expect(approved.onBehalfOf).toBe(u.ceo);
    const claims = decodeJwt(approved.grant.token);
    expect(claims).toMatchObject({ sub: u.ceo, act: { sub: agent.id }, client_id: agent.id });
    expectError(await ask(agent, { ...LOW_RISK, onBehalfOf: u.ceo }), 403, 'DELEGATION_REQUIRED');
    const created = await broker.prisma.auditEvent.findFirst({ where: { requestId: approved.id, type: 'request.created' } });
    expect(created!.data).toMatchObject({ onBehalfOf: u.ceo, delegation: { id: made.id, source: 'admin' } });
  });

  it('a grant never outlives the delegation behind it', async () => {
    const expiresAt = new Date(Date.now() + 60_000).toISOString();
    await delegate(broker, agent, u.alice, { expiresAt });
    const approved = await askFor(agent, 'approved', { ...LOW_RISK, onBehalfOf: u.alice, duration: '15m' });
    expect(Date.parse(approved.grant.expiresAt)).toBeLessThanOrEqual(Date.parse(expiresAt));
    expect(Date.parse(approved.grant.expiresAt)).toBeGreaterThan(Date.now() + 55_000);
  });

  it('lists live delegations, ends them on DELETE: grants acting for the user are revoked, pending requests they proved are denied', async () => {
    const [agent2] = [await registerAgent(broker)];
    await delegate(broker, agent2, u.colleague);
    const live = await askFor(agent2, 'approved', { ...LOW_RISK, onBehalfOf: u.colleague });
    const pending = await askFor(agent2, 'pending', { ...PII, onBehalfOf: u.colleague });
    const own = await askFor(agent2, 'approved', LOW_RISK); // acting for nobody: untouched

    const listed = await broker.admin('GET', `/v1/admin/agents/${agent2.id}/delegations`);
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([expect.objectContaining({ userId: u.colleague, status: 'live', resources: [] })]);

    const ended = await broker.admin('DELETE', `/v1/admin/agents/${agent2.id}/delegations/${u.colleague}`);
    expect(ended.status).toBe(200);
    expect(ended.body).toMatchObject({
      ended: [expect.objectContaining({ status: 'ended', endedBy: 'admin:ops' })],
      revokedGrants: [live.grant.id],
      deniedRequests: [pending.id],
    });
    expect((await introspect(broker, live.grant.token)).body).toEqual({ active: false });
    expect((await introspect(broker, own.grant.token)).body.active).toBe(true);
    expect((await agent2.call('GET', `/v1/access-requests/${pending.id}`)).body.status).toBe('denied');
    expectError(await ask(agent2, { ...LOW_RISK, onBehalfOf: u.colleague }), 403, 'DELEGATION_REQUIRED');

    expect((await broker.admin('GET', `/v1/admin/agents/${agent2.id}/delegations`)).body.items).toEqual([]);
    expect((await broker.admin('GET', `/v1/admin/agents/${agent2.id}/delegations?status=all`)).body.items).toHaveLength(1);
    const again = await broker.admin('DELETE', `/v1/admin/agents/${agent2.id}/delegations/${u.colleague}`);
    expect(again.body).toEqual({ ended: [], revokedGrants: [], deniedRequests: [] });
    const trail = await broker.prisma.auditEvent.findMany({
      where: { agentId: agent2.id, type: { startsWith: 'delegation.' } },
      orderBy: { id: 'asc' },
    });
    expect(trail.map((e) => [e.type, e.actor])).toEqual([
      ['delegation.created', 'admin:ops'],
      ['delegation.ended', 'admin:ops'],
    ]);
  });

  it('refuses to approve once the delegation that proved the user has expired', async () => {
    const agent3 = await registerAgent(broker);
    await delegate(broker, agent3, u.alice, { expiresAt: new Date(Date.now() + 2000).toISOString() });
    const pending = await askFor(agent3, 'pending', { ...PII, onBehalfOf: u.alice });
    await eventually(
      async () =>
        Date.now() > Date.parse((await broker.prisma.delegation.findFirst({ where: { agentId: agent3.id } }))!.expiresAt!.toISOString()) + 100,
    );
    expectError(await broker.admin('POST', `/v1/admin/access-requests/${pending.id}/approve`, { asUser: u.owner }), 403, 'DELEGATION_REQUIRED');
    expect(await broker.prisma.grant.count({ where: { requestId: pending.id } })).toBe(0);
  });

  it('validates delegations: unknown agent, unknown user, unknown resource, a past end, a bad body', async () => {
    const path = (agentId: string, userId: string) => `/v1/admin/agents/${agentId}/delegations/${userId}`;
    expectError(await broker.admin('PUT', path('00000000-0000-4000-8000-000000000000', u.alice), {}), 404, 'AGENT_NOT_FOUND');
    expectError(await broker.admin('PUT', path(agent.id, 'nobody-at-all'), {}), 404, 'USER_NOT_FOUND');
    expectError(await broker.admin('PUT', path(agent.id, u.alice), { resources: ['crm.custmers'] }), 422, 'UNKNOWN_RESOURCE');
    expectError(await broker.admin('PUT', path(agent.id, u.alice), { expiresAt: '2020-01-01T00:00:00Z' }), 400, 'VALIDATION_FAILED');
    expectError(await broker.admin('PUT', path(agent.id, u.alice), { resources: [] }), 400, 'VALIDATION_FAILED');
    expectError(await broker.admin('PUT', path(agent.id, u.alice), { until: 'tomorrow' }), 400, 'VALIDATION_FAILED');
  });

  it('the dry run answers what a submit would: the decision for a proven user, the same refusal for an unproven one', async () => {
    const dry = (onBehalfOf: string) => broker.admin('POST', '/v1/admin/policy/evaluate', { ...FORECAST, onBehalfOf, agentId: agent.id });
    expect((await dry(u.ceo)).body).toMatchObject({
      status: 'approved',
      decision: { outcome: 'approve', rules: ['forecast-for-executives'] },
      delegation: { status: 'live', source: 'admin' },
    });
    expectError(await dry(u.colleague), 403, 'DELEGATION_REQUIRED');
  });
});

describe('delegation by consent in Slack', () => {
  let broker: Broker;
  let fake: FakeSlack;
  let agent: TestAgent;
  let p: Record<string, Person>;

  const row = (id: string) => broker.prisma.accessRequest.findUnique({ where: { id } });
  const settled = (id: string, status: string) => settledRequest(broker, id, status);
  const dmTo = (person: Person, requestId: string) =>
    eventually(async () => fake.of('chat.postMessage', requestId).find((c) => c.body.channel === person.slack && !c.body.thread_ts));

  beforeAll(async () => {
    ({ broker, fake } = await startSlackBroker());
    agent = await registerAgent(broker, { name: `consent-agent-${Date.now()}` });
    p = await people(broker, { alice: ['support'], bob: ['support'], owner: ['crm-owners'], ceo: ['executives'] });
  });
  afterAll(async () => {
    await broker.close();
    await fake.stop();
  });

  it('asks the named user in a DM and waits: nobody else may answer, approvers may not decide yet', async () => {
    const req = await askFor(agent, 'pending', { ...FORECAST, onBehalfOf: p.ceo.id });
    expect(req.approval).toMatchObject({ kind: 'consent', approvers: p.ceo.id, required: 1, received: 0 });
    expect(req.decision).toMatchObject({ outcome: 'require_approval', rules: [] });
    const dm = await dmTo(p.ceo, req.id);
    expect(buttons(dm.body)).toEqual(['gatehouse_consent_once', 'gatehouse_consent_8h', 'gatehouse_consent_refuse']);
    const text = visibleText(dm.body);
    for (const fragment of [agent.name, 'finance.forecast', 'revenue', 'Prepare the board deck', 'Allow this request', 'Allow for 8 hours', 'Refuse'])
      expect(text).toContain(fragment);
    expect(fake.of('chat.postMessage', req.id).filter((c) => c.body.channel === 'C0APPROVALS')).toHaveLength(0);

    expectError(await broker.admin('POST', `/v1/admin/access-requests/${req.id}/approve`, {}), 409, 'CONSENT_PENDING');
    await answerConsent(broker, p.bob.slack, 'once', req.id);
    await eventually(async () => ephemeralsTo(fake, p.bob.slack).find((c) => c.body.text.includes(`Only ${p.ceo.id}`)));
    expect(await row(req.id)).toMatchObject({ status: 'pending', consent: 'pending' });
    const refusal = await broker.prisma.auditEvent.findFirst({ where: { requestId: req.id, type: 'approval.refused', actor: `user:${p.bob.id}` } });
    expect(refusal).not.toBeNull();

    // "Allow this request": then the policy decides, as for any request (executives: approved at once)
    const waiting = agent.call('GET', `/v1/access-requests/${req.id}?wait=10`);
    expect((await answerConsent(broker, p.ceo.slack, 'once', req.id)).status).toBe(200);
    const decided = await waiting;
    expect(decided.body).toMatchObject({ status: 'approved', decision: { rules: ['forecast-for-executives'] } });
    expect(decodeJwt(decided.body.grant.token)).toMatchObject({ sub: p.ceo.id, act: { sub: agent.id } });
    expect(await row(req.id)).toMatchObject({ consent: 'allowed', delegationId: null, decidedBy: 'policy' });
    expect(await broker.prisma.delegation.count({ where: { agentId: agent.id, userId: p.ceo.id } })).toBe(0);
    const dmTs = (await slackMessage(broker, req.id, 'consent'))!.ts;
    await eventually(async () =>
      fake.aboutTs('chat.update', dmTs, 'ts').find((c) => visibleText(c.body).includes('You allowed this') && buttons(c.body).length === 0),
    );
    const types = (await broker.prisma.auditEvent.findMany({ where: { requestId: req.id }, orderBy: { id: 'asc' } })).map((e) => e.type);
    expect(types).toEqual([
      'request.created',
      'request.consent_requested',
      'approval.refused',
      'request.consented',
      'request.approved',
      'grant.issued',
    ]);

    // once allowed, the same request cannot be answered again
    await answerConsent(broker, p.ceo.slack, 'refuse', req.id);
    await eventually(async () => ephemeralsTo(fake, p.ceo.slack).find((c) => c.body.text.includes('already approved')));
    expect(await row(req.id)).toMatchObject({ status: 'approved' });
  });

  it('"Allow for 8 hours": a delegation for that resource; the next request there is decided at once, another resource asks again', async () => {
    const first = await askFor(agent, 'pending', { ...LOW_RISK, onBehalfOf: p.alice.id });
    await dmTo(p.alice, first.id);
    await answerConsent(broker, p.alice.slack, '8h', first.id);
    await settled(first.id, 'approved');
    const delegation = await broker.prisma.delegation.findFirstOrThrow({ where: { agentId: agent.id, userId: p.alice.id } });
    expect(delegation).toMatchObject({ source: 'consent', resources: ['crm.customers'], createdBy: `user:${p.alice.id}`, requestId: first.id });
    const hours = (delegation.expiresAt!.getTime() - Date.now()) / 3_600_000;
    expect(hours).toBeGreaterThan(7.9);
    expect(hours).toBeLessThanOrEqual(8);

    const next = await askFor(agent, 'approved', { ...LOW_RISK, onBehalfOf: p.alice.id });
    expect(await row(next.id)).toMatchObject({ delegationId: delegation.id, consent: null });
    const elsewhere = await askFor(agent, 'pending', { ...TICKET, onBehalfOf: p.alice.id });
    expect(elsewhere.approval.kind).toBe('consent');
  });

  it('"Refuse": denied by the user, the DM says so, the trail records it', async () => {
    const req = await askFor(agent, 'pending', { ...LOW_RISK, onBehalfOf: p.bob.id });
    await dmTo(p.bob, req.id);
    await answerConsent(broker, p.bob.slack, 'refuse', req.id);
    expect(await settled(req.id, 'denied')).toMatchObject({ consent: 'refused', decidedBy: `user:${p.bob.id}` });
    const view = (await agent.call('GET', `/v1/access-requests/${req.id}`)).body;
    expect(view.decision.message).toContain('refused');
    expect(view.grant).toBeUndefined();
    const dmTs = (await slackMessage(broker, req.id, 'consent'))!.ts;
    await eventually(async () => fake.aboutTs('chat.update', dmTs, 'ts').find((c) => visibleText(c.body).includes('You refused')));
    expect(await broker.prisma.auditEvent.count({ where: { requestId: req.id, type: 'delegation.refused', actor: `user:${p.bob.id}` } })).toBe(1);
  });

  it('consent, then approvers: the approvals message appears only after the user allowed, and approvers decide as usual', async () => {
    const req = await askFor(agent, 'pending', { ...PII, onBehalfOf: p.bob.id });
    await dmTo(p.bob, req.id);
    await answerConsent(broker, p.bob.slack, 'once', req.id);
    const waiting = await eventually(async () => ((await row(req.id))?.consent === 'allowed' ? row(req.id) : undefined));
    expect(waiting).toMatchObject({ status: 'pending', approverGroup: 'crm-owners', requiredApprovals: 1 });
    expect(waiting!.approvalExpiresAt!.getTime()).toBeGreaterThan(Date.now() + 14 * 60_000);
    const view = (await agent.call('GET', `/v1/access-requests/${req.id}`)).body;
    expect(view.approval).toMatchObject({ kind: 'approvers', approvers: 'crm-owners' });
    await eventually(async () => fake.of('chat.postMessage', req.id).find((c) => c.body.channel === 'C0APPROVALS' && !c.body.thread_ts));
    await click(broker, p.owner.slack, 'approve', req.id);
    expect(await settled(req.id, 'approved')).toMatchObject({ decidedBy: `user:${p.owner.id}` });
  });

  it('an admin delegation given while a request waits for consent lets it go on at once', async () => {
    const req = await askFor(agent, 'pending', { ...TICKET, resource: 'crm.deals', columns: ['id', 'stage'], onBehalfOf: p.bob.id });
    expect(req.approval.kind).toBe('consent');
    const waiting = agent.call('GET', `/v1/access-requests/${req.id}?wait=10`);
    await delegate(broker, agent, p.bob.id, { resources: ['crm.*'] });
    expect((await waiting).body.status).toBe('approved');
    expect(await broker.prisma.auditEvent.findFirst({ where: { requestId: req.id, type: 'request.consented' } })).toMatchObject({
      actor: 'admin:ops',
      data: expect.objectContaining({ answer: 'delegation' }),
    });
  });

  it('the dry run says the user would be asked first, and what the policy decides once they allow it', async () => {
    const dry = await broker.admin('POST', '/v1/admin/policy/evaluate', { ...FORECAST, onBehalfOf: p.owner.id, agentId: agent.id });
    expect(dry.body).toMatchObject({
      status: 'pending',
      approval: { kind: 'consent', approvers: p.owner.id, required: 1 },
      delegation: { status: 'missing' },
      decision: { outcome: 'require_approval', rules: [] },
      // the owner is no executive: the policy's default asks security once they allowed it
      ifAllowed: { decision: { outcome: 'require_approval', rules: [] }, duration: '10m' },
    });
    expect(await broker.prisma.accessRequest.count({ where: { onBehalfOf: p.owner.id } })).toBe(0);
  });

  it('a user without a Slack link cannot be asked: 403 DELEGATION_REQUIRED', async () => {
    await putUser(broker, `unlinked-${Date.now()}`, ['support']);
    const id = (await broker.prisma.user.findFirstOrThrow({ where: { id: { startsWith: 'unlinked-' } } })).id;
    expectError(await ask(agent, { ...LOW_RISK, onBehalfOf: id }), 403, 'DELEGATION_REQUIRED');
  });
});
