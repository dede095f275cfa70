import { AccessErrorCode } from '../errors';
import { thrown } from '../testing';
import { parsePolicy } from './parse';
import { checkTestsAgainstPolicy, parsePolicyTests, PolicyTestError } from './policy-test';
import { formatPolicyTestFailure, runPolicyCase, runPolicyTests, summarizePolicyTests } from './policy-test.run';

const policy = parsePolicy(
  `
version: 1
defaults: { maxDuration: 1h, approvers: security, businessHours: { tz: Europe/Paris } }
resources:
  crm.customers:
    owners: crm-owners
    columns: { id: public, name: internal, email: pii, ssn: restricted }
rules:
  - id: no-restricted
    effect: deny
    when: { sensitivity: { atLeast: restricted } }
    message: Restricted columns are never granted.
  - id: reads
    effect: approve
    when: { actions: [read], sensitivity: { atMost: internal } }
    maxDuration: 20m
  - id: pii-for-sales
    effect: require_approval
    when: { sensitivity: { atLeast: pii }, onBehalfOf: { groups: [sales] } }
    approvers: owners
    approvals: 2
  - id: bots-by-day
    effect: approve
    when: { agents: [day-bot], agentAttributes: { tier: [gold, silver] }, timeWindow: { from: "09:00", to: "17:00" }, sourceIp: [10.0.0.0/8] }
`,
  'p.yaml',
);
const options = { maxRequestDurationSeconds: 86400, now: new Date('2026-11-25T10:00:00Z') };

/** A test file of one case: `request` and `expect` as YAML flow mappings. */
function oneCase(request: string, expect: string) {
  return parsePolicyTests(`cases:\n  - name: the-case\n    request: ${request}\n    expect: ${expect}\n`, 't.test.yaml');
}

function run(request: string, expect: string) {
  return runPolicyCase(policy, oneCase(request, expect).cases[0], options);
}

const READ_NAME = '{ agent: { name: bot }, resource: crm.customers, actions: [read], columns: [name], duration: 1h }';

