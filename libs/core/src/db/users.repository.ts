import { Injectable } from '@nestjs/common';
import type { User } from '@gatehouse/prisma';
import { Tx } from './prisma.service';

export type UserRow = User;

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

  list(db: Tx, page: { limit: number; after?: string; group?: string }): Promise<UserRow[]> {
    return db.user.findMany({
      where: { ...(page.after ? { id: { gt: page.after } } : {}), ...(page.group ? { groups: { has: page.group } } : {}) },
      orderBy: { id: 'asc' },
      take: page.limit,
    });
  }
}
