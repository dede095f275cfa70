import { Injectable } from '@nestjs/common';
import type { Delegation } from '@gatehouse/prisma';
import type { DelegationSource } from '@gatehouse/domain';
import { Tx } from './prisma.service';

/** A delegation row with its source typed. */
export type DelegationRow = Omit<Delegation, 'source'> & { source: DelegationSource };

const typed = (row: Delegation): DelegationRow => ({ ...row, source: row.source as DelegationSource });

/** Delegations: which agent may act for which user, on what, until when. */
@Injectable()
export class DelegationsRepository {
  /** Serializes writes to one (agent, user) pair until commit, so two replacements cannot both stay live. */
  async lockPair(db: Tx, agentId: string, userId: string): Promise<void> {
    await db.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`delegation:${agentId}:${userId}`}, 0))`;
  }

  async findById(db: Tx, id: string): Promise<DelegationRow | null> {
    const row = await db.delegation.findUnique({ where: { id } });
    return row ? typed(row) : null;
  }

  async insert(
    db: Tx,
    row: Pick<DelegationRow, 'id' | 'agentId' | 'userId' | 'resources' | 'expiresAt' | 'source' | 'createdBy' | 'requestId' | 'createdAt'>,
  ): Promise<DelegationRow> {
    return typed(await db.delegation.create({ data: row }));
  }

  /** Ends the pair's delegations not ended yet (only those of `source` when given); returns them. */
  async endOpen(db: Tx, agentId: string, userId: string, by: string, at: Date, source?: DelegationSource): Promise<DelegationRow[]> {
    const open = await db.delegation.findMany({ where: { agentId, userId, endedAt: null, ...(source ? { source } : {}) } });
    if (open.length === 0) return [];
    await db.delegation.updateMany({ where: { id: { in: open.map((d) => d.id) }, endedAt: null }, data: { endedAt: at, endedBy: by } });
    return open.map(typed);
  }

  /** An agent's delegations, newest first; `live` keeps those neither ended nor past their end. */
  async listForAgent(db: Tx, agentId: string, filter: { live: boolean; now: Date }): Promise<DelegationRow[]> {
    const rows = await db.delegation.findMany({
      where: { agentId, ...(filter.live ? { endedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: filter.now } }] } : {}) },
      orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
      take: 1000,
    });
    return rows.map(typed);
  }
}
