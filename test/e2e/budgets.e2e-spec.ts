import { Broker, registerAgent, startBroker, TestAgent } from '../support/broker';
import { ask, askFor, LOW_RISK, sleep, verifyGrantToken } from '../support/flows';
import { FakeSlack } from '../support/fake-slack';
import { answerConsent, people, settledRequest, startSlackBroker } from '../support/slack';

// Policy budgets against the real Postgres: each limit with both effects, what frees a live-grant
// budget, concurrent requests racing for the last unit, the dry run, and an agent no budget selects.
// The fixture policy (test/fixtures/budgets-policy.yaml) approves reads up to pii at once.

const PII = { ...LOW_RISK, columns: ['id', 'email'], duration: '20m' };

describe('budgets', () => {
  let broker: Broker;
  const agentWith = (budget: string) => registerAgent(broker, { attributes: { budget } });
  const release = (agent: TestAgent, grantId: string) => agent.call('POST', `/v1/grants/${grantId}/release`);
  const liveGrants = (agent: TestAgent) =>
    broker.prisma.grant.count({ where: { agentId: agent.id, status: 'active', expiresAt: { gt: new Date() } } });

  beforeAll(async () => {
    broker = await startBroker({ GATEHOUSE_POLICY_FILE: 'test/fixtures/budgets-policy.yaml' });
  });
  afterAll(() => broker.close());

  describe('liveGrants', () => {
    it('require_approval: the third live grant goes to the owners, naming the budget, and is stored and audited so', async () => {
      const agent = await agentWith('live-ask');
      const first = await askFor(agent, 'approved');
      await askFor(agent, 'approved');
      const third = await ask(agent);
      expect(third.status).toBe(201);
      expect(third.body).toMatchObject({
        status: 'pending',
        decision: {
          outcome: 'require_approval',
          rules: ['budget:live-ask'],
          message: 'Two grants at once at most. (budget live-ask: 3 live grants with this request, budget 2)',
        },
        approval: { kind: 'approvers', approvers: 'crm-owners', required: 1, received: 0 },
      });
      expect(third.body.grant).toBeUndefined();
      const row = await broker.prisma.accessRequest.findUniqueOrThrow({ where: { id: third.body.id } });
      expect(row).toMatchObject({ status: 'pending', approverGroup: 'crm-owners', requiredApprovals: 1 });
      const audit = await broker.prisma.auditEvent.findFirstOrThrow({ where: { requestId: third.body.id, type: 'request.pending' } });
      expect(audit.data).toMatchObject({ rules: ['budget:live-ask'], outcome: 'require_approval' });

      // A released grant frees its unit at once.
      expect((await release(agent, first.grant.id)).status).toBe(200);
      const fourth = await askFor(agent, 'approved');
      expect(fourth.decision.rules).toEqual(['reads']);
      await verifyGrantToken(broker, fourth.grant.token);
      expect(await liveGrants(agent)).toBe(2);
    });

    it('deny: over it, an approve and a require_approval are both denied; an expired grant frees the unit', async () => {
      const agent = await agentWith('live-deny');
      const held = await askFor(agent, 'approved', { duration: '2s' });
      const denied = await askFor(agent, 'denied', { duration: '45m' });
      expect(denied.decision).toMatchObject({ outcome: 'deny', rules: ['budget:live-deny'] });
      expect(denied.decision.message).toBe('Over budget live-deny. (budget live-deny: 2 live grants with this request, budget 1)');
      // Denied, the request is recorded with the duration it asked for, as any denial.
      expect(denied.duration).toBe('45m');
      const write = await askFor(agent, 'denied', { actions: ['write'] });
      expect(write.decision.rules).toEqual(['budget:live-deny']);

      await sleep(Math.max(0, new Date(held.grant.expiresAt).getTime() - Date.now()) + 100);
      const after = await askFor(agent, 'approved');
      expect(after.decision.rules).toEqual(['reads']);
    });
  });

  describe('requestsPerHour', () => {
    it('require_approval: the fourth request of the hour is asked, whatever came of the first three', async () => {
      const agent = await agentWith('hourly-ask');
      await askFor(agent, 'denied', { columns: ['ssn'] });
      await askFor(agent, 'pending', { actions: ['write'] });
      await askFor(agent, 'approved');
      const fourth = await askFor(agent, 'pending');
      expect(fourth.decision).toMatchObject({ rules: ['budget:hourly-ask'] });
      expect(fourth.decision.message).toBe('Over budget hourly-ask. (budget hourly-ask: 4 requests in the last hour with this one, budget 3)');
      expect(fourth.approval).toMatchObject({ approvers: 'crm-owners' });
      // The policy still denies what it denies, and names its own rule.
      const ssn = await askFor(agent, 'denied', { columns: ['ssn'] });
      expect(ssn.decision.rules).toEqual(['no-restricted']);
    });

    it('deny: the fourth request of the hour is denied; requests older than an hour do not count', async () => {
      const agent = await agentWith('hourly-deny');
      for (let i = 0; i < 3; i++) await askFor(agent, 'approved');
      const fourth = await askFor(agent, 'denied');
      expect(fourth.decision).toMatchObject({ rules: ['budget:hourly-deny'] });
      expect(fourth.decision.message).toContain('Three requests an hour.');
      // Move the agent's history back past the hour: the next request is inside the budget again.
      await broker.prisma.accessRequest.updateMany({ where: { agentId: agent.id }, data: { createdAt: new Date(Date.now() - 61 * 60_000) } });
      await askFor(agent, 'approved');
    });
  });

  describe('grantedTimePerDay', () => {
    it('require_approval: pii time today over 40m is asked; internal data is not limited by it', async () => {
      const agent = await agentWith('pii-time-ask');
      await askFor(agent, 'approved', PII);
      await askFor(agent, 'approved', PII); // 40m: at the budget, not over it
      const third = await askFor(agent, 'pending', { ...PII, duration: '1m' });
      expect(third.decision).toMatchObject({ rules: ['budget:pii-time-ask'] });
      expect(third.decision.message).toBe(
        'Over budget pii-time-ask. (budget pii-time-ask: 41m granted today at pii or above with this request, budget 40m)',
      );
      await askFor(agent, 'approved', { duration: '30m' });
    });

    it('deny: counts the granted (clamped) duration of grants issued today, released ones included', async () => {
      const agent = await agentWith('pii-time-deny');
      // Asked for 1h, granted 30m (the rule's maxDuration): 30m counts.
      const first = await askFor(agent, 'approved', { ...PII, duration: '1h' });
      expect((await release(agent, first.grant.id)).status).toBe(200);
      await askFor(agent, 'approved', { ...PII, duration: '10m' });
      const over = await askFor(agent, 'denied', { ...PII, duration: '1m' });
      expect(over.decision).toMatchObject({ rules: ['budget:pii-time-deny'] });
      // Grants of an earlier day do not count.
      await broker.prisma.grant.updateMany({ where: { agentId: agent.id }, data: { issuedAt: new Date(Date.now() - 86_400_000) } });
      await askFor(agent, 'approved', { ...PII, duration: '1m' });
    });
  });

  describe('extensions', () => {
    const extend = (agent: TestAgent, grantId: string) =>
      agent.call('POST', `/v1/grants/${grantId}/extend`, { duration: '5m', reason: 'The reply takes longer' });

    it('an extension counts as a request of the hour, like a submit: over the budget it is denied and the grant stays', async () => {
      const agent = await agentWith('hourly-deny');
      const first = await askFor(agent, 'approved');
      await askFor(agent, 'approved');
      const third = await extend(agent, first.grant.id);
      expect(third.status).toBe(201);
      expect(third.body).toMatchObject({ status: 'approved', extends: first.grant.id });
      const fourth = await extend(agent, third.body.grant.id);
      expect(fourth.status).toBe(201);
      expect(fourth.body).toMatchObject({ status: 'denied', decision: { outcome: 'deny', rules: ['budget:hourly-deny'] } });
      expect(fourth.body.decision.message).toBe('Three requests an hour. (budget hourly-deny: 4 requests in the last hour with this one, budget 3)');
      const kept = await broker.prisma.grant.findUniqueOrThrow({ where: { id: third.body.grant.id } });
      expect(kept.status).toBe('active');
    });

    it('the grant an extension replaces is not counted among the live ones', async () => {
      const agent = await agentWith('live-deny');
      const held = await askFor(agent, 'approved');
      const extended = await extend(agent, held.grant.id);
      expect(extended.body).toMatchObject({ status: 'approved', decision: { rules: ['reads'] } });
      await verifyGrantToken(broker, extended.body.grant.token);
      expect(await liveGrants(agent)).toBe(1);
    });
  });

  it('no race: of many parallel requests with one unit left, exactly one is approved, every round', async () => {
    const agent = await agentWith('live-deny');
    for (let round = 0; round < 5; round++) {
      const answers = await Promise.all(Array.from({ length: 8 }, () => ask(agent)));
      expect(answers.map((a) => a.status)).toEqual(Array(8).fill(201));
      const approved = answers.filter((a) => a.body.status === 'approved');
      expect(approved).toHaveLength(1);
      expect(answers.filter((a) => a.body.status === 'denied')).toHaveLength(7);
      expect(await liveGrants(agent)).toBe(1);
      expect((await release(agent, approved[0].body.grant.id)).status).toBe(200);
    }
  });

  it('the dry run shows the budgets and the decision they leave, stores nothing and takes nothing', async () => {
    const agent = await agentWith('live-ask');
    await askFor(agent, 'approved');
    const dry = (body: Record<string, unknown>) => broker.admin('POST', '/v1/admin/policy/evaluate', { ...LOW_RISK, ...body, agentId: agent.id });
    const inside = await dry({});
    expect(inside.status).toBe(200);
    expect(inside.body).toMatchObject({
      status: 'approved',
      decision: { rules: ['reads'] },
      budgets: [{ id: 'live-ask', effect: 'require_approval', over: false, limits: [{ limit: 'liveGrants', used: 2, max: 2, over: false }] }],
    });
    await askFor(agent, 'approved');
    const over = await dry({});
    expect(over.body).toMatchObject({
      status: 'pending',
      decision: { outcome: 'require_approval', rules: ['budget:live-ask'] },
      approval: { kind: 'approvers', approvers: 'crm-owners', required: 1 },
      budgets: [{ id: 'live-ask', over: true, limits: [{ limit: 'liveGrants', used: 3, max: 2, over: true }] }],
    });
    expect(await broker.prisma.accessRequest.count({ where: { agentId: agent.id } })).toBe(2);
    // The submit agrees with the dry run.
    expect((await ask(agent)).body.status).toBe('pending');
  });

  it('an agent no budget selects is unaffected, and its answers carry no budgets', async () => {
    const agent = await registerAgent(broker, { attributes: { team: 'support' } });
    for (let i = 0; i < 6; i++) await askFor(agent, 'approved', PII);
    const dry = await broker.admin('POST', '/v1/admin/policy/evaluate', { ...LOW_RISK, agentId: agent.id });
    expect(dry.body.status).toBe('approved');
    expect(dry.body.budgets).toBeUndefined();
  });

  it('the policy in force lists its budgets', async () => {
    const policy = await broker.admin('GET', '/v1/admin/policy');
    expect(policy.body.budgets.map((b: { id: string }) => b.id)).toEqual([
      'live-ask',
      'live-deny',
      'hourly-ask',
      'hourly-deny',
      'pii-time-ask',
      'pii-time-deny',
    ]);
    expect(policy.body.budgets[4]).toEqual({
      id: 'pii-time-ask',
      when: { agentAttributes: { budget: 'pii-time-ask' } },
      grantedTimePerDay: { atLeast: 'pii', maxSeconds: 2400 },
      effect: 'require_approval',
    });
  });
});

