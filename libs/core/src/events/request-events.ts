import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { RedisService } from '../redis/redis.service';

/**
 * Tells long-polling agents that a request changed. Publishing happens after commit; waiters
 * always re-read Postgres, so a lost message only costs the remaining wait, never a wrong answer.
 */
@Injectable()
export class RequestEvents implements OnModuleDestroy {
  private readonly logger = new Logger(RequestEvents.name);
  private readonly waiters = new Map<string, Set<() => void>>();
  private subscribed?: Promise<unknown>;

  constructor(private readonly redis: RedisService) {}

  private get channel(): string {
    return this.redis.key('request-changed');
  }

  async changed(requestId: string): Promise<void> {
    await this.redis.client.publish(this.channel, requestId).catch((e) => this.logger.warn(`publish failed: ${e}`));
  }

  /** Resolves when the request changes or after `timeoutMs`, whichever comes first. */
  async waitForChange(requestId: string, timeoutMs: number, ready?: () => Promise<boolean>): Promise<void> {
    await this.subscribe();
    await new Promise<void>((resolvePromise) => {
      const set = this.waiters.get(requestId) ?? new Set();
      this.waiters.set(requestId, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) this.waiters.delete(requestId);
        resolvePromise();
      };
      const timer = setTimeout(done, timeoutMs);
      set.add(done);
      // A decision may have landed between the caller's read and the subscription.
      void ready?.().then((isReady) => isReady && done(), () => done());
    });
  }

  onModuleDestroy(): void {
    for (const set of this.waiters.values()) for (const done of [...set]) done();
  }

  private subscribe(): Promise<unknown> {
    this.subscribed ??= (async () => {
      const sub = this.redis.subscriberConnection();
      sub.on('message', (_channel: string, requestId: string) => {
        for (const done of [...(this.waiters.get(requestId) ?? [])]) done();
      });
      await sub.subscribe(this.channel);
    })();
    return this.subscribed;
  }
}
