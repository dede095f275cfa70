import { Injectable } from '@nestjs/common';
import type { AccessRequest, Approval, Prisma } from '@gatehouse/prisma';
import type { RequestStatus } from '@gatehouse/domain';
import { Tx } from './prisma.service';
import { afterCursor, Cursor } from './pagination';

export type AccessRequestRow = AccessRequest;
export type ApprovalRow = Approval;

/** Access requests and the approvals people gave them. */
@Injectable()
export class AccessRequestsRepository {
  findById(db: Tx, id: string): Promise<AccessRequestRow | null> {
    return db.accessRequest.findUnique({ where: { id } });
  }

  findByIdempotencyKey(db: Tx, agentId: string, idempotencyKey: string): Promise<AccessRequestRow | null> {
    return db.accessRequest.findUnique({ where: { agentId_idempotencyKey: { agentId, idempotencyKey } } });
  }

  /** Reads a request and locks its row until commit, so decisions on one request run one at a time. */
  async findForDecision(db: Tx, id: string): Promise<AccessRequestRow | null> {
    await db.$queryRaw`SELECT 1 FROM access_requests WHERE id = ${id}::uuid FOR UPDATE`;
    return db.accessRequest.findUnique({ where: { id } });
  }

  create(db: Tx, row: Prisma.AccessRequestUncheckedCreateInput): Promise<AccessRequestRow> {
    return db.accessRequest.create({ data: row });
  }

  /** Conditional transition out of `pending`; returns 0 when someone else decided first. */
  async decide(db: Tx, id: string, to: Exclude<RequestStatus, 'pending'>, by: string, at: Date, comment?: string | null, onlyIfDueBy?: Date): Promise<number> {
    const { count } = await db.accessRequest.updateMany({
      where: { id, status: 'pending', ...(onlyIfDueBy ? { approvalExpiresAt: { lte: onlyIfDueBy } } : {}) },
      data: { status: to, decidedAt: at, decidedBy: by, decisionComment: comment ?? null },
    });
    return count;
  }

  listForAdmin(db: Tx, filter: { status?: string; agentId?: string; resource?: string; after?: Cursor; limit: number }): Promise<AccessRequestRow[]> {
    return db.accessRequest.findMany({
      where: {
        ...(filter.status ? { status: filter.status } : {}),
        ...(filter.agentId ? { agentId: filter.agentId } : {}),
        ...(filter.resource ? { resource: filter.resource } : {}),
        ...afterCursor(filter.after),
      },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
      take: filter.limit,
    });
  }

  findPendingPastTimeout(db: Tx, now: Date, limit: number): Promise<Pick<AccessRequestRow, 'id'>[]> {
    return db.accessRequest.findMany({
      where: { status: 'pending', approvalExpiresAt: { lte: now } },
      select: { id: true },
      take: limit,
    });
  }

  findPendingForAgent(db: Tx, agentId: string): Promise<Pick<AccessRequestRow, 'id'>[]> {
    return db.accessRequest.findMany({ where: { agentId, status: 'pending' }, select: { id: true } });
  }

  /** Idempotent: a second approval by the same person is ignored. Returns whether it was new. */
  async addApproval(db: Tx, approval: { id: string; requestId: string; approver: string; columns: string[]; durationSeconds: number | null; comment?: string | null }): Promise<boolean> {
    const { count } = await db.approval.createMany({ data: [approval], skipDuplicates: true });
    return count === 1;
  }

  /** Approval counts of many requests in one query (list pages). */
  async countApprovals(db: Tx, requestIds: string[]): Promise<Map<string, number>> {
    const rows = await db.approval.groupBy({ by: ['requestId'], where: { requestId: { in: requestIds } }, _count: { _all: true } });
    return new Map(rows.map((r) => [r.requestId, r._count._all]));
  }

  listApprovals(db: Tx, requestId: string): Promise<ApprovalRow[]> {
    return db.approval.findMany({ where: { requestId }, orderBy: { createdAt: 'asc' } });
  }
}
