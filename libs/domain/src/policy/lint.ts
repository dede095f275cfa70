import { isIP } from 'node:net';
import { formatDuration } from '../duration';
import { ANOMALY_RISK, isWithinHours } from '../risk';
import { globMatches } from './conditions';
import { formatPath } from './format';
import { ipInCidrs } from './network';
import { Conditions, Policy, ResourcePolicy, Rule, TimeWindow } from './types';

// Static analysis of a parsed policy: rules that can never match, rules whose every match is
// decided by another rule, and resources no rule speaks for. Every warning is sound: it is given
// only when it holds for every possible request. What cannot be decided that way (e.g. whether an
// agent with some attributes exists) is never guessed at, so some dead rules go unreported; see
// `overriders` for the limits of the override analysis.

/** What a warning is about. */
export type LintCode = 'never_matches' | 'dead_pattern' | 'always_overridden' | 'unspoken_resource';

/** One finding: where in the policy, about which rule or resource, and why. */
export interface LintWarning {
  code: LintCode;
  /** `rules[3]`, `rules[3].when.resources[1]` or `resources["crm.customers"]`. */
  path: string;
  /** The rule, budget or resource id. */
  subject: string;
  message: string;
}

/** Why a rule cannot match on one resource: a reason shared across resources, and what it is here. */
interface Refusal {
  reason: string;
  detail: string;
}

/** "reason (detail, detail); other reason (detail)": refusals with the same reason told once. */
function describeRefusals(refusals: Refusal[]): string {
  const byReason = new Map<string, string[]>();
  for (const { reason, detail } of refusals) byReason.set(reason, [...(byReason.get(reason) ?? []), detail]);
  return [...byReason].map(([reason, details]) => `${reason} (${details.join('; ')})`).join('; ');
}

/** What the broker adds to the policy. */
export interface LintOptions {
  /** The broker's cap on any requested duration (GATEHOUSE_MAX_DURATION): no request asks for more. */
  maxRequestDurationSeconds: number;
}

/** How the analysis sees a rule on one resource: what a request it matches can look like there. */
interface Reach {
  resource: ResourcePolicy;
  /** Ranks the most sensitive requested column can have, within the rule's sensitivity bounds. */
  ranks: number[];
}

