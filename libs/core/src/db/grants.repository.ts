import { Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import type { Grant, Prisma } from '@gatehouse/prisma';
import type { GrantStatus } from '@gatehouse/domain';
import { Tx } from './prisma.service';
import { afterCursor, Cursor } from './pagination';
import { GRANT_SELECT } from './submit.statement';

/** A grant as the use cases see it: the stored row with its status typed. */
export type GrantRow = Omit<Grant, 'status'> & { status: GrantStatus };

/** The one place a stored grant becomes a typed record: only this repository writes the column. */
const typed = (row: Grant): GrantRow => row as GrantRow;

/** Grants: what an approved request became. */
@Injectable()
export class GrantsRepository {
  async create(db: Tx, row: Prisma.GrantUncheckedCreateInput): Promise<GrantRow> {
    return typed(await db.grant.create({ data: row }));
  }

  async findById(db: Tx, id: string): Promise<GrantRow | null> {
    const row = await db.grant.findUnique({ where: { id } });
    return row ? typed(row) : null;
  }

  /** Reads a grant and locks its row until commit, so extensions of one grant are decided one at a time. */
  async findForUpdate(db: Tx, id: string): Promise<GrantRow | null> {
    await db.$queryRaw`SELECT 1 FROM grants WHERE id = ${id}::uuid FOR UPDATE`;
    return this.findById(db, id);
  }

  /** Conditional: a live grant (active, not past its expiry) ends as superseded by an extension; returns 0 otherwise. */
  async supersede(db: Tx, id: string, by: string, at: Date, reason: string): Promise<number> {
    const { count } = await db.grant.updateMany({
      where: { id, status: 'active', expiresAt: { gt: at } },
      data: { status: 'superseded', endedAt: at, endedBy: by, endReason: reason },
    });
    return count;
  }

  async findByRequestId(db: Tx, requestId: string): Promise<GrantRow | null> {
    const row = await db.grant.findUnique({ where: { requestId } });
    return row ? typed(row) : null;
  }

  /**
   * Grants that ended before their expiry and have not expired yet, ended at or after `since` (all
   * of them when null): what forward-auth must refuse although their tokens still verify.
   */
  async listEndedEarly(pool: Pool, since: Date | null, now: Date): Promise<{ id: string; expiresAt: Date }[]> {
    const { rows } = await pool.query<{ id: string; expiresAt: Date }>({
      name: 'gatehouse_grants_ended_early',
      text: `SELECT id::text AS id, expires_at AS "expiresAt" FROM grants
              WHERE ended_at IS NOT NULL AND ended_at >= coalesce($1::timestamptz, '-infinity') AND expires_at > $2::timestamptz`,
      values: [since, now],
    });
    return rows;
  }

  /** Adds calls seen at the gateways to each grant's usage per operation, in one statement. */
  async addUsage(db: Tx, uses: { grantId: string; operation: string; calls: number; firstAt: Date; lastAt: Date }[]): Promise<void> {
    if (uses.length === 0) return;
    await db.$executeRaw`
      INSERT INTO grant_usage (grant_id, operation, calls, first_at, last_at)
      SELECT * FROM unnest(${uses.map((u) => u.grantId)}::uuid[], ${uses.map((u) => u.operation)}::text[],
                           ${uses.map((u) => u.calls)}::bigint[], ${uses.map((u) => u.firstAt)}::timestamptz[],
                           ${uses.map((u) => u.lastAt)}::timestamptz[])
      ON CONFLICT (grant_id, operation) DO UPDATE
        SET calls = grant_usage.calls + excluded.calls,
            first_at = least(grant_usage.first_at, excluded.first_at),
            last_at = greatest(grant_usage.last_at, excluded.last_at)`;
  }

  /** A grant's usage per operation, most used first. */
  usageOf(db: Tx, grantId: string): Promise<{ operation: string; calls: bigint; firstAt: Date; lastAt: Date }[]> {
    return db.grantUsage.findMany({
      where: { grantId },
      select: { operation: true, calls: true, firstAt: true, lastAt: true },
      orderBy: [{ calls: 'desc' }, { operation: 'asc' }],
    });
  }

  /** The grants of many requests in one query (list pages, batches of notifications). */
  async findByRequestIds(pool: Pool, requestIds: string[]): Promise<GrantRow[]> {
    const { rows } = await pool.query<GrantRow>({
      name: 'gatehouse_grants_by_request_ids',
      text: `SELECT ${GRANT_SELECT} FROM grants WHERE request_id = ANY($1::uuid[])`,
      values: [requestIds],
    });
    return rows;
  }

  /**
   * Conditional end of an active grant; returns 0 when it had already ended. Expiry also requires
   * the grant to be past its expiry, so an early or duplicate job cannot end a live grant.
   */
  async end(db: Tx, id: string, to: Exclude<GrantStatus, 'active'>, by: string, at: Date, reason?: string | null): Promise<number> {
    const { count } = await db.grant.updateMany({
      where: { id, status: 'active', ...(to === 'expired' ? { expiresAt: { lte: at } } : {}) },
      data: { status: to, endedAt: at, endedBy: by, endReason: reason ?? null },
    });
    return count;
  }

  /** Revokes every active grant of an agent at once; returns those it ended. */
  revokeAllForAgent(db: Tx, agentId: string, by: string, at: Date, reason: string): Promise<{ id: string; expiresAt: Date }[]> {
    return db.$queryRaw<{ id: string; expiresAt: Date }[]>`
      UPDATE grants SET status = 'revoked', ended_at = ${at}, ended_by = ${by}, end_reason = ${reason}
      WHERE agent_id = ${agentId}::uuid AND status = 'active' RETURNING id::text AS id, expires_at AS "expiresAt"`;
  }

  /** Revokes an agent's active grants that act for one user; returns those it ended. */
  async revokeActingFor(
    db: Tx,
    agentId: string,
    userId: string,
    by: string,
    at: Date,
    reason: string,
  ): Promise<Pick<GrantRow, 'id' | 'requestId' | 'expiresAt'>[]> {
    return db.$queryRaw<Pick<GrantRow, 'id' | 'requestId' | 'expiresAt'>[]>`
      UPDATE grants SET status = 'revoked', ended_at = ${at}, ended_by = ${by}, end_reason = ${reason}
      WHERE agent_id = ${agentId}::uuid AND subject = ${userId} AND status = 'active'
      RETURNING id::text AS id, request_id::text AS "requestId", expires_at AS "expiresAt"`;
  }

  /**
   * Ends up to `limit` grants past their expiry, `first` among them when it is due, with their
   * audit events, in one statement (prepared, on the pool): when thousands fall due together, the
   * first job to run ends a batch and the jobs after it find nothing left to do. Rows another
   * worker holds are skipped, not waited for. Returns the grants it ended.
   */
  async expireDue(pool: Pool, now: Date, limit: number, first: string | null): Promise<{ id: string; requestId: string }[]> {
    const { rows } = await pool.query<{ id: string; requestId: string }>({
      name: 'gatehouse_expire_due_grants',
      text: `
        WITH due AS (
          SELECT id FROM grants
           WHERE status = 'active' AND expires_at <= $1::timestamptz
           ORDER BY (id = $3::uuid) DESC NULLS LAST, expires_at
           LIMIT $2::int
             FOR UPDATE SKIP LOCKED
        ), ended AS (
          UPDATE grants g SET status = 'expired', ended_at = $1::timestamptz, ended_by = 'system'
            FROM due WHERE g.id = due.id
          RETURNING g.id, g.request_id, g.agent_id, g.expires_at
        ), audited AS (
          INSERT INTO audit_events (type, actor, request_id, grant_id, agent_id, data)
          SELECT 'grant.expired', 'system', request_id, id, agent_id,
                 jsonb_build_object('expiresAt', to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
            FROM ended
        )
        SELECT id::text AS id, request_id::text AS "requestId" FROM ended`,
      values: [now, limit, first],
    });
    return rows;
  }

  /** A grant's status and expiry, to tell "not due yet" from "already ended" (prepared, on the pool). */
  async statusOf(pool: Pool, id: string): Promise<{ status: string; expiresAt: Date } | null> {
    const { rows } = await pool.query<{ status: string; expiresAt: Date }>({
      name: 'gatehouse_grant_status',
      text: 'SELECT status, expires_at AS "expiresAt" FROM grants WHERE id = $1::uuid',
      values: [id],
    });
    return rows[0] ?? null;
  }

  /**
   * Live grants (active, expiring after `now`), in id order after `afterId`: whose expiry jobs
   * must exist. Read after Redis lost its data, to put those jobs back.
   */
  findLiveForExpiryJobs(db: Tx, now: Date, afterId: string | undefined, limit: number): Promise<Pick<GrantRow, 'id' | 'expiresAt'>[]> {
    return db.grant.findMany({
      where: { status: 'active', expiresAt: { gt: now }, ...(afterId ? { id: { gt: afterId } } : {}) },
      select: { id: true, expiresAt: true },
      orderBy: { id: 'asc' },
      take: limit,
    });
  }

  /** Filters by the effective status: a row still `active` past its expiry counts as expired. */
  async list(db: Tx, filter: { status?: string; agentId?: string; after?: Cursor; limit: number; now: Date }): Promise<GrantRow[]> {
    const rows = await db.grant.findMany({
      where: {
        ...(filter.status ? { AND: [effectiveStatusIs(filter.status, filter.now)] } : {}),
        ...(filter.agentId ? { agentId: filter.agentId } : {}),
        ...afterCursor(filter.after, 'issuedAt'),
      },
      orderBy: [{ issuedAt: 'asc' }, { id: 'asc' }],
      take: filter.limit,
    });
    return rows.map(typed);
  }

  countLive(db: Tx, now: Date): Promise<number> {
    return db.grant.count({ where: { status: 'active', expiresAt: { gt: now } } });
  }
}

function effectiveStatusIs(status: string, now: Date): Prisma.GrantWhereInput {
  if (status === 'active') return { status: 'active', expiresAt: { gt: now } };
  if (status === 'expired') return { OR: [{ status: 'expired' }, { status: 'active', expiresAt: { lte: now } }] };
  return { status };
}
