import { AccessErrorCode } from '../errors';
import { PolicyError, parsePolicy } from './parse';
import { checkRequest, decideRequest } from './request';
import { thrown } from '../testing';
import { lintPolicy } from './lint';
import { checkTestsAgainstPolicy, parsePolicyTests } from './policy-test';
import { runPolicyTests } from './policy-test.run';

const RESOURCES = `
resources:
  crm.customers:
    owners: crm-owners
    columns: { id: public, name: internal, email: pii, ssn: restricted }
`;
const RULES = `
rules:
  - id: no-restricted
    effect: deny
    when: { sensitivity: { atLeast: restricted } }
  - id: low-risk-reads
    effect: approve
    when: { actions: [read], sensitivity: { atMost: internal } }
    maxDuration: 20m
  - id: pii-needs-owner
    effect: require_approval
    when: { sensitivity: { atLeast: pii } }
    approvers: owners
    maxDuration: 30m
`;
const policyWith = (breakGlass: string) =>
  parsePolicy(`version: 1\ndefaults: { maxDuration: 1h, approvers: security }\n${RESOURCES}${RULES}${breakGlass}`, 'policy.yaml');

const policy = policyWith(`
breakGlass:
  maxDuration: 15m
  allowed: { agentAttributes: { oncall: 'true' }, onBehalfOf: { groups: [sre] } }
`);

const ONCALL = { id: 'a1', name: 'oncall-bot', attributes: { oncall: 'true' } };
const OTHER = { id: 'a2', name: 'other-bot', attributes: { oncall: 'false' } };
const SRE = { id: 'sam', email: 'sam@example.com', groups: ['sre'] };
const NOW = new Date('2026-12-04T10:00:00Z');

function decide(
  columns: string[],
  options: { agent?: typeof ONCALL; user?: typeof SRE | null; duration?: string; breakGlass?: boolean; policy?: typeof policy } = {},
) {
  const p = options.policy ?? policy;
  const { durationSeconds, scope } = checkRequest(
    p,
    { resource: 'crm.customers', actions: ['read'], columns, duration: options.duration ?? '1h' },
    86400,
  );
  return decideRequest(
    {
      policy: p,
      scope,
      durationSeconds,
      user: options.user === undefined ? SRE : options.user,
      delegation: null,
      breakGlass: options.breakGlass ?? true,
    },
    options.agent ?? ONCALL,
    null,
    NOW,
  );
}

describe('break-glass decisions', () => {
  it('approves at once, for at most breakGlass.maxDuration, what a rule would ask people for', () => {
    const decision = decide(['id', 'email']);
    expect(decision).toMatchObject({ outcome: 'approve', breakGlass: true, rules: ['pii-needs-owner', 'break-glass'], durationSeconds: 900 });
    expect(decision.approval).toBeUndefined();
    expect(decision.message).toMatch(
      /^Break-glass: approved at once for at most 15m, bypassing the approval by crm-owners that rule pii-needs-owner asks for/,
    );
  });

  it('keeps a shorter ask as it is', () => {
    expect(decide(['email'], { duration: '5m' }).durationSeconds).toBe(300);
  });

  it('still denies what a deny rule denies', () => {
    const decision = decide(['email', 'ssn']);
    expect(decision).toMatchObject({ outcome: 'deny', breakGlass: true, rules: ['no-restricted'] });
    expect(decision.message).toContain('Break-glass never overrides a deny.');
  });

  it('leaves an approve an approve (its own duration), marked break-glass', () => {
    expect(decide(['id', 'name'])).toMatchObject({
      outcome: 'approve',
      breakGlass: true,
      rules: ['low-risk-reads', 'break-glass'],
      durationSeconds: 1200,
    });
  });

  it('bypasses the default approvers when no rule speaks', () => {
    const none = parsePolicy(`version: 1\n${RESOURCES}\nbreakGlass: { maxDuration: 10m, allowed: { agents: [oncall-bot] } }\n`, 'policy.yaml');
    const decision = decide(['email'], { policy: none });
    expect(decision).toMatchObject({ outcome: 'approve', rules: ['break-glass'], durationSeconds: 600 });
    expect(decision.message).toContain('bypassing the approval by security that the default (no rule matched) asks for');
  });

  it('refuses an agent or user that breakGlass.allowed does not admit, whatever the rules say', () => {
    const cases: Array<[string[], Parameters<typeof decide>[1]]> = [
      [['email'], { agent: OTHER }],
      [['email', 'ssn'], { agent: OTHER }],
      [['id'], { user: { ...SRE, groups: ['support'] } }],
      [['email'], { user: null }],
    ];
    for (const [columns, options] of cases) {
      expect(thrown(() => decide(columns, options)).code).toBe(AccessErrorCode.BREAK_GLASS_NOT_ALLOWED);
    }
  });

  it('refuses break-glass when the policy has no breakGlass block', () => {
    const error = thrown(() => decide(['email'], { policy: policyWith('') }));
    expect(error.code).toBe(AccessErrorCode.BREAK_GLASS_NOT_ALLOWED);
    expect(error.message).toContain('the policy has no breakGlass block');
  });

  it('decides as usual without the flag', () => {
    expect(decide(['email'], { breakGlass: false })).toMatchObject({ outcome: 'require_approval', rules: ['pii-needs-owner'] });
    expect(decide(['email'], { breakGlass: false }).breakGlass).toBeUndefined();
  });
});

