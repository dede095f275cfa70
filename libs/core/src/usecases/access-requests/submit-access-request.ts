import { Injectable } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { AccessError, AccessErrorCode, evaluatePolicy, parseDuration, resolveScope, formatDuration } from '@gatehouse/domain';
import { isUniqueViolation } from '../../db/errors';
import { Config } from '../../config/config';
import { Database } from '../../db/database';
import { AgentRow } from '../../db/agents.repository';
import { AccessRequestRow, AccessRequestsRepository } from '../../db/access-requests.repository';
import { AuditEntry, AuditEventsRepository } from '../../db/audit-events.repository';
import { UsersRepository } from '../../db/users.repository';
import { PolicyStore } from '../../policy/policy.store';
import { Metrics } from '../../metrics/metrics';
import { AccessRequestBody } from '../../validation';
import { AccessRequestPresenter, AccessRequestView, StoredDecision } from '../access-request.view';
import { actorName } from '../actor';
import { GrantIssuer } from '../grants/grant-issuer';
import { RequestEffects } from './request-effects';

/** An agent's request for access, as received. */
export interface SubmitInput {
  agent: AgentRow;
  body: AccessRequestBody;
  idempotencyKey?: string;
  sourceIp?: string | null;
  now: Date;
}

const STATUS_OF = { approve: 'approved', require_approval: 'pending', deny: 'denied' } as const;

/**
 * Decides a request at once from the in-memory policy. The auto-approve path is one transaction
 * (request, grant and audit events) and one signature.
 */
@Injectable()
export class SubmitAccessRequest {
  constructor(
    private readonly config: Config,
    private readonly db: Database,
    private readonly policy: PolicyStore,
    private readonly requests: AccessRequestsRepository,
    private readonly users: UsersRepository,
    private readonly audit: AuditEventsRepository,
    private readonly issuer: GrantIssuer,
    private readonly presenter: AccessRequestPresenter,
    private readonly effects: RequestEffects,
    private readonly metrics: Metrics,
  ) {}

