import { Inject, Injectable } from '@nestjs/common';
import {
  AccessError,
  AccessErrorCode,
  Anomaly,
  Baseline,
  Budget,
  budgetsSelecting,
  checkRequest,
  clampToDelegation,
  DelegationFacts,
  Decision,
  decideRequest,
  decisionAwaitingConsent,
  evaluationInput,
  Policy,
  provingDelegation,
  RequestStatus,
  judgeRequest,
  ResolvedScope,
} from '@gatehouse/domain';
import { AgentHistories } from '../../behaviour/agent-history';
import { Config } from '../../config/config';
import { Database } from '../../db/database';
import { NamedUser, UsersRepository } from '../../db/users.repository';
import { PolicyStore } from '../../policy/policy.store';
import { APPROVAL_NOTIFIER, ApprovalNotifier } from '../../notify/approval-notifier';

/** What the broker knows about a request before the policy decides. */
export interface PreparedRequest {
  policy: Policy;
  scope: ResolvedScope;
  /** As asked, under the broker's cap. */
  durationSeconds: number;
  /** The user named in onBehalfOf: a claim until `delegation` (or their consent) proves it. */
  user: NamedUser['user'] | null;
  /** The live delegation proving `user` for this resource; null when none does. */
  delegation: DelegationFacts | null;
  /** Sent as break-glass (the policy's breakGlass block decides whether it may). */
  breakGlass: boolean;
}

/** The part of a request body preparation reads. */
export interface RequestShape {
  resource: string;
  actions: string[];
  columns?: string[];
  operations?: string[];
  duration: string;
  onBehalfOf?: string;
  breakGlass?: boolean;
}

/**
 * What a submit decides, and a dry run reports: the status the request gets, the decision it
 * carries, and whether the named user is asked first (then `decision` only says so, and `ifAllowed`
 * is what the policy would decide once they allow it).
 */
export interface RequestPlan {
  prepared: PreparedRequest;
  status: Extract<RequestStatus, 'approved' | 'pending' | 'denied'>;
  decision: Decision;
  askConsent: boolean;
  ifAllowed?: Decision;
  /** What this request adds to its agent's baseline, if it is stored and not denied. */
  observation: Baseline;
  /**
   * The policy's budgets that select this request (by their `when`), before any usage is counted:
   * BudgetCheck counts and applies them. Empty while the named user is asked (nothing is granted yet).
   */
  budgets: Budget[];
}

/** The status a request gets from its decision's outcome. */
export const STATUS_OF = { approve: 'approved', require_approval: 'pending', deny: 'denied' } as const;

/** The agent as the policy sees it. */
export interface AgentFacts {
  id: string;
  name: string;
  attributes: unknown;
}

/**
 * Prepares a request for the policy, the same way for a submit and for a dry run: the broker's
 * duration cap, the scope checked against the policy, and the named user with what proves them.
 */
@Injectable()
export class RequestPreparer {
  constructor(
    private readonly config: Config,
    private readonly db: Database,
    private readonly policy: PolicyStore,
    private readonly users: UsersRepository,
    @Inject(APPROVAL_NOTIFIER) private readonly notifier: ApprovalNotifier,
    private readonly histories: AgentHistories,
  ) {}

