import { Logger } from '@nestjs/common';
import { ForbiddenError, GatehouseAgent, generateAgentKeyPair } from '@gatehouse/sdk';
import { ALERT_NOTIFIER, AlertNotifier, Reconcile } from '@gatehouse/core';
import { randomUUID } from 'node:crypto';
import { Broker, eventually, registerAgent, startBroker, TestAgent } from '../support/broker';
import { createScratchDatabase } from '../support/database';
import { FakeSlack } from '../support/fake-slack';
import { delegate, expectError, verifyGrantToken } from '../support/flows';
import { CHANNEL, people, startSlackBroker, visibleText } from '../support/slack';

// Break-glass: an on-call agent gets at once what a rule would ask people for, for at most
// breakGlass.maxDuration (10m in the fixture), never past a deny; anyone else is refused. It is
// loud (an alert in the alerts channel, audit events) and waits in the reviews list until a person
// acknowledges it.

const POLICY = 'test/fixtures/break-glass-policy.yaml';
const ALERTS = 'C0ALERTS';
/** Crafted to break Slack's mrkdwn if it were not escaped: a broadcast and a fake link. */
const REASON = 'Outage INC-77 <!channel> *now* <https://evil.example|click>';
const PII_1H = { resource: 'crm.customers', actions: ['read'], columns: ['name', 'email'], duration: '1h', reason: REASON, breakGlass: true };

