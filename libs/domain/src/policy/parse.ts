import { createHash } from 'node:crypto';
import { parseDocument } from 'yaml';
import { DEFAULT_ANOMALY_SETTINGS } from '../behaviour/baseline';
import { formatDuration } from '../duration';
import { AccessError, AccessErrorCode, ErrorDetail } from '../errors';
import { findUnstorableText } from '../text';
import { formatPath, listKnown } from './format';
import { reminderTimes } from './reminders';
import { issueMessage, policyFileSchema, PolicyFile } from './schema';
import { normalizeHost } from './http';
import { BREAK_GLASS_MARKER } from './break-glass';
import { Budget, BusinessHours, Conditions, HttpOperation, Policy, ResourcePolicy, Rule } from './types';

const DEFAULT_SENSITIVITY = ['public', 'internal', 'pii', 'restricted'];
const DEFAULT_BUSINESS_HOURS: BusinessHours = { days: [1, 2, 3, 4, 5], from: '08:00', to: '18:00', tz: 'UTC' };
const DEFAULT_APPROVAL_TIMEOUT = 900;
const RESOURCE_ID = /^[a-z0-9][a-z0-9._-]*$/i;
// Column names end up in tokens and SQL-ish filters downstream; keep them plain.
const COLUMN_NAME = /^[a-z0-9_$][a-z0-9_$.-]*$/i;

/** One line for a file's problems: the first, with its path, and how many more (`policies/x.yaml: rules[0].id: ... (and 2 more)`). */
export function fileProblems(source: string, details: ErrorDetail[]): string {
  const [first] = details;
  const where = first.path ? `${first.path}: ` : '';
  const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
  return `${source}: ${where}${first.message}${more}`;
}

/** A policy file that does not validate; `details` holds every problem found, each with its path. */
export class PolicyError extends AccessError {
  constructor(
    readonly source: string,
    details: ErrorDetail[],
  ) {
    super(AccessErrorCode.INVALID_POLICY, fileProblems(source, details), details);
    this.name = 'PolicyError';
  }
}

/** What parsing may check beyond the file itself. */
export interface ParseOptions {
  /** The environment, when the policy is loaded to be used: every `upstreamAuthorization.env` must be set in it. */
  env?: (name: string) => string | undefined;
}

/** Parses and validates a policy file's text; throws PolicyError naming every problem. */
export function parsePolicy(text: string, source: string, options: ParseOptions = {}): Policy {
  const data = readYaml(text, source);
  if (data === null || data === undefined) {
    throw new PolicyError(source, [{ message: 'the file is empty; a policy needs at least "version: 1"' }]);
  }
  // A rule message (or any name) with a NUL would fail every decision that stores it.
  const unstorable = findUnstorableText(data);
  if (unstorable) throw new PolicyError(source, [{ path: formatPath(unstorable.path), message: unstorable.reason }]);
  const parsed = policyFileSchema.safeParse(data, { error: issueMessage });
  if (!parsed.success) {
    throw new PolicyError(source, parsed.error.issues.flatMap(toDetails));
  }
  const issues: ErrorDetail[] = [];
  const policy = normalize(parsed.data, text, source, options, issues);
  if (issues.length > 0) throw new PolicyError(source, issues);
  return policy;
}

function readYaml(text: string, source: string): unknown {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    throw new PolicyError(
      source,
      doc.errors.map((error) => {
        const at = error.linePos?.[0];
        const reason = error.message.split(/ at line \d+, column \d+/)[0];
        return { message: `YAML syntax error${at ? ` at line ${at.line}, column ${at.col}` : ''}: ${reason}` };
      }),
    );
  }
  try {
    return doc.toJS();
  } catch (error) {
    // e.g. an alias to an anchor that does not exist
    throw new PolicyError(source, [{ message: `YAML error: ${error instanceof Error ? error.message : String(error)}` }]);
  }
}

function toDetails(issue: { code: string; path: PropertyKey[]; message: string; keys?: string[] }): ErrorDetail[] {
  if (issue.code === 'unrecognized_keys' && issue.keys) {
    return issue.keys.map((key) => ({
      path: formatPath([...issue.path, key]),
      message: `unknown key "${key}"; ${issue.message}`,
    }));
  }
  return [{ path: formatPath(issue.path), message: issue.message }];
}