/** Every warning about a parsed policy, in the order of the rules they are about, then the resources. */
export function lintPolicy(policy: Policy, options: LintOptions): LintWarning[] {
  const analysis = new Analysis(policy, options.maxRequestDurationSeconds);
  const found: Array<{ order: number; warning: LintWarning }> = [];
  const warn = (order: number, warning: LintWarning) => found.push({ order, warning });
  const reaches = new Map<Rule, Reach[]>();
  policy.rules.forEach((rule, i) => {
    const path = `rules[${i}]`;
    const never = analysis.neverReason(rule);
    if (never) {
      warn(i, { code: 'never_matches', path, subject: rule.id, message: `never matches: ${never}` });
      reaches.set(rule, []);
      return;
    }
    rule.when.resources?.forEach((pattern, j) => {
      if (!analysis.resourceIds.some((id) => globMatches(pattern, id))) {
        const message = `"${pattern}" matches no resource; the rule applies only through its other patterns`;
        warn(i, { code: 'dead_pattern', path: `${path}.when.resources[${j}]`, subject: rule.id, message });
      }
    });
    const candidates = analysis.resourcesOf(rule);
    const refusals = candidates.map((resource) => analysis.whyNotOn(rule, resource));
    if (refusals.every((refusal) => refusal !== undefined)) {
      warn(i, { code: 'never_matches', path, subject: rule.id, message: `never matches: ${describeRefusals(refusals)}` });
      reaches.set(rule, []);
      return;
    }
    reaches.set(
      rule,
      candidates.filter((_, k) => refusals[k] === undefined).map((resource) => ({ resource, ranks: analysis.ranksWithin(rule.when, resource) })),
    );
  });

  policy.rules.forEach((rule, i) => {
    if (rule.effect === 'deny' || reaches.get(rule)!.length === 0) return;
    const by = analysis.overriders(rule, reaches.get(rule)!, reaches);
    if (!by) return;
    const denies = by.filter((other) => other.effect === 'deny').map((other) => other.id);
    const asks = by.filter((other) => other.effect === 'require_approval').map((other) => other.id);
    const parts = [
      denies.length > 0 && `denied by ${list(denies)}`,
      asks.length > 0 && `asked of people by ${list(asks)} (require_approval wins over approve)`,
    ].filter(Boolean);
    const message = `always overridden: every request it matches is ${parts.join(' or ')}, so it never decides`;
    warn(i, { code: 'always_overridden', path: `rules[${i}]`, subject: rule.id, message });
  });

  if (policy.breakGlass) {
    // The selector is judged like a rule's `when`: a typo can switch the emergency path off unnoticed.
    const selector: Rule = { id: 'breakGlass', effect: 'approve', when: policy.breakGlass.allowed };
    const never = analysis.neverReason(selector) ?? unreachable(analysis, selector);
    if (never) {
      const message = `break-glass never admits a request: ${never}`;
      warn(policy.rules.length, { code: 'never_matches', path: 'breakGlass.allowed', subject: 'breakGlass', message });
    }
  }

  for (const resource of Object.values(policy.resources)) {
    if (policy.rules.some((rule) => reaches.get(rule)!.some((reach) => reach.resource === resource))) continue;
    const message = `no rule can match a request for it: every request goes to the default approvers (${policy.defaults.approvers})`;
    warn(policy.rules.length, { code: 'unspoken_resource', path: formatPath(['resources', resource.id]), subject: resource.id, message });
  }
  // A budget selects requests as a rule would match them: one whose `when` matches nothing limits nobody.
  policy.budgets.forEach((budget, i) => {
    const asRule: Rule = { id: budget.id, effect: budget.effect, when: budget.when };
    const never = analysis.neverReason(asRule);
    const refusals = never ? [] : analysis.resourcesOf(asRule).map((resource) => analysis.whyNotOn(asRule, resource));
    const reason =
      never ?? (refusals.length > 0 && refusals.every((refusal) => refusal !== undefined) ? describeRefusals(refusals as Refusal[]) : undefined);
    if (reason === undefined) {
      // A grantedTimePerDay above anything the budget's requests can be rated limits none of them.
      const time = budget.grantedTimePerDay;
      const resources = analysis.resourcesOf(asRule).filter((_, k) => refusals[k] === undefined);
      const reach = Math.max(-1, ...resources.flatMap((resource) => analysis.ranksWithin(budget.when, resource)));
      if (time && reach < policy.sensitivity.indexOf(time.atLeast)) {
        const message = `grantedTimePerDay never applies: no request it selects is rated ${time.atLeast} or above`;
        warn(policy.rules.length + 1 + i, { code: 'never_matches', path: `budgets[${i}].grantedTimePerDay`, subject: budget.id, message });
      }
      return;
    }
    warn(policy.rules.length + 1 + i, {
      code: 'never_matches',
      path: `budgets[${i}]`,
      subject: budget.id,
      message: `never selects a request: ${reason}`,
    });
  });
  return found.sort((a, b) => a.order - b.order).map(({ warning }) => warning);
}

/** Why `rule` can match on none of its resources, or undefined when it can on one. */
function unreachable(analysis: Analysis, rule: Rule): string | undefined {
  const refusals = analysis.resourcesOf(rule).map((resource) => analysis.whyNotOn(rule, resource));
  return refusals.every((refusal) => refusal !== undefined) ? describeRefusals(refusals) : undefined;
}

function list(ids: string[]): string {
  return ids.length === 1 ? `rule ${ids[0]}` : `rules ${ids.join(', ')}`;
}

const WEEK_MINUTES = 7 * 24 * 60;
// 2024-01-01 is a Monday; windows are read in UTC over this week, so local times compare directly.
const MONDAY = Date.UTC(2024, 0, 1);

class Analysis {
  readonly resourceIds: string[];
  private readonly windows = new Map<string, Uint8Array>();

  constructor(
    private readonly policy: Policy,
    private readonly cap: number,
  ) {
    this.resourceIds = Object.keys(policy.resources);
  }

  private rank(label: string): number {
    return this.policy.sensitivity.indexOf(label);
  }

