import type { AgentRow } from '../../db/agents.repository';

/** An agent as admins see it. */
export interface AgentView {
  id: string;
  name: string;
  owner: string | null;
  status: string;
  attributes: unknown;
  publicJwk: unknown;
  keyId: string;
  createdAt: string;
  suspendedAt: string | null;
}

export function agentView(row: AgentRow): AgentView {
  return {
    id: row.id,
    name: row.name,
    owner: row.owner,
    status: row.status,
    attributes: row.attributes,
    publicJwk: row.publicJwk,
    keyId: row.keyId,
    createdAt: row.createdAt.toISOString(),
    suspendedAt: row.suspendedAt?.toISOString() ?? null,
  };
}
