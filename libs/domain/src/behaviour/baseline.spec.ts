import { parsePolicy } from '../policy/parse';
import { evaluatePolicy } from '../policy/evaluate';
import { lintPolicy } from '../policy/lint';
import {
  AnomalySettings,
  anomaliesOf,
  Baseline,
  mergeCounts,
  observation,
  observe,
  RequestFacts,
  summarizeBaseline,
  workingHours,
  zoneOf,
} from './baseline';

const LABELS = ['public', 'internal', 'pii', 'restricted'];
const SETTINGS: AnomalySettings = { minHistory: 20, timeZone: 'Europe/Paris' };
const ZONE = 'Europe/Paris';
const ALICE = { id: 'alice', email: 'alice@example.com' };
const BOB = { id: 'bob', email: 'bob@example.com' };

// Monday 2026-11-23, 10:00 in Paris (09:00 UTC).
const MONDAY_10 = Date.UTC(2026, 10, 23, 9, 0);
const at = (day: number, hour: number, minute = 0) => new Date(MONDAY_10 + day * 86_400_000 + (hour - 10) * 3_600_000 + minute * 60_000);

const facts = (over: Partial<RequestFacts> = {}): RequestFacts => ({
  resource: 'kb.articles',
  parts: ['id', 'title'],
  sensitivity: 'internal',
  user: ALICE,
  minuteCount: 1,
  ...over,
});

/** Four weeks of a knowledge-base agent: weekdays 09:00-17:00 Paris, two users, one or two requests a minute. */
function history(): Baseline {
  let baseline: Baseline = {};
  for (let day = 0; day < 28; day++) {
    if (day % 7 >= 5) continue;
    for (let hour = 9; hour < 17; hour++) {
      const user = hour % 2 === 0 ? ALICE : BOB;
      const parts = hour % 3 === 0 ? ['id', 'title', 'body'] : ['id', 'title'];
      baseline = observe(baseline, facts({ user, parts }), at(day, hour, 5), ZONE);
      baseline = observe(baseline, facts({ user, parts, minuteCount: 2 }), at(day, hour, 5), ZONE);
    }
  }
  return baseline;
}

const codes = (baseline: Baseline, f: RequestFacts, when: Date) => anomaliesOf(baseline, f, when, ZONE, SETTINGS, LABELS).map((a) => a.code);
const details = (baseline: Baseline, f: RequestFacts, when: Date) => anomaliesOf(baseline, f, when, ZONE, SETTINGS, LABELS).map((a) => a.detail);

describe('baseline: learning', () => {
  it('counts requests, minutes, resources, parts, hours in the agent zone, users and labels', () => {
    const b = observe({}, facts(), at(0, 10, 3), ZONE);
    expect(b).toEqual({
      n: 1,
      m: 1,
      a: 1,
      'r:kb.articles': 1,
      'p:kb.articles:id': 1,
      'p:kb.articles:title': 1,
      'h:10': 1,
      'u:alice': 1,
      's:internal': 1,
    });
    const again = observe(b, facts({ user: null, minuteCount: 2 }), at(0, 10, 3), ZONE);
    expect(again.n).toBe(2);
    expect(again.m).toBe(1); // the same minute
    expect(again.a).toBe(1);
  });

  it('adds up observations in any order (what the store does atomically)', () => {
    const one = observation(facts(), at(0, 10), ZONE);
    const two = observation(facts({ resource: 'crm.customers', parts: ['name'] }), at(0, 11), ZONE);
    expect(mergeCounts(mergeCounts({}, one), two)).toEqual(mergeCounts(mergeCounts({}, two), one));
  });

  it('reads hours in the agent tz attribute when valid, else in the policy zone', () => {
    expect(zoneOf({ tz: 'America/New_York' }, SETTINGS)).toBe('America/New_York');
    expect(zoneOf({ tz: 'Mars/Olympus' }, SETTINGS)).toBe('Europe/Paris');
    expect(zoneOf({}, SETTINGS)).toBe('Europe/Paris');
  });

  it('summarizes what is normal', () => {
    const summary = summarizeBaseline(history(), ZONE, SETTINGS, LABELS);
    expect(summary.requests).toBe(320);
    expect(summary.young).toBe(false);
    expect(summary.resources).toEqual([
      {
        resource: 'kb.articles',
        requests: 320,
        parts: [
          { name: 'id', requests: 320 },
          { name: 'title', requests: 320 },
          { name: 'body', requests: 120 },
        ],
      },
    ]);
    expect(summary.hours.works).toBe('09:00–17:00');
    expect(summary.usualPerMinute).toBe(2);
    expect(summary.users.map((u) => u.id).sort()).toEqual(['alice', 'bob']);
    expect(summary.highestSensitivity).toBe('internal');
  });
});

