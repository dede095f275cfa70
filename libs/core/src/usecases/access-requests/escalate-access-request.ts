import { Injectable } from '@nestjs/common';
import { Database } from '../../db/database';
import { AccessRequestsRepository } from '../../db/access-requests.repository';
import { AuditEventsRepository } from '../../db/audit-events.repository';
import { RequestEffects } from './request-effects';

/**
 * At escalateAt a pending request also goes to its escalation group, whose members may then
 * decide (Decider reads escalated_at). A conditional write with its audit event: running twice
 * changes nothing.
 */
@Injectable()
export class EscalateAccessRequest {
  constructor(
    private readonly db: Database,
    private readonly requests: AccessRequestsRepository,
    private readonly audit: AuditEventsRepository,
    private readonly effects: RequestEffects,
  ) {}

  /** 'not_due' means the job ran early: the caller schedules it again. */
  async execute(input: { requestId: string; now: Date }): Promise<'escalated' | 'unchanged' | 'not_due'> {
    const outcome = await this.db.transaction(async (tx) => {
      if ((await this.requests.markEscalated(tx, input.requestId, input.now)) === 0) {
        const row = await this.requests.findById(tx, input.requestId);
        const early =
          row?.status === 'pending' && !row.escalatedAt && row.escalateTo && row.escalateAt && row.escalateAt.getTime() > input.now.getTime();
        return early ? ('not_due' as const) : ('unchanged' as const);
      }
      const row = (await this.requests.findById(tx, input.requestId))!;
      await this.audit.append(tx, [
        {
          type: 'request.escalated',
          actor: 'system',
          requestId: row.id,
          agentId: row.agentId,
          data: { escalateTo: row.escalateTo, approvers: row.approverGroup },
        },
      ]);
      return 'escalated' as const;
    });
    if (outcome === 'escalated') await this.effects.changed(input.requestId, 'escalated');
    return outcome;
  }
}
