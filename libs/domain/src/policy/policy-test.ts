import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ANOMALY_CODES } from '../behaviour/baseline';
import { parseDuration } from '../duration';
import { AccessError, AccessErrorCode, ErrorDetail } from '../errors';
import { findUnstorableText } from '../text';
import { BREAK_GLASS_MARKER } from './break-glass';
import { formatPath, listKnown } from './format';
import { normalizeIp } from './network';
import { fileProblems } from './parse';
import { issueMessage } from './schema';
import { Outcome, Policy } from './types';

// A policy test file: cases, each a request as the broker would see it and what the policy must
// answer. The file is judged like the policy file (path and reason for every problem). What the
// broker itself would refuse (an unknown column, a bad duration) is not a problem of the file:
// it is the case's answer, which `expect: { error: CODE }` can test.
//
// To add a request field (operations, extension, breakGlass), add it to `requestSchema` and pass
// it on in runPolicyCase; to add an expectation (anomalies), add it to `expectSchema` and compare it
// in policy-test.run.ts.

/** A strict object whose unknown-key complaint lists the keys that are allowed. */
function strict<T extends z.ZodRawShape>(shape: T) {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) => (issue.code === 'unrecognized_keys' ? `expected one of: ${known}` : undefined),
  });
}

const text = z.string().min(1);
const attributeValue = z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string, number or boolean' });

const agentSchema = strict({
  name: text,
  /** Rules' `agents` match the id or the name; the id defaults to the name. */
  id: text.optional(),
  attributes: z.record(z.string(), z.union([attributeValue, z.array(attributeValue)])).optional(),
});

// A time without an offset would be read in the machine's zone, and time windows would then
// depend on where the tests run.
const instant = z
  .string({ error: 'expected a time like "2026-11-23T10:00:00+01:00"' })
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i, {
    error: 'expected an ISO 8601 time with its offset, like "2026-11-23T10:00:00+01:00" or "2026-11-23T09:00:00Z"',
  })
  .transform((value, ctx) => {
    const date = new Date(value);
    if (Number.isNaN(date.getTime())) {
      ctx.addIssue({ code: 'custom', message: `"${value}" is not a real time` });
      return z.NEVER;
    }
    return date;
  });

const ip = z.string({ error: 'expected an IP address like 10.0.0.5 or 2001:db8::1' }).refine((value) => normalizeIp(value) !== undefined, {
  error: (issue) => `"${String(issue.input)}" is not an IP address; expected one like 10.0.0.5 or 2001:db8::1`,
});

// What the agent did before the case's request, oldest first: its baseline is learned from these
// exactly as the broker learns it (each entry observed `times` times, each in a minute of its own).
const historySchema = strict({
  resource: text,
  actions: z.array(text).optional(),
  columns: z.array(text).optional(),
  operations: z.array(text).optional(),
  onBehalfOf: strict({ id: text, email: text.optional() }).optional(),
  at: instant,
  times: z.int().min(1).max(10_000).optional(),
});

const duration = z.string({ error: 'expected a duration like 90s, 15m, 1h or PT15M' }).transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: error instanceof AccessError ? error.message : String(error) });
    return z.NEVER;
  }
});

// How long a chain of grants has run: a duration, where "0s" (just started) is allowed too.
const usedDuration = z.string({ error: 'expected a duration like 0s, 15m or 1h' }).transform((value, ctx) => {
  if (/^0+[smh]?$/i.test(value.trim())) return 0;
  try {
    return parseDuration(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: error instanceof AccessError ? error.message : String(error) });
    return z.NEVER;
  }
});

const count = z.int().min(0, 'must be 0 or more');

/** What the agent has used when the case is decided (the request itself not included); all 0 when absent. */
const usageSchema = strict({
  liveGrants: count.optional(),
  requestsLastHour: count.optional(),
  /** Granted time today of grants at or above each budget's grantedTimePerDay sensitivity. */
  grantedTimeToday: duration.optional(),
});