describe('baseline: anomalies', () => {
  const b = history();
  const tuesday11 = at(1, 11, 20);

  it('stays quiet on normal traffic', () => {
    expect(codes(b, facts(), tuesday11)).toEqual([]);
    expect(codes(b, facts({ user: BOB, parts: ['id', 'title', 'body'], minuteCount: 3 }), at(2, 16, 50))).toEqual([]);
    expect(codes(b, facts({ user: null }), at(3, 9, 1))).toEqual([]);
  });

  it('stays quiet while the baseline is young', () => {
    let young: Baseline = {};
    for (let i = 0; i < 19; i++) young = observe(young, facts(), at(0, 10, i), ZONE);
    expect(codes(young, facts({ resource: 'billing.invoices', sensitivity: 'restricted', user: BOB, minuteCount: 50 }), at(0, 3))).toEqual([]);
    young = observe(young, facts(), at(0, 10, 30), ZONE);
    expect(codes(young, facts({ resource: 'billing.invoices' }), at(0, 10, 31))).toEqual(['new_resource']);
  });

  it('new_resource: first time this agent asks for a resource', () => {
    expect(details(b, facts({ resource: 'billing.invoices', parts: ['amount'] }), tuesday11)).toEqual([
      'first time this agent asks for billing.invoices',
    ]);
  });

  it('new_columns: a column (or operation) never asked for on a known resource', () => {
    expect(details(b, facts({ parts: ['id', 'author_email'] }), tuesday11)).toEqual([
      'asks for author_email on kb.articles, it has only ever asked for id, title, body',
    ]);
  });

  it('unusual_hour: far from the hours it works, in its zone', () => {
    expect(details(b, facts(), at(1, 3, 10))).toEqual(['03:10 Europe/Paris, it works 09:00–17:00']);
    // Just past its usual end is not unusual.
    expect(codes(b, facts(), at(1, 17, 30))).toEqual([]);
  });

  it('burst: many more requests in a minute than usual', () => {
    expect(details(b, facts({ minuteCount: 42 }), tuesday11)).toEqual(['42 requests in the last minute, its usual is 2']);
    expect(codes(b, facts({ minuteCount: 9 }), tuesday11)).toEqual([]);
  });

  it('new_user: first time it acts for someone, unless it meets new users all the time', () => {
    expect(details(b, facts({ user: { id: 'ceo', email: 'ceo@example.com' } }), tuesday11)).toEqual(['first time it acts for ceo@example.com']);
    let helpdesk: Baseline = {};
    for (let i = 0; i < 40; i++) helpdesk = observe(helpdesk, facts({ user: { id: `u${i}`, email: `u${i}@example.com` } }), at(0, 10, i), ZONE);
    expect(codes(helpdesk, facts({ user: { id: 'new', email: 'new@example.com' } }), at(0, 11))).toEqual([]);
  });

  it('sensitivity_jump: more sensitive than anything it ever had', () => {
    expect(details(b, facts({ parts: ['id'], sensitivity: 'pii' }), tuesday11)).toEqual(['pii, it has only ever had internal']);
  });

  it('reports several at once', () => {
    const all = codes(
      b,
      facts({ resource: 'hr.salaries', sensitivity: 'restricted', user: { id: 'ceo', email: 'ceo@x' }, minuteCount: 30 }),
      at(5, 2),
    );
    expect(all.sort()).toEqual(['burst', 'new_resource', 'new_user', 'sensitivity_jump', 'unusual_hour']);
  });
});

