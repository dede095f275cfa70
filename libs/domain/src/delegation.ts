import { riskScore } from './risk';
import { globMatches } from './policy/conditions';
import type { Decision } from './policy/evaluate';
import { highestSensitivity, partsOf } from './policy/scope';
import type { Policy } from './policy/types';

/** Where a delegation came from: an admin, or the user's own answer to a consent request. */
export type DelegationSource = 'admin' | 'consent';

/** "This agent may act for this user": the facts the broker weighs. */
export interface DelegationFacts {
  id: string;
  /** Resource ids or `*` globs; empty means every resource. */
  resources: string[];
  expiresAt: Date | null;
  endedAt?: Date | null;
  source: DelegationSource;
}

/** A delegation as people see it: live, past its end, or ended by someone. */
export type DelegationStatus = 'live' | 'expired' | 'ended';

/** Where a request stands with the user it names: asked, allowed, or refused (null: never asked). */
export type ConsentState = 'pending' | 'allowed' | 'refused';

/** The user's answer in Slack to "agent A asks to act for you". */
export type ConsentAnswer = 'allow_once' | 'allow_for_8h' | 'refuse';

/** How long "Allow for 8 hours" lets the agent act for the user (for the resource it asked for). */
export const CONSENT_DELEGATION_SECONDS = 8 * 3600;

export function delegationStatus(delegation: DelegationFacts, now: Date): DelegationStatus {
  if (delegation.endedAt) return 'ended';
  if (delegation.expiresAt && delegation.expiresAt.getTime() <= now.getTime()) return 'expired';
  return 'live';
}

/** Whether a delegation lets its agent act for its user on `resource` at `now`. */
export function delegationCovers(delegation: DelegationFacts, resource: string, now: Date): boolean {
  if (delegationStatus(delegation, now) !== 'live') return false;
  return delegation.resources.length === 0 || delegation.resources.some((pattern) => globMatches(pattern, resource));
}

/**
 * The delegation that proves the named user for a request on `resource`, if any: among those that
 * cover it, the one that lasts longest (no end first), so a grant is clamped as little as the
 * user allowed.
 */
export function provingDelegation<D extends DelegationFacts>(delegations: D[], resource: string, now: Date): D | undefined {
  const end = (d: D) => d.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY;
  return delegations.filter((d) => delegationCovers(d, resource, now)).sort((a, b) => end(b) - end(a))[0];
}

/** A grant made under a delegation never outlives it: whole seconds left, at most `durationSeconds`. */
export function clampToDelegation(durationSeconds: number, delegation: Pick<DelegationFacts, 'expiresAt'> | null | undefined, now: Date): number {
  if (!delegation?.expiresAt) return durationSeconds;
  return Math.max(0, Math.min(durationSeconds, Math.floor((delegation.expiresAt.getTime() - now.getTime()) / 1000)));
}

/**
 * The decision shown while the named user has not yet answered: people are asked, nothing is
 * granted, and the rules wait (they only ever see a proven user). The risk is scored as for an
 * agent acting for nobody, since nobody is proven yet.
 */
export function decisionAwaitingConsent(
  policy: Policy,
  request: { resource: string; actions: string[]; columns: string[]; operations?: string[]; durationSeconds: number },
  names: { user: string; agent: string },
  now: Date,
): Decision {
  const sensitivity = highestSensitivity(policy, request.resource, partsOf({ columns: request.columns, operations: request.operations ?? [] }));
  return {
    outcome: 'require_approval',
    rules: [],
    message: `Waiting for ${names.user} to allow agent ${names.agent} to act for them; then the policy decides.`,
    riskScore: riskScore(policy, { sensitivity, durationSeconds: request.durationSeconds, actions: request.actions, onBehalfOf: false, now }),
    sensitivity,
    policyVersion: policy.version,
    durationSeconds: request.durationSeconds,
    anomalies: [],
  };
}
