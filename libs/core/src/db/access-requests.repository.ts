import { Injectable } from '@nestjs/common';
import { Prisma } from '@gatehouse/prisma';
import type { AccessRequest, Approval, Grant } from '@gatehouse/prisma';
import type { RequestStatus } from '@gatehouse/domain';
import { Tx } from './prisma.service';
import { afterCursor, Cursor } from './pagination';
import type { AuditEntry } from './audit-events.repository';

export type AccessRequestRow = AccessRequest;
export type ApprovalRow = Approval;

const value = (v: unknown, cast = ''): Prisma.Sql => Prisma.sql`${v}${Prisma.raw(cast)}`;
const json = (v: unknown): Prisma.Sql => value(v === null ? null : JSON.stringify(v), '::jsonb');

/**
 * Every column of access_requests as the submit statement writes it. The type spans every field
 * of the row, so a new column does not compile until it is written here: none is silently dropped.
 */
function requestColumns(r: AccessRequestRow): Record<keyof AccessRequestRow, [column: string, value: Prisma.Sql]> {
  return {
    id: ['id', value(r.id, '::uuid')],
    agentId: ['agent_id', value(r.agentId, '::uuid')],
    onBehalfOf: ['on_behalf_of', value(r.onBehalfOf)],
    resource: ['resource', value(r.resource)],
    actions: ['actions', value(r.actions, '::text[]')],
    columns: ['columns', value(r.columns, '::text[]')],
    durationSeconds: ['duration_seconds', value(r.durationSeconds)],
    reason: ['reason', value(r.reason)],
    task: ['task', json(r.task)],
    sourceIp: ['source_ip', value(r.sourceIp)],
    status: ['status', value(r.status)],
    decision: ['decision', json(r.decision)],
    policyVersion: ['policy_version', value(r.policyVersion)],
    riskScore: ['risk_score', value(r.riskScore)],
    approverGroup: ['approver_group', value(r.approverGroup)],
    requiredApprovals: ['required_approvals', value(r.requiredApprovals)],
    approvalExpiresAt: ['approval_expires_at', value(r.approvalExpiresAt)],
    idempotencyKey: ['idempotency_key', value(r.idempotencyKey)],
    bodyHash: ['body_hash', value(r.bodyHash)],
    decidedAt: ['decided_at', value(r.decidedAt)],
    decidedBy: ['decided_by', value(r.decidedBy)],
    decisionComment: ['decision_comment', value(r.decisionComment)],
    remindAt: ['remind_at', value(r.remindAt)],
    escalateAt: ['escalate_at', value(r.escalateAt)],
    escalateTo: ['escalate_to', value(r.escalateTo)],
    escalatedAt: ['escalated_at', value(r.escalatedAt)],
    delegationId: ['delegation_id', value(r.delegationId, '::uuid')],
    consent: ['consent', value(r.consent)],
    createdAt: ['created_at', value(r.createdAt)],
    updatedAt: ['updated_at', value(r.updatedAt)],
  };
}

/** Access requests and the approvals people gave them. */
@Injectable()
export class AccessRequestsRepository {
  findById(db: Tx, id: string): Promise<AccessRequestRow | null> {
    return db.accessRequest.findUnique({ where: { id } });
  }

  findByIdempotencyKey(db: Tx, agentId: string, idempotencyKey: string): Promise<AccessRequestRow | null> {
    return db.accessRequest.findUnique({ where: { agentId_idempotencyKey: { agentId, idempotencyKey } } });
  }

  /** Reads a request and locks its row until commit, so decisions on one request run one at a time. */
  async findForDecision(db: Tx, id: string): Promise<AccessRequestRow | null> {
    await db.$queryRaw`SELECT 1 FROM access_requests WHERE id = ${id}::uuid FOR UPDATE`;
    return db.accessRequest.findUnique({ where: { id } });
  }

