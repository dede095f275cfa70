import { setTimeout } from 'node:timers/promises';
import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { AuditSink, Config, ExportAuditTrail, ExportOutcome, ProcessLifecycle } from '@gatehouse/core';

/**
 * Runs the audit export: one loop per sink, so a sink that is slow or down never holds back the
 * others, nor the maintenance queue that seals the trail. A loop, not a queue job: it needs only
 * Postgres, so the sealed backlog keeps flowing while Redis is away, and there is no schedule to
 * lose. Every worker process runs the loops; the sink's advisory lock lets one of them deliver.
 */
@Injectable()
export class AuditExportRunner implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(AuditExportRunner.name);
  /** Pause between passes once a sink is up to date (or another process holds it). */
  pollMs = 1000;
  private loops: Promise<void>[] = [];
  private readonly stopping = new AbortController();
  /** The last reason a pass could not run, per sink. */
  private readonly passFailed = new Map<string, string>();

  constructor(
    private readonly config: Config,
    private readonly exporter: ExportAuditTrail,
    lifecycle: ProcessLifecycle,
  ) {
    lifecycle.whenStoppingWork(() => this.stop());
  }

  onApplicationBootstrap(): void {
    this.loops = this.config.auditSinks.map((sink) => this.loop(sink));
    if (this.loops.length > 0) {
      this.logger.log(`exporting the audit trail (${this.config.auditFormat}) to ${this.config.auditSinks.map((s) => s.label).join(', ')}`);
    }
  }

  /** Lets the deliveries in flight finish (a webhook's timeout bounds them), then ends the loops. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled(this.loops);
  }

  async onModuleDestroy(): Promise<void> {
    await this.stop();
  }

  private async loop(sink: AuditSink): Promise<void> {
    while (!this.stopping.signal.aborted) {
      let outcome: ExportOutcome | undefined;
      try {
        outcome = await this.exporter.execute(sink, new Date());
        this.report(sink, outcome);
        this.passFailed.delete(sink.id);
      } catch (error) {
        // Postgres away, most likely: the pass is tried again, and nothing moved. Said once per
        // cause, not once a second for as long as the outage lasts.
        const message = (error as Error).message;
        if (this.passFailed.get(sink.id) !== message) this.logger.warn(`audit export to ${sink.label} could not run: ${message}`);
        this.passFailed.set(sink.id, message);
      }
      await this.sleep(this.pause(outcome));
    }
  }

  private pause(outcome: ExportOutcome | undefined): number {
    switch (outcome?.status) {
      case 'delivered':
        return outcome.more ? 0 : this.pollMs;
      case 'waiting':
        return Math.max(0, outcome.until.getTime() - Date.now());
      case 'failed':
        return Math.max(0, outcome.retryAt.getTime() - Date.now());
      default:
        return this.pollMs;
    }
  }

  /** A failing sink is named by its label: scheme, host and path, never a query or a credential. */
  private report(sink: AuditSink, outcome: ExportOutcome): void {
    if (outcome.status === 'failed') {
      const retryIn = Math.max(0, outcome.retryAt.getTime() - Date.now());
      this.logger.warn(
        `audit sink ${sink.label} did not take events from seq ${outcome.from} (failure ${outcome.failures} in a row): ${outcome.error}; next try in ${Math.round(retryIn / 100) / 10} s`,
      );
    } else if (outcome.status === 'delivered' && outcome.afterFailures > 0) {
      this.logger.log(`audit sink ${sink.label} takes events again after ${outcome.afterFailures} failed tries (now up to seq ${outcome.upTo})`);
    }
  }

  private async sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.stopping.signal.aborted) return;
    await setTimeout(ms, undefined, { signal: this.stopping.signal }).catch(() => undefined);
  }
}
