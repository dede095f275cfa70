import { clampToDelegation, DelegationFacts, decisionAwaitingConsent, delegationCovers, delegationStatus, provingDelegation } from './delegation';
import { parsePolicy } from './policy/parse';

const now = new Date('2026-11-23T10:00:00Z');
const later = (seconds: number) => new Date(now.getTime() + seconds * 1000);
const d = (over: Partial<DelegationFacts> = {}): DelegationFacts => ({
  id: 'd1',
  resources: [],
  expiresAt: null,
  endedAt: null,
  source: 'admin',
  ...over,
});

describe('delegations', () => {
  it('are live until ended or past their end', () => {
    expect(delegationStatus(d(), now)).toBe('live');
    expect(delegationStatus(d({ expiresAt: later(1) }), now)).toBe('live');
    expect(delegationStatus(d({ expiresAt: now }), now)).toBe('expired');
    expect(delegationStatus(d({ expiresAt: later(60), endedAt: later(-5) }), now)).toBe('ended');
  });

  it('cover every resource when unlimited, else their ids and globs only, and only while live', () => {
    expect(delegationCovers(d(), 'billing.invoices', now)).toBe(true);
    expect(delegationCovers(d({ resources: ['crm.*'] }), 'crm.customers', now)).toBe(true);
    expect(delegationCovers(d({ resources: ['crm.*'] }), 'crmx.customers', now)).toBe(false);
    expect(delegationCovers(d({ resources: ['crm.customers'] }), 'crm.deals', now)).toBe(false);
    expect(delegationCovers(d({ expiresAt: now }), 'crm.customers', now)).toBe(false);
    expect(delegationCovers(d({ endedAt: now }), 'crm.customers', now)).toBe(false);
  });

  it('prove a request by the covering delegation that lasts longest', () => {
    const short = d({ id: 'short', expiresAt: later(60) });
    const long = d({ id: 'long', expiresAt: later(3600) });
    const forever = d({ id: 'forever', resources: ['crm.*'] });
    const elsewhere = d({ id: 'elsewhere', resources: ['billing.*'] });
    expect(provingDelegation([short, long], 'crm.customers', now)?.id).toBe('long');
    expect(provingDelegation([short, forever, long], 'crm.customers', now)?.id).toBe('forever');
    expect(provingDelegation([elsewhere], 'crm.customers', now)).toBeUndefined();
    expect(provingDelegation([], 'crm.customers', now)).toBeUndefined();
  });

  it('bound the grants they prove: never past their end', () => {
    expect(clampToDelegation(900, d(), now)).toBe(900);
    expect(clampToDelegation(900, null, now)).toBe(900);
    expect(clampToDelegation(900, d({ expiresAt: later(120.5) }), now)).toBe(120);
    expect(clampToDelegation(900, d({ expiresAt: later(-1) }), now)).toBe(0);
  });
});

describe('the decision while the user is asked', () => {
  const policy = parsePolicy(
    `version: 1
defaults: { maxDuration: 1h, businessHours: { days: [mon, tue, wed, thu, fri], from: "08:00", to: "18:00", tz: UTC } }
resources:
  crm.customers:
    columns: { id: public, email: pii }
rules:
  - id: anything-goes
    effect: approve
`,
    'test.yaml',
  );

  it('asks people, names who must answer, applies no rule, and scores the risk as for nobody proven', () => {
    const decision = decisionAwaitingConsent(
      policy,
      { resource: 'crm.customers', actions: ['read'], columns: ['email'], durationSeconds: 900 },
      { user: 'Alice', agent: 'bot' },
      now,
    );
    expect(decision).toEqual({
      outcome: 'require_approval',
      rules: [],
      message: 'Waiting for Alice to allow agent bot to act for them; then the policy decides.',
      // 40 x 2/3 (pii) + 20 x 0.25 (15 of 60 minutes) + 10 (nobody proven) = 41.7
      riskScore: 42,
      sensitivity: 'pii',
      policyVersion: policy.version,
      durationSeconds: 900,
      anomalies: [],
    });
  });
});