  /**
   * The submit hot path: inserts a new request, its grant (when approved at once) and their audit
   * events in ONE statement, so it is atomic and costs one round trip. Throws a unique violation
   * (23505) when the agent reused an Idempotency-Key concurrently.
   */
  async insertDecided(db: Tx, r: AccessRequestRow, grant: Grant | null, audit: AuditEntry[]): Promise<void> {
    const events = JSON.stringify(audit.map((e) => ({
      type: e.type, actor: e.actor, source_ip: e.sourceIp ?? null, request_id: e.requestId ?? null,
      grant_id: e.grantId ?? null, agent_id: e.agentId ?? null, data: e.data ?? {},
    })));
    const g = grant;
    const row = Object.values(requestColumns(r));
    const columns = Prisma.join(row.map(([column]) => Prisma.raw(column)));
    const values = Prisma.join(row.map(([, value]) => value));
    await db.$executeRaw`
      WITH r AS (
        INSERT INTO access_requests (${columns}) VALUES (${values})
        RETURNING id
      ), g AS (
        INSERT INTO grants (id, request_id, agent_id, subject, audience, resource, actions, columns, purpose, kid, issued_at, expires_at, status)
        SELECT ${g?.id ?? null}::uuid, r.id, ${r.agentId}::uuid, ${g?.subject ?? null}, ${g?.audience ?? null}, ${g?.resource ?? null},
          ${g?.actions ?? []}::text[], ${g?.columns ?? []}::text[], ${g?.purpose ?? null}, ${g?.kid ?? null}, ${g?.issuedAt ?? null},
          ${g?.expiresAt ?? null}, 'active'
        FROM r WHERE ${g !== null}
      )
      INSERT INTO audit_events (type, actor, source_ip, request_id, grant_id, agent_id, data)
      SELECT e.type, e.actor, e.source_ip, e.request_id, e.grant_id, e.agent_id, e.data
      FROM r, jsonb_to_recordset(${events}::jsonb) AS e(type text, actor text, source_ip text, request_id uuid, grant_id uuid, agent_id uuid, data jsonb)`;
  }

  /** Conditional transition out of `pending`; returns 0 when someone else decided first. */
  async decide(db: Tx, id: string, to: Exclude<RequestStatus, 'pending'>, by: string, at: Date, comment?: string | null, onlyIfDueBy?: Date): Promise<number> {
    const { count } = await db.accessRequest.updateMany({
      where: { id, status: 'pending', ...(onlyIfDueBy ? { approvalExpiresAt: { lte: onlyIfDueBy } } : {}) },
      data: { status: to, decidedAt: at, decidedBy: by, decisionComment: comment ?? null },
    });
    return count;
  }

  /** Conditional: marks a pending, due, not yet escalated request escalated; returns 0 otherwise. */
  async markEscalated(db: Tx, id: string, at: Date): Promise<number> {
    const { count } = await db.accessRequest.updateMany({
      where: { id, status: 'pending', escalatedAt: null, escalateTo: { not: null }, escalateAt: { lte: at } },
      data: { escalatedAt: at },
    });
    return count;
  }

  /**
   * Conditional: the named user is proven (consent or a delegation) and the policy has decided; only
   * while the request still waits for that user. Returns 0 when someone else moved it first.
   */
  async recordConsentOutcome(
    db: Tx,
    id: string,
    update: Pick<AccessRequestRow, 'status' | 'consent' | 'delegationId' | 'decision' | 'policyVersion' | 'riskScore' | 'approverGroup' | 'requiredApprovals' | 'approvalExpiresAt' | 'remindAt' | 'escalateAt' | 'escalateTo' | 'decidedAt' | 'decidedBy' | 'decisionComment'>,
  ): Promise<number> {
    const { count } = await db.accessRequest.updateMany({
      where: { id, status: 'pending', consent: 'pending' },
      data: { ...update, decision: update.decision as object },
    });
    return count;
  }

