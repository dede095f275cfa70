import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy, Optional } from '@nestjs/common';
import { DelayedError, Job, UnrecoverableError, Worker } from 'bullmq';
import { AccessError } from '@gatehouse/domain';
import {
  AuditSealer,
  Config,
  EscalateAccessRequest,
  ExpireGrant,
  JobData,
  JOBS,
  JobName,
  ProcessLifecycle,
  QUEUES,
  Reconcile,
  redisConnectionOptions,
  RemindApprovers,
  TimeOutAccessRequest,
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

/** How one kind of job is run: its validated payload, the job itself (to re-delay it), and the time. */
type Handler<N extends JobName> = (data: JobData<N>, job: Job, token: string | undefined, now: Date) => Promise<unknown>;

/**
 * Runs the queues: expiries and timeouts on time, the reconciler and the audit sealer on a
 * schedule (kept alive by ScheduleKeeper). Each processor validates its payload and calls one use
 * case. On shutdown the workers stop once HTTP is drained, finishing the jobs they hold.
 */
@Injectable()
export class JobRunner implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(JobRunner.name);
  private workers: Worker[] = [];
  /** Every job the registry names has a handler here: a new job is a compile error until it does. */
  private readonly handlers: { [N in JobName]: Handler<N> } = {
    expireGrant: (d, job, token, now) => whenDue(job, token, this.expireGrant.execute({ grantId: d.grantId, now })),
    timeOutRequest: (d, job, token, now) => whenDue(job, token, this.timeOut.execute({ requestId: d.requestId, now })),
    remindApprovers: (d, job, token, now) => whenDue(job, token, this.remind.execute({ requestId: d.requestId, now })),
    escalateRequest: (d, job, token, now) => whenDue(job, token, this.escalate.execute({ requestId: d.requestId, now })),
    slackPost: (_d, job, token) => this.slack(job, token),
    slackConsent: (_d, job, token) => this.slack(job, token),
    slackUpdate: (_d, job, token) => this.slack(job, token),
    slackReply: (_d, job, token) => this.slack(job, token),
    slackAlert: (_d, job, token) => this.slack(job, token),
    reconcile: (_d, _job, _token, now) => this.reconcile.execute(now),
    sealAudit: () => this.sealer.sealAll(),
  };

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
    if (!Object.hasOwn(JOBS, name)) throw new UnrecoverableError(`unknown job ${job.name}`);
    const parsed = JOBS[name].schema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid ${job.name} payload: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    try {
      return await (this.handlers[name] as Handler<JobName>)(parsed.data as JobData<JobName>, job, token, new Date());
    } catch (error) {
      throw asJobError(error);
    }
  }

  private slack(job: Job, token: string | undefined): Promise<unknown> {
    if (!this.slackJobs) throw new UnrecoverableError('Slack is not configured in this process');
    return this.slackJobs.run(job, token);
  }
}
