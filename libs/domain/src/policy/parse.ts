import { createHash } from 'node:crypto';
import { parseDocument } from 'yaml';
import { formatDuration } from '../duration';
import { AccessError, AccessErrorCode, ErrorDetail } from '../errors';
import { formatPath, listKnown } from './format';
import { issueMessage, policyFileSchema, PolicyFile } from './schema';
import { BusinessHours, Conditions, Policy, ResourcePolicy, Rule } from './types';

const DEFAULT_SENSITIVITY = ['public', 'internal', 'pii', 'restricted'];
const DEFAULT_BUSINESS_HOURS: BusinessHours = { days: [1, 2, 3, 4, 5], from: '08:00', to: '18:00', tz: 'UTC' };
const RESOURCE_ID = /^[a-z0-9][a-z0-9._-]*$/i;
// Column names end up in tokens and SQL-ish filters downstream; keep them plain.
const COLUMN_NAME = /^[a-z0-9_$][a-z0-9_$.-]*$/i;

/** A policy file that does not validate; `details` holds every problem found, each with its path. */
export class PolicyError extends AccessError {
  constructor(
    readonly source: string,
    details: ErrorDetail[],
  ) {
    const [first] = details;
    const where = first.path ? `${first.path}: ` : '';
    const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
    super(AccessErrorCode.INVALID_POLICY, `${source}: ${where}${first.message}${more}`, details);
    this.name = 'PolicyError';
  }
}

/** Parses and validates a policy file's text; throws PolicyError naming every problem. */
export function parsePolicy(text: string, source: string): Policy {
  const data = readYaml(text, source);
  if (data === null || data === undefined) {
    throw new PolicyError(source, [{ message: 'the file is empty; a policy needs at least "version: 1"' }]);
  }
  const parsed = policyFileSchema.safeParse(data, { error: issueMessage });
  if (!parsed.success) {
    throw new PolicyError(source, parsed.error.issues.flatMap(toDetails));
  }
  const issues: ErrorDetail[] = [];
  const policy = normalize(parsed.data, text, source, issues);
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

function normalize(file: PolicyFile, text: string, source: string, issues: ErrorDetail[]): Policy {
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
    resources[id] = {
      id,
      audience: raw.audience ?? id,
      ...(raw.owners !== undefined && { owners: raw.owners }),
      defaultSensitivity: raw.defaultSensitivity ?? sensitivity[0],
      columns: { ...columns },
      actions: [...new Set(raw.actions ?? ['read', 'write'])],
    };
  }

  const rules = (file.rules ?? []).map((raw, i): Rule => {
    const path = `rules[${i}]`;
    const first = file.rules!.findIndex((other) => other.id === raw.id);
    if (first !== i) issues.push({ path: `${path}.id`, message: `duplicate rule id "${raw.id}"; rules[${first}] already uses it` });
    if (raw.effect !== 'require_approval') {
      for (const key of ['approvers', 'approvals', 'approvalTimeout'] as const) {
        if (raw[key] !== undefined) {
          issues.push({ path: `${path}.${key}`, message: `only require_approval rules take ${key}; this rule's effect is ${raw.effect}` });
        }
      }
    }
    if (raw.effect === 'deny' && raw.maxDuration !== undefined) {
      issues.push({ path: `${path}.maxDuration`, message: 'a deny rule grants nothing, so maxDuration has no meaning here' });
    }
    const when = normalizeConditions(raw.when ?? {}, `${path}.when`, businessHours.tz, issues);
    checkLabel(when.sensitivity?.atMost, `${path}.when.sensitivity.atMost`);
    checkLabel(when.sensitivity?.atLeast, `${path}.when.sensitivity.atLeast`);
    const { atMost, atLeast } = when.sensitivity ?? {};
    if (atMost && atLeast && sensitivity.indexOf(atLeast) > sensitivity.indexOf(atMost) && sensitivity.includes(atMost)) {
      const message = `atLeast "${atLeast}" is above atMost "${atMost}"; the rule could never match`;
      issues.push({ path: `${path}.when.sensitivity`, message });
    }
    when.resources?.forEach((pattern, j) => {
      // A typo in an exact id would silently switch a rule off; globs may name future resources.
      if (!pattern.includes('*') && !Object.hasOwn(resources, pattern)) {
        const message = `unknown resource "${pattern}"; known: ${listKnown(Object.keys(resources))}`;
        issues.push({ path: `${path}.when.resources[${j}]`, message });
      }
    });
    return {
      id: raw.id,
      effect: raw.effect,
      when,
      ...(raw.message !== undefined && { message: raw.message }),
      ...(raw.approvers !== undefined && { approvers: raw.approvers }),
      ...(raw.approvals !== undefined && { approvals: raw.approvals }),
      ...(raw.maxDuration !== undefined && { maxDurationSeconds: raw.maxDuration }),
      ...(raw.approvalTimeout !== undefined && { approvalTimeoutSeconds: raw.approvalTimeout }),
    };
  });

  return {
    version: `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`,
    source,
    sensitivity: [...sensitivity],
    defaults: {
      maxDurationSeconds: file.defaults?.maxDuration ?? 3600,
      approvalTimeoutSeconds: file.defaults?.approvalTimeout ?? 900,
      approvers: file.defaults?.approvers ?? 'security',
      businessHours,
    },
    resources,
    rules,
  };
}

type RawConditions = NonNullable<NonNullable<PolicyFile['rules']>[number]['when']>;

function normalizeConditions(raw: RawConditions, path: string, defaultTz: string, issues: ErrorDetail[]): Conditions {
  const { timeWindow, ...rest } = raw;
  const when: Conditions = { ...rest };
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
