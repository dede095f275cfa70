import { Injectable } from '@nestjs/common';
import { AccessError, AccessErrorCode, effectiveGrantStatus, grantTransition } from '@gatehouse/domain';
import { Database } from '../../db/database';
import { GrantsRepository } from '../../db/grants.repository';
import { AuditEventsRepository } from '../../db/audit-events.repository';
import { AccessRequestPresenter, GrantView } from '../access-request.view';
import { RequestEffects } from '../access-requests/request-effects';
import { EndedGrants } from '../../enforcement/ended-grants';

type Ending = 'released' | 'revoked';

/** Ends a live grant early: release by its agent, revocation by an admin. Shared by both. */
@Injectable()
export class GrantEnder {
  constructor(
    private readonly db: Database,
    private readonly grants: GrantsRepository,
    private readonly audit: AuditEventsRepository,
    private readonly presenter: AccessRequestPresenter,
    private readonly effects: RequestEffects,
    private readonly ended: EndedGrants,
  ) {}

  async end(input: {
    grantId: string;
    to: Ending;
    actor: string;
    sourceIp?: string | null;
    reason?: string;
    now: Date;
    ownedBy?: string;
  }): Promise<GrantView> {
    const { now } = input;
    const grant = await this.db.transaction(async (tx) => {
      const row = await this.grants.findById(tx, input.grantId);
      if (!row || (input.ownedBy && row.agentId !== input.ownedBy)) {
        throw new AccessError(AccessErrorCode.GRANT_NOT_FOUND, `No grant ${input.grantId}${input.ownedBy ? ' for this agent' : ''}.`);
      }
      if (grantTransition(effectiveGrantStatus(row, now), input.to) === 'noop') return null;
      if ((await this.grants.end(tx, row.id, input.to, input.actor, now, input.reason)) === 0) {
        const current = await this.grants.findById(tx, row.id);
        grantTransition(current!.status, input.to);
        return null;
      }
      await this.audit.append(tx, [
        {
          type: `grant.${input.to}`,
          actor: input.actor,
          sourceIp: input.sourceIp,
          requestId: row.requestId,
          grantId: row.id,
          agentId: row.agentId,
          data: { reason: input.reason ?? null, expiresAt: row.expiresAt.toISOString() },
        },
      ]);
      return row;
    });
    const row = (await this.grants.findById(this.db.client, input.grantId))!;
    if (grant) {
      await this.ended.announce([row]);
      await this.effects.changed(row.requestId, input.to);
    }
    return this.presenter.grant(row, now);
  }
}

/** The agent is done with its task: the grant ends now. */
@Injectable()
export class ReleaseGrant {
  constructor(private readonly ender: GrantEnder) {}

  execute(input: { agentId: string; grantId: string; sourceIp?: string | null; now: Date }): Promise<GrantView> {
    return this.ender.end({
      grantId: input.grantId,
      to: 'released',
      actor: `agent:${input.agentId}`,
      sourceIp: input.sourceIp,
      now: input.now,
      ownedBy: input.agentId,
    });
  }
}

/** An admin ends a grant at once, with a reason. */
@Injectable()
export class RevokeGrant {
  constructor(private readonly ender: GrantEnder) {}

  execute(input: { grantId: string; admin: string; reason: string; sourceIp?: string | null; now: Date }): Promise<GrantView> {
    return this.ender.end({
      grantId: input.grantId,
      to: 'revoked',
      actor: `admin:${input.admin}`,
      reason: input.reason,
      sourceIp: input.sourceIp,
      now: input.now,
    });
  }
}
