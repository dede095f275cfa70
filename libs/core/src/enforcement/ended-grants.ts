import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { Database } from '../db/database';
import { GrantsRepository } from '../db/grants.repository';
import { RedisService } from '../redis/redis.service';

/** How often Postgres is asked for grants ended since the last look: the bound on a lost message. */
const POLL_MS = 400;
/**
 * Each look reaches this far back, so an ending committed late (its ended_at is the time its
 * transaction began) is not missed; pub/sub carries the rare transaction slower than this.
 */
const OVERLAP_MS = 10_000;

/**
 * The grants that ended before their expiry (released, revoked, superseded), kept in memory by every
 * process that checks gateway calls, so that a check reads no database: a token whose signature and
 * lifetime verify is still refused when its grant is here. An expired grant needs no entry: its
 * token's `exp` refuses it.
 *
 * Kept current three ways: the process that ends a grant adds it at once; Redis pub/sub tells the
 * other processes within milliseconds; and each process asks Postgres every 400 ms for the grants
 * ended since its last look (a message lost while Redis was away, or Redis down altogether), so an
 * ending reaches every replica within a second whatever Redis does.
 */
@Injectable()
export class EndedGrants implements OnModuleDestroy {
  private readonly logger = new Logger(EndedGrants.name);
  /** grant id -> its expiry (ms): an entry is dropped once the token could no longer verify anyway. */
  private readonly ended = new Map<string, number>();
  private lastLook: Date | null = null;
  private timer?: NodeJS.Timeout;
  private started?: Promise<void>;
  private polling = false;

  constructor(
    private readonly db: Database,
    private readonly grants: GrantsRepository,
    private readonly redis: RedisService,
  ) {}

  private get channel(): string {
    return this.redis.key('grant-ended');
  }

  /** Loads every grant ended early and not yet expired, then keeps the set current. Idempotent. */
  start(): Promise<void> {
    this.started ??= this.begin();
    return this.started;
  }

  private async begin(): Promise<void> {
    const sub = this.redis.subscriberConnection();
    sub.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.receive(message);
    });
    // After a reconnect, messages may have been lost: look at Postgres at once.
    sub.on('ready', () => void this.poll());
    sub.subscribe(this.channel).catch((error: unknown) => this.logger.warn(`cannot subscribe to ended grants yet: ${error}`));
    await this.poll(true);
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  /** Whether the grant ended before its expiry. */
  has(grantId: string): boolean {
    return this.ended.has(grantId);
  }

  get size(): number {
    return this.ended.size;
  }

  /** After the ending committed: refuse the grants here now, and tell every other process. */
  async announce(grants: { id: string; expiresAt: Date }[]): Promise<void> {
    if (grants.length === 0) return;
    for (const grant of grants) this.add(grant.id, grant.expiresAt.getTime());
    const message = JSON.stringify(grants.map((g) => [g.id, g.expiresAt.getTime()]));
    await this.redis.client.publish(this.channel, message).catch((error: unknown) => this.logger.warn(`could not announce ended grants: ${error}`));
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private receive(message: string): void {
    try {
      const entries = JSON.parse(message) as unknown;
      if (!Array.isArray(entries)) return;
      for (const entry of entries) {
        if (Array.isArray(entry) && typeof entry[0] === 'string' && typeof entry[1] === 'number') this.add(entry[0], entry[1]);
      }
    } catch {
      this.logger.warn('ignored a malformed ended-grants message');
    }
  }

  private add(id: string, expiresAtMs: number): void {
    if (expiresAtMs > Date.now()) this.ended.set(id, expiresAtMs);
  }

  /** Reads the grants ended since the last look (all of them the first time), and forgets expired ones. */
  private async poll(first = false): Promise<void> {
    if (this.polling && !first) return;
    this.polling = true;
    try {
      const now = new Date();
      const since = this.lastLook === null ? null : new Date(this.lastLook.getTime() - OVERLAP_MS);
      const rows = await this.grants.listEndedEarly(this.db.pool, since, now);
      for (const row of rows) this.add(row.id, row.expiresAt.getTime());
      this.lastLook = now;
      const nowMs = now.getTime();
      for (const [id, expiresAt] of this.ended) if (expiresAt <= nowMs) this.ended.delete(id);
    } catch (error) {
      // The first load must succeed (the process does not serve without it); later ones retry.
      if (first) throw error;
      this.logger.debug(`ended-grants poll failed: ${error}`);
    } finally {
      this.polling = false;
    }
  }
}
