import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APPROVAL_NOTIFIER, ApprovalNotifier, JOBS, QUEUES, QueueService } from '@gatehouse/core';
import { Broker, eventually, registerAgent, startBroker, TestAgent } from '../support/broker';
import { askFor, delegate, PII, sleep } from '../support/flows';
import { FakeSlack } from '../support/fake-slack';
import { buttons, CHANNEL, click, people, Person, slackMessage, startSlackBroker, visibleText } from '../support/slack';

jest.setTimeout(25_000);

/** The Slack fixture with short times: remind at 1s, escalate to security at 2s, time out at 4s. */
function shortPolicy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-slack-'));
  const file = join(dir, 'policy.yaml');
  const text = readFileSync('test/fixtures/slack-policy.yaml', 'utf8').replace(
    'approvalTimeout: 15m, approvers: security, remindAfter: 5m, escalateAfter: 10m, escalateTo: security',
    'approvalTimeout: 4s, approvers: security, remindAfter: 1s, escalateAfter: 2s, escalateTo: security',
  );
  expect(text).toContain('remindAfter: 1s');
  writeFileSync(file, text);
  return file;
}

describe('Slack: reminders, escalation, timeouts and outages (short policy times)', () => {
  let broker: Broker;
  let fake: FakeSlack;
  let agent: TestAgent;
  let p: Record<string, Person>;

  const row = (id: string) => broker.prisma.accessRequest.findUnique({ where: { id } });
  const audit = (requestId: string, type: string) => broker.prisma.auditEvent.findMany({ where: { requestId, type } });
  const replies = (ts: string) => fake.aboutTs('chat.postMessage', ts, 'thread_ts');
  const updates = (ts: string) => fake.aboutTs('chat.update', ts, 'ts');
  const topLevelPosts = (requestId: string) => fake.of('chat.postMessage', requestId).filter((c) => !c.body.thread_ts);
  async function posted(requestId: string) {
    await eventually(async () => topLevelPosts(requestId)[0]);
    const stored = await eventually(() => slackMessage(broker, requestId));
    return { slackTs: stored.ts, channel: stored.channel };
  }

  beforeAll(async () => {
    ({ broker, fake } = await startSlackBroker({ GATEHOUSE_POLICY_FILE: shortPolicy() }));
    agent = await registerAgent(broker);
    p = await people(broker, { owner1: ['crm-owners'], owner2: ['crm-owners'], sec: ['security'], user: ['support'] });
    await delegate(broker, agent, p.user.id);
  });
  afterAll(async () => {
    await broker.close();
    await fake.stop();
  });

  it('reminds the approvers in the thread at remindAfter, escalates at escalateAfter, then the escalation group may decide', async () => {
    const created = Date.now();
    const req = await askFor(agent, 'pending', { ...PII, onBehalfOf: p.user.id });
    const { slackTs } = await posted(req.id);
    expect(await row(req.id)).toMatchObject({ escalateTo: 'security', escalatedAt: null });

    // Before escalation, security is not an approver of a crm-owners request.
    await click(broker, p.sec.slack, 'approve', req.id);
    await eventually(async () => (await audit(req.id, 'approval.refused')).length === 1);
    expect((await audit(req.id, 'approval.refused'))[0].data).toMatchObject({ code: 'NOT_AN_APPROVER' });

    const reminder = await eventually(async () => replies(slackTs!).find((c) => c.body.text.includes('Reminder')), 5000, 50);
    expect(reminder.at - created).toBeGreaterThanOrEqual(900);
    expect(reminder.at - created).toBeLessThan(2000);
    expect(reminder.body.text).toContain(`<@${p.owner1.slack}>`);
    expect(reminder.body.text).toContain(`<@${p.owner2.slack}>`);
    expect(reminder.body.text).not.toContain(p.user.slack);
    expect(reminder.body.text).toContain('still needs 1 approval');

    const escalation = await eventually(async () => replies(slackTs!).find((c) => c.body.text.includes('Escalated')), 5000, 50);
    expect(escalation.at - created).toBeGreaterThanOrEqual(1900);
    expect(escalation.at - created).toBeLessThan(3500);
    expect(escalation.body.text).toContain(`<@${p.sec.slack}>`);
    expect(escalation.body.text).toContain('may now approve or deny');
    expect(await row(req.id)).toMatchObject({ status: 'pending', escalatedAt: expect.any(Date) });
    expect(await audit(req.id, 'request.escalated')).toHaveLength(1);
    const shown = await eventually(async () => updates(slackTs!).find((c) => visibleText(c.body).includes('(escalated)')));
    expect(buttons(shown.body)).toHaveLength(3);
    expect((await agent.call('GET', `/v1/access-requests/${req.id}`)).body.approval).toMatchObject({ escalatedTo: 'security' });

    await click(broker, p.sec.slack, 'approve', req.id);
    const approved = await eventually(async () => ((await row(req.id))?.status === 'approved' ? row(req.id) : undefined));
    expect(approved).toMatchObject({ decidedBy: `user:${p.sec.id}` });
    expect(await broker.prisma.grant.count({ where: { requestId: req.id } })).toBe(1);
  });

  it('times out at approvalTimeout: the message says so, and a click afterwards changes nothing and says why', async () => {
    const created = Date.now();
    const req = await askFor(agent, 'pending', PII);
    const { slackTs } = await posted(req.id);
    const final = await eventually(async () => updates(slackTs!).find((c) => visibleText(c.body).includes('Timed out')), 8000, 50);
    expect(final.at - created).toBeGreaterThanOrEqual(3900);
    expect(buttons(final.body)).toEqual([]);
    expect(visibleText(final.body)).toContain('the agent must ask again');
    expect(await row(req.id)).toMatchObject({ status: 'timed_out', decidedBy: 'system' });
    await eventually(async () => replies(slackTs!).find((c) => c.body.text.includes('Timed out')));

    await click(broker, p.owner1.slack, 'approve', req.id);
    const note = await eventually(async () =>
      fake.of('chat.postEphemeral').find((c) => c.body.user === p.owner1.slack && c.body.text.includes('timed out')),
    );
    expect(note.body.text).toContain('no longer pending');
    expect(await row(req.id)).toMatchObject({ status: 'timed_out' });
    expect(await broker.prisma.approval.count({ where: { requestId: req.id } })).toBe(0);
    expect(await broker.prisma.grant.count({ where: { requestId: req.id } })).toBe(0);
    expect(await audit(req.id, 'request.approved')).toHaveLength(0);
  });

  it('while Slack answers 500 the request stays pending and decidable through REST; afterwards one message shows the truth', async () => {
    fake.failNext(3, 500, { method: 'chat.postMessage', when: (body) => !body.thread_ts });
    const req = await askFor(agent, 'pending', PII);
    await eventually(
      async () =>
        fake.calls.filter((c) => c.method === 'chat.postMessage' && c.status === 500 && JSON.stringify(c.body).includes(req.id)).length >= 1,
    );
    expect(await row(req.id)).toMatchObject({ status: 'pending' });
    expect(await slackMessage(broker, req.id)).toBeNull();
    expect((await broker.admin('POST', `/v1/admin/access-requests/${req.id}/approve`, { asUser: p.owner2.id })).status).toBe(200);
    expect(await row(req.id)).toMatchObject({ status: 'approved' });

    const stored = await posted(req.id);
    const failures = fake.calls.filter((c) => c.status === 500 && JSON.stringify(c.body).includes(req.id));
    expect(failures).toHaveLength(3);
    // The queued edit and thread reply follow the post (within about a second); nothing more may appear.
    await eventually(async () => replies(stored.slackTs!).find((c) => c.body.text.includes('Approved by')), 4000);
    await sleep(1000);
    const posts = topLevelPosts(req.id);
    expect(posts).toHaveLength(1);
    expect(posts[0].body.channel).toBe(CHANNEL);
    const latest = [...posts, ...updates(stored.slackTs!)].pop()!;
    expect(visibleText(latest.body)).toContain('Approved');
    expect(buttons(latest.body)).toEqual([]);
    expect(replies(stored.slackTs!).filter((c) => c.body.text.includes('Approved by'))).toHaveLength(1);
  });

  it('a post that Slack refused for good is posted again by the reconciler, once', async () => {
    fake.refuseNext(1, 'channel_not_found', { method: 'chat.postMessage', when: (body) => !body.thread_ts });
    const req = await askFor(agent, 'pending', PII);
    const job = () => broker.app.get(QueueService).queues[QUEUES.slack].getJob(JOBS.slackPost.id({ requestId: req.id }));
    await eventually(async () => (await (await job())?.getState()) === 'failed');
    expect(await slackMessage(broker, req.id)).toBeNull();
    // Half a minute later the reconciler's Slack step finds the request without its message.
    const notifier = broker.app.get<ApprovalNotifier>(APPROVAL_NOTIFIER);
    await notifier.reconcile!(new Date(Date.now() + 31_000));
    const stored = await posted(req.id);
    expect(stored.channel).toBe(CHANNEL);
    await notifier.reconcile!(new Date(Date.now() + 31_000));
    await sleep(500);
    expect(topLevelPosts(req.id)).toHaveLength(1);
  });

  it('says so in the thread and on the message when a granted request expires', async () => {
    const req = await askFor(agent, 'pending', { ...PII, duration: '2s' });
    const { slackTs } = await posted(req.id);
    await click(broker, p.owner1.slack, 'approve', req.id);
    await eventually(async () => replies(slackTs!).find((c) => c.body.text.includes('expired')), 8000);
    await eventually(async () => updates(slackTs!).find((c) => visibleText(c.body).includes(', expired.')));
    expect(await broker.prisma.grant.findUnique({ where: { requestId: req.id } })).toMatchObject({ status: 'expired' });
  });

  it("honours a 429's Retry-After before posting, and posts once", async () => {
    // The next approval message, not a late thread reply of an earlier test.
    fake.failNext(1, 429, { method: 'chat.postMessage', retryAfter: 2, when: (body) => !body.thread_ts });
    const req = await askFor(agent, 'pending', PII);
    const limited = await eventually(async () => fake.calls.find((c) => c.status === 429 && JSON.stringify(c.body).includes(req.id)));
    await posted(req.id);
    const post = topLevelPosts(req.id)[0];
    expect(post.at - limited.at).toBeGreaterThanOrEqual(1900);
    expect(post.at - limited.at).toBeLessThan(4500);
    expect(topLevelPosts(req.id)).toHaveLength(1);
    expect(await row(req.id)).toMatchObject({ status: 'pending' });
  });
});

describe('reminders and escalation without Slack', () => {
  it('still escalate on time (audited, to the log), and the escalation group may then decide through REST', async () => {
    const broker = await startBroker({ GATEHOUSE_POLICY_FILE: shortPolicy() });
    try {
      const agent = await registerAgent(broker);
      const { sec } = await people(broker, { sec: ['security'] });
      const req = await askFor(agent, 'pending', PII);
      const early = await broker.admin('POST', `/v1/admin/access-requests/${req.id}/approve`, { asUser: sec.id });
      expect(early.status).toBe(403);
      await eventually(async () => (await broker.prisma.auditEvent.count({ where: { requestId: req.id, type: 'request.escalated' } })) === 1, 5000);
      const late = await broker.admin('POST', `/v1/admin/access-requests/${req.id}/approve`, { asUser: sec.id });
      expect(late.status).toBe(200);
      expect(late.body.status).toBe('approved');
    } finally {
      await broker.close();
    }
  });
});
