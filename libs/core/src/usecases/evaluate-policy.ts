import { Injectable } from '@nestjs/common';
import { AccessError, AccessErrorCode, BudgetStanding as BudgetReading, Decision, formatDuration, parseDuration } from '@gatehouse/domain';
import { Database } from '../db/database';
import { AgentsRepository } from '../db/agents.repository';
import { AccessRequestBody } from '../validation';
import { storedDecision } from './access-request.view';
import { RequestPreparer } from './access-requests/prepare-request';
import { BudgetCheck } from './access-requests/budget-check';

/** A decision as the dry run shows it: what the request's `decision` would say, and what it grants. */
function shown(decision: Decision) {
  const { sensitivity, durationSeconds, ...rest } = storedDecision(decision);
  return { decision: rest, sensitivity, duration: formatDuration(durationSeconds) };
}

/** A selected budget as the dry run shows it: its effect, whether the request is over, and each limit with the request counted in. */
function budgetShown({ budget, readings, over }: BudgetReading) {
  return {
    id: budget.id,
    effect: budget.effect,
    over,
    limits: readings.map(({ limit, used, max, over: exceeded }) =>
      limit === 'grantedTimePerDay'
        ? { limit, used: formatDuration(used), max: formatDuration(max), over: exceeded }
        : { limit, used, max, over: exceeded },
    ),
  };
}

/** How long a chain has run: a duration, or zero ("0s"). */
function usedSeconds(text: string): number {
  if (/^0+[smh]?$/i.test(text.trim())) return 0;
  try {
    return parseDuration(text);
  } catch (error) {
    if (!(error instanceof AccessError)) throw error;
    throw new AccessError(AccessErrorCode.VALIDATION_FAILED, `extends.used: ${error.message}`, [{ path: 'extends.used', message: error.message }]);
  }
}

/**
 * A dry run for a request as if `agentId` sent it, nothing stored. It goes through the very plan a
 * submit goes through, so it answers what a submit would: the same status and decision, or the
 * same refusal (the same error code). When the named user would be asked first, `ifAllowed` says
 * what the policy would decide once they allow it.
 */
@Injectable()
export class EvaluatePolicy {
  constructor(
    private readonly db: Database,
    private readonly agents: AgentsRepository,
    private readonly preparer: RequestPreparer,
    private readonly budgetCheck: BudgetCheck,
  ) {}

  async execute(input: { body: AccessRequestBody; agentId: string; sourceIp?: string | null; now: Date; extendsUsed?: string }) {
    const agent = await this.agents.findById(this.db.client, input.agentId);
    if (!agent) throw new AccessError(AccessErrorCode.AGENT_NOT_FOUND, `No agent ${input.agentId}.`);
    const extension = input.extendsUsed === undefined ? null : { usedSeconds: usedSeconds(input.extendsUsed) };
    const planned = await this.preparer.plan(agent, input.body, input.sourceIp, input.now, { extension });
    // Every budget that selects the request is counted, so the answer shows where the agent stands
    // even when no budget can change this decision; only those that can, change it (as in a submit).
    const { plan, readings } = await this.budgetCheck.apply(this.db.pool, agent.id, planned, planned.budgets, input.now);
    const { prepared, decision } = plan;
    const approval =
      plan.status !== 'pending'
        ? undefined
        : plan.askConsent
          ? { kind: 'consent' as const, approvers: prepared.user!.id, required: 1 }
          : { kind: 'approvers' as const, approvers: decision.approval!.approvers, required: decision.approval!.required };
    return {
      status: plan.status,
      ...shown(decision),
      columns: prepared.scope.columns,
      ...(prepared.scope.operations.length > 0 && { operations: prepared.scope.operations }),
      actions: prepared.scope.actions,
      ...(approval ? { approval } : {}),
      delegation:
        prepared.user === null
          ? null
          : prepared.delegation
            ? { status: 'live' as const, id: prepared.delegation.id, source: prepared.delegation.source }
            : { status: 'missing' as const },
      ...(plan.ifAllowed ? { ifAllowed: shown(plan.ifAllowed) } : {}),
      ...(readings.length > 0 && { budgets: readings.map(budgetShown) }),
    };
  }
}
