import { AccessErrorCode } from '../errors';
import { checkApprover } from '../approval';
import { thrown } from '../testing';
import { evaluatePolicy, EvaluationInput } from './evaluate';
import { parsePolicy, PolicyError } from './parse';
import { reminderTimes } from './reminders';

const base = (defaults: string, rules: string) => `version: 1
defaults: ${defaults}
resources:
  crm.customers:
    owners: crm-owners
    columns: { id: public, email: pii }
rules:
${rules}`;

const piiRule = (extra = '') => `  - id: pii
    effect: require_approval
    when: { sensitivity: { atLeast: pii } }
    approvers: owners${extra}`;

const input = (): EvaluationInput => ({
  agent: { id: 'a1', name: 'bot', attributes: {} },
  resource: 'crm.customers',
  actions: ['read'],
  columns: ['email'],
  durationSeconds: 600,
  onBehalfOf: null,
  now: new Date('2026-01-05T10:00:00Z'),
});

function refusal(text: string): PolicyError {
  try {
    parsePolicy(text, 'p.yaml');
  } catch (error) {
    return error as PolicyError;
  }
  throw new Error('expected the policy to be refused');
}

describe('policy: reminders and escalation', () => {
  it('defaults to a reminder after 5m and escalation to defaults.approvers after 10m', () => {
    const policy = parsePolicy(base('{ approvers: security }', piiRule()), 'p.yaml');
    expect(policy.defaults).toMatchObject({
      remindAfterSeconds: 300,
      escalateAfterSeconds: 600,
      escalateTo: 'security',
      approvalTimeoutSeconds: 900,
    });
    expect(evaluatePolicy(policy, input()).approval).toEqual({
      approvers: 'crm-owners',
      required: 1,
      timeoutSeconds: 900,
      remindAfterSeconds: 300,
      escalateAfterSeconds: 600,
      escalateTo: 'security',
    });
  });

  it('shrinks the defaults to a third and two thirds of a short approval timeout', () => {
    const policy = parsePolicy(base('{ approvalTimeout: 90s }', piiRule()), 'p.yaml');
    expect(policy.defaults).toMatchObject({ remindAfterSeconds: 30, escalateAfterSeconds: 60 });
  });

  it('reads the fields on defaults and on a rule; the rule wins, owners resolves to the resource owners', () => {
    const policy = parsePolicy(
      base(
        '{ remindAfter: 2m, escalateAfter: 4m, escalateTo: security }',
        piiRule('\n    remindAfter: 1s\n    escalateAfter: 2s\n    escalateTo: owners'),
      ),
      'p.yaml',
    );
    expect(policy.rules[0]).toMatchObject({ remindAfterSeconds: 1, escalateAfterSeconds: 2, escalateTo: 'owners' });
    expect(evaluatePolicy(policy, input()).approval).toMatchObject({ remindAfterSeconds: 1, escalateAfterSeconds: 2, escalateTo: 'crm-owners' });
  });

  it("takes the earliest reminder and escalation of all matching rules, and the strictest rule's escalateTo", () => {
    const rules = `${piiRule('\n    remindAfter: 3m\n    escalateAfter: 12m\n    escalateTo: cto')}
  - id: emails
    effect: require_approval
    when: { resources: [crm.customers] }
    approvals: 2
    remindAfter: 4m
    escalateAfter: 6m
    escalateTo: privacy`;
    const approval = evaluatePolicy(parsePolicy(base('{ approvalTimeout: 15m }', rules), 'p.yaml'), input()).approval;
    expect(approval).toMatchObject({ required: 2, remindAfterSeconds: 180, escalateAfterSeconds: 360, escalateTo: 'privacy' });
  });

  it('refuses reminders and escalation at or after the approval timeout, on defaults and on rules', () => {
    const error = refusal(base('{ approvalTimeout: 10m, escalateAfter: 10m }', piiRule('\n    approvalTimeout: 5m\n    remindAfter: 6m')));
    expect(error.details).toEqual([
      { path: 'defaults.escalateAfter', message: '10m is not before the approval timeout of 10m; it would never happen' },
      { path: 'rules[0].remindAfter', message: '6m is not before the approval timeout of 5m; it would never happen' },
    ]);
  });

  it('refuses escalateTo: requester, bad durations, and the fields on rules that do not ask people', () => {
    const error = refusal(
      base(
        '{ escalateTo: requester }',
        `${piiRule('\n    escalateAfter: soon')}
  - id: reads
    effect: approve
    remindAfter: 1m
    escalateTo: security`,
      ),
    );
    const paths = error.details.map((d) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['rules[0].escalateAfter']));
    const second = refusal(
      base(
        '{ escalateTo: requester }',
        `  - id: reads
    effect: approve
    remindAfter: 1m
    escalateTo: security`,
      ),
    );
    expect(second.details).toEqual(
      expect.arrayContaining([
        { path: 'defaults.escalateTo', message: 'escalation goes to a group (or "owners"), not to the user the agent acts for' },
        { path: 'rules[0].remindAfter', message: "only require_approval rules take remindAfter; this rule's effect is approve" },
        { path: 'rules[0].escalateTo', message: "only require_approval rules take escalateTo; this rule's effect is approve" },
      ]),
    );
  });
});

describe('checkApprover after escalation', () => {
  const cto = { id: 'cto', groups: ['execs'] };
  const alice = { id: 'alice', groups: ['execs'] };

  it('lets a member of the escalation group decide only once the request escalated', () => {
    expect(thrown(() => checkApprover({ approvers: 'crm-owners', onBehalfOf: 'alice', approver: cto })).code).toBe(AccessErrorCode.NOT_AN_APPROVER);
    expect(() => checkApprover({ approvers: 'crm-owners', onBehalfOf: 'alice', approver: cto, escalatedTo: 'execs' })).not.toThrow();
  });

  it('still refuses the user acted for, even in the escalation group', () => {
    const error = thrown(() => checkApprover({ approvers: 'crm-owners', onBehalfOf: 'alice', approver: alice, escalatedTo: 'execs' }));
    expect(error.code).toBe(AccessErrorCode.SELF_APPROVAL);
  });

  it('does not widen anything for people outside both groups', () => {
    const error = thrown(() =>
      checkApprover({ approvers: 'crm-owners', onBehalfOf: null, approver: { id: 'x', groups: ['support'] }, escalatedTo: 'execs' }),
    );
    expect(error.code).toBe(AccessErrorCode.NOT_AN_APPROVER);
  });
});

describe('reminderTimes', () => {
  it('reminds at 5m and escalates at 10m, or at a third and two thirds of a shorter timeout, never below a second', () => {
    expect(reminderTimes(900)).toEqual({ remindAfterSeconds: 300, escalateAfterSeconds: 600 });
    expect(reminderTimes(600)).toEqual({ remindAfterSeconds: 200, escalateAfterSeconds: 400 });
    expect(reminderTimes(2)).toEqual({ remindAfterSeconds: 1, escalateAfterSeconds: 1 });
    expect(reminderTimes(3600, { remindAfterSeconds: 60, escalateAfterSeconds: 120 })).toEqual({ remindAfterSeconds: 60, escalateAfterSeconds: 120 });
  });
});
