import { Injectable } from '@nestjs/common';
import type { User } from '@gatehouse/prisma';
import type { DelegationFacts } from '@gatehouse/domain';
import { Tx } from './prisma.service';

export type UserRow = User;

/** A user an agent names, with the agent's live delegations from that user. */
export interface NamedUser {
  user: Pick<UserRow, 'id' | 'email' | 'displayName' | 'slackUserId' | 'groups'>;
  delegations: DelegationFacts[];
}

/** Humans: who agents act for and who approves. */
@Injectable()
export class UsersRepository {
  upsert(db: Tx, user: { id: string; email: string; displayName: string; slackUserId?: string | null; groups: string[] }): Promise<UserRow> {
    const data = { email: user.email, displayName: user.displayName, slackUserId: user.slackUserId ?? null, groups: user.groups };
    return db.user.upsert({ where: { id: user.id }, create: { id: user.id, ...data }, update: data });
  }

  findById(db: Tx, id: string): Promise<UserRow | null> {
    return db.user.findUnique({ where: { id } });
  }

  /** An agent names its user by id or by email. */
  findByIdOrEmail(db: Tx, idOrEmail: string): Promise<UserRow | null> {
    return db.user.findFirst({ where: { OR: [{ id: idOrEmail }, { email: idOrEmail }] } });
  }

  /**
   * The user an agent names (by id, else by email) and that agent's live delegations from them, in
   * one round trip: this runs on every submit that names a user.
   */
  async findNamedWithDelegations(db: Tx, idOrEmail: string, agentId: string, now: Date): Promise<NamedUser | null> {
    const rows = await db.$queryRaw<
      (NamedUser['user'] & { delegations: { id: string; resources: string[]; expiresAt: string | null; source: 'admin' | 'consent' }[] })[]
    >`
      SELECT u.id, u.email, u.display_name AS "displayName", u.slack_user_id AS "slackUserId", u.groups,
             COALESCE(json_agg(json_build_object('id', d.id, 'resources', d.resources, 'expiresAt', d.expires_at, 'source', d.source))
                      FILTER (WHERE d.id IS NOT NULL), '[]'::json) AS delegations
        FROM users u
        LEFT JOIN delegations d
          ON d.user_id = u.id AND d.agent_id = ${agentId}::uuid AND d.ended_at IS NULL AND (d.expires_at IS NULL OR d.expires_at > ${now})
       WHERE u.id = ${idOrEmail} OR u.email = ${idOrEmail}
       GROUP BY u.id
       ORDER BY (u.id = ${idOrEmail}) DESC
       LIMIT 1`;
    const [row] = rows;
    if (!row) return null;
    const { delegations, ...user } = row;
    return { user, delegations: delegations.map((d) => ({ ...d, expiresAt: d.expiresAt ? new Date(d.expiresAt) : null })) };
  }

  /**
   * The directory users linked to a Slack user id (slack_user_id is unique, so at most one unless
   * the schema changes); callers refuse anything but exactly one. Never matched by name or email.
   */
  findBySlackUserId(db: Tx, slackUserId: string): Promise<UserRow[]> {
    return db.user.findMany({ where: { slackUserId }, take: 2 });
  }

  /** Members of any of `groups` who have a Slack user id, to mention them. */
  findSlackLinkedInGroups(db: Tx, groups: string[]): Promise<Pick<UserRow, 'id' | 'slackUserId' | 'groups'>[]> {
    return db.user.findMany({
      where: { groups: { hasSome: groups }, slackUserId: { not: null } },
      select: { id: true, slackUserId: true, groups: true },
      orderBy: { id: 'asc' },
      take: 50,
    });
  }

  /** Users by id, e.g. the approvers of a request, to show who decided. */
  findByIds(db: Tx, ids: string[]): Promise<UserRow[]> {
    return db.user.findMany({ where: { id: { in: ids } } });
  }

  list(db: Tx, page: { limit: number; after?: string; group?: string }): Promise<UserRow[]> {
    return db.user.findMany({
      where: { ...(page.after ? { id: { gt: page.after } } : {}), ...(page.group ? { groups: { has: page.group } } : {}) },
      orderBy: { id: 'asc' },
      take: page.limit,
    });
  }
}
