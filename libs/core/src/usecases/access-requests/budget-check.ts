import { Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import { Budget, BudgetCheck as Reading, budgetsThatCanChange, decideWithBudgets, labelsAtLeast, usageNeeds } from '@gatehouse/domain';
import { BudgetsRepository } from '../../db/budgets.repository';
import { RequestPlan, STATUS_OF } from './prepare-request';

/**
 * Applies the policy's budgets to a planned request: counts the agent's usage and makes the
 * decision stricter where a budget is over. A submit does it inside its transaction after taking
 * the agent's budget lock (see SubmitAccessRequest); a dry run does it without the lock.
 */
@Injectable()
export class BudgetCheck {
  constructor(private readonly budgets: BudgetsRepository) {}

  /** The budgets a submit must count under the lock: those that select it and could change its decision. */
  toEnforce(plan: RequestPlan): Budget[] {
    return plan.budgets.length === 0 ? [] : budgetsThatCanChange(plan.budgets, plan.decision);
  }

  /** Takes the agent's budget lock until the end of the transaction on `client`. */
  lock(client: PoolClient, agentId: string): Promise<void> {
    return this.budgets.lockAgent(client, agentId);
  }

  /** The plan with `budgets` counted and applied, and how the request stands against each of them. */
  async apply(
    db: Pool | PoolClient,
    agentId: string,
    plan: RequestPlan,
    budgets: Budget[],
    now: Date,
  ): Promise<{ plan: RequestPlan; readings: Reading[] }> {
    if (budgets.length === 0) return { plan, readings: [] };
    const { policy, scope, durationSeconds } = plan.prepared;
    const needs = usageNeeds(budgets);
    const usage = await this.budgets.usage(db, agentId, now, {
      liveGrants: needs.liveGrants,
      requestsLastHour: needs.requestsLastHour,
      grantedTime: needs.grantedTimeAtLeast.map((atLeast) => ({ atLeast, labels: labelsAtLeast(policy, atLeast) })),
    });
    const { decision, checks } = decideWithBudgets(policy, plan.decision, budgets, usage, {
      resource: scope.resource.id,
      requestedSeconds: durationSeconds,
    });
    return { plan: { ...plan, decision, status: STATUS_OF[decision.outcome] }, readings: checks };
  }
}
