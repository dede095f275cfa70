import { IANAZone } from 'luxon';
import { z } from 'zod';
import { parseDuration } from '../duration';
import { ANOMALY_CODES } from '../behaviour/baseline';
import { AccessError } from '../errors';
import { pathPatternProblem } from './http';
import { isValidCidr } from './network';

// The shape of the YAML file. Checks that need the whole file (sensitivity labels, duplicate ids)
// live in parse.ts; everything that can be judged from one value is judged here.

/** A strict object whose unknown-key complaint lists the keys that are allowed. */
function strict<T extends z.ZodRawShape>(shape: T) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `expected one of: ${known}` : undefined),
  });
}

const text = z.string().min(1);

const duration = z.string({ error: 'expected a duration like 90s, 15m, 1h or PT15M' }).transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: error instanceof AccessError ? error.message : String(error) });
    return z.NEVER;
  }
});

const DAYS = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];

/** ISO weekday (1 = Monday) of a day name: "mon" or "Monday", any case. */
function dayNumber(name: string): number | undefined {
  const lower = name.toLowerCase();
  const index = DAYS.findIndex((day) => day === lower || day.slice(0, 3) === lower);
  return index < 0 ? undefined : index + 1;
}

const day = z.string({ error: 'expected a day name like mon or monday' }).transform((value, ctx) => {
  const number = dayNumber(value);
  if (number === undefined) {
    ctx.addIssue({ code: 'custom', message: `unknown day "${value}"; use mon, tue, wed, thu, fri, sat or sun` });
    return z.NEVER;
  }
  return number;
});

// Sorted and deduplicated so that two spellings of the same window compare equal.
const days = z
  .array(day)
  .min(1, 'must not be empty; omit it to mean every day')
  .transform((list) => [...new Set(list)].sort((a, b) => a - b));

const time = z
  .string({ error: 'expected a time like 09:00 (HH:mm, 24-hour)' })
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a time like 09:00 (HH:mm, 24-hour, 00:00 to 23:59)');

const timeZone = z.string({ error: 'expected an IANA time zone like Europe/Paris or UTC' }).transform((value, ctx) => {
  if (!IANAZone.isValidZone(value)) {
    ctx.addIssue({ code: 'custom', message: `unknown time zone "${value}"; use an IANA name like Europe/Paris or UTC` });
    return z.NEVER;
  }
  // Canonical spelling ("europe/paris" -> "Europe/Paris"), so logs and comparisons agree.
  return new Intl.DateTimeFormat('en-US', { timeZone: value }).resolvedOptions().timeZone;
});

const cidr = z.string({ error: 'expected a CIDR like 10.0.0.0/8 or 2001:db8::/32' }).refine(isValidCidr, {
  error: (issue) => `invalid CIDR "${String(issue.input)}"; expected an address/prefix like 10.0.0.0/8 or 2001:db8::/32`,
});

const attributeValue = z.union([z.string(), z.number(), z.boolean()], {
  error: 'expected a string, number or boolean',
});

const conditions = strict({
  agents: z.array(text).min(1, 'must not be empty; omit it to match every agent').optional(),
  agentAttributes: z.record(z.string(), z.union([attributeValue, z.array(attributeValue).min(1, 'must not be empty')])).optional(),
  resources: z.array(text).min(1, 'must not be empty; omit it to match every resource').optional(),
  actions: z.array(text).min(1, 'must not be empty; omit it to match every action').optional(),
  operations: z.array(text).min(1, 'must not be empty; omit it to match every operation').optional(),
  sensitivity: strict({ atMost: text.optional(), atLeast: text.optional() }).optional(),
  duration: strict({ atMost: duration.optional(), atLeast: duration.optional() }).optional(),
  onBehalfOf: strict({
    required: z.boolean().optional(),
    groups: z.array(text).min(1, 'must not be empty; omit it to match any user').optional(),
  }).optional(),
  sourceIp: z.array(cidr).min(1, 'must not be empty; omit it to match every address').optional(),
  timeWindow: strict({ days: days.optional(), from: time.optional(), to: time.optional(), tz: timeZone.optional() }).optional(),
  riskScore: strict({
    atMost: z.number().min(0).max(100).optional(),
    atLeast: z.number().min(0).max(100).optional(),
  }).optional(),
  anomalies: strict({
    any: z
      .array(z.enum(ANOMALY_CODES, { error: `expected an anomaly code: ${ANOMALY_CODES.join(', ')}` }))
      .min(1, 'must not be empty; omit it to match any anomaly')
      .optional(),
    none: z.literal(true, { error: 'expected true (omit it otherwise)' }).optional(),
  }).optional(),
  extension: z.boolean({ error: 'expected true (only extensions of a grant) or false (only new requests)' }).optional(),
});

