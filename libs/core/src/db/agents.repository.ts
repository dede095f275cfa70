import { Injectable } from '@nestjs/common';
import type { Agent } from '@gatehouse/prisma';
import { Tx } from './prisma.service';

export type AgentRow = Agent;

/** Agents: registered identities with a public key. */
@Injectable()
export class AgentsRepository {
  findById(db: Tx, id: string): Promise<AgentRow | null> {
    return db.agent.findUnique({ where: { id } });
  }

  list(db: Tx, page: { limit: number; after?: string }): Promise<AgentRow[]> {
    return db.agent.findMany({
      where: page.after ? { id: { gt: page.after } } : {},
      orderBy: { id: 'asc' },
      take: page.limit,
    });
  }

  create(db: Tx, agent: { id: string; name: string; owner?: string | null; attributes: object; publicJwk: object; keyId: string }): Promise<AgentRow> {
    return db.agent.create({ data: agent });
  }

  /** Conditional: changes nothing (and returns 0) when the agent already has `status`. */
  async setStatus(db: Tx, id: string, status: 'active' | 'suspended', at: Date): Promise<number> {
    const { count } = await db.agent.updateMany({
      where: { id, status: { not: status } },
      data: { status, suspendedAt: status === 'suspended' ? at : null },
    });
    return count;
  }

  replaceKey(db: Tx, id: string, publicJwk: object, keyId: string): Promise<AgentRow> {
    return db.agent.update({ where: { id }, data: { publicJwk, keyId } });
  }
}
