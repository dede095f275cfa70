import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Database } from '../db/database';
import { GrantsRepository } from '../db/grants.repository';
import { QueueService } from '../queue/queue.service';
import { Availability } from '../availability/availability';
import { AuditExportRepository } from '../audit/audit-export.repository';
import { Config } from '../config/config';

/**
 * Prometheus metrics of this process; gauges are read from their source at scrape time. A scrape
 * answers during an outage too (that is when it matters): a gauge whose source is down keeps its
 * last value instead of waiting for it.
 */
@Injectable()
export class Metrics {
  readonly registry = new Registry();
  readonly decisions: Counter<'outcome'>;
  readonly decisionSeconds: Histogram;
  readonly httpResponses: Counter<'route' | 'status'>;

  constructor(
    db: Database,
    grants: GrantsRepository,
    queues: QueueService,
    availability: Availability,
    config: Config,
    audit: AuditExportRepository,
  ) {
    const up = (dependency: 'postgres' | 'redis') => !availability.unavailable.includes(dependency);
    collectDefaultMetrics({ register: this.registry, prefix: 'gatehouse_process_' });
    this.decisions = new Counter({
      name: 'gatehouse_access_requests_total',
      help: 'Access requests by decision outcome',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    this.decisionSeconds = new Histogram({
      name: 'gatehouse_decision_duration_seconds',
      help: 'Time from a validated access request to its stored decision',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [this.registry],
    });
    this.httpResponses = new Counter({
      name: 'gatehouse_http_responses_total',
      help: 'HTTP responses by route and status',
      labelNames: ['route', 'status'],
      registers: [this.registry],
    });
    new Gauge({
      name: 'gatehouse_active_grants',
      help: 'Grants active and not past their expiry',
      registers: [this.registry],
      async collect() {
        if (up('postgres'))
          await grants.countLive(db.client, new Date()).then(
            (n) => this.set(n),
            () => undefined,
          );
      },
    });
    new Gauge({
      name: 'gatehouse_queue_lag_seconds',
      help: 'Age of the oldest job that is due but not yet started, per queue',
      labelNames: ['queue'],
      registers: [this.registry],
      async collect() {
        for (const [name, queue] of Object.entries(queues.queues)) {
          if (!up('redis')) return;
          const oldest = await queue.getJobs(['wait'], 0, 0, true).then(
            ([job]) => job ?? null,
            () => undefined,
          );
          if (oldest !== undefined)
            this.set({ queue: name }, oldest ? Math.max(0, (Date.now() - oldest.timestamp - (oldest.opts.delay ?? 0)) / 1000) : 0);
        }
      },
    });
    // Read from Postgres, so any process (the API included) shows how far the workers' export got;
    // both gauges of one scrape share one read.
    const sinkLabels = new Map(config.auditSinks.map((sink) => [sink.id, sink.label]));
    let reading: ReturnType<AuditExportRepository['positions']> | undefined;
    const exportPositions = async () => {
      if (sinkLabels.size === 0 || !up('postgres')) return undefined;
      reading ??= audit.positions(db.client).finally(() => (reading = undefined));
      const positions = await reading.catch(() => undefined);
      return positions && { head: positions.head, cursors: positions.cursors.filter((c) => sinkLabels.has(c.sink)) };
    };
    new Gauge({
      name: 'gatehouse_audit_export_lag_events',
      help: 'Sealed audit events not yet delivered, per configured audit sink',
      labelNames: ['sink'],
      registers: [this.registry],
      async collect() {
        const positions = await exportPositions();
        for (const cursor of positions?.cursors ?? [])
          this.set({ sink: sinkLabels.get(cursor.sink)! }, Number(positions!.head - cursor.deliveredSeq));
      },
    });
    new Gauge({
      name: 'gatehouse_audit_export_failures',
      help: 'Failed deliveries in a row, per configured audit sink (0 once it takes events again)',
      labelNames: ['sink'],
      registers: [this.registry],
      async collect() {
        for (const cursor of (await exportPositions())?.cursors ?? []) this.set({ sink: sinkLabels.get(cursor.sink)! }, cursor.failures);
      },
    });
    new Gauge({
      name: 'gatehouse_queue_jobs',
      help: 'Jobs per queue and state',
      labelNames: ['queue', 'state'],
      registers: [this.registry],
      async collect() {
        for (const [name, queue] of Object.entries(queues.queues)) {
          if (!up('redis')) return;
          const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'failed').catch(() => ({}));
          for (const [state, n] of Object.entries(counts)) this.set({ queue: name, state }, n);
        }
      },
    });
  }
}
