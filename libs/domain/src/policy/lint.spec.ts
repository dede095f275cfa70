import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { riskScore } from '../risk';
import { conditionsHold } from './conditions';
import { evaluatePolicy } from './evaluate';
import { lintPolicy, LintWarning } from './lint';
import { parsePolicy } from './parse';
import { highestSensitivity, resolveScope } from './scope';
import { Policy } from './types';

const DAY = 86400;
const RESOURCES = `
resources:
  crm.customers: { owners: crm-owners, columns: { id: public, name: internal, email: pii, ssn: restricted } }
  billing.invoices: { columns: { id: public, card: pii }, actions: [read] }
  docs.wiki: { defaultSensitivity: internal }
`;

function policyOf(rules: string, resources = RESOURCES): Policy {
  return parsePolicy(
    `version: 1\ndefaults: { maxDuration: 1h, approvers: security, businessHours: { tz: Europe/Paris } }\n${resources}\nrules:\n${rules}`,
    'p.yaml',
  );
}

function lint(rules: string, resources = RESOURCES): string[] {
  return lintPolicy(policyOf(rules, resources), { maxRequestDurationSeconds: DAY }).map((w) => `${w.path} ${w.code}: ${w.message}`);
}

// Rules that speak for every resource, so that only the rule under test can draw a warning.
const BASELINE = `
  - { id: base-read, effect: approve, when: { actions: [read] } }
`;

