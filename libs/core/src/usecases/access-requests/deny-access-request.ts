import { Injectable } from '@nestjs/common';
import { AccessError, AccessErrorCode, requestTransition } from '@gatehouse/domain';
import { Database } from '../../db/database';
import { AccessRequestsRepository } from '../../db/access-requests.repository';
import { AuditEventsRepository } from '../../db/audit-events.repository';
import { AccessRequestView } from '../access-request.view';
import { Decider, DecisionBy, relayOf } from './decider';
import { RequestEffects } from './request-effects';

/** One eligible person's deny denies the request. Denying twice is fine. */
@Injectable()
export class DenyAccessRequest {
  constructor(
    private readonly db: Database,
    private readonly requests: AccessRequestsRepository,
    private readonly audit: AuditEventsRepository,
    private readonly decider: Decider,
    private readonly effects: RequestEffects,
  ) {}

  async execute(input: { requestId: string; by: DecisionBy; comment?: string; now: Date }): Promise<{ view: AccessRequestView; changed: boolean }> {
    let changed: boolean;
    try {
      changed = await this.db.transaction(async (tx) => {
        const request = await this.requests.findForDecision(tx, input.requestId);
        if (!request) throw new AccessError(AccessErrorCode.REQUEST_NOT_FOUND, `No access request ${input.requestId}.`);
        if (requestTransition(request.status, 'denied') === 'noop') return false;
        const { key } = await this.decider.authorize(tx, request, input.by, 'deny');
        if ((await this.requests.decide(tx, request.id, 'denied', key, input.now, input.comment)) === 0) return false;
        await this.audit.append(tx, [
          {
            type: 'request.denied',
            actor: key,
            sourceIp: input.by.sourceIp,
            requestId: request.id,
            agentId: request.agentId,
            data: { ...relayOf(input.by), comment: input.comment ?? null },
          },
        ]);
        return true;
      });
    } catch (error) {
      await this.decider.recordRefusal(input.requestId, input.by, 'deny', error);
      throw error;
    }
    const view = await this.effects.view(input.requestId, input.now);
    if (changed) await this.effects.changed(input.requestId, 'denied', view);
    return { view, changed };
  }
}
