import { Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import type { BudgetUsage } from '@gatehouse/domain';

/** A pool or one of its connections (inside a transaction). */
type Queryable = Pool | PoolClient;

/** What to count for an agent's budgets; `grantedTime` maps each budget label to the labels at or above it. */
export interface UsageQuery {
  liveGrants: boolean;
  requestsLastHour: boolean;
  grantedTime: Array<{ atLeast: string; labels: string[] }>;
}

const DAY_MS = 86_400_000;

/**
 * Counts what an agent holds and has asked for, for its budgets. Every count reads one agent's rows
 * through an index (grants by agent and status, by agent and issue time; requests by agent and
 * creation time), never the history.
 */
@Injectable()
export class BudgetsRepository {
  /**
   * Takes the agent's budget lock for the rest of the transaction: two submits of one agent then
   * count and insert one after the other, so they cannot both take the last unit. The key is the
   * agent id hashed into the advisory lock space under a prefix of its own.
   */
  async lockAgent(client: PoolClient, agentId: string): Promise<void> {
    await client.query({
      name: 'gatehouse_budget_lock',
      text: `SELECT pg_advisory_xact_lock(hashtextextended('gatehouse.budget:' || $1::text, 0))`,
      values: [agentId],
    });
  }

  /** The agent's usage as of `now`, counting only what is asked for (the rest reads 0). */
  async usage(db: Queryable, agentId: string, now: Date, query: UsageQuery): Promise<BudgetUsage> {
    const { rows } = await db.query<{ live: number | null; recent: number | null }>({
      name: 'gatehouse_budget_counts',
      text: `SELECT
        CASE WHEN $3::boolean THEN (SELECT count(*)::int FROM grants WHERE agent_id = $1::uuid AND status = 'active' AND expires_at > $2::timestamptz) END AS live,
        CASE WHEN $4::boolean THEN (SELECT count(*)::int FROM access_requests WHERE agent_id = $1::uuid AND created_at > $2::timestamptz - interval '1 hour') END AS recent`,
      values: [agentId, now, query.liveGrants, query.requestsLastHour],
    });
    const grantedSecondsToday: Record<string, number> = {};
    const dayStart = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS);
    for (const { atLeast, labels } of query.grantedTime) {
      // A grant is as sensitive as its request was rated when decided (an approver may have narrowed it since).
      const granted = await db.query<{ seconds: number }>({
        name: 'gatehouse_budget_granted_time',
        text: `SELECT coalesce(sum(extract(epoch FROM g.expires_at - g.issued_at)), 0)::float8 AS seconds
          FROM grants g JOIN access_requests r ON r.id = g.request_id
          WHERE g.agent_id = $1::uuid AND g.issued_at >= $2::timestamptz AND r.decision->>'sensitivity' = ANY($3::text[])`,
        values: [agentId, dayStart, labels],
      });
      grantedSecondsToday[atLeast] = Math.round(granted.rows[0].seconds);
    }
    return { liveGrants: rows[0].live ?? 0, requestsLastHour: rows[0].recent ?? 0, grantedSecondsToday };
  }
}
