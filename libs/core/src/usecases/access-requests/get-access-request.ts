import { Injectable } from '@nestjs/common';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { Database } from '../../db/database';
import { AccessRequestsRepository } from '../../db/access-requests.repository';
import { RequestEvents } from '../../events/request-events';
import { AccessRequestView } from '../access-request.view';
import { RequestEffects } from './request-effects';

/** An agent reads its own request, optionally holding up to `waitSeconds` for a decision. */
@Injectable()
export class GetAccessRequest {
  constructor(
    private readonly db: Database,
    private readonly requests: AccessRequestsRepository,
    private readonly events: RequestEvents,
    private readonly effects: RequestEffects,
  ) {}

  async execute(input: { agentId: string; requestId: string; waitSeconds: number }): Promise<AccessRequestView> {
    const row = await this.requests.findById(this.db.client, input.requestId);
    // Another agent's request is indistinguishable from a missing one.
    if (!row || row.agentId !== input.agentId) {
      throw new AccessError(AccessErrorCode.REQUEST_NOT_FOUND, `No access request ${input.requestId} for this agent.`);
    }
    if (row.status === 'pending' && input.waitSeconds > 0) {
      const decided = async () => (await this.requests.findById(this.db.client, row.id))?.status !== 'pending';
      await this.events.waitForChange(row.id, input.waitSeconds * 1000, decided);
    }
    return this.effects.view(row.id);
  }
}
