import { Injectable } from '@nestjs/common';
import { Database } from '../../db/database';
import { GrantsRepository } from '../../db/grants.repository';
import { AuditEventsRepository } from '../../db/audit-events.repository';
import { RequestEffects } from '../access-requests/request-effects';

/**
 * Marks a grant past its expiry as expired. The conditional write makes a duplicate job, or two
 * workers racing on one grant, change nothing the second time.
 */
@Injectable()
export class ExpireGrant {
  constructor(
    private readonly db: Database,
    private readonly grants: GrantsRepository,
    private readonly audit: AuditEventsRepository,
    private readonly effects: RequestEffects,
  ) {}

  /** 'not_due' means the job ran early (clock drift): the caller schedules it again. */
  async execute(input: { grantId: string; now: Date }): Promise<'expired' | 'unchanged' | 'not_due'> {
    const result = await this.db.transaction(async (tx) => {
      if ((await this.grants.end(tx, input.grantId, 'expired', 'system', input.now)) === 1) {
        const row = (await this.grants.findById(tx, input.grantId))!;
        await this.audit.append(tx, [{ type: 'grant.expired', actor: 'system', requestId: row.requestId, grantId: row.id, agentId: row.agentId, data: { expiresAt: row.expiresAt.toISOString() } }]);
        return { outcome: 'expired' as const, requestId: row.requestId };
      }
      const row = await this.grants.findById(tx, input.grantId);
      return { outcome: row?.status === 'active' ? ('not_due' as const) : ('unchanged' as const), requestId: row?.requestId };
    });
    if (result.outcome === 'expired') await this.effects.changed(result.requestId!, 'expired');
    return result.outcome;
  }
}
