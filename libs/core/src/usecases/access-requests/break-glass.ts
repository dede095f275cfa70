import { BREAK_GLASS_MARKER, formatDuration } from '@gatehouse/domain';
import type { AccessRequestRow } from '../../db/access-requests.repository';
import type { AuditEntry } from '../../db/audit-events.repository';
import type { GrantRow } from '../../db/grants.repository';
import type { Alert } from '../../notify/alerts';
import { actorName } from '../actor';

// What makes break-glass loud: an audit event in the transaction that grants it, and an alert
// raised after that transaction commits. Both name the same who, what and why.

/** The rules that decided besides break-glass (the marker left out); [] when the default would have asked. */
const bypassed = (row: AccessRequestRow) => row.decision.rules.filter((rule) => rule !== BREAK_GLASS_MARKER);

const partsOf = (row: Pick<AccessRequestRow, 'columns' | 'operations'>) =>
  row.operations.length > 0 ? { operations: row.operations } : { columns: row.columns };

/** The audit event of a break-glass grant, written with it. */
export function breakGlassAudit(row: AccessRequestRow, grant: GrantRow): AuditEntry {
  return {
    type: 'access_request.break_glass',
    actor: actorName({ kind: 'agent', id: row.agentId }),
    sourceIp: row.sourceIp,
    requestId: row.id,
    grantId: grant.id,
    agentId: row.agentId,
    data: {
      resource: row.resource,
      actions: row.actions,
      ...partsOf(row),
      onBehalfOf: row.onBehalfOf,
      reason: row.reason,
      durationSeconds: row.decision.durationSeconds,
      expiresAt: grant.expiresAt.toISOString(),
      rules: bypassed(row),
      message: row.decision.message,
    },
  };
}

/** The alert people see: who (agent, user acted for), what (resource, parts, duration), why, and where to review it. */
export function breakGlassAlert(row: AccessRequestRow, agent: { id: string; name: string }, grant: GrantRow): Alert {
  const parts = row.operations.length > 0 ? `operations ${row.operations.join(', ')}` : `columns ${row.columns.join(', ') || '(all)'}`;
  return {
    id: `break-glass-${row.id}`,
    title: `Break-glass access: ${agent.name} on ${row.resource}`,
    fields: [
      { label: 'Agent', value: `${agent.name} (${agent.id})` },
      { label: 'Acting for', value: row.onBehalfOf ?? 'nobody (the agent itself)' },
      { label: 'Resource', value: row.resource },
      { label: 'Access', value: `${row.actions.join(', ')}: ${parts}` },
      { label: 'Duration', value: `${formatDuration(row.decision.durationSeconds)} (until ${grant.expiresAt.toISOString()})` },
      { label: 'Reason', value: row.reason },
      { label: 'Decision', value: row.decision.message },
      { label: 'Request', value: `${row.id}: review and acknowledge with POST /v1/admin/access-requests/${row.id}/acknowledge` },
    ],
  };
}
