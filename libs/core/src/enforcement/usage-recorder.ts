import { Injectable, Logger } from '@nestjs/common';
import { ProcessLifecycle } from '../availability/process-lifecycle';
import { Config } from '../config/config';
import { Database } from '../db/database';
import { AuditEntry, AuditEventsRepository } from '../db/audit-events.repository';
import { GrantsRepository } from '../db/grants.repository';

/** One allowed gateway call. */
export interface UseSeen {
  grantId: string;
  requestId: string | null;
  agentId: string;
  resource: string;
  operation: string;
  gateway: string | null;
  at: Date;
}

/** One refused gateway call. */
export interface RefusalSeen {
  /** Known only when the token verified (or named an agent we could read); refusals without one share a bucket. */
  agentId: string | null;
  grantId: string | null;
  code: string;
  method: string;
  host: string;
  path: string;
  needed: unknown;
  gateway: string | null;
  sourceIp: string | null;
  at: Date;
}

interface Usage extends Omit<UseSeen, 'at'> {
  calls: number;
  firstAt: Date;
  lastAt: Date;
}

interface RefusalWindow {
  start: number;
  written: number;
  dropped: number;
}

/** access.refused events written per agent per minute; the rest are counted in one summary event. */
export const REFUSALS_PER_AGENT_PER_MINUTE = 20;
/** Distinct (grant, operation) pairs and refusal events held between flushes; beyond, calls are only counted. */
const MAX_HELD = 50_000;
const MINUTE = 60_000;

/**
 * What the gateways actually did with grants, on the audit trail without a database write per call:
 * allowed calls are counted in memory per grant and operation, and written every flush interval as
 * one `grant.used` event per pair (with the count and the first and last time) plus the grant's
 * usage row; refusals become `access.refused` events, at most 20 per agent per minute, the rest
 * counted in one summary event per agent and minute. A flush that fails (Postgres away) keeps what
 * it held for the next one; a shutdown flushes what is left.
 */
@Injectable()
export class UsageRecorder {
  private readonly logger = new Logger(UsageRecorder.name);
  private uses = new Map<string, Usage>();
  private refusals: AuditEntry[] = [];
  private readonly windows = new Map<string, RefusalWindow>();
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  /** Calls not held because the buffers were full (Postgres away for long): said in the log, never silent. */
  private overflow = 0;

  constructor(
    private readonly config: Config,
    private readonly db: Database,
    private readonly grants: GrantsRepository,
    private readonly audit: AuditEventsRepository,
    private readonly lifecycle: ProcessLifecycle,
  ) {}

  /** Flushes every interval, and once more when the process stops (after HTTP closed, before Postgres). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.config.usageFlushIntervalSeconds * 1000);
    this.timer.unref();
    this.lifecycle.whenStoppingWork(async () => {
      clearInterval(this.timer);
      // Every open refusal window is closed too: its count of dropped refusals is written now.
      await this.flush(new Date(Date.now() + MINUTE));
    });
  }

  used(use: UseSeen): void {
    const key = `${use.grantId} ${use.operation}`;
    const held = this.uses.get(key);
    if (held) {
      held.calls += 1;
      if (use.at > held.lastAt) held.lastAt = use.at;
      return;
    }
    if (this.uses.size >= MAX_HELD) {
      this.overflow += 1;
      return;
    }
    const { at, ...rest } = use;
    this.uses.set(key, { ...rest, calls: 1, firstAt: at, lastAt: at });
  }

  refused(refusal: RefusalSeen): void {
    const bucket = refusal.agentId ?? 'unknown';
    const now = refusal.at.getTime();
    let window = this.windows.get(bucket);
    if (!window || now - window.start >= MINUTE) {
      if (window) this.closeWindow(bucket, window);
      window = { start: now, written: 0, dropped: 0 };
      this.windows.set(bucket, window);
    }
    if (window.written >= REFUSALS_PER_AGENT_PER_MINUTE || this.refusals.length >= MAX_HELD) {
      window.dropped += 1;
      return;
    }
    window.written += 1;
    this.refusals.push({
      type: 'access.refused',
      actor: refusal.gateway ? `gateway:${refusal.gateway}` : 'gateway',
      sourceIp: refusal.sourceIp,
      agentId: refusal.agentId,
      grantId: refusal.grantId,
      data: {
        code: refusal.code,
        method: refusal.method,
        host: refusal.host,
        path: refusal.path.slice(0, 500),
        ...(refusal.needed ? { needed: refusal.needed } : {}),
        at: refusal.at.toISOString(),
      },
    });
  }

  /** Writes what is held in one transaction; concurrent calls share one flush. */
  flush(now = new Date()): Promise<void> {
    this.flushing ??= this.write(now).finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private closeWindow(bucket: string, window: RefusalWindow): void {
    this.windows.delete(bucket);
    if (window.dropped === 0) return;
    this.refusals.push({
      type: 'access.refused',
      actor: 'gateway',
      agentId: bucket === 'unknown' ? null : bucket,
      data: {
        dropped: window.dropped,
        from: new Date(window.start).toISOString(),
        to: new Date(window.start + MINUTE).toISOString(),
        note: `${window.dropped} more refusals in this minute were counted, not written one by one`,
      },
    });
  }

  private async write(now: Date): Promise<void> {
    for (const [bucket, window] of [...this.windows]) if (now.getTime() - window.start >= MINUTE) this.closeWindow(bucket, window);
    if (this.overflow > 0) {
      this.logger.warn(`${this.overflow} gateway calls were not held for the trail (buffers full: is Postgres reachable?)`);
      this.overflow = 0;
    }
    const uses = [...this.uses.values()];
    const refusals = this.refusals;
    if (uses.length === 0 && refusals.length === 0) return;
    this.uses = new Map();
    this.refusals = [];
    try {
      await this.db.transaction(async (tx) => {
        await this.grants.addUsage(tx, uses);
        await this.audit.append(tx, [...uses.map(usedEvent), ...refusals]);
      });
    } catch (error) {
      this.logger.warn(`gateway usage not written yet, kept for the next flush: ${error}`);
      for (const use of uses) this.putBack(use);
      this.refusals = [...refusals, ...this.refusals].slice(0, MAX_HELD);
    }
  }

  private putBack(use: Usage): void {
    const key = `${use.grantId} ${use.operation}`;
    const held = this.uses.get(key);
    if (!held) {
      this.uses.set(key, use);
      return;
    }
    held.calls += use.calls;
    if (use.firstAt < held.firstAt) held.firstAt = use.firstAt;
    if (use.lastAt > held.lastAt) held.lastAt = use.lastAt;
  }
}

function usedEvent(use: Usage): AuditEntry {
  return {
    type: 'grant.used',
    actor: use.gateway ? `gateway:${use.gateway}` : 'gateway',
    requestId: use.requestId,
    grantId: use.grantId,
    agentId: use.agentId,
    data: {
      resource: use.resource,
      operation: use.operation,
      calls: use.calls,
      firstAt: use.firstAt.toISOString(),
      lastAt: use.lastAt.toISOString(),
    },
  };
}