  /** Why a rule can match no request at all, whatever the resource; undefined when it may. */
  neverReason(rule: Rule): string | undefined {
    const { sensitivity, duration, riskScore, timeWindow, resources } = rule.when;
    if (sensitivity?.atLeast && sensitivity.atMost && this.rank(sensitivity.atLeast) > this.rank(sensitivity.atMost)) {
      return `sensitivity atLeast ${sensitivity.atLeast} is above atMost ${sensitivity.atMost}`;
    }
    if (duration?.atLeast !== undefined && duration.atMost !== undefined && duration.atLeast > duration.atMost) {
      return `duration atLeast ${formatDuration(duration.atLeast)} is above atMost ${formatDuration(duration.atMost)}`;
    }
    if (duration?.atLeast !== undefined && duration.atLeast > this.cap) {
      return `duration atLeast ${formatDuration(duration.atLeast)} is over the broker's cap of ${formatDuration(this.cap)} (GATEHOUSE_MAX_DURATION), which refuses longer requests`;
    }
    if (riskScore?.atLeast !== undefined && riskScore.atMost !== undefined && riskScore.atLeast > riskScore.atMost) {
      return `riskScore atLeast ${riskScore.atLeast} is above atMost ${riskScore.atMost}`;
    }
    if (timeWindow && !this.window(timeWindow).includes(1)) return 'its timeWindow contains no day and time';
    if (resources && !this.resourceIds.some((id) => resources.some((pattern) => globMatches(pattern, id)))) {
      return `its resources [${resources.join(', ')}] match no resource of the policy`;
    }
    return undefined;
  }

  /** The resources a rule's `resources` condition admits (all of them without one). */
  resourcesOf(rule: Rule): ResourcePolicy[] {
    const patterns = rule.when.resources;
    return Object.values(this.policy.resources).filter((resource) => !patterns || patterns.some((pattern) => globMatches(pattern, resource.id)));
  }

  /** The operations of an HTTP resource a request matching `when` may ask for (within its operations and actions). */
  private operationsOn(when: Conditions, resource: ResourcePolicy): string[] {
    const actions = this.actionsOn(when, resource);
    return Object.values(resource.operations)
      .filter((operation) => (!when.operations || when.operations.includes(operation.name)) && actions.includes(operation.action))
      .map((operation) => operation.name);
  }

  /** Labels of the parts (columns, or operations) a request matching `when` may ask for on a resource. */
  private labelsOn(when: Conditions, resource: ResourcePolicy): string[] {
    if (resource.kind === 'http') return this.operationsOn(when, resource).map((name) => resource.operations[name].sensitivity);
    // A rule that lists operations matches no request for columns.
    if (when.operations) return [];
    const labels = Object.values(resource.columns);
    // With no columns listed, any column name is accepted and rated defaultSensitivity.
    return labels.length > 0 ? labels : [resource.defaultSensitivity];
  }

  /** Ranks the most sensitive requested column (or operation) can have on a resource, within the bounds of `when`. */
  ranksWithin(when: Conditions, resource: ResourcePolicy): number[] {
    const reachable = this.labelsOn(when, resource);
    const low = when.sensitivity?.atLeast === undefined ? 0 : this.rank(when.sensitivity.atLeast);
    const high = when.sensitivity?.atMost === undefined ? Infinity : this.rank(when.sensitivity.atMost);
    return [...new Set(reachable.map((label) => this.rank(label)))].filter((rank) => rank >= low && rank <= high).sort((a, b) => a - b);
  }

  /** Actions a request matching `when` may ask for on a resource (requested ⊆ both lists). */
  private actionsOn(when: Conditions, resource: ResourcePolicy): string[] {
    return resource.actions.filter((action) => !when.actions || when.actions.includes(action));
  }

  /** The requested durations `when` admits, within what the broker accepts. */
  private durations(when: Conditions): [number, number] {
    return [Math.max(1, when.duration?.atLeast ?? 1), Math.min(this.cap, when.duration?.atMost ?? this.cap)];
  }