function normalize(file: PolicyFile, text: string, source: string, options: ParseOptions, issues: ErrorDetail[]): Policy {
  const sensitivity = file.sensitivity ?? DEFAULT_SENSITIVITY;
  sensitivity.forEach((level, i) => {
    if (sensitivity.indexOf(level) !== i) issues.push({ path: `sensitivity[${i}]`, message: `duplicate level "${level}"` });
  });
  const checkLabel = (label: string | undefined, path: string) => {
    if (label !== undefined && !sensitivity.includes(label)) {
      issues.push({ path, message: `unknown sensitivity "${label}"; known: ${sensitivity.join(', ')}` });
    }
  };

  const hours = file.defaults?.businessHours;
  const businessHours: BusinessHours = {
    days: hours?.days ?? DEFAULT_BUSINESS_HOURS.days,
    from: hours?.from ?? DEFAULT_BUSINESS_HOURS.from,
    to: hours?.to ?? DEFAULT_BUSINESS_HOURS.to,
    tz: hours?.tz ?? DEFAULT_BUSINESS_HOURS.tz,
  };
  if (businessHours.from === businessHours.to) {
    issues.push({ path: 'defaults.businessHours.to', message: `from and to are both ${businessHours.to}; the window would be empty` });
  }

  const approvalTimeout = file.defaults?.approvalTimeout ?? DEFAULT_APPROVAL_TIMEOUT;
  const approvers = file.defaults?.approvers ?? 'security';
  const times = reminderTimes(approvalTimeout);
  const escalation = {
    remindAfter: file.defaults?.remindAfter ?? times.remindAfterSeconds,
    escalateAfter: file.defaults?.escalateAfter ?? times.escalateAfterSeconds,
    escalateTo: file.defaults?.escalateTo ?? approvers,
  };
  // Only what the file sets can be wrong: the computed defaults fit the timeout by construction.
  checkEscalation({ ...file.defaults, escalateTo: escalation.escalateTo }, 'defaults', approvalTimeout, issues);
  if (escalation.escalateTo === 'owners') {
    issues.push({ path: 'defaults.escalateTo', message: '"owners" needs a resource; name a group here' });
  }

  const anomaly = file.defaults?.anomaly;
  const suspendAfter = anomaly?.suspendAfter;
  if (suspendAfter && suspendAfter.denied === undefined && suspendAfter.anomalous === undefined) {
    issues.push({
      path: 'defaults.anomaly.suspendAfter',
      message: 'give denied, anomalous or both: how many decisions within the window suspend an agent',
    });
  }

  const resources: Record<string, ResourcePolicy> = {};
  for (const [id, raw] of Object.entries(file.resources ?? {})) {
    const path = formatPath(['resources', id]);
    if (!RESOURCE_ID.test(id)) {
      const rule = 'use letters, digits, ".", "_" and "-", starting with a letter or digit';
      issues.push({ path, message: `invalid resource id "${id}"; ${rule}` });
    }
    const columns = raw.columns ?? {};
    for (const [column, label] of Object.entries(columns)) {
      const columnPath = formatPath(['resources', id, 'columns', column]);
      if (!COLUMN_NAME.test(column) || column === '__proto__') {
        issues.push({ path: columnPath, message: `invalid column name "${column}"` });
      }
      checkLabel(label, columnPath);
    }
    checkLabel(raw.defaultSensitivity, `${path}.defaultSensitivity`);
    const defaultSensitivity = raw.defaultSensitivity ?? sensitivity[0];
    const kind = raw.kind ?? (raw.upstream !== undefined || raw.operations !== undefined ? 'http' : 'data');
    const operations: Record<string, HttpOperation> = {};
    if (kind === 'http') {
      if (raw.upstream === undefined)
        issues.push({ path: `${path}.upstream`, message: 'an HTTP resource needs its upstream, like https://api.github.com' });
      if (Object.keys(raw.operations ?? {}).length === 0) {
        issues.push({ path: `${path}.operations`, message: 'an HTTP resource needs at least one operation (method and path)' });
      }
      if (raw.columns !== undefined) issues.push({ path: `${path}.columns`, message: 'an HTTP resource grants operations, not columns' });
      for (const [name, operation] of Object.entries(raw.operations ?? {})) {
        const operationPath = formatPath(['resources', id, 'operations', name]);
        if (!COLUMN_NAME.test(name) || name === '__proto__') issues.push({ path: operationPath, message: `invalid operation name "${name}"` });
        checkLabel(operation.sensitivity, `${operationPath}.sensitivity`);
        const action = operation.action ?? (operation.method === 'GET' || operation.method === 'HEAD' ? 'read' : 'write');
        if (raw.actions !== undefined && !raw.actions.includes(action)) {
          issues.push({ path: `${operationPath}.action`, message: `"${action}" is not among the resource's actions (${raw.actions.join(', ')})` });
        }
        operations[name] = { name, method: operation.method, path: operation.path, sensitivity: operation.sensitivity ?? defaultSensitivity, action };
      }
      const missing = raw.upstreamAuthorization && options.env && options.env(raw.upstreamAuthorization.env) === undefined;
      if (missing) {
        issues.push({ path: `${path}.upstreamAuthorization.env`, message: `${raw.upstreamAuthorization!.env} is not set in the environment` });
      }
    } else {
      for (const key of ['upstream', 'hosts', 'upstreamAuthorization', 'operations'] as const) {
        if (raw[key] !== undefined) issues.push({ path: `${path}.${key}`, message: `only an HTTP resource (kind: http) takes ${key}` });
      }
    }
    const upstreamHost = raw.upstream === undefined ? [] : [normalizeHost(new URL(raw.upstream).host)];
    const actionsOfOperations = Object.values(operations).map((operation) => operation.action);
    resources[id] = {
      id,
      kind,
      audience: raw.audience ?? id,
      ...(raw.owners !== undefined && { owners: raw.owners }),
      defaultSensitivity,
      columns: { ...columns },
      operations,
      ...(raw.upstream !== undefined && { upstream: new URL(raw.upstream).origin }),
      hosts: [...new Set([...upstreamHost, ...(raw.hosts ?? []).map(normalizeHost)])],
      ...(raw.upstreamAuthorization !== undefined && { upstreamAuthorization: { ...raw.upstreamAuthorization } }),
      actions: [...new Set(raw.actions ?? (kind === 'http' ? actionsOfOperations : ['read', 'write']))],
    };
  }

  const rules = (file.rules ?? []).map((raw, i): Rule => {
    const path = `rules[${i}]`;
    const first = file.rules!.findIndex((other) => other.id === raw.id);
    if (first !== i) issues.push({ path: `${path}.id`, message: `duplicate rule id "${raw.id}"; rules[${first}] already uses it` });
    if (raw.effect !== 'require_approval') {
      for (const key of ['approvers', 'approvals', 'approvalTimeout', 'remindAfter', 'escalateAfter', 'escalateTo'] as const) {
        if (raw[key] !== undefined) {
          issues.push({ path: `${path}.${key}`, message: `only require_approval rules take ${key}; this rule's effect is ${raw.effect}` });
        }
      }
    }
    if (raw.effect === 'deny' && raw.maxDuration !== undefined) {
      issues.push({ path: `${path}.maxDuration`, message: 'a deny rule grants nothing, so maxDuration has no meaning here' });
    }
    if (raw.effect === 'require_approval') checkEscalation(raw, path, raw.approvalTimeout ?? approvalTimeout, issues);
    if (raw.id === BREAK_GLASS_MARKER) {
      issues.push({ path: `${path}.id`, message: `"${BREAK_GLASS_MARKER}" is reserved: decisions name break-glass access with it` });
    }
    const when = checkedConditions(raw.when ?? {}, `${path}.when`, 'rule', sensitivity, resources, businessHours.tz, issues);
    return {
      id: raw.id,
      effect: raw.effect,
      when,
      ...(raw.message !== undefined && { message: raw.message }),
      ...(raw.approvers !== undefined && { approvers: raw.approvers }),
      ...(raw.approvals !== undefined && { approvals: raw.approvals }),
      ...(raw.maxDuration !== undefined && { maxDurationSeconds: raw.maxDuration }),
      ...(raw.approvalTimeout !== undefined && { approvalTimeoutSeconds: raw.approvalTimeout }),
      ...(raw.remindAfter !== undefined && { remindAfterSeconds: raw.remindAfter }),
      ...(raw.escalateAfter !== undefined && { escalateAfterSeconds: raw.escalateAfter }),
      ...(raw.escalateTo !== undefined && { escalateTo: raw.escalateTo }),
    };
  });

  const budgets = (file.budgets ?? []).map((raw, i) => normalizeBudget(raw, i, file, sensitivity, resources, businessHours.tz, issues));

  return {
    version: `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`,
    source,
    sensitivity: [...sensitivity],
    defaults: {
      maxDurationSeconds: file.defaults?.maxDuration ?? 3600,
      approvalTimeoutSeconds: approvalTimeout,
      approvers,
      remindAfterSeconds: escalation.remindAfter,
      escalateAfterSeconds: escalation.escalateAfter,
      escalateTo: escalation.escalateTo,
      businessHours,
      anomaly: {
        minHistory: anomaly?.minHistory ?? DEFAULT_ANOMALY_SETTINGS.minHistory,
        timeZone: anomaly?.timeZone ?? DEFAULT_ANOMALY_SETTINGS.timeZone,
        ...(suspendAfter && {
          suspendAfter: {
            ...(suspendAfter.denied !== undefined && { denied: suspendAfter.denied }),
            ...(suspendAfter.anomalous !== undefined && { anomalous: suspendAfter.anomalous }),
            withinSeconds: suspendAfter.within,
          },
        }),
      },
    },
    resources,
    rules,
    ...(file.breakGlass !== undefined && {
      breakGlass: {
        maxDurationSeconds: file.breakGlass.maxDuration,
        allowed: checkedConditions(file.breakGlass.allowed, 'breakGlass.allowed', 'selector', sensitivity, resources, businessHours.tz, issues),
      },
    }),
    budgets,
  };
}

