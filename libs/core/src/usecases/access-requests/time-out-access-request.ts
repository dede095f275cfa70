import { Injectable } from '@nestjs/common';
import { Database } from '../../db/database';
import { AccessRequestsRepository } from '../../db/access-requests.repository';
import { AuditEventsRepository } from '../../db/audit-events.repository';
import { RequestEffects } from './request-effects';

/** A pending request past its approval timeout becomes `timed_out`; running twice changes nothing. */
@Injectable()
export class TimeOutAccessRequest {
  constructor(
    private readonly db: Database,
    private readonly requests: AccessRequestsRepository,
    private readonly audit: AuditEventsRepository,
    private readonly effects: RequestEffects,
  ) {}

  /** Returns 'timed_out'; 'not_due' when it ran early (the caller schedules it again); 'unchanged' when decided already. */
  async execute(input: { requestId: string; now: Date }): Promise<'timed_out' | 'unchanged' | 'not_due'> {
    const outcome = await this.db.transaction(async (tx) => {
      if ((await this.requests.decide(tx, input.requestId, 'timed_out', 'system', input.now, null, input.now)) === 0) {
        const row = await this.requests.findById(tx, input.requestId);
        const early = row?.status === 'pending' && row.approvalExpiresAt !== null && row.approvalExpiresAt.getTime() > input.now.getTime();
        return early ? ('not_due' as const) : ('unchanged' as const);
      }
      const row = await this.requests.findById(tx, input.requestId);
      await this.audit.append(tx, [
        {
          type: 'request.timed_out',
          actor: 'system',
          requestId: input.requestId,
          agentId: row!.agentId,
          data: { approvalExpiresAt: row!.approvalExpiresAt?.toISOString() },
        },
      ]);
      return 'timed_out' as const;
    });
    if (outcome === 'timed_out') await this.effects.changed(input.requestId, 'timed_out');
    return outcome;
  }
}