describe('policy: defaults.anomaly and the anomalies condition', () => {
  const text = (extra: string) => `
version: 1
defaults:
  anomaly: { minHistory: 30, timeZone: europe/paris, suspendAfter: { denied: 5, within: 10m } }
resources:
  kb.articles: { columns: { id: public, title: internal } }
rules:
  - id: kb-read
    effect: approve
    when: { resources: [kb.articles] }
  - id: anomalous-to-humans
    effect: require_approval
    when: { anomalies: { any: [new_resource, burst] } }
${extra}`;

  it('parses the settings with their defaults', () => {
    const policy = parsePolicy(text(''), 'p.yaml');
    expect(policy.defaults.anomaly).toEqual({ minHistory: 30, timeZone: 'Europe/Paris', suspendAfter: { denied: 5, withinSeconds: 600 } });
    expect(parsePolicy('version: 1', 'q.yaml').defaults.anomaly).toEqual({ minHistory: 20, timeZone: 'UTC' });
  });

  it('names file, path and reason for bad settings and conditions', () => {
    expect(() => parsePolicy(text('  - id: x\n    effect: deny\n    when: { anomalies: { any: [odd] } }'), 'p.yaml')).toThrow(
      /p\.yaml: rules\[2\]\.when\.anomalies\.any\[0\]: expected an anomaly code: new_resource, new_columns/,
    );
    expect(() => parsePolicy(text('  - id: x\n    effect: deny\n    when: { anomalies: {} }'), 'p.yaml')).toThrow(
      /rules\[2\]\.when\.anomalies: give either any: \[codes\] or none: true/,
    );
    expect(() => parsePolicy('version: 1\ndefaults: { anomaly: { suspendAfter: { within: 5m } } }', 'p.yaml')).toThrow(
      /defaults\.anomaly\.suspendAfter: give denied, anomalous or both/,
    );
    expect(() => parsePolicy('version: 1\ndefaults: { anomaly: { minHistory: 0 } }', 'p.yaml')).toThrow(
      /defaults\.anomaly\.minHistory: must be at least 1/,
    );
  });

  it('sends an anomalous request to humans and raises its risk', () => {
    const policy = parsePolicy(text(''), 'p.yaml');
    const input = {
      agent: { id: 'a', name: 'kb-bot', attributes: {} },
      resource: 'kb.articles',
      actions: ['read'],
      columns: ['id'],
      durationSeconds: 600,
      onBehalfOf: null,
      now: at(1, 11),
    };
    const normal = evaluatePolicy(policy, input);
    expect(normal.outcome).toBe('approve');
    const odd = evaluatePolicy(policy, { ...input, anomalies: [{ code: 'burst', detail: '42 requests in the last minute, its usual is 2' }] });
    expect(odd.outcome).toBe('require_approval');
    expect(odd.rules).toEqual(['anomalous-to-humans']);
    expect(odd.anomalies).toEqual([{ code: 'burst', detail: '42 requests in the last minute, its usual is 2' }]);
    expect(odd.riskScore).toBe(normal.riskScore + 15);
    const other = evaluatePolicy(policy, { ...input, anomalies: [{ code: 'new_user', detail: 'x' }] });
    expect(other.outcome).toBe('approve');
  });

  it('lint knows that any: [burst] is implied by a narrower rule', () => {
    const policy = parsePolicy(
      text(`  - id: burst-deny
    effect: deny
    when: { anomalies: { any: [burst] } }
  - id: burst-approve
    effect: approve
    when: { resources: [kb.articles], anomalies: { any: [burst] } }`),
      'p.yaml',
    );
    const warnings = lintPolicy(policy, { maxRequestDurationSeconds: 3600 });
    expect(warnings.find((w) => w.subject === 'burst-approve')?.code).toBe('always_overridden');
    expect(warnings.find((w) => w.subject === 'kb-read')).toBeUndefined();
  });

  it('working hours read as the day minus its longest quiet stretch', () => {
    expect(workingHours({})).toBeNull();
    expect(workingHours({ n: 2, 'h:22': 1, 'h:2': 1 })).toBe('22:00–03:00');
  });
});