/** Reminders and escalation must come before the approval timeout, and never go to 'requester'. */
function checkEscalation(
  raw: { remindAfter?: number; escalateAfter?: number; escalateTo?: string },
  path: string,
  approvalTimeout: number,
  issues: ErrorDetail[],
): void {
  for (const key of ['remindAfter', 'escalateAfter'] as const) {
    const value = raw[key];
    if (value !== undefined && value >= approvalTimeout) {
      issues.push({
        path: `${path}.${key}`,
        message: `${formatDuration(value)} is not before the approval timeout of ${formatDuration(approvalTimeout)}; it would never happen`,
      });
    }
  }
  if (raw.escalateTo === 'requester') {
    issues.push({ path: `${path}.escalateTo`, message: 'escalation goes to a group (or "owners"), not to the user the agent acts for' });
  }
}

/** A `when` (of a rule, a budget or the breakGlass selector) normalized, with what needs the whole file checked: labels, resources, operations. */
function checkedConditions(
  raw: RawConditions,
  path: string,
  what: 'rule' | 'budget' | 'selector',
  sensitivity: string[],
  resources: Record<string, ResourcePolicy>,
  defaultTz: string,
  issues: ErrorDetail[],
): Conditions {
  const checkLabel = (label: string | undefined, at: string) => {
    if (label !== undefined && !sensitivity.includes(label)) {
      issues.push({ path: at, message: `unknown sensitivity "${label}"; known: ${sensitivity.join(', ')}` });
    }
  };
  const when = normalizeConditions(raw, path, defaultTz, issues);
  checkLabel(when.sensitivity?.atMost, `${path}.sensitivity.atMost`);
  checkLabel(when.sensitivity?.atLeast, `${path}.sensitivity.atLeast`);
  const { atMost, atLeast } = when.sensitivity ?? {};
  if (atMost && atLeast && sensitivity.indexOf(atLeast) > sensitivity.indexOf(atMost) && sensitivity.includes(atMost)) {
    const message = `atLeast "${atLeast}" is above atMost "${atMost}"; the ${what} could never match`;
    issues.push({ path: `${path}.sensitivity`, message });
  }
  when.resources?.forEach((pattern, j) => {
    // A typo in an exact id would silently switch a rule off; globs may name future resources.
    if (!pattern.includes('*') && !Object.hasOwn(resources, pattern)) {
      const message = `unknown resource "${pattern}"; known: ${listKnown(Object.keys(resources))}`;
      issues.push({ path: `${path}.resources[${j}]`, message });
    }
  });
  when.operations?.forEach((name, j) => {
    const known = Object.values(resources).some((resource) => Object.hasOwn(resource.operations, name));
    if (!known) issues.push({ path: `${path}.operations[${j}]`, message: `no HTTP resource has an operation "${name}"` });
  });
  return when;
}

