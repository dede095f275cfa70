import { EvaluationInput, evaluatePolicy } from './evaluate';
import { parsePolicy } from './parse';

const WEDNESDAY_NOON = new Date('2025-01-15T12:00:00Z');

function input(overrides: Partial<EvaluationInput> = {}): EvaluationInput {
  return {
    agent: { id: 'agt_1', name: 'report-bot', attributes: { env: 'prod', tier: 2, tags: ['billing', 'nightly'] } },
    resource: 'crm.customers',
    actions: ['read'],
    columns: ['name'],
    durationSeconds: 900,
    onBehalfOf: { id: 'usr_alice', email: 'alice@example.com', groups: ['sales', 'support'] },
    sourceIp: '10.1.2.3',
    now: WEDNESDAY_NOON,
    ...overrides,
  };
}

/** Whether a single approve rule with these conditions (YAML flow mapping) matches the request. */
function matches(when: string, overrides: Partial<EvaluationInput> = {}): boolean {
  const policy = parsePolicy(
    `version: 1
resources:
  crm.customers: { columns: { id: public, name: internal, email: pii, ssn: restricted } }
  crm.leads: { columns: { id: public } }
  billing.invoices: { columns: { id: public } }
rules:
  - id: probe
    effect: approve
    when: ${when}
`,
    'conditions.yaml',
  );
  const decision = evaluatePolicy(policy, input(overrides));
  return decision.outcome === 'approve';
}

