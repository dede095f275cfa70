import { formatDuration } from '../duration';
import { conditionsHold } from './conditions';
import { Decision, EvaluationInput, matchContextOf } from './evaluate';
import { Budget, Effect, Policy } from './types';

// Budgets cap what one agent holds or asks for. Which budgets apply is decided like a rule's `when`
// (pure, from the request); how much the agent has used is counted by the broker (under a lock per
// agent, in the submit's transaction) or given by a policy test; the result only ever makes a
// decision stricter: approve -> the budget's effect, require_approval -> deny, deny stays.

/** What one agent has used, counted before the request being decided (which is not included). */
export interface BudgetUsage {
  /** Grants that are active and not yet expired. */
  liveGrants: number;
  /** Requests submitted in the last hour, whatever came of them. */
  requestsLastHour: number;
  /** Granted seconds (expiry minus issue) of grants issued since 00:00 UTC, at or above each label asked for. */
  grantedSecondsToday: Record<string, number>;
}

/**
 * What a usage count must cover for a set of budgets. A count stops at the largest limit (one more
 * unit, the request's own, then tells whether it is over), so no count reads more rows than that.
 */
export interface UsageNeeds {
  /** Count live grants up to this many; absent: no budget limits them. */
  liveGrantsUpTo?: number;
  /** Count the last hour's requests up to this many. */
  requestsLastHourUpTo?: number;
  /** Labels; the broker sums grants whose request was rated at any of `policy.sensitivity` from each up. */
  grantedTimeAtLeast: string[];
}

/** One limit of a budget, read against the usage with the request counted in. */
export interface LimitReading {
  limit: 'liveGrants' | 'requestsPerHour' | 'grantedTimePerDay';
  /** With this request. */
  used: number;
  max: number;
  over: boolean;
  /** "4 live grants with this request, budget 3". */
  text: string;
}

/** A selected budget and how the request stands against each of its limits. */
export interface BudgetStanding {
  budget: Budget;
  readings: LimitReading[];
  over: boolean;
}

const STRICTNESS: Record<Effect, number> = { approve: 0, require_approval: 1, deny: 2 };

/** The budgets whose `when` selects this request, judged like rules (the decision gives risk and sensitivity). */
export function budgetsSelecting(policy: Policy, input: EvaluationInput, decision: Decision): Budget[] {
  if (policy.budgets.length === 0) return [];
  const ctx = matchContextOf(policy, input, decision);

  return policy.budgets.filter((budget) => conditionsHold(budget.when, ctx));
}

/** The budgets that could make this decision stricter: only for these must usage be counted (and the agent locked). */
export function budgetsThatCanChange(budgets: Budget[], decision: Decision): Budget[] {
  return budgets.filter((budget) => STRICTNESS[budget.effect] > STRICTNESS[decision.outcome]);
}

/** What to count for these budgets; nothing when none is given. */
export function usageNeeds(budgets: Budget[]): UsageNeeds {
  const largest = (limits: Array<number | undefined>) => {
    const given = limits.filter((limit): limit is number => limit !== undefined);
    return given.length === 0 ? undefined : Math.max(...given);
  };
  const liveGrantsUpTo = largest(budgets.map((budget) => budget.liveGrants));
  const requestsLastHourUpTo = largest(budgets.map((budget) => budget.requestsPerHour));
  return {
    ...(liveGrantsUpTo !== undefined && { liveGrantsUpTo }),
    ...(requestsLastHourUpTo !== undefined && { requestsLastHourUpTo }),
    grantedTimeAtLeast: [...new Set(budgets.flatMap((budget) => (budget.grantedTimePerDay ? [budget.grantedTimePerDay.atLeast] : [])))],
  };
}

