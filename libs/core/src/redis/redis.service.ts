import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import Redis from 'ioredis';
import { Config } from '../config/config';
import { COMMAND_RETRIES, redisConnectionOptions } from './redis-options';

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
