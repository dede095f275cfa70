import { formatDuration } from './duration';
import { AccessError, AccessErrorCode, ErrorDetail } from './errors';

/** A human who may decide requests, with the groups they belong to. */
export interface Approver {
  id: string;
  groups: string[];
}

/**
 * Checks that `approver` may decide a request approved by `approvers` (a group or 'requester').
 * Throws NOT_AN_APPROVER or SELF_APPROVAL.
 */
export function checkApprover(input: { approvers: string; onBehalfOf: string | null; approver: Approver; escalatedTo?: string | null }): void {
  const { approvers, onBehalfOf, approver, escalatedTo } = input;
  // Once escalated, members of the escalation group may decide too; nobody decides for themselves.
  if (escalatedTo && escalatedTo !== 'requester' && approver.groups.includes(escalatedTo)) {
    if (onBehalfOf !== null && approver.id === onBehalfOf && approvers !== 'requester') {
      throw new AccessError(
        AccessErrorCode.SELF_APPROVAL,
        `${approver.id} cannot approve a request made on their own behalf; ask someone else in ${approvers} or ${escalatedTo}.`,
      );
    }
    if (onBehalfOf === null || approver.id !== onBehalfOf) return;
  }
  if (approvers === 'requester') {
    if (onBehalfOf === null) {
      throw new AccessError(
        AccessErrorCode.NOT_AN_APPROVER,
        'This request must be approved by the user the agent acts for, and it names none; only an admin can decide it.',
      );
    }
    if (approver.id !== onBehalfOf) {
      throw new AccessError(AccessErrorCode.NOT_AN_APPROVER, `Only ${onBehalfOf}, the user the agent acts for, may approve this request.`);
    }
    return;
  }
  // Checked before group membership so that a group member acting for themselves learns the real reason.
  if (onBehalfOf !== null && approver.id === onBehalfOf) {
    throw new AccessError(
      AccessErrorCode.SELF_APPROVAL,
      `${approver.id} cannot approve a request made on their own behalf; ask someone else in ${approvers}.`,
    );
  }
  if (!approver.groups.includes(approvers)) {
    throw new AccessError(AccessErrorCode.NOT_AN_APPROVER, `${approver.id} is not in ${approvers}, the group that approves this request.`);
  }
}

/** What a grant would give: its columns (data) or operations (HTTP), and for how long. */
export interface GrantedScope {
  columns: string[];
  operations: string[];
  durationSeconds: number;
}

/**
 * Applies an approver's changes, which may only narrow what was asked for (fewer columns or
 * operations, a shorter duration). Throws NARROWING_ONLY naming what broadened.
 */
export function narrowScope(
  granted: Omit<GrantedScope, 'operations'> & { operations?: string[] },
  changes: { columns?: string[]; operations?: string[]; durationSeconds?: number },
): GrantedScope {
  const invalid: ErrorDetail[] = [];
  const broadened: ErrorDetail[] = [];
  for (const [key, noun] of [
    ['columns', 'column'],
    ['operations', 'operation'],
  ] as const) {
    const asked = changes[key];
    if (asked === undefined) continue;
    if (asked.length === 0) invalid.push({ path: key, message: `must not be empty; omit it to keep the requested ${key}` });
    asked.forEach((part, i) => {
      if (!(granted[key] ?? []).includes(part)) broadened.push({ path: `${key}[${i}]`, message: `${noun} "${part}" was not requested` });
    });
  }
  const duration = changes.durationSeconds;
  if (duration !== undefined) {
    if (!Number.isInteger(duration) || duration <= 0) {
      invalid.push({ path: 'duration', message: 'must be a whole number of seconds above zero' });
    } else if (duration > granted.durationSeconds) {
      const message = `${formatDuration(duration)} is longer than the ${formatDuration(granted.durationSeconds)} requested`;
      broadened.push({ path: 'duration', message });
    }
  }
  if (invalid.length > 0) {
    throw new AccessError(AccessErrorCode.VALIDATION_FAILED, `${invalid[0].path} ${invalid[0].message}.`, invalid);
  }
  if (broadened.length > 0) {
    throw new AccessError(
      AccessErrorCode.NARROWING_ONLY,
      `An approval may only narrow the request: ${broadened.map((d) => d.message).join('; ')}.`,
      broadened,
    );
  }
  return {
    columns: changes.columns === undefined ? [...granted.columns] : [...new Set(changes.columns)],
    operations: changes.operations === undefined ? [...(granted.operations ?? [])] : [...new Set(changes.operations)],
    durationSeconds: duration ?? granted.durationSeconds,
  };
}

/** Whether enough approvals have been received. */
export function approvalComplete(required: number, received: number): boolean {
  return received >= required;
}
