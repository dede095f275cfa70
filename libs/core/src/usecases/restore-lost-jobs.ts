import { Injectable, Logger } from '@nestjs/common';
import { Database } from '../db/database';
import { GrantsRepository } from '../db/grants.repository';
import { AccessRequestsRepository } from '../db/access-requests.repository';
import { JobToAdd, QueueService } from '../queue/queue.service';

const BATCH = 500;

/** How many jobs a restore enqueued, by kind (jobs that still existed are left as they were). */
export interface RestoredJobs {
  expiries: number;
  timeouts: number;
  reminders: number;
  escalations: number;
}

/**
 * Puts back the delayed jobs Postgres says should exist, after Redis lost its data (restarted
 * empty, flushed): the expiry of every live grant, and the timeout, reminder and escalation of
 * every pending request, each when it is still to come. What fell due while the jobs were missing
 * is the reconciler's (expiries, timeouts, escalations; a missed reminder is only a message).
 * Fixed job ids make it harmless to run while the jobs still exist, or from two workers at once.
 */
@Injectable()
export class RestoreLostJobs {
  private readonly logger = new Logger(RestoreLostJobs.name);

  constructor(
    private readonly db: Database,
    private readonly grants: GrantsRepository,
    private readonly requests: AccessRequestsRepository,
    private readonly queues: QueueService,
  ) {}

  async execute(now: Date): Promise<RestoredJobs> {
    const restored: RestoredJobs = { expiries: 0, timeouts: 0, reminders: 0, escalations: 0 };
    for (let after: string | undefined; ;) {
      const live = await this.grants.findLiveForExpiryJobs(this.db.client, now, after, BATCH);
      await this.queues.addBulk(live.map((g) => ({ name: 'expireGrant', data: { grantId: g.id }, runAt: g.expiresAt })));
      restored.expiries += live.length;
      if (live.length < BATCH) break;
      after = live[live.length - 1].id;
    }
    for (let after: string | undefined; ;) {
      const pending = await this.requests.findPendingForDeadlineJobs(this.db.client, now, after, BATCH);
      const jobs: JobToAdd[] = [];
      for (const r of pending) {
        const requestId = r.id;
        jobs.push({ name: 'timeOutRequest', data: { requestId }, runAt: r.approvalExpiresAt! });
        restored.timeouts++;
        if (r.remindAt && r.remindAt > now) {
          jobs.push({ name: 'remindApprovers', data: { requestId }, runAt: r.remindAt });
          restored.reminders++;
        }
        if (r.escalateAt && r.escalateAt > now && r.escalateTo && !r.escalatedAt) {
          jobs.push({ name: 'escalateRequest', data: { requestId }, runAt: r.escalateAt });
          restored.escalations++;
        }
      }
      await this.queues.addBulk(jobs);
      if (pending.length < BATCH) break;
      after = pending[pending.length - 1].id;
    }
    this.logger.log({ msg: 'restored the delayed jobs Postgres says should exist', ...restored });
    return restored;
  }
}
