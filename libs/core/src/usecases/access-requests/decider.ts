import { Injectable } from '@nestjs/common';
import { AccessError, AccessErrorCode, Approver, checkApprover } from '@gatehouse/domain';
import { Tx } from '../../db/prisma.service';
import { Database } from '../../db/database';
import { AccessRequestRow } from '../../db/access-requests.repository';
import { AgentsRepository } from '../../db/agents.repository';
import { AuditEventsRepository } from '../../db/audit-events.repository';
import { UsersRepository } from '../../db/users.repository';
import { Actor, actorName } from '../actor';

/** Someone deciding a request: an admin (acting alone or as a named user) or a directory user. */
export interface DecisionBy {
  actor: Actor;
  sourceIp?: string | null;
  /** The admin who entered a person's decision through REST (`asUser`), kept in the audit trail. */
  relayedBy?: string;
}

/** Audit data naming the admin who relayed a person's decision, when one did. */
export const relayOf = (by: DecisionBy): Record<string, string> => (by.relayedBy ? { relayedBy: `admin:${by.relayedBy}` } : {});

/**
 * Who may decide a request, shared by approve and deny (and by every transport: REST, Slack).
 * An admin acting as nobody is a break-glass override; everyone else must be an eligible approver.
 */
@Injectable()
export class Decider {
  constructor(
    private readonly db: Database,
    private readonly users: UsersRepository,
    private readonly agents: AgentsRepository,
    private readonly audit: AuditEventsRepository,
  ) {}

  /** Returns the approver key ('admin:x' or 'user:id') or throws; refusals are audited. */
  async authorize(tx: Tx, request: AccessRequestRow, by: DecisionBy, action: 'approve' | 'deny'): Promise<{ key: string; override: boolean }> {
    const agent = await this.agents.findById(tx, request.agentId);
    if (action === 'approve' && agent?.status !== 'active') {
      throw new AccessError(AccessErrorCode.AGENT_SUSPENDED, 'The requesting agent is suspended; resume it before approving its requests.');
    }
    if (request.consent === 'pending' && (action === 'approve' || by.actor.kind !== 'admin')) {
      throw new AccessError(
        AccessErrorCode.CONSENT_PENDING,
        `The request waits for ${request.onBehalfOf} to allow this agent to act for them; approvers decide after that. An admin may deny it, or delegate for the user (PUT /v1/admin/agents/${request.agentId}/delegations/${request.onBehalfOf}).`,
      );
    }
    if (by.actor.kind === 'admin') return { key: actorName(by.actor), override: true };
    if (by.actor.kind !== 'user') throw new AccessError(AccessErrorCode.NOT_AN_APPROVER, 'Only people decide access requests.');
    const user = await this.users.findById(tx, by.actor.id);
    if (!user) throw new AccessError(AccessErrorCode.USER_NOT_FOUND, `No user ${by.actor.id}.`);
    const approver: Approver = { id: user.id, groups: user.groups };
    const escalatedTo = request.escalatedAt ? request.escalateTo : null;
    checkApprover({ approvers: request.approverGroup ?? '', onBehalfOf: request.onBehalfOf, approver, escalatedTo });
    return { key: actorName(by.actor), override: false };
  }

  /** Records a refused attempt in its own transaction (the caller's rolls back with the error). */
  async recordRefusal(requestId: string, by: DecisionBy, action: string, error: unknown): Promise<void> {
    if (
      !(error instanceof AccessError) ||
      ![AccessErrorCode.NOT_AN_APPROVER, AccessErrorCode.SELF_APPROVAL, AccessErrorCode.USER_NOT_FOUND].includes(error.code)
    )
      return;
    await this.db.transaction((tx) =>
      this.audit.append(tx, [
        {
          type: 'approval.refused',
          actor: actorName(by.actor),
          sourceIp: by.sourceIp,
          requestId,
          data: { action, code: error.code, message: error.message, ...relayOf(by) },
        },
      ]),
    );
  }
}
