import { Inject, Injectable, Logger } from '@nestjs/common';
import { Database } from '../db/database';
import { AccessRequestsRepository } from '../db/access-requests.repository';
import { GrantsRepository } from '../db/grants.repository';
import { ExpireGrant } from './grants/expire-grant';
import { TimeOutAccessRequest } from './access-requests/time-out-access-request';
import { EscalateAccessRequest } from './access-requests/escalate-access-request';
import { APPROVAL_NOTIFIER, ApprovalNotifier } from '../notify/approval-notifier';
import { BreakGlassAlerts } from './access-requests/break-glass';

const BATCH = 500;

/**
 * Postgres is the truth and queues are only how work gets done on time: this ends every grant and
 * times out every request whose job was lost, then lets the notifier repair its own side (lost
 * Slack posts). Runs at start-up, on a schedule, and after Redis lost its data.
 */
@Injectable()
export class Reconcile {
  private readonly logger = new Logger(Reconcile.name);

  constructor(
    private readonly db: Database,
    private readonly grants: GrantsRepository,
    private readonly requests: AccessRequestsRepository,
    private readonly expireGrant: ExpireGrant,
    private readonly timeOut: TimeOutAccessRequest,
    private readonly escalate: EscalateAccessRequest,
    @Inject(APPROVAL_NOTIFIER) private readonly notifier: ApprovalNotifier,
    private readonly breakGlassAlerts: BreakGlassAlerts,
  ) {}

  async execute(now: Date): Promise<{ expired: number; timedOut: number; escalated: number }> {
    let expired = 0;
    let timedOut = 0;
    let escalated = 0;
    for (;;) {
      const ended = await this.expireGrant.expireDue(now);
      expired += ended.length;
      if (ended.length === 0) break;
    }
    for (;;) {
      const due = await this.requests.findPendingPastTimeout(this.db.client, now, BATCH);
      for (const { id } of due) if ((await this.timeOut.execute({ requestId: id, now })) === 'timed_out') timedOut++;
      if (due.length < BATCH) break;
    }
    // Escalation changes who may decide, so a lost escalate job is repaired too (a lost reminder is only a message).
    for (;;) {
      const due = await this.requests.findPendingPastEscalation(this.db.client, now, BATCH);
      for (const { id } of due) if ((await this.escalate.execute({ requestId: id, now })) === 'escalated') escalated++;
      if (due.length < BATCH) break;
    }
    if (expired + timedOut + escalated > 0)
      this.logger.log(`reconciled: ${expired} grant(s) expired, ${timedOut} request(s) timed out, ${escalated} escalated`);
    // A break-glass alert lost between its commit and the notifier is raised late rather than never.
    const alerted = await this.breakGlassAlerts.repair(now);
    if (alerted > 0) this.logger.warn(`reconciled: raised ${alerted} lost break-glass alert(s)`);
    // The notifier's repair is best effort: Postgres is already right, only messages may lag.
    if (this.notifier.reconcile) {
      try {
        await this.notifier.reconcile(now);
      } catch (error) {
        this.logger.warn(`the notifier's reconcile failed (retried on the next pass): ${error}`);
      }
    }
    return { expired, timedOut, escalated };
  }
}
