import { delegationStatus, DelegationSource, DelegationStatus } from '@gatehouse/domain';
import type { DelegationRow } from '../../db/delegations.repository';

/** A delegation as admins see it. */
export interface DelegationView {
  id: string;
  agentId: string;
  userId: string;
  /** Resource ids or globs; empty means every resource. */
  resources: string[];
  expiresAt: string | null;
  status: DelegationStatus;
  source: DelegationSource;
  createdBy: string;
  createdAt: string;
  requestId: string | null;
  endedAt: string | null;
  endedBy: string | null;
}

export function delegationView(d: DelegationRow, now: Date): DelegationView {
  return {
    id: d.id,
    agentId: d.agentId,
    userId: d.userId,
    resources: d.resources,
    expiresAt: d.expiresAt?.toISOString() ?? null,
    status: delegationStatus(d, now),
    source: d.source,
    createdBy: d.createdBy,
    createdAt: d.createdAt.toISOString(),
    requestId: d.requestId,
    endedAt: d.endedAt?.toISOString() ?? null,
    endedBy: d.endedBy,
  };
}