describe('conditions: each holds or not', () => {
  it('matches everything with no conditions', () => {
    expect(matches('{}')).toBe(true);
  });

  describe('agents', () => {
    it('matches the agent id', () => expect(matches('{ agents: [agt_1] }')).toBe(true));
    it('matches the agent name', () => expect(matches('{ agents: [other, report-bot] }')).toBe(true));
    it('does not match another agent', () => expect(matches('{ agents: [agt_2, ops-bot] }')).toBe(false));
  });

  describe('agentAttributes', () => {
    it('matches a single value', () => expect(matches('{ agentAttributes: { env: prod } }')).toBe(true));
    it('matches any of a list', () => expect(matches('{ agentAttributes: { env: [staging, prod] } }')).toBe(true));
    it('does not match a value outside the list', () => expect(matches('{ agentAttributes: { env: [staging, dev] } }')).toBe(false));
    it('needs every key to match', () => expect(matches('{ agentAttributes: { env: prod, tier: 3 } }')).toBe(false));
    it('compares numbers as numbers', () => {
      expect(matches('{ agentAttributes: { tier: 2 } }')).toBe(true);
      expect(matches('{ agentAttributes: { tier: "2" } }')).toBe(false);
    });
    it('matches an attribute that is itself a list when any value is listed', () => {
      expect(matches('{ agentAttributes: { tags: nightly } }')).toBe(true);
      expect(matches('{ agentAttributes: { tags: [weekly, billing] } }')).toBe(true);
      expect(matches('{ agentAttributes: { tags: weekly } }')).toBe(false);
    });
    it('does not match a missing attribute', () => expect(matches('{ agentAttributes: { team: sre } }')).toBe(false));
    it('matches booleans', () => {
      expect(matches('{ agentAttributes: { trusted: true } }', { agent: { id: 'a', name: 'b', attributes: { trusted: true } } })).toBe(true);
      expect(matches('{ agentAttributes: { trusted: true } }', { agent: { id: 'a', name: 'b', attributes: { trusted: false } } })).toBe(false);
    });
  });

  describe('resources', () => {
    it('matches an exact id', () => expect(matches('{ resources: [crm.customers] }')).toBe(true));
    it('matches a prefix glob', () => {
      expect(matches('{ resources: ["crm.*"] }')).toBe(true);
      expect(matches('{ resources: ["crm.*"] }', { resource: 'crm.leads', columns: ['id'] })).toBe(true);
      expect(matches('{ resources: ["crm.*"] }', { resource: 'billing.invoices', columns: ['id'] })).toBe(false);
    });
    it('matches * for every resource', () => expect(matches('{ resources: ["*"] }', { resource: 'billing.invoices', columns: ['id'] })).toBe(true));
    it('treats dots literally', () => expect(matches('{ resources: ["crm.c*"] }', { resource: 'crm.leads', columns: ['id'] })).toBe(false));
    it('does not match another resource', () => expect(matches('{ resources: [crm.leads] }')).toBe(false));
  });

  describe('actions (requested must be a subset of listed)', () => {
    it('matches a subset', () => expect(matches('{ actions: [read, write] }')).toBe(true));
    it('matches an equal set', () => expect(matches('{ actions: [read, write] }', { actions: ['write', 'read'] })).toBe(true));
    it('does not match a superset of the listed', () => expect(matches('{ actions: [read] }', { actions: ['read', 'write'] })).toBe(false));
    it('allows actions no resource defines', () => expect(matches('{ actions: [read, export] }', { actions: ['export'] })).toBe(true));
  });

  describe('sensitivity (over the highest requested column)', () => {
    it.each([
      ['{ sensitivity: { atMost: internal } }', ['id', 'name'], true],
      ['{ sensitivity: { atMost: internal } }', ['name', 'email'], false],
      ['{ sensitivity: { atMost: pii } }', ['email'], true],
      ['{ sensitivity: { atLeast: pii } }', ['email'], true],
      ['{ sensitivity: { atLeast: pii } }', ['id', 'ssn'], true],
      ['{ sensitivity: { atLeast: pii } }', ['id', 'name'], false],
      ['{ sensitivity: { atLeast: internal, atMost: pii } }', ['name'], true],
      ['{ sensitivity: { atLeast: internal, atMost: pii } }', ['id'], false],
      ['{ sensitivity: { atLeast: internal, atMost: pii } }', ['ssn'], false],
    ])('%s for %j -> %s', (when, columns, expected) => {
      expect(matches(when, { columns })).toBe(expected);
    });
  });

  describe('duration (over the requested duration)', () => {
    it.each([
      ['{ duration: { atMost: 30m } }', 1800, true],
      ['{ duration: { atMost: 30m } }', 1801, false],
      ['{ duration: { atLeast: 1h } }', 3600, true],
      ['{ duration: { atLeast: 1h } }', 3599, false],
      ['{ duration: { atLeast: 10m, atMost: PT20M } }', 900, true],
    ])('%s for %ds -> %s', (when, durationSeconds, expected) => {
      expect(matches(when, { durationSeconds })).toBe(expected);
    });

    it('compares the requested duration, not the clamped one', () => {
      // defaults.maxDuration is 1h; a 2h request is still "at least 90m"
      expect(matches('{ duration: { atLeast: 90m } }', { durationSeconds: 7200 })).toBe(true);
    });
  });

  describe('onBehalfOf', () => {
    it('required: true matches when a user is named', () => expect(matches('{ onBehalfOf: { required: true } }')).toBe(true));
    it('required: true does not match without a user', () => {
      expect(matches('{ onBehalfOf: { required: true } }', { onBehalfOf: null })).toBe(false);
      expect(matches('{ onBehalfOf: { required: true } }', { onBehalfOf: undefined })).toBe(false);
    });
    it('required: false places no constraint', () => expect(matches('{ onBehalfOf: { required: false } }', { onBehalfOf: null })).toBe(true));
    it('groups match when the user is in any of them', () => expect(matches('{ onBehalfOf: { groups: [finance, support] } }')).toBe(true));
    it('groups do not match a user in none of them', () => expect(matches('{ onBehalfOf: { groups: [finance] } }')).toBe(false));
    it('groups do not match without a user', () => expect(matches('{ onBehalfOf: { groups: [sales] } }', { onBehalfOf: null })).toBe(false));
  });

  describe('sourceIp', () => {
    it.each([
      ['10.1.2.3', '[10.0.0.0/8]', true],
      ['11.1.2.3', '[10.0.0.0/8]', false],
      ['192.168.1.7', '[10.0.0.0/8, 192.168.1.0/24]', true],
      ['192.168.2.7', '[10.0.0.0/8, 192.168.1.0/24]', false],
      ['192.168.1.7', '[192.168.1.7]', true],
      ['2001:db8:1::5', '["2001:db8::/32"]', true],
      ['2001:db9::5', '["2001:db8::/32"]', false],
      ['::ffff:10.1.2.3', '[10.0.0.0/8]', true],
      ['::FFFF:10.1.2.3', '[10.0.0.0/8]', true],
      ['::ffff:11.1.2.3', '[10.0.0.0/8]', false],
      ['::ffff:a01:203', '[10.0.0.0/8]', true],
      ['10.1.2.3', '["2001:db8::/32"]', false],
      ['not an ip', '[0.0.0.0/0]', false],
    ])('%s in %s -> %s', (sourceIp, cidrs, expected) => {
      expect(matches(`{ sourceIp: ${cidrs} }`, { sourceIp })).toBe(expected);
    });

    it('does not match without an address', () => {
      expect(matches('{ sourceIp: [0.0.0.0/0] }', { sourceIp: null })).toBe(false);
      expect(matches('{ sourceIp: [0.0.0.0/0] }', { sourceIp: undefined })).toBe(false);
    });
  });

  describe('timeWindow', () => {
    const paris = '{ timeWindow: { from: "09:00", to: "17:00", tz: Europe/Paris } }';
    it.each([
      ['2025-01-15T07:59:00Z', false], // 08:59 Paris
      ['2025-01-15T08:00:00Z', true], // 09:00 Paris
      ['2025-01-15T15:59:00Z', true], // 16:59 Paris
      ['2025-01-15T16:00:00Z', false], // 17:00 Paris
    ])('09:00-17:00 Europe/Paris at %s -> %s', (now, expected) => {
      expect(matches(paris, { now: new Date(now) })).toBe(expected);
    });

    it('reads weekdays in the window zone: Saturday 01:00 UTC is still Friday in New York', () => {
      const weekdays = '{ timeWindow: { days: [mon, tue, wed, thu, fri], tz: America/New_York } }';
      expect(matches(weekdays, { now: new Date('2025-01-18T01:00:00Z') })).toBe(true);
      expect(matches(weekdays, { now: new Date('2025-01-18T06:00:00Z') })).toBe(false); // Saturday 01:00 there
    });

    it('handles an overnight window', () => {
      const night = '{ timeWindow: { from: "22:00", to: "06:00", tz: UTC } }';
      expect(matches(night, { now: new Date('2025-01-15T23:30:00Z') })).toBe(true);
      expect(matches(night, { now: new Date('2025-01-16T05:59:00Z') })).toBe(true);
      expect(matches(night, { now: new Date('2025-01-16T06:00:00Z') })).toBe(false);
      expect(matches(night, { now: new Date('2025-01-15T12:00:00Z') })).toBe(false);
    });
  });

  describe('riskScore (computed before the rules)', () => {
    // name (internal, 13.33) + 15m of the 1h default (5) + read + Wednesday noon (in hours) + a user = 18
    it.each([
      ['{ riskScore: { atMost: 18 } }', true],
      ['{ riskScore: { atMost: 17 } }', false],
      ['{ riskScore: { atLeast: 18 } }', true],
      ['{ riskScore: { atLeast: 19 } }', false],
    ])('%s with a score of 18 -> %s', (when, expected) => {
      expect(matches(when)).toBe(expected);
    });

    it('sees the off-hours and no-user points', () => {
      expect(matches('{ riskScore: { atLeast: 38 } }', { onBehalfOf: null, now: new Date('2025-01-18T12:00:00Z') })).toBe(true);
    });
  });

  it('needs every condition to hold', () => {
    const when = '{ agents: [report-bot], resources: ["crm.*"], actions: [read], sourceIp: [10.0.0.0/8] }';
    expect(matches(when)).toBe(true);
    expect(matches(when, { sourceIp: '172.16.0.1' })).toBe(false);
    expect(matches(when, { actions: ['write'] })).toBe(false);
  });
});
