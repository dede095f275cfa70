import { Injectable } from '@nestjs/common';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { Database, Decider, UsersRepository } from '@gatehouse/core';

/** Who clicked: the directory user behind a Slack user id, through the stored link only. */
@Injectable()
export class SlackUsers {
  constructor(
    private readonly db: Database,
    private readonly users: UsersRepository,
    private readonly decider: Decider,
  ) {}

  /**
   * Never by name or email: anything but exactly one user linked to `slackUserId` is refused with
   * USER_NOT_FOUND, and the attempt is audited on the request.
   */
  async identify(slackUserId: string, requestId: string, action: string): Promise<string> {
    const matches = await this.users.findBySlackUserId(this.db.client, slackUserId);
    if (matches.length === 1) return matches[0].id;
    const error = new AccessError(
      AccessErrorCode.USER_NOT_FOUND,
      `Slack user ${slackUserId} is not linked to a Gatehouse user; an admin sets slackUserId with PUT /v1/admin/users/{id}.`,
    );
    await this.decider.recordRefusal(requestId, { actor: { kind: 'slack', userId: slackUserId } }, action, error);
    throw error;
  }
}
