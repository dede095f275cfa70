import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { JWK } from 'jose';

/** The MCP server's configuration, read once from the environment. */
export interface McpConfig {
  brokerUrl: string;
  agentId: string;
  privateKey: JWK;
  issuer?: string;
}

/** Thrown at start; the message names every offending variable. */
export class McpConfigError extends Error {}

const privateJwk = z
  .object({ kty: z.enum(['OKP', 'EC']), crv: z.enum(['Ed25519', 'P-256']), d: z.string().min(1), x: z.string().min(1) })
  .passthrough();

const HINTS = {
  GATEHOUSE_URL: 'the broker URL, e.g. http://localhost:3000',
  GATEHOUSE_AGENT_ID: 'the agent id the admin API returned at registration',
  GATEHOUSE_AGENT_KEY: "the agent's private JWK (JSON) or the path of a file holding it",
  GATEHOUSE_ISSUER: "the broker's GATEHOUSE_ISSUER, when it differs from GATEHOUSE_URL",
};
const described = (name: keyof typeof HINTS) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? `not set; it must be ${HINTS[name]}` : `must be ${HINTS[name]}`),
});

const schema = z.object({
  GATEHOUSE_URL: z.url({ protocol: /^https?$/, ...described('GATEHOUSE_URL') }),
  GATEHOUSE_AGENT_ID: z.string(described('GATEHOUSE_AGENT_ID')).min(1),
  GATEHOUSE_AGENT_KEY: z.string(described('GATEHOUSE_AGENT_KEY')).min(1),
  GATEHOUSE_ISSUER: z.url(described('GATEHOUSE_ISSUER')).optional(),
});

/** Reads GATEHOUSE_AGENT_KEY: a JWK JSON string, or a path to a file containing one. */
function readKey(value: string): unknown {
  const text = value.trim().startsWith('{') ? value : readFileSync(value, 'utf8');
  return JSON.parse(text);
}

/** Validates the environment into a config, or throws an McpConfigError naming each bad variable. */
export function loadMcpConfig(env: Record<string, string | undefined>): McpConfig {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${String(issue.path[0])}: ${issue.message}`);
    throw new McpConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  let key: unknown;
  try {
    key = readKey(parsed.data.GATEHOUSE_AGENT_KEY);
  } catch (error) {
    throw new McpConfigError(
      `Invalid configuration:\n  GATEHOUSE_AGENT_KEY: neither JWK JSON nor a readable file of it (${(error as Error).message})`,
    );
  }
  const jwk = privateJwk.safeParse(key);
  if (!jwk.success) {
    throw new McpConfigError('Invalid configuration:\n  GATEHOUSE_AGENT_KEY: must be a private Ed25519 or P-256 JWK (kty, crv, x and d)');
  }
  return {
    brokerUrl: parsed.data.GATEHOUSE_URL,
    agentId: parsed.data.GATEHOUSE_AGENT_ID,
    privateKey: jwk.data as JWK,
    issuer: parsed.data.GATEHOUSE_ISSUER,
  };
}
