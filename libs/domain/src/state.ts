import { AccessError, AccessErrorCode } from './errors';

/** Lifecycle of an access request: pending until it reaches one terminal status. */
export type RequestStatus = 'pending' | 'approved' | 'denied' | 'cancelled' | 'timed_out';

/** Lifecycle of a grant: active until it ends one way (`superseded`: an approved extension replaced it). */
export type GrantStatus = 'active' | 'expired' | 'released' | 'revoked' | 'superseded';

const STATUS_WORDS: Record<RequestStatus | GrantStatus, string> = {
  pending: 'pending',
  approved: 'approved',
  denied: 'denied',
  cancelled: 'cancelled',
  timed_out: 'timed out',
  active: 'active',
  expired: 'expired',
  released: 'released',
  revoked: 'revoked',
  superseded: 'superseded by an extension',
};

const REQUEST_VERBS: Record<RequestStatus, string> = {
  pending: 'be put back to pending',
  approved: 'be approved',
  denied: 'be denied',
  cancelled: 'be cancelled',
  timed_out: 'time out',
};

const GRANT_VERBS: Record<Exclude<GrantStatus, 'active'>, string> = {
  expired: 'expire',
  released: 'be released',
  revoked: 'be revoked',
  superseded: 'be extended',
};

/**
 * Whether moving a request to `to` should be written ('apply') or is already done ('noop').
 * Repeating a transition is success so retries and double clicks are harmless.
 */
export function requestTransition(from: RequestStatus, to: RequestStatus): 'apply' | 'noop' {
  if (from === to) return 'noop';
  if (from === 'pending') return 'apply';
  throw new AccessError(AccessErrorCode.REQUEST_NOT_PENDING, `The request is already ${STATUS_WORDS[from]}; it can no longer ${REQUEST_VERBS[to]}.`, [
    { path: 'status', message: `is ${from}` },
  ]);
}

/** Whether ending a grant with `to` should be written ('apply') or is already done ('noop'). */
export function grantTransition(from: GrantStatus, to: Exclude<GrantStatus, 'active'>): 'apply' | 'noop' {
  if ((to as GrantStatus) === 'active') {
    // Only reachable from untyped callers: an ended grant never comes back.
    throw new AccessError(AccessErrorCode.GRANT_NOT_ACTIVE, 'A grant cannot be made active again; submit a new access request.');
  }
  if (from === to) return 'noop';
  if (from === 'active') return 'apply';
  throw new AccessError(AccessErrorCode.GRANT_NOT_ACTIVE, `The grant is already ${STATUS_WORDS[from]}; it can no longer ${GRANT_VERBS[to]}.`, [
    { path: 'status', message: `is ${from}` },
  ]);
}

/** Whether a grant still gives access at `now`: active and not past its expiry (Postgres is the truth). */
export function isGrantLive(grant: { status: GrantStatus; expiresAt: Date }, now: Date): boolean {
  return grant.status === 'active' && now.getTime() < grant.expiresAt.getTime();
}

/**
 * How a grant stands at `now`. A row still `active` past its expiry is expired: the expiry job may be
 * late or lost, and nothing may treat such a grant as live meanwhile.
 */
export function effectiveGrantStatus(grant: { status: GrantStatus; expiresAt: Date }, now: Date): GrantStatus {
  return grant.status === 'active' && !isGrantLive(grant, now) ? 'expired' : grant.status;
}
