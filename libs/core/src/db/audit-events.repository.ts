import { Injectable } from '@nestjs/common';
import type { AuditEvent } from '@gatehouse/prisma';
import { Tx } from './prisma.service';

/** What happened, by whom, from where; appended in the transaction of the change it records. */
export interface AuditEntry {
  type: string;
  actor: string;
  sourceIp?: string | null;
  requestId?: string | null;
  grantId?: string | null;
  agentId?: string | null;
  data?: Record<string, unknown>;
}

export type AuditEventRow = AuditEvent;

/** Appends and pages the audit trail. Sealing (the hash chain) happens later, in the sealer. */
@Injectable()
export class AuditEventsRepository {
  async append(db: Tx, entries: AuditEntry[]): Promise<void> {
    await db.auditEvent.createMany({
      data: entries.map((e) => ({
        type: e.type,
        actor: e.actor,
        sourceIp: e.sourceIp ?? null,
        requestId: e.requestId ?? null,
        grantId: e.grantId ?? null,
        agentId: e.agentId ?? null,
        data: (e.data ?? {}) as object,
      })),
    });
  }

  listForRequest(db: Tx, requestId: string): Promise<AuditEventRow[]> {
    return db.auditEvent.findMany({ where: { requestId }, orderBy: { id: 'asc' } });
  }

  page(db: Tx, filter: { requestId?: string; agentId?: string; type?: string; after?: bigint; limit: number }): Promise<AuditEventRow[]> {
    return db.auditEvent.findMany({
      where: {
        ...(filter.requestId ? { requestId: filter.requestId } : {}),
        ...(filter.agentId ? { agentId: filter.agentId } : {}),
        ...(filter.type ? { type: filter.type } : {}),
        ...(filter.after !== undefined ? { id: { gt: filter.after } } : {}),
      },
      orderBy: { id: 'asc' },
      take: filter.limit,
    });
  }

  latestOfType(db: Tx, type: string): Promise<AuditEventRow | null> {
    return db.auditEvent.findFirst({ where: { type }, orderBy: { id: 'desc' } });
  }
}
