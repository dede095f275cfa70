import { AccessErrorCode } from '../errors';
import { thrown } from '../testing';
import { parsePolicy } from './parse';
import { checkRequest, decideRequest } from './request';

const policy = parsePolicy(
  `
version: 1
defaults: { maxDuration: 1h }
resources:
  crm.customers:
    columns: { id: public, email: pii }
    actions: [read]
rules:
  - id: pii-for-sales
    effect: approve
    when: { sensitivity: { atLeast: pii }, onBehalfOf: { groups: [sales] } }
    maxDuration: 30m
`,
  'request.spec.yaml',
);
const NOW = new Date('2026-03-04T10:00:00Z');
const agent = { id: 'agt_1', name: 'bot', attributes: null };

describe('checkRequest', () => {
  it('parses the duration and resolves the scope (every column when none are named)', () => {
    const checked = checkRequest(policy, { resource: 'crm.customers', actions: ['read', 'read'], duration: '15m' }, 86400);
    expect(checked.durationSeconds).toBe(900);
    expect(checked.scope.resource.id).toBe('crm.customers');
    expect(checked.scope.actions).toEqual(['read']);
    expect(checked.scope.columns).toEqual(['id', 'email']);
  });

  it("refuses a duration over the broker's cap, naming the cap", () => {
    const error = thrown(() => checkRequest(policy, { resource: 'crm.customers', actions: ['read'], duration: '2h' }, 3600));
    expect(error.code).toBe(AccessErrorCode.DURATION_TOO_LONG);
    expect(error.message).toBe("duration 2h is over the broker's cap of 1h; ask for less.");
    expect(error.details).toEqual([{ path: 'duration', message: 'over the cap' }]);
  });

  it('judges the duration before the scope, as the broker always has', () => {
    const error = thrown(() => checkRequest(policy, { resource: 'nope', actions: ['read'], duration: 'soon' }, 3600));
    expect(error.code).toBe(AccessErrorCode.INVALID_DURATION);
    expect(thrown(() => checkRequest(policy, { resource: 'nope', actions: ['read'], duration: '1m' }, 3600)).code).toBe(
      AccessErrorCode.UNKNOWN_RESOURCE,
    );
  });
});

describe('decideRequest', () => {
  const scope = checkRequest(policy, { resource: 'crm.customers', actions: ['read'], columns: ['email'], duration: '1h' }, 86400).scope;
  const sales = { id: 'alice', email: 'alice@example.com', groups: ['sales'] };

  it('evaluates with the proven user and clamps to the rule', () => {
    const decision = decideRequest({ policy, scope, durationSeconds: 3600, user: sales, delegation: null }, agent, null, NOW);
    expect(decision).toMatchObject({ outcome: 'approve', rules: ['pii-for-sales'], durationSeconds: 1800 });
  });

  it('never grants past the delegation that proves the user', () => {
    const delegation = { expiresAt: new Date(NOW.getTime() + 600_000) };
    const decision = decideRequest({ policy, scope, durationSeconds: 3600, user: sales, delegation }, agent, null, NOW);
    expect(decision.durationSeconds).toBe(600);
  });

  it('without a user, the onBehalfOf rule does not match and the default asks', () => {
    const decision = decideRequest({ policy, scope, durationSeconds: 600, user: null, delegation: null }, agent, null, NOW);
    expect(decision).toMatchObject({ outcome: 'require_approval', rules: [] });
  });
});
