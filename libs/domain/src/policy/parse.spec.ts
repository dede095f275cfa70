import { createHash } from 'node:crypto';
import { AccessErrorCode } from '../errors';
import { PolicyError, parsePolicy } from './parse';

const CONTRACT_EXAMPLE = `version: 1
sensitivity: [public, internal, pii, restricted]   # ordered, low to high
defaults: { maxDuration: 1h, approvalTimeout: 15m, approvers: security }
resources:
  crm.customers:
    audience: crm-api
    owners: crm-owners
    defaultSensitivity: internal
    columns: { id: public, name: internal, email: pii, phone: pii, ssn: restricted }
rules:
  - id: no-restricted
    effect: deny
    when: { sensitivity: { atLeast: restricted } }
    message: Restricted columns are never granted to agents.
  - id: low-risk-reads
    effect: approve
    when: { actions: [read], sensitivity: { atMost: internal }, duration: { atMost: 30m } }
  - id: pii-needs-owner
    effect: require_approval
    when: { sensitivity: { atLeast: pii } }
    approvers: owners
    approvals: 1
    maxDuration: 30m
`;

/** The PolicyError parsePolicy throws for `text`. */
function failure(text: string, source = 'policy.yaml'): PolicyError {
  try {
    parsePolicy(text, source);
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyError);
    return error as PolicyError;
  }
  throw new Error('expected the policy to be refused');
}

const withRules = (rules: string) => `version: 1
resources:
  crm.customers:
    columns: { id: public, email: pii }
rules:
${rules}`;

describe('parsePolicy: a valid file', () => {
  it('reads the contract example into the normalized shape', () => {
    const policy = parsePolicy(CONTRACT_EXAMPLE, 'policies/default.yaml');
    expect(policy.version).toBe(`sha256:${createHash('sha256').update(CONTRACT_EXAMPLE).digest('hex')}`);
    expect(policy.source).toBe('policies/default.yaml');
    expect(policy.sensitivity).toEqual(['public', 'internal', 'pii', 'restricted']);
    expect(policy.defaults).toEqual({
      anomaly: { minHistory: 20, timeZone: 'UTC' },
      maxDurationSeconds: 3600,
      approvalTimeoutSeconds: 900,
      approvers: 'security',
      remindAfterSeconds: 300,
      escalateAfterSeconds: 600,
      escalateTo: 'security',
      businessHours: { days: [1, 2, 3, 4, 5], from: '08:00', to: '18:00', tz: 'UTC' },
    });
    expect(policy.resources['crm.customers']).toEqual({
      id: 'crm.customers',
      kind: 'data',
      audience: 'crm-api',
      owners: 'crm-owners',
      defaultSensitivity: 'internal',
      columns: { id: 'public', name: 'internal', email: 'pii', phone: 'pii', ssn: 'restricted' },
      operations: {},
      hosts: [],
      actions: ['read', 'write'],
    });
    expect(policy.rules).toEqual([
      {
        id: 'no-restricted',
        effect: 'deny',
        when: { sensitivity: { atLeast: 'restricted' } },
        message: 'Restricted columns are never granted to agents.',
      },
      { id: 'low-risk-reads', effect: 'approve', when: { actions: ['read'], sensitivity: { atMost: 'internal' }, duration: { atMost: 1800 } } },
      {
        id: 'pii-needs-owner',
        effect: 'require_approval',
        when: { sensitivity: { atLeast: 'pii' } },
        approvers: 'owners',
        approvals: 1,
        maxDurationSeconds: 1800,
      },
    ]);
  });

  it('fills every default for the smallest file', () => {
    const policy = parsePolicy('version: 1\nresources:\n  tickets: {}\n', 'p.yaml');
    expect(policy.sensitivity).toEqual(['public', 'internal', 'pii', 'restricted']);
    expect(policy.defaults.maxDurationSeconds).toBe(3600);
    expect(policy.defaults.approvalTimeoutSeconds).toBe(900);
    expect(policy.defaults.approvers).toBe('security');
    expect(policy.rules).toEqual([]);
    expect(policy.resources.tickets).toEqual({
      id: 'tickets',
      kind: 'data',
      audience: 'tickets',
      defaultSensitivity: 'public',
      columns: {},
      operations: {},
      hosts: [],
      actions: ['read', 'write'],
    });
  });

  it('changes version when a single byte changes', () => {
    const a = parsePolicy('version: 1\n', 'p.yaml').version;
    const b = parsePolicy('version: 1\n\n', 'p.yaml').version;
    expect(a).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(a).not.toBe(b);
  });

  it('reads day names in any case, short or full, as sorted ISO weekdays', () => {
    const policy = parsePolicy(
      `version: 1
defaults:
  businessHours: { days: [Sunday, MON, tue, wednesday, mon], from: "07:30", to: "19:00", tz: europe/paris }
rules:
  - id: weekend
    effect: deny
    when: { timeWindow: { days: [sat, SUN], from: "22:00", to: "06:00" } }
`,
      'p.yaml',
    );
    expect(policy.defaults.businessHours).toEqual({ days: [1, 2, 3, 7], from: '07:30', to: '19:00', tz: 'Europe/Paris' });
    // a window without its own zone is read in the business-hours zone
    expect(policy.rules[0].when.timeWindow).toEqual({ days: [6, 7], from: '22:00', to: '06:00', tz: 'Europe/Paris' });
  });

  it('reads every condition type', () => {
    const policy = parsePolicy(
      withRules(`  - id: all-conditions
    effect: require_approval
    when:
      agents: [agent-1, report-bot]
      agentAttributes: { env: [prod, staging], tier: 2, trusted: true }
      resources: [crm.*]
      actions: [read, export]
      sensitivity: { atLeast: internal, atMost: pii }
      duration: { atLeast: 5m, atMost: PT2H }
      onBehalfOf: { required: true, groups: [sales] }
      sourceIp: [10.0.0.0/8, "2001:db8::/32", 192.168.1.7]
      timeWindow: { days: [mon], from: "09:00", to: "17:00", tz: America/New_York }
      riskScore: { atLeast: 10, atMost: 90 }
    approvers: requester
    approvals: 3
    maxDuration: 10m
    approvalTimeout: 2m
`),
      'p.yaml',
    );
    expect(policy.rules[0]).toEqual({
      id: 'all-conditions',
      effect: 'require_approval',
      when: {
        agents: ['agent-1', 'report-bot'],
        agentAttributes: { env: ['prod', 'staging'], tier: 2, trusted: true },
        resources: ['crm.*'],
        actions: ['read', 'export'],
        sensitivity: { atLeast: 'internal', atMost: 'pii' },
        duration: { atLeast: 300, atMost: 7200 },
        onBehalfOf: { required: true, groups: ['sales'] },
        sourceIp: ['10.0.0.0/8', '2001:db8::/32', '192.168.1.7'],
        timeWindow: { days: [1], from: '09:00', to: '17:00', tz: 'America/New_York' },
        riskScore: { atLeast: 10, atMost: 90 },
      },
      approvers: 'requester',
      approvals: 3,
      maxDurationSeconds: 600,
      approvalTimeoutSeconds: 120,
    });
  });
});