  /**
   * The one decision path, for a submit and a dry run alike: prepares the request, then proves the
   * named user by a live delegation, or plans to ask them (when they can be reached), or refuses it
   * with 403 DELEGATION_REQUIRED; otherwise the policy decides. The request is compared with its
   * agent's baseline first (its anomalies); `mode: 'submit'` also counts it in the agent's minute.
   * `extension`: the request extends a live grant whose chain has run this long (the policy's
   * `extension` fact and total time).
   */
  async plan(
    agent: AgentFacts,
    body: RequestShape,
    sourceIp: string | null | undefined,
    now: Date,
    options: { mode?: 'submit' | 'dry-run'; extension?: { usedSeconds: number } | null } = {},
  ): Promise<RequestPlan> {
    const { mode = 'dry-run', extension = null } = options;
    const prepared = await this.prepare(agent.id, body, now);
    const history = await this.histories.of(agent.id, now, mode === 'submit');
    const { policy } = prepared;
    const { anomalies, observation: observed } = judgeRequest(policy, prepared, agent, history, now);
    const user = prepared.user;
    if (!user || prepared.delegation) {
      const decision = this.decide({ ...prepared, extension }, agent, sourceIp, now, anomalies);
      // Most policies have no budgets: then nothing more is built per request.
      const budgets =
        policy.budgets.length === 0
          ? []
          : budgetsSelecting(policy, evaluationInput({ ...prepared, extension }, agent, sourceIp, now, anomalies), decision);
      return { prepared, status: STATUS_OF[decision.outcome], decision, askConsent: false, observation: observed, budgets };
    }
    if (prepared.breakGlass) {
      // An emergency cannot wait for a person's answer, and breakGlass.allowed may name the user's
      // groups, which only a proven user has: break-glass for a user needs a live delegation.
      throw new AccessError(
        AccessErrorCode.DELEGATION_REQUIRED,
        `Break-glass does not wait for consent: ${user.displayName} has no live delegation to agent ${agent.name} for ${prepared.scope.resource.id}. ${user.displayName} or an admin must delegate first: PUT /v1/admin/agents/${agent.id}/delegations/${user.id}.`,
        [{ path: 'onBehalfOf', message: 'no live delegation from this user to this agent' }],
      );
    }
    if (!this.notifier.canAskConsent(user)) {
      throw new AccessError(
        AccessErrorCode.DELEGATION_REQUIRED,
        `${user.displayName} has not delegated to agent ${agent.name} for ${prepared.scope.resource.id}, and cannot be asked in Slack. ${user.displayName} or an admin must delegate first: PUT /v1/admin/agents/${agent.id}/delegations/${user.id}.`,
        [{ path: 'onBehalfOf', message: 'no live delegation from this user to this agent' }],
      );
    }
    const { scope } = prepared;
    const decision = decisionAwaitingConsent(
      prepared.policy,
      {
        resource: scope.resource.id,
        actions: scope.actions,
        columns: scope.columns,
        operations: scope.operations,
        durationSeconds: prepared.durationSeconds,
      },
      { user: user.displayName, agent: agent.name },
      now,
    );
    const ifAllowed = this.decide({ ...prepared, extension }, agent, sourceIp, now, anomalies);
    return { prepared, status: 'pending', decision: { ...decision, anomalies }, askConsent: true, ifAllowed, observation: observed, budgets: [] };
  }

  async prepare(agentId: string, body: RequestShape, now: Date): Promise<PreparedRequest> {
    const policy = this.policy.current();
    const { durationSeconds, scope } = checkRequest(policy, body, this.config.maxRequestDurationSeconds);
    const breakGlass = body.breakGlass === true;
    if (body.onBehalfOf === undefined) return { policy, scope, durationSeconds, user: null, delegation: null, breakGlass };
    const named = await this.users.findNamedWithDelegations(this.db.client, body.onBehalfOf, agentId, now);
    if (!named) {
      throw new AccessError(
        AccessErrorCode.UNKNOWN_USER,
        `onBehalfOf "${body.onBehalfOf}" is not a known user id or email; an admin registers users with PUT /v1/admin/users/{id}.`,
        [{ path: 'onBehalfOf', message: 'unknown user' }],
      );
    }
    const delegation = provingDelegation(named.delegations, scope.resource.id, now);
    // A delegation ending within the second could not back even a one-second grant.
    const usable = delegation && clampToDelegation(1, delegation, now) > 0 ? delegation : null;
    return { policy, scope, durationSeconds, user: named.user, delegation: usable, breakGlass };
  }

  /**
   * The policy's decision for a request whose named user, if any, is proven (by `delegation`, or
   * by consent on this very request). A grant never outlives the delegation behind it.
   */
  decide(
    prepared: Pick<PreparedRequest, 'policy' | 'scope' | 'durationSeconds' | 'user' | 'delegation'> & {
      breakGlass?: boolean;
      extension?: { usedSeconds: number } | null;
    },
    agent: AgentFacts,
    sourceIp: string | null | undefined,
    now: Date,
    anomalies: Anomaly[] = [],
  ): Decision {
    return decideRequest(prepared, agent, sourceIp, now, anomalies);
  }
}
