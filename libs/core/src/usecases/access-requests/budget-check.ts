import { Injectable } from '@nestjs/common';
import type { PoolClient } from 'pg';
import {
  Budget,
  BudgetStanding as Reading,
  Decision,
  Policy,
  budgetsThatCanChange,
  decideWithBudgets,
  labelsAtLeast,
  usageNeeds,
} from '@gatehouse/domain';
import { BudgetDb, BudgetsRepository } from '../../db/budgets.repository';
import { Tx } from '../../db/prisma.service';
import { RequestPlan, STATUS_OF } from './prepare-request';

/** What budgets limit of a request. */
export interface BudgetedRequest {
  policy: Policy;
  resource: string;
  requestedSeconds: number;
}

/** What a decision must not count: its own stored request, the grant it replaces. */
interface Exclusions {
  requestId?: string;
  grantId?: string;
}

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
  lock(client: PoolClient | Tx, agentId: string): Promise<void> {
    return this.budgets.lockAgent(client, agentId);
  }

  /** The plan with `budgets` counted and applied, and how the request stands against each of them. */
  async apply(db: BudgetDb, agentId: string, plan: RequestPlan, budgets: Budget[], now: Date): Promise<{ plan: RequestPlan; readings: Reading[] }> {
    const { policy, scope, durationSeconds } = plan.prepared;
    const { decision, readings } = await this.decide(
      db,
      agentId,
      { policy, resource: scope.resource.id, requestedSeconds: durationSeconds },
      plan.decision,
      budgets,
      now,
    );
    return { plan: decision === plan.decision ? plan : { ...plan, decision, status: STATUS_OF[decision.outcome] }, readings };
  }

  /**
   * For a decision made in a transaction of its own (after consent, an extension): the budgets
   * that could change it are counted and applied under the agent's lock, taken only then.
   */
  async enforce(
    tx: Tx,
    agentId: string,
    request: BudgetedRequest,
    decision: Decision,
    budgets: Budget[],
    now: Date,
    exclude: Exclusions = {},
  ): Promise<Decision> {
    const enforced = budgetsThatCanChange(budgets, decision);
    if (enforced.length === 0) return decision;
    await this.lock(tx, agentId);
    return (await this.decide(tx, agentId, request, decision, enforced, now, exclude)).decision;
  }

  /**
   * A decision with `budgets` counted and applied. `exclude`: the request when it is already a row
   * (decided after consent), so that it is not counted twice; the grant an extension replaces.
   */
  async decide(
    db: BudgetDb,
    agentId: string,
    request: BudgetedRequest,
    decision: Decision,
    budgets: Budget[],
    now: Date,
    exclude: Exclusions = {},
  ): Promise<{ decision: Decision; readings: Reading[] }> {
    if (budgets.length === 0) return { decision, readings: [] };
    const { policy } = request;
    const needs = usageNeeds(budgets);
    const usage = await this.budgets.usage(db, agentId, now, {
      ...(needs.liveGrantsUpTo !== undefined && { liveGrantsUpTo: needs.liveGrantsUpTo }),
      ...(needs.requestsLastHourUpTo !== undefined && { requestsLastHourUpTo: needs.requestsLastHourUpTo }),
      grantedTime: needs.grantedTimeAtLeast.map((atLeast) => ({ atLeast, labels: labelsAtLeast(policy, atLeast) })),
      ...(exclude.requestId && { excludeRequestId: exclude.requestId }),
      ...(exclude.grantId && { excludeGrantId: exclude.grantId }),
    });
    const decided = decideWithBudgets(policy, decision, budgets, usage, request);
    return { decision: decided.decision, readings: decided.checks };
  }
}
