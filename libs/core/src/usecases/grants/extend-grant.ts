import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { AccessError, AccessErrorCode, Decision, effectiveGrantStatus } from '@gatehouse/domain';
import { Database } from '../../db/database';
import { AgentRow } from '../../db/agents.repository';
import { AccessRequestRow, AccessRequestsRepository } from '../../db/access-requests.repository';
import { isUniqueViolation } from '../../db/errors';
import { AuditEntry, AuditEventsRepository } from '../../db/audit-events.repository';
import { GrantRow, GrantsRepository } from '../../db/grants.repository';
import { Metrics } from '../../metrics/metrics';
import { AccessRequestBody, ExtendGrantBody } from '../../validation';
import { AccessRequestView } from '../access-request.view';
import { BudgetCheck } from '../access-requests/budget-check';
import { RequestPlan, RequestPreparer, STATUS_OF } from '../access-requests/prepare-request';
import { SuspendMisbehavingAgent } from '../agents/suspend-misbehaving-agent';
import { RequestEffects } from '../access-requests/request-effects';
import { auditOf, newRequestRow } from '../access-requests/submit-access-request';
import { GrantExtensions, Superseded } from './grant-extensions';
import { GrantIssuer } from './grant-issuer';

/** An agent's ask to keep a live grant longer. */
export interface ExtendInput {
  agent: AgentRow;
  grantId: string;
  body: ExtendGrantBody;
  idempotencyKey?: string;
  sourceIp?: string | null;
  now: Date;
}

const whole = (ms: number) => Math.max(0, Math.floor(ms / 1000));

/**
 * A new request for the same access as a live grant (same resource, actions, columns or operations,
 * and user), decided by the policy like a submit with the fact `extension: true`; the chain's total
 * time counts against maxDuration. Approved at once: the new grant and the old one's end
 * (`superseded`) commit together. The extended grant's row is locked while deciding, so two
 * concurrent extensions of one grant make one grant.
 */
@Injectable()
export class ExtendGrant {
  constructor(
    private readonly db: Database,
    private readonly preparer: RequestPreparer,
    private readonly requests: AccessRequestsRepository,
    private readonly grants: GrantsRepository,
    private readonly audit: AuditEventsRepository,
    private readonly issuer: GrantIssuer,
    private readonly extensions: GrantExtensions,
    private readonly effects: RequestEffects,
    private readonly metrics: Metrics,
    private readonly budgetCheck: BudgetCheck,
    private readonly misbehaviour: SuspendMisbehavingAgent,
  ) {}

  async execute(input: ExtendInput): Promise<AccessRequestView> {
    const { agent, now } = input;
    const bodyHash = createHash('sha256')
      .update(JSON.stringify({ extends: input.grantId, ...input.body }))
      .digest('hex');
    if (input.idempotencyKey) {
      const earlier = await this.requests.findIdByIdempotencyKey(this.db.pool, agent.id, input.idempotencyKey);
      if (earlier) return this.replay(earlier, bodyHash);
    }
    const old = await this.grants.findById(this.db.client, input.grantId);
    if (!old || old.agentId !== agent.id) throw new AccessError(AccessErrorCode.GRANT_NOT_FOUND, `No grant ${input.grantId} for this agent.`);
    notLive(old, now);
    const original = (await this.requests.findById(this.db.client, old.requestId))!;
    const chainStartedAt = original.chainStartedAt ?? old.issuedAt;
    const body: AccessRequestBody = {
      resource: old.resource,
      actions: old.actions,
      ...(old.operations.length > 0 ? { operations: old.operations } : { columns: old.columns }),
      duration: input.body.duration,
      reason: input.body.reason,
      ...(original.onBehalfOf !== null && { onBehalfOf: original.onBehalfOf }),
      ...(original.task !== null && { task: original.task as AccessRequestBody['task'] }),
    };
    const usedSeconds = whole(now.getTime() - chainStartedAt.getTime());
    const plan = await this.preparer.plan(agent, body, input.sourceIp, now, { mode: 'submit', extension: { usedSeconds } });
    if (plan.askConsent) {
      // Consent was given for the grant's life; a new one is asked by a new request, not by an extension.
      throw new AccessError(
        AccessErrorCode.DELEGATION_REQUIRED,
        `The delegation that let this agent act for ${original.onBehalfOf} has ended; the grant cannot be extended. Submit a new request (${original.onBehalfOf} is asked), or an admin delegates again.`,
        [{ path: 'onBehalfOf', message: 'no live delegation from this user to this agent' }],
      );
    }
    const { prepared } = plan;
    // The row is built from the decision that commits: budgets may make it stricter under the agent's lock.
    const build = (decision: Decision) => {
      const row = newRequestRow({
        agent,
        body,
        prepared,
        decision,
        status: STATUS_OF[decision.outcome],
        askConsent: false,
        sourceIp: input.sourceIp ?? null,
        idempotencyKey: input.idempotencyKey ?? null,
        bodyHash,
        now,
        extension: { grantId: old.id, chainStartedAt },
      });
      return { row, entries: auditOf(row, body, prepared, decision) };
    };

    let result: { row: AccessRequestRow; decision: Decision; grant: GrantRow | null; superseded: Superseded };
    try {
      result = await this.decide(plan, build, old, agent, now);
    } catch (error) {
      // Two retries with one Idempotency-Key raced: the loser answers with the winner's request (it
      // may have found the grant already superseded by the winner, or hit the key's unique index).
      const raced = isUniqueViolation(error) || (error instanceof AccessError && error.code === AccessErrorCode.GRANT_NOT_ACTIVE);
      if (input.idempotencyKey && raced) {
        const winner = await this.requests.findIdByIdempotencyKey(this.db.pool, agent.id, input.idempotencyKey);
        if (winner) return this.replay(winner, bodyHash);
      }
      throw error;
    }
    const { row, decision } = result;

    this.metrics.decisions.inc({ outcome: decision.outcome });
    const view = await this.effects.view(row.id, now);
    if (result.grant) await this.effects.grantIssued(result.grant);
    await this.extensions.announce(result.superseded);
    if (row.status === 'pending') {
      await this.effects.pendingCreated(row);
      await this.effects.changed(row.id, 'pending', view);
    }
    await this.misbehaviour.afterDecision(agent, decision, prepared.policy, now);
    return view;
  }