describe('parsePolicyTests', () => {
  it('reads cases with their paths, durations in seconds and times as instants', () => {
    const file = parsePolicyTests(
      `policy: ../p.yaml
cases:
  - name: a
    request:
      agent: { name: bot, id: agt_1, attributes: { tier: gold, tags: [a, b] } }
      resource: crm.customers
      actions: [read]
      duration: PT15M
      onBehalfOf: { id: alice, groups: [sales] }
      at: "2026-11-23T10:00:00+01:00"
      sourceIp: "::ffff:10.1.2.3"
    expect: { outcome: require_approval, rules: [pii-for-sales], duration: 1h, approvers: crm-owners, approvals: 2 }
`,
      'tests/a.test.yaml',
    );
    expect(file.policy).toBe('../p.yaml');
    expect(file.cases).toHaveLength(1);
    expect(file.cases[0]).toMatchObject({
      name: 'a',
      path: 'cases[0]',
      request: { duration: 'PT15M', at: new Date('2026-11-23T09:00:00Z'), agent: { attributes: { tags: ['a', 'b'] } } },
      expect: { outcome: 'require_approval', rules: ['pii-for-sales'], durationSeconds: 3600, approvers: 'crm-owners', approvals: 2 },
    });
  });

  it('names the file, the path and the reason of every problem', () => {
    const error = thrown(() =>
      parsePolicyTests(
        `cases:
  - name: a
    request: { agent: { name: x }, resource: r, actions: [read], duration: 5m, at: "2026-01-01T10:00:00", sourceIp: 300.1.1.1, colums: [a] }
    expect: { outcome: approve, error: UNKNOWN_COLUMN }
  - request: { agent: {}, resource: r, actions: [read], duration: 5m }
    expect: { outcome: maybe, duration: 5, error: NOPE }
`,
        'bad.test.yaml',
      ),
    );
    expect(error).toBeInstanceOf(PolicyTestError);
    expect(error.code).toBe(AccessErrorCode.VALIDATION_FAILED);
    expect(error.message).toMatch(/^bad\.test\.yaml: cases\[0\]\.request\.at: expected an ISO 8601 time with its offset.* \(and 8 more\)$/);
    expect(error.details.map((d) => d.path)).toEqual([
      'cases[0].request.at',
      'cases[0].request.sourceIp',
      'cases[0].request.colums',
      'cases[0].expect',
      'cases[1].name',
      'cases[1].request.agent.name',
      'cases[1].expect.outcome',
      'cases[1].expect.error',
      'cases[1].expect.duration',
    ]);
    expect(error.details[2].message).toBe(
      'unknown key "colums"; expected one of: agent, resource, actions, columns, operations, duration, reason, onBehalfOf, at, sourceIp, breakGlass, history, requestsThisMinute, usage, extension, extends',
    );
    expect(error.details[3].message).toBe('give either outcome (approve, require_approval or deny) or error (a refusal code)');
    expect(error.details[7].message).toBe(
      'expected "VALIDATION_FAILED" or "INVALID_DURATION" or "DURATION_TOO_LONG" or "UNKNOWN_RESOURCE" or "ACTION_NOT_ALLOWED" or "UNKNOWN_COLUMN" or "UNKNOWN_OPERATION" or "BREAK_GLASS_NOT_ALLOWED", got "NOPE"',
    );
  });

  it('refuses duplicate case names, YAML errors, an empty file, no cases and text that cannot be stored', () => {
    const twice = `cases:\n${['a', 'a'].map((name) => `  - { name: ${name}, request: ${READ_NAME}, expect: { outcome: approve } }\n`).join('')}`;
    expect(thrown(() => parsePolicyTests(twice, 't.yaml')).message).toBe('t.yaml: cases[1].name: duplicate case name "a"; cases[0] already uses it');
    expect(thrown(() => parsePolicyTests('cases: [', 't.yaml')).message).toMatch(/^t\.yaml: YAML syntax error at line 1/);
    expect(thrown(() => parsePolicyTests('', 't.yaml')).message).toBe('t.yaml: the file is empty; a test file needs "cases:"');
    expect(thrown(() => parsePolicyTests('cases: []', 't.yaml')).message).toBe('t.yaml: cases: must list at least one case');
    expect(thrown(() => parsePolicyTests('cases:\n  - name: "a\\0b"', 't.yaml')).details[0]).toEqual({
      path: 'cases[0].name',
      message: 'contains a NUL character (U+0000), which cannot be stored',
    });
  });

  it('refuses expectations that cannot go together', () => {
    const paths = (expect: string) => thrown(() => oneCase(READ_NAME, expect)).details.map((d) => `${d.path}: ${d.message}`);
    expect(paths('{ error: UNKNOWN_COLUMN, rules: [] }')).toEqual([
      'cases[0].expect.rules: a refused request has no rules; drop it or expect an outcome',
    ]);
    expect(paths('{ outcome: approve, approvers: security }')).toEqual([
      'cases[0].expect.approvers: only require_approval has approvers; this case expects approve',
    ]);
  });
});

describe('checkTestsAgainstPolicy', () => {
  it('refuses an expected rule the policy does not have', () => {
    const file = oneCase(READ_NAME, '{ outcome: approve, rules: [read] }');
    expect(thrown(() => checkTestsAgainstPolicy(file, policy)).message).toBe(
      't.test.yaml: cases[0].expect.rules[0]: no rule "read" in p.yaml; its rules: no-restricted, reads, pii-for-sales, bots-by-day',
    );
    expect(() => checkTestsAgainstPolicy(oneCase(READ_NAME, '{ outcome: approve, rules: [reads] }'), policy)).not.toThrow();
  });
});

