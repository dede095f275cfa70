import { AccessError, AccessErrorCode } from '../errors';
import { riskScore } from '../risk';
import { Decision, EvaluationInput, evaluatePolicy } from './evaluate';
import { parsePolicy } from './parse';
import { Policy } from './types';

const policy = parsePolicy(
  `version: 1
defaults: { maxDuration: 1h, approvalTimeout: 15m, approvers: security }
resources:
  crm.customers:
    owners: crm-owners
    columns: { id: public, name: internal, email: pii, phone: pii, ssn: restricted }
  billing.invoices:
    columns: { id: public, amount: internal, card_last4: pii }
rules:
  - id: no-restricted
    effect: deny
    when: { sensitivity: { atLeast: restricted } }
    message: Restricted columns are never granted to agents.
  - id: no-rogue-bot
    effect: deny
    when: { agents: [rogue-bot] }
    message: This agent is blocked.
  - id: low-risk-reads
    effect: approve
    when: { actions: [read], sensitivity: { atMost: internal }, duration: { atMost: 30m } }
  - id: capped-reads
    effect: approve
    when: { actions: [read], sensitivity: { atMost: internal } }
    maxDuration: 20m
  - id: ops-bot
    effect: approve
    when: { agents: [ops-bot], resources: [billing.*] }
  - id: pii-needs-owner
    effect: require_approval
    when: { sensitivity: { atLeast: pii } }
    approvals: 1
    maxDuration: 30m
  - id: writes-need-two
    effect: require_approval
    when: { actions: [write] }
    approvers: owners
    approvals: 2
    maxDuration: 45m
    approvalTimeout: 10m
  - id: phone-needs-privacy
    effect: require_approval
    when: { resources: [crm.customers], actions: [write] }
    approvers: privacy
    approvals: 2
    approvalTimeout: 20m
`,
  'combining.yaml',
);

const WEDNESDAY_NOON = new Date('2025-01-15T12:00:00Z');

function input(overrides: Partial<EvaluationInput> = {}): EvaluationInput {
  return {
    agent: { id: 'agt_1', name: 'report-bot', attributes: {} },
    resource: 'crm.customers',
    actions: ['read'],
    columns: ['name'],
    durationSeconds: 900,
    onBehalfOf: { id: 'usr_alice', email: 'alice@example.com', groups: ['sales'] },
    sourceIp: '10.1.2.3',
    now: WEDNESDAY_NOON,
    ...overrides,
  };
}

/** Deterministic shuffles (a small LCG), so a failure can be reproduced. */
function shuffled(p: Policy, seed: number): Policy {
  const rules = [...p.rules];
  let state = seed;
  for (let i = rules.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) % 2147483648;
    const j = state % (i + 1);
    [rules[i], rules[j]] = [rules[j], rules[i]];
  }
  return { ...p, rules };
}

