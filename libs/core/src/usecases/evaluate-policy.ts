import { Injectable } from '@nestjs/common';
import { AccessError, AccessErrorCode, evaluatePolicy, formatDuration, parseDuration, resolveScope } from '@gatehouse/domain';
import { Database } from '../db/database';
import { AgentsRepository } from '../db/agents.repository';
import { UsersRepository } from '../db/users.repository';
import { PolicyStore } from '../policy/policy.store';
import { AccessRequestBody } from '../validation';

/** A dry run of the policy for a request as if `agentId` sent it: the decision, nothing stored. */
@Injectable()
export class EvaluatePolicy {
  constructor(
    private readonly db: Database,
    private readonly policy: PolicyStore,
    private readonly agents: AgentsRepository,
    private readonly users: UsersRepository,
  ) {}

  async execute(input: { body: AccessRequestBody; agentId: string; sourceIp?: string | null; now: Date }) {
    const agent = await this.agents.findById(this.db.client, input.agentId);
    if (!agent) throw new AccessError(AccessErrorCode.AGENT_NOT_FOUND, `No agent ${input.agentId}.`);
    const policy = this.policy.current();
    const scope = resolveScope(policy, input.body);
    const user = input.body.onBehalfOf ? await this.users.findByIdOrEmail(this.db.client, input.body.onBehalfOf) : null;
    if (input.body.onBehalfOf && !user) throw new AccessError(AccessErrorCode.UNKNOWN_USER, `onBehalfOf "${input.body.onBehalfOf}" is not a known user.`);
    const decision = evaluatePolicy(policy, {
      agent: { id: agent.id, name: agent.name, attributes: agent.attributes as Record<string, unknown> },
      resource: input.body.resource, actions: scope.actions, columns: scope.columns, durationSeconds: parseDuration(input.body.duration),
      onBehalfOf: user ? { id: user.id, email: user.email, groups: user.groups } : null, sourceIp: input.sourceIp, now: input.now,
    });
    return { decision, duration: formatDuration(decision.durationSeconds), columns: scope.columns, actions: scope.actions };
  }
}
