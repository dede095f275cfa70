import { Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import type { BudgetUsage } from '@gatehouse/domain';
import { Tx } from './prisma.service';

/** A pool, one of its connections (the submit's transaction), or a Prisma transaction (a decision after consent). */
export type BudgetDb = Pool | PoolClient | Tx;

/** What to count for an agent's budgets; `grantedTime` maps each budget label to the labels at or above it. */
export interface UsageQuery {
  /** Count live grants, stopping at this many; absent: not counted (0). */
  liveGrantsUpTo?: number;
  /** Count the last hour's requests, stopping at this many. */
  requestsLastHourUpTo?: number;
  grantedTime: Array<{ atLeast: string; labels: string[] }>;
  /** A request already stored that is the one being decided (after consent): not counted among the last hour's. */
  excludeRequestId?: string;
}

const DAY_MS = 86_400_000;

// Statements as [name, text]: named prepared statements on pg connections, raw queries in Prisma.
const LOCK = [
  'gatehouse_budget_lock',
  `SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock(hashtextextended('gatehouse.budget:' || $1::text, 0))) AS l`,
] as const;
const COUNTS = [
  'gatehouse_budget_counts',
  `SELECT
    CASE WHEN $3::int IS NOT NULL THEN (SELECT count(*)::int FROM (
      SELECT 1 FROM grants WHERE agent_id = $1::uuid AND status = 'active' AND expires_at > $2::timestamptz LIMIT $3::int) AS live) END AS live,
    CASE WHEN $4::int IS NOT NULL THEN (SELECT count(*)::int FROM (
      SELECT 1 FROM access_requests WHERE agent_id = $1::uuid AND created_at > $2::timestamptz - interval '1 hour' AND id IS DISTINCT FROM $5::uuid LIMIT $4::int) AS recent) END AS recent`,
] as const;
// A grant is as sensitive as its request was rated when decided (an approver may have narrowed it since).
const GRANTED_TIME = [
  'gatehouse_budget_granted_time',
  `SELECT coalesce(sum(extract(epoch FROM g.expires_at - g.issued_at)), 0)::float8 AS seconds
    FROM grants g JOIN access_requests r ON r.id = g.request_id
    WHERE g.agent_id = $1::uuid AND g.issued_at >= $2::timestamptz AND r.decision->>'sensitivity' = ANY($3::text[])`,
] as const;

function isPg(db: BudgetDb): db is Pool | PoolClient {
  return typeof (db as Pool).query === 'function';
}

async function rowsOf<T>(db: BudgetDb, [name, text]: readonly [string, string], values: unknown[]): Promise<T[]> {
  if (isPg(db)) return (await db.query({ name, text, values })).rows as T[];
  return (db as Tx).$queryRawUnsafe<T[]>(text, ...values);
}

/**
 * Counts what an agent holds and has asked for, for its budgets. Every count reads one agent's rows
 * through an index (grants by agent and status, by agent and issue time; requests by agent and
 * creation time), never the history; live grants and recent requests stop at the largest limit.
 */
@Injectable()
export class BudgetsRepository {
  /**
   * Takes the agent's budget lock for the rest of the transaction: two decisions for one agent then
   * count and write one after the other, so they cannot both take the last unit. The key is the
   * agent id hashed into the advisory lock space under a prefix of its own.
   */
  async lockAgent(db: PoolClient | Tx, agentId: string): Promise<void> {
    await rowsOf(db, LOCK, [agentId]);
  }

  /** The agent's usage as of `now`, counting only what is asked for (the rest reads 0). */
  async usage(db: BudgetDb, agentId: string, now: Date, query: UsageQuery): Promise<BudgetUsage> {
    const [counts] = await rowsOf<{ live: number | null; recent: number | null }>(db, COUNTS, [
      agentId,
      now,
      query.liveGrantsUpTo ?? null,
      query.requestsLastHourUpTo ?? null,
      query.excludeRequestId ?? null,
    ]);
    const grantedSecondsToday: Record<string, number> = {};
    const dayStart = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS);
    for (const { atLeast, labels } of query.grantedTime) {
      const [granted] = await rowsOf<{ seconds: number }>(db, GRANTED_TIME, [agentId, dayStart, labels]);
      grantedSecondsToday[atLeast] = Math.round(Number(granted.seconds));
    }
    return { liveGrants: Number(counts.live ?? 0), requestsLastHour: Number(counts.recent ?? 0), grantedSecondsToday };
  }
}
