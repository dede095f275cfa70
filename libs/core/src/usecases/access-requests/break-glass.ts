import { Inject, Injectable, Logger } from '@nestjs/common';
import { AccessError, AccessErrorCode, BREAK_GLASS_MARKER, formatDuration } from '@gatehouse/domain';
import { Database } from '../../db/database';
import { AccessRequestRow, AccessRequestsRepository } from '../../db/access-requests.repository';
import { AgentsRepository } from '../../db/agents.repository';
import { AuditEntry, AuditEventsRepository } from '../../db/audit-events.repository';
import { GrantRow, GrantsRepository } from '../../db/grants.repository';
import { Alert, ALERT_NOTIFIER, AlertNotifier } from '../../notify/alerts';
import { actorName } from '../actor';

// What makes break-glass loud: an audit event in the transaction that grants it, and an alert
// raised after that transaction commits. Both name the same who, what and why.

/** A submit raises its alert within milliseconds of its commit; older ones without `alertedAt` were lost. */
const LOST_AFTER_MS = 60_000;
const BATCH = 100;

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

/**
 * Raises the alert of a break-glass access after its commit, and records that it did, so that the
 * reconciler raises an alert lost in between (a crash, Redis down) instead of hoping.
 */
@Injectable()
export class BreakGlassAlerts {
  private readonly logger = new Logger(BreakGlassAlerts.name);

  constructor(
    private readonly db: Database,
    private readonly requests: AccessRequestsRepository,
    private readonly grants: GrantsRepository,
    private readonly agents: AgentsRepository,
    private readonly audit: AuditEventsRepository,
    @Inject(ALERT_NOTIFIER) private readonly alerts: AlertNotifier,
  ) {}

  /**
   * An attempt to break glass that the policy does not admit stores no request, but is audited
   * (in its own transaction): who tried, for what, and why. Never throws; other errors are ignored.
   */
  async recordRefusal(
    agent: { id: string },
    body: { resource: string; actions: string[]; columns?: string[]; operations?: string[]; duration: string; reason: string; onBehalfOf?: string },
    sourceIp: string | null,
    error: unknown,
  ): Promise<void> {
    if (!(error instanceof AccessError) || error.code !== AccessErrorCode.BREAK_GLASS_NOT_ALLOWED) return;
    const entry: AuditEntry = {
      type: 'access_request.break_glass_refused',
      actor: actorName({ kind: 'agent', id: agent.id }),
      sourceIp,
      agentId: agent.id,
      data: {
        resource: body.resource,
        actions: body.actions,
        ...(body.columns && { columns: body.columns }),
        ...(body.operations && { operations: body.operations }),
        duration: body.duration,
        reason: body.reason,
        onBehalfOf: body.onBehalfOf ?? null,
        code: error.code,
        message: error.message,
      },
    };
    try {
      await this.db.transaction((tx) => this.audit.append(tx, [entry]));
    } catch (failure) {
      this.logger.error(`auditing a refused break-glass attempt by agent ${agent.id} failed: ${failure}`);
    }
  }

  /** Never throws: the grant stands whatever happens here, and the reconciler retries. */
  async raise(row: AccessRequestRow, agent: { id: string; name: string }, grant: GrantRow, now: Date): Promise<boolean> {
    try {
      await this.alerts.raise(breakGlassAlert(row, agent, grant));
      await this.requests.markAlerted(this.db.client, row.id, now);
      return true;
    } catch (error) {
      this.logger.error(`the break-glass alert for request ${row.id} failed (the reconciler raises it again): ${error}`);
      return false;
    }
  }

  /** Raises the alerts of open reviews that should have been raised by now; returns how many it raised. */
  async repair(now: Date): Promise<number> {
    let raised = 0;
    const due = await this.requests.findUnalerted(this.db.client, new Date(now.getTime() - LOST_AFTER_MS), BATCH);
    for (const row of due) {
      const [grant, agent] = await Promise.all([
        this.grants.findByRequestId(this.db.client, row.id),
        this.agents.findById(this.db.client, row.agentId),
      ]);
      if (grant && agent && (await this.raise(row, agent, grant, now))) raised++;
    }
    return raised;
  }
}
