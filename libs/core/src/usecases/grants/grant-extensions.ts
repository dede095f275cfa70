import { Injectable } from '@nestjs/common';
import { AccessError, AccessErrorCode, formatDuration, isGrantLive } from '@gatehouse/domain';
import { Tx } from '../../db/prisma.service';
import type { AccessRequestRow } from '../../db/access-requests.repository';
import { AuditEntry } from '../../db/audit-events.repository';
import { GrantRow, GrantsRepository } from '../../db/grants.repository';
import { EndedGrants } from '../../enforcement/ended-grants';
import { RequestEffects } from '../access-requests/request-effects';

/** The grant an approved extension replaced, with its audit event; null when it had ended by itself meanwhile. */
export interface Superseded {
  grant: GrantRow | null;
  audit: AuditEntry[];
}

/**
 * What issuing an extension's grant does to the grant it extends, shared by the auto-approve path
 * (ExtendGrant) and by approvals (ApproveAccessRequest), inside their transactions: the new grant
 * stays within the chain's total, and the old one ends `superseded` in the same commit.
 */
@Injectable()
export class GrantExtensions {
  constructor(
    private readonly grants: GrantsRepository,
    private readonly ended: EndedGrants,
    private readonly effects: RequestEffects,
  ) {}

  /**
   * Locks the extended grant and checks it may still be replaced. A grant that expired or was
   * released while people decided is no obstacle (the extension issues its own grant); one that was
   * revoked or already replaced is: an admin's revocation must not be undone by a pending request,
   * and one grant is never extended twice.
   */
  async lockExtended(tx: Tx, request: AccessRequestRow): Promise<GrantRow> {
    const old = await this.grants.findForUpdate(tx, request.extendsGrantId!);
    if (!old) throw new AccessError(AccessErrorCode.GRANT_NOT_FOUND, `No grant ${request.extendsGrantId}.`);
    if (old.status === 'revoked' || old.status === 'superseded') {
      const why = old.status === 'revoked' ? 'was revoked' : 'was already extended by another request';
      throw new AccessError(
        AccessErrorCode.GRANT_NOT_ACTIVE,
        `The grant this request extends (${old.id}) ${why}; this extension can no longer be approved. Deny it.`,
        [{ path: 'extends', message: `is ${old.status}` }],
      );
    }
    return old;
  }

  /**
   * The duration an extension's grant gets at `now`: what was approved, within the chain's total
   * (its first grant's start plus the limit the policy decided), which keeps running while people decide.
   */
  withinChain(request: AccessRequestRow, durationSeconds: number, now: Date): number {
    const limit = request.decision.extension?.limitSeconds;
    if (!request.chainStartedAt || limit === undefined) return durationSeconds;
    const left = Math.floor((request.chainStartedAt.getTime() + limit * 1000 - now.getTime()) / 1000);
    if (left < 1) {
      throw new AccessError(
        AccessErrorCode.DURATION_TOO_LONG,
        `The grant chain reached its maxDuration of ${formatDuration(limit)} in all while this extension waited; deny it, and the agent asks anew.`,
        [{ path: 'duration', message: 'nothing left of the chain' }],
      );
    }
    return Math.min(durationSeconds, left);
  }

  /** Ends the extended grant as superseded by `next`, when it is still live; with its audit event. */
  async supersede(tx: Tx, old: GrantRow, next: GrantRow, actor: string, now: Date): Promise<Superseded> {
    if (!isGrantLive(old, now)) return { grant: null, audit: [] };
    if ((await this.grants.supersede(tx, old.id, actor, now, `extended by grant ${next.id}`)) === 0) return { grant: null, audit: [] };
    return {
      grant: old,
      audit: [
        {
          type: 'grant.superseded',
          actor,
          requestId: old.requestId,
          grantId: old.id,
          agentId: old.agentId,
          data: { by: { grantId: next.id, requestId: next.requestId }, expiresAt: old.expiresAt.toISOString() },
        },
      ],
    };
  }

  /** After commit: gateways and introspection refuse the old token at once, and people are told. */
  async announce(superseded: Superseded): Promise<void> {
    if (!superseded.grant) return;
    await this.ended.announce([superseded.grant]);
    await this.effects.changed(superseded.grant.requestId, 'superseded');
  }
}