describe('the breakGlass block in a policy file', () => {
  const refusal = (breakGlass: string) => (thrown(() => policyWith(breakGlass)) as PolicyError).details;

  it('is read with its duration and selector', () => {
    expect(policy.breakGlass).toEqual({
      maxDurationSeconds: 900,
      allowed: { agentAttributes: { oncall: 'true' }, onBehalfOf: { groups: ['sre'] } },
    });
  });

  it('names the path and the reason of every problem', () => {
    expect(refusal('breakGlass: { allowed: {} }')).toEqual([
      { path: 'breakGlass.maxDuration', message: 'expected a duration like 90s, 15m, 1h or PT15M' },
    ]);
    expect(refusal('breakGlass: { maxDuration: 15m }')).toEqual([{ path: 'breakGlass.allowed', message: 'is required' }]);
    expect(refusal('breakGlass: { maxDuration: 15m, allowed: { team: sre } }')).toEqual([
      { path: 'breakGlass.allowed.team', message: expect.stringMatching(/^unknown key "team"; expected one of: agents, agentAttributes/) },
    ]);
    expect(refusal('breakGlass: { maxDuration: 15m, allowed: { resources: [crm.cutsomers] } }')).toEqual([
      { path: 'breakGlass.allowed.resources[0]', message: 'unknown resource "crm.cutsomers"; known: crm.customers' },
    ]);
    expect(refusal('breakGlass: { maxDuration: 15m, allowed: { sensitivity: { atMost: secret } } }')).toEqual([
      { path: 'breakGlass.allowed.sensitivity.atMost', message: 'unknown sensitivity "secret"; known: public, internal, pii, restricted' },
    ]);
    expect(refusal('breakGlass: { maxDuration: soon, allowed: {} }')[0].path).toBe('breakGlass.maxDuration');
  });

  it('reserves the marker as a rule id', () => {
    const details = (
      thrown(() => parsePolicy(`version: 1\n${RESOURCES}\nrules:\n  - { id: break-glass, effect: approve }\n`, 'policy.yaml')) as PolicyError
    ).details;
    expect(details).toEqual([{ path: 'rules[0].id', message: '"break-glass" is reserved: decisions name break-glass access with it' }]);
  });
});

describe('lint of breakGlass.allowed', () => {
  it('warns when the selector can admit no request', () => {
    const dead = policyWith(`
breakGlass: { maxDuration: 15m, allowed: { actions: [delete] } }
`);
    expect(lintPolicy(dead, { maxRequestDurationSeconds: 86400 })).toEqual([
      {
        code: 'never_matches',
        path: 'breakGlass.allowed',
        subject: 'breakGlass',
        message: 'break-glass never admits a request: none of its actions [delete] is allowed (crm.customers allows read, write)',
      },
    ]);
  });

  it('is quiet about a selector that can admit requests', () => {
    expect(lintPolicy(policy, { maxRequestDurationSeconds: 86400 })).toEqual([]);
  });
});

describe('policy tests of break-glass', () => {
  const file = parsePolicyTests(
    `cases:
  - name: oncall-bypasses-the-owners
    request: { agent: { name: oncall-bot, attributes: { oncall: 'true' } }, resource: crm.customers, actions: [read], columns: [email], duration: 1h, onBehalfOf: { id: sam, groups: [sre] }, breakGlass: true }
    expect: { outcome: approve, rules: [pii-needs-owner, break-glass], duration: 15m }
  - name: others-are-refused
    request: { agent: { name: other-bot }, resource: crm.customers, actions: [read], columns: [email], duration: 1h, breakGlass: true }
    expect: { error: BREAK_GLASS_NOT_ALLOWED }
  - name: wrongly-expected
    request: { agent: { name: other-bot }, resource: crm.customers, actions: [read], columns: [email], duration: 1h, breakGlass: true }
    expect: { outcome: approve }
`,
    'bg.test.yaml',
  );

  it('run with the breakGlass flag, the marker a known rule and the refusal a known answer', () => {
    checkTestsAgainstPolicy(file, policy);
    const results = runPolicyTests(policy, file, { maxRequestDurationSeconds: 86400, now: NOW });
    expect(results.map((r) => r.mismatches)).toEqual([
      [],
      [],
      ['expected the policy to decide approve, but the broker refused the request with BREAK_GLASS_NOT_ALLOWED'],
    ]);
  });

  it('name the marker an unknown rule where the policy has no breakGlass block', () => {
    expect(thrown(() => checkTestsAgainstPolicy(file, policyWith(''))).details[0]).toMatchObject({ path: 'cases[0].expect.rules[1]' });
  });
});
