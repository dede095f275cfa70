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

  /** Returns 'timed_out', or 'unchanged' when decided already or not yet due. */
  async execute(input: { requestId: string; now: Date }): Promise<'timed_out' | 'unchanged'> {
    const changed = await this.db.transaction(async (tx) => {
      if ((await this.requests.decide(tx, input.requestId, 'timed_out', 'system', input.now, null, input.now)) === 0) return false;
      const row = await this.requests.findById(tx, input.requestId);
      await this.audit.append(tx, [{ type: 'request.timed_out', actor: 'system', requestId: input.requestId, agentId: row!.agentId, data: { approvalExpiresAt: row!.approvalExpiresAt?.toISOString() } }]);
      return true;
    });
    if (changed) await this.effects.changed(input.requestId, 'timed_out');
    return changed ? 'timed_out' : 'unchanged';
  }
}
