import { Injectable } from '@nestjs/common';
import { Database } from '../../db/database';
import { AccessRequestsRepository } from '../../db/access-requests.repository';
import { RequestEffects } from './request-effects';

/** A request still pending at its remindAt reminds its approvers (through the notifier: Slack or the log). */
@Injectable()
export class RemindApprovers {
  constructor(
    private readonly db: Database,
    private readonly requests: AccessRequestsRepository,
    private readonly effects: RequestEffects,
  ) {}

  /** 'not_due' means the job ran early: the caller schedules it again. */
  async execute(input: { requestId: string; now: Date }): Promise<'reminded' | 'unchanged' | 'not_due'> {
    const row = await this.requests.findById(this.db.client, input.requestId);
    if (!row || row.status !== 'pending' || !row.remindAt) return 'unchanged';
    if (row.remindAt.getTime() > input.now.getTime()) return 'not_due';
    await this.effects.notify(input.requestId, 'reminder');
    return 'reminded';
  }
}
