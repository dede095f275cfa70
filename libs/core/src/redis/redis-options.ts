import { Config } from '../config/config';

/** Reconnect quickly, then at most a second apart: the broker is back within about a second of Redis. */
export function reconnectDelay(attempt: number): number {
  return Math.min(attempt * 100, 1000);
}

/**
 * Options shared by every Redis connection of the process (commands, subscriber, BullMQ). ioredis'
 * defaults wait up to 5 s between reconnects and BullMQ's up to 20 s, which kept the broker down long
 * after Redis was back; and a command queued while Redis is away would wait for 20 failed
 * reconnects (minutes) before failing.
 */
export function redisConnectionOptions(config: Config): { url: string; connectTimeout: number; retryStrategy: (attempt: number) => number } {
  return { url: config.redisUrl, connectTimeout: 3000, retryStrategy: reconnectDelay };
}

/**
 * A command issued while Redis is away fails after two failed reconnects (about 0.3 s early in an
 * outage, at most 2 s later on) instead of waiting: callers answer 503 promptly.
 */
export const COMMAND_RETRIES = 1;