describe('budgets after consent: the policy decides once the user allows, and budgets apply then too', () => {
  let broker: Broker;
  let fake: FakeSlack;
  let user: { id: string; slack: string };

  beforeAll(async () => {
    ({ broker, fake } = await startSlackBroker({ GATEHOUSE_POLICY_FILE: 'test/fixtures/budgets-policy.yaml' }));
    ({ user } = await people(broker, { user: ['support'] }));
  });
  afterAll(async () => {
    await broker.close();
    await fake.stop();
  });

  /** A request for `user` that waits for their consent; they allow it; the row once decided. */
  async function allowed(agent: TestAgent, status: string) {
    const waiting = await askFor(agent, 'pending', { onBehalfOf: user.id });
    expect(waiting.approval).toMatchObject({ kind: 'consent' });
    expect((await answerConsent(broker, user.slack, 'once', waiting.id)).status).toBe(200);
    return settledRequest(broker, waiting.id, status);
  }

  it('a live-grant budget already used up denies the request the user allowed', async () => {
    const agent = await registerAgent(broker, { attributes: { budget: 'live-deny' } });
    await askFor(agent, 'approved');
    const row = await allowed(agent, 'denied');
    expect(row!.decision).toMatchObject({ outcome: 'deny', rules: ['budget:live-deny'] });
    expect(await broker.prisma.grant.count({ where: { agentId: agent.id } })).toBe(1);
  });

  it('granted time today is counted in the consent transaction as in a submit', async () => {
    const agent = await registerAgent(broker, { attributes: { budget: 'pii-time-deny' } });
    await askFor(agent, 'approved', PII);
    await askFor(agent, 'approved', PII);
    const waiting = await askFor(agent, 'pending', { ...PII, duration: '1m', onBehalfOf: user.id });
    expect((await answerConsent(broker, user.slack, 'once', waiting.id)).status).toBe(200);
    const row = await settledRequest(broker, waiting.id, 'denied');
    expect(row!.decision).toMatchObject({ outcome: 'deny', rules: ['budget:pii-time-deny'] });
    expect((row!.decision as { message: string }).message).toContain('41m granted today at pii or above');
  });

  it("the request waiting for consent is counted once among the last hour's", async () => {
    const agent = await registerAgent(broker, { attributes: { budget: 'hourly-deny' } });
    await askFor(agent, 'approved');
    await askFor(agent, 'approved');
    // The third request of the hour: within the budget of three, though it is already a row when decided.
    const row = await allowed(agent, 'approved');
    expect(row!.decision).toMatchObject({ outcome: 'approve', rules: ['reads'] });
  });
});
