import { Injectable, Logger } from '@nestjs/common';
import { Config, JOBS, ProcessLifecycle, QUEUES, QueueService, Reconcile, RedisService, RestoreLostJobs } from '@gatehouse/core';

/** How often the worker checks that Redis still holds its schedules. */
const CHECK_EVERY_MS = 2000;
const SEAL_EVERY_MS = 1000;

/**
 * Keeps the repeating jobs (reconcile, sealAudit) and the delayed ones alive across a Redis that
 * lost its data (restarted empty, flushed, failed over to an empty replica). Such a Redis no longer
 * holds a marker key written next to the jobs, so the worker notices within seconds (at once when
 * its connection comes back) and re-creates the schedules, puts back the delayed jobs Postgres
 * says should exist, and reconciles what fell due meanwhile. Without this, nothing expired,
 * reminded or sealed again until the worker was restarted.
 */
@Injectable()
export class ScheduleKeeper {
  private readonly logger = new Logger(ScheduleKeeper.name);
  private timer?: NodeJS.Timeout;
  private checking?: Promise<void>;
  private stopped = false;
  // Enqueues may have failed while Redis was away (after commit, logged, left to the reconciler):
  // put every delayed job back at once rather than let them end up to one reconcile interval late.
  private readonly onReconnect = () => {
    this.restoreWanted = true;
    void this.check();
  };
  private restoreWanted = false;

  constructor(
    private readonly config: Config,
    private readonly queues: QueueService,
    private readonly redis: RedisService,
    private readonly restore: RestoreLostJobs,
    private readonly reconcile: Reconcile,
    lifecycle: ProcessLifecycle,
  ) {
    lifecycle.whenDraining(() => this.stop());
  }

  private get marker(): string {
    return this.redis.key('queues', 'intact');
  }

  /** Writes the schedules (their intervals may have changed), repairs what a lost job missed, then keeps watching. */
  async start(): Promise<void> {
    await this.upsertSchedules();
    // Whatever a lost job missed while nothing ran is repaired before waiting for the schedule.
    await this.reconcile.execute(new Date());
    await this.check();
    if (this.stopped) return;
    this.timer = setInterval(() => void this.check(), CHECK_EVERY_MS);
    this.timer.unref();
    this.redis.client.on('ready', this.onReconnect);
  }

  /** One check (single-flight); a Redis still down is left to the next one. */
  check(): Promise<void> {
    this.checking ??= this.runCheck()
      .catch((error) => this.logger.debug(`schedule check failed (retried in ${CHECK_EVERY_MS} ms): ${error}`))
      .finally(() => (this.checking = undefined));
    return this.checking;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.redis.client.off('ready', this.onReconnect);
  }

  private async runCheck(): Promise<void> {
    if (this.stopped) return;
    const wanted = this.restoreWanted;
    this.restoreWanted = false;
    try {
      const intact = (await this.redis.client.exists(this.marker)) === 1;
      if (!intact || wanted) {
        if (intact) this.logger.log('Redis is back: putting back any delayed job that could not be enqueued meanwhile');
        else this.logger.warn('Redis holds none of our jobs (restarted empty, flushed, or first start): re-creating schedules and delayed jobs');
        await this.upsertSchedules();
        await this.restore.execute(new Date());
        await this.reconcile.execute(new Date());
        // Written last: if anything above failed, the next check does it all again (it is idempotent).
        await this.redis.client.set(this.marker, new Date().toISOString());
        return;
      }
    } catch (error) {
      this.restoreWanted ||= wanted;
      throw error;
    }
    const maintenance = this.queues.queues[QUEUES.maintenance];
    const schedulers = await Promise.all([JOBS.sealAudit.id(), JOBS.reconcile.id()].map((id) => maintenance.getJobScheduler(id)));
    if (schedulers.some((s) => !s)) {
      this.logger.warn('a job schedule was missing: re-created');
      await this.upsertSchedules();
    }
  }

  private async upsertSchedules(): Promise<void> {
    const maintenance = this.queues.queues[QUEUES.maintenance];
    await maintenance.upsertJobScheduler(JOBS.sealAudit.id(), { every: SEAL_EVERY_MS }, { name: 'sealAudit', data: {} });
    await maintenance.upsertJobScheduler(
      JOBS.reconcile.id(),
      { every: this.config.reconcileIntervalSeconds * 1000 },
      { name: 'reconcile', data: {} },
    );
  }
}
