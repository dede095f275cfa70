import { approvalComplete, checkApprover, narrowScope } from './approval';
import { AccessErrorCode } from './errors';
import { thrown } from './testing';

describe('checkApprover', () => {
  const bob = { id: 'bob', groups: ['crm-owners'] };
  const alice = { id: 'alice', groups: ['crm-owners', 'support'] };
  const carol = { id: 'carol', groups: ['finance'] };

  it('accepts a member of the approving group', () => {
    expect(() => checkApprover({ approvers: 'crm-owners', onBehalfOf: 'alice', approver: bob })).not.toThrow();
    expect(() => checkApprover({ approvers: 'crm-owners', onBehalfOf: null, approver: bob })).not.toThrow();
  });

  it('refuses someone outside the group with NOT_AN_APPROVER', () => {
    const error = thrown(() => checkApprover({ approvers: 'crm-owners', onBehalfOf: 'alice', approver: carol }));
    expect(error.code).toBe(AccessErrorCode.NOT_AN_APPROVER);
    expect(error.message).toContain('crm-owners');
  });

  it('refuses the user the agent acts for, even when in the group, with SELF_APPROVAL', () => {
    const error = thrown(() => checkApprover({ approvers: 'crm-owners', onBehalfOf: 'alice', approver: alice }));
    expect(error.code).toBe(AccessErrorCode.SELF_APPROVAL);
  });

  it('reports SELF_APPROVAL before group membership', () => {
    const error = thrown(() => checkApprover({ approvers: 'finance', onBehalfOf: 'alice', approver: alice }));
    expect(error.code).toBe(AccessErrorCode.SELF_APPROVAL);
  });

  it('lets only the user acted for approve a requester rule', () => {
    expect(() => checkApprover({ approvers: 'requester', onBehalfOf: 'alice', approver: alice })).not.toThrow();
    const error = thrown(() => checkApprover({ approvers: 'requester', onBehalfOf: 'alice', approver: bob }));
    expect(error.code).toBe(AccessErrorCode.NOT_AN_APPROVER);
    expect(error.message).toContain('alice');
  });

  it('lets nobody approve a requester rule when no user is named', () => {
    const error = thrown(() => checkApprover({ approvers: 'requester', onBehalfOf: null, approver: bob }));
    expect(error.code).toBe(AccessErrorCode.NOT_AN_APPROVER);
    expect(error.message).toMatch(/admin/);
  });
});

describe('narrowScope', () => {
  const granted = { columns: ['name', 'email', 'phone'], durationSeconds: 1800 };

  it('keeps everything when nothing changes', () => {
    expect(narrowScope(granted, {})).toEqual({ ...granted, operations: [] });
  });

  it('accepts fewer columns and a shorter duration', () => {
    expect(narrowScope(granted, { columns: ['email'], durationSeconds: 600 })).toEqual({ columns: ['email'], operations: [], durationSeconds: 600 });
  });

  it('accepts the same columns and duration', () => {
    expect(narrowScope(granted, { columns: ['phone', 'name', 'email', 'name'], durationSeconds: 1800 })).toEqual({
      columns: ['phone', 'name', 'email'],
      operations: [],
      durationSeconds: 1800,
    });
  });

  it('refuses a column that was not asked for, naming it', () => {
    const error = thrown(() => narrowScope(granted, { columns: ['email', 'ssn'] }));
    expect(error.code).toBe(AccessErrorCode.NARROWING_ONLY);
    expect(error.details).toEqual([{ path: 'columns[1]', message: 'column "ssn" was not requested' }]);
    expect(error.message).toContain('ssn');
  });

  it('refuses a longer duration, naming both', () => {
    const error = thrown(() => narrowScope(granted, { durationSeconds: 3600 }));
    expect(error.code).toBe(AccessErrorCode.NARROWING_ONLY);
    expect(error.message).toContain('1h is longer than the 30m requested');
  });

  it('names every broadening at once', () => {
    const error = thrown(() => narrowScope(granted, { columns: ['ssn'], durationSeconds: 7200 }));
    expect(error.details.map((d) => d.path)).toEqual(['columns[0]', 'duration']);
  });

  it.each([[0], [-60], [1.5]])('refuses the duration %d', (durationSeconds) => {
    expect(thrown(() => narrowScope(granted, { durationSeconds })).code).toBe(AccessErrorCode.VALIDATION_FAILED);
  });

  it('refuses an empty column list', () => {
    const error = thrown(() => narrowScope(granted, { columns: [] }));
    expect(error.code).toBe(AccessErrorCode.VALIDATION_FAILED);
    expect(error.message).toMatch(/columns must not be empty/);
  });
});

describe('approvalComplete', () => {
  it.each([
    [1, 0, false],
    [1, 1, true],
    [2, 1, false],
    [2, 2, true],
    [2, 3, true],
  ])('needs %d, has %d -> %s', (required, received, complete) => {
    expect(approvalComplete(required, received)).toBe(complete);
  });
});
