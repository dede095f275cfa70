import { Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import type { AccessRequest, Approval } from '@gatehouse/prisma';
import type { ConsentState, RequestStatus, StoredDecision } from '@gatehouse/domain';
import { Tx } from './prisma.service';
import { afterCursor, Cursor } from './pagination';
import type { AuditEntry } from './audit-events.repository';
import { REQUEST_SELECT, SUBMIT_STATEMENT, submitValues } from './submit.statement';
import type { GrantRow } from './grants.repository';

/** An access request as the use cases see it: the stored row with its statuses and decision typed. */
export type AccessRequestRow = Omit<AccessRequest, 'status' | 'decision' | 'consent' | 'review'> & {
  status: RequestStatus;
  decision: StoredDecision;
  consent: ConsentState | null;
  review: ReviewState | null;
};

/** Where a break-glass access stands with the people who must look at it afterwards. */
export type ReviewState = 'open' | 'acknowledged';

/**
 * The one place a stored request becomes a typed record: the table holds only what the use cases
 * wrote through this repository, so its status, consent and decision have those types.
 */
const typed = (row: AccessRequest): AccessRequestRow => row as Omit<AccessRequest, 'decision'> as AccessRequestRow;
const typedOrNull = (row: AccessRequest | null): AccessRequestRow | null => (row ? typed(row) : null);
export type ApprovalRow = Approval;

/** Access requests and the approvals people gave them. */
@Injectable()
export class AccessRequestsRepository {
  async findById(db: Tx, id: string): Promise<AccessRequestRow | null> {
    return typedOrNull(await db.accessRequest.findUnique({ where: { id } }));
  }

  async findByIds(db: Tx, ids: string[]): Promise<AccessRequestRow[]> {
    return (await db.accessRequest.findMany({ where: { id: { in: ids } } })).map(typed);
  }

  /** Reads a request and locks its row until commit, so decisions on one request run one at a time. */
  async findForDecision(db: Tx, id: string): Promise<AccessRequestRow | null> {
    await db.$queryRaw`SELECT 1 FROM access_requests WHERE id = ${id}::uuid FOR UPDATE`;
    return typedOrNull(await db.accessRequest.findUnique({ where: { id } }));
  }

  /**
   * The submit hot path (see submit.statement.ts): request, grant and audit events in one prepared
   * statement, only while the agent is still active with the key that signed the call, with the
   * request's observation added to its agent's baseline (see BaselinesRepository). Returns
   * whether it inserted; throws a unique violation (23505) when the agent reused an Idempotency-Key
   * concurrently.
   */
  async insertDecided(
    pool: Pool | PoolClient,
    guard: { agentId: string; keyId: string },
    r: AccessRequestRow,
    grant: GrantRow | null,
    audit: AuditEntry[],
    baseline: { shard: number; counts: Record<string, number> } | null = null,
  ): Promise<boolean> {
    const { rows } = await pool.query<{ inserted: number }>({ ...SUBMIT_STATEMENT, values: submitValues(guard, r, grant, audit, baseline) });
    return rows[0].inserted === 1;
  }

  /** Stores a decided request inside the caller's transaction (an extension; submits use insertDecided). */
  async create(db: Tx, row: AccessRequestRow): Promise<void> {
    await db.accessRequest.create({ data: { ...row, task: row.task ?? undefined, decision: { ...row.decision } } });
  }

  /** The extension of a grant still waiting for people, if any. */
  findPendingExtensionOf(db: Tx, grantId: string): Promise<Pick<AccessRequestRow, 'id'> | null> {
    return db.accessRequest.findFirst({ where: { extendsGrantId: grantId, status: 'pending' }, select: { id: true } });
  }

  /** The extensions asked for a grant, oldest first (the admin view of a chain). */
  findExtensionsOf(db: Tx, grantId: string): Promise<Pick<AccessRequestRow, 'id' | 'status' | 'createdAt'>[]> {
    return db.accessRequest.findMany({
      where: { extendsGrantId: grantId },
      select: { id: true, status: true, createdAt: true },
      orderBy: { createdAt: 'asc' },
    }) as Promise<Pick<AccessRequestRow, 'id' | 'status' | 'createdAt'>[]>;
  }

  /** Locks an agent's row for the transaction while it is active with this key; false otherwise (suspended or re-keyed). */
  async lockActiveAgent(db: Tx, agentId: string, keyId: string): Promise<boolean> {
    const rows = await db.$queryRaw<
      unknown[]
    >`SELECT 1 FROM agents WHERE id = ${agentId}::uuid AND status = 'active' AND key_id = ${keyId} FOR SHARE`;
    return rows.length === 1;
  }

  /** An earlier request of this agent with this Idempotency-Key (prepared: SDK calls always send one). */
  async findIdByIdempotencyKey(pool: Pool, agentId: string, idempotencyKey: string): Promise<{ id: string; bodyHash: string | null } | null> {
    const { rows } = await pool.query<{ id: string; bodyHash: string | null }>({
      name: 'gatehouse_request_by_idempotency_key',
      text: 'SELECT id::text AS id, body_hash AS "bodyHash" FROM access_requests WHERE agent_id = $1::uuid AND idempotency_key = $2::text',
      values: [agentId, idempotencyKey],
    });
    return rows[0] ?? null;
  }

  /** Conditional transition out of `pending`; returns 0 when someone else decided first. */
  async decide(
    db: Tx,
    id: string,
    to: Exclude<RequestStatus, 'pending'>,
    by: string,
    at: Date,
    comment?: string | null,
    onlyIfDueBy?: Date,
  ): Promise<number> {
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
    update: Pick<
      AccessRequestRow,
      | 'status'
      | 'consent'
      | 'delegationId'
      | 'decision'
      | 'policyVersion'
      | 'riskScore'
      | 'approverGroup'
      | 'requiredApprovals'
      | 'approvalExpiresAt'
      | 'remindAt'
      | 'escalateAt'
      | 'escalateTo'
      | 'decidedAt'
      | 'decidedBy'
      | 'decisionComment'
    >,
  ): Promise<number> {
    const { count } = await db.accessRequest.updateMany({
      where: { id, status: 'pending', consent: 'pending' },
      data: { ...update, decision: { ...update.decision } },
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

  /**
   * A page of requests in (created_at, id) order after a cursor, filtered. Prepared statements on the
   * pool, one per combination of filters so that each gets a plan using its index; the keyset is a
   * row comparison, which the (status, created_at, id) index serves directly.
   */
  async listForAdmin(
    pool: Pool,
    filter: { status?: string; agentId?: string; resource?: string; after?: Cursor; limit: number },
  ): Promise<AccessRequestRow[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    const add = (condition: string, value: unknown) => where.push(condition.replace('?', `$${values.push(value)}`));
    if (filter.status) add('status = ?::text', filter.status);
    if (filter.agentId) add('agent_id = ?::uuid', filter.agentId);
    if (filter.resource) add('resource = ?::text', filter.resource);
    if (filter.after) {
      values.push(filter.after.createdAt, filter.after.id);
      where.push(`(created_at, id) > ($${values.length - 1}::timestamptz, $${values.length}::uuid)`);
    }
    values.push(filter.limit);
    const name = `gatehouse_list_requests_${filter.status ? 's' : ''}${filter.agentId ? 'a' : ''}${filter.resource ? 'r' : ''}${filter.after ? 'c' : ''}`;
    const { rows } = await pool.query<AccessRequestRow>({
      name,
      text: `SELECT ${REQUEST_SELECT} FROM access_requests ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id LIMIT $${values.length}::int`,
      values,
    });
    return rows;
  }

  /**
   * Anomalous decisions, newest first, before a cursor; optionally of one agent. The predicate is the
   * one of the partial index access_requests_anomalous_idx (migration 20261204120000), so it is used.
   */
  async listAnomalous(pool: Pool, filter: { agentId?: string; before?: Cursor; limit: number }): Promise<AccessRequestRow[]> {
    const where = [`(decision -> 'anomalies') <> '[]'::jsonb`];
    const values: unknown[] = [];
    if (filter.agentId) where.push(`agent_id = $${values.push(filter.agentId)}::uuid`);
    if (filter.before) {
      values.push(filter.before.createdAt, filter.before.id);
      where.push(`(created_at, id) < ($${values.length - 1}::timestamptz, $${values.length}::uuid)`);
    }
    values.push(filter.limit);
    const { rows } = await pool.query<AccessRequestRow>({
      name: `gatehouse_list_anomalous_${filter.agentId ? 'a' : ''}${filter.before ? 'c' : ''}`,
      text: `SELECT ${REQUEST_SELECT} FROM access_requests WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT $${values.length}::int`,
      values,
    });
    return rows;
  }

  /**
   * How many of an agent's requests since `since` the policy denied, and how many were anomalous
   * (the (agent_id, created_at) index); an admin's resume starts the count afresh.
   */
  async countMisbehaviour(pool: Pool, agentId: string, since: Date): Promise<{ denied: number; anomalous: number }> {
    const { rows } = await pool.query<{ denied: number; anomalous: number }>({
      name: 'gatehouse_count_misbehaviour',
      text: `SELECT count(*) FILTER (WHERE decision ->> 'outcome' = 'deny')::int AS denied,
                    count(*) FILTER (WHERE (decision -> 'anomalies') <> '[]'::jsonb)::int AS anomalous
               FROM access_requests
              WHERE agent_id = $1::uuid
                AND created_at > greatest($2::timestamptz,
                      (SELECT max(created_at) FROM audit_events WHERE agent_id = $1::uuid AND type = 'agent.resumed'))`,
      values: [agentId, since],
    });
    return rows[0];
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
  findPendingForDeadlineJobs(
    db: Tx,
    now: Date,
    afterId: string | undefined,
    limit: number,
  ): Promise<Pick<AccessRequestRow, 'id' | 'approvalExpiresAt' | 'remindAt' | 'escalateAt' | 'escalateTo' | 'escalatedAt'>[]> {
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
  async addApproval(
    db: Tx,
    approval: {
      id: string;
      requestId: string;
      approver: string;
      columns: string[];
      operations: string[];
      durationSeconds: number | null;
      comment?: string | null;
    },
  ): Promise<boolean> {
    const { count } = await db.approval.createMany({ data: [approval], skipDuplicates: true });
    return count === 1;
  }

  /** Approval counts of many requests in one query (list pages). */
  async countApprovals(pool: Pool, requestIds: string[]): Promise<Map<string, number>> {
    const { rows } = await pool.query<{ requestId: string; n: number }>({
      name: 'gatehouse_count_approvals',
      text: 'SELECT request_id AS "requestId", count(*)::int AS n FROM approvals WHERE request_id = ANY($1::uuid[]) GROUP BY request_id',
      values: [requestIds],
    });
    return new Map(rows.map((r) => [r.requestId, r.n]));
  }

  listApprovals(db: Tx, requestId: string): Promise<ApprovalRow[]> {
    return db.approval.findMany({ where: { requestId }, orderBy: { createdAt: 'asc' } });
  }

  /** Break-glass accesses in one review state, in (created_at, id) order after a cursor. */
  async listForReview(db: Tx, filter: { review: ReviewState; after?: Cursor; limit: number }): Promise<AccessRequestRow[]> {
    const rows = await db.accessRequest.findMany({
      where: { review: filter.review, ...afterCursor(filter.after) },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      take: filter.limit,
    });
    return rows.map(typed);
  }

  /** Conditional: closes an open review; returns 0 when it is not open (never break-glass, or acknowledged first). */
  async acknowledgeReview(db: Tx, id: string, by: string, at: Date, comment: string): Promise<number> {
    const { count } = await db.accessRequest.updateMany({
      where: { id, review: 'open' },
      data: { review: 'acknowledged', reviewedAt: at, reviewedBy: by, reviewComment: comment },
    });
    return count;
  }

  /** Conditional: records that the break-glass alert went out (once). */
  async markAlerted(db: Tx, id: string, at: Date): Promise<number> {
    const { count } = await db.accessRequest.updateMany({ where: { id, alertedAt: null }, data: { alertedAt: at } });
    return count;
  }

  /** Open break-glass reviews created by `before` whose alert never went out (oldest first). */
  async findUnalerted(db: Tx, before: Date, limit: number): Promise<AccessRequestRow[]> {
    const rows = await db.accessRequest.findMany({
      where: { review: 'open', alertedAt: null, createdAt: { lte: before } },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      take: limit,
    });
    return rows.map(typed);
  }
}