type RawBudget = NonNullable<PolicyFile['budgets']>[number];

/** A budget: a unique id, at least one limit, a known sensitivity, and a `when` checked like a rule's. */
function normalizeBudget(
  raw: RawBudget,
  i: number,
  file: PolicyFile,
  sensitivity: string[],
  resources: Record<string, ResourcePolicy>,
  defaultTz: string,
  issues: ErrorDetail[],
): Budget {
  const path = `budgets[${i}]`;
  const first = file.budgets!.findIndex((other) => other.id === raw.id);
  if (first !== i) issues.push({ path: `${path}.id`, message: `duplicate budget id "${raw.id}"; budgets[${first}] already uses it` });
  if (raw.liveGrants === undefined && raw.requestsPerHour === undefined && raw.grantedTimePerDay === undefined) {
    issues.push({ path, message: 'a budget needs at least one limit: liveGrants, requestsPerHour or grantedTimePerDay' });
  }
  const time = raw.grantedTimePerDay;
  if (time && !sensitivity.includes(time.atLeast)) {
    issues.push({ path: `${path}.grantedTimePerDay.atLeast`, message: `unknown sensitivity "${time.atLeast}"; known: ${sensitivity.join(', ')}` });
  }
  return {
    id: raw.id,
    when: checkedConditions(raw.when ?? {}, `${path}.when`, 'budget', sensitivity, resources, defaultTz, issues),
    ...(raw.liveGrants !== undefined && { liveGrants: raw.liveGrants }),
    ...(raw.requestsPerHour !== undefined && { requestsPerHour: raw.requestsPerHour }),
    ...(time && { grantedTimePerDay: { atLeast: time.atLeast, maxSeconds: time.max } }),
    effect: raw.effect,
    ...(raw.message !== undefined && { message: raw.message }),
  };
}

