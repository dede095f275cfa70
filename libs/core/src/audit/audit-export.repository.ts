import { Injectable } from '@nestjs/common';
import type { AuditCheckpoint, AuditExportCursor } from '@gatehouse/prisma';
import type { Tx } from '../db/prisma.service';
import type { SealedEvent } from './export-records';

/** The advisory lock class of export sinks ("ghex"); the sink id's hash is the object. */
const EXPORT_LOCK_CLASS = 0x67686578 | 0;

/** A resource and what was asked or granted of it. */
export interface Scope {
  resource: string;
  actions: string[];
  columns: string[];
}

/** Reads the sealed trail in seq order and keeps each sink's cursor. */
@Injectable()
export class AuditExportRepository {
  /** Single flight per sink across processes, until the transaction ends. */
  async lockSink(tx: Tx, sinkId: string): Promise<boolean> {
    const [row] = await tx.$queryRaw<{ locked: boolean }[]>`
      SELECT pg_try_advisory_xact_lock(${EXPORT_LOCK_CLASS}::int, hashtext(${sinkId})) AS locked`;
    return row.locked;
  }

  /** The sink's cursor, created at seq 0 (the whole trail) the first time the sink is seen. */
  cursor(tx: Tx, sinkId: string): Promise<AuditExportCursor> {
    return tx.auditExportCursor.upsert({ where: { sink: sinkId }, create: { sink: sinkId }, update: {} });
  }

  async sealedAfter(tx: Tx, afterSeq: bigint, limit: number): Promise<SealedEvent[]> {
    const rows = await tx.auditEvent.findMany({ where: { seq: { gt: afterSeq } }, orderBy: { seq: 'asc' }, take: limit });
    return rows as SealedEvent[];
  }

  checkpointsIn(tx: Tx, afterSeq: bigint, upToSeq: bigint): Promise<AuditCheckpoint[]> {
    return tx.auditCheckpoint.findMany({ where: { seq: { gt: afterSeq, lte: upToSeq } }, orderBy: { seq: 'asc' } });
  }

  /** Advances the cursor; conditional on where it stood, so a second writer could never move it back. */
  async delivered(tx: Tx, sinkId: string, fromSeq: bigint, toSeq: bigint, at: Date): Promise<boolean> {
    const { count } = await tx.auditExportCursor.updateMany({
      where: { sink: sinkId, deliveredSeq: fromSeq },
      data: { deliveredSeq: toSeq, deliveredAt: at, failures: 0, retryAt: null },
    });
    return count === 1;
  }

  async failed(tx: Tx, sinkId: string, failure: { failures: number; retryAt: Date; error: string; at: Date }): Promise<void> {
    await tx.auditExportCursor.update({
      where: { sink: sinkId },
      data: { failures: failure.failures, retryAt: failure.retryAt, lastError: failure.error, lastErrorAt: failure.at },
    });
  }

  /** What each grant gives (its columns may be narrower than the request's). */
  async grantScopes(tx: Tx, ids: string[]): Promise<Map<string, Scope>> {
    if (ids.length === 0) return new Map();
    const rows = await tx.grant.findMany({ where: { id: { in: ids } }, select: { id: true, resource: true, actions: true, columns: true } });
    return new Map(rows.map(({ id, ...scope }) => [id, scope]));
  }

  async requestScopes(tx: Tx, ids: string[]): Promise<Map<string, Scope>> {
    if (ids.length === 0) return new Map();
    const rows = await tx.accessRequest.findMany({
      where: { id: { in: ids } },
      select: { id: true, resource: true, actions: true, columns: true },
    });
    return new Map(rows.map(({ id, ...scope }) => [id, scope]));
  }

  /** Every sink's cursor and the head of the sealed trail, for the lag metric. */
  async positions(db: Tx): Promise<{ head: bigint; cursors: AuditExportCursor[] }> {
    const head = await db.auditEvent.findFirst({ where: { seq: { not: null } }, orderBy: { seq: 'desc' }, select: { seq: true } });
    return { head: head?.seq ?? 0n, cursors: await db.auditExportCursor.findMany() };
  }
}