const requestSchema = strict({
  agent: agentSchema,
  resource: text,
  actions: z.array(text),
  columns: z.array(text).optional(),
  operations: z.array(text).optional(),
  // Text, as an agent sends it: the broker parses it, and a bad one is the case's answer.
  duration: text,
  reason: text.optional(),
  onBehalfOf: strict({ id: text, email: text.optional(), groups: z.array(text).optional() }).optional(),
  at: instant.optional(),
  sourceIp: ip.optional(),
  /** Sent as break-glass: the policy's breakGlass block decides on top of its rules. */
  breakGlass: z.boolean().optional(),
  history: z.array(historySchema).optional(),
  /** The agent's requests in the current minute, this one included (default 1). */
  requestsThisMinute: z.int().min(1).optional(),
  usage: usageSchema.optional(),
  /** true: the request extends a live grant (POST /v1/grants/{id}/extend); see also `extends`. */
  extension: z.boolean().optional(),
  /** The grant it extends: how long its chain of grants has run so far (implies extension: true). */
  extends: strict({ used: usedDuration }).optional(),
});

const OUTCOMES = ['approve', 'require_approval', 'deny'] as const;

/** What the broker can refuse a request with before the policy decides (add one as the broker gains it). */
const REFUSALS = [
  AccessErrorCode.VALIDATION_FAILED,
  AccessErrorCode.INVALID_DURATION,
  AccessErrorCode.DURATION_TOO_LONG,
  AccessErrorCode.UNKNOWN_RESOURCE,
  AccessErrorCode.ACTION_NOT_ALLOWED,
  AccessErrorCode.UNKNOWN_COLUMN,
  AccessErrorCode.UNKNOWN_OPERATION,
  AccessErrorCode.BREAK_GLASS_NOT_ALLOWED,
] as const;

const expectSchema = strict({
  outcome: z.enum(OUTCOMES).optional(),
  /** The broker refuses the request with this code instead of deciding it. */
  error: z.enum(REFUSALS).optional(),
  /** The deciding rules, in any order; [] means the default decided. */
  rules: z.array(text).optional(),
  /** What would be granted (for deny: what was asked). */
  duration: duration.optional(),
  approvers: text.optional(),
  approvals: z.int().min(1).optional(),
  /** The anomaly codes the request has, in any order; [] means none. */
  anomalies: z.array(z.enum(ANOMALY_CODES, { error: `expected an anomaly code: ${ANOMALY_CODES.join(', ')}` })).optional(),
}).superRefine((expected, ctx) => {
  if ((expected.outcome === undefined) === (expected.error === undefined)) {
    ctx.addIssue({ code: 'custom', message: 'give either outcome (approve, require_approval or deny) or error (a refusal code)' });
    return;
  }
  const decisionOnly = ['rules', 'duration', 'approvers', 'approvals', 'anomalies'] as const;
  for (const key of decisionOnly) {
    if (expected.error !== undefined && expected[key] !== undefined) {
      ctx.addIssue({ code: 'custom', path: [key], message: `a refused request has no ${key}; drop it or expect an outcome` });
    }
  }
  for (const key of ['approvers', 'approvals'] as const) {
    if (expected.outcome !== undefined && expected.outcome !== 'require_approval' && expected[key] !== undefined) {
      ctx.addIssue({ code: 'custom', path: [key], message: `only require_approval has ${key}; this case expects ${expected.outcome}` });
    }
  }
});

const fileSchema = strict({
  /** The policy under test, relative to the test file. */
  policy: text.optional(),
  cases: z.array(strict({ name: text, request: requestSchema, expect: expectSchema })).min(1, 'must list at least one case'),
});

/** One case's request: an access-request body plus what the broker would know (agent, user, time, address). */
export type PolicyTestRequest = z.output<typeof requestSchema>;

/** What a case expects; `outcome` or `error`, never both. */
export interface PolicyTestExpectation {
  outcome?: Outcome;
  error?: AccessErrorCode;
  rules?: string[];
  durationSeconds?: number;
  approvers?: string;
  approvals?: number;
  anomalies?: string[];
}

