import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import { DelayedError, Job, UnrecoverableError, Worker } from 'bullmq';
import { AccessError } from '@gatehouse/domain';
import {
  AuditSealer, Config, EscalateAccessRequest, ExpireGrant, JOBS, JobName, ProcessLifecycle, QUEUES, Reconcile, redisConnectionOptions,
  RemindApprovers, TimeOutAccessRequest,
} from '@gatehouse/core';
import { SlackJobs } from '@gatehouse/slack';
import { ScheduleKeeper } from './schedule-keeper';

/** Permanent failures (bad payloads, domain refusals) must not be retried. */
function asJobError(error: unknown): unknown {
  return error instanceof AccessError ? new UnrecoverableError(`${error.code}: ${error.message}`) : error;
}

/**
 * A job that ran early (clock drift between hosts) runs again a second later; the reconciler is the
 * backstop if it is lost.
 */
async function whenDue<T>(job: Job, token: string | undefined, outcome: Promise<T>): Promise<T> {
  const result = await outcome;
  if (result === 'not_due' && token) {
    await job.moveToDelayed(Date.now() + 1000, token);
    throw new DelayedError();
  }
  return result;
}

/**
 * Runs the queues: expiries and timeouts on time, the reconciler and the audit sealer on a
 * schedule (kept alive by ScheduleKeeper). Each processor validates its payload and calls one use
 * case. On shutdown the workers stop once HTTP is drained, finishing the jobs they hold.
 */
@Injectable()
export class JobRunner implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(JobRunner.name);
  private workers: Worker[] = [];

  constructor(
    private readonly config: Config,
    private readonly schedules: ScheduleKeeper,
    private readonly lifecycle: ProcessLifecycle,
    private readonly expireGrant: ExpireGrant,
    private readonly timeOut: TimeOutAccessRequest,
    private readonly reconcile: Reconcile,
    private readonly sealer: AuditSealer,
    private readonly remind: RemindApprovers,
    private readonly escalate: EscalateAccessRequest,
    // Present only when Slack is configured (SlackModule).
    @Optional() private readonly slackJobs?: SlackJobs,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // BullMQ's own reconnect backs off to 20 s; ours keeps the workers within a second of Redis.
    const connection = redisConnectionOptions(this.config);
    const prefix = this.config.redisPrefix;
    this.workers = [
      new Worker(QUEUES.lifecycle, (job, token) => this.run(job, token), { connection, prefix, concurrency: 10 }),
      new Worker(QUEUES.maintenance, (job, token) => this.run(job, token), { connection, prefix, concurrency: 1 }),
      ...(this.slackJobs ? [new Worker(QUEUES.slack, (job, token) => this.run(job, token), { connection, prefix, concurrency: 5 })] : []),
    ];
    for (const worker of this.workers) {
      worker.on('failed', (job, error) => this.logger.warn(`job ${job?.id} failed: ${error.message}`));
      worker.on('error', (error) => this.logger.warn(`worker ${worker.name}: ${error.message}`));
    }
    this.lifecycle.whenStoppingWork(() => this.closeWorkers());
    await this.schedules.start();
  }

  /** Stops taking jobs and waits for the active ones to finish. */
  async closeWorkers(): Promise<void> {
    await Promise.allSettled(this.workers.map((w) => w.close()));
  }

  async onModuleDestroy(): Promise<void> {
    await this.closeWorkers();
  }

  /** Exposed for tests: processes one job as a worker would. */
  async run(job: Job, token?: string): Promise<unknown> {
    const name = job.name as JobName;
    const spec = JOBS[name];
    if (!spec) throw new UnrecoverableError(`unknown job ${job.name}`);
    const parsed = spec.schema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid ${job.name} payload: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    const now = new Date();
    try {
      switch (name) {
        case 'expireGrant':
          return await whenDue(job, token, this.expireGrant.execute({ grantId: (parsed.data as { grantId: string }).grantId, now }));
        case 'remindApprovers':
          return await whenDue(job, token, this.remind.execute({ requestId: (parsed.data as { requestId: string }).requestId, now }));
        case 'escalateRequest':
          return await whenDue(job, token, this.escalate.execute({ requestId: (parsed.data as { requestId: string }).requestId, now }));
        case 'slackPost':
        case 'slackConsent':
        case 'slackUpdate':
        case 'slackReply':
          if (!this.slackJobs) throw new UnrecoverableError('Slack is not configured in this process');
          return await this.slackJobs.run(job, token);
        case 'timeOutRequest':
          return await this.timeOut.execute({ requestId: (parsed.data as { requestId: string }).requestId, now });
        case 'reconcile':
          return await this.reconcile.execute(now);
        case 'sealAudit':
          return await this.sealer.sealAll();
      }
    } catch (error) {
      throw asJobError(error);
    }
  }
}
