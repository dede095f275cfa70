import { Injectable } from '@nestjs/common';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { Config } from '../../config/config';
import { Database } from '../../db/database';
import { AccessRequestsRepository } from '../../db/access-requests.repository';
import { RequestEvents, WaitSlots } from '../../events/request-events';
import { AccessRequestView } from '../access-request.view';
import { RequestEffects } from './request-effects';

/** Refusal of a long-poll past GATEHOUSE_MAX_WAITS_PER_AGENT; the edge turns `retryAfterSeconds` into Retry-After. */
export class TooManyWaits extends AccessError {
  constructor(
    max: number,
    readonly retryAfterSeconds: number,
  ) {
    super(
      AccessErrorCode.RATE_LIMITED,
      `This agent already holds ${max} long-polls (?wait=N) on this broker, the most it may. Wait on fewer requests at once, ` +
        `or read without ?wait; a slot frees within ${retryAfterSeconds}s.`,
    );
  }
}

/** An agent reads its own request, optionally holding up to `waitSeconds` for a decision. */
@Injectable()
export class GetAccessRequest {
  // Per process: each replica bounds the connections and subscriptions it holds itself.
  private readonly slots: WaitSlots;

  constructor(
    private readonly config: Config,
    private readonly db: Database,
    private readonly requests: AccessRequestsRepository,
    private readonly events: RequestEvents,
    private readonly effects: RequestEffects,
  ) {
    this.slots = new WaitSlots(config.maxWaitsPerAgent);
  }

  /** `signal` aborts a hold early (the client hung up). */
  async execute(input: { agentId: string; requestId: string; waitSeconds: number; signal?: AbortSignal }): Promise<AccessRequestView> {
    const row = await this.requests.findById(this.db.client, input.requestId);
    // Another agent's request is indistinguishable from a missing one.
    if (!row || row.agentId !== input.agentId) {
      throw new AccessError(AccessErrorCode.REQUEST_NOT_FOUND, `No access request ${input.requestId} for this agent.`);
    }
    // Only a hold takes a slot: reading a decided request, or reading without ?wait, is never refused.
    if (row.status === 'pending' && input.waitSeconds > 0) {
      const now = Date.now();
      const slot = this.slots.take(input.agentId, now, now + input.waitSeconds * 1000);
      if ('retryAfterSeconds' in slot) throw new TooManyWaits(this.config.maxWaitsPerAgent, slot.retryAfterSeconds);
      try {
        const decided = async () => (await this.requests.findById(this.db.client, row.id))?.status !== 'pending';
        await this.events.waitForChange(row.id, input.waitSeconds * 1000, decided, input.signal);
      } finally {
        slot.release();
      }
    }
    return this.effects.view(row.id);
  }
}
