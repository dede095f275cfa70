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
  /** The live grant an extension replaces: not counted among the live grants. */
  excludeGrantId?: string;
}

const DAY_MS = 86_400_000;

// Statements as [name, text]: named prepared statements on pg connections, raw queries in Prisma.
const LOCK = [
  'gatehouse_budget_lock',
  `SELECT 1 AS locked FROM (SELECT pg_advisory_xact_lock(hashtextextended('gatehouse.budget:' || $1::text, 0))) AS l`,
] as const;
// One statement for every count, each only when asked for: the lock is held for as few round trips
// as possible. Granted time is summed per rating through the (agent, rating, issue time) index, over
// the ratings some budget asks for only (a grant counts at its request's rating, even if an approver
// narrowed it); the labels at or above each budget's `atLeast` are then added up in JS.
const COUNTS = [
  'gatehouse_budget_counts_v2',
  `SELECT
    CASE WHEN $3::int IS NOT NULL THEN (SELECT count(*)::int FROM (
      SELECT 1 FROM grants WHERE agent_id = $1::uuid AND status = 'active' AND expires_at > $2::timestamptz AND id IS DISTINCT FROM $8::uuid LIMIT $3::int) AS live) END AS live,
    CASE WHEN $4::int IS NOT NULL THEN (SELECT count(*)::int FROM (
      SELECT 1 FROM access_requests WHERE agent_id = $1::uuid AND created_at > $2::timestamptz - interval '1 hour' AND id IS DISTINCT FROM $5::uuid LIMIT $4::int) AS recent) END AS recent,
    CASE WHEN $6::timestamptz IS NOT NULL THEN (SELECT coalesce(json_object_agg(sensitivity, seconds), '{}'::json) FROM (
      SELECT sensitivity, sum(extract(epoch FROM expires_at - issued_at))::float8 AS seconds
      FROM grants WHERE agent_id = $1::uuid AND sensitivity = ANY($7::text[]) AND issued_at >= $6::timestamptz
      GROUP BY 1) AS granted) END AS granted`,
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
 * through an index (grants by agent and status, by agent, rating and issue time; requests by agent
 * and creation time), never the history; live grants and recent requests stop at the largest limit.
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
    const dayStart = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS);
    const [counts] = await rowsOf<{ live: number | null; recent: number | null; granted: Record<string, number> | string | null }>(db, COUNTS, [
      agentId,
      now,
      query.liveGrantsUpTo ?? null,
      query.requestsLastHourUpTo ?? null,
      query.excludeRequestId ?? null,
      query.grantedTime.length > 0 ? dayStart : null,
      [...new Set(query.grantedTime.flatMap(({ labels }) => labels))],
      query.excludeGrantId ?? null,
    ]);
    // pg parses json; a driver that hands it over as text is read the same.
    const byLabel: Record<string, number> = typeof counts.granted === 'string' ? JSON.parse(counts.granted) : (counts.granted ?? {});
    const grantedSecondsToday = Object.fromEntries(
      query.grantedTime.map(({ atLeast, labels }) => [atLeast, Math.round(labels.reduce((sum, label) => sum + Number(byLabel[label] ?? 0), 0))]),
    );
    return { liveGrants: Number(counts.live ?? 0), requestsLastHour: Number(counts.recent ?? 0), grantedSecondsToday };
  }
}
