import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import Redis from 'ioredis';
import { Config } from '../config/config';
import { COMMAND_RETRIES, redisConnectionOptions } from './redis-options';

/**
 * Remembers an assertion's jti (SET NX with its TTL) and reads, creating it if missing, the time
 * the replay cache started: one atomic round trip. Redis restarted empty forgets every jti; the
 * start time then moves to now, so nothing issued before it (and possibly seen) is accepted.
 */
const REMEMBER_ASSERTION = `
local since = redis.call('GET', KEYS[2])
if not since then
  since = ARGV[2]
  redis.call('SET', KEYS[2], since)
end
local fresh = redis.call('SET', KEYS[1], '1', 'EX', ARGV[1], 'NX')
if fresh then return {1, tonumber(since)} end
return {0, tonumber(since)}`;

type WithAssertionScript = Redis & {
  rememberAssertion(jtiKey: string, sinceKey: string, ttl: number, nowSeconds: number): Promise<[number, number]>;
};

/** The process's Redis command connection; every key it writes starts with the configured prefix. */
@Injectable()
export class RedisService implements OnModuleDestroy {
  private readonly logger = new Logger(RedisService.name);
  readonly client: Redis;
  private subscriber?: Redis;
  private lost = false;
  /** Set once the process closes its connections on purpose (shutdown): a close then is no outage. */
  closing = false;

  constructor(private readonly config: Config) {
    const { url, ...options } = redisConnectionOptions(config);
    this.client = new Redis(url, { ...options, maxRetriesPerRequest: COMMAND_RETRIES });
    // ioredis emits an error on every failed reconnect; say once that Redis went away and once that it is back.
    this.client.on('error', () => undefined);
    this.client.on('close', () => {
      if (!this.lost && !this.closing) this.logger.warn('lost the Redis connection; reconnecting');
      this.lost = true;
    });
    this.client.on('ready', () => {
      if (this.lost) this.logger.log('Redis connection is back');
      this.lost = false;
    });
  }

  /**
   * Records a jti for `ttl` seconds; `fresh` is false when it was seen before. `since` is when the
   * replay cache started (seconds): an assertion issued earlier may have been seen and forgotten.
   */
  async rememberAssertion(jtiKey: string, ttl: number, nowSeconds: number): Promise<{ fresh: boolean; since: number }> {
    const client = this.client as WithAssertionScript;
    if (!client.rememberAssertion) this.client.defineCommand('rememberAssertion', { numberOfKeys: 2, lua: REMEMBER_ASSERTION });
    const [fresh, since] = await client.rememberAssertion(jtiKey, this.key('jti-since'), ttl, nowSeconds);
    return { fresh: fresh === 1, since };
  }

  key(...parts: string[]): string {
    return [this.config.redisPrefix, ...parts].join(':');
  }

  /** Whether the command connection is up right now (no round trip). */
  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /** A second connection for SUBSCRIBE, created on first use; it resubscribes by itself after a reconnect. */
  subscriberConnection(): Redis {
    if (!this.subscriber) {
      const { url, ...options } = redisConnectionOptions(this.config);
      this.subscriber = new Redis(url, { ...options, maxRetriesPerRequest: null });
      this.subscriber.on('error', () => undefined);
    }
    return this.subscriber;
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([close(this.client), this.subscriber && close(this.subscriber)]);
  }
}

/** QUIT lets pending replies arrive; with Redis away it would only wait for retries, so disconnect then. */
async function close(client: Redis): Promise<void> {
  if (client.status === 'ready') await client.quit();
  else client.disconnect();
}
