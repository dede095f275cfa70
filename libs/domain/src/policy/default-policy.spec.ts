import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EvaluationInput, evaluatePolicy } from './evaluate';
import { parsePolicy } from './parse';
import { resolveScope } from './scope';

// The example policy shipped in policies/default.yaml must always load and decide as its comments say.
const FILE = join(__dirname, '../../../../policies/default.yaml');
const policy = parsePolicy(readFileSync(FILE, 'utf8'), 'policies/default.yaml');

const WEDNESDAY_NOON = new Date('2025-01-15T12:00:00Z'); // 13:00 in Paris
const alice = { id: 'usr_alice', email: 'alice@example.com', groups: ['sales'] };

function decide(request: { resource: string; actions: string[]; columns?: string[] }, overrides: Partial<EvaluationInput> = {}) {
  const scope = resolveScope(policy, request);
  return evaluatePolicy(policy, {
    agent: { id: 'agt_1', name: 'support-bot', attributes: {} },
    resource: scope.resource.id,
    actions: scope.actions,
    columns: scope.columns,
    durationSeconds: 900,
    onBehalfOf: alice,
    sourceIp: '127.0.0.1',
    now: WEDNESDAY_NOON,
    ...overrides,
  });
}

describe('policies/default.yaml', () => {
  it('parses', () => {
    expect(Object.keys(policy.resources)).toEqual(['crm.customers', 'billing.invoices', 'support.tickets', 'helpdesk.api']);
    expect(policy.rules.map((rule) => rule.id)).toEqual([
      'no-restricted',
      'blocked-networks',
      'no-unattended-pii-at-night',
      'unusual-needs-a-person',
      'low-risk-reads',
      'pii-needs-owner',
      'writes-need-two',
      'helpdesk-writes-need-lead',
      'support-pii-by-requester',
    ]);
    expect(policy.resources['crm.customers']).toMatchObject({ audience: 'crm-api', owners: 'crm-owners', actions: ['read', 'write'] });
    expect(policy.resources['billing.invoices']).toMatchObject({ audience: 'billing-api', owners: 'finance', actions: ['read'] });
    expect(policy.resources['support.tickets'].audience).toBe('support-api');
    expect(policy.resources['helpdesk.api']).toMatchObject({
      kind: 'http',
      audience: 'helpdesk-egress',
      upstream: 'https://helpdesk.example.com',
      hosts: ['helpdesk.example.com', 'helpdesk.egress.internal'],
      actions: ['read', 'write'],
    });
    expect(policy.defaults.businessHours).toEqual({ days: [1, 2, 3, 4, 5], from: '08:00', to: '18:00', tz: 'Europe/Paris' });
  });

  it('approves a short read of internal CRM columns at once', () => {
    const decision = decide({ resource: 'crm.customers', actions: ['read'], columns: ['name', 'company'] });
    expect(decision.outcome).toBe('approve');
    expect(decision.rules).toEqual(['low-risk-reads']);
  });

  it('denies the SSN', () => {
    expect(decide({ resource: 'crm.customers', actions: ['read'], columns: ['email', 'ssn'] }).rules).toEqual(['no-restricted']);
    expect(decide({ resource: 'crm.customers', actions: ['read'] }).outcome).toBe('deny'); // every column includes ssn
  });

  it('asks crm-owners for PII, for at most 30 minutes', () => {
    const decision = decide({ resource: 'crm.customers', actions: ['read'], columns: ['email', 'phone'] }, { durationSeconds: 3600 });
    expect(decision.outcome).toBe('require_approval');
    expect(decision.approval).toEqual({
      approvers: 'crm-owners',
      required: 1,
      timeoutSeconds: 900,
      remindAfterSeconds: 300,
      escalateAfterSeconds: 600,
      escalateTo: 'security',
    });
    expect(decision.durationSeconds).toBe(1800);
  });

  it('asks two crm-owners for writes', () => {
    const decision = decide({ resource: 'crm.customers', actions: ['write'], columns: ['notes'] });
    expect(decision.rules).toEqual(['writes-need-two']);
    expect(decision.approval).toEqual({
      approvers: 'crm-owners',
      required: 2,
      timeoutSeconds: 900,
      remindAfterSeconds: 300,
      escalateAfterSeconds: 600,
      escalateTo: 'security',
    });
  });

  it('asks finance for card digits', () => {
    expect(decide({ resource: 'billing.invoices', actions: ['read'], columns: ['card_last4'] }).approval?.approvers).toBe('finance');
  });

  it('asks the user acted for about ticket PII, and security when there is none', () => {
    const decision = decide({ resource: 'support.tickets', actions: ['read'], columns: ['subject', 'body'] });
    expect(decision.rules).toEqual(['support-pii-by-requester']);
    expect(decision.approval).toEqual({
      approvers: 'requester',
      required: 1,
      timeoutSeconds: 300,
      remindAfterSeconds: 100,
      escalateAfterSeconds: 200,
      escalateTo: 'security',
    });
    const unattended = decide({ resource: 'support.tickets', actions: ['read'], columns: ['body'] }, { onBehalfOf: null });
    expect(unattended.rules).toEqual([]);
    expect(unattended.approval?.approvers).toBe('security');
  });

  it('blocks flagged networks, also when seen as IPv4-mapped IPv6', () => {
    expect(decide({ resource: 'crm.customers', actions: ['read'], columns: ['name'] }, { sourceIp: '::ffff:192.0.2.10' }).rules).toEqual([
      'blocked-networks',
    ]);
  });

  it('keeps unattended agents away from PII at night (Paris time)', () => {
    const nightBot = { id: 'agt_2', name: 'night-bot', attributes: { autonomy: 'unattended' } };
    const at = (now: string) => decide({ resource: 'crm.customers', actions: ['read'], columns: ['email'] }, { agent: nightBot, now: new Date(now) });
    expect(at('2025-01-15T19:30:00Z').rules).toEqual(['no-unattended-pii-at-night']); // 20:30 in Paris
    expect(at('2025-01-16T05:59:00Z').outcome).toBe('deny'); // 06:59 in Paris
    expect(at('2025-01-16T06:00:00Z').outcome).toBe('require_approval'); // 07:00 in Paris
  });
});
