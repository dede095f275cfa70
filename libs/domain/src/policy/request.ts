import { Anomaly, anomaliesOf, Baseline, observation, RequestFacts, zoneOf } from '../behaviour/baseline';
import { clampToDelegation, DelegationFacts } from '../delegation';
import { formatDuration, parseDuration } from '../duration';
import { AccessError, AccessErrorCode } from '../errors';
import { applyBreakGlass } from './break-glass';
import { Decision, evaluatePolicy, EvaluationInput } from './evaluate';
import { highestSensitivity, partsOf, ResolvedScope, resolveScope, ScopeRequest } from './scope';
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
  /** Sent with `breakGlass: true`: decided by the policy's breakGlass block on top of its rules. */
  breakGlass?: boolean;
  /** Set when the request extends a live grant: how long its chain of grants has run. */
  extension?: { usedSeconds: number } | null;
}

/** What the broker knows of an agent's past when a request arrives. */
export interface AgentHistory {
  baseline: Baseline;
  /** The agent's requests in the current minute, this one included. */
  minuteCount: number;
}

/** The facts of a checked request that its agent's baseline learns from and is compared with. */
export function requestFacts(
  policy: Policy,
  request: { scope: ResolvedScope; user: { id: string; email: string } | null },
  minuteCount: number,
): RequestFacts {
  const parts = partsOf(request.scope);
  return {
    resource: request.scope.resource.id,
    parts,
    sensitivity: highestSensitivity(policy, request.scope.resource, parts),
    user: request.user ? { id: request.user.id, email: request.user.email } : null,
    minuteCount,
  };
}

/**
 * A checked request against its agent's baseline: how it departs from it (none while the baseline
 * is young), and what it would add to it once stored.
 */
export function judgeRequest(
  policy: Policy,
  request: { scope: ResolvedScope; user: { id: string; email: string } | null },
  agent: { attributes: unknown },
  history: AgentHistory,
  now: Date,
): { anomalies: Anomaly[]; observation: Baseline } {
  const settings = policy.defaults.anomaly;
  const zone = zoneOf((agent.attributes ?? {}) as Record<string, unknown>, settings);
  const facts = requestFacts(policy, request, history.minuteCount);
  return { anomalies: anomaliesOf(history.baseline, facts, now, zone, settings, policy.sensitivity), observation: observation(facts, now, zone) };
}

/**
 * The policy's decision for a proven request, given its anomalies (see judgeRequest). A grant
 * never outlives the delegation behind it.
 */
export function decideRequest(
  request: ProvenRequest,
  agent: { id: string; name: string; attributes: unknown },
  sourceIp: string | null | undefined,
  now: Date,
  anomalies: Anomaly[] = [],
): Decision {
  const input = evaluationInput(request, agent, sourceIp, now, anomalies);
  const ruled = evaluatePolicy(request.policy, input);
  const decision = request.breakGlass ? applyBreakGlass(request.policy, input, ruled) : ruled;
  return { ...decision, durationSeconds: clampToDelegation(decision.durationSeconds, request.delegation, now) };
}

/** A proven request as the policy's rules (and budgets' selectors) see it. */
export function evaluationInput(
  request: Pick<ProvenRequest, 'scope' | 'durationSeconds' | 'user' | 'extension'>,
  agent: { id: string; name: string; attributes: unknown },
  sourceIp: string | null | undefined,
  now: Date,
  anomalies: Anomaly[] = [],
): EvaluationInput {
  const { scope, user } = request;
  return {
    agent: { id: agent.id, name: agent.name, attributes: (agent.attributes ?? {}) as Record<string, unknown> },
    resource: scope.resource.id,
    actions: scope.actions,
    columns: scope.columns,
    operations: scope.operations,
    durationSeconds: request.durationSeconds,
    onBehalfOf: user ? { id: user.id, email: user.email, groups: user.groups } : null,
    sourceIp,
    now,
    anomalies,
    extension: request.extension ?? null,
  };
}
