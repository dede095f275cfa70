import { z } from 'zod';
import { parseDuration } from '@gatehouse/domain';

/** Where Slack approvals are sent; present only when all three Slack variables are set. */
export interface SlackConfig {
  botToken: string;
  signingSecret: string;
  approvalsChannel: string;
  apiUrl?: string;
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
  /** token -> name of a resource server allowed to call /v1/introspect */
  introspectionTokens!: Map<string, string>;
  policyFile!: string;
  directoryFile?: string;
  signingKey?: string;
  slack?: SlackConfig;
  /** Hard cap on any requested duration, whatever the policy says. */
  maxRequestDurationSeconds!: number;
  rateLimit!: { points: number; durationSeconds: number };
  reconcileIntervalSeconds!: number;
  /** Longest a graceful shutdown may take before what is left is cut (keep it under the orchestrator's grace period). */
  shutdownTimeoutSeconds!: number;
  logLevel!: string;
  trustProxy!: boolean;
}

const nameTokenList = (variable: string) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      const map = new Map<string, string>();
      for (const entry of (value ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
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

const durationSeconds = z.string().transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (e.g. 90s, 15m, 1h, PT15M)` });
    return z.NEVER;
  }
});

const intString = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const schema = z.object({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).default('postgresql://postgres@127.0.0.1:5432/gatehouse'),
  DATABASE_POOL_SIZE: intString(1, 500).default(20),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default('redis://127.0.0.1:6379'),
  GATEHOUSE_REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_:-]{1,64}$/).default('gatehouse'),
  PORT: intString(0, 65535).default(3000),
  GATEHOUSE_ISSUER: z.url().optional(),
  GATEHOUSE_ADMIN_TOKENS: nameTokenList('GATEHOUSE_ADMIN_TOKENS'),
  GATEHOUSE_INTROSPECTION_TOKENS: nameTokenList('GATEHOUSE_INTROSPECTION_TOKENS'),
  GATEHOUSE_POLICY_FILE: z.string().min(1).default('policies/default.yaml'),
  GATEHOUSE_DIRECTORY_FILE: z.string().min(1).optional(),
  GATEHOUSE_SIGNING_KEY: z.string().min(1).optional(),
  GATEHOUSE_MAX_DURATION: durationSeconds.default(24 * 3600),
  GATEHOUSE_RATE_LIMIT: z
    .string()
    .regex(/^\d+\/\d+[smh]$/, 'expected requests/window, e.g. 100/10s')
    .default('100/10s'),
  GATEHOUSE_RECONCILE_INTERVAL: durationSeconds.default(30),
  GATEHOUSE_SHUTDOWN_TIMEOUT: durationSeconds.default(25),
  GATEHOUSE_TRUST_PROXY: z.enum(['true', 'false']).default('false'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SLACK_BOT_TOKEN: z.string().min(1).optional(),
  SLACK_SIGNING_SECRET: z.string().min(1).optional(),
  SLACK_APPROVALS_CHANNEL: z.string().min(1).optional(),
  SLACK_API_URL: z.url().optional(),
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
  const [points, window] = e.GATEHOUSE_RATE_LIMIT.split('/');
  return Object.assign(new Config(), {
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.GATEHOUSE_REDIS_PREFIX,
    port: e.PORT,
    issuer: (e.GATEHOUSE_ISSUER ?? `http://localhost:${e.PORT}`).replace(/\/$/, ''),
    adminTokens: e.GATEHOUSE_ADMIN_TOKENS,
    introspectionTokens: e.GATEHOUSE_INTROSPECTION_TOKENS,
    policyFile: e.GATEHOUSE_POLICY_FILE,
    directoryFile: e.GATEHOUSE_DIRECTORY_FILE,
    signingKey: e.GATEHOUSE_SIGNING_KEY,
    slack: e.SLACK_BOT_TOKEN
      ? { botToken: e.SLACK_BOT_TOKEN, signingSecret: e.SLACK_SIGNING_SECRET!, approvalsChannel: e.SLACK_APPROVALS_CHANNEL!, apiUrl: e.SLACK_API_URL }
      : undefined,
    maxRequestDurationSeconds: e.GATEHOUSE_MAX_DURATION,
    rateLimit: { points: Number(points), durationSeconds: parseDuration(window) },
    reconcileIntervalSeconds: e.GATEHOUSE_RECONCILE_INTERVAL,
    shutdownTimeoutSeconds: e.GATEHOUSE_SHUTDOWN_TIMEOUT,
    logLevel: e.LOG_LEVEL,
    trustProxy: e.GATEHOUSE_TRUST_PROXY === 'true',
  });
}
