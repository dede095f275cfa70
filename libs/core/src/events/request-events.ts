import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { RedisService } from '../redis/redis.service';
import { ProcessLifecycle } from '../availability/process-lifecycle';
import { DependencyTimeoutError, withDeadline } from '../availability/dependency-failure';

/**
 * Tells long-polling agents that a request changed. Publishing happens after commit; waiters
 * always re-read Postgres, so a lost message only costs the remaining wait, never a wrong answer.
 */
@Injectable()
export class RequestEvents implements OnModuleDestroy {
  private readonly logger = new Logger(RequestEvents.name);
  private readonly waiters = new Map<string, Set<() => void>>();
  private subscribed?: Promise<unknown>;
  private closed = false;

  constructor(private readonly redis: RedisService, lifecycle: ProcessLifecycle) {
    // A shutdown answers long-polls now, so they do not hold the drain for up to a minute.
    lifecycle.whenDraining(() => this.close());
  }

  private get channel(): string {
    return this.redis.key('request-changed');
  }

  async changed(requestId: string): Promise<void> {
    await this.redis.client.publish(this.channel, requestId).catch((e) => this.logger.warn(`publish failed: ${e}`));
  }

  /** Resolves when the request changes or after `timeoutMs`, whichever comes first; at once while shutting down. */
  async waitForChange(requestId: string, timeoutMs: number, ready?: () => Promise<boolean>): Promise<void> {
    if (this.closed) return;
    const started = Date.now();
    // The subscriber connection waits for Redis without limit; a wait must not outlast what was asked.
    try {
      await withDeadline(this.subscribe(), timeoutMs, 'redis', 'subscribe to request changes');
    } catch (error) {
      if (error instanceof DependencyTimeoutError) return;
      throw error;
    }
    const remaining = timeoutMs - (Date.now() - started);
    if (this.closed || remaining <= 0) return;
    await new Promise<void>((resolvePromise) => {
      const set = this.waiters.get(requestId) ?? new Set();
      this.waiters.set(requestId, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) this.waiters.delete(requestId);
        resolvePromise();
      };
      const timer = setTimeout(done, remaining);
      set.add(done);
      // A decision may have landed between the caller's read and the subscription.
      void ready?.().then((isReady) => isReady && done(), () => done());
    });
  }

  /** Wakes every waiter now; later waits return at once. */
  close(): void {
    this.closed = true;
    for (const set of this.waiters.values()) for (const done of [...set]) done();
  }

  onModuleDestroy(): void {
    this.close();
  }

  private subscribe(): Promise<unknown> {
    if (!this.subscribed) {
      const sub = this.redis.subscriberConnection();
      if (sub.listenerCount('message') === 0) {
        sub.on('message', (_channel: string, requestId: string) => {
          for (const done of [...(this.waiters.get(requestId) ?? [])]) done();
        });
      }
      // A failed subscription is tried again by the next wait.
      this.subscribed = sub.subscribe(this.channel).catch((error: unknown) => {
        this.subscribed = undefined;
        throw error;
      });
    }
    return this.subscribed;
  }
}
