import { createHmac } from 'node:crypto';
import { decodeJwt } from 'jose';
import { Broker, call, eventually, registerAgent, Reply, startBroker, TestAgent } from '../support/broker';
import { askFor, delegate, PII, sleep, verifyGrantToken } from '../support/flows';
import { buttonClick, changesSubmission, FakeSlack } from '../support/fake-slack';
import {
  buttons,
  CHANNEL,
  click,
  interact,
  people,
  Person,
  SIGNING_SECRET,
  slackMessage,
  ephemeralsTo,
  settledRequest,
  startSlackBroker,
  visibleText,
} from '../support/slack';

// jest ignores testTimeout inside a project's config (it is a global option): set it here.
jest.setTimeout(20_000);

describe('Slack approvals: the message, clicks, who may click, keeping the message true', () => {
  let broker: Broker;
  let fake: FakeSlack;
  let agent: TestAgent;
  let p: Record<string, Person>;

  const row = (id: string) => broker.prisma.accessRequest.findUnique({ where: { id } });
  const settled = (id: string, status: string) => settledRequest(broker, id, status);
  const audit = (requestId: string, type?: string) =>
    broker.prisma.auditEvent.findMany({ where: { requestId, ...(type ? { type } : {}) }, orderBy: { id: 'asc' } });
  const pii = (onBehalfOf: Person, overrides: Record<string, unknown> = {}) =>
    askFor(agent, 'pending', { ...PII, onBehalfOf: onBehalfOf.id, ...overrides });

  /** Waits for the approval message of a request; returns the postMessage call and the stored coordinates. */
  async function posted(requestId: string) {
    const post = await eventually(async () => fake.of('chat.postMessage', requestId).find((c) => !c.body.thread_ts && c.body.channel === CHANNEL));
    const stored = await eventually(() => slackMessage(broker, requestId));
    return { post, ts: stored.ts, channel: stored.channel };
  }
  const updates = (ts: string) => fake.aboutTs('chat.update', ts, 'ts');
  const replies = (ts: string) => fake.aboutTs('chat.postMessage', ts, 'thread_ts');

  beforeAll(async () => {
    ({ broker, fake } = await startSlackBroker());
    agent = await registerAgent(broker, { name: `slack-agent-${Date.now()}` });
    p = await people(broker, {
      alice: ['crm-owners'],
      carol: ['crm-owners'],
      dave: ['crm-owners'],
      bob: ['support'],
      lead1: ['sales-leads'],
      lead2: ['sales-leads'],
      erin: ['support'],
    });
    // These specs are about approvers; the users acted for have delegated already (consent: delegation.e2e-spec).
    for (const person of [p.alice, p.bob, p.erin]) await delegate(broker, agent, person.id);
  });
  afterAll(async () => {
    await broker.close();
    await fake.stop();
  });

  it('posts a message that tells approvers what they decide, then approve: grant issued, message edited, thread reply', async () => {
    const req = await pii(p.alice);
    const { post, ts, channel } = await posted(req.id);
    expect(channel).toBe(CHANNEL);
    const text = visibleText(post.body);
    for (const fragment of [
      agent.name,
      'team-ai@example.com',
      p.alice.slack,
      'crm.customers',
      'read',
      '`email` (pii)',
      '`phone` (pii)',
      '15m',
      PII.reason,
      'Risk score',
      'pii-needs-owner',
      'crm-owners',
      'needs 1 more approval',
    ]) {
      expect(text).toContain(fragment);
    }
    expect(buttons(post.body)).toEqual(['gatehouse_approve', 'gatehouse_deny', 'gatehouse_approve_changes']);

    const waiting = agent.call('GET', `/v1/access-requests/${req.id}?wait=10`);
    const res = await click(broker, p.carol.slack, 'approve', req.id);
    expect(res.status).toBe(200);
    const answer = await waiting;
    expect(answer.body.status).toBe('approved');
    expect(typeof answer.body.grant.token).toBe('string');

    expect(await row(req.id)).toMatchObject({ status: 'approved', decidedBy: `user:${p.carol.id}` });
    expect(await broker.prisma.grant.count({ where: { requestId: req.id, status: 'active' } })).toBe(1);
    expect((await audit(req.id, 'request.approved')).map((e) => e.actor)).toEqual([`user:${p.carol.id}`]);

    const update = await eventually(async () => updates(ts).find((c) => visibleText(c.body).includes('Approved')));
    expect(buttons(update.body)).toEqual([]);
    expect(visibleText(update.body)).toContain(`<@${p.carol.slack}>`);
    expect(visibleText(update.body)).toMatch(/<!date\^\d+\^/);
    const reply = await eventually(async () => replies(ts)[0]);
    expect(reply.body.text).toContain(`Approved by <@${p.carol.slack}>`);
    expect(ephemeralsTo(fake, p.carol.slack)).toHaveLength(0);
    expect(fake.of('chat.postMessage', req.id).filter((c) => !c.body.thread_ts)).toHaveLength(1);
  });

  it('deny: one deny denies, the message says who denied, the thread records it', async () => {
    const req = await pii(p.bob);
    const { ts } = await posted(req.id);
    expect((await click(broker, p.dave.slack, 'deny', req.id)).status).toBe(200);
    await settled(req.id, 'denied');
    expect(await row(req.id)).toMatchObject({ status: 'denied', decidedBy: `user:${p.dave.id}` });
    expect(await broker.prisma.grant.count({ where: { requestId: req.id } })).toBe(0);
    expect((await audit(req.id, 'request.denied')).map((e) => e.actor)).toEqual([`user:${p.dave.id}`]);
    const update = await eventually(async () => updates(ts).find((c) => visibleText(c.body).includes('Denied')));
    expect(buttons(update.body)).toEqual([]);
    expect(visibleText(update.body)).toContain(`<@${p.dave.slack}>`);
    expect((await eventually(async () => replies(ts)[0])).body.text).toContain(`Denied by <@${p.dave.slack}>`);
  });

  it('approve with changes: a modal, then a token with only the kept columns and the shorter duration', async () => {
    const req = await pii(p.bob, { columns: ['name', 'email', 'phone'] });
    const { ts } = await posted(req.id);
    expect((await click(broker, p.carol.slack, 'changes', req.id)).status).toBe(200);
    const opened = await eventually(async () => fake.of('views.open', req.id)[0]);
    expect(opened.body.trigger_id).toMatch(/^trigger-/);
    expect(opened.body.view.blocks.find((b: any) => b.block_id === 'columns').element.options.map((o: any) => o.value)).toEqual([
      'name',
      'email',
      'phone',
    ]);
    expect(await row(req.id)).toMatchObject({ status: 'pending' });

    const res = await interact(
      broker,
      changesSubmission({ slackUserId: p.carol.slack, requestId: req.id, columns: ['name', 'email'], duration: '5m', comment: 'no phone' }),
    );
    expect(res.status).toBe(200);
    expect(res.body).toBeNull();
    const read = await agent.call('GET', `/v1/access-requests/${req.id}`);
    expect(read.body.status).toBe('approved');
    expect(read.body.grant.columns).toEqual(['name', 'email']);
    const { payload } = await verifyGrantToken(broker, read.body.grant.token);
    expect((payload.authorization_details as any)[0].columns).toEqual(['name', 'email']);
    expect(payload.exp! - payload.iat!).toBe(300);
    expect(decodeJwt(read.body.grant.token).req).toBe(req.id);
    const approvals = await broker.prisma.approval.findMany({ where: { requestId: req.id } });
    expect(approvals).toEqual([
      expect.objectContaining({ approver: `user:${p.carol.id}`, columns: ['name', 'email'], durationSeconds: 300, comment: 'no phone' }),
    ]);
    expect((await audit(req.id, 'request.approved'))[0].data).toMatchObject({ columns: ['name', 'email'], durationSeconds: 300 });
    const update = await eventually(async () => updates(ts).find((c) => visibleText(c.body).includes('Approved')));
    expect(visibleText(update.body)).toContain('Grant: name, email');

    // Widening in the modal is refused in the modal, and nothing is recorded.
    const other = await pii(p.bob);
    await posted(other.id);
    const wider = await interact(broker, changesSubmission({ slackUserId: p.carol.slack, requestId: other.id, columns: ['email'], duration: '2h' }));
    expect(wider.status).toBe(200);
    expect(wider.body).toMatchObject({ response_action: 'errors', errors: { duration: expect.stringContaining('only narrow') } });
    expect(await row(other.id)).toMatchObject({ status: 'pending' });
    expect(await broker.prisma.approval.count({ where: { requestId: other.id } })).toBe(0);
  });

  it('two-of-two: the same person twice counts once; a second person approves', async () => {
    const req = await askFor(agent, 'pending', { resource: 'crm.deals', actions: ['write'], columns: ['stage'], reason: 'Close deal 77' });
    const { post, ts } = await posted(req.id);
    expect(visibleText(post.body)).toContain('needs 2 more approvals from sales-leads');

    await click(broker, p.lead1.slack, 'approve', req.id);
    await eventually(async () => (await broker.prisma.approval.count({ where: { requestId: req.id } })) === 1);
    await click(broker, p.lead1.slack, 'approve', req.id);
    await eventually(async () => ephemeralsTo(fake, p.lead1.slack)[0]);
    expect(await row(req.id)).toMatchObject({ status: 'pending' });
    expect(await broker.prisma.approval.count({ where: { requestId: req.id } })).toBe(1);
    expect(await audit(req.id, 'request.approval_received')).toHaveLength(1);
    const again = await eventually(async () => ephemeralsTo(fake, p.lead1.slack)[0]);
    expect(again.body.text).toContain('already recorded');
    expect(again.body.text).toContain('1 more from a different person in sales-leads');
    const progress = await eventually(async () => replies(ts).find((c) => c.body.text.includes('Approval 1 of 2')));
    expect(progress.body.text).toContain(`<@${p.lead1.slack}>`);
    const mid = await eventually(async () => updates(ts).find((c) => visibleText(c.body).includes('1 of 2 so far')));
    expect(buttons(mid.body)).toHaveLength(3);

    await click(broker, p.lead2.slack, 'approve', req.id);
    await settled(req.id, 'approved');
    const approved = await audit(req.id, 'request.approved');
    expect(approved).toHaveLength(1);
    expect((approved[0].data as any).approvers.sort()).toEqual([`user:${p.lead1.id}`, `user:${p.lead2.id}`].sort());
    expect(await broker.prisma.grant.count({ where: { requestId: req.id } })).toBe(1);
    await eventually(async () => updates(ts).find((c) => visibleText(c.body).includes('Approved') && buttons(c.body).length === 0));
  });

  it("a non-approver's click: ephemeral why, audited, nothing changes", async () => {
    const req = await pii(p.alice);
    await posted(req.id);
    expect((await click(broker, p.bob.slack, 'approve', req.id)).status).toBe(200);
    const note = await eventually(async () => ephemeralsTo(fake, p.bob.slack).find((c) => JSON.stringify(c.body).includes('not an approver')));
    expect(note.body.channel).toBe(CHANNEL);
    expect(note.body.text).toContain('crm-owners');
    expect(await row(req.id)).toMatchObject({ status: 'pending' });
    expect(await broker.prisma.approval.count({ where: { requestId: req.id } })).toBe(0);
    const refused = await audit(req.id, 'approval.refused');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ actor: `user:${p.bob.id}`, data: expect.objectContaining({ code: 'NOT_AN_APPROVER', action: 'approve' }) });
  });

  it('the user acted for cannot approve their own request, unless the rule says approvers: requester (then by DM)', async () => {
    const own = await pii(p.alice);
    await posted(own.id);
    await click(broker, p.alice.slack, 'approve', own.id);
    const note = await eventually(async () => ephemeralsTo(fake, p.alice.slack).find((c) => c.body.text.includes('own behalf')));
    expect(note.body.text).toContain('Nothing was recorded');
    expect(await row(own.id)).toMatchObject({ status: 'pending' });
    expect((await audit(own.id, 'approval.refused'))[0]).toMatchObject({
      actor: `user:${p.alice.id}`,
      data: expect.objectContaining({ code: 'SELF_APPROVAL' }),
    });

    const ticket = await askFor(agent, 'pending', {
      resource: 'support.tickets',
      actions: ['read'],
      columns: ['subject', 'body'],
      onBehalfOf: p.erin.id,
      reason: 'Summarise ticket 9',
    });
    await posted(ticket.id);
    const dm = await eventually(async () => fake.of('chat.postMessage', ticket.id).find((c) => c.body.channel === p.erin.slack));
    expect(visibleText(dm.body)).toContain('the user the agent acts for');
    expect(buttons(dm.body)).toHaveLength(3);
    expect(await slackMessage(broker, ticket.id, 'requester')).toMatchObject({ channel: `D${p.erin.slack.slice(1)}`, ts: expect.any(String) });
    await click(broker, p.carol.slack, 'approve', ticket.id);
    await eventually(async () => ephemeralsTo(fake, p.carol.slack).find((c) => c.body.text.includes('Only') && c.body.text.includes(p.erin.id)));
    expect(await row(ticket.id)).toMatchObject({ status: 'pending' });
    await click(broker, p.erin.slack, 'approve', ticket.id);
    expect(await settled(ticket.id, 'approved')).toMatchObject({ decidedBy: `user:${p.erin.id}` });
    const dmTs = (await slackMessage(broker, ticket.id, 'requester'))!.ts;
    await eventually(async () => updates(dmTs).find((c) => visibleText(c.body).includes('Approved')));
  });

  it('an unknown Slack user: ephemeral, audited under the Slack id, nothing changes', async () => {
    const req = await pii(p.bob);
    await posted(req.id);
    const stranger = `USTRANGER${Date.now()}`;
    expect((await click(broker, stranger, 'deny', req.id)).status).toBe(200);
    const note = await eventually(async () => ephemeralsTo(fake, stranger)[0]);
    expect(note.body.text).toContain('not linked to a Gatehouse user');
    expect(await row(req.id)).toMatchObject({ status: 'pending' });
    expect(await audit(req.id, 'approval.refused')).toEqual([
      expect.objectContaining({ actor: `slack:${stranger}`, data: expect.objectContaining({ code: 'USER_NOT_FOUND', action: 'deny' }) }),
    ]);
  });

  it('refuses a forged signature, a body altered after signing and a timestamp older than 5 minutes (401), changing nothing', async () => {
    const req = await pii(p.bob);
    await posted(req.id);
    const payload = buttonClick({ slackUserId: p.carol.slack, actionId: 'gatehouse_approve', requestId: req.id });
    const before = fake.calls.length;
    const forged = await interact(broker, payload, { secret: 'not-the-secret-at-all-0123456789' });
    const altered = await interact(broker, payload, {
      tamper: (body) => body.replace(encodeURIComponent(p.carol.slack), encodeURIComponent(p.dave.slack)),
    });
    const stale = await interact(broker, payload, { timestamp: Math.floor(Date.now() / 1000) - 301 });
    for (const res of [forged, altered, stale]) {
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('INVALID_SLACK_SIGNATURE');
    }
    expect(stale.body.error.message).toMatch(/stale|old|timestamp/i);
    await sleep(200);
    expect(await row(req.id)).toMatchObject({ status: 'pending' });
    expect(await broker.prisma.approval.count({ where: { requestId: req.id } })).toBe(0);
    expect(fake.calls.slice(before).filter((c) => c.method !== 'chat.update')).toEqual([]);
    expect(await audit(req.id, 'approval.refused')).toHaveLength(0);
  });

  it('the same payload twice (and a Slack retry) changes nothing the second time, and says so', async () => {
    const req = await pii(p.bob);
    const { ts } = await posted(req.id);
    const payload = buttonClick({ slackUserId: p.dave.slack, actionId: 'gatehouse_approve', requestId: req.id });
    expect((await interact(broker, payload)).status).toBe(200);
    await settled(req.id, 'approved');
    expect((await interact(broker, payload)).status).toBe(200);
    expect((await interact(broker, payload, { retryNum: 1 })).status).toBe(200);
    expect(await audit(req.id, 'request.approved')).toHaveLength(1);
    expect(await broker.prisma.grant.count({ where: { requestId: req.id } })).toBe(1);
    const notes = await eventually(async () =>
      ephemeralsTo(fake, p.dave.slack).filter((c) => c.body.text.includes('already approved')).length >= 2
        ? ephemeralsTo(fake, p.dave.slack)
        : undefined,
    );
    expect(notes.filter((c) => c.body.text.includes('changed nothing')).length).toBeGreaterThanOrEqual(2);
    await sleep(300);
    expect(replies(ts).filter((c) => c.body.text.includes('Approved'))).toHaveLength(1);
  });

  it('REST decisions, cancels and grant endings keep the message true as well', async () => {
    const req = await pii(p.bob);
    const { ts } = await posted(req.id);
    expect((await broker.admin('POST', `/v1/admin/access-requests/${req.id}/approve`, { asUser: p.carol.id })).status).toBe(200);
    const read = await agent.call('GET', `/v1/access-requests/${req.id}`);
    expect((await agent.call('POST', `/v1/grants/${read.body.grant.id}/release`)).status).toBe(200);
    await eventually(async () => replies(ts).find((c) => c.body.text.includes('released')));
    const last = await eventually(async () => updates(ts).find((c) => visibleText(c.body).includes('released')));
    expect(buttons(last.body)).toEqual([]);

    const revoked = await pii(p.bob);
    const posted3 = await posted(revoked.id);
    await click(broker, p.dave.slack, 'approve', revoked.id);
    const granted = (await settled(revoked.id, 'approved'))!;
    const grantRow = (await broker.prisma.grant.findUnique({ where: { requestId: granted.id } }))!;
    expect((await broker.admin('POST', `/v1/admin/grants/${grantRow.id}/revoke`, { reason: 'incident 12' })).status).toBe(200);
    await eventually(async () => replies(posted3.ts).find((c) => c.body.text.includes('revoked')));
    await eventually(async () => updates(posted3.ts).find((c) => visibleText(c.body).includes('Grant: email, phone for read, revoked')));

    const cancelled = await pii(p.bob);
    const posted2 = await posted(cancelled.id);
    await agent.call('POST', `/v1/access-requests/${cancelled.id}/cancel`);
    await eventually(async () => replies(posted2.ts).find((c) => c.body.text.includes('cancelled')));
    await click(broker, p.carol.slack, 'approve', cancelled.id);
    const stale = await eventually(async () => ephemeralsTo(fake, p.carol.slack).find((c) => c.body.text.includes('no longer pending')));
    expect(stale.body.text).toContain('cancelled');
    expect(await row(cancelled.id)).toMatchObject({ status: 'cancelled' });
  });
});

