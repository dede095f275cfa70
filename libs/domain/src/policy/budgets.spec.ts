import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { budgetsSelecting, budgetsThatCanChange, BudgetUsage, decideWithBudgets, usageNeeds } from './budgets';
import { evaluatePolicy, EvaluationInput } from './evaluate';
import { lintPolicy } from './lint';
import { parsePolicy, PolicyError } from './parse';
import { checkTestsAgainstPolicy, parsePolicyTests } from './policy-test';
import { runPolicyCase, runPolicyTests } from './policy-test.run';

const POLICY = `
version: 1
defaults: { maxDuration: 1h, approvers: security }
resources:
  crm.customers:
    owners: crm-owners
    columns: { id: public, name: internal, email: pii, ssn: restricted }
  docs.wiki: { defaultSensitivity: internal }
rules:
  - id: no-restricted
    effect: deny
    when: { sensitivity: { atLeast: restricted } }
  - id: reads
    effect: approve
    when: { actions: [read] }
    maxDuration: 30m
  - id: writes
    effect: require_approval
    when: { actions: [write] }
    approvers: writers
budgets:
  - id: support-bots
    when: { agentAttributes: { team: support } }
    liveGrants: 3
    requestsPerHour: 100
    grantedTimePerDay: { atLeast: pii, max: 2h }
    effect: require_approval
    message: Support bots hold at most three grants at once.
  - id: night-shift
    when: { agents: [night-bot] }
    liveGrants: 1
    effect: deny
`;

const policy = parsePolicy(POLICY, 'p.yaml');
const NOW = new Date('2026-12-04T10:00:00Z');
const IDLE: BudgetUsage = { liveGrants: 0, requestsLastHour: 0, grantedSecondsToday: {} };

function input(overrides: Partial<EvaluationInput> = {}): EvaluationInput {
  return {
    agent: { id: 'a1', name: 'support-bot', attributes: { team: 'support' } },
    resource: 'crm.customers',
    actions: ['read'],
    columns: ['id', 'name'],
    durationSeconds: 900,
    now: NOW,
    ...overrides,
  };
}

/** The decision a request gets with the agent's usage (the broker's steps, without the database). */
function decide(usage: Partial<BudgetUsage>, overrides: Partial<EvaluationInput> = {}) {
  const request = input(overrides);
  const byRules = evaluatePolicy(policy, request);
  const selected = budgetsSelecting(policy, request, byRules);
  return decideWithBudgets(
    policy,
    byRules,
    selected,
    { ...IDLE, ...usage },
    { resource: request.resource, requestedSeconds: request.durationSeconds },
  );
}

function failure(text: string): PolicyError {
  try {
    parsePolicy(text, 'p.yaml');
  } catch (error) {
    return error as PolicyError;
  }
  throw new Error('expected the policy to be refused');
}

describe('budgets: parsing', () => {
  it('reads the contract example', () => {
    expect(policy.budgets[0]).toEqual({
      id: 'support-bots',
      when: { agentAttributes: { team: 'support' } },
      liveGrants: 3,
      requestsPerHour: 100,
      grantedTimePerDay: { atLeast: 'pii', maxSeconds: 7200 },
      effect: 'require_approval',
      message: 'Support bots hold at most three grants at once.',
    });
    expect(parsePolicy('version: 1\n', 'p.yaml').budgets).toEqual([]);
  });

  it('names file, path and reason of every problem', () => {
    const error = failure(`version: 1
resources: { crm.customers: { columns: { id: public } } }
budgets:
  - { id: b1, effect: deny }
  - { id: b1, liveGrants: 0, effect: approve }
  - { id: b2, grantedTimePerDay: { atLeast: secret, max: 2 }, effect: deny }
  - { id: b3, liveGrants: 2, effect: deny, when: { resources: [crm.nope] }, colour: red }
`);
    expect(error.details).toEqual(
      expect.arrayContaining([
        { path: 'budgets[1].liveGrants', message: 'must be at least 1' },
        { path: 'budgets[1].effect', message: 'expected "require_approval" or "deny" (a budget never approves)' },
        { path: 'budgets[2].grantedTimePerDay.max', message: 'expected a duration like 90s, 15m, 1h or PT15M' },
        { path: 'budgets[3].colour', message: expect.stringContaining('unknown key "colour"') },
      ]),
    );
    const later = failure(`version: 1
resources: { crm.customers: { columns: { id: public } } }
budgets:
  - { id: b1, effect: deny }
  - { id: b1, liveGrants: 1, effect: deny }
  - { id: b2, grantedTimePerDay: { atLeast: secret, max: 2h }, effect: deny }
  - { id: b3, liveGrants: 2, effect: deny, when: { resources: [crm.nope] } }
`);
    expect(later.message).toMatch(/^p\.yaml: budgets\[0\]: a budget needs at least one limit/);
    expect(later.details).toEqual([
      { path: 'budgets[0]', message: 'a budget needs at least one limit: liveGrants, requestsPerHour or grantedTimePerDay' },
      { path: 'budgets[1].id', message: 'duplicate budget id "b1"; budgets[0] already uses it' },
      { path: 'budgets[2].grantedTimePerDay.atLeast', message: 'unknown sensitivity "secret"; known: public, internal, pii, restricted' },
      { path: 'budgets[3].when.resources[0]', message: 'unknown resource "crm.nope"; known: crm.customers' },
    ]);
  });
});

