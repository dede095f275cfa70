import { Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { Baseline, mergeCounts } from '@gatehouse/domain';

/** Shards per agent: concurrent submits of one agent add to different rows instead of queueing on one. */
export const BASELINE_SHARDS = 32;

/**
 * Adds an observation's counters to one shard of an agent's baseline, counter by counter, in one
 * statement: the row lock ON CONFLICT takes makes concurrent additions queue, so none is lost.
 * Used inside the submit statement (submit.statement.ts) and by `add` below.
 */
export const MERGE_COUNTS_SQL = `(SELECT coalesce(jsonb_object_agg(key, total), '{}'::jsonb)
   FROM (SELECT key, sum(value::numeric) AS total
           FROM (SELECT * FROM jsonb_each_text(agent_baselines.counts) UNION ALL SELECT * FROM jsonb_each_text(EXCLUDED.counts)) kv
          GROUP BY key) sums)`;

/** The learned baselines of agents (agent_baselines: counters, in shards). */
@Injectable()
export class BaselinesRepository {
  /** An agent's baseline: the sum of its shards (empty when it never asked). Prepared: it is on the submit path. */
  async find(pool: Pool, agentId: string): Promise<Baseline> {
    const { rows } = await pool.query<{ counts: Baseline }>({
      name: 'gatehouse_baseline_of_agent',
      text: 'SELECT counts FROM agent_baselines WHERE agent_id = $1::uuid',
      values: [agentId],
    });
    return rows.reduce((sum, row) => mergeCounts(sum, row.counts), {} as Baseline);
  }
}
