import { Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import type { Agent } from '@gatehouse/prisma';
import { Tx } from './prisma.service';

export type AgentRow = Agent;

/** Agents: registered identities with a public key. */
@Injectable()
export class AgentsRepository {
  findById(db: Tx, id: string): Promise<AgentRow | null> {
    return db.agent.findUnique({ where: { id } });
  }

  /**
   * The authentication lookup (on a miss of the authenticator's cache): a prepared statement on the
   * pool, because Prisma's query compiler costs several times the database's own time here.
   */
  async findForAuthentication(pool: Pool, id: string): Promise<AgentRow | null> {
    const { rows } = await pool.query<AgentRow>({
      name: 'gatehouse_agent_for_authentication',
      text: `SELECT id::text AS id, name, owner, attributes, public_jwk AS "publicJwk", key_id AS "keyId", status,
                    created_at AS "createdAt", updated_at AS "updatedAt", suspended_at AS "suspendedAt"
               FROM agents WHERE id = $1::uuid`,
      values: [id],
    });
    return rows[0] ?? null;
  }

  /** Names of many agents in one query (list pages). */
  namesOf(db: Tx, ids: string[]): Promise<Pick<AgentRow, 'id' | 'name'>[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return db.agent.findMany({ where: { id: { in: ids } }, select: { id: true, name: true } });
  }

  list(db: Tx, page: { limit: number; after?: string }): Promise<AgentRow[]> {
    return db.agent.findMany({
      where: page.after ? { id: { gt: page.after } } : {},
      orderBy: { id: 'asc' },
      take: page.limit,
    });
  }

  create(
    db: Tx,
    agent: { id: string; name: string; owner?: string | null; attributes: object; publicJwk: object; keyId: string },
  ): Promise<AgentRow> {
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
