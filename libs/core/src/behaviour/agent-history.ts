import { Injectable, Logger } from '@nestjs/common';
import { AgentHistory, Baseline, mergeCounts } from '@gatehouse/domain';
import { Database } from '../db/database';
import { BaselinesRepository } from '../db/baselines.repository';
import { RedisService } from '../redis/redis.service';

/** A per-minute counter outlives its minute by this much (seconds), then Redis drops it. */
const MINUTE_KEY_TTL = 120;
/** How long a baseline read from Postgres is reused (what other replicas learned meanwhile shows after this). */
const CACHE_MS = 2_000;
const CACHE_ENTRIES = 10_000;

/**
 * What the broker knows of an agent's past when a request arrives: its baseline and its requests in
 * the current minute (a Redis counter per agent and minute), read side by side.
 *
 * Postgres holds the exact baseline (the submit statement adds every observation). This process
 * keeps what it read for a couple of seconds and adds its own observations to it as they commit,
 * so a busy agent's requests do not each read it again; what other replicas learned meanwhile is
 * seen once the entry is older than CACHE_MS. Anomalies are judged against this view.
 */
@Injectable()
export class AgentHistories {
  private readonly logger = new Logger(AgentHistories.name);
  private readonly cache = new Map<string, { baseline: Baseline; readAt: number }>();

  constructor(
    private readonly db: Database,
    private readonly baselines: BaselinesRepository,
    private readonly redis: RedisService,
  ) {}

  /** `count`: this request counts towards its minute (a submit); a dry run only looks. */
  async of(agentId: string, now: Date, count: boolean): Promise<AgentHistory> {
    const [baseline, minuteCount] = await Promise.all([this.baseline(agentId), this.minuteCount(agentId, now, count)]);
    return { baseline, minuteCount };
  }

  /** A submit stored this observation of the agent: the cached baseline learns it too. */
  learned(agentId: string, observation: Baseline): void {
    const entry = this.cache.get(agentId);
    if (entry) entry.baseline = mergeCounts(entry.baseline, observation);
  }

  private async baseline(agentId: string): Promise<Baseline> {
    const entry = this.cache.get(agentId);
    if (entry && Date.now() - entry.readAt < CACHE_MS) return entry.baseline;
    const readAt = Date.now();
    const baseline = await this.baselines.find(this.db.pool, agentId);
    if (this.cache.size >= CACHE_ENTRIES) this.cache.clear();
    this.cache.set(agentId, { baseline, readAt });
    return baseline;
  }

  /**
   * This request's place in the agent's current minute (1 = the first). Without Redis it cannot be
   * known: the request then counts as the minute's first, so no burst is reported rather than the
   * request failing on a counter.
   */
  private async minuteCount(agentId: string, now: Date, count: boolean): Promise<number> {
    const key = this.redis.key('minute', agentId, String(Math.floor(now.getTime() / 60_000)));
    try {
      if (!count) return Number((await this.redis.client.get(key)) ?? 0) + 1;
      const [[, value]] = (await this.redis.client.multi().incr(key).expire(key, MINUTE_KEY_TTL).exec()) as [[Error | null, number]];
      return Number(value);
    } catch (error) {
      this.logger.warn({ msg: 'could not count the agent minute; no burst is reported for this request', agentId, error: String(error) });
      return 1;
    }
  }
}
