import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { AccessError, AccessErrorCode, ErrorDetail } from '@gatehouse/domain';
import { Database } from '../db/database';
import { PrismaService } from '../db/prisma.service';
import { RedisService } from '../redis/redis.service';
import { Dependency, dependencyDown, DependencyTimeoutError, withDeadline } from './dependency-failure';

/** Longest a probe waits for each dependency. */
const PROBE_TIMEOUT_MS = 2000;
/** How often a dependency known to be down is probed, i.e. how soon after it returns the broker serves again. */
const REPROBE_MS = 500;
/** What clients are told to wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = 5;

const NAMES: Record<Dependency, string> = { postgres: 'Postgres', redis: 'Redis' };

/** The 503 a client gets while dependencies are down; details name each one (the reasons stay in the log). */
export function unavailableError(down: Iterable<Dependency | 'unknown'>): AccessError {
  const known = [...new Set(down)].filter((d): d is Dependency => d !== 'unknown');
  if (known.length === 0) return new AccessError(AccessErrorCode.UNAVAILABLE, 'A dependency (Postgres or Redis) is unavailable; retry shortly.');
  const details: ErrorDetail[] = known.map((d) => ({ path: d, message: `${NAMES[d]} is not answering` }));
  const names = known.map((d) => NAMES[d]).join(' and ');
  return new AccessError(AccessErrorCode.UNAVAILABLE, `${names} ${known.length > 1 ? 'are' : 'is'} unavailable; retry shortly.`, details);
}

/**
 * What this process knows about Postgres and Redis, so the HTTP edge can answer 503 at once while
 * one is down instead of letting every request wait for its own timeout. A dependency is marked
 * down by a failed operation (reported here), a lost connection or a probe that failed (not one
 * that was only slow), and up again only by a probe that succeeds: while anything is down, both
 * are probed every 500 ms.
 */
@Injectable()
export class Availability implements OnModuleDestroy {
  private readonly logger = new Logger(Availability.name);
  private readonly down = new Map<Dependency, { reason: string; since: number }>();
  private probing?: Promise<ReadonlyMap<Dependency, string>>;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly db: Database,
    private readonly redis: RedisService,
    prisma: PrismaService,
  ) {
    redis.client.on('close', () => {
      if (!redis.closing) this.markDown('redis', 'the connection to Redis closed');
    });
    // Confirmed by a probe rather than trusted: the command connection may be back before Postgres is.
    redis.client.on('ready', () => {
      if (this.down.size > 0) void this.probe();
    });
    prisma.onConnectionLost((error) => this.suspect('postgres', error.message));
  }

  /** The dependencies known to be down right now (no round trip). */
  get unavailable(): Dependency[] {
    return [...this.down.keys()];
  }

  /**
   * Classifies an error that reached an edge; when it says a dependency is down, marks it down
   * and returns it (or 'unknown'), so the caller answers 503. Undefined means it is no outage.
   */
  report(error: unknown): Dependency | 'unknown' | undefined {
    const dependency = dependencyDown(error);
    if (dependency === 'unknown') void this.probe();
    else if (dependency) this.markDown(dependency, (error as Error)?.message ?? String(error));
    return dependency;
  }

  /**
   * The dependencies down, with why. While one is known down, answers at once (probes run twice a
   * second meanwhile); otherwise probes now, so that an outage nobody has hit yet is found.
   */
  async check(): Promise<ReadonlyMap<Dependency, string>> {
    if (this.down.size > 0) return new Map([...this.down].map(([dependency, { reason }]) => [dependency, reason]));
    return this.probe();
  }

  /** Pings both dependencies now (single-flight); returns the ones down, with why. */
  probe(): Promise<ReadonlyMap<Dependency, string>> {
    this.probing ??= this.runProbe().finally(() => (this.probing = undefined));
    return this.probing;
  }

  onModuleDestroy(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private suspect(dependency: Dependency, reason: string): void {
    this.markDown(dependency, reason);
    void this.probe();
  }

  private async runProbe(): Promise<ReadonlyMap<Dependency, string>> {
    const checks: [Dependency, () => Promise<void>][] = [
      ['postgres', () => this.db.ping()],
      // A command sent while disconnected would only wait for reconnects to fail.
      ['redis', () => (this.redis.ready ? this.redis.ping() : Promise.reject(new Error(`Redis connection is ${this.redis.client.status}`)))],
    ];
    const results = await Promise.all(
      checks.map(async ([dependency, ping]) => {
        try {
          await withDeadline(ping(), PROBE_TIMEOUT_MS, dependency, 'probe');
          this.markUp(dependency);
          return undefined;
        } catch (error) {
          const reason = (error as Error)?.message ?? String(error);
          // A probe that is only slow (an overloaded pool) fails readiness but does not turn every
          // request away; a failed connection does.
          if (!(error instanceof DependencyTimeoutError) || this.down.has(dependency)) this.markDown(dependency, reason);
          return [dependency, reason] as const;
        }
      }),
    );
    return new Map(results.filter((r) => r !== undefined));
  }

  private markDown(dependency: Dependency, reason: string): void {
    if (this.stopped) return;
    if (!this.down.has(dependency)) {
      this.logger.warn(`${NAMES[dependency]} is unavailable: ${reason}`);
      this.down.set(dependency, { reason, since: Date.now() });
    }
    this.scheduleProbe();
  }

  /** While anything is down, probes again every REPROBE_MS; one timer at a time. */
  private scheduleProbe(): void {
    if (this.timer || this.stopped || this.down.size === 0) return;
    this.timer = setTimeout(() => {
      void this.probe().finally(() => {
        this.timer = undefined;
        this.scheduleProbe();
      });
    }, REPROBE_MS);
    this.timer.unref();
  }

  private markUp(dependency: Dependency): void {
    const was = this.down.get(dependency);
    if (!was) return;
    this.down.delete(dependency);
    this.logger.log(`${NAMES[dependency]} is available again after ${((Date.now() - was.since) / 1000).toFixed(1)} s`);
  }
}
