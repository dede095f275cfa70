import { Injectable, Logger } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { Prisma } from '@gatehouse/prisma';
import { Config, ConfigError } from '../../config/config';
import { Database } from '../../db/database';
import { UserRow, UsersRepository } from '../../db/users.repository';
import { AuditEventsRepository } from '../../db/audit-events.repository';
import { parseInput, refuseUnstorableText, userBody, userId } from '../../validation';
import { Origin, actorName } from '../actor';

/** A user as the API shows it. */
export interface UserView {
  id: string;
  email: string;
  displayName: string;
  slackUserId: string | null;
  groups: string[];
}

export const userView = (u: UserRow): UserView => ({
  id: u.id,
  email: u.email,
  displayName: u.displayName,
  slackUserId: u.slackUserId,
  groups: u.groups,
});

/** Creates or replaces a user (PUT semantics). */
@Injectable()
export class UpsertUser {
  constructor(
    private readonly db: Database,
    private readonly users: UsersRepository,
    private readonly audit: AuditEventsRepository,
  ) {}

  async execute(input: { id: string; user: z.infer<typeof userBody>; origin: Origin }): Promise<UserView> {
    try {
      return await this.db.transaction(async (tx) => {
        const row = await this.users.upsert(tx, { id: input.id, ...input.user, groups: [...new Set(input.user.groups)] });
        await this.audit.append(tx, [
          {
            type: 'user.upserted',
            actor: actorName(input.origin.actor),
            sourceIp: input.origin.sourceIp,
            data: userView(row) as unknown as Record<string, unknown>,
          },
        ]);
        return userView(row);
      });
    } catch (error) {
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
        throw new AccessError(AccessErrorCode.USER_CONFLICT, 'Another user already has this email or Slack user id.');
      }
      throw error;
    }
  }
}

const directorySchema = z.object({ users: z.array(userBody.extend({ id: userId }).strict()).max(100_000) }).strict();

/** Reads and validates a directory file; a bad one is a ConfigError naming the variable and the field. */
export function readDirectoryFile(file: string): z.infer<typeof directorySchema>['users'] {
  try {
    const data: unknown = parse(readFileSync(file, 'utf8'));
    // A display name with a NUL (YAML's "\0") would otherwise fail the start at the first upsert.
    refuseUnstorableText(data, `directory file ${file}`);
    return parseInput(directorySchema, data, `directory file ${file}`).users;
  } catch (error) {
    throw new ConfigError(`GATEHOUSE_DIRECTORY_FILE: ${(error as Error).message}`);
  }
}

/** Loads GATEHOUSE_DIRECTORY_FILE at start: the same fields as PUT /v1/admin/users/{id}. */
@Injectable()
export class LoadDirectory {
  private readonly logger = new Logger(LoadDirectory.name);

  constructor(
    private readonly config: Config,
    private readonly upsert: UpsertUser,
  ) {}

  async execute(): Promise<number> {
    const file = this.config.directoryFile;
    if (!file) return 0;
    const users = readDirectoryFile(file);
    for (const { id, ...user } of users) await this.upsert.execute({ id, user, origin: { actor: { kind: 'system' } } });
    this.logger.log(`Loaded ${users.length} user(s) from ${file}`);
    return users.length;
  }
}
