import { Injectable } from '@nestjs/common';
import { AccessError, Budget, budgetsSelecting, Decision, DelegationFacts, evaluationInput, Policy, resolveScope } from '@gatehouse/domain';
import { Tx } from '../../db/prisma.service';
import { AccessRequestRow, AccessRequestsRepository } from '../../db/access-requests.repository';
import { AgentRow, AgentsRepository } from '../../db/agents.repository';
import { AuditEntry, AuditEventsRepository } from '../../db/audit-events.repository';
import { GrantRow } from '../../db/grants.repository';
import { UserRow, UsersRepository } from '../../db/users.repository';
import { PolicyStore } from '../../policy/policy.store';
import { storedDecision } from '../access-request.view';
import { GrantIssuer } from '../grants/grant-issuer';
import { RequestPreparer } from '../access-requests/prepare-request';
import { BudgetCheck } from '../access-requests/budget-check';

/** What the policy made of a request once its user was proven; the caller applies the effects after commit. */
export interface AfterConsent {
  event: 'approved' | 'denied' | 'pending';
  request: AccessRequestRow;
  grant?: GrantRow;
}

const STATUS_OF = { approve: 'approved', require_approval: 'pending', deny: 'denied' } as const;
const at = (now: Date, seconds: number) => new Date(now.getTime() + seconds * 1000);

/**
 * Consent first, then the policy decides as usual: for a request that waited for its user, now
 * proven by their consent or by a delegation, evaluates the policy in force and applies the outcome
 * in the caller's transaction (the request row is locked by the caller).
 */
@Injectable()
export class DecideAfterConsent {
  constructor(
    private readonly preparer: RequestPreparer,
    private readonly policy: PolicyStore,
    private readonly requests: AccessRequestsRepository,
    private readonly agents: AgentsRepository,
    private readonly users: UsersRepository,
    private readonly issuer: GrantIssuer,
    private readonly audit: AuditEventsRepository,
    private readonly budgetCheck: BudgetCheck,
  ) {}

  /** Returns null when the request no longer waits for consent (someone else moved it first). */
  async run(
    tx: Tx,
    request: AccessRequestRow,
    proof: { delegation: DelegationFacts | null; actor: string },
    now: Date,
  ): Promise<AfterConsent | null> {
    const [agent, user] = await Promise.all([this.agents.findById(tx, request.agentId), this.users.findById(tx, request.onBehalfOf!)]);
    const { decision: byPolicy, policy, budgets } = this.decide(request, agent, user, proof.delegation, now);
    // Budgets apply as on a submit, under the agent's lock in this transaction; this request is already a row, so it is not counted twice.
    const limits = { policy, resource: request.resource, requestedSeconds: request.durationSeconds };
    const decision = await this.budgetCheck.enforce(tx, request.agentId, limits, byPolicy, budgets, now, { requestId: request.id });
    const status = STATUS_OF[decision.outcome];
    const approval = decision.approval;
    const update = {
      status,
      consent: 'allowed' as const,
      delegationId: proof.delegation?.id ?? null,
      decision: storedDecision(decision),
      policyVersion: decision.policyVersion,
      riskScore: decision.riskScore,
      approverGroup: approval?.approvers ?? null,
      requiredApprovals: approval?.required ?? 0,
      // The approvers get their full time from now: the wait for the user was not theirs.
      approvalExpiresAt: approval ? at(now, approval.timeoutSeconds) : request.approvalExpiresAt,
      remindAt: approval ? at(now, approval.remindAfterSeconds) : null,
      escalateAt: approval ? at(now, approval.escalateAfterSeconds) : null,
      escalateTo: approval?.escalateTo ?? null,
      decidedAt: status === 'pending' ? null : now,
      decidedBy: status === 'pending' ? null : 'policy',
      decisionComment: null,
    };
    if ((await this.requests.recordConsentOutcome(tx, request.id, update)) === 0) return null;
    const row: AccessRequestRow = { ...request, ...update, updatedAt: now };
    const base = { actor: 'policy', sourceIp: request.sourceIp, requestId: request.id, agentId: request.agentId };
    const entries: AuditEntry[] = [
      { ...base, type: `request.${status}`, data: { ...storedDecision(decision), approval: approval ?? null, after: 'consent' } },
    ];
    let grant: GrantRow | undefined;
    if (status === 'approved') {
      const issued = await this.issuer.issue(
        tx,
        row,
        { columns: row.columns, operations: row.operations, durationSeconds: decision.durationSeconds },
        now,
        'policy',
      );
      entries.push(issued.audit);
      grant = issued.grant;
    }
    await this.audit.append(tx, entries);
    return { event: status, request: row, grant };
  }

  /**
   * The policy's decision now, and the budgets that select the request; a request the policy can no
   * longer place (its resource is gone) is denied.
   */
  private decide(
    request: AccessRequestRow,
    agent: AgentRow | null,
    user: UserRow | null,
    delegation: DelegationFacts | null,
    now: Date,
  ): { decision: Decision; policy: Policy; budgets: Budget[] } {
    const policy = this.policy.current();
    const decided = (decision: Decision, budgets: Budget[] = []) => ({ decision, policy, budgets });
    const refused = (why: string): Decision => ({
      outcome: 'deny',
      rules: [],
      message: `The policy in force can no longer grant this request: ${why}`,
      riskScore: request.riskScore,
      sensitivity: '',
      policyVersion: policy.version,
      durationSeconds: request.durationSeconds,
      anomalies: request.decision.anomalies ?? [],
    });
    if (!agent || !user) return decided(refused('the agent or the user is no longer registered.'));
    if (agent.status !== 'active') return decided(refused('the agent is suspended.'));
    try {
      const scope = resolveScope(policy, {
        resource: request.resource,
        actions: request.actions,
        ...(request.operations.length > 0 ? { operations: request.operations } : { columns: request.columns }),
      });
      // The anomalies were judged when the request came, against the baseline of that moment.
      const anomalies = request.decision.anomalies ?? [];
      const proven = { policy, scope, durationSeconds: request.durationSeconds, user, delegation };
      const decision = this.preparer.decide(proven, agent, request.sourceIp, now, anomalies);
      if (policy.budgets.length === 0) return decided(decision);
      return decided(decision, budgetsSelecting(policy, evaluationInput(proven, agent, request.sourceIp, now, anomalies), decision));
    } catch (error) {
      if (error instanceof AccessError) return decided(refused(error.message));
      throw error;
    }
  }
}