  /**
   * Stores the decided extension, and when approved its grant and the old grant's end, in one
   * transaction; the policy's budgets are applied first, as on a submit (the replaced grant is not
   * counted among the live ones).
   */
  private decide(
    plan: RequestPlan,
    build: (decision: Decision) => { row: AccessRequestRow; entries: AuditEntry[] },
    old: GrantRow,
    agent: AgentRow,
    now: Date,
  ): Promise<{ row: AccessRequestRow; decision: Decision; grant: GrantRow | null; superseded: Superseded }> {
    return this.db.transaction(async (tx) => {
      if (!(await this.requests.lockActiveAgent(tx, agent.id, agent.keyId))) {
        throw new AccessError(AccessErrorCode.AGENT_SUSPENDED, 'This agent is suspended or was re-keyed; nothing was extended.');
      }
      const locked = (await this.grants.findForUpdate(tx, old.id))!;
      notLive(locked, now);
      const pending = await this.requests.findPendingExtensionOf(tx, old.id);
      if (pending) {
        throw new AccessError(
          AccessErrorCode.EXTENSION_PENDING,
          `An extension of this grant already waits for approval (request ${pending.id}); wait for it, or cancel it first.`,
          [{ path: 'extends', message: `request ${pending.id} is pending` }],
        );
      }
      const { policy, scope, durationSeconds: requestedSeconds } = plan.prepared;
      const limits = { policy, resource: scope.resource.id, requestedSeconds };
      const decision = await this.budgetCheck.enforce(tx, agent.id, limits, plan.decision, plan.budgets, now, { grantId: old.id });
      const { row, entries } = build(decision);
      const durationSeconds = decision.durationSeconds;
      await this.requests.create(tx, row);
      let grant: GrantRow | null = null;
      let superseded: Superseded = { grant: null, audit: [] };
      const events = [...entries];
      if (row.status === 'approved') {
        const issued = await this.issuer.issue(tx, row, { columns: row.columns, operations: row.operations, durationSeconds }, now, 'policy');
        grant = issued.grant;
        superseded = await this.extensions.supersede(tx, locked, grant, 'policy', now);
        events.push(issued.audit, ...superseded.audit);
      }
      await this.audit.append(tx, events);
      return { row, decision, grant, superseded };
    });
  }

  private async replay(earlier: { id: string; bodyHash: string | null }, bodyHash: string): Promise<AccessRequestView> {
    if (earlier.bodyHash !== bodyHash) {
      throw new AccessError(
        AccessErrorCode.IDEMPOTENCY_KEY_REUSED,
        'This Idempotency-Key was used with a different body; use a new key for a new request.',
      );
    }
    return this.effects.view(earlier.id);
  }
}

/** Only a live grant can be extended: 409 naming how it ended. */
function notLive(grant: GrantRow, now: Date): void {
  const status = effectiveGrantStatus(grant, now);
  if (status === 'active') return;
  throw new AccessError(
    AccessErrorCode.GRANT_NOT_ACTIVE,
    `The grant is ${status}; only a live grant can be extended. Ask for a new access request instead.`,
    [{ path: 'status', message: `is ${status}` }],
  );
}
