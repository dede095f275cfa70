import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { RedisService } from '../redis/redis.service';
import { ProcessLifecycle } from '../availability/process-lifecycle';

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
  private listening = false;

  constructor(
    private readonly redis: RedisService,
    lifecycle: ProcessLifecycle,
  ) {
    // A shutdown answers long-polls now, so they do not hold the drain for up to a minute.
    lifecycle.whenDraining(() => this.close());
  }

  private get channel(): string {
    return this.redis.key('request-changed');
  }

  async changed(requestId: string): Promise<void> {
    await this.redis.client.publish(this.channel, requestId).catch((e) => this.logger.warn(`publish failed: ${e}`));
  }

  /**
   * Resolves when the request changes, after `timeoutMs`, when `signal` aborts (the client hung
   * up), or at once while shutting down. The clock starts before the subscription, so a slow or
   * unreachable Redis cannot stretch a hold past its time; a failed subscription rejects.
   */
  waitForChange(requestId: string, timeoutMs: number, ready?: () => Promise<boolean>, signal?: AbortSignal): Promise<void> {
    if (this.closed || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolvePromise, rejectPromise) => {
      const set = this.waiters.get(requestId) ?? new Set();
      this.waiters.set(requestId, set);
      const end = (error?: unknown) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        set.delete(done);
        if (set.size === 0 && this.waiters.get(requestId) === set) this.waiters.delete(requestId);
        if (error === undefined) resolvePromise();
        else rejectPromise(error);
      };
      const done = () => end();
      const timer = setTimeout(done, timeoutMs);
      set.add(done);
      signal?.addEventListener('abort', done, { once: true });
      // Subscribed first, then re-read: a decision that landed before the subscription is seen by the read.
      this.subscribe().then(
        () => void ready?.().then((isReady) => isReady && done(), done),
        (error: unknown) => end(error ?? new Error('subscription failed')),
      );
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
      // The subscriber connection is shared (agent changes too): listen once, to this channel only.
      if (!this.listening) {
        this.listening = true;
        sub.on('message', (channel: string, requestId: string) => {
          if (channel === this.channel) for (const done of [...(this.waiters.get(requestId) ?? [])]) done();
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

/** The hold a WaitSlots.take granted; `release` may be called more than once. */
export interface WaitSlot {
  release(): void;
}

/**
 * Long-polls held per agent in this process. A hold occupies a slot until it ends, whatever ends
 * it; past the cap, `take` says how long until the soonest of the agent's holds runs out, which is
 * the latest a slot frees (a decision frees one sooner).
 */
export class WaitSlots {
  private readonly held = new Map<string, Set<{ until: number }>>();

  constructor(private readonly max: number) {}

  take(agentId: string, nowMs: number, untilMs: number): WaitSlot | { retryAfterSeconds: number } {
    const holds = this.held.get(agentId) ?? new Set();
    if (holds.size >= this.max) {
      const soonest = Math.min(...[...holds].map((hold) => hold.until));
      return { retryAfterSeconds: Math.max(1, Math.ceil((soonest - nowMs) / 1000)) };
    }
    const hold = { until: untilMs };
    holds.add(hold);
    this.held.set(agentId, holds);
    return {
      release: () => {
        holds.delete(hold);
        if (holds.size === 0 && this.held.get(agentId) === holds) this.held.delete(agentId);
      },
    };
  }
}
