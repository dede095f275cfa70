import type { AnomalyCode, AnomalySettings } from '../behaviour/baseline';

/** What a rule does when all of its conditions hold. */
export type Effect = 'approve' | 'require_approval' | 'deny';

/** What a policy decided for one request (the same three values as a rule's effect). */
export type Outcome = Effect;

/** Office hours of the organisation; requests outside them score higher risk. */
export interface BusinessHours {
  /** ISO weekdays, 1 = Monday .. 7 = Sunday. */
  days: number[];
  /** HH:mm, inclusive. */
  from: string;
  /** HH:mm, exclusive; earlier than `from` means the window wraps past midnight. */
  to: string;
  /** IANA time zone the times are in. */
  tz: string;
}

/** A named operation of an HTTP resource: the calls it covers, how sensitive they are, what they do. */
export interface HttpOperation {
  name: string;
  /** Upper-case HTTP method, or '*' for any. A GET operation also covers HEAD. */
  method: string;
  /** Path pattern: `*` is one segment (or part of one), `**` any number of whole segments. */
  path: string;
  sensitivity: string;
  /** 'read' unless the policy says otherwise for GET and HEAD; 'write' for the other methods. */
  action: string;
}

/** Where the gateway finds the upstream's own credential: an environment variable, never the policy file. */
export interface UpstreamAuthorization {
  env: string;
  /** Prefixed to the variable's value with a space (`Bearer`), when the variable holds only the secret. */
  scheme?: string;
}

/**
 * One resource an agent can ask for: data (its grantable parts are columns, each with a
 * sensitivity) or an HTTP API (its grantable parts are named operations).
 */
export interface ResourcePolicy {
  id: string;
  kind: 'data' | 'http';
  /** `aud` of grant tokens for this resource. */
  audience: string;
  /** Group that approves when a rule says `approvers: owners`. */
  owners?: string;
  /** Sensitivity of a column not listed (only reachable when no columns are listed), and of an operation that sets none. */
  defaultSensitivity: string;
  /** column -> sensitivity label, in the order the policy lists them (data resources). */
  columns: Record<string, string>;
  /** Operation name -> operation (HTTP resources), in the order the policy lists them. */
  operations: Record<string, HttpOperation>;
  /** HTTP resources: the origin the gateway forwards to (`https://api.github.com`). */
  upstream?: string;
  /** HTTP resources: the hosts (host or host:port, lower case) a gateway call names for it: the upstream's and any listed. */
  hosts: string[];
  upstreamAuthorization?: UpstreamAuthorization;
  /** Actions that may be asked for; default ['read', 'write'] (HTTP: the operations' actions). */
  actions: string[];
}

/** Days and hours in a time zone; both times absent means the whole day. */
export interface TimeWindow {
  days?: number[];
  from?: string;
  to?: string;
  tz: string;
}

/** The conditions of a rule; all given ones must hold for the rule to match. */
export interface Conditions {
  agents?: string[];
  agentAttributes?: Record<string, string | number | boolean | Array<string | number | boolean>>;
  resources?: string[];
  actions?: string[];
  /** HTTP resources: the requested operations must all be listed here. */
  operations?: string[];
  sensitivity?: { atMost?: string; atLeast?: string };
  /** Seconds, compared with the requested duration. */
  duration?: { atMost?: number; atLeast?: number };
  onBehalfOf?: { required?: boolean; groups?: string[] };
  /** CIDRs, IPv4 and IPv6. */
  sourceIp?: string[];
  timeWindow?: TimeWindow;
  riskScore?: { atMost?: number; atLeast?: number };
  /** The request's anomalies (see behaviour/baseline.ts): `any` of these codes, or `none` at all. */
  anomalies?: { any?: AnomalyCode[]; none?: true };
  /** true: only extensions of a live grant (POST /v1/grants/{id}/extend); false: only new requests. */
  extension?: boolean;
}

/** One policy rule: an effect that applies when its conditions hold. */
export interface Rule {
  id: string;
  effect: Effect;
  when: Conditions;
  message?: string;
  /** 'owners' (the resource's owners), 'requester' (the user acted for) or a group name. */
  approvers?: string;
  approvals?: number;
  maxDurationSeconds?: number;
  approvalTimeoutSeconds?: number;
  /** A pending request reminds its approvers after this long (require_approval only). */
  remindAfterSeconds?: number;
  /** After this long a pending request also goes to `escalateTo`, whose members may then decide. */
  escalateAfterSeconds?: number;
  /** 'owners' or a group name: who else may decide once the request escalates. */
  escalateTo?: string;
}

/**
 * The emergency path: a request sent with `breakGlass: true` by an agent (and user) `allowed`
 * admits is approved at once where the policy would ask people, for at most `maxDurationSeconds`.
 */
export interface BreakGlass {
  maxDurationSeconds: number;
  /** A selector written like a rule's `when`. */
  allowed: Conditions;
}

/** The effects a budget may have on a request over it. */
export type BudgetEffect = Exclude<Effect, 'approve'>;

/**
 * Limits on what one agent may hold or ask for, checked on every request the budget's `when`
 * selects. Counted per agent; a request over any limit gets at least the budget's effect.
 */
export interface Budget {
  id: string;
  when: Conditions;
  /** Live grants at once, the new one included. */
  liveGrants?: number;
  /** Requests submitted in the last hour (whatever their outcome), the new one included. */
  requestsPerHour?: number;
  /** Granted seconds per UTC day of grants at or above `atLeast`, the new one included. */
  grantedTimePerDay?: { atLeast: string; maxSeconds: number };
  effect: BudgetEffect;
  message?: string;
}

/** A validated, normalized policy file. */
export interface Policy {
  /** 'sha256:' + hex sha256 of the exact file text. */
  version: string;
  /** File name it was read from. */
  source: string;
  /** Sensitivity labels, ordered low -> high. */
  sensitivity: string[];
  defaults: {
    maxDurationSeconds: number;
    approvalTimeoutSeconds: number;
    approvers: string;
    /** Default 5m. */
    remindAfterSeconds: number;
    /** Default 10m. */
    escalateAfterSeconds: number;
    /** Default: `approvers`. */
    escalateTo: string;
    businessHours: BusinessHours;
    /** How each agent's baseline speaks, and when an agent is suspended for its behaviour. */
    anomaly: AnomalySettings;
  };
  resources: Record<string, ResourcePolicy>;
  rules: Rule[];
  /** Absent: no request may break glass. */
  breakGlass?: BreakGlass;
  /** Empty when the file has none: the submit path then checks nothing. */
  budgets: Budget[];
}