  async execute(input: SubmitInput): Promise<{ view: AccessRequestView; replayed: boolean }> {
    const started = process.hrtime.bigint();
    const { agent, body, now } = input;
    const bodyHash = createHash('sha256').update(JSON.stringify(body)).digest('hex');
    if (input.idempotencyKey) {
      const earlier = await this.requests.findByIdempotencyKey(this.db.client, agent.id, input.idempotencyKey);
      if (earlier) return { view: await this.replay(earlier.id, earlier.bodyHash, bodyHash), replayed: true };
    }

    const policy = this.policy.current();
    const durationSeconds = parseDuration(body.duration);
    if (durationSeconds > this.config.maxRequestDurationSeconds) {
      throw new AccessError(AccessErrorCode.DURATION_TOO_LONG, `duration ${body.duration} is over the broker's cap of ${formatDuration(this.config.maxRequestDurationSeconds)}; ask for less.`, [{ path: 'duration', message: 'over the cap' }]);
    }
    const scope = resolveScope(policy, { resource: body.resource, actions: body.actions, columns: body.columns });
    const user = body.onBehalfOf ? await this.users.findByIdOrEmail(this.db.client, body.onBehalfOf) : null;
    if (body.onBehalfOf && !user) {
      throw new AccessError(AccessErrorCode.UNKNOWN_USER, `onBehalfOf "${body.onBehalfOf}" is not a known user id or email; an admin registers users with PUT /v1/admin/users/{id}.`, [{ path: 'onBehalfOf', message: 'unknown user' }]);
    }
    const decision = evaluatePolicy(policy, {
      agent: { id: agent.id, name: agent.name, attributes: agent.attributes as Record<string, unknown> },
      resource: body.resource,
      actions: scope.actions,
      columns: scope.columns,
      durationSeconds,
      onBehalfOf: user ? { id: user.id, email: user.email, groups: user.groups } : null,
      sourceIp: input.sourceIp,
      now,
    });
    const stored: StoredDecision = {
      outcome: decision.outcome, rules: decision.rules, message: decision.message, riskScore: decision.riskScore,
      policyVersion: decision.policyVersion, sensitivity: decision.sensitivity, durationSeconds: decision.durationSeconds,
    };
    const status = STATUS_OF[decision.outcome];
    const actor = actorName({ kind: 'agent', id: agent.id });
    const id = randomUUID();

    const row: AccessRequestRow = {
      id,
      agentId: agent.id,
      onBehalfOf: user?.id ?? null,
      resource: body.resource,
      actions: scope.actions,
      columns: scope.columns,
      durationSeconds,
      reason: body.reason,
      task: body.task ?? null,
      sourceIp: input.sourceIp ?? null,
      status,
      decision: stored as unknown as AccessRequestRow['decision'],
      policyVersion: decision.policyVersion,
      riskScore: decision.riskScore,
      approverGroup: decision.approval?.approvers ?? null,
      requiredApprovals: decision.approval?.required ?? 0,
      approvalExpiresAt: decision.approval ? new Date(now.getTime() + decision.approval.timeoutSeconds * 1000) : null,
      idempotencyKey: input.idempotencyKey ?? null,
      bodyHash,
      decidedAt: status === 'pending' ? null : now,
      decidedBy: status === 'pending' ? null : 'policy',
      decisionComment: null,
      remindAt: decision.approval ? new Date(now.getTime() + decision.approval.remindAfterSeconds * 1000) : null,
      escalateAt: decision.approval ? new Date(now.getTime() + decision.approval.escalateAfterSeconds * 1000) : null,
      escalateTo: decision.approval?.escalateTo ?? null,
      escalatedAt: null,
      slackChannel: null,
      slackTs: null,
      slackDmChannel: null,
      slackDmTs: null,
      createdAt: now,
      updatedAt: now,
    };
    const entries: AuditEntry[] = [
      { type: 'request.created', actor, sourceIp: input.sourceIp, requestId: id, agentId: agent.id, data: { resource: body.resource, actions: scope.actions, columns: scope.columns, duration: body.duration, reason: body.reason, onBehalfOf: user?.id ?? null, task: body.task ?? null } },
      { type: `request.${status}`, actor: 'policy', sourceIp: input.sourceIp, requestId: id, agentId: agent.id, data: { ...stored, approval: decision.approval ?? null } },
    ];
    const issued = status === 'approved' ? this.issuer.build(row, { columns: scope.columns, durationSeconds: decision.durationSeconds }, now, 'policy') : null;
    if (issued) entries.push(issued.audit);
    const grant = issued?.grant ?? null;
    try {
      await this.requests.insertDecided(this.db.client, row, grant, entries);
    } catch (error) {
      // Two retries with one Idempotency-Key raced: the loser answers with the winner's request.
      if (input.idempotencyKey && isUniqueViolation(error)) {
        const winner = await this.requests.findByIdempotencyKey(this.db.client, agent.id, input.idempotencyKey);
        if (winner) return { view: await this.replay(winner.id, winner.bodyHash, bodyHash), replayed: true };
      }
      throw error;
    }

    const view = await this.presenter.request(row, grant, 0, now);
    this.metrics.decisions.inc({ outcome: decision.outcome });
    this.metrics.decisionSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    if (grant) await this.effects.grantIssued(grant);
    if (status === 'pending') {
      await this.effects.pendingCreated(row);
      await this.effects.changed(id, 'pending', view);
    }
    return { view, replayed: false };
  }

  private async replay(requestId: string, storedHash: string | null, bodyHash: string): Promise<AccessRequestView> {
    if (storedHash !== bodyHash) {
      throw new AccessError(AccessErrorCode.IDEMPOTENCY_KEY_REUSED, 'This Idempotency-Key was used with a different body; use a new key for a new request.');
    }
    return this.effects.view(requestId);
  }
}