type RawConditions = NonNullable<NonNullable<PolicyFile['rules']>[number]['when']>;

function normalizeConditions(raw: RawConditions, path: string, defaultTz: string, issues: ErrorDetail[]): Conditions {
  const { timeWindow, anomalies, ...rest } = raw;
  const when: Conditions = { ...rest };
  if (anomalies) {
    if ((anomalies.any === undefined) === (anomalies.none === undefined)) {
      issues.push({ path: `${path}.anomalies`, message: 'give either any: [codes] or none: true' });
    }
    when.anomalies = {
      ...(anomalies.any && { any: [...new Set(anomalies.any)].sort() }),
      ...(anomalies.none && { none: true as const }),
    };
  }
  for (const key of ['duration', 'riskScore'] as const) {
    const range = raw[key];
    if (range?.atMost !== undefined && range.atLeast !== undefined && range.atLeast > range.atMost) {
      const show = key === 'duration' ? formatDuration : String;
      const message = `atLeast ${show(range.atLeast)} is above atMost ${show(range.atMost)}; the rule could never match`;
      issues.push({ path: `${path}.${key}`, message });
    }
  }
  if (timeWindow) {
    if ((timeWindow.from === undefined) !== (timeWindow.to === undefined)) {
      const missing = timeWindow.from === undefined ? 'from' : 'to';
      issues.push({ path: `${path}.timeWindow.${missing}`, message: 'give both from and to, or neither for the whole day' });
    } else if (timeWindow.from !== undefined && timeWindow.from === timeWindow.to) {
      issues.push({ path: `${path}.timeWindow.to`, message: `from and to are both ${timeWindow.to}; the window would be empty` });
    }
    // Without its own zone, a window is read in the organisation's business-hours zone.
    when.timeWindow = { ...timeWindow, tz: timeWindow.tz ?? defaultTz };
  }
  return when;
}
