import { clampToDelegation, DelegationFacts } from '../delegation';
import { formatDuration, parseDuration } from '../duration';
import { AccessError, AccessErrorCode } from '../errors';
import { Decision, evaluatePolicy } from './evaluate';
import { ResolvedScope, resolveScope, ScopeRequest } from './scope';
import { Policy } from './types';

// The pure steps of preparing a request, shared by the broker (RequestPreparer, for a submit and
// the dry run) and the policy tests, so that a policy test decides exactly as the broker does.

/** What an agent asks for, as sent: the scope and the duration as text. */
export interface RequestAsk extends ScopeRequest {
  duration: string;
}

/** A request's duration in seconds, under the broker's cap, and its scope checked against the policy. */
export interface CheckedRequest {
  durationSeconds: number;
  scope: ResolvedScope;
}

/** Parses the duration, refuses one over the broker's cap, then resolves the scope (in that order). */
export function checkRequest(policy: Policy, ask: RequestAsk, capSeconds: number): CheckedRequest {
  const durationSeconds = parseDuration(ask.duration);
  if (durationSeconds > capSeconds) {
    throw new AccessError(
      AccessErrorCode.DURATION_TOO_LONG,
      `duration ${ask.duration} is over the broker's cap of ${formatDuration(capSeconds)}; ask for less.`,
      [{ path: 'duration', message: 'over the cap' }],
    );
  }
  return { durationSeconds, scope: resolveScope(policy, ask) };
}

/** A checked request whose named user, if any, is proven (by `delegation`, or by consent). */
export interface ProvenRequest {
  policy: Policy;
  scope: ResolvedScope;
  durationSeconds: number;
  user: { id: string; email: string; groups: string[] } | null;
  /** What proves `user`; its end clamps the grant. Null: no user, or proven by consent. */
  delegation: Pick<DelegationFacts, 'expiresAt'> | null;
  /** Set when the request extends a live grant: how long its chain of grants has run. */
  extension?: { usedSeconds: number } | null;
}

/** The policy's decision for a proven request. A grant never outlives the delegation behind it. */
export function decideRequest(
  request: ProvenRequest,
  agent: { id: string; name: string; attributes: unknown },
  sourceIp: string | null | undefined,
  now: Date,
): Decision {
  const { policy, scope, user } = request;
  const decision = evaluatePolicy(policy, {
    agent: { id: agent.id, name: agent.name, attributes: (agent.attributes ?? {}) as Record<string, unknown> },
    resource: scope.resource.id,
    actions: scope.actions,
    columns: scope.columns,
    operations: scope.operations,
    durationSeconds: request.durationSeconds,
    onBehalfOf: user ? { id: user.id, email: user.email, groups: user.groups } : null,
    sourceIp,
    now,
    extension: request.extension ?? null,
  });
  return { ...decision, durationSeconds: clampToDelegation(decision.durationSeconds, request.delegation, now) };
}