describe('evaluatePolicy: combining rules', () => {
  it('denies when any deny rule matches, whatever approves, reporting the requested duration', () => {
    const decision = evaluatePolicy(policy, input({ columns: ['name', 'ssn'], durationSeconds: 7200 }));
    expect(decision).toEqual<Decision>({
      anomalies: [],
      outcome: 'deny',
      rules: ['no-restricted'],
      message: 'Restricted columns are never granted to agents.',
      riskScore: riskScore(policy, { sensitivity: 'restricted', durationSeconds: 7200, actions: ['read'], onBehalfOf: true, now: WEDNESDAY_NOON }),
      sensitivity: 'restricted',
      policyVersion: policy.version,
      durationSeconds: 7200,
    });
    expect(decision.approval).toBeUndefined();
  });

  it('lists every matching deny rule, sorted, with their messages joined', () => {
    const decision = evaluatePolicy(policy, input({ agent: { id: 'agt_9', name: 'rogue-bot', attributes: {} }, columns: ['ssn'] }));
    expect(decision.rules).toEqual(['no-restricted', 'no-rogue-bot']);
    expect(decision.message).toBe('Restricted columns are never granted to agents. This agent is blocked.');
  });

  it('approves when only approve rules match, clamped to the smallest maxDuration among them', () => {
    const decision = evaluatePolicy(policy, input({ durationSeconds: 1500 }));
    expect(decision.outcome).toBe('approve');
    expect(decision.rules).toEqual(['capped-reads', 'low-risk-reads']);
    expect(decision.message).toBe('Approved by rules capped-reads, low-risk-reads.');
    expect(decision.durationSeconds).toBe(1200);
    expect(decision.approval).toBeUndefined();
  });

  it('keeps a requested duration below every cap', () => {
    expect(evaluatePolicy(policy, input({ durationSeconds: 600 })).durationSeconds).toBe(600);
  });

  it('clamps an approve rule without maxDuration to defaults.maxDuration', () => {
    const opsBot = { id: 'agt_2', name: 'ops-bot', attributes: {} };
    const decision = evaluatePolicy(
      policy,
      input({ agent: opsBot, resource: 'billing.invoices', actions: ['read', 'write'], columns: ['amount'], durationSeconds: 7200 }),
    );
    expect(decision.outcome).toBe('approve');
    expect(decision.rules).toEqual(['ops-bot']);
    expect(decision.durationSeconds).toBe(3600);
    // with capped-reads matching as well, its 20m cap wins
    const read = evaluatePolicy(policy, input({ agent: opsBot, resource: 'billing.invoices', columns: ['id'], durationSeconds: 7200 }));
    expect(read.rules).toEqual(['capped-reads', 'ops-bot']);
    expect(read.durationSeconds).toBe(1200);
    // and any require_approval rule beats it
    const cardRead = evaluatePolicy(policy, input({ agent: opsBot, resource: 'billing.invoices', columns: ['card_last4'] }));
    expect(cardRead.outcome).toBe('require_approval');
  });

  it('asks for approval when a require_approval rule matches, even if an approve rule matches too', () => {
    const decision = evaluatePolicy(policy, input({ columns: ['name', 'email'], durationSeconds: 3000 }));
    expect(decision).toEqual<Decision>({
      anomalies: [],
      outcome: 'require_approval',
      rules: ['pii-needs-owner'],
      message: 'Rule pii-needs-owner requires approval by crm-owners.',
      riskScore: decision.riskScore,
      sensitivity: 'pii',
      policyVersion: policy.version,
      durationSeconds: 1800,
      approval: {
        approvers: 'crm-owners',
        required: 1,
        timeoutSeconds: 900,
        remindAfterSeconds: 300,
        escalateAfterSeconds: 600,
        escalateTo: 'security',
      },
    });
  });

  it('takes the largest approvals, the smallest maxDuration and the smallest approvalTimeout', () => {
    const decision = evaluatePolicy(policy, input({ actions: ['write'], columns: ['email'], durationSeconds: 3600 }));
    expect(decision.outcome).toBe('require_approval');
    expect(decision.rules).toEqual(['phone-needs-privacy', 'pii-needs-owner', 'writes-need-two']);
    expect(decision.approval).toEqual({
      approvers: 'privacy',
      required: 2,
      timeoutSeconds: 600,
      remindAfterSeconds: 200,
      escalateAfterSeconds: 400,
      escalateTo: 'security',
    });
    expect(decision.durationSeconds).toBe(1800);
    expect(decision.message).toBe('Rules phone-needs-privacy, pii-needs-owner, writes-need-two require 2 approvals by privacy.');
  });

  it('breaks a tie in approvals by rule id, not by order', () => {
    // writes-need-two (owners) and phone-needs-privacy (privacy) both ask for 2: the first id wins.
    for (let seed = 1; seed <= 20; seed++) {
      const decision = evaluatePolicy(shuffled(policy, seed), input({ actions: ['write'] }));
      expect(decision.approval?.approvers).toBe('privacy');
    }
  });

  it('falls back to the policy approvers when an owners rule hits a resource without owners', () => {
    const decision = evaluatePolicy(policy, input({ resource: 'billing.invoices', columns: ['card_last4'] }));
    expect(decision.approval).toEqual({
      approvers: 'security',
      required: 1,
      timeoutSeconds: 900,
      remindAfterSeconds: 300,
      escalateAfterSeconds: 600,
      escalateTo: 'security',
    });
  });

  it('asks defaults.approvers when no rule matches, clamped to defaults.maxDuration', () => {
    const decision = evaluatePolicy(
      policy,
      input({ actions: ['read', 'write'], resource: 'billing.invoices', columns: ['id'], durationSeconds: 5400 }),
    );
    expect(decision).toEqual<Decision>({
      anomalies: [],
      outcome: 'require_approval',
      rules: [],
      message: 'No rule matched: approval by security is required.',
      riskScore: decision.riskScore,
      sensitivity: 'public',
      policyVersion: policy.version,
      durationSeconds: 3600,
      approval: {
        approvers: 'security',
        required: 1,
        timeoutSeconds: 900,
        remindAfterSeconds: 300,
        escalateAfterSeconds: 600,
        escalateTo: 'security',
      },
    });
  });

  it('gives the same decision whatever the order of the rules', () => {
    const cases = [
      input(),
      input({ durationSeconds: 1500 }),
      input({ columns: ['ssn', 'name'] }),
      input({ columns: ['email'], durationSeconds: 3600 }),
      input({ actions: ['write'], columns: ['email'] }),
      input({ actions: ['write'], resource: 'billing.invoices', columns: ['amount'] }),
      input({ agent: { id: 'x', name: 'rogue-bot', attributes: {} }, columns: ['ssn'] }),
      input({ agent: { id: 'x', name: 'ops-bot', attributes: {} }, resource: 'billing.invoices', columns: ['id'], durationSeconds: 7200 }),
      input({ actions: ['read', 'write'], resource: 'billing.invoices', columns: ['id'] }),
      input({ agent: { id: 'x', name: 'ops-bot', attributes: {} }, actions: ['read', 'write'], resource: 'billing.invoices', columns: ['id'] }),
    ];
    for (const request of cases) {
      const expected = evaluatePolicy(policy, request);
      const reversed = evaluatePolicy({ ...policy, rules: [...policy.rules].reverse() }, request);
      expect(reversed).toEqual(expected);
      for (let seed = 1; seed <= 25; seed++) {
        expect(evaluatePolicy(shuffled(policy, seed), request)).toEqual(expected);
      }
    }
  });

  it('computes risk first from the requested (not clamped) duration', () => {
    const decision = evaluatePolicy(policy, input({ durationSeconds: 3600 }));
    expect(decision.riskScore).toBe(
      riskScore(policy, { sensitivity: 'internal', durationSeconds: 3600, actions: ['read'], onBehalfOf: true, now: WEDNESDAY_NOON }),
    );
  });

  it.each([[0], [-1], [1.5], [Number.NaN]])('refuses the duration %d', (durationSeconds) => {
    expect(() => evaluatePolicy(policy, input({ durationSeconds }))).toThrow(AccessError);
  });

  it('refuses an unknown resource', () => {
    try {
      evaluatePolicy(policy, input({ resource: 'nope' }));
      throw new Error('expected an error');
    } catch (error) {
      expect((error as AccessError).code).toBe(AccessErrorCode.UNKNOWN_RESOURCE);
    }
  });
});

describe('evaluatePolicy: who approves', () => {
  const approvers = parsePolicy(
    `version: 1
defaults: { approvers: security, approvalTimeout: 15m }
resources:
  owned: { owners: owners-group, columns: { a: public } }
  unowned: { columns: { a: public } }
  by-user: { columns: { a: public } }
  by-group: { columns: { a: public } }
rules:
  - { id: unset, effect: require_approval, when: { resources: [owned, unowned] } }
  - { id: by-requester, effect: require_approval, approvers: requester, when: { resources: [by-user] } }
  - { id: by-group, effect: require_approval, approvers: data-stewards, when: { resources: [by-group] } }
`,
    'approvers.yaml',
  );
  it.each([
    ['owned', 'owners-group'],
    ['unowned', 'security'],
    ['by-user', 'requester'],
    ['by-group', 'data-stewards'],
  ])('%s is approved by %s', (resource, expected) => {
    expect(evaluatePolicy(approvers, input({ resource, columns: ['a'] })).approval?.approvers).toBe(expected);
  });

  it('words a requester approval for people', () => {
    expect(evaluatePolicy(approvers, input({ resource: 'by-user', columns: ['a'] })).message).toBe(
      'Rule by-requester requires approval by the user the agent acts for.',
    );
  });
});