describe('without Slack configured', () => {
  it('has no /slack/events route and still decides through REST', async () => {
    const broker = await startBroker({ GATEHOUSE_POLICY_FILE: 'test/fixtures/slack-policy.yaml' });
    try {
      const res = await call(`${broker.url}/slack/events`, 'POST', {
        raw: 'payload=%7B%7D',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(res.status).toBe(404);
      const agent = await registerAgent(broker);
      const [approver] = Object.values(await people(broker, { owner: ['crm-owners'] }));
      const req = await askFor(agent, 'pending', PII);
      expect((await broker.admin('POST', `/v1/admin/access-requests/${req.id}/approve`, { asUser: approver.id })).status).toBe(200);
      expect(await slackMessage(broker, req.id)).toBeNull();
    } finally {
      await broker.close();
    }
  });
});

describe('Slack: what reaches /slack/events is understood or refused', () => {
  let broker: Broker;
  let fake: FakeSlack;
  let agent: TestAgent;
  let p: Record<string, Person>;
  let pendingId: string;

  beforeAll(async () => {
    ({ broker, fake } = await startSlackBroker());
    agent = await registerAgent(broker, { name: `slack-shapes-${Date.now()}` });
    p = await people(broker, { carol: ['crm-owners'], bob: ['support'] });
    await delegate(broker, agent, p.bob.id);
    pendingId = (await askFor(agent, 'pending', { ...PII, onBehalfOf: p.bob.id })).id;
    // Its approval message goes out first, so that calls to the fake after this are the cases' own.
    await eventually(() => slackMessage(broker, pendingId));
  });
  afterAll(async () => {
    await broker.close();
    await fake.stop();
  });

  /** A correct click by an approver on a pending request, with `change` applied to the payload. */
  const clickWith = (change: (payload: Record<string, any>) => unknown) =>
    change(buttonClick({ slackUserId: p.carol.slack, actionId: 'gatehouse_approve', requestId: pendingId }));
  const submissionWith = (change: (payload: Record<string, any>) => unknown) =>
    change(changesSubmission({ slackUserId: p.carol.slack, requestId: pendingId, columns: ['email'] }));
  /** Posts `body` with a correct signature (and `timestamp`, default now). */
  function signed(body: string, contentType: string, timestamp = Math.floor(Date.now() / 1000)): Promise<Reply> {
    const signature = `v0=${createHmac('sha256', SIGNING_SECRET).update(`v0:${timestamp}:${body}`).digest('hex')}`;
    return call(`${broker.url}/slack/events`, 'POST', {
      raw: body,
      headers: { 'content-type': contentType, 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': signature },
    });
  }
  const form = (payload: unknown) => signed(`payload=${encodeURIComponent(JSON.stringify(payload))}`, 'application/x-www-form-urlencoded');

  // Correctly signed payloads of unexpected shapes: 400 naming the field, never a 500.
  const malformed: [string, () => Promise<Reply>, string][] = [
    ['block_actions without a user', () => form(clickWith(({ user: _u, ...rest }) => rest)), 'user'],
    ['block_actions whose user id is a number', () => form(clickWith((b) => ({ ...b, user: { id: 42 } }))), 'user.id'],
    ['block_actions whose actions are an object', () => form(clickWith((b) => ({ ...b, actions: { action_id: 'gatehouse_approve' } }))), 'actions'],
    ['block_actions with no actions', () => form(clickWith((b) => ({ ...b, actions: [] }))), 'actions'],
    ['block_actions whose action has no action_id', () => form(clickWith((b) => ({ ...b, actions: [{ value: pendingId }] }))), 'actions.0.action_id'],
    ['block_actions whose value is a number', () => form(clickWith((b) => ({ ...b, actions: [{ ...b.actions[0], value: 7 }] }))), 'actions.0.value'],
    ['block_actions whose channel is a string', () => form(clickWith((b) => ({ ...b, channel: 'C0APPROVALS' }))), 'channel'],
    ['block_actions whose trigger_id is an object', () => form(clickWith((b) => ({ ...b, trigger_id: {} }))), 'trigger_id'],
    ['block_actions whose user id holds a NUL', () => form(clickWith((b) => ({ ...b, user: { id: 'U\u0000CAROL' } }))), 'user.id'],
    ['view_submission without a view', () => form(submissionWith(({ view: _v, ...rest }) => rest)), 'view'],
    ['view_submission whose state is a string', () => form(submissionWith((b) => ({ ...b, view: { ...b.view, state: 'values' } }))), 'view.state'],
    [
      'view_submission without private_metadata',
      () => form(submissionWith((b) => ({ ...b, view: { ...b.view, private_metadata: undefined } }))),
      'view.private_metadata',
    ],
    [
      'a modal comment with a lone surrogate',
      () =>
        form(
          submissionWith((b) => ({
            ...b,
            view: { ...b.view, state: { values: { ...b.view.state.values, comment: { value: { value: 'ok \ud800' } } } } },
          })),
        ),
      'view.state.values.comment.value.value',
    ],
    ['url_verification without a challenge', () => signed(JSON.stringify({ type: 'url_verification', token: 't' }), 'application/json'), 'challenge'],
    ['a payload that is JSON null', () => form(null), 'type'],
    ['a payload that is an array', () => form([{ type: 'block_actions' }]), 'type'],
    ['a form with neither a payload nor a type', () => signed('user=U1&text=hi', 'application/x-www-form-urlencoded'), 'type'],
    ['a bare view_submission form', () => signed('type=view_submission&user=U1', 'application/x-www-form-urlencoded'), 'view'],
  ];

  it.each(malformed)('%s → 400 VALIDATION_FAILED naming the field', async (_name, send, path) => {
    const before = fake.calls.length;
    const res = await send();
    expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
    expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    await sleep(100);
    expect(fake.calls.slice(before).filter((c) => c.method !== 'chat.update')).toEqual([]);
  });

  it('acknowledges well-formed kinds nothing here handles (200), so Slack does not retry them', async () => {
    for (const payload of [
      { type: 'shortcut', callback_id: 'x', user: { id: p.carol.slack } },
      { type: 'view_closed', user: { id: p.carol.slack }, view: {} },
      { type: 'event_callback', event: { type: 'app_mention' } },
    ]) {
      const res = await form(payload);
      expect({ type: payload.type, status: res.status, body: res.body }).toEqual({ type: payload.type, status: 200, body: null });
    }
    expect((await signed('command=%2Fgatehouse&text=hi&user_id=U1', 'application/x-www-form-urlencoded')).status).toBe(200);
    expect((await signed(JSON.stringify({ type: 'url_verification', challenge: 'abc123' }), 'application/json')).body).toEqual({
      challenge: 'abc123',
    });
  });

  it('a modal submission with private_metadata that is JSON but not ours stays in the modal, with nothing recorded', async () => {
    const res = await form(submissionWith((b) => ({ ...b, view: { ...b.view, private_metadata: 'null' } })));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ response_action: 'errors' });
  });

  it('refuses a timestamp more than 5 minutes in the future (401), and accepts one within', async () => {
    const now = Math.floor(Date.now() / 1000);
    const body = `payload=${encodeURIComponent(JSON.stringify({ type: 'shortcut', callback_id: 'x', user: { id: p.carol.slack } }))}`;
    const future = await signed(body, 'application/x-www-form-urlencoded', now + 301);
    expect({ status: future.status, code: future.body?.error?.code }).toEqual({ status: 401, code: 'INVALID_SLACK_SIGNATURE' });
    expect(future.body.error.message).toMatch(/future/);
    expect((await signed(body, 'application/x-www-form-urlencoded', now + 240)).status).toBe(200);
  });

  it('left the pending request untouched: no approval, no refusal audited', async () => {
    await sleep(200);
    expect(await broker.prisma.accessRequest.findUnique({ where: { id: pendingId } })).toMatchObject({ status: 'pending' });
    expect(await broker.prisma.approval.count({ where: { requestId: pendingId } })).toBe(0);
    expect(await broker.prisma.auditEvent.count({ where: { requestId: pendingId, type: 'approval.refused' } })).toBe(0);
  });

  it('shows a hostile reason and display name as typed: no channel ping, mention or disguised link reaches Slack', async () => {
    const [mallory] = Object.values(await people(broker, { mallory: ['support'] }));
    await broker.admin('PUT', `/v1/admin/users/${mallory.id}`, {
      email: `${mallory.id}@example.com`,
      displayName: '<!here> Mallory',
      groups: ['support'],
    });
    await delegate(broker, agent, mallory.id);
    const reason = '<!channel> urgent: verify at <https://evil.example|bank.example> & ping <@U123>';
    const req = await askFor(agent, 'pending', { ...PII, reason, onBehalfOf: mallory.id });
    const post = await eventually(async () => fake.of('chat.postMessage', req.id).find((c) => !c.body.thread_ts && c.body.channel === CHANNEL));
    const text = visibleText(post.body);
    for (const raw of ['<!channel>', '<!here>', '<@U123>', '<https://evil.example|bank.example>']) expect(text).not.toContain(raw);
    expect(text).toContain('&lt;!channel&gt; urgent: verify at &lt;https://evil.example|bank.example&gt; &amp; ping &lt;@U123&gt;');
    expect(post.body.text).not.toContain('<!');

    // The question a user is asked in a direct message is as inert.
    const [victim] = Object.values(await people(broker, { victim: ['support'] }));
    const asked = await askFor(agent, 'pending', { ...PII, reason, onBehalfOf: victim.id });
    const dm = await eventually(async () => fake.of('chat.postMessage', asked.id).find((c) => c.body.channel === victim.slack));
    const question = visibleText(dm.body);
    for (const raw of ['<!channel>', '<@U123>', '<https://evil.example|bank.example>']) expect(question).not.toContain(raw);
    expect(question).toContain('&lt;!channel&gt; urgent');
  });
});
