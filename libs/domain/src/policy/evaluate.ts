import type { Anomaly } from '../behaviour/baseline';
import { formatDuration } from '../duration';
import { AccessError, AccessErrorCode } from '../errors';
import { riskScore } from '../risk';
import { conditionsHold, globMatches, MatchContext } from './conditions';
import { ReminderTimes, reminderTimes } from './reminders';
import { highestSensitivity, partsOf } from './scope';
import { Outcome, Policy, ResourcePolicy, Rule } from './types';

/** One access request as the policy sees it; resource, actions and columns come from resolveScope. */
export interface EvaluationInput {
  agent: { id: string; name: string; attributes: Record<string, unknown> };
  resource: string;
  actions: string[];
  columns: string[];
  /** HTTP resources: the requested operations (columns is then empty); omitted means none. */
  operations?: string[];
  durationSeconds: number;
  onBehalfOf?: { id: string; email: string; groups: string[] } | null;
  /** May be IPv4-mapped IPv6 (::ffff:10.1.2.3); it is then read as the IPv4 address. */
  sourceIp?: string | null;
  now: Date;
  /** How the request departs from its agent's baseline (see behaviour/baseline.ts); omitted means none. */
  anomalies?: Anomaly[];
  /** Set when the request extends a live grant: how long its chain of grants has run so far. */
  extension?: { usedSeconds: number } | null;
}

/** How an extension's chain stands against its limit: time used so far, and what the total may reach. */
export type ExtensionLimit = {
  /** From the first grant's start of the chain to the decision. */
  usedSeconds: number;
  /** The applicable maxDuration for the whole chain (used + new grant). */
  limitSeconds: number;
};

/** What the policy decided for one request, and why. */
export interface Decision {
  outcome: Outcome;
  /** Ids of the deciding rules, sorted; [] when the default applied. */
  rules: string[];
  message: string;
  riskScore: number;
  /** Highest sensitivity among the requested columns or operations. */
  sensitivity: string;
  policyVersion: string;
  /** What would be granted after clamping; for deny, the requested duration. */
  durationSeconds: number;
  /** How the request departs from its agent's baseline; they raise the risk score and feed `anomalies` conditions. */
  anomalies: Anomaly[];
  /** Only for require_approval. */
  approval?: Approval;
  /** The request was sent as break-glass, and breakGlass.allowed admitted it (see break-glass.ts). */
  breakGlass?: boolean;
  /** Only for extensions that were not denied: the chain's total against its limit. */
  extension?: ExtensionLimit;
}

/** A decision as recorded with its request: its approval settings live in the request's own columns. */
export type StoredDecision = Omit<Decision, 'approval'>;

/** Who approves a pending request, how many of them, and when it reminds, escalates and times out. */
export interface Approval {
  approvers: string;
  required: number;
  timeoutSeconds: number;
  remindAfterSeconds: number;
  escalateAfterSeconds: number;
  /** The group that may also decide once the request escalates. */
  escalateTo: string;
}

const byId = (a: Rule, b: Rule) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Per policy: the rules that can match each of its resources (no `resources` condition, or one naming it). */
const candidatesByPolicy = new WeakMap<Policy, Map<string, Rule[]>>();

/** Only these rules can match a request on `resource`: a policy of many rules judges few per request. */
export function rulesFor(policy: Policy, resource: string): Rule[] {
  let index = candidatesByPolicy.get(policy);
  if (!index) {
    index = new Map(
      Object.keys(policy.resources).map((id) => [
        id,
        policy.rules.filter((rule) => !rule.when.resources || rule.when.resources.some((pattern) => globMatches(pattern, id))),
      ]),
    );
    candidatesByPolicy.set(policy, index);
  }
  return index.get(resource) ?? policy.rules;
}

function named(rules: Rule[]): string {
  return `${rules.length === 1 ? 'rule' : 'rules'} ${rules.map((rule) => rule.id).join(', ')}`;
}

/** The rules' own messages joined, or the generated one when none of them has a message. */
function messageOf(rules: Rule[], generated: string): string {
  const own = rules.map((rule) => rule.message).filter((message): message is string => !!message);
  return own.length > 0 ? own.join(' ') : generated;
}

