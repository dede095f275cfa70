import { Injectable, OnModuleDestroy } from '@nestjs/common';
import Redis from 'ioredis';
import { Config } from '../config/config';

/** The process's Redis command connection; every key it writes starts with the configured prefix. */
@Injectable()
export class RedisService implements OnModuleDestroy {
  readonly client: Redis;
  private subscriber?: Redis;

  constructor(private readonly config: Config) {
    this.client = new Redis(config.redisUrl, { maxRetriesPerRequest: 2 });
  }

  key(...parts: string[]): string {
    return [this.config.redisPrefix, ...parts].join(':');
  }

  /** A second connection for SUBSCRIBE, created on first use. */
  subscriberConnection(): Redis {
    this.subscriber ??= new Redis(this.config.redisUrl, { maxRetriesPerRequest: null });
    return this.subscriber;
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.allSettled([this.client.quit(), this.subscriber?.quit()]);
  }
}
