import { Injectable } from '@nestjs/common';
import { AccessError, AccessErrorCode, formatDuration } from '@gatehouse/domain';
import { Database } from '../db/database';
import { AgentsRepository } from '../db/agents.repository';
import { AccessRequestBody } from '../validation';
import { RequestPreparer } from './access-requests/prepare-request';

/**
 * A dry run of the policy for a request as if `agentId` sent it: the decision, nothing stored.
 * It prepares the request exactly as a submit does; `delegation` says whether the named user is
 * proven (the decision assumes they are) or would first be asked for consent.
 */
@Injectable()
export class EvaluatePolicy {
  constructor(
    private readonly db: Database,
    private readonly agents: AgentsRepository,
    private readonly preparer: RequestPreparer,
  ) {}

  async execute(input: { body: AccessRequestBody; agentId: string; sourceIp?: string | null; now: Date }) {
    const agent = await this.agents.findById(this.db.client, input.agentId);
    if (!agent) throw new AccessError(AccessErrorCode.AGENT_NOT_FOUND, `No agent ${input.agentId}.`);
    const prepared = await this.preparer.prepare(agent.id, input.body, input.now);
    const decision = this.preparer.decide(prepared, agent, input.sourceIp, input.now);
    const delegation = prepared.user === null ? null : prepared.delegation ? { status: 'live' as const, id: prepared.delegation.id, source: prepared.delegation.source } : { status: 'missing' as const };
    return { decision, duration: formatDuration(decision.durationSeconds), columns: prepared.scope.columns, actions: prepared.scope.actions, delegation };
  }
}