describe('break-glass', () => {
  let broker: Broker;
  let fake: FakeSlack;
  let oncall: TestAgent;
  let other: TestAgent;

  beforeAll(async () => {
    ({ broker, fake } = await startSlackBroker({ GATEHOUSE_POLICY_FILE: POLICY, SLACK_ALERTS_CHANNEL: ALERTS }));
    oncall = await registerAgent(broker, { attributes: { oncall: 'true' }, name: `oncall-${randomUUID().slice(0, 6)}` });
    other = await registerAgent(broker, { attributes: { oncall: 'false' } });
  });
  afterAll(async () => {
    await broker.close();
    await fake.stop();
  });

  const events = async (requestId: string) =>
    (await broker.admin('GET', `/v1/admin/audit?requestId=${requestId}&limit=200`)).body.items as Array<{ type: string; actor: string; data: any }>;

  it('grants at once, clamped to breakGlass.maxDuration, what a rule would ask people for', async () => {
    const res = await oncall.call('POST', '/v1/access-requests', PII_1H);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'approved', review: { status: 'open' } });
    expect(res.body.decision).toMatchObject({ outcome: 'approve', breakGlass: true, rules: ['pii-needs-owner', 'break-glass'] });
    expect(res.body.decision.message).toMatch(
      /^Break-glass: approved at once for at most 10m, bypassing the approval by crm-owners that rule pii-needs-owner/,
    );
    expect(res.body.approval).toBeUndefined();

    const { payload } = await verifyGrantToken(broker, res.body.grant.token);
    expect(payload.exp! - payload.iat!).toBe(600);
    expect(payload).toMatchObject({ client_id: oncall.id, req: res.body.id, scope: 'crm.customers:read' });

    const row = await broker.prisma.accessRequest.findUniqueOrThrow({ where: { id: res.body.id } });
    expect(row).toMatchObject({ status: 'approved', breakGlass: true, review: 'open', reviewedAt: null });
    const grant = await broker.prisma.grant.findUniqueOrThrow({ where: { requestId: res.body.id } });
    expect(grant.expiresAt.getTime() - grant.issuedAt.getTime()).toBe(600_000);

    const audit = await events(res.body.id);
    expect(audit.map((e) => e.type)).toEqual(['request.created', 'request.approved', 'grant.issued', 'access_request.break_glass']);
    expect(audit[3]).toMatchObject({
      actor: `agent:${oncall.id}`,
      data: { resource: 'crm.customers', columns: ['name', 'email'], durationSeconds: 600, reason: REASON, rules: ['pii-needs-owner'] },
    });

    // Nobody must approve: nothing goes to the approvals channel; the alert goes to the alerts channel, escaped.
    const alert = await eventually(async () => fake.of('chat.postMessage', res.body.id).find((c) => c.body.channel === ALERTS));
    const text = visibleText(alert.body);
    expect(text).toContain(`Break-glass access: ${oncall.name} on crm.customers`);
    for (const part of [oncall.id, 'crm.customers', 'read: columns name, email', '10m (until', res.body.id, 'nobody (the agent itself)']) {
      expect(text).toContain(part);
    }
    expect(text).toContain('Outage INC-77 &lt;!channel&gt; *now* &lt;https://evil.example|click&gt;');
    expect(text).not.toContain('<!channel>');
    expect(fake.of('chat.postMessage', res.body.id).filter((c) => c.body.channel === CHANNEL)).toEqual([]);
    expect((await broker.prisma.accessRequest.findUniqueOrThrow({ where: { id: res.body.id } })).alertedAt).not.toBeNull();
  });

  it('raises an alert lost after the commit from the reconciler, once', async () => {
    const notifier = broker.app.get<AlertNotifier>(ALERT_NOTIFIER);
    const raise = jest.spyOn(notifier, 'raise').mockRejectedValueOnce(new Error('Redis is down'));
    try {
      const res = await oncall.call('POST', '/v1/access-requests', { ...PII_1H, reason: 'lost alert' });
      expect(res.body).toMatchObject({ status: 'approved', review: { status: 'open' } });
      expect((await broker.prisma.accessRequest.findUniqueOrThrow({ where: { id: res.body.id } })).alertedAt).toBeNull();

      const reconcile = broker.app.get(Reconcile);
      await reconcile.execute(new Date()); // too young to be called lost: the submit may still be raising it
      expect(raise).toHaveBeenCalledTimes(1);
      await reconcile.execute(new Date(Date.now() + 61_000));
      const alert = await eventually(async () => fake.of('chat.postMessage', res.body.id).find((c) => c.body.channel === ALERTS));
      expect(visibleText(alert.body)).toContain('lost alert');
      expect((await broker.prisma.accessRequest.findUniqueOrThrow({ where: { id: res.body.id } })).alertedAt).not.toBeNull();
      await reconcile.execute(new Date(Date.now() + 61_000));
      expect(raise).toHaveBeenCalledTimes(2);
      expect(fake.of('chat.postMessage', res.body.id).filter((c) => c.body.channel === ALERTS)).toHaveLength(1);
    } finally {
      raise.mockRestore();
    }
  });

  it('keeps an approve an approve (its own duration), flagged and reviewed', async () => {
    const res = await oncall.call('POST', '/v1/access-requests', { ...PII_1H, columns: ['id', 'name'], duration: '15m' });
    expect(res.body).toMatchObject({ status: 'approved', decision: { breakGlass: true, rules: ['low-risk-reads', 'break-glass'] }, duration: '15m' });
    const { payload } = await verifyGrantToken(broker, res.body.grant.token);
    expect(payload.exp! - payload.iat!).toBe(900);
    expect((await events(res.body.id)).map((e) => e.type)).toContain('access_request.break_glass');
  });

  it('still denies what a deny rule denies: no grant, no review', async () => {
    const res = await oncall.call('POST', '/v1/access-requests', { ...PII_1H, columns: ['name', 'ssn'] });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'denied', decision: { outcome: 'deny', rules: ['no-restricted'], breakGlass: true } });
    expect(res.body.grant).toBeUndefined();
    expect(res.body.review).toBeUndefined();
    expect(await broker.prisma.grant.count({ where: { requestId: res.body.id } })).toBe(0);
    expect((await events(res.body.id)).map((e) => e.type)).toEqual(['request.created', 'request.denied']);
    expectError(await broker.admin('POST', `/v1/admin/access-requests/${res.body.id}/acknowledge`, { comment: 'seen' }), 409, 'NOT_AWAITING_REVIEW');
  });

  const refusals = (agentId: string) =>
    broker.prisma.auditEvent.findMany({ where: { agentId, type: 'access_request.break_glass_refused' }, orderBy: { id: 'asc' } });

  it('refuses 403 BREAK_GLASS_NOT_ALLOWED an agent the selector does not admit: no request, the attempt audited', async () => {
    for (const body of [PII_1H, { ...PII_1H, columns: ['name', 'ssn'] }, { ...PII_1H, columns: ['id'] }]) {
      const res = await other.call('POST', '/v1/access-requests', body);
      expectError(res, 403, 'BREAK_GLASS_NOT_ALLOWED');
      expect(res.body.error.details).toEqual([{ path: 'breakGlass', message: expect.stringContaining('breakGlass.allowed') }]);
    }
    expect(await broker.prisma.accessRequest.count({ where: { agentId: other.id } })).toBe(0);
    expect(await broker.prisma.grant.count({ where: { agentId: other.id } })).toBe(0);
    const audited = await refusals(other.id);
    expect(audited).toHaveLength(3);
    expect(audited[0]).toMatchObject({
      actor: `agent:${other.id}`,
      requestId: null,
      data: { resource: 'crm.customers', columns: ['name', 'email'], duration: '1h', reason: REASON, code: 'BREAK_GLASS_NOT_ALLOWED' },
    });
    // Without the flag the same agent is decided as usual.
    expect((await other.call('POST', '/v1/access-requests', { ...PII_1H, breakGlass: false })).body.status).toBe('pending');
  });

  it('acts for a user only when a live delegation proves them: break-glass does not wait for consent', async () => {
    const p = await people(broker, { dana: ['support'], eve: ['support'] });
    await delegate(broker, oncall, p.dana.id);
    const proven = await oncall.call('POST', '/v1/access-requests', { ...PII_1H, onBehalfOf: p.dana.id });
    expect(proven.body).toMatchObject({ status: 'approved', onBehalfOf: p.dana.id, decision: { breakGlass: true } });
    const alert = await eventually(async () => fake.of('chat.postMessage', proven.body.id).find((c) => c.body.channel === ALERTS));
    expect(visibleText(alert.body)).toContain(p.dana.id);

    const unproven = await oncall.call('POST', '/v1/access-requests', { ...PII_1H, onBehalfOf: p.eve.id });
    expectError(unproven, 403, 'DELEGATION_REQUIRED');
    expect(unproven.body.error.message).toMatch(/^Break-glass does not wait for consent/);
    expect(fake.calls.filter((c) => c.body.channel === p.eve.slack)).toEqual([]);
  });

  it('is answered the same by the dry run', async () => {
    const cases: Array<[TestAgent, Record<string, unknown>]> = [
      [oncall, PII_1H],
      [oncall, { ...PII_1H, columns: ['id', 'name'], duration: '15m' }],
      [oncall, { ...PII_1H, columns: ['name', 'ssn'] }],
      [other, PII_1H],
    ];
    for (const [agent, body] of cases) {
      const dry = await broker.admin('POST', '/v1/admin/policy/evaluate', { ...body, agentId: agent.id });
      const real = await agent.call('POST', '/v1/access-requests', body);
      if (real.status !== 201) {
        expect({ status: dry.status, code: dry.body.error.code }).toEqual({ status: real.status, code: real.body.error.code });
        continue;
      }
      expect(dry.status).toBe(200);
      expect({ status: dry.body.status, decision: dry.body.decision }).toEqual({ status: real.body.status, decision: real.body.decision });
    }
    const dry = await broker.admin('POST', '/v1/admin/policy/evaluate', { ...PII_1H, agentId: oncall.id });
    expect(dry.body).toMatchObject({ status: 'approved', duration: '10m', decision: { breakGlass: true } });
    // A refused dry run audits nothing: only a real attempt is one.
    const before = (await refusals(other.id)).length;
    expectError(await broker.admin('POST', '/v1/admin/policy/evaluate', { ...PII_1H, agentId: other.id }), 403, 'BREAK_GLASS_NOT_ALLOWED');
    expect(await refusals(other.id)).toHaveLength(before);
  });

  it('waits in the reviews until acknowledged with a comment, once', async () => {
    const first = (await oncall.call('POST', '/v1/access-requests', { ...PII_1H, reason: 'review me 1' })).body;
    const second = (await oncall.call('POST', '/v1/access-requests', { ...PII_1H, reason: 'review me 2' })).body;

    const open = async () => {
      const ids: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await broker.admin('GET', `/v1/admin/reviews?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(page.status).toBe(200);
        ids.push(...page.body.items.map((item: { id: string }) => item.id));
        cursor = page.body.nextCursor;
      } while (cursor);
      return ids;
    };
    const before = await open();
    expect(before).toEqual(expect.arrayContaining([first.id, second.id]));
    expect(new Set(before).size).toBe(before.length);

    const listed = (await broker.admin('GET', '/v1/admin/reviews?limit=200')).body.items.find((item: { id: string }) => item.id === first.id);
    expect(listed).toMatchObject({
      id: first.id,
      status: 'approved',
      decision: { breakGlass: true },
      grant: { requestId: first.id, status: 'active' },
      review: {
        status: 'open',
        at: first.createdAt,
        agent: { id: oncall.id, name: oncall.name },
        onBehalfOf: null,
        resource: 'crm.customers',
        actions: ['read'],
        columns: ['name', 'email'],
        duration: '10m',
        reason: 'review me 1',
      },
    });
    expect(listed.grant.token).toBeUndefined();

    expectError(await broker.admin('POST', `/v1/admin/access-requests/${first.id}/acknowledge`, {}), 400, 'VALIDATION_FAILED');
    expectError(await broker.admin('POST', `/v1/admin/access-requests/${first.id}/acknowledge`, { comment: '   ' }), 400, 'VALIDATION_FAILED');

    const ack = await broker.admin('POST', `/v1/admin/access-requests/${first.id}/acknowledge`, {
      comment: 'Checked with the on-call lead: INC-77.',
    });
    expect(ack.status).toBe(200);
    expect(ack.body).toMatchObject({
      id: first.id,
      review: { status: 'acknowledged', acknowledgedBy: 'admin:ops', comment: 'Checked with the on-call lead: INC-77.' },
    });

    const after = await open();
    expect(after).not.toContain(first.id);
    expect(after).toContain(second.id);
    const acknowledged = (await broker.admin('GET', '/v1/admin/reviews?status=acknowledged&limit=200')).body.items;
    expect(acknowledged.map((item: { id: string }) => item.id)).toEqual([first.id]);

    const again = await broker.admin('POST', `/v1/admin/access-requests/${first.id}/acknowledge`, { comment: 'twice' });
    expectError(again, 409, 'NOT_AWAITING_REVIEW');
    expect(again.body.error.message).toContain('already acknowledged by admin:ops');

    const row = await broker.prisma.accessRequest.findUniqueOrThrow({ where: { id: first.id } });
    expect(row).toMatchObject({ review: 'acknowledged', reviewedBy: 'admin:ops', reviewComment: 'Checked with the on-call lead: INC-77.' });
    const acks = (await events(first.id)).filter((e) => e.type === 'access_request.acknowledged');
    expect(acks).toEqual([
      expect.objectContaining({ actor: 'admin:ops', data: expect.objectContaining({ comment: 'Checked with the on-call lead: INC-77.' }) }),
    ]);
    // The request's own view (agent and admin) says so too.
    expect((await oncall.call('GET', `/v1/access-requests/${first.id}`)).body.review).toMatchObject({ status: 'acknowledged' });
  });

  it('is an option of the SDK: a grant at once, or a ForbiddenError naming BREAK_GLASS_NOT_ALLOWED', async () => {
    const client = async (attributes: Record<string, string>) => {
      const { privateJwk, publicJwk } = await generateAgentKeyPair();
      const res = await broker.admin('POST', '/v1/admin/agents', { name: `sdk-${randomUUID().slice(0, 8)}`, publicJwk, attributes });
      return new GatehouseAgent({ brokerUrl: broker.url, agentId: res.body.id, privateKey: privateJwk });
    };
    const ask = { resource: 'crm.customers', actions: ['read'], columns: ['email'], duration: '30m', reason: 'Outage INC-78', breakGlass: true };
    const granted = await (await client({ oncall: 'true' })).requestAccess(ask);
    expect(granted.status).toBe('approved');
    if (granted.status !== 'approved') return;
    expect(granted.request.decision).toMatchObject({ breakGlass: true, rules: ['pii-needs-owner', 'break-glass'] });
    expect(granted.request.review).toEqual({ status: 'open' });
    const { payload } = await verifyGrantToken(broker, granted.grant.token);
    expect(payload.exp! - payload.iat!).toBe(600);

    const refused = await (await client({ oncall: 'no' })).requestAccess(ask).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ForbiddenError);
    expect(refused).toMatchObject({ code: 'BREAK_GLASS_NOT_ALLOWED', status: 403 });
  });

  it('answers 404 for an unknown request, 409 for one that is not break-glass, 400 for a bad query', async () => {
    expectError(await broker.admin('POST', `/v1/admin/access-requests/${randomUUID()}/acknowledge`, { comment: 'x' }), 404, 'REQUEST_NOT_FOUND');
    expectError(await broker.admin('POST', '/v1/admin/access-requests/not-a-uuid/acknowledge', { comment: 'x' }), 404, 'REQUEST_NOT_FOUND');
    const plain = await oncall.call('POST', '/v1/access-requests', { ...PII_1H, breakGlass: undefined, columns: ['id'], duration: '15m' });
    expect(plain.body.status).toBe('approved');
    const res = await broker.admin('POST', `/v1/admin/access-requests/${plain.body.id}/acknowledge`, { comment: 'x' });
    expectError(res, 409, 'NOT_AWAITING_REVIEW');
    expect(res.body.error.message).toContain('not a break-glass request');
    expectError(await broker.admin('GET', '/v1/admin/reviews?status=closed'), 400, 'VALIDATION_FAILED');
    expectError(await broker.admin('GET', '/v1/admin/reviews?cursor=bm9wZQ'), 400, 'VALIDATION_FAILED');
    expectError(await oncall.call('POST', '/v1/access-requests', { ...PII_1H, breakGlass: 'yes' }), 400, 'VALIDATION_FAILED');
    expect((await broker.admin('GET', '/v1/admin/reviews')).status).toBe(200);
    expect((await broker.admin('GET', '/v1/admin/policy')).body.breakGlass).toEqual({
      maxDurationSeconds: 600,
      allowed: { agentAttributes: { oncall: 'true' } },
    });
    expectError(await oncall.call('GET', '/v1/admin/reviews'), 401, 'INVALID_ADMIN_TOKEN');
  });
});

describe('break-glass without Slack', () => {
  it('logs the alert at warn, and refuses break-glass where the policy has no breakGlass block', async () => {
    const scratch = await createScratchDatabase();
    const broker = await startBroker({ DATABASE_URL: scratch.url, GATEHOUSE_POLICY_FILE: POLICY });
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const agent = await registerAgent(broker, { attributes: { oncall: 'true' } });
      const res = await agent.call('POST', '/v1/access-requests', PII_1H);
      expect(res.body).toMatchObject({ status: 'approved', decision: { breakGlass: true } });
      const logged = warn.mock.calls.map(([entry]) => entry as { msg?: string; alert?: Record<string, string> }).find((entry) => entry?.alert);
      expect(logged).toMatchObject({
        msg: `Break-glass access: ${agent.name} on crm.customers`,
        alert: { id: `break-glass-${res.body.id}`, Agent: `${agent.name} (${agent.id})`, Resource: 'crm.customers', Reason: REASON },
      });
      expect(logged!.alert!.Request).toContain(res.body.id);
    } finally {
      warn.mockRestore();
      await broker.close();
    }

    const plain = await startBroker({ DATABASE_URL: scratch.url, GATEHOUSE_POLICY_FILE: 'test/fixtures/policy.yaml' });
    try {
      const agent = await registerAgent(plain, { attributes: { oncall: 'true' } });
      const res = await agent.call('POST', '/v1/access-requests', PII_1H);
      expectError(res, 403, 'BREAK_GLASS_NOT_ALLOWED');
      expect(res.body.error.message).toContain('the policy has no breakGlass block');
    } finally {
      await plain.close();
      await scratch.drop();
    }
  });
});