describe('parsePolicy: errors name the path and the reason', () => {
  it('is an AccessError with code INVALID_POLICY and the source in the message', () => {
    const error = failure('version: 2\n', 'policies/bad.yaml');
    expect(error.code).toBe(AccessErrorCode.INVALID_POLICY);
    expect(error.message).toBe('policies/bad.yaml: version: expected 1 (the only policy file version)');
    expect(error.details).toEqual([{ path: 'version', message: 'expected 1 (the only policy file version)' }]);
  });

  it('requires version', () => {
    expect(failure('rules: []\n').details).toEqual([{ path: 'version', message: 'is required; write version: 1' }]);
  });

  it('refuses an empty file', () => {
    expect(failure('').message).toMatch(/policy.yaml: the file is empty/);
  });

  it('refuses an unknown key at the top, listing the known ones', () => {
    const error = failure('version: 1\nrulez: []\n');
    expect(error.details).toEqual([
      { path: 'rulez', message: 'unknown key "rulez"; expected one of: version, sensitivity, defaults, resources, rules, breakGlass, budgets' },
    ]);
  });

  it('refuses an unknown key deep inside a rule', () => {
    const error = failure(withRules('  - id: r\n    effect: deny\n    when: { sensitivty: { atLeast: pii } }\n'));
    expect(error.details[0].path).toBe('rules[0].when.sensitivty');
    expect(error.details[0].message).toMatch(/^unknown key "sensitivty"; expected one of: agents, /);
  });

  it('refuses an unknown key in a resource', () => {
    const error = failure('version: 1\nresources:\n  crm.customers:\n    column: {}\n');
    expect(error.details[0].path).toBe('resources["crm.customers"].column');
  });

  it('refuses an unknown sensitivity label in a condition, listing the known ones', () => {
    const error = failure(
      withRules(`  - id: a
    effect: deny
  - id: b
    effect: deny
  - id: c
    effect: deny
    when: { sensitivity: { atLeast: secret } }
`),
    );
    expect(error.details).toEqual([
      { path: 'rules[2].when.sensitivity.atLeast', message: 'unknown sensitivity "secret"; known: public, internal, pii, restricted' },
    ]);
    expect(error.message).toBe(
      'policy.yaml: rules[2].when.sensitivity.atLeast: unknown sensitivity "secret"; known: public, internal, pii, restricted',
    );
  });

  it('refuses unknown labels in columns and defaultSensitivity, and says how many more', () => {
    const error = failure(`version: 1
sensitivity: [low, high]
resources:
  crm.customers:
    defaultSensitivity: medium
    columns: { id: low, email: pii }
`);
    expect(error.details).toEqual([
      { path: 'resources["crm.customers"].columns.email', message: 'unknown sensitivity "pii"; known: low, high' },
      { path: 'resources["crm.customers"].defaultSensitivity', message: 'unknown sensitivity "medium"; known: low, high' },
    ]);
    expect(error.message).toMatch(/ \(and 1 more\)$/);
  });

  it('refuses text Postgres cannot store (a NUL, a lone surrogate) with the file, path and reason', () => {
    // YAML's "\0" and "\ud800" escapes make these from plain ASCII files.
    const nul = failure(withRules('  - id: r\n    effect: deny\n    message: "Never\\0 granted."\n'), 'policies/nul.yaml');
    expect(nul.details).toEqual([{ path: 'rules[0].message', message: 'contains a NUL character (U+0000), which cannot be stored' }]);
    expect(nul.message).toBe('policies/nul.yaml: rules[0].message: contains a NUL character (U+0000), which cannot be stored');
    const surrogate = failure('version: 1\ndefaults: { approvers: "secu\\ud800rity" }\n');
    expect(surrogate.details).toEqual([{ path: 'defaults.approvers', message: expect.stringContaining('lone surrogate (U+D800)') }]);
    const key = failure('version: 1\nresources:\n  crm.customers:\n    columns: { "em\\0ail": pii }\n');
    expect(key.details).toEqual([
      {
        path: 'resources["crm.customers"].columns["em\\u0000ail"]',
        message: 'the field name contains a NUL character (U+0000), which cannot be stored',
      },
    ]);
  });

  it('refuses duplicate rule ids, pointing at the second', () => {
    const error = failure(withRules('  - id: same\n    effect: deny\n  - id: other\n    effect: deny\n  - id: same\n    effect: approve\n'));
    expect(error.details).toEqual([{ path: 'rules[2].id', message: 'duplicate rule id "same"; rules[0] already uses it' }]);
  });

  it('refuses a resource id or column name that would break scopes and tokens', () => {
    const error = failure('version: 1\nresources:\n  "crm customers": { columns: { "first name": public } }\n');
    expect(error.details).toEqual([
      { path: 'resources["crm customers"]', message: expect.stringMatching(/^invalid resource id "crm customers"; use letters/) },
      { path: 'resources["crm customers"].columns["first name"]', message: 'invalid column name "first name"' },
    ]);
  });

  it('refuses a badly formed rule id', () => {
    expect(failure(withRules('  - id: "no spaces"\n    effect: deny\n')).details[0].path).toBe('rules[0].id');
  });

  it.each(['10.0.0.0/33', '10.0.0.300/8', '2001:db8::/129', 'not-an-ip', '10.0.0.0/8/8', '10.0.0.0/x'])('refuses the CIDR %s', (cidr) => {
    const error = failure(withRules(`  - id: r\n    effect: deny\n    when: { sourceIp: [10.0.0.0/8, "${cidr}"] }\n`));
    expect(error.details).toEqual([
      { path: 'rules[0].when.sourceIp[1]', message: `invalid CIDR "${cidr}"; expected an address/prefix like 10.0.0.0/8 or 2001:db8::/32` },
    ]);
  });

  it('refuses an unknown time zone', () => {
    const error = failure(withRules('  - id: r\n    effect: deny\n    when: { timeWindow: { tz: Europe/Atlantis } }\n'));
    expect(error.details).toEqual([
      { path: 'rules[0].when.timeWindow.tz', message: 'unknown time zone "Europe/Atlantis"; use an IANA name like Europe/Paris or UTC' },
    ]);
  });

  it.each(['9:00', '24:00', '12:60', 'noon', '12:00:00'])('refuses the time %s', (time) => {
    const error = failure(`version: 1\ndefaults:\n  businessHours: { from: "${time}" }\n`);
    expect(error.details[0].path).toBe('defaults.businessHours.from');
    expect(error.details[0].message).toMatch(/HH:mm/);
  });

  it('refuses an unknown day name', () => {
    const error = failure('version: 1\ndefaults:\n  businessHours: { days: [mon, funday] }\n');
    expect(error.details[0]).toEqual({
      path: 'defaults.businessHours.days[1]',
      message: 'unknown day "funday"; use mon, tue, wed, thu, fri, sat or sun',
    });
  });

  it('refuses a window with only one end, or with equal ends', () => {
    expect(failure(withRules('  - id: r\n    effect: deny\n    when: { timeWindow: { from: "09:00", tz: UTC } }\n')).details[0].path).toBe(
      'rules[0].when.timeWindow.to',
    );
    expect(failure(withRules('  - id: r\n    effect: deny\n    when: { timeWindow: { from: "09:00", to: "09:00" } }\n')).details[0].message).toMatch(
      /empty/,
    );
  });

  it('gives the line and column of a YAML syntax error', () => {
    const error = failure('version: 1\nrules:\n  - id: a\n    effect: [deny\n  - id: b\n');
    expect(error.details[0].path).toBeUndefined();
    expect(error.details[0].message).toMatch(/^YAML syntax error at line \d+, column \d+: /);
    expect(error.message).toMatch(/^policy.yaml: YAML syntax error at line 5, column/);
  });

  it('refuses a duplicate key (e.g. a resource defined twice) with its line', () => {
    const error = failure('version: 1\nresources:\n  crm: {}\n  crm: {}\n');
    expect(error.details[0].message).toMatch(/^YAML syntax error at line 4, column 3: Map keys must be unique/);
  });

  it('refuses approvals, approvers and approvalTimeout on rules that do not ask for approval', () => {
    const error = failure(withRules('  - id: r\n    effect: approve\n    approvers: owners\n    approvals: 2\n    approvalTimeout: 5m\n'));
    expect(error.details).toEqual([
      { path: 'rules[0].approvers', message: "only require_approval rules take approvers; this rule's effect is approve" },
      { path: 'rules[0].approvals', message: "only require_approval rules take approvals; this rule's effect is approve" },
      { path: 'rules[0].approvalTimeout', message: "only require_approval rules take approvalTimeout; this rule's effect is approve" },
    ]);
  });

  it('refuses maxDuration on a deny rule', () => {
    expect(failure(withRules('  - id: r\n    effect: deny\n    maxDuration: 5m\n')).details[0].path).toBe('rules[0].maxDuration');
  });

  it.each([['0'], ['11'], ['1.5']])('refuses approvals: %s', (approvals) => {
    const error = failure(withRules(`  - id: r\n    effect: require_approval\n    approvals: ${approvals}\n`));
    expect(error.details[0].path).toBe('rules[0].approvals');
  });

  it('refuses an unknown effect, listing the known ones', () => {
    const error = failure(withRules('  - id: r\n    effect: allow\n'));
    expect(error.details).toEqual([{ path: 'rules[0].effect', message: 'expected "approve" or "require_approval" or "deny", got "allow"' }]);
  });

  it("refuses a bad duration with the duration parser's reason", () => {
    const error = failure('version: 1\ndefaults: { maxDuration: 1 hour }\n');
    expect(error.details[0].path).toBe('defaults.maxDuration');
    expect(error.details[0].message).toMatch(/must not contain spaces/);
    expect(failure('version: 1\ndefaults: { maxDuration: 60 }\n').details[0].message).toMatch(/expected a duration like/);
  });

  it('refuses a range that could never match', () => {
    const error = failure(withRules('  - id: r\n    effect: deny\n    when: { duration: { atLeast: 1h, atMost: 30m } }\n'));
    expect(error.details).toEqual([{ path: 'rules[0].when.duration', message: 'atLeast 1h is above atMost 30m; the rule could never match' }]);
    const labels = failure(withRules('  - id: r\n    effect: deny\n    when: { sensitivity: { atLeast: pii, atMost: internal } }\n'));
    expect(labels.details[0].path).toBe('rules[0].when.sensitivity');
  });

  it('refuses a rule naming a resource that does not exist (a typo would switch the rule off)', () => {
    const error = failure(withRules('  - id: r\n    effect: deny\n    when: { resources: [crm.custmers, "billing.*"] }\n'));
    expect(error.details).toEqual([{ path: 'rules[0].when.resources[0]', message: 'unknown resource "crm.custmers"; known: crm.customers' }]);
  });

  it('refuses empty lists in conditions rather than matching nothing', () => {
    expect(failure(withRules('  - id: r\n    effect: deny\n    when: { agents: [] }\n')).details[0]).toEqual({
      path: 'rules[0].when.agents',
      message: 'must not be empty; omit it to match every agent',
    });
  });

  it('collects several problems in one error', () => {
    const error = failure(withRules('  - id: r\n    effect: maybe\n    when: { sourceIp: [bad], timeWindow: { tz: Nowhere } }\n    extra: 1\n'));
    expect(error.details.map((d) => d.path)).toEqual(
      expect.arrayContaining(['rules[0].effect', 'rules[0].when.sourceIp[0]', 'rules[0].when.timeWindow.tz', 'rules[0].extra']),
    );
    expect(error.message).toMatch(/ \(and 3 more\)$/);
  });
});
