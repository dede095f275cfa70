import type { AccessRequest } from '@gatehouse/sdk';
import { AccessDeniedError, DelegationRequiredError, InvalidRequestError } from '@gatehouse/sdk';
import { loadMcpConfig } from './config';
import { errorText, extendedText, grantsText, requestText } from './format';

const now = new Date('2026-03-02T10:00:00Z');
const base: AccessRequest = {
  id: 'r1',
  status: 'pending',
  agentId: 'a1',
  resource: 'crm.customers',
  actions: ['read'],
  columns: ['email'],
  duration: '15m',
  reason: 'x',
  onBehalfOf: null,
  task: null,
  createdAt: now.toISOString(),
  decision: {
    outcome: 'require_approval',
    rules: ['pii-needs-owner'],
    message: 'Personal data needs an owner.',
    riskScore: 40,
    policyVersion: 'sha256:1',
    anomalies: [],
  },
  approval: { kind: 'approvers', approvers: 'crm-owners', required: 1, received: 0, expiresAt: '2026-03-02T10:15:00Z' },
};

describe('MCP result texts', () => {
  it('pending says who decides and what to call next', () => {
    expect(requestText(base, now)).toBe(
      [
        'PENDING: request r1 for read on crm.customers, columns email needs approval by crm-owners (0/1 approvals, decide by 2026-03-02T10:15:00Z).',
        'Reason given: Personal data needs an owner.',
        'Next: call check_access_request with request_id "r1" (it waits up to 60 s for a decision). Do not send a new request for the same thing.',
      ].join('\n'),
    );
  });

  it('a break-glass grant tells the model that people were alerted and will review it', () => {
    const grant = {
      id: 'g1',
      status: 'active' as const,
      token: 'tok',
      expiresAt: '2026-03-02T10:10:00Z',
      resource: 'crm.customers',
      actions: ['read'],
      columns: ['email'],
    };
    const request: AccessRequest = {
      ...base,
      status: 'approved',
      approval: undefined,
      decision: { ...base.decision, outcome: 'approve', rules: ['pii-needs-owner', 'break-glass'], breakGlass: true },
      grant,
    };
    const lines = requestText(request, now).split('\n');
    expect(lines[0]).toBe(
      'APPROVED (policy rule pii-needs-owner, break-glass). Grant g1: read on crm.customers, columns email, until 2026-03-02T10:10:00Z (10 min from now).',
    );
    expect(lines[1]).toBe('BREAK-GLASS: people were alerted and will review this access; use it only for the emergency you gave as reason.');
    expect(requestText({ ...request, decision: base.decision }, now)).not.toContain('BREAK-GLASS');
  });

  it('waiting for consent names the user who must allow it', () => {
    const waiting: AccessRequest = {
      ...base,
      onBehalfOf: 'alice',
      approval: { kind: 'consent', approvers: 'alice', required: 1, received: 0, expiresAt: '2026-03-02T10:15:00Z' },
    };
    const text = requestText(waiting, now);
    expect(text).toMatch(/^PENDING: waiting for alice to allow this: request r1 acts for alice \(read on crm\.customers, columns email\)\./);
    expect(text).toContain('check_access_request with request_id "r1"');
    expect(errorText(new DelegationRequiredError('DELEGATION_REQUIRED', 403, 'alice has not delegated to agent bot.'))).toMatch(
      /^ERROR DELEGATION_REQUIRED \(HTTP 403\): alice has not delegated to agent bot\.\nNext: /,
    );
  });

  it('approved gives what, until when, the token and the release hint', () => {
    const approved: AccessRequest = {
      ...base,
      status: 'approved',
      decidedBy: 'user:dana',
      approval: undefined,
      grant: {
        id: 'g1',
        status: 'active',
        token: 'T0K',
        expiresAt: '2026-03-02T10:15:00.000Z',
        resource: 'crm.customers',
        actions: ['read'],
        columns: ['email'],
      },
    };
    const text = requestText(approved, now);
    expect(text).toMatch(
      /^APPROVED \(approved by user:dana\)\. Grant g1: read on crm\.customers, columns email, until 2026-03-02T10:15:00\.000Z \(15 min from now\)\.\nToken: T0K\n/,
    );
    expect(text).toContain('release_access with grant_id "g1"');
  });

  it('denied and errors say why and what to do', () => {
    const denied = {
      ...base,
      status: 'denied' as const,
      decision: { ...base.decision, outcome: 'deny' as const, rules: ['no-restricted'], message: 'Never.' },
    };
    expect(errorText(new AccessDeniedError(denied.decision, 'r1', denied))).toMatch(
      /^DENIED: request r1 .*\nWhy: Never\. \(rule no-restricted\)\.\nNext: do not retry/,
    );
    expect(errorText(new InvalidRequestError('UNKNOWN_COLUMN', 422, 'No column shoe_size.', [{ path: 'columns[0]', message: 'unknown' }]))).toBe(
      'ERROR UNKNOWN_COLUMN (HTTP 422): No column shoe_size. [columns[0]: unknown]',
    );
    expect(grantsText([], now)).toMatch(/^No active grants/);
  });
});

describe('MCP extension texts', () => {
  it('an approved extension says the old token stopped working; a pending one says to keep using it', () => {
    const approved = extendedText(
      {
        ...base,
        status: 'approved',
        extends: 'g-old',
        decidedBy: 'policy',
        decision: {
          ...base.decision,
          outcome: 'approve',
          rules: ['low-risk-reads'],
          message: 'Approved. Extension: 10m used + 15m of 1h allowed in all.',
        },
        grant: {
          id: 'g-new',
          status: 'active',
          token: 'tok',
          expiresAt: '2026-03-02T10:15:00Z',
          resource: 'crm.customers',
          actions: ['read'],
          columns: ['email'],
        },
      },
      now,
    );
    expect(approved).toMatch(/^EXTENDED: APPROVED \(policy rule low-risk-reads\)\. Grant g-new: /);
    expect(approved).toContain(
      'The token of grant g-old no longer works: use this one from now on. Policy note: Approved. Extension: 10m used + 15m of 1h allowed in all.',
    );
    const pending = extendedText({ ...base, extends: 'g-old' }, now);
    expect(pending).toMatch(/^PENDING: request r1 /);
    expect(pending).toContain('Until it is approved, keep using grant g-old (it works until it expires); once approved, only the new token works.');
  });
});

describe('MCP config', () => {
  const key = { kty: 'OKP', crv: 'Ed25519', x: 'abc', d: 'def' };
  it('reads the key as JSON and names every bad variable', () => {
    expect(
      loadMcpConfig({ GATEHOUSE_URL: 'http://localhost:3000', GATEHOUSE_AGENT_ID: 'a1', GATEHOUSE_AGENT_KEY: JSON.stringify(key) }).privateKey,
    ).toEqual(key);
    expect(() => loadMcpConfig({})).toThrow(/GATEHOUSE_URL: not set[\s\S]*GATEHOUSE_AGENT_ID: not set[\s\S]*GATEHOUSE_AGENT_KEY: not set/);
    expect(() =>
      loadMcpConfig({ GATEHOUSE_URL: 'http://x', GATEHOUSE_AGENT_ID: 'a', GATEHOUSE_AGENT_KEY: JSON.stringify({ ...key, d: undefined }) }),
    ).toThrow(/GATEHOUSE_AGENT_KEY: must be a private Ed25519 or P-256 JWK/);
  });
});