const rule = strict({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/i, 'a rule id uses letters, digits, ".", "_" and "-", and starts with a letter or digit'),
  effect: z.enum(['approve', 'require_approval', 'deny']),
  when: conditions.optional(),
  message: text.optional(),
  approvers: text.optional(),
  approvals: z.int().min(1).max(10).optional(),
  maxDuration: duration.optional(),
  approvalTimeout: duration.optional(),
  remindAfter: duration.optional(),
  escalateAfter: duration.optional(),
  escalateTo: text.optional(),
});

const limit = z.int().min(1, 'must be at least 1');

const budget = strict({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/i, 'a budget id uses letters, digits, ".", "_" and "-", and starts with a letter or digit'),
  when: conditions.optional(),
  liveGrants: limit.optional(),
  requestsPerHour: limit.optional(),
  grantedTimePerDay: strict({ atLeast: text, max: duration }).optional(),
  effect: z.enum(['require_approval', 'deny'], { error: 'expected "require_approval" or "deny" (a budget never approves)' }),
  message: text.optional(),
});

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', '*'];

const method = z.string({ error: `expected an HTTP method: ${METHODS.join(', ')}` }).transform((value, ctx) => {
  const upper = value.toUpperCase();
  if (!METHODS.includes(upper)) {
    ctx.addIssue({ code: 'custom', message: `unknown method "${value}"; use ${METHODS.join(', ')} ('*' for any)` });
    return z.NEVER;
  }
  return upper;
});

const pathPattern = z.string({ error: 'expected a path pattern like /repos/*/*/issues/**' }).superRefine((value, ctx) => {
  const problem = pathPatternProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const operation = strict({
  method,
  path: pathPattern,
  sensitivity: text.optional(),
  action: text.optional(),
});

const upstream = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL like https://api.github.com' }).superRefine((value, ctx) => {
  const url = new URL(value);
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    ctx.addIssue({ code: 'custom', message: `expected an origin only (scheme://host[:port]), like ${url.origin}; operations name the paths` });
  }
});

const hostName = z
  .string({ error: 'expected a host name like github.egress.internal or host:8080' })
  .regex(/^[a-z0-9.-]+(:\d{1,5})?$/i, 'expected a host name like github.egress.internal or host:8080');

const envName = z
  .string({ error: 'expected an environment variable name' })
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name like GITHUB_TOKEN');

const resource = strict({
  kind: z.enum(['data', 'http']).optional(),
  audience: text.optional(),
  owners: text.optional(),
  defaultSensitivity: text.optional(),
  columns: z.record(z.string(), text).optional(),
  actions: z.array(text).min(1, 'must not be empty; omit it to allow read and write').optional(),
  upstream: upstream.optional(),
  hosts: z.array(hostName).min(1, "must not be empty; omit it to use the upstream's host").optional(),
  upstreamAuthorization: strict({
    env: envName,
    scheme: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9-]*$/, 'expected a scheme like Bearer')
      .optional(),
  }).optional(),
  operations: z.record(z.string(), operation).optional(),
});

const businessHours = strict({ days: days.optional(), from: time.optional(), to: time.optional(), tz: timeZone.optional() });

/** The policy file as written, before defaults are applied and cross-references checked. */
export const policyFileSchema = strict({
  version: z.literal(1, {
    error: (issue) => (issue.input === undefined ? 'is required; write version: 1' : 'expected 1 (the only policy file version)'),
  }),
  sensitivity: z.array(text).min(1, 'must list at least one level').optional(),
  defaults: strict({
    maxDuration: duration.optional(),
    approvalTimeout: duration.optional(),
    approvers: text.optional(),
    remindAfter: duration.optional(),
    escalateAfter: duration.optional(),
    escalateTo: text.optional(),
    businessHours: businessHours.optional(),
    anomaly: strict({
      minHistory: z.int().min(1).optional(),
      timeZone: timeZone.optional(),
      suspendAfter: strict({
        denied: z.int().min(1).optional(),
        anomalous: z.int().min(1).optional(),
        within: duration,
      }).optional(),
    }).optional(),
  }).optional(),
  resources: z.record(z.string(), resource).optional(),
  rules: z.array(rule).optional(),
  breakGlass: strict({ maxDuration: duration, allowed: conditions }).optional(),
  budgets: z.array(budget).optional(),
});

/** The parsed (not yet cross-checked) policy file. */
export type PolicyFile = z.output<typeof policyFileSchema>;

/** A person-readable reason for a zod issue zod would otherwise word for programmers. */
export function issueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `expected ${issue.expected === 'int' ? 'a whole number' : issue.expected}, got ${describe(issue.input)}`;
    case 'invalid_value':
      return `expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}, got ${describe(issue.input)}`;
    case 'too_small':
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return 'must not be empty';
      return issue.origin === 'number' ? `must be at least ${issue.minimum}` : undefined;
    case 'too_big':
      return issue.origin === 'number' ? `must be at most ${issue.maximum}` : undefined;
    default:
      return undefined;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  return `${typeof value} ${String(value)}`;
}
