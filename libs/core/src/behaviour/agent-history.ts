import { Injectable, Logger } from '@nestjs/common';
import { AgentHistory } from '@gatehouse/domain';
import { Database } from '../db/database';
import { BaselinesRepository } from '../db/baselines.repository';
import { RedisService } from '../redis/redis.service';

/** A per-minute counter outlives its minute by this much (seconds), then Redis drops it. */
const MINUTE_KEY_TTL = 120;

/**
 * What the broker knows of an agent's past when a request arrives: its baseline (Postgres) and its
 * requests in the current minute (a Redis counter per agent and minute), read side by side.
 */
@Injectable()
export class AgentHistories {
  private readonly logger = new Logger(AgentHistories.name);

  constructor(
    private readonly db: Database,
    private readonly baselines: BaselinesRepository,
    private readonly redis: RedisService,
  ) {}

  /** `count`: this request counts towards its minute (a submit); a dry run only looks. */
  async of(agentId: string, now: Date, count: boolean): Promise<AgentHistory> {
    const [baseline, minuteCount] = await Promise.all([this.baselines.find(this.db.pool, agentId), this.minuteCount(agentId, now, count)]);
    return { baseline, minuteCount };
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