  /** Requests of an agent still waiting for one user's consent, oldest first. */
  findAwaitingConsent(db: Tx, agentId: string, userId: string): Promise<Pick<AccessRequestRow, 'id' | 'resource'>[]> {
    return db.accessRequest.findMany({
      where: { agentId, onBehalfOf: userId, status: 'pending', consent: 'pending' },
      select: { id: true, resource: true },
      orderBy: { createdAt: 'asc' },
      take: 500,
    });
  }

  /** Pending requests whose user was proven by one of these delegations (waiting for approvers). */
  findPendingProvenBy(db: Tx, delegationIds: string[]): Promise<Pick<AccessRequestRow, 'id' | 'agentId'>[]> {
    if (delegationIds.length === 0) return Promise.resolve([]);
    return db.accessRequest.findMany({ where: { delegationId: { in: delegationIds }, status: 'pending' }, select: { id: true, agentId: true } });
  }

  listForAdmin(db: Tx, filter: { status?: string; agentId?: string; resource?: string; after?: Cursor; limit: number }): Promise<AccessRequestRow[]> {
    return db.accessRequest.findMany({
      where: {
        ...(filter.status ? { status: filter.status } : {}),
        ...(filter.agentId ? { agentId: filter.agentId } : {}),
        ...(filter.resource ? { resource: filter.resource } : {}),
        ...afterCursor(filter.after),
      },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      take: filter.limit,
    });
  }

  findPendingPastTimeout(db: Tx, now: Date, limit: number): Promise<Pick<AccessRequestRow, 'id'>[]> {
    return db.accessRequest.findMany({
      where: { status: 'pending', approvalExpiresAt: { lte: now } },
      select: { id: true },
      take: limit,
    });
  }

  findPendingPastEscalation(db: Tx, now: Date, limit: number): Promise<Pick<AccessRequestRow, 'id'>[]> {
    return db.accessRequest.findMany({
      where: { status: 'pending', escalatedAt: null, escalateTo: { not: null }, escalateAt: { lte: now } },
      select: { id: true },
      take: limit,
    });
  }

  /**
   * Pending requests whose approval deadline is after `now`, in id order after `afterId`, with the
   * times their timeout, reminder and escalation jobs are due. Read after Redis lost its data.
   */
  findPendingForDeadlineJobs(db: Tx, now: Date, afterId: string | undefined, limit: number): Promise<Pick<AccessRequestRow, 'id' | 'approvalExpiresAt' | 'remindAt' | 'escalateAt' | 'escalateTo' | 'escalatedAt'>[]> {
    return db.accessRequest.findMany({
      where: { status: 'pending', approvalExpiresAt: { gt: now }, ...(afterId ? { id: { gt: afterId } } : {}) },
      select: { id: true, approvalExpiresAt: true, remindAt: true, escalateAt: true, escalateTo: true, escalatedAt: true },
      orderBy: { id: 'asc' },
      take: limit,
    });
  }

  findPendingForAgent(db: Tx, agentId: string): Promise<Pick<AccessRequestRow, 'id'>[]> {
    return db.accessRequest.findMany({ where: { agentId, status: 'pending' }, select: { id: true } });
  }

  /** Idempotent: a second approval by the same person is ignored. Returns whether it was new. */
  async addApproval(db: Tx, approval: { id: string; requestId: string; approver: string; columns: string[]; durationSeconds: number | null; comment?: string | null }): Promise<boolean> {
    const { count } = await db.approval.createMany({ data: [approval], skipDuplicates: true });
    return count === 1;
  }

  /** Approval counts of many requests in one query (list pages). */
  async countApprovals(db: Tx, requestIds: string[]): Promise<Map<string, number>> {
    const rows = await db.approval.groupBy({ by: ['requestId'], where: { requestId: { in: requestIds } }, _count: { _all: true } });
    return new Map(rows.map((r) => [r.requestId, r._count._all]));
  }

  listApprovals(db: Tx, requestId: string): Promise<ApprovalRow[]> {
    return db.approval.findMany({ where: { requestId }, orderBy: { createdAt: 'asc' } });
  }
}
