import { EvaluationInput, evaluatePolicy } from './evaluate';
import { parsePolicy } from './parse';

// Extensions: the `extension` condition, and the chain's total time against maxDuration.
const policy = parsePolicy(
  `version: 1
defaults: { maxDuration: 1h, approvalTimeout: 15m, approvers: security }
resources:
  crm.customers:
    owners: crm-owners
    columns: { id: public, name: internal, email: pii }
  docs.wiki:
    columns: { page: internal }
rules:
  - id: low-risk-reads
    effect: approve
    when: { actions: [read], sensitivity: { atMost: internal }, duration: { atMost: 30m }, extension: false }
  - id: extended-reads
    effect: approve
    when: { actions: [read], sensitivity: { atMost: internal }, extension: true, resources: [crm.*] }
  - id: long-wiki-extensions
    effect: approve
    when: { resources: [docs.*], extension: true }
    maxDuration: 3h
  - id: pii-needs-owner
    effect: require_approval
    when: { sensitivity: { atLeast: pii } }
    maxDuration: 30m
`,
  'extension.yaml',
);

function input(overrides: Partial<EvaluationInput> = {}): EvaluationInput {
  return {
    agent: { id: 'a1', name: 'support-bot', attributes: {} },
    resource: 'crm.customers',
    actions: ['read'],
    columns: ['id', 'name'],
    durationSeconds: 600,
    now: new Date('2025-01-15T12:00:00Z'),
    ...overrides,
  };
}

describe('extension condition', () => {
  it('matches only extensions with true, only new requests with false', () => {
    expect(evaluatePolicy(policy, input()).rules).toEqual(['low-risk-reads']);
    const extended = evaluatePolicy(policy, input({ extension: { usedSeconds: 600 } }));
    expect(extended).toMatchObject({ outcome: 'approve', rules: ['extended-reads'], durationSeconds: 600 });
    expect(extended.extension).toEqual({ usedSeconds: 600, limitSeconds: 3600 });
    expect(extended.message).toBe('Approved by rule extended-reads. Extension: 10m used + 10m of 1h allowed in all.');
  });
});

describe("an extension's total time", () => {
  it('is clamped to what the applicable maxDuration leaves, and the message says so', () => {
    const decision = evaluatePolicy(policy, input({ durationSeconds: 1800, extension: { usedSeconds: 50 * 60 } }));
    expect(decision).toMatchObject({ outcome: 'approve', durationSeconds: 600 });
    expect(decision.message).toContain('Extension shortened to 10m: the grant has run 50m, and maxDuration allows 1h in all.');
  });

  it("counts against the deciding rule's maxDuration too, when it is smaller", () => {
    const decision = evaluatePolicy(policy, input({ columns: ['email'], durationSeconds: 1200, extension: { usedSeconds: 1500 } }));
    expect(decision).toMatchObject({ outcome: 'require_approval', rules: ['pii-needs-owner'], durationSeconds: 300 });
    expect(decision.extension).toEqual({ usedSeconds: 1500, limitSeconds: 1800 });
  });

  it('is refused once nothing is left', () => {
    const decision = evaluatePolicy(policy, input({ columns: ['email'], durationSeconds: 600, extension: { usedSeconds: 1800 } }));
    expect(decision).toMatchObject({ outcome: 'deny', rules: ['pii-needs-owner'], durationSeconds: 600 });
    expect(decision.message).toBe(
      'This grant has run 30m across its extensions, and its maxDuration allows 30m in all; ask for a new request instead.',
    );
    expect(decision.extension).toBeUndefined();
    // the default asks people; the chain is over the defaults' 1h
    const byDefault = evaluatePolicy(policy, input({ actions: ['write'], extension: { usedSeconds: 3600 } }));
    expect(byDefault).toMatchObject({ outcome: 'deny', rules: [] });
  });

  it('may go past the defaults when a rule written for extensions sets its own maxDuration', () => {
    const decision = evaluatePolicy(
      policy,
      input({ resource: 'docs.wiki', columns: ['page'], durationSeconds: 3600, extension: { usedSeconds: 90 * 60 } }),
    );
    expect(decision).toMatchObject({ outcome: 'approve', rules: ['long-wiki-extensions'], durationSeconds: 3600 });
    expect(decision.extension).toEqual({ usedSeconds: 5400, limitSeconds: 10800 });
    const clamped = evaluatePolicy(
      policy,
      input({ resource: 'docs.wiki', columns: ['page'], durationSeconds: 3600, extension: { usedSeconds: 160 * 60 } }),
    );
    expect(clamped).toMatchObject({ outcome: 'approve', durationSeconds: 20 * 60 });
    // each grant of the chain still within defaults.maxDuration
    const long = evaluatePolicy(policy, input({ resource: 'docs.wiki', columns: ['page'], durationSeconds: 7200, extension: { usedSeconds: 0 } }));
    expect(long).toMatchObject({ outcome: 'approve', durationSeconds: 3600 });
  });

  it('leaves new requests as they were', () => {
    expect(evaluatePolicy(policy, input({ durationSeconds: 7200, columns: ['email'] }))).toMatchObject({ durationSeconds: 1800 });
    expect(evaluatePolicy(policy, input({ durationSeconds: 600 })).extension).toBeUndefined();
  });
});