/** The labels at or above `atLeast`, for counting granted time. */
export function labelsAtLeast(policy: Policy, atLeast: string): string[] {
  const from = policy.sensitivity.indexOf(atLeast);
  return from < 0 ? [] : policy.sensitivity.slice(from);
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Reads every limit of a budget with the request counted in: it is one more live grant and one
 * more request; its granted time counts only toward a grantedTimePerDay whose sensitivity it
 * reaches (a request below it is not limited by it at all).
 */
export function checkBudget(policy: Policy, budget: Budget, usage: BudgetUsage, decision: Decision): BudgetStanding {
  const readings: LimitReading[] = [];
  if (budget.liveGrants !== undefined) {
    const used = usage.liveGrants + 1;
    const text = `${plural(used, 'live grant')} with this request, budget ${budget.liveGrants}`;
    readings.push({ limit: 'liveGrants', used, max: budget.liveGrants, over: used > budget.liveGrants, text });
  }
  if (budget.requestsPerHour !== undefined) {
    const used = usage.requestsLastHour + 1;
    const text = `${plural(used, 'request')} in the last hour with this one, budget ${budget.requestsPerHour}`;
    readings.push({ limit: 'requestsPerHour', used, max: budget.requestsPerHour, over: used > budget.requestsPerHour, text });
  }
  const time = budget.grantedTimePerDay;
  if (time && policy.sensitivity.indexOf(decision.sensitivity) >= policy.sensitivity.indexOf(time.atLeast)) {
    const used = (usage.grantedSecondsToday[time.atLeast] ?? 0) + decision.durationSeconds;
    const text = `${formatDuration(used)} granted today at ${time.atLeast} or above with this request, budget ${formatDuration(time.maxSeconds)}`;
    readings.push({ limit: 'grantedTimePerDay', used, max: time.maxSeconds, over: used > time.maxSeconds, text });
  }
  return { budget, readings, over: readings.some((reading) => reading.over) };
}

/**
 * The decision once budgets over their limits have had their say. A budget only makes it stricter;
 * the strictest budgets over their limits then decide, named in `rules` as `budget:<id>`. Asked of
 * people, the request goes to the resource's owners (else the default approvers), one approval,
 * with the policy's default timeout, reminders and escalation; the duration stays what the rules
 * would have granted. Denied, the duration is the one asked for, as for any denial.
 */
export function applyBudgets(
  policy: Policy,
  decision: Decision,
  checks: BudgetStanding[],
  request: { resource: string; requestedSeconds: number },
): Decision {
  const stricter = checks.filter((check) => check.over && STRICTNESS[check.budget.effect] > STRICTNESS[decision.outcome]);
  if (stricter.length === 0) return decision;
  const outcome = stricter.some((check) => check.budget.effect === 'deny') ? 'deny' : 'require_approval';
  const deciding = stricter.filter((check) => check.budget.effect === outcome).sort((a, b) => (a.budget.id < b.budget.id ? -1 : 1));
  const message = deciding
    .map(({ budget, readings }) => {
      const over = readings.filter((reading) => reading.over).map((reading) => reading.text);
      return `${budget.message ?? `Over budget ${budget.id}.`} (budget ${budget.id}: ${over.join('; ')})`;
    })
    .join(' ');
  const { approval: _dropped, ...common } = decision;
  const rules = deciding.map(({ budget }) => `budget:${budget.id}`);
  if (outcome === 'deny') return { ...common, outcome, rules, message, durationSeconds: request.requestedSeconds };
  const { defaults } = policy;
  return {
    ...common,
    outcome,
    rules,
    message,
    approval: {
      approvers: policy.resources[request.resource]?.owners ?? defaults.approvers,
      required: 1,
      timeoutSeconds: defaults.approvalTimeoutSeconds,
      remindAfterSeconds: defaults.remindAfterSeconds,
      escalateAfterSeconds: defaults.escalateAfterSeconds,
      escalateTo: defaults.escalateTo,
    },
  };
}

/** Every selected budget read against the usage, and the decision they leave: the one step the broker and policy tests share. */
export function decideWithBudgets(
  policy: Policy,
  decision: Decision,
  selected: Budget[],
  usage: BudgetUsage,
  request: { resource: string; requestedSeconds: number },
): { decision: Decision; checks: BudgetStanding[] } {
  if (selected.length === 0) return { decision, checks: [] };
  const checks = selected.map((budget) => checkBudget(policy, budget, usage, decision));
  return { decision: applyBudgets(policy, decision, checks, request), checks };
}