  /** Why a rule can match no request on this resource (the reason, and its detail here); undefined when it may. */
  whyNotOn(rule: Rule, resource: ResourcePolicy): Refusal | undefined {
    const { when } = rule;
    if (this.actionsOn(when, resource).length === 0) {
      return {
        reason: `none of its actions [${when.actions!.join(', ')}] is allowed`,
        detail: `${resource.id} allows ${resource.actions.join(', ')}`,
      };
    }
    if (when.operations && this.operationsOn(when, resource).length === 0) {
      const operations = Object.keys(resource.operations);
      return {
        reason: `none of its operations [${when.operations.join(', ')}] can be asked for`,
        detail:
          resource.kind === 'http'
            ? `${resource.id} has ${operations.join(', ')} within its actions`
            : `${resource.id} grants columns, not operations`,
      };
    }
    const ranks = this.ranksWithin(when, resource);
    if (ranks.length === 0) {
      const labels = [...new Set(this.labelsOn({ ...when, sensitivity: undefined }, resource))].sort((a, b) => this.rank(a) - this.rank(b));
      const bounds = Object.entries(when.sensitivity ?? {}).map(([key, label]) => `${key} ${label}`);
      const parts = resource.kind === 'http' ? 'operation' : 'column';
      return { reason: `sensitivity ${bounds.join(', ')} fits no ${parts}`, detail: `${resource.id} is rated ${labels.join(', ')}` };
    }
    if (when.riskScore) {
      const [low, high] = this.riskBounds(when, resource, ranks);
      const { atLeast, atMost } = when.riskScore;
      if ((atLeast !== undefined && atLeast > high) || (atMost !== undefined && atMost < low)) {
        const bounds = [atLeast !== undefined && `atLeast ${atLeast}`, atMost !== undefined && `atMost ${atMost}`].filter(Boolean);
        return { reason: `riskScore ${bounds.join(', ')} is out of reach`, detail: `${resource.id} scores ${low} to ${high}` };
      }
    }
    return undefined;
  }

  /**
   * Bounds of the risk score (see riskScore in risk.ts) of any request matching `when` on the
   * resource whose most sensitive column has one of `ranks`: each term at its least and most.
   */
  private riskBounds(when: Conditions, resource: ResourcePolicy, ranks: number[]): [number, number] {
    const levels = this.policy.sensitivity.length;
    const sensitivity = (rank: number) => (levels > 1 ? (40 * rank) / (levels - 1) : 0);
    const [shortest, longest] = this.durations(when);
    const duration = (seconds: number) => 20 * Math.min(1, seconds / this.policy.defaults.maxDurationSeconds);
    const actions = this.actionsOn(when, resource);
    const writesAtLeast = actions.includes('read') ? 0 : 20;
    const writesAtMost = actions.some((action) => action !== 'read') ? 20 : 0;
    const userRequired = !!(when.onBehalfOf?.required || when.onBehalfOf?.groups);
    // Anomalies add risk: at least one when the rule asks for any, none when it asks for none.
    const anomaliesAtLeast = when.anomalies?.any ? ANOMALY_RISK.each : 0;
    const anomaliesAtMost = when.anomalies?.none ? 0 : ANOMALY_RISK.max;
    const score = (value: number) => Math.min(100, Math.max(0, Math.round(value)));
    const low = score(sensitivity(ranks[0]) + duration(shortest) + writesAtLeast + anomaliesAtLeast);
    const high = score(sensitivity(ranks[ranks.length - 1]) + duration(longest) + writesAtMost + 10 + (userRequired ? 0 : 10) + anomaliesAtMost);
    return [low, high];
  }

  /** Minutes of a week (Monday 00:00 first) inside a window, read in the window's own clock. */
  private window(window: TimeWindow): Uint8Array {
    const key = JSON.stringify([window.days, window.from, window.to]);
    let minutes = this.windows.get(key);
    if (!minutes) {
      minutes = new Uint8Array(WEEK_MINUTES);
      const utc = { ...window, tz: 'UTC' };
      for (let minute = 0; minute < WEEK_MINUTES; minute++) minutes[minute] = isWithinHours(utc, new Date(MONDAY + minute * 60_000)) ? 1 : 0;
      this.windows.set(key, minutes);
    }
    return minutes;
  }