/** 'owners' (and unset) -> the resource's owners group, else the policy's default approvers. */
function resolveApprovers(policy: Policy, resource: ResourcePolicy, approvers: string | undefined): string {
  if (approvers === undefined || approvers === 'owners') return resource.owners ?? policy.defaults.approvers;
  return approvers;
}

function describeApprovers(approvers: string): string {
  return approvers === 'requester' ? 'the user the agent acts for' : approvers;
}

/**
 * The request as a rule's `when` (or a budget's, or the breakGlass selector) sees it, once its
 * sensitivity and risk score are known.
 */
export function matchContextOf(policy: Policy, input: EvaluationInput, judged: { sensitivity: string; riskScore: number }): MatchContext {
  return {
    agent: input.agent,
    resource: input.resource,
    actions: input.actions,
    operations: input.operations ?? [],
    durationSeconds: input.durationSeconds,
    onBehalfOf: input.onBehalfOf ?? null,
    sourceIp: input.sourceIp ?? null,
    now: input.now,
    sensitivityRank: policy.sensitivity.indexOf(judged.sensitivity),
    rankOf: (label) => policy.sensitivity.indexOf(label),
    riskScore: judged.riskScore,
    anomalies: (input.anomalies ?? []).map((anomaly) => anomaly.code),
    extension: !!input.extension,
  };
}