describe('budgets: decisions', () => {
  it('selects by the when, like a rule', () => {
    const byRules = evaluatePolicy(policy, input());
    expect(budgetsSelecting(policy, input(), byRules).map((b) => b.id)).toEqual(['support-bots']);
    const other = input({ agent: { id: 'a2', name: 'report-bot', attributes: { team: 'finance' } } });
    expect(budgetsSelecting(policy, other, evaluatePolicy(policy, other))).toEqual([]);
  });

  it('counts the request itself: three live, the fourth goes to the owners', () => {
    expect(decide({ liveGrants: 2 }).decision).toMatchObject({ outcome: 'approve', rules: ['reads'] });
    const { decision, checks } = decide({ liveGrants: 3 });
    expect(decision).toMatchObject({
      outcome: 'require_approval',
      rules: ['budget:support-bots'],
      message: 'Support bots hold at most three grants at once. (budget support-bots: 4 live grants with this request, budget 3)',
      durationSeconds: 900,
      approval: { approvers: 'crm-owners', required: 1, timeoutSeconds: 900, escalateTo: 'security' },
    });
    expect(checks[0].readings.map((r) => [r.limit, r.used, r.over])).toEqual([
      ['liveGrants', 4, true],
      ['requestsPerHour', 1, false],
    ]);
  });

  it('asks the default approvers when the resource has no owners', () => {
    expect(decide({ liveGrants: 3 }, { resource: 'docs.wiki', columns: [] }).decision.approval?.approvers).toBe('security');
  });

  it('requests per hour: the 101st is over', () => {
    expect(decide({ requestsLastHour: 99 }).decision.outcome).toBe('approve');
    expect(decide({ requestsLastHour: 100 }).decision.message).toContain('101 requests in the last hour with this one, budget 100');
  });

  it('granted time per day counts only requests at or above its sensitivity, with their granted duration', () => {
    const pii = { columns: ['email'], durationSeconds: 3600 };
    // 1h 45m today + 30m (the rule clamps 1h to 30m) = 2h 15m > 2h
    expect(decide({ grantedSecondsToday: { pii: 6300 } }, pii).decision.message).toContain('2h15m granted today at pii or above');
    expect(decide({ grantedSecondsToday: { pii: 5400 } }, pii).decision.outcome).toBe('approve');
    // internal data is not limited by a pii budget, however much pii time was granted
    expect(decide({ grantedSecondsToday: { pii: 99_999 } }).decision.outcome).toBe('approve');
  });

  it('never loosens: require_approval stays with a require_approval budget, a deny budget denies it', () => {
    const write = { actions: ['write'] };
    expect(decide({ liveGrants: 9 }, write).decision).toMatchObject({ outcome: 'require_approval', rules: ['writes'] });
    const night = { agent: { id: 'a3', name: 'night-bot', attributes: {} }, actions: ['write'], durationSeconds: 5400 };
    expect(decide({ liveGrants: 1 }, night).decision).toMatchObject({ outcome: 'deny', rules: ['budget:night-shift'], durationSeconds: 5400 });
    expect(decide({ liveGrants: 1 }, night).decision.approval).toBeUndefined();
    expect(decide({ liveGrants: 9 }, { columns: ['ssn'] }).decision).toMatchObject({ outcome: 'deny', rules: ['no-restricted'] });
  });

  it('counts only for budgets that could change the decision, and only what they limit', () => {
    const write = input({ actions: ['write'] });
    const selected = budgetsSelecting(policy, write, evaluatePolicy(policy, write));
    expect(budgetsThatCanChange(selected, evaluatePolicy(policy, write))).toEqual([]);
    expect(usageNeeds(policy.budgets)).toEqual({ liveGrantsUpTo: 3, requestsLastHourUpTo: 100, grantedTimeAtLeast: ['pii'] });
    expect(usageNeeds([])).toEqual({ grantedTimeAtLeast: [] });
  });
});