describe('runPolicyCase', () => {
  it('learns a baseline from history and compares the anomalies as a set', () => {
    const history = 'history: [{ resource: crm.customers, columns: [id, name], onBehalfOf: { id: alice }, at: "2026-11-18T10:00:00Z", times: 20 }]';
    const ask = (extra: string) =>
      `{ agent: { name: bot }, resource: crm.customers, actions: [read], columns: [name, email], duration: 5m, at: "2026-11-25T10:00:00Z", ${history}${extra} }`;
    const result = run(ask(''), '{ outcome: require_approval, anomalies: [sensitivity_jump, new_columns] }');
    expect(result.mismatches).toEqual([]);
    expect(run(ask(', requestsThisMinute: 30'), '{ outcome: require_approval, anomalies: [new_columns, sensitivity_jump] }').mismatches).toEqual([
      'anomalies differs',
    ]);
    const failure = formatPolicyTestFailure('t.test.yaml', run(ask(''), '{ outcome: require_approval, anomalies: [] }'));
    expect(failure[1]).toBe('  expected: require_approval, anomalies []');
    expect(failure[2]).toContain('anomalies [new_columns, sensitivity_jump]');
  });

  it('refuses an unknown anomaly code in expect, with its path', () => {
    const error = thrown(() => oneCase(READ_NAME, '{ outcome: approve, anomalies: [odd] }'));
    expect(error).toBeInstanceOf(PolicyTestError);
    expect((error as PolicyTestError).details[0]).toEqual({
      path: 'cases[0].expect.anomalies[0]',
      message: expect.stringContaining('expected an anomaly code: new_resource'),
    });
  });

  it('passes when outcome, rules and the clamped duration are as expected', () => {
    const result = run(READ_NAME, '{ outcome: approve, rules: [reads], duration: 20m }');
    expect(result.mismatches).toEqual([]);
    expect(result.answer).toMatchObject({ kind: 'decision', decision: { outcome: 'approve', rules: ['reads'], durationSeconds: 1200 } });
  });

  it('fails on each part that differs, and says which', () => {
    expect(run(READ_NAME, '{ outcome: deny }').mismatches).toEqual(['outcome differs']);
    expect(run(READ_NAME, '{ outcome: approve, rules: [] }').mismatches).toEqual(['rules differs']);
    expect(run(READ_NAME, '{ outcome: approve, duration: 1h }').mismatches).toEqual(['duration differs']);
    expect(run(READ_NAME, '{ outcome: require_approval, rules: [pii-for-sales], duration: 1h }').mismatches).toEqual([
      'outcome, rules, duration differ',
    ]);
  });

  it('compares rules as a set, in any order', () => {
    const request = '{ agent: { name: bot }, resource: crm.customers, actions: [read], columns: [ssn, name], duration: 5m }';
    expect(run(request, '{ outcome: deny, rules: [no-restricted, no-restricted] }').mismatches).toEqual([]);
  });

  it('takes the named user as proven: their groups reach the rules, and approvers and approvals are checked', () => {
    const request =
      '{ agent: { name: bot }, resource: crm.customers, actions: [read], columns: [email], duration: 2h, onBehalfOf: { id: alice, groups: [sales] } }';
    expect(
      run(request, '{ outcome: require_approval, rules: [pii-for-sales], duration: 1h, approvers: crm-owners, approvals: 2 }').mismatches,
    ).toEqual([]);
    expect(run(request, '{ outcome: require_approval, approvers: security }').mismatches).toEqual(['approvers differs']);
    expect(run(request, '{ outcome: require_approval, approvals: 1 }').mismatches).toEqual(['approvals differs']);
    const nobody = '{ agent: { name: bot }, resource: crm.customers, actions: [read], columns: [email], duration: 2h }';
    expect(run(nobody, '{ outcome: require_approval, rules: [], approvers: security, approvals: 1 }').mismatches).toEqual([]);
  });

  it("judges the agent's id, name and attributes, the time (at, else now) and the source address", () => {
    const request = (extra: string) =>
      `{ agent: { name: day-bot, attributes: { tier: silver } }, resource: crm.customers, actions: [write], columns: [name], duration: 5m, ${extra} }`;
    const approved = '{ outcome: approve, rules: [bots-by-day] }';
    expect(run(request('sourceIp: "::ffff:10.9.9.9", at: "2026-11-25T16:59:00+01:00"'), approved).mismatches).toEqual([]);
    expect(run(request('sourceIp: 10.9.9.9, at: "2026-11-25T17:00:00+01:00"'), approved).mismatches).toEqual(['outcome, rules differ']);
    expect(run(request('sourceIp: 11.0.0.1, at: "2026-11-25T12:00:00+01:00"'), approved).mismatches).toEqual(['outcome, rules differ']);
    expect(run(request('sourceIp: 10.0.0.1'), approved).mismatches).toEqual([]); // options.now is 11:00 in Paris
    const byId =
      '{ agent: { name: other, id: day-bot, attributes: { tier: gold } }, resource: crm.customers, actions: [write], columns: [name], duration: 5m, sourceIp: 10.0.0.1 }';
    expect(run(byId, approved).mismatches).toEqual([]);
    const noTier = '{ agent: { name: day-bot }, resource: crm.customers, actions: [write], columns: [name], duration: 5m, sourceIp: 10.0.0.1 }';
    expect(run(noTier, approved).mismatches).toEqual(['outcome, rules differ']);
  });

  it('judges requests for operations of an HTTP resource', () => {
    const http = parsePolicy(
      `version: 1
resources:
  github.issues:
    upstream: https://api.github.com
    operations:
      read-issues: { method: GET, path: "/repos/*/*/issues/**", sensitivity: internal }
      comment: { method: POST, path: "/repos/*/*/issues/*/comments", sensitivity: pii }
rules:
  - { id: comments, effect: require_approval, when: { operations: [comment] } }
  - { id: reads, effect: approve, when: { actions: [read] } }
`,
      'h.yaml',
    );
    const file = parsePolicyTests(
      `cases:
  - name: read
    request: { agent: { name: bot }, resource: github.issues, actions: [read], operations: [read-issues], duration: 10m }
    expect: { outcome: approve, rules: [reads] }
  - name: comment
    request: { agent: { name: bot }, resource: github.issues, actions: [write], operations: [comment], duration: 10m }
    expect: { outcome: require_approval, rules: [comments] }
  - name: beyond-actions
    request: { agent: { name: bot }, resource: github.issues, actions: [read], operations: [comment], duration: 10m }
    expect: { error: ACTION_NOT_ALLOWED }
`,
      'h.test.yaml',
    );
    expect(file.cases.map((c) => runPolicyCase(http, c, options).mismatches)).toEqual([[], [], []]);
  });

  it('decides extensions: extension: true and extends.used (the chain counts against maxDuration)', () => {
    const extending = parsePolicy(
      `version: 1
defaults: { maxDuration: 1h, approvers: security }
resources:
  crm.customers:
    columns: { id: public, name: internal }
rules:
  - { id: reads, effect: approve, when: { actions: [read], extension: false }, maxDuration: 20m }
  - { id: extended-reads, effect: require_approval, when: { actions: [read], extension: true }, maxDuration: 30m }
`,
      'e.yaml',
    );
    const file = parsePolicyTests(
      `cases:
  - name: new
    request: { agent: { name: bot }, resource: crm.customers, actions: [read], columns: [name], duration: 15m }
    expect: { outcome: approve, rules: [reads], duration: 15m }
  - name: extension
    request: { agent: { name: bot }, resource: crm.customers, actions: [read], columns: [name], duration: 15m, extension: true }
    expect: { outcome: require_approval, rules: [extended-reads], duration: 15m }
  - name: clamped
    request: { agent: { name: bot }, resource: crm.customers, actions: [read], columns: [name], duration: 15m, extends: { used: 20m } }
    expect: { outcome: require_approval, rules: [extended-reads], duration: 10m }
  - name: used-up
    request: { agent: { name: bot }, resource: crm.customers, actions: [read], columns: [name], duration: 15m, extends: { used: 30m } }
    expect: { outcome: deny, rules: [extended-reads] }
`,
      'e.test.yaml',
    );
    expect(file.cases.map((c) => runPolicyCase(extending, c, options).mismatches)).toEqual([[], [], [], []]);
    expect(
      thrown(() =>
        oneCase(`{ agent: { name: bot }, resource: crm.customers, actions: [read], duration: 5m, extends: { used: soon } }`, '{ outcome: approve }'),
      ).details,
    ).toEqual([{ path: 'cases[0].request.extends.used', message: expect.stringContaining('soon') }]);
  });

  it("answers what the broker would refuse: bad duration, the broker's cap, unknown column", () => {
    const ask = (columns: string, duration: string) =>
      `{ agent: { name: bot }, resource: crm.customers, actions: [read], columns: ${columns}, duration: ${duration} }`;
    expect(run(ask('[name]', 'soon'), '{ error: INVALID_DURATION }').mismatches).toEqual([]);
    expect(run(ask('[name]', '2d'), '{ error: DURATION_TOO_LONG }').mismatches).toEqual([]);
    expect(run(ask('[pwd]', '5m'), '{ error: UNKNOWN_COLUMN }').mismatches).toEqual([]);
    expect(run(ask('[pwd]', '5m'), '{ outcome: approve }').mismatches).toEqual([
      'expected the policy to decide approve, but the broker refused the request with UNKNOWN_COLUMN',
    ]);
    expect(run(ask('[name]', '5m'), '{ error: UNKNOWN_COLUMN }').mismatches).toEqual([
      'expected the broker to refuse with UNKNOWN_COLUMN, but the policy decided',
    ]);
    expect(run(ask('[pwd]', '5m'), '{ error: UNKNOWN_RESOURCE }').mismatches).toEqual([
      'expected the broker to refuse with UNKNOWN_RESOURCE, but it refused with UNKNOWN_COLUMN',
    ]);
  });
});