  /**
   * The rules that decide instead of `rule` on every request it matches, or undefined when some
   * request may be decided by it. Sound but partial: requests are split by resource and by the
   * sensitivity of their most sensitive column, and each part must be covered by one single rule
   * whose every condition follows from `rule`'s. A part covered only by several rules together
   * (say, two deny rules on two time windows), facts about agents or users the policy does not
   * hold (which agents have which attributes, who is in which group), and time windows in another
   * time zone are not detected.
   */
  overriders(rule: Rule, reaches: Reach[], all: Map<Rule, Reach[]>): Rule[] | undefined {
    const stronger = this.policy.rules.filter(
      (other) =>
        other !== rule &&
        all.get(other)!.length > 0 &&
        (other.effect === 'deny' || (rule.effect === 'approve' && other.effect === 'require_approval')),
    );
    const used = new Set<Rule>();
    for (const { resource, ranks } of reaches) {
      for (const rank of ranks) {
        const cover = stronger.find((other) => this.implies(rule, other, resource, rank));
        if (!cover) return undefined;
        used.add(cover);
      }
    }
    return this.policy.rules.filter((other) => used.has(other));
  }

  /** Whether every request matching `rule` on `resource`, with its most sensitive column at `rank`, matches `other`. */
  private implies(rule: Rule, other: Rule, resource: ResourcePolicy, rank: number): boolean {
    const a = rule.when;
    const b = other.when;
    if (b.agents && !(a.agents && a.agents.every((agent) => b.agents!.includes(agent)))) return false;
    if (b.agentAttributes) {
      for (const [key, expected] of Object.entries(b.agentAttributes)) {
        const mine = a.agentAttributes && Object.hasOwn(a.agentAttributes, key) ? a.agentAttributes[key] : undefined;
        const allowed = [expected].flat();
        if (mine === undefined || ![mine].flat().every((value) => allowed.includes(value))) return false;
      }
    }
    if (b.resources && !b.resources.some((pattern) => globMatches(pattern, resource.id))) return false;
    if (b.actions && !this.actionsOn(a, resource).every((action) => b.actions!.includes(action))) return false;
    if (b.operations && (resource.kind !== 'http' || !this.operationsOn(a, resource).every((name) => b.operations!.includes(name)))) return false;
    if (!this.ranksWithin(b, resource).includes(rank)) return false;
    if (b.duration) {
      const [shortest, longest] = this.durations(a);
      if ((b.duration.atLeast ?? 0) > shortest || (b.duration.atMost ?? Infinity) < longest) return false;
    }
    if (b.onBehalfOf?.required && !(a.onBehalfOf?.required || a.onBehalfOf?.groups)) return false;
    if (b.onBehalfOf?.groups && !a.onBehalfOf?.groups?.every((group) => b.onBehalfOf!.groups!.includes(group))) return false;
    if (b.sourceIp && !a.sourceIp?.every((cidr) => b.sourceIp!.some((outer) => cidrWithin(cidr, outer)))) return false;
    if (b.timeWindow && !this.windowWithin(a.timeWindow, b.timeWindow)) return false;
    if (b.extension !== undefined && a.extension !== b.extension) return false;
    if (b.riskScore) {
      const [low, high] = this.riskBounds({ ...a, sensitivity: undefined }, resource, [rank]);
      if ((b.riskScore.atLeast ?? 0) > low || (b.riskScore.atMost ?? 100) < high) return false;
    }
    // A request with any of a's codes has one of b's; a request with none has none.
    if (b.anomalies?.any && !a.anomalies?.any?.every((code) => b.anomalies!.any!.includes(code))) return false;
    if (b.anomalies?.none && !a.anomalies?.none) return false;
    return true;
  }

  /** Whether every moment in `inner` (every moment at all when absent) is in `outer`. */
  private windowWithin(inner: TimeWindow | undefined, outer: TimeWindow): boolean {
    const big = this.window(outer);
    if (big.every((minute) => minute === 1)) return true;
    if (!inner || inner.tz !== outer.tz) return false;
    const small = this.window(inner);
    return small.every((minute, i) => minute === 0 || big[i] === 1);
  }
}

/** Whether every address of CIDR `inner` is in CIDR `outer` (same family only). */
function cidrWithin(inner: string, outer: string): boolean {
  const [address, prefix] = inner.split('/');
  const [outerAddress, outerPrefix] = outer.split('/');
  const family = isIP(address);
  if (family === 0 || family !== isIP(outerAddress)) return false;
  const max = family === 4 ? 32 : 128;
  // Same family and a prefix at least as long: the block lies inside when its address does.
  return Number(prefix ?? max) >= Number(outerPrefix ?? max) && ipInCidrs(address, [outer]);
}
