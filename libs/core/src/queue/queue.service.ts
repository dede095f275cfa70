import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { JobsOptions, Queue } from 'bullmq';
import { Config } from '../config/config';
import { withDeadline } from '../availability/dependency-failure';
import { COMMAND_RETRIES, redisConnectionOptions } from '../redis/redis-options';
import { JobData, JobName, JOBS, QUEUES } from './jobs';

/**
 * Longest wait for Redis to take a job. A queue that has not reached Redis since the process
 * started waits for it without limit; this bounds that, so a request never hangs on an enqueue.
 */
const ENQUEUE_DEADLINE_MS = 3000;

/** One job to enqueue: its name, payload and when it is due. */
export interface JobToAdd<N extends JobName = JobName> {
  name: N;
  data: JobData<N>;
  runAt?: Date;
}

/**
 * Enqueues typed jobs with fixed ids, so adding the same job twice is harmless. Enqueueing happens
 * after commit; if it fails, the reconciler finds the row and does the work anyway.
 */
@Injectable()
export class QueueService implements OnModuleDestroy {
  private readonly logger = new Logger(QueueService.name);
  readonly queues: Record<string, Queue>;

  constructor(private readonly config: Config) {
    const connection = { ...redisConnectionOptions(config), maxRetriesPerRequest: COMMAND_RETRIES };
    this.queues = Object.fromEntries(Object.values(QUEUES).map((name) => [name, new Queue(name, { connection, prefix: config.redisPrefix })]));
    // Without a listener BullMQ prints connection errors raw to stderr; keep them in the JSON log.
    for (const [name, queue] of Object.entries(this.queues)) queue.on('error', (error) => this.logger.warn(`queue ${name}: ${error.message}`));
  }

  async add<N extends JobName>(name: N, data: JobData<N>, options: { runAt?: Date } = {}): Promise<void> {
    const job = JOBS[name];
    await withDeadline(
      this.queues[job.queue].add(name, job.schema.parse(data), this.options(name, data, options.runAt)),
      ENQUEUE_DEADLINE_MS,
      'redis',
      `enqueue ${name}`,
    );
  }

  /** Adds many jobs in one round trip per queue; fixed ids make it as harmless to repeat as `add`. */
  async addBulk(jobs: JobToAdd[]): Promise<void> {
    const byQueue = new Map<string, { name: string; data: unknown; opts: JobsOptions }[]>();
    for (const { name, data, runAt } of jobs) {
      const queue = byQueue.get(JOBS[name].queue) ?? [];
      queue.push({ name, data: JOBS[name].schema.parse(data), opts: this.options(name, data, runAt) });
      byQueue.set(JOBS[name].queue, queue);
    }
    for (const [queue, bulk] of byQueue) {
      await withDeadline(this.queues[queue].addBulk(bulk), ENQUEUE_DEADLINE_MS, 'redis', `enqueue ${bulk.length} ${queue} job(s)`);
    }
  }

  /**
   * Replaces a delayed job whose time moved (its fixed id would make a plain add a no-op). Safe to
   * lose: the reconciler does the work late if Redis fails here.
   */
  async rescheduleSafely<N extends JobName>(name: N, data: JobData<N>, runAt: Date): Promise<void> {
    const job = JOBS[name];
    await this.queues[job.queue].remove(job.id(data as never)).catch(() => 0);
    await this.addSafely(name, data, { runAt });
  }

  /** Like add, but a Redis outage is logged instead of failing the request that already committed. */
  async addSafely<N extends JobName>(name: N, data: JobData<N>, options: { runAt?: Date } = {}): Promise<void> {
    await this.add(name, data, options).catch((error) => this.logger.warn(`could not enqueue ${name} (the reconciler will catch up): ${error}`));
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.allSettled(Object.values(this.queues).map((q) => q.close()));
  }

  private options<N extends JobName>(name: N, data: JobData<N>, runAt: Date | undefined): JobsOptions {
    const job = JOBS[name];
    const retry = 'retry' in job ? job.retry : { attempts: 5, backoff: { type: 'exponential', delay: 1000 } };
    return {
      jobId: job.id(data as never),
      delay: runAt ? Math.max(0, runAt.getTime() - Date.now()) : undefined,
      attempts: retry.attempts,
      backoff: { ...retry.backoff },
      removeOnComplete: { age: 3600 },
      removeOnFail: { age: 24 * 3600 },
    };
  }
}
