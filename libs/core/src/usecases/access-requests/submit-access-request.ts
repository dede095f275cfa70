import { Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import { createHash, randomInt, randomUUID } from 'node:crypto';
import { AccessError, AccessErrorCode, Decision } from '@gatehouse/domain';
import { isUniqueViolation } from '../../db/errors';
import { BASELINE_SHARDS } from '../../db/baselines.repository';
import { Database } from '../../db/database';
import { AgentRow, AgentsRepository } from '../../db/agents.repository';
import { AgentChanges } from '../../events/agent-changes';
import { AccessRequestRow, AccessRequestsRepository } from '../../db/access-requests.repository';
import type { GrantRow } from '../../db/grants.repository';
import { AuditEntry } from '../../db/audit-events.repository';
import { Metrics } from '../../metrics/metrics';
import { AccessRequestBody } from '../../validation';
import { AccessRequestPresenter, AccessRequestView, storedDecision } from '../access-request.view';
import { actorName } from '../actor';
import { GrantIssuer } from '../grants/grant-issuer';
import { BreakGlassAlerts, breakGlassAudit } from './break-glass';
import { SuspendMisbehavingAgent } from '../agents/suspend-misbehaving-agent';
import { AgentHistories } from '../../behaviour/agent-history';
import { PreparedRequest, RequestPlan, RequestPreparer } from './prepare-request';
import { BudgetCheck } from './budget-check';
import { RequestEffects } from './request-effects';

/** An agent's request for access, as received. */
export interface SubmitInput {
  agent: AgentRow;
  body: AccessRequestBody;
  idempotencyKey?: string;
  sourceIp?: string | null;
  now: Date;
}

/**
 * Decides a request at once from the in-memory policy. The auto-approve path is one transaction
 * (request, grant and audit events) and one signature. A named user is a claim: a live delegation
 * proves it, or the user is asked first (consent), or the request is refused.
 */
@Injectable()
export class SubmitAccessRequest {
  constructor(
    private readonly db: Database,
    private readonly preparer: RequestPreparer,
    private readonly requests: AccessRequestsRepository,
    private readonly issuer: GrantIssuer,
    private readonly presenter: AccessRequestPresenter,
    private readonly effects: RequestEffects,
    private readonly metrics: Metrics,
    private readonly agents: AgentsRepository,
    private readonly agentChanges: AgentChanges,
    private readonly breakGlassAlerts: BreakGlassAlerts,
    private readonly misbehaviour: SuspendMisbehavingAgent,
    private readonly histories: AgentHistories,
    private readonly budgetCheck: BudgetCheck,
  ) {}

  async execute(input: SubmitInput): Promise<{ view: AccessRequestView; replayed: boolean }> {
    const started = process.hrtime.bigint();
    const { agent, body, now } = input;
    const bodyHash = createHash('sha256').update(JSON.stringify(body)).digest('hex');
    if (input.idempotencyKey) {
      const earlier = await this.requests.findIdByIdempotencyKey(this.db.pool, agent.id, input.idempotencyKey);
      if (earlier) return { view: await this.replay(earlier.id, earlier.bodyHash, bodyHash), replayed: true };
    }

    let planned: RequestPlan;
    try {
      planned = await this.preparer.plan(agent, body, input.sourceIp, now, { mode: 'submit' });
    } catch (error) {
      await this.breakGlassAlerts.recordRefusal(agent, body, input.sourceIp ?? null, error);
      throw error;
    }
    const enforced = this.budgetCheck.toEnforce(planned);
    let stored: Stored;
    try {
      stored =
        enforced.length === 0
          ? await this.store(this.db.pool, planned, input, bodyHash)
          : // Counting and inserting under the agent's lock, in one transaction: two requests cannot both take the last unit.
            await this.db.poolTransaction(async (client) => {
              await this.budgetCheck.lock(client, agent.id);
              const { plan } = await this.budgetCheck.apply(client, agent.id, planned, enforced, now);
              return this.store(client, plan, input, bodyHash);
            });
    } catch (error) {
      // Two retries with one Idempotency-Key raced: the loser answers with the winner's request.
      if (input.idempotencyKey && isUniqueViolation(error)) {
        const winner = await this.requests.findIdByIdempotencyKey(this.db.pool, agent.id, input.idempotencyKey);
        if (winner) return { view: await this.replay(winner.id, winner.bodyHash, bodyHash), replayed: true };
      }
      throw error;
    }
    const { row, grant, inserted, decision, askConsent, learned } = stored;
    if (!inserted) await this.agentChangedMeanwhile(agent);
    if (learned) this.histories.learned(agent.id, planned.observation);

    const view = await this.presenter.request(row, grant, 0, now);
    this.metrics.decisions.inc({ outcome: askConsent ? 'consent' : decision.outcome });
    this.metrics.decisionSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    if (grant) await this.effects.grantIssued(grant);
    if (grant && row.review === 'open') await this.breakGlassAlerts.raise(row, agent, grant, now);
    if (row.status === 'pending') {
      await this.effects.pendingCreated(row);
      await this.effects.changed(row.id, askConsent ? 'consent_requested' : 'pending', view);
    }
    await this.misbehaviour.afterDecision(agent, decision, planned.prepared.policy, now);
    return { view, replayed: false };
  }

  /**
   * Builds the request row (and the grant when approved at once) from a plan, and inserts them with
   * their audit events and what the request teaches its agent's baseline.
   */
  private async store(db: Pool | PoolClient, plan: RequestPlan, input: SubmitInput, bodyHash: string): Promise<Stored> {
    const { agent, body, now } = input;
    const { prepared, decision, status, askConsent, observation } = plan;
    const row = newRequestRow({
      agent,
      body,
      prepared,
      decision,
      status,
      askConsent,
      sourceIp: input.sourceIp ?? null,
      idempotencyKey: input.idempotencyKey ?? null,
      bodyHash,
      now,
    });
    const entries = auditOf(row, body, prepared, decision);
    const issued =
      row.status === 'approved'
        ? this.issuer.build(row, { columns: row.columns, operations: row.operations, durationSeconds: decision.durationSeconds }, now, 'policy')
        : null;
    if (issued) entries.push(issued.audit);
    const grant = issued?.grant ?? null;
    if (grant && row.review === 'open') entries.push(breakGlassAudit(row, grant));
    // What the policy denies teaches the baseline nothing about what is normal.
    const baseline = status === 'denied' ? null : { shard: randomInt(BASELINE_SHARDS), counts: observation };
    const inserted = await this.requests.insertDecided(db, { agentId: agent.id, keyId: agent.keyId }, row, grant, entries, baseline);
    return { row, grant, inserted, decision, askConsent, learned: baseline !== null };
  }

  /**
   * The insert found the agent no longer active with the key that signed this call: it was suspended
   * or re-keyed since it was read. Nothing was written; what this process kept about it is dropped.
   */
  private async agentChangedMeanwhile(agent: AgentRow): Promise<never> {
    await this.agentChanges.changed(agent.id);
    const now = await this.agents.findForAuthentication(this.db.pool, agent.id);
    if (now && now.status !== 'active') {
      throw new AccessError(AccessErrorCode.AGENT_SUSPENDED, 'This agent is suspended; an admin must resume it.');
    }
    throw new AccessError(
      AccessErrorCode.INVALID_ASSERTION,
      "The agent's key changed while this call was handled; sign a new assertion with the registered key.",
    );
  }

  private async replay(requestId: string, storedHash: string | null, bodyHash: string): Promise<AccessRequestView> {
    if (storedHash !== bodyHash) {
      throw new AccessError(
        AccessErrorCode.IDEMPOTENCY_KEY_REUSED,
        'This Idempotency-Key was used with a different body; use a new key for a new request.',
      );
    }
    return this.effects.view(requestId);
  }
}

/** What a submit stored (or, when `inserted` is false, found it could not). */
interface Stored {
  row: AccessRequestRow;
  grant: GrantRow | null;
  inserted: boolean;
  decision: Decision;
  askConsent: boolean;
  /** The request was added to its agent's baseline (it was not denied). */
  learned: boolean;
}

const at = (now: Date, seconds: number) => new Date(now.getTime() + seconds * 1000);

/** A request row as decided at submit (a new request, or an extension of a live grant). */
export function newRequestRow(input: {
  agent: AgentRow;
  body: AccessRequestBody;
  prepared: PreparedRequest;
  decision: Decision;
  status: RequestPlan['status'];
  askConsent: boolean;
  sourceIp: string | null;
  idempotencyKey: string | null;
  bodyHash: string;
  now: Date;
  /** An extension: the grant it extends and when its chain of grants started. */
  extension?: { grantId: string; chainStartedAt: Date };
}): AccessRequestRow {
  const { agent, body, prepared, decision, status, askConsent, now } = input;
  // While the user is asked, nobody else is: no approver group, reminders or escalation yet.
  const approval = askConsent ? undefined : decision.approval;
  return {
    id: randomUUID(),
    agentId: agent.id,
    onBehalfOf: prepared.user?.id ?? null,
    resource: prepared.scope.resource.id,
    actions: prepared.scope.actions,
    columns: prepared.scope.columns,
    operations: prepared.scope.operations,
    durationSeconds: prepared.durationSeconds,
    reason: body.reason,
    task: body.task ?? null,
    sourceIp: input.sourceIp,
    status,
    decision: storedDecision(decision),
    policyVersion: decision.policyVersion,
    riskScore: decision.riskScore,
    approverGroup: approval?.approvers ?? null,
    requiredApprovals: approval?.required ?? 0,
    approvalExpiresAt: status === 'pending' ? at(now, approval?.timeoutSeconds ?? prepared.policy.defaults.approvalTimeoutSeconds) : null,
    idempotencyKey: input.idempotencyKey,
    bodyHash: input.bodyHash,
    decidedAt: status === 'pending' ? null : now,
    decidedBy: status === 'pending' ? null : 'policy',
    decisionComment: null,
    remindAt: approval ? at(now, approval.remindAfterSeconds) : null,
    escalateAt: approval ? at(now, approval.escalateAfterSeconds) : null,
    escalateTo: approval?.escalateTo ?? null,
    escalatedAt: null,
    delegationId: prepared.delegation?.id ?? null,
    consent: askConsent ? 'pending' : null,
    breakGlass: decision.breakGlass === true,
    // Only a break-glass access granted needs a person's look afterwards; a denied one granted nothing.
    review: decision.breakGlass && status === 'approved' ? 'open' : null,
    reviewedAt: null,
    reviewedBy: null,
    reviewComment: null,
    alertedAt: null,
    extendsGrantId: input.extension?.grantId ?? null,
    chainStartedAt: input.extension?.chainStartedAt ?? null,
    createdAt: now,
    updatedAt: now,
  };
}

/** The audit events of a request decided at submit: created, then consent asked or the policy's decision. */
export function auditOf(row: AccessRequestRow, body: AccessRequestBody, prepared: PreparedRequest, decision: Decision): AuditEntry[] {
  const base = { sourceIp: row.sourceIp, requestId: row.id, agentId: row.agentId };
  const proof = prepared.delegation ? { delegation: { id: prepared.delegation.id, source: prepared.delegation.source } } : {};
  const entries: AuditEntry[] = [
    {
      ...base,
      type: 'request.created',
      actor: actorName({ kind: 'agent', id: row.agentId }),
      data: {
        resource: row.resource,
        actions: row.actions,
        columns: row.columns,
        ...(row.operations.length > 0 && { operations: row.operations }),
        duration: body.duration,
        reason: body.reason,
        onBehalfOf: row.onBehalfOf,
        task: body.task ?? null,
        ...(row.extendsGrantId && { extends: row.extendsGrantId }),
        ...proof,
      },
    },
  ];
  if (row.consent === 'pending') {
    entries.push({
      ...base,
      type: 'request.consent_requested',
      actor: 'system',
      data: { user: row.onBehalfOf, expiresAt: row.approvalExpiresAt!.toISOString(), ...storedDecision(decision) },
    });
  } else {
    entries.push({
      ...base,
      type: `request.${row.status}`,
      actor: 'policy',
      data: { ...storedDecision(decision), approval: decision.approval ?? null },
    });
  }
  return entries;
}
