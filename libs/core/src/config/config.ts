import type { DestinationStream } from 'pino';
import { z } from 'zod';
import { parseDuration } from '@gatehouse/domain';
import { ed25519PrivateKey, ed25519PublicJwk } from '../audit/audit-signing-key';
import { AuditFormat, AuditSink, parseAuditSinks } from '../audit/export-config';

/** Where Slack approvals are sent; present only when all three Slack variables are set. */
export interface SlackConfig {
  botToken: string;
  signingSecret: string;
  approvalsChannel: string;
  /** Where alerts go (break-glass, suspensions): `SLACK_ALERTS_CHANNEL`, else the approvals channel. */
  alertsChannel: string;
  apiUrl?: string;
}

/** `points` per window of `durationSeconds`, as written `100/10s`. */
export interface RateLimit {
  points: number;
  durationSeconds: number;
}

/** An introspection credential's owner; `audiences` limits the tokens it sees as active (RFC 7662 section 2.2). */
export interface IntrospectionCredential {
  name: string;
  audiences?: string[];
}

/** The broker's configuration, read and validated once at boot. Nothing else reads process.env. */
export class Config {
  databaseUrl!: string;
  databasePoolSize!: number;
  redisUrl!: string;
  redisPrefix!: string;
  port!: number;
  issuer!: string;
  /** token -> admin name (the actor in the audit trail) */
  adminTokens!: Map<string, string>;
  /** token -> a resource server allowed to call /v1/introspect, and the audiences it may see (none listed: all) */
  introspectionTokens!: Map<string, IntrospectionCredential>;
  /** token -> a gateway allowed to receive upstream credentials from forward-auth (for the audiences listed; none listed: all) */
  gatewayTokens!: Map<string, IntrospectionCredential>;
  /** How often what gateways saw (grant usage, refusals) is written to the trail. */
  usageFlushIntervalSeconds!: number;
  policyFile!: string;
  directoryFile?: string;
  signingKey?: string;
  slack?: SlackConfig;
  /** Hard cap on any requested duration, whatever the policy says. */
  maxRequestDurationSeconds!: number;
  rateLimit!: RateLimit;
  /** Failed authentications (401s) per source address before it is refused 429 up front. */
  authFailureLimit!: RateLimit;
  /** Long-polls (`?wait=N`) one agent may hold at once in this process. */
  maxWaitsPerAgent!: number;
  reconcileIntervalSeconds!: number;
  /** Longest a graceful shutdown may take before what is left is cut (keep it under the orchestrator's grace period). */
  shutdownTimeoutSeconds!: number;
  logLevel!: string;
  /** Where logs go: stdout, unless the host process (a test) hands over a stream. Never read from the environment. */
  logDestination?: DestinationStream;
  trustProxy!: boolean;
  /** Reads one variable of the environment the broker started with: the policy's upstream credentials. Never logged. */
  secret!: (name: string) => string | undefined;
  /** Where sealed audit events are exported (none: no export). */
  auditSinks!: AuditSink[];
  auditFormat!: AuditFormat;
  /** The Authorization header sent to every webhook sink. */
  auditWebhookAuthorization?: string;
  /** Ed25519 private key (PEM or JWK) that signs audit checkpoints; never stored in the database. */
  auditSigningKey?: string;
}

const nameTokenList = (variable: string) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      const map = new Map<string, string>();
      for (const entry of (value ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const colon = entry.indexOf(':');
        const name = entry.slice(0, colon);
        const token = entry.slice(colon + 1);
        if (colon <= 0 || token.length < 16) {
          ctx.addIssue({ code: 'custom', message: `${variable} entries are name:token with a token of at least 16 characters` });
          return z.NEVER;
        }
        map.set(token, name);
      }
      return map;
    });

/**
 * `name:token` (every audience) or `name:token:aud1|aud2`. The token ends at the second colon, so
 * an audience may itself contain colons (`https://crm.example.com`) but a token may not.
 */
const introspectionTokenList = (variable: string) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      const map = new Map<string, IntrospectionCredential>();
      for (const entry of (value ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const [name, token, ...rest] = entry.split(':');
        const audiences = rest.length ? rest.join(':').split('|') : undefined;
        if (!name || !token || token.length < 16) {
          ctx.addIssue({
            code: 'custom',
            message: `${variable} entries are name:token or name:token:aud1|aud2, with a token of at least 16 characters and no colon`,
          });
          return z.NEVER;
        }
        if (audiences?.some((audience) => !/^\S+$/.test(audience))) {
          ctx.addIssue({
            code: 'custom',
            message: `the entry of ${name} lists an empty audience; write name:token:aud1|aud2, or name:token for every audience`,
          });
          return z.NEVER;
        }
        map.set(token, { name, audiences });
      }
      return map;
    });

