import { Broker, eventually, putUser, registerAgent, TestAgent } from '../support/broker';
import { ask, askFor, delegate, expectError, introspect, sleep } from '../support/flows';
import { FakeSlack } from '../support/fake-slack';
import { CHANNEL, startSlackBroker, visibleText } from '../support/slack';

// Baselines, anomalies and suspension through the real API, Postgres and Redis, with Slack faked.
// History is seeded with real auto-approved requests wherever the real clock allows; the two kinds
// that need another time (unusual_hour) or spread-out minutes (burst) write the baseline row the
// submit statement writes, with the counters the domain's `observe` would have produced.

const ALERTS = 'C0ALERTS';
const HABIT = { resource: 'crm.customers', actions: ['read'], columns: ['id', 'name'], duration: '10m', reason: 'answer a ticket' };

describe('behaviour: baselines, anomalies, suspension', () => {
  let broker: Broker;
  let fake: FakeSlack;

  beforeAll(async () => {
    ({ broker, fake } = await startSlackBroker({ GATEHOUSE_POLICY_FILE: 'test/fixtures/behaviour-policy.yaml', SLACK_ALERTS_CHANNEL: ALERTS }));
    await putUser(broker, 'alice', ['support']);
    await putUser(broker, 'ceo', ['board']);
  });
  afterAll(async () => {
    await broker?.close();
    await fake?.stop();
  });

  /** An agent with 20 approved habitual requests for alice: its baseline has just come of age. */
  async function habitual(): Promise<TestAgent> {
    const agent = await registerAgent(broker);
    await delegate(broker, agent, 'alice');
    for (let i = 0; i < 20; i++) {
      const body = await askFor(agent, 'approved', { ...HABIT, onBehalfOf: 'alice' });
      expect(body.decision.anomalies).toEqual([]);
    }
    return agent;
  }

  /** Writes a baseline as the submit statement would (one shard), for what real time cannot give in a test. */
  async function seedBaseline(agentId: string, counts: Record<string, number>): Promise<void> {
    await broker.prisma.$executeRaw`INSERT INTO agent_baselines (agent_id, shard, counts, updated_at)
      VALUES (${agentId}::uuid, 0, ${JSON.stringify(counts)}::jsonb, now())`;
  }

  const codes = (body: any) => body.decision.anomalies.map((a: any) => a.code).sort();

  it('stays quiet while young, then learns: a new resource goes to a person with the reason shown everywhere', async () => {
    const young = await registerAgent(broker);
    for (let i = 0; i < 5; i++) await askFor(young, 'approved', HABIT);
    const early = await askFor(young, 'approved', { ...HABIT, resource: 'billing.invoices', columns: ['id', 'amount'] });
    expect(early.decision.anomalies).toEqual([]);

    const agent = await habitual();
    const body = await askFor(agent, 'pending', { ...HABIT, resource: 'billing.invoices', columns: ['id', 'amount'] });
    expect(body.decision.rules).toEqual(['unusual-needs-a-person']);
    expect(body.decision.anomalies).toEqual([{ code: 'new_resource', detail: 'first time this agent asks for billing.invoices' }]);
    expect(body.approval).toMatchObject({ kind: 'approvers', approvers: 'finance' });

    // The admin detail and the dry run say the same.
    const detail = await broker.admin('GET', `/v1/admin/access-requests/${body.id}`);
    expect(detail.body.decision.anomalies).toEqual(body.decision.anomalies);
    expect(detail.body.explanation.anomalies).toEqual(body.decision.anomalies);
    const dry = await broker.admin('POST', '/v1/admin/policy/evaluate', {
      agentId: agent.id,
      ...HABIT,
      resource: 'billing.invoices',
      columns: ['id', 'amount'],
    });
    expect(dry.status).toBe(200);
    // The pending request above taught the baseline: billing.invoices is no longer new.
    expect(dry.body.decision.anomalies).toEqual([]);

    // The approval message in Slack shows what is unusual.
    const post = await eventually(async () => fake.of('chat.postMessage', body.id).find((c) => c.body.channel === CHANNEL));
    expect(visibleText(post.body)).toContain('Unusual for this agent');
    expect(visibleText(post.body)).toContain('first time this agent asks for billing.invoices');
  });

  it('new_columns and sensitivity_jump: columns it never read, more sensitive than ever', async () => {
    const agent = await habitual();
    const company = await askFor(agent, 'pending', { ...HABIT, columns: ['id', 'company'], onBehalfOf: 'alice' });
    expect(company.decision.anomalies).toEqual([
      { code: 'new_columns', detail: 'asks for company on crm.customers, it has only ever asked for id, name' },
    ]);
    const email = await askFor(agent, 'pending', { ...HABIT, columns: ['id', 'email'], onBehalfOf: 'alice' });
    expect(codes(email)).toEqual(['new_columns', 'sensitivity_jump']);
    expect(email.decision.anomalies.find((a: any) => a.code === 'sensitivity_jump').detail).toBe('pii, it has only ever had internal');
    // The habit itself is still approved at once, and its risk score is not raised.
    const usual = await askFor(agent, 'approved', { ...HABIT, onBehalfOf: 'alice' });
    expect(usual.decision.riskScore).toBeLessThan(email.decision.riskScore);
  });

  it('new_user: first time it acts for someone', async () => {
    const agent = await habitual();
    await delegate(broker, agent, 'ceo');
    const body = await askFor(agent, 'pending', { ...HABIT, onBehalfOf: 'ceo' });
    expect(body.decision.anomalies).toEqual([{ code: 'new_user', detail: 'first time it acts for ceo@example.com' }]);
  });

  it('unusual_hour: far from the hours it works', async () => {
    const agent = await registerAgent(broker);
    const hour = new Date().getUTCHours();
    const works = (hour + 12) % 24;
    await seedBaseline(agent.id, {
      n: 40,
      m: 40,
      'r:crm.customers': 40,
      'p:crm.customers:id': 40,
      'p:crm.customers:name': 40,
      [`h:${works}`]: 40,
      's:internal': 40,
    });
    const body = await askFor(agent, 'pending', HABIT);
    expect(codes(body)).toEqual(['unusual_hour']);
    const pad = (h: number) => `${String(h).padStart(2, '0')}:00`;
    expect(body.decision.anomalies[0].detail).toMatch(new RegExp(`^\\d{2}:\\d{2} UTC, it works ${pad(works)}–${pad((works + 1) % 24)}$`));
  });

  it('burst: many more requests in a minute than it usually makes', async () => {
    const agent = await registerAgent(broker);
    const hour = new Date().getUTCHours();
    // 40 requests, each in a minute of its own, at this hour: its usual is one a minute.
    await seedBaseline(agent.id, {
      n: 40,
      m: 40,
      'r:crm.customers': 40,
      'p:crm.customers:id': 40,
      'p:crm.customers:name': 40,
      [`h:${hour}`]: 40,
      's:internal': 40,
    });
    // Ten requests must land in one minute.
    if (new Date().getUTCSeconds() > 40) await sleep((61 - new Date().getUTCSeconds()) * 1000);
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push((await ask(agent, HABIT)).body);
    expect(answers.slice(0, 9).map((b) => b.status)).toEqual(Array(9).fill('approved'));
    expect(answers[9].status).toBe('pending');
    expect(answers[9].decision.anomalies).toEqual([{ code: 'burst', detail: '10 requests in the last minute, its usual is 1' }]);
  });

  it('concurrent submits of one agent lose no observation', async () => {
    const agent = await registerAgent(broker);
    const replies = await Promise.all(Array.from({ length: 30 }, () => ask(agent, HABIT)));
    expect(replies.map((r) => r.status)).toEqual(Array(30).fill(201));
    const baseline = await broker.admin('GET', `/v1/admin/agents/${agent.id}/baseline`);
    expect(baseline.body.requests).toBe(30);
    expect(baseline.body.resources).toEqual([
      {
        resource: 'crm.customers',
        requests: 30,
        parts: [
          { name: 'id', requests: 30 },
          { name: 'name', requests: 30 },
        ],
      },
    ]);
  });

  it('GET /v1/admin/agents/{id}/baseline shows what is normal, readable', async () => {
    const agent = await habitual();
    const res = await broker.admin('GET', `/v1/admin/agents/${agent.id}/baseline`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      agentId: agent.id,
      minHistory: 20,
      requests: 20,
      young: false,
      resources: [{ resource: 'crm.customers', requests: 20 }],
      users: [{ id: 'alice', requests: 20 }],
      highestSensitivity: 'internal',
      hours: { timeZone: 'UTC' },
    });
    expect(res.body.hours.histogram).toHaveLength(24);
    expect(res.body.usualPerMinute).toBeGreaterThanOrEqual(1);
    const fresh = await registerAgent(broker);
    expect((await broker.admin('GET', `/v1/admin/agents/${fresh.id}/baseline`)).body).toMatchObject({ requests: 0, young: true, resources: [] });
    expectError(await broker.admin('GET', '/v1/admin/agents/00000000-0000-4000-8000-000000000000/baseline'), 404, 'AGENT_NOT_FOUND');
  });

  it('GET /v1/admin/anomalies: anomalous decisions, newest first, by agent, in pages', async () => {
    const agent = await habitual();
    const first = await askFor(agent, 'pending', { ...HABIT, resource: 'billing.invoices', columns: ['id'] });
    const second = await askFor(agent, 'pending', { ...HABIT, columns: ['id', 'company'] });
    const page = await broker.admin('GET', `/v1/admin/anomalies?agentId=${agent.id}&limit=1`);
    expect(page.status).toBe(200);
    expect(page.body.items).toEqual([
      {
        requestId: second.id,
        agentId: agent.id,
        resource: 'crm.customers',
        status: 'pending',
        outcome: 'require_approval',
        riskScore: second.decision.riskScore,
        anomalies: second.decision.anomalies,
        createdAt: second.createdAt,
      },
    ]);
    const next = await broker.admin('GET', `/v1/admin/anomalies?agentId=${agent.id}&limit=1&cursor=${page.body.nextCursor}`);
    expect(next.body.items.map((i: any) => i.requestId)).toEqual([first.id]);
    const last = await broker.admin('GET', `/v1/admin/anomalies?agentId=${agent.id}&limit=1&cursor=${next.body.nextCursor}`);
    expect(last.body.items).toEqual([]);
    expectError(await broker.admin('GET', '/v1/admin/anomalies?cursor=bogus'), 400, 'VALIDATION_FAILED');
    expectError(await broker.admin('GET', '/v1/admin/anomalies?agentId=nope'), 400, 'VALIDATION_FAILED');
  });

  it('suspends an agent after three denials in ten minutes: grants revoked, token inactive, alert, audit; an admin resumes it', async () => {
    const agent = await registerAgent(broker);
    const granted = await askFor(agent, 'approved', HABIT);
    expect((await introspect(broker, granted.grant.token)).body.active).toBe(true);

    for (let i = 0; i < 2; i++) await askFor(agent, 'denied', { ...HABIT, columns: ['id', 'ssn'] });
    expect((await broker.admin('GET', `/v1/admin/agents/${agent.id}`)).body.status).toBe('active');
    await askFor(agent, 'denied', { ...HABIT, columns: ['id', 'ssn'] });

    expect((await broker.admin('GET', `/v1/admin/agents/${agent.id}`)).body.status).toBe('suspended');
    expect((await introspect(broker, granted.grant.token)).body.active).toBe(false);
    expectError(await ask(agent, HABIT), 403, 'AGENT_SUSPENDED');

    const events = await broker.prisma.auditEvent.findMany({ where: { agentId: agent.id, type: 'agent.suspended' } });
    expect(events).toHaveLength(1);
    expect(events[0].actor).toBe('gatehouse');
    expect(events[0].data).toEqual({
      revokedGrants: [granted.grant.id],
      reason: '3 denied requests within 10m (defaults.anomaly.suspendAfter)',
    });
    const alert = await eventually(async () =>
      fake.of('chat.postMessage').find((c) => c.body.channel === ALERTS && JSON.stringify(c.body).includes(agent.id)),
    );
    expect(visibleText(alert.body)).toContain(`Agent suspended for its behaviour: ${agent.name}`);
    expect(visibleText(alert.body)).toContain('3 denied requests within 10m');

    const resumed = await broker.admin('POST', `/v1/admin/agents/${agent.id}/resume`);
    expect(resumed.body.status).toBe('active');
    // Counting starts afresh after a resume: one more denial does not suspend it again.
    await askFor(agent, 'approved', HABIT);
    await askFor(agent, 'denied', { ...HABIT, columns: ['id', 'ssn'] });
    expect((await broker.admin('GET', `/v1/admin/agents/${agent.id}`)).body.status).toBe('active');
  });

  it('suspends an agent after four anomalous requests in ten minutes', async () => {
    const agent = await habitual();
    await delegate(broker, agent, 'ceo');
    await askFor(agent, 'pending', { ...HABIT, resource: 'billing.invoices', columns: ['id'] });
    await askFor(agent, 'pending', { ...HABIT, columns: ['id', 'company'] });
    await askFor(agent, 'pending', { ...HABIT, columns: ['id', 'email'] });
    expect((await broker.admin('GET', `/v1/admin/agents/${agent.id}`)).body.status).toBe('active');
    await askFor(agent, 'pending', { ...HABIT, onBehalfOf: 'ceo' });
    expect((await broker.admin('GET', `/v1/admin/agents/${agent.id}`)).body.status).toBe('suspended');
    const [event] = await broker.prisma.auditEvent.findMany({ where: { agentId: agent.id, type: 'agent.suspended' } });
    expect(event).toMatchObject({ actor: 'gatehouse', data: { reason: '4 anomalous requests within 10m (defaults.anomaly.suspendAfter)' } });
  });

  it('a dry run does not count towards the minute, so it cannot make a burst', async () => {
    const agent = await registerAgent(broker);
    const hour = new Date().getUTCHours();
    await seedBaseline(agent.id, {
      n: 40,
      m: 40,
      'r:crm.customers': 40,
      'p:crm.customers:id': 40,
      'p:crm.customers:name': 40,
      [`h:${hour}`]: 40,
      's:internal': 40,
    });
    if (new Date().getUTCSeconds() > 40) await sleep((61 - new Date().getUTCSeconds()) * 1000);
    for (let i = 0; i < 12; i++) {
      const dry = await broker.admin('POST', '/v1/admin/policy/evaluate', { agentId: agent.id, ...HABIT });
      expect(dry.body.decision.anomalies).toEqual([]);
    }
    expect((await askFor(agent, 'approved', HABIT)).decision.anomalies).toEqual([]);
  });
});