describe('reporting', () => {
  it('prints the case, what was expected, what came and its message', () => {
    const result = run(READ_NAME, '{ outcome: require_approval, rules: [], duration: 1h, approvers: security }');
    expect(formatPolicyTestFailure('t.test.yaml', result)).toEqual([
      'FAIL t.test.yaml cases[0] "the-case": outcome, rules, duration, approvers differ',
      '  expected: require_approval, rules [] (no rule matched: the default), duration 1h, approvers security',
      '  got:      approve, rules [reads], duration 20m',
      '  message:  Approved by rule reads.',
    ]);
    const refused = run('{ agent: { name: bot }, resource: crm.customers, actions: [read], columns: [pwd], duration: 5m }', '{ outcome: approve }');
    expect(formatPolicyTestFailure('t.test.yaml', refused).slice(1)).toEqual([
      '  expected: approve',
      '  got:      refused with UNKNOWN_COLUMN',
      '  message:  crm.customers has no column "pwd"; known columns: id, name, email, ssn.',
    ]);
  });

  it('sums up in one line', () => {
    const file = parsePolicyTests(
      `cases:\n  - { name: a, request: ${READ_NAME}, expect: { outcome: approve } }\n  - { name: b, request: ${READ_NAME}, expect: { outcome: deny } }\n`,
      't.yaml',
    );
    const results = runPolicyTests(policy, file, options);
    expect(results.map((result) => result.mismatches.length)).toEqual([0, 1]);
    expect(summarizePolicyTests(results, 1, ['p.yaml'])).toBe('policy tests: 1 passed, 1 failed (1 file, p.yaml)');
    expect(summarizePolicyTests(results.slice(0, 1), 2, ['p.yaml', 'q.yaml'])).toBe('policy tests: 1 passed (2 files, p.yaml, q.yaml)');
  });
});