/** `N/window` (N >= 1; window in s, m or h), as a rate-limiter-flexible budget. */
const perWindow = (expected: string) =>
  z.string().transform((value, ctx): RateLimit => {
    const match = /^(\d+)\/([1-9]\d*[smh])$/.exec(value);
    const points = Number(match?.[1]);
    if (!match || points < 1) {
      ctx.addIssue({ code: 'custom', message: `expected ${expected} (at least 1 per window)` });
      return z.NEVER;
    }
    return { points, durationSeconds: parseDuration(match[2]) };
  });

const durationSeconds = z.string().transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (e.g. 90s, 15m, 1h, PT15M)` });
    return z.NEVER;
  }
});

const auditSinkList = z.string().transform((value, ctx) => {
  try {
    return parseAuditSinks(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

/** An Ed25519 private key (PEM or JWK), checked here and kept as written; the message never quotes it. */
const privateKeyText = z.string().transform((value, ctx) => {
  try {
    ed25519PrivateKey(value);
    return value;
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

const intString = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const schema = z.object({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default('postgresql://postgres@127.0.0.1:5432/gatehouse'),
  DATABASE_POOL_SIZE: intString(1, 500).default(20),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  GATEHOUSE_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_:-]{1,64}$/)
    .default('gatehouse'),
  PORT: intString(0, 65535).default(3000),
  GATEHOUSE_ISSUER: z.url().optional(),
  GATEHOUSE_ADMIN_TOKENS: nameTokenList('GATEHOUSE_ADMIN_TOKENS'),
  GATEHOUSE_INTROSPECTION_TOKENS: introspectionTokenList('GATEHOUSE_INTROSPECTION_TOKENS'),
  GATEHOUSE_GATEWAY_TOKENS: introspectionTokenList('GATEHOUSE_GATEWAY_TOKENS'),
  GATEHOUSE_USAGE_FLUSH_INTERVAL: durationSeconds.default(10),
  GATEHOUSE_POLICY_FILE: z.string().min(1).default('policies/default.yaml'),
  GATEHOUSE_DIRECTORY_FILE: z.string().min(1).optional(),
  GATEHOUSE_SIGNING_KEY: z.string().min(1).optional(),
  GATEHOUSE_MAX_DURATION: durationSeconds.default(24 * 3600),
  GATEHOUSE_RATE_LIMIT: perWindow('requests/window, e.g. 100/10s').default({ points: 100, durationSeconds: 10 }),
  GATEHOUSE_AUTH_FAILURE_LIMIT: perWindow('failures/window, e.g. 30/60s').default({ points: 30, durationSeconds: 60 }),
  GATEHOUSE_MAX_WAITS_PER_AGENT: intString(1, 10_000).default(10),
  GATEHOUSE_RECONCILE_INTERVAL: durationSeconds.default(30),
  GATEHOUSE_SHUTDOWN_TIMEOUT: durationSeconds.default(25),
  GATEHOUSE_TRUST_PROXY: z.enum(['true', 'false']).default('false'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SLACK_BOT_TOKEN: z.string().min(1).optional(),
  SLACK_SIGNING_SECRET: z.string().min(1).optional(),
  SLACK_APPROVALS_CHANNEL: z.string().min(1).optional(),
  SLACK_ALERTS_CHANNEL: z.string().min(1).optional(),
  SLACK_API_URL: z.url().optional(),
  GATEHOUSE_AUDIT_SINKS: auditSinkList.optional(),
  GATEHOUSE_AUDIT_FORMAT: z.enum(['json', 'ocsf']).default('json'),
  // Sent as a header: a line break would let it add headers of its own.
  GATEHOUSE_AUDIT_WEBHOOK_AUTHORIZATION: z
    .string()
    .regex(/^[^\r\n]+$/, { message: 'must be one line (a header value such as "Splunk <token>" or "ApiKey <key>")' })
    .optional(),
  GATEHOUSE_AUDIT_SIGNING_KEY: privateKeyText.optional(),
});

/** Thrown at boot; the message names every offending variable. */
export class ConfigError extends Error {}

/** Reads the environment into a Config, or throws a ConfigError naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${String(issue.path[0])}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const slackVars = [e.SLACK_BOT_TOKEN, e.SLACK_SIGNING_SECRET, e.SLACK_APPROVALS_CHANNEL];
  if (slackVars.some(Boolean) && !slackVars.every(Boolean)) {
    throw new ConfigError(
      'Invalid configuration:\n  SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APPROVALS_CHANNEL: set all three to turn Slack approvals on, or none',
    );
  }
  if (e.SLACK_ALERTS_CHANNEL && !e.SLACK_BOT_TOKEN) {
    throw new ConfigError(
      'Invalid configuration:\n  SLACK_ALERTS_CHANNEL: set, but Slack is off (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APPROVALS_CHANNEL); without Slack, alerts go to the log',
    );
  }
  const auditSinks = e.GATEHOUSE_AUDIT_SINKS ?? [];
  if (cleaned.GATEHOUSE_AUDIT_FORMAT !== undefined && auditSinks.length === 0) {
    throw new ConfigError('Invalid configuration:\n  GATEHOUSE_AUDIT_FORMAT: set, but GATEHOUSE_AUDIT_SINKS lists no sink to export to');
  }
  if (e.GATEHOUSE_AUDIT_WEBHOOK_AUTHORIZATION && !auditSinks.some((sink) => sink.kind === 'webhook')) {
    throw new ConfigError(
      'Invalid configuration:\n  GATEHOUSE_AUDIT_WEBHOOK_AUTHORIZATION: set, but GATEHOUSE_AUDIT_SINKS lists no http(s) sink to send it to',
    );
  }
  if (e.GATEHOUSE_AUDIT_SIGNING_KEY && e.GATEHOUSE_SIGNING_KEY && sameKey(e.GATEHOUSE_AUDIT_SIGNING_KEY, e.GATEHOUSE_SIGNING_KEY)) {
    throw new ConfigError(
      'Invalid configuration:\n  GATEHOUSE_AUDIT_SIGNING_KEY: is the broker key (GATEHOUSE_SIGNING_KEY), which is stored in the database; use a key of its own',
    );
  }
  return Object.assign(new Config(), {
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.GATEHOUSE_REDIS_PREFIX,
    port: e.PORT,
    issuer: (e.GATEHOUSE_ISSUER ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''),
    adminTokens: e.GATEHOUSE_ADMIN_TOKENS,
    introspectionTokens: e.GATEHOUSE_INTROSPECTION_TOKENS,
    gatewayTokens: e.GATEHOUSE_GATEWAY_TOKENS,
    usageFlushIntervalSeconds: e.GATEHOUSE_USAGE_FLUSH_INTERVAL,
    policyFile: e.GATEHOUSE_POLICY_FILE,
    directoryFile: e.GATEHOUSE_DIRECTORY_FILE,
    signingKey: e.GATEHOUSE_SIGNING_KEY,
    slack: e.SLACK_BOT_TOKEN
      ? {
          botToken: e.SLACK_BOT_TOKEN,
          signingSecret: e.SLACK_SIGNING_SECRET!,
          approvalsChannel: e.SLACK_APPROVALS_CHANNEL!,
          alertsChannel: e.SLACK_ALERTS_CHANNEL ?? e.SLACK_APPROVALS_CHANNEL!,
          apiUrl: e.SLACK_API_URL,
        }
      : undefined,
    maxRequestDurationSeconds: e.GATEHOUSE_MAX_DURATION,
    rateLimit: e.GATEHOUSE_RATE_LIMIT,
    authFailureLimit: e.GATEHOUSE_AUTH_FAILURE_LIMIT,
    maxWaitsPerAgent: e.GATEHOUSE_MAX_WAITS_PER_AGENT,
    reconcileIntervalSeconds: e.GATEHOUSE_RECONCILE_INTERVAL,
    shutdownTimeoutSeconds: e.GATEHOUSE_SHUTDOWN_TIMEOUT,
    logLevel: e.LOG_LEVEL,
    trustProxy: e.GATEHOUSE_TRUST_PROXY === 'true',
    secret: (name: string) => (Object.hasOwn(cleaned, name) ? cleaned[name] : undefined),
    auditSinks,
    auditFormat: e.GATEHOUSE_AUDIT_FORMAT,
    auditWebhookAuthorization: e.GATEHOUSE_AUDIT_WEBHOOK_AUTHORIZATION,
    auditSigningKey: e.GATEHOUSE_AUDIT_SIGNING_KEY,
  });
}

/** True when both texts hold the same Ed25519 key (a broker key that does not parse is the broker's own error). */
function sameKey(a: string, b: string): boolean {
  try {
    return ed25519PublicJwk(ed25519PrivateKey(a)).x === ed25519PublicJwk(ed25519PrivateKey(b)).x;
  } catch {
    return false;
  }
}
