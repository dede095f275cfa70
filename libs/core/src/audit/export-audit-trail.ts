import { Injectable } from '@nestjs/common';
import type { AuditCheckpoint } from '@gatehouse/prisma';
import { Config } from '../config/config';
import { PrismaService, Tx } from '../db/prisma.service';
import { AgentsRepository } from '../db/agents.repository';
import { AuditExportRepository, Scope } from './audit-export.repository';
import { SinkWriter, sinkWriter } from './audit-sinks';
import type { AuditSink } from './export-config';
import { ExportRecord, jsonCheckpointRecord, jsonEventRecord, SealedEvent } from './export-records';
import { ocsfCheckpointRecord, OcsfContext, ocsfEventRecord } from './ocsf';

/** What one pass did for one sink. Seqs are strings, as everywhere the trail is shown. */
export type ExportOutcome =
  /** A batch is at the sink and the cursor moved to `upTo`; `more` when the backlog goes on. */
  | { status: 'delivered'; from: string; upTo: string; records: number; more: boolean; afterFailures: number }
  /** Nothing sealed beyond the cursor. */
  | { status: 'idle' }
  /** Another process holds this sink. */
  | { status: 'busy' }
  /** Backing off after a failure until `until`. */
  | { status: 'waiting'; until: Date }
  /** The sink did not take the batch; it is sent again from `from` at `retryAt`. */
  | { status: 'failed'; from: string; failures: number; retryAt: Date; error: string };

