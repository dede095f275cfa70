import { AccessError, AccessErrorCode } from './errors';
import { effectiveGrantStatus, GrantStatus, RequestStatus, grantTransition, isGrantLive, requestTransition } from './state';
import { thrown } from './testing';

const REQUEST_STATUSES: RequestStatus[] = ['pending', 'approved', 'denied', 'cancelled', 'timed_out'];
const TERMINAL: RequestStatus[] = ['approved', 'denied', 'cancelled', 'timed_out'];
const ENDED: Exclude<GrantStatus, 'active'>[] = ['expired', 'released', 'revoked'];

describe('requestTransition', () => {
  it.each(TERMINAL)('applies pending -> %s', (to) => {
    expect(requestTransition('pending', to)).toBe('apply');
  });

  it.each(REQUEST_STATUSES)('treats %s -> the same status as already done', (status) => {
    expect(requestTransition(status, status)).toBe('noop');
  });

  const illegal = TERMINAL.flatMap((from) => REQUEST_STATUSES.filter((to) => to !== from).map((to) => [from, to] as const));
  it.each(illegal)('refuses %s -> %s with REQUEST_NOT_PENDING', (from, to) => {
    const error = thrown(() => requestTransition(from, to));
    expect(error).toBeInstanceOf(AccessError);
    expect(error.code).toBe(AccessErrorCode.REQUEST_NOT_PENDING);
  });

  it('says what state the request is in and what can no longer happen', () => {
    expect(thrown(() => requestTransition('denied', 'approved')).message).toBe('The request is already denied; it can no longer be approved.');
    expect(thrown(() => requestTransition('timed_out', 'cancelled')).message).toBe(
      'The request is already timed out; it can no longer be cancelled.',
    );
    expect(thrown(() => requestTransition('approved', 'timed_out')).message).toBe('The request is already approved; it can no longer time out.');
  });
});

describe('grantTransition', () => {
  it.each(ENDED)('applies active -> %s', (to) => {
    expect(grantTransition('active', to)).toBe('apply');
  });

  it.each(ENDED)('treats %s -> %s again as already done', (status) => {
    expect(grantTransition(status, status)).toBe('noop');
  });

  const illegal = ENDED.flatMap((from) => ENDED.filter((to) => to !== from).map((to) => [from, to] as const));
  it.each(illegal)('refuses %s -> %s with GRANT_NOT_ACTIVE', (from, to) => {
    const error = thrown(() => grantTransition(from, to));
    expect(error.code).toBe(AccessErrorCode.GRANT_NOT_ACTIVE);
  });

  it('names the state the grant ended in', () => {
    expect(thrown(() => grantTransition('expired', 'revoked')).message).toBe('The grant is already expired; it can no longer be revoked.');
  });

  it.each(['active', ...ENDED] as GrantStatus[])('never makes a %s grant active again', (from) => {
    const error = thrown(() => grantTransition(from, 'active' as Exclude<GrantStatus, 'active'>));
    expect(error.code).toBe(AccessErrorCode.GRANT_NOT_ACTIVE);
  });
});

describe('isGrantLive', () => {
  const expiresAt = new Date('2025-03-10T12:00:00Z');

  it('is live while active and before expiry', () => {
    expect(isGrantLive({ status: 'active', expiresAt }, new Date('2025-03-10T11:59:59.999Z'))).toBe(true);
  });

  it('is not live at the exact expiry instant or after, even if still marked active', () => {
    expect(isGrantLive({ status: 'active', expiresAt }, expiresAt)).toBe(false);
    expect(isGrantLive({ status: 'active', expiresAt }, new Date('2025-03-10T13:00:00Z'))).toBe(false);
  });

  it.each(ENDED)('is not live once %s, even before expiry', (status) => {
    expect(isGrantLive({ status, expiresAt }, new Date('2025-03-10T11:00:00Z'))).toBe(false);
  });
});

describe('effectiveGrantStatus', () => {
  const now = new Date('2026-11-23T10:00:00Z');
  it('reads an active row past its expiry as expired, and leaves every other status as it is', () => {
    expect(effectiveGrantStatus({ status: 'active', expiresAt: new Date(now.getTime() + 1) }, now)).toBe('active');
    expect(effectiveGrantStatus({ status: 'active', expiresAt: now }, now)).toBe('expired');
    expect(effectiveGrantStatus({ status: 'released', expiresAt: new Date(now.getTime() - 1) }, now)).toBe('released');
    expect(effectiveGrantStatus({ status: 'revoked', expiresAt: new Date(now.getTime() + 60_000) }, now)).toBe('revoked');
  });
});