describe('budgets: lint and policy tests', () => {
  it('warns about a budget that selects no request', () => {
    const dead = parsePolicy(
      `${POLICY}  - { id: never, when: { sensitivity: { atLeast: restricted }, actions: [delete] }, liveGrants: 1, effect: deny }\n`,
      'p.yaml',
    );
    expect(lintPolicy(dead, { maxRequestDurationSeconds: 86400 }).filter((w) => w.path.startsWith('budgets'))).toEqual([
      {
        code: 'never_matches',
        path: 'budgets[2]',
        subject: 'never',
        message: expect.stringContaining('never selects a request: none of its actions [delete]'),
      },
    ]);
  });

  it('warns about a granted-time limit no selected request can reach', () => {
    const wiki = parsePolicy(
      `${POLICY}  - { id: wiki-time, when: { resources: [docs.wiki] }, grantedTimePerDay: { atLeast: pii, max: 1h }, effect: deny }\n`,
      'p.yaml',
    );
    expect(lintPolicy(wiki, { maxRequestDurationSeconds: 86400 }).filter((w) => w.path.startsWith('budgets'))).toEqual([
      {
        code: 'never_matches',
        path: 'budgets[2].grantedTimePerDay',
        subject: 'wiki-time',
        message: 'grantedTimePerDay never applies: no request it selects is rated pii or above',
      },
    ]);
    expect(lintPolicy(policy, { maxRequestDurationSeconds: 86400 })).toEqual([]);
  });

  it('a case gives usage and expects the budget by name', () => {
    const file = parsePolicyTests(
      `cases:
  - name: fourth-grant
    request: { agent: { name: bot, attributes: { team: support } }, resource: crm.customers, actions: [read], columns: [id], duration: 10m, usage: { liveGrants: 3 } }
    expect: { outcome: require_approval, rules: ['budget:support-bots'], approvers: crm-owners }
  - name: pii-time
    request: { agent: { name: bot, attributes: { team: support } }, resource: crm.customers, actions: [read], columns: [email], duration: 30m, usage: { grantedTimeToday: 105m } }
    expect: { outcome: require_approval, rules: ['budget:support-bots'] }
  - name: third-grant
    request: { agent: { name: bot, attributes: { team: support } }, resource: crm.customers, actions: [read], columns: [id], duration: 10m, usage: { liveGrants: 2 } }
    expect: { outcome: approve, rules: [reads] }
`,
      't.test.yaml',
    );
    expect(() => checkTestsAgainstPolicy(file, policy)).not.toThrow();
    const results = file.cases.map((c) => runPolicyCase(policy, c, { maxRequestDurationSeconds: 86400, now: NOW }));
    expect(results.map((r) => r.mismatches)).toEqual([[], [], []]);
    const typo = parsePolicyTests(
      `cases:\n  - name: x\n    request: { agent: { name: b }, resource: crm.customers, actions: [read], duration: 1m }\n    expect: { outcome: deny, rules: ['budget:nope'] }\n`,
      't.yaml',
    );
    expect(() => checkTestsAgainstPolicy(typo, policy)).toThrow(/no rule "budget:nope"/);
  });

  it('the e2e fixture policy passes its own policy tests', () => {
    const dir = join(__dirname, '../../../../test/fixtures');
    const fixture = parsePolicy(readFileSync(join(dir, 'budgets-policy.yaml'), 'utf8'), 'budgets-policy.yaml');
    const tests = parsePolicyTests(readFileSync(join(dir, 'budgets-policy.test.yaml'), 'utf8'), 'budgets-policy.test.yaml');
    checkTestsAgainstPolicy(tests, fixture);
    const failed = runPolicyTests(fixture, tests, { maxRequestDurationSeconds: 86400, now: NOW }).filter((r) => r.mismatches.length > 0);
    expect(failed.map((r) => r.testCase.name)).toEqual([]);
    expect(tests.cases).toHaveLength(7);
  });
});