describe('lintPolicy', () => {
  it('finds nothing in the shipped policy', () => {
    const file = join(__dirname, '../../../../policies/default.yaml');
    expect(lintPolicy(parsePolicy(readFileSync(file, 'utf8'), file), { maxRequestDurationSeconds: DAY })).toEqual([]);
  });

  describe('HTTP resources', () => {
    const HTTP = `${RESOURCES}  github.issues:
    upstream: https://api.github.com
    operations:
      read-issues: { method: GET, path: "/repos/*/*/issues/**", sensitivity: internal }
      comment: { method: POST, path: "/repos/*/*/issues/*/comments", sensitivity: pii }
`;

    it('a rule on operations never matches data, nor operations beyond its actions', () => {
      expect(lint(`${BASELINE}  - { id: crm-comments, effect: deny, when: { resources: [crm.*], operations: [comment] } }\n`, HTTP)).toEqual([
        'rules[1] never_matches: never matches: none of its operations [comment] can be asked for (crm.customers grants columns, not operations)',
      ]);
      expect(lint(`${BASELINE}  - { id: read-comments, effect: approve, when: { actions: [read], operations: [comment] } }\n`, HTTP)).toEqual([
        expect.stringMatching(/^rules\[1\] never_matches: never matches: none of its operations \[comment\] can be asked for/),
      ]);
      expect(
        lint(`${BASELINE}  - { id: pii-ops, effect: deny, when: { resources: [github.*], sensitivity: { atLeast: restricted } } }\n`, HTTP),
      ).toEqual(['rules[1] never_matches: never matches: sensitivity atLeast restricted fits no operation (github.issues is rated internal, pii)']);
    });

    it('an approval on operations always overridden by a deny on those operations', () => {
      const rules = `${BASELINE}  - { id: no-comments, effect: deny, when: { operations: [comment] } }
  - { id: comments, effect: approve, when: { resources: [github.issues], operations: [comment] } }
`;
      expect(lint(rules, HTTP)).toEqual([expect.stringMatching(/^rules\[2\] always_overridden: .*no-comments/)]);
      // The deny covers comment only; an approval of both operations may still decide read-issues alone.
      const wider = rules.replace('[github.issues], operations: [comment]', '[github.issues], operations: [comment, read-issues]');
      expect(wider).not.toBe(rules);
      expect(lint(wider, HTTP).filter((w) => w.includes('always_overridden'))).toEqual([]);
    });
  });

  describe('rules that can never match', () => {
    it('resources globs that match no resource, and dead patterns beside live ones', () => {
      expect(lint(`${BASELINE}  - { id: legacy, effect: deny, when: { resources: [legacy.*, old.*] } }\n`)).toEqual([
        'rules[1] never_matches: never matches: its resources [legacy.*, old.*] match no resource of the policy',
      ]);
      expect(lint(`${BASELINE}  - { id: half, effect: deny, when: { resources: [legacy.*, docs.*] } }\n`)).toEqual([
        'rules[1].when.resources[0] dead_pattern: "legacy.*" matches no resource; the rule applies only through its other patterns',
      ]);
    });

    it('sensitivity above (or below) every column of every resource it can apply to', () => {
      expect(
        lint(`${BASELINE}  - { id: wiki-pii, effect: deny, when: { resources: [docs.*, billing.*], sensitivity: { atLeast: restricted } } }\n`),
      ).toEqual([
        'rules[1] never_matches: never matches: sensitivity atLeast restricted fits no column (billing.invoices is rated public, pii; docs.wiki is rated internal)',
      ]);
      // crm.customers has a restricted column: the same rule without `resources` may match there
      expect(lint(`${BASELINE}  - { id: any-restricted, effect: deny, when: { sensitivity: { atLeast: restricted } } }\n`)).toEqual([]);
      expect(lint(`${BASELINE}  - { id: wiki-public, effect: deny, when: { resources: [docs.wiki], sensitivity: { atMost: public } } }\n`)).toEqual([
        'rules[1] never_matches: never matches: sensitivity atMost public fits no column (docs.wiki is rated internal)',
      ]);
    });

    it('actions a resource never allows', () => {
      expect(lint(`${BASELINE}  - { id: invoice-writes, effect: deny, when: { resources: [billing.*], actions: [write, delete] } }\n`)).toEqual([
        'rules[1] never_matches: never matches: none of its actions [write, delete] is allowed (billing.invoices allows read)',
      ]);
    });

    it("a duration atLeast over the broker's cap, but not one over defaults.maxDuration (a long request is clamped, not refused)", () => {
      expect(lint(`${BASELINE}  - { id: long, effect: deny, when: { duration: { atLeast: 25h } } }\n`)).toEqual([
        "rules[1] never_matches: never matches: duration atLeast 25h is over the broker's cap of 24h (GATEHOUSE_MAX_DURATION), which refuses longer requests",
      ]);
      expect(lint(`${BASELINE}  - { id: longish, effect: deny, when: { duration: { atLeast: 2h } } }\n`)).toEqual([]);
    });

    it('contradictory bounds and a time window with no day (which the parser refuses in a file)', () => {
      const policy = policyOf(BASELINE);
      const rule = (when: object) => ({ ...policy, rules: [...policy.rules, { id: 'x', effect: 'deny' as const, when }] });
      const messages = (when: object) => lintPolicy(rule(when), { maxRequestDurationSeconds: DAY }).map((w: LintWarning) => w.message);
      expect(messages({ sensitivity: { atLeast: 'pii', atMost: 'internal' } })).toEqual([
        'never matches: sensitivity atLeast pii is above atMost internal',
      ]);
      expect(messages({ duration: { atLeast: 600, atMost: 60 } })).toEqual(['never matches: duration atLeast 10m is above atMost 1m']);
      expect(messages({ riskScore: { atLeast: 50, atMost: 40 } })).toEqual(['never matches: riskScore atLeast 50 is above atMost 40']);
      expect(messages({ timeWindow: { days: [], tz: 'UTC' } })).toEqual(['never matches: its timeWindow contains no day and time']);
    });

    it('a risk score out of reach of every request it can match', () => {
      expect(
        lint(
          `${BASELINE}  - { id: risky-reads, effect: deny, when: { riskScore: { atLeast: 95 }, actions: [read], onBehalfOf: { required: true }, anomalies: { none: true } } }\n`,
        ),
      ).toEqual([
        'rules[1] never_matches: never matches: riskScore atLeast 95 is out of reach (crm.customers scores 0 to 70; billing.invoices scores 0 to 57; docs.wiki scores 13 to 43)',
      ]);
      // anomalies add up to 30: with them, even a read for a user can reach 95
      expect(
        lint(
          `${BASELINE}  - { id: odd-reads, effect: deny, when: { riskScore: { atLeast: 95 }, actions: [read], onBehalfOf: { required: true } } }\n`,
        ),
      ).toEqual([]);
      // writing, for nobody, for a day, off hours: crm.customers can reach 100
      expect(lint(`${BASELINE}  - { id: risky, effect: deny, when: { riskScore: { atLeast: 95 } } }\n`)).toEqual([]);
    });
  });

  describe('rules always overridden', () => {
    it('an approve or require_approval rule whose every match a deny rule also matches', () => {
      expect(
        lint(`${BASELINE}  - { id: no-restricted, effect: deny, when: { sensitivity: { atLeast: restricted } } }
  - { id: ssn-ok, effect: approve, when: { resources: [crm.*], sensitivity: { atLeast: restricted } } }
  - { id: ssn-ask, effect: require_approval, when: { sensitivity: { atLeast: restricted }, agents: [a] } }
  - { id: pii-ask, effect: require_approval, when: { sensitivity: { atLeast: pii } } }
`),
      ).toEqual([
        'rules[2] always_overridden: always overridden: every request it matches is denied by rule no-restricted, so it never decides',
        'rules[3] always_overridden: always overridden: every request it matches is denied by rule no-restricted, so it never decides',
      ]);
    });

    it('an approve rule whose every match a require_approval rule also matches, part by part', () => {
      expect(
        lint(`${BASELINE}  - { id: no-restricted, effect: deny, when: { sensitivity: { atLeast: restricted } } }
  - { id: pii-ask, effect: require_approval, when: { sensitivity: { atLeast: pii }, actions: [read, write] } }
  - { id: crm-pii-ok, effect: approve, when: { resources: [crm.customers], sensitivity: { atLeast: pii }, actions: [read] } }
`),
      ).toEqual([
        'rules[3] always_overridden: always overridden: every request it matches is denied by rule no-restricted or asked of people by rule pii-ask (require_approval wins over approve), so it never decides',
      ]);
    });

    it('follows time windows, networks, durations, agents, attributes, groups and risk within the same terms', () => {
      const deny = `  - { id: night, effect: deny, when: { timeWindow: { from: "20:00", to: "07:00", tz: Europe/Paris }, sourceIp: [10.0.0.0/8], duration: { atLeast: 5m }, agents: [a, b], agentAttributes: { tier: [gold, silver] }, onBehalfOf: { groups: [x, y] }, riskScore: { atMost: 90 } } }\n`;
      const inside = `  - { id: late, effect: approve, when: { actions: [read], timeWindow: { from: "21:00", to: "23:00", tz: Europe/Paris }, sourceIp: [10.1.0.0/16, 10.2.3.4], duration: { atLeast: 10m, atMost: 20m }, agents: [a], agentAttributes: { tier: gold }, onBehalfOf: { groups: [x] } } }\n`;
      expect(lint(`${BASELINE}${deny}${inside}`)).toEqual([
        'rules[2] always_overridden: always overridden: every request it matches is denied by rule night, so it never decides',
      ]);
      // each widening lets some request through: no warning
      for (const [from, to] of [
        ['"21:00", to: "23:00"', '"19:00", to: "23:00"'],
        ['10.1.0.0/16', '11.0.0.0/8'],
        ['atLeast: 10m', 'atLeast: 1m'],
        ['agents: [a]', 'agents: [a, c]'],
        ['tier: gold', 'tier: [gold, bronze]'],
        ['groups: [x] }', 'groups: [x, z] }'],
      ]) {
        expect(lint(`${BASELINE}${deny}${inside.replace(from, to)}`)).toEqual([]);
      }
      expect(lint(`${BASELINE}${deny}${inside.replace('tz: Europe/Paris }', 'tz: Europe/London }')}`)).toEqual([]); // another zone: not judged
    });

    it('knows extension: true and false never meet, and that a rule without it covers both', () => {
      const deny = `  - { id: no-extending-writes, effect: deny, when: { extension: true, actions: [write] } }\n`;
      expect(lint(`${BASELINE}${deny}  - { id: writes-extended, effect: approve, when: { extension: true, actions: [write] } }\n`)).toEqual([
        'rules[2] always_overridden: always overridden: every request it matches is denied by rule no-extending-writes, so it never decides',
      ]);
      expect(lint(`${BASELINE}${deny}  - { id: new-writes, effect: approve, when: { extension: false, actions: [write] } }\n`)).toEqual([]);
      expect(lint(`${BASELINE}${deny}  - { id: any-writes, effect: approve, when: { actions: [write] } }\n`)).toEqual([]);
    });

    it('does not claim an override that needs several deny rules in one part (not detected)', () => {
      expect(
        lint(`${BASELINE}  - { id: mornings, effect: deny, when: { timeWindow: { from: "00:00", to: "12:00", tz: UTC } } }
  - { id: afternoons, effect: deny, when: { timeWindow: { from: "12:00", to: "00:00", tz: UTC } } }
  - { id: never-decides, effect: approve, when: { resources: [docs.*], actions: [write] } }
`),
      ).toEqual([]);
    });
  });

  it('names resources no rule speaks for', () => {
    expect(
      lint(
        `  - { id: crm-only, effect: approve, when: { resources: [crm.*] } }\n  - { id: dead, effect: deny, when: { resources: [docs.*], sensitivity: { atLeast: pii } } }\n`,
      ),
    ).toEqual([
      'rules[1] never_matches: never matches: sensitivity atLeast pii fits no column (docs.wiki is rated internal)',
      'resources["billing.invoices"] unspoken_resource: no rule can match a request for it: every request goes to the default approvers (security)',
      'resources["docs.wiki"] unspoken_resource: no rule can match a request for it: every request goes to the default approvers (security)',
    ]);
  });
});

