import { isWithinHours } from '../risk';
import { ipInCidrs } from './network';
import { Conditions } from './types';

/** Everything a rule's conditions are judged against, with sensitivity and risk worked out. */
export interface MatchContext {
  agent: { id: string; name: string; attributes: Record<string, unknown> };
  resource: string;
  actions: string[];
  operations: string[];
  durationSeconds: number;
  onBehalfOf: { groups: string[] } | null;
  sourceIp: string | null;
  now: Date;
  /** Position of the highest requested column's (or operation's) label in policy.sensitivity. */
  sensitivityRank: number;
  /** Rank of a sensitivity label named by a condition. */
  rankOf: (label: string) => number;
  riskScore: number;
  /** Codes of the request's anomalies. */
  anomalies: string[];
  /** Whether the request extends a live grant. */
  extension: boolean;
}

/** Compiled globs: a policy names few patterns and decisions test them on every request. */
const globs = new Map<string, RegExp>();

/** "crm.*" -> /^crm\..*$/; "*" matches any run of characters, dots included. */
export function globMatches(pattern: string, value: string): boolean {
  let regex = globs.get(pattern);
  if (!regex) {
    const source = pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*');
    regex = new RegExp(`^${source}$`);
    if (globs.size > 10_000) globs.clear();
    globs.set(pattern, regex);
  }
  return regex.test(value);
}

function inRange(value: number, range: { atMost?: number; atLeast?: number }): boolean {
  return (range.atMost === undefined || value <= range.atMost) && (range.atLeast === undefined || value >= range.atLeast);
}

// An agent attribute may itself be a list (tags: [a, b]); it matches when any value is allowed.
function attributeMatches(actual: unknown, expected: string | number | boolean | Array<string | number | boolean>): boolean {
  const allowed: unknown[] = Array.isArray(expected) ? expected : [expected];
  const values: unknown[] = Array.isArray(actual) ? actual : [actual];
  return values.some((value) => allowed.includes(value));
}

/** Whether every condition given holds; no conditions at all match every request. */
export function conditionsHold(when: Conditions, ctx: MatchContext): boolean {
  if (when.agents && !when.agents.some((agent) => agent === ctx.agent.id || agent === ctx.agent.name)) return false;
  if (when.agentAttributes) {
    for (const [key, expected] of Object.entries(when.agentAttributes)) {
      const actual = Object.hasOwn(ctx.agent.attributes, key) ? ctx.agent.attributes[key] : undefined;
      if (!attributeMatches(actual, expected)) return false;
    }
  }
  if (when.resources && !when.resources.some((pattern) => globMatches(pattern, ctx.resource))) return false;
  if (when.actions && !ctx.actions.every((action) => when.actions!.includes(action))) return false;
  // Only requests for operations (HTTP resources) can match a rule that lists operations.
  if (when.operations && (ctx.operations.length === 0 || !ctx.operations.every((name) => when.operations!.includes(name)))) return false;
  if (when.sensitivity) {
    // A label the policy does not know matches nothing (the parser refuses such policies anyway).
    const atMost = when.sensitivity.atMost === undefined ? undefined : ctx.rankOf(when.sensitivity.atMost);
    const atLeast = when.sensitivity.atLeast === undefined ? undefined : ctx.rankOf(when.sensitivity.atLeast);
    if (atMost !== undefined && (atMost < 0 || ctx.sensitivityRank > atMost)) return false;
    if (atLeast !== undefined && (atLeast < 0 || ctx.sensitivityRank < atLeast)) return false;
  }
  if (when.duration && !inRange(ctx.durationSeconds, when.duration)) return false;
  if (when.onBehalfOf) {
    const { required, groups } = when.onBehalfOf;
    if ((required || groups) && !ctx.onBehalfOf) return false;
    if (groups && !groups.some((group) => ctx.onBehalfOf!.groups.includes(group))) return false;
  }
  if (when.sourceIp && (!ctx.sourceIp || !ipInCidrs(ctx.sourceIp, when.sourceIp))) return false;
  if (when.timeWindow && !isWithinHours(when.timeWindow, ctx.now)) return false;
  if (when.riskScore && !inRange(ctx.riskScore, when.riskScore)) return false;
  if (when.anomalies?.any && !when.anomalies.any.some((code) => ctx.anomalies.includes(code))) return false;
  if (when.anomalies?.none && ctx.anomalies.length > 0) return false;
  if (when.extension !== undefined && when.extension !== ctx.extension) return false;
  return true;
}