/** One case of a test file. */
export interface PolicyTestCase {
  name: string;
  /** Where it is in its file: `cases[2]`. */
  path: string;
  request: PolicyTestRequest;
  expect: PolicyTestExpectation;
}

/** A validated test file. */
export interface PolicyTestFile {
  source: string;
  /** The policy file it names, as written (relative to the test file); absent: the broker's policy. */
  policy?: string;
  cases: PolicyTestCase[];
}

/** A test file that does not validate; `details` holds every problem, each with its path. */
export class PolicyTestError extends AccessError {
  constructor(
    readonly source: string,
    details: ErrorDetail[],
  ) {
    super(AccessErrorCode.VALIDATION_FAILED, fileProblems(source, details), details);
    this.name = 'PolicyTestError';
  }
}

/** Parses and validates a test file's text; throws PolicyTestError naming every problem. */
export function parsePolicyTests(text: string, source: string): PolicyTestFile {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    throw new PolicyTestError(
      source,
      doc.errors.map((error) => {
        const at = error.linePos?.[0];
        const reason = error.message.split(/ at line \d+, column \d+/)[0];
        return { message: `YAML syntax error${at ? ` at line ${at.line}, column ${at.col}` : ''}: ${reason}` };
      }),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (error) {
    throw new PolicyTestError(source, [{ message: `YAML error: ${error instanceof Error ? error.message : String(error)}` }]);
  }
  if (data === null || data === undefined) throw new PolicyTestError(source, [{ message: 'the file is empty; a test file needs "cases:"' }]);
  const unstorable = findUnstorableText(data);
  if (unstorable) throw new PolicyTestError(source, [{ path: formatPath(unstorable.path), message: unstorable.reason }]);
  const parsed = fileSchema.safeParse(data, { error: issueMessage });
  if (!parsed.success) throw new PolicyTestError(source, parsed.error.issues.flatMap(toDetails));

  const issues: ErrorDetail[] = [];
  const cases = parsed.data.cases.map((raw, i): PolicyTestCase => {
    const first = parsed.data.cases.findIndex((other) => other.name === raw.name);
    if (first !== i) issues.push({ path: `cases[${i}].name`, message: `duplicate case name "${raw.name}"; cases[${first}] already uses it` });
    const { duration: expectedDuration, ...expected } = raw.expect;
    return {
      name: raw.name,
      path: `cases[${i}]`,
      request: raw.request,
      expect: { ...expected, ...(expectedDuration !== undefined && { durationSeconds: expectedDuration }) },
    };
  });
  if (issues.length > 0) throw new PolicyTestError(source, issues);
  return { source, ...(parsed.data.policy !== undefined && { policy: parsed.data.policy }), cases };
}

/** Throws PolicyTestError when a case expects a rule the policy does not have (a typo would never pass). */
export function checkTestsAgainstPolicy(file: PolicyTestFile, policy: Policy): void {
  // The break-glass marker is named in the rules of the decisions break-glass makes; a budget that decides is named budget:<id>.
  const ids = [
    ...policy.rules.map((rule) => rule.id),
    ...(policy.breakGlass ? [BREAK_GLASS_MARKER] : []),
    ...policy.budgets.map((budget) => `budget:${budget.id}`),
  ];
  const issues: ErrorDetail[] = [];
  for (const testCase of file.cases) {
    testCase.expect.rules?.forEach((id, j) => {
      if (!ids.includes(id)) {
        issues.push({ path: `${testCase.path}.expect.rules[${j}]`, message: `no rule "${id}" in ${policy.source}; its rules: ${listKnown(ids)}` });
      }
    });
  }
  if (issues.length > 0) throw new PolicyTestError(file.source, issues);
}

function toDetails(issue: { code: string; path: PropertyKey[]; message: string; keys?: string[] }): ErrorDetail[] {
  if (issue.code === 'unrecognized_keys' && issue.keys) {
    return issue.keys.map((key) => ({ path: formatPath([...issue.path, key]), message: `unknown key "${key}"; ${issue.message}` }));
  }
  return [{ path: formatPath(issue.path), message: issue.message }];
}