// Soundness: against the evaluator itself, no generated request ever matches a rule said never to
// match, and a rule said to be always overridden never decides one.
describe('lintPolicy is sound', () => {
  const policy = policyOf(`
  - { id: no-restricted, effect: deny, when: { sensitivity: { atLeast: restricted } } }
  - { id: night, effect: deny, when: { timeWindow: { from: "20:00", to: "07:00", tz: Europe/Paris }, agentAttributes: { autonomy: unattended } } }
  - { id: blocked, effect: deny, when: { sourceIp: [192.0.2.0/24] } }
  - { id: reads, effect: approve, when: { actions: [read], sensitivity: { atMost: internal } } }
  - { id: pii-ask, effect: require_approval, when: { sensitivity: { atLeast: pii } } }
  - { id: risky, effect: deny, when: { riskScore: { atLeast: 71 }, actions: [read], onBehalfOf: { required: true }, anomalies: { none: true } } }
  - { id: risky-low, effect: require_approval, when: { riskScore: { atMost: 5 }, actions: [write] } }
  - { id: ssn-ok, effect: approve, when: { resources: [crm.*], sensitivity: { atLeast: restricted } } }
  - { id: crm-pii-ok, effect: approve, when: { resources: [crm.customers], sensitivity: { atLeast: pii }, actions: [read] } }
  - { id: late, effect: require_approval, when: { agentAttributes: { autonomy: unattended }, timeWindow: { from: "21:00", to: "23:00", tz: Europe/Paris }, sourceIp: [192.0.2.128/25] } }
  - { id: wiki-pii, effect: deny, when: { resources: [docs.*], sensitivity: { atLeast: pii } } }
  - { id: invoice-writes, effect: deny, when: { resources: [billing.*], actions: [write] } }
  - { id: long, effect: deny, when: { duration: { atLeast: 25h } } }
  - { id: calm, effect: require_approval, when: { riskScore: { atMost: 5 } } }
  - { id: evening, effect: approve, when: { agentAttributes: { autonomy: unattended }, timeWindow: { from: "18:00", to: "21:00", tz: Europe/Paris }, resources: [docs.*] } }
  - { id: no-billing-extensions, effect: deny, when: { extension: true, resources: [billing.*] } }
  - { id: billing-extension-ok, effect: approve, when: { extension: true, resources: [billing.invoices], actions: [read] } }
  - { id: short-extensions, effect: approve, when: { extension: true, duration: { atMost: 10m }, sensitivity: { atMost: internal } } }
`);
  const warnings = lintPolicy(policy, { maxRequestDurationSeconds: DAY });
  const flagged = (code: string) => warnings.filter((w) => w.code === code).map((w) => w.subject);

  it('flags what this policy holds', () => {
    // risky-low: a write scores at least 20
    expect(flagged('never_matches').sort()).toEqual(['invoice-writes', 'long', 'risky', 'risky-low', 'wiki-pii']);
    expect(flagged('always_overridden').sort()).toEqual(['billing-extension-ok', 'crm-pii-ok', 'late', 'ssn-ok']);
  });

  it('holds for generated requests', () => {
    const request = fc.record({
      resource: fc.constantFrom(...Object.keys(policy.resources)),
      pick: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
      write: fc.boolean(),
      read: fc.boolean(),
      durationSeconds: fc.oneof(fc.integer({ min: 1, max: DAY }), fc.constantFrom(1, 300, 3600, DAY)),
      unattended: fc.boolean(),
      user: fc.boolean(),
      ip: fc.constantFrom('10.0.0.1', '192.0.2.1', '192.0.2.200', '::ffff:192.0.2.130'),
      minute: fc.integer({ min: 0, max: 7 * 24 * 60 - 1 }),
      extension: fc.boolean(),
    });
    fc.assert(
      fc.property(request, (r) => {
        const resource = policy.resources[r.resource];
        const listed = Object.keys(resource.columns);
        const columns = listed.length === 0 ? undefined : [...new Set(r.pick.map((n) => listed[n % listed.length]))];
        const wanted = resource.actions.filter((action) => (action === 'write' ? r.write : r.read));
        const actions = wanted.length > 0 ? wanted : [resource.actions[0]];
        const scope = resolveScope(policy, { resource: r.resource, actions, columns });
        const now = new Date(Date.UTC(2026, 10, 23) + r.minute * 60_000);
        const agent = { id: 'agt', name: 'bot', attributes: r.unattended ? { autonomy: 'unattended' } : {} };
        const onBehalfOf = r.user ? { id: 'u', email: 'u@x', groups: [] } : null;
        const input = {
          agent,
          resource: r.resource,
          actions: scope.actions,
          columns: scope.columns,
          operations: scope.operations,
          durationSeconds: r.durationSeconds,
          onBehalfOf,
          sourceIp: r.ip,
          now,
          extension: r.extension ? { usedSeconds: 0 } : null,
        };
        const decision = evaluatePolicy(policy, input);
        for (const id of flagged('always_overridden')) expect(decision.rules).not.toContain(id);
        const sensitivity = highestSensitivity(policy, r.resource, scope.columns);
        const score = riskScore(policy, { sensitivity, durationSeconds: r.durationSeconds, actions: scope.actions, onBehalfOf: r.user, now });
        for (const id of flagged('never_matches')) {
          const rule = policy.rules.find((candidate) => candidate.id === id)!;
          const context = {
            ...input,
            sensitivityRank: policy.sensitivity.indexOf(sensitivity),
            rankOf: (label: string) => policy.sensitivity.indexOf(label),
            riskScore: score,
            anomalies: [],
            extension: r.extension,
          };
          expect(conditionsHold(rule.when, context)).toBe(false);
        }
      }),
      { numRuns: 3000, seed: 20261125 },
    );
  });
});