/** Delay before the next try after `failures` failures in a row: doubling, capped. */
export function backoffMs(failures: number, retry: { firstDelayMs: number; maxDelayMs: number }): number {
  return Math.min(retry.maxDelayMs, retry.firstDelayMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
}

/**
 * Streams the sealed trail to one sink, in seq order, each checkpoint right after the event it
 * signs. At least once: the cursor moves only after the sink took the batch, in the transaction
 * that holds the sink's advisory lock, so two workers never send the same sink two batches at
 * once, and a crash between the sink's answer and the commit only sends that batch again.
 */
@Injectable()
export class ExportAuditTrail {
  /** Events per delivery, at most; a batch also ends once it passes maxBatchBytes of JSON. */
  batchSize = 500;
  maxBatchBytes = 1_000_000;
  /** The first retry after a failure, doubling with each further failure up to maxDelayMs. */
  retry = { firstDelayMs: 1000, maxDelayMs: 60_000 };
  /** Longest wait for a webhook's answer. */
  timeoutMs = 10_000;
  private readonly writers = new Map<string, SinkWriter>();

  constructor(
    private readonly config: Config,
    private readonly prisma: PrismaService,
    private readonly repo: AuditExportRepository,
    private readonly agents: AgentsRepository,
  ) {}

  execute(sink: AuditSink, now = new Date()): Promise<ExportOutcome> {
    // The transaction holds the lock while the sink answers, so it outlives the webhook timeout.
    return this.prisma.$transaction((tx) => this.pass(tx, sink, now), { maxWait: 10_000, timeout: this.timeoutMs + 30_000 });
  }

  private async pass(tx: Tx, sink: AuditSink, now: Date): Promise<ExportOutcome> {
    if (!(await this.repo.lockSink(tx, sink.id))) return { status: 'busy' };
    const cursor = await this.repo.cursor(tx, sink.id);
    if (cursor.retryAt && cursor.retryAt > now) return { status: 'waiting', until: cursor.retryAt };
    const events = await this.repo.sealedAfter(tx, cursor.deliveredSeq, this.batchSize);
    if (events.length === 0) return { status: 'idle' };
    const checkpoints = await this.repo.checkpointsIn(tx, cursor.deliveredSeq, events[events.length - 1].seq);
    const batch = await this.batch(tx, events, checkpoints);
    const from = (cursor.deliveredSeq + 1n).toString();
    try {
      await this.writer(sink).deliver(batch.records);
    } catch (error) {
      const failures = cursor.failures + 1;
      const failedAt = new Date();
      const retryAt = new Date(failedAt.getTime() + backoffMs(failures, this.retry));
      const message = scrub(error, sink, this.config.auditWebhookAuthorization);
      await this.repo.failed(tx, sink.id, { failures, retryAt, error: message, at: failedAt });
      return { status: 'failed', from, failures, retryAt, error: message };
    }
    if (!(await this.repo.delivered(tx, sink.id, cursor.deliveredSeq, batch.upTo, new Date()))) {
      // Only possible if something moved the cursor without the lock; rolling back re-sends the batch.
      throw new Error(`audit export to ${sink.label}: the cursor moved during delivery`);
    }
    return {
      status: 'delivered',
      from,
      upTo: batch.upTo.toString(),
      records: batch.records.length,
      more: batch.cut || events.length === this.batchSize,
      afterFailures: cursor.failures,
    };
  }

  /** The records of a batch in seq order, cut before the one that would pass maxBatchBytes. */
  private async batch(tx: Tx, events: SealedEvent[], checkpoints: AuditCheckpoint[]) {
    const contexts = this.config.auditFormat === 'ocsf' ? await this.ocsfContexts(tx, events) : undefined;
    const records: ExportRecord[] = [];
    let bytes = 0;
    let upTo = 0n;
    let next = 0;
    for (const event of events) {
      // A checkpoint follows the event it signs; one whose event is missing still goes out, in order.
      const before: ExportRecord[] = [];
      const after: ExportRecord[] = [];
      while (next < checkpoints.length && checkpoints[next].seq <= event.seq) {
        const checkpoint = checkpoints[next++];
        (checkpoint.seq < event.seq ? before : after).push(this.checkpointRecord(checkpoint));
      }
      const group = [...before, this.eventRecord(event, contexts?.get(event)), ...after];
      const size = group.reduce((n, record) => n + JSON.stringify(record.body).length + 1, 0);
      if (records.length > 0 && bytes + size > this.maxBatchBytes) return { records, upTo, cut: true };
      records.push(...group);
      bytes += size;
      upTo = event.seq;
    }
    return { records, upTo, cut: false };
  }

  private eventRecord(event: SealedEvent, context: OcsfContext | undefined): ExportRecord {
    const body = this.config.auditFormat === 'ocsf' ? ocsfEventRecord(event, context) : jsonEventRecord(event);
    return { kind: 'event', seq: event.seq, time: event.createdAt, uid: `event-${event.seq}`, body };
  }

  private checkpointRecord(checkpoint: AuditCheckpoint): ExportRecord {
    const body = this.config.auditFormat === 'ocsf' ? ocsfCheckpointRecord(checkpoint) : jsonCheckpointRecord(checkpoint);
    return { kind: 'checkpoint', seq: checkpoint.seq, time: checkpoint.createdAt, uid: `checkpoint-${checkpoint.seq}`, body };
  }

  /**
   * The agent's name and the scope each event concerns, read in three queries per batch: a grant's
   * events name what the grant gives, a request's what was asked.
   */
  private async ocsfContexts(tx: Tx, events: SealedEvent[]): Promise<Map<SealedEvent, OcsfContext>> {
    const ids = (pick: (e: SealedEvent) => string | null) => [...new Set(events.map(pick).filter((id): id is string => !!id))];
    const [agentIds, grantIds, requestIds] = [ids((e) => e.agentId), ids((e) => e.grantId), ids((e) => e.requestId)];
    // One after the other: the queries share the transaction's one connection anyway.
    const agents = new Map((await this.agents.namesOf(tx, agentIds)).map((agent) => [agent.id, agent.name]));
    const grants = await this.repo.grantScopes(tx, grantIds);
    const requests = await this.repo.requestScopes(tx, requestIds);
    const contexts = new Map<SealedEvent, OcsfContext>();
    for (const event of events) {
      const ofGrant = event.grantId ? grants.get(event.grantId) : undefined;
      const ofRequest = event.requestId ? requests.get(event.requestId) : undefined;
      const scope: Scope | undefined = event.type.startsWith('grant.') ? (ofGrant ?? ofRequest) : (ofRequest ?? ofGrant);
      contexts.set(event, { agentName: event.agentId ? agents.get(event.agentId) : undefined, scope });
    }
    return contexts;
  }

  private writer(sink: AuditSink): SinkWriter {
    let writer = this.writers.get(sink.id);
    if (!writer) {
      writer = sinkWriter(sink, { authorization: this.config.auditWebhookAuthorization, format: this.config.auditFormat, timeoutMs: this.timeoutMs });
      this.writers.set(sink.id, writer);
    }
    return writer;
  }
}

/**
 * A failure as it may be logged and stored: whatever the error says, the sink's full URL, its
 * query and the Authorization value are cut out of it.
 */
export function scrub(error: unknown, sink: AuditSink, authorization?: string): string {
  let message = error instanceof Error ? error.message : String(error);
  const secrets: string[] = [];
  if (sink.kind === 'webhook') {
    const url = new URL(sink.url);
    secrets.push(sink.url, url.search, url.search.slice(1), ...[...url.searchParams.values()].filter((value) => value.length >= 4));
  }
  if (authorization) secrets.push(authorization, ...authorization.split(/\s+/).filter((part) => part.length >= 8));
  for (const secret of secrets.filter((s) => s.length > 1).sort((a, b) => b.length - a.length)) message = message.split(secret).join('[redacted]');
  return message.slice(0, 500);
}