/** Decides a request by the policy. Rule order never matters: every rule is judged, then combined. */
export function evaluatePolicy(policy: Policy, input: EvaluationInput): Decision {
  const requested = input.durationSeconds;
  if (!Number.isInteger(requested) || requested <= 0) {
    throw new AccessError(AccessErrorCode.INVALID_DURATION, `duration must be a whole number of seconds above zero, got ${requested}`);
  }
  const sensitivity = highestSensitivity(policy, input.resource, partsOf({ columns: input.columns, operations: input.operations ?? [] })); // throws UNKNOWN_RESOURCE
  const resource = policy.resources[input.resource];
  const onBehalfOf = input.onBehalfOf ?? null;
  const anomalies = input.anomalies ?? [];
  const score = riskScore(policy, {
    sensitivity,
    durationSeconds: requested,
    actions: input.actions,
    onBehalfOf: onBehalfOf !== null,
    now: input.now,
    anomalies: anomalies.length,
  });
  const ctx = matchContextOf(policy, input, { sensitivity, riskScore: score });
  const matching = rulesFor(policy, input.resource)
    .filter((rule) => conditionsHold(rule.when, ctx))
    .sort(byId);
  const common = { riskScore: score, sensitivity, policyVersion: policy.version, anomalies };
  const used = input.extension?.usedSeconds ?? 0;
  // No grant outlives defaults.maxDuration; an extension's chain also stays within its limits (see limitsOf).
  const clamp = (rules: Rule[]) =>
    Math.max(0, Math.min(requested, policy.defaults.maxDurationSeconds, ...limitsOf(policy, rules, !!input.extension).map((limit) => limit - used)));
  // An extension whose chain already reached its limit gets nothing: refused as over its maxDuration.
  const exhausted = (rules: Rule[]): Decision | null => {
    if (!input.extension || clamp(rules) > 0) return null;
    const limit = Math.min(...limitsOf(policy, rules, true));
    return {
      outcome: 'deny',
      rules: rules.map((rule) => rule.id),
      message: `This grant has run ${formatDuration(used)} across its extensions, and its maxDuration allows ${formatDuration(limit)} in all; ask for a new request instead.`,
      ...common,
      durationSeconds: requested,
    };
  };
  const withExtension = (decision: Decision, rules: Rule[]): Decision => {
    if (!input.extension) return decision;
    const limitSeconds = Math.min(...limitsOf(policy, rules, true));
    const total = `${formatDuration(used)} used + ${formatDuration(decision.durationSeconds)}`;
    const note =
      decision.durationSeconds < requested && limitSeconds - used < requested
        ? ` Extension shortened to ${formatDuration(decision.durationSeconds)}: the grant has run ${formatDuration(used)}, and maxDuration allows ${formatDuration(limitSeconds)} in all.`
        : ` Extension: ${total} of ${formatDuration(limitSeconds)} allowed in all.`;
    return { ...decision, message: decision.message + note, extension: { usedSeconds: used, limitSeconds } };
  };

  const denying = matching.filter((rule) => rule.effect === 'deny');
  if (denying.length > 0) {
    return {
      outcome: 'deny',
      rules: denying.map((rule) => rule.id),
      message: messageOf(denying, `Denied by ${named(denying)}.`),
      ...common,
      durationSeconds: requested,
    };
  }

  const asking = matching.filter((rule) => rule.effect === 'require_approval');
  if (asking.length > 0) {
    const approvalsOf = (rule: Rule) => rule.approvals ?? 1;
    // The strictest rule names the approvers; ties go to the first id, so order never matters.
    const strictest = [...asking].sort((a, b) => approvalsOf(b) - approvalsOf(a) || byId(a, b))[0];
    const required = approvalsOf(strictest);
    const approvers = resolveApprovers(policy, resource, strictest.approvers);
    const timeouts = asking.map((rule) => rule.approvalTimeoutSeconds).filter((t): t is number => t !== undefined);
    // A rule with a short approvalTimeout of its own reminds and escalates within it by default.
    const fallback = (rule: Rule, key: keyof ReminderTimes) =>
      reminderTimes(rule.approvalTimeoutSeconds ?? policy.defaults.approvalTimeoutSeconds, policy.defaults)[key];
    const smallest = (key: 'remindAfterSeconds' | 'escalateAfterSeconds') => Math.min(...asking.map((rule) => rule[key] ?? fallback(rule, key)));
    const count = required === 1 ? 'approval' : `${required} approvals`;
    const verb = asking.length === 1 ? 'requires' : 'require';
    const refused = exhausted(asking);
    if (refused) return refused;
    return withExtension(
      {
        outcome: 'require_approval',
        rules: asking.map((rule) => rule.id),
        message: messageOf(asking, `${capitalize(named(asking))} ${verb} ${count} by ${describeApprovers(approvers)}.`),
        ...common,
        durationSeconds: clamp(asking),
        approval: {
          approvers,
          required,
          timeoutSeconds: timeouts.length > 0 ? Math.min(...timeouts) : policy.defaults.approvalTimeoutSeconds,
          remindAfterSeconds: smallest('remindAfterSeconds'),
          escalateAfterSeconds: smallest('escalateAfterSeconds'),
          escalateTo: resolveApprovers(policy, resource, strictest.escalateTo ?? policy.defaults.escalateTo),
        },
      },
      asking,
    );
  }

  const approving = matching.filter((rule) => rule.effect === 'approve');
  if (approving.length > 0) {
    return (
      exhausted(approving) ??
      withExtension(
        {
          outcome: 'approve',
          rules: approving.map((rule) => rule.id),
          message: messageOf(approving, `Approved by ${named(approving)}.`),
          ...common,
          durationSeconds: clamp(approving),
        },
        approving,
      )
    );
  }

  // Nothing spoke for this request: a human decides, never a silent approve.
  const refused = exhausted([]);
  if (refused) return refused;
  return withExtension(
    {
      outcome: 'require_approval',
      rules: [],
      message: `No rule matched: approval by ${policy.defaults.approvers} is required.`,
      ...common,
      durationSeconds: clamp([]),
      approval: {
        approvers: policy.defaults.approvers,
        required: 1,
        timeoutSeconds: policy.defaults.approvalTimeoutSeconds,
        remindAfterSeconds: policy.defaults.remindAfterSeconds,
        escalateAfterSeconds: policy.defaults.escalateAfterSeconds,
        escalateTo: policy.defaults.escalateTo,
      },
    },
    [],
  );
}

/**
 * The maxDurations that bound a grant: the default's and the deciding rules'. For an extension
 * they bound the whole chain, unless deciding rules written for extensions (`extension: true`) set
 * their own maxDuration: those then replace the others, so such a rule may allow more in all
 * (each grant of the chain still within defaults.maxDuration).
 */
function limitsOf(policy: Policy, rules: Rule[], extension: boolean): number[] {
  const forExtensions = extension ? rules.filter((rule) => rule.when.extension === true && rule.maxDurationSeconds !== undefined) : [];
  if (forExtensions.length > 0) return forExtensions.map((rule) => rule.maxDurationSeconds!);
  return [policy.defaults.maxDurationSeconds, ...rules.map((rule) => rule.maxDurationSeconds ?? Infinity)];
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
