import { Injectable } from '@nestjs/common';
import { AccessError, AccessErrorCode, requestTransition } from '@gatehouse/domain';
import { Database } from '../../db/database';
import { AccessRequestsRepository } from '../../db/access-requests.repository';
import { AuditEventsRepository } from '../../db/audit-events.repository';
import { AccessRequestView } from '../access-request.view';
import { actorName } from '../actor';
import { RequestEffects } from './request-effects';

/** The agent withdraws its pending request. Cancelling twice is fine. */
@Injectable()
export class CancelAccessRequest {
  constructor(
    private readonly db: Database,
    private readonly requests: AccessRequestsRepository,
    private readonly audit: AuditEventsRepository,
    private readonly effects: RequestEffects,
  ) {}

  async execute(input: { agentId: string; requestId: string; sourceIp?: string | null; now: Date }): Promise<AccessRequestView> {
    const actor = actorName({ kind: 'agent', id: input.agentId });
    const changed = await this.db.transaction(async (tx) => {
      const row = await this.requests.findById(tx, input.requestId);
      if (!row || row.agentId !== input.agentId) {
        throw new AccessError(AccessErrorCode.REQUEST_NOT_FOUND, `No access request ${input.requestId} for this agent.`);
      }
      if (requestTransition(row.status, 'cancelled') === 'noop') return false;
      if ((await this.requests.decide(tx, row.id, 'cancelled', actor, input.now)) === 0) {
        const current = await this.requests.findById(tx, row.id);
        requestTransition(current!.status, 'cancelled');
        return false;
      }
      await this.audit.append(tx, [{ type: 'request.cancelled', actor, sourceIp: input.sourceIp, requestId: row.id, agentId: row.agentId }]);
      return true;
    });
    const view = await this.effects.view(input.requestId);
    if (changed) await this.effects.changed(input.requestId, 'cancelled', view);
    return view;
  }
}
