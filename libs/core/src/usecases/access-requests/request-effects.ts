import { Inject, Injectable, Logger } from '@nestjs/common';
import { Database } from '../../db/database';
import { AccessRequestRow, AccessRequestsRepository } from '../../db/access-requests.repository';
import { GrantRow, GrantsRepository } from '../../db/grants.repository';
import { RequestEvents } from '../../events/request-events';
import { QueueService } from '../../queue/queue.service';
import { APPROVAL_NOTIFIER, ApprovalNotifier } from '../../notify/approval-notifier';
import { AccessRequestPresenter, AccessRequestView } from '../access-request.view';

/**
 * What follows a committed change: schedule the expiry or the timeout, wake long-polls, tell people.
 * None of it can undo the commit; a failure here is repaired by the reconciler.
 */
@Injectable()
export class RequestEffects {
  private readonly logger = new Logger(RequestEffects.name);

  constructor(
    private readonly db: Database,
    private readonly requests: AccessRequestsRepository,
    private readonly grants: GrantsRepository,
    private readonly presenter: AccessRequestPresenter,
    private readonly events: RequestEvents,
    private readonly queues: QueueService,
    @Inject(APPROVAL_NOTIFIER) private readonly notifier: ApprovalNotifier,
  ) {}

  async grantIssued(grant: GrantRow): Promise<void> {
    await this.queues.addSafely('expireGrant', { grantId: grant.id }, { runAt: grant.expiresAt });
  }

  /** A request waits for people: it times out, reminds its approvers and escalates on time. */
  async pendingCreated(row: Pick<AccessRequestRow, 'id' | 'approvalExpiresAt' | 'remindAt' | 'escalateAt'>): Promise<void> {
    const requestId = row.id;
    await this.queues.addSafely('timeOutRequest', { requestId }, { runAt: row.approvalExpiresAt! });
    if (row.remindAt) await this.queues.addSafely('remindApprovers', { requestId }, { runAt: row.remindAt });
    if (row.escalateAt) await this.queues.addSafely('escalateRequest', { requestId }, { runAt: row.escalateAt });
  }

  /**
   * A request that waited for its user's consent moved on: a grant to expire, or approvers to ask on
   * a new clock (its timeout job is replaced, not added), then everyone told.
   */
  async consentResolved(outcome: { event: string; request: AccessRequestRow; grant?: GrantRow }): Promise<void> {
    const { request } = outcome;
    if (outcome.grant) await this.grantIssued(outcome.grant);
    if (request.status === 'pending') {
      await this.queues.rescheduleSafely('timeOutRequest', { requestId: request.id }, request.approvalExpiresAt!);
      await this.pendingCreated(request);
    }
    // 'consent_allowed': the user said yes and the approvers are asked now.
    await this.changed(request.id, request.status === 'pending' ? 'consent_allowed' : outcome.event);
  }

  /** Wakes waiters and notifies people; `view` may be passed when the caller already rendered it. */
  async changed(requestId: string, event: string, view?: AccessRequestView): Promise<void> {
    await this.events.changed(requestId);
    try {
      await this.notifier.requestChanged(view ?? (await this.view(requestId)), event);
    } catch (error) {
      this.logger.warn(`notifying ${event} for ${requestId} failed: ${error}`);
    }
  }

  /**
   * Grants ended in a batch (expired): people are told, with the requests read in one batch. Nobody
   * long-polls a decided request, so there is nothing to publish.
   */
  async grantsEnded(requestIds: string[], event: string, now: Date): Promise<void> {
    const db = this.db.client;
    const ids = [...new Set(requestIds)];
    const [rows, grants, counts] = await Promise.all([
      this.requests.findByIds(db, ids),
      this.grants.findByRequestIds(this.db.pool, ids),
      this.requests.countApprovals(this.db.pool, ids),
    ]);
    const grantOf = new Map(grants.map((g) => [g.requestId, g]));
    for (const row of rows) {
      try {
        await this.notifier.requestChanged(await this.presenter.request(row, grantOf.get(row.id) ?? null, counts.get(row.id) ?? 0, now), event);
      } catch (error) {
        this.logger.warn(`notifying ${event} for ${row.id} failed: ${error}`);
      }
    }
  }

  /** Tells people without a state change (a reminder); nobody waits on it. */
  async notify(requestId: string, event: string): Promise<void> {
    try {
      await this.notifier.requestChanged(await this.view(requestId), event);
    } catch (error) {
      this.logger.warn(`notifying ${event} for ${requestId} failed: ${error}`);
    }
  }

  async view(requestId: string, now = new Date()): Promise<AccessRequestView> {
    const db = this.db.client;
    const [row, grant, approvals] = await Promise.all([
      this.requests.findById(db, requestId),
      this.grants.findByRequestId(db, requestId),
      this.requests.listApprovals(db, requestId),
    ]);
    return this.presenter.request(row!, grant, approvals.length, now);
  }
}
