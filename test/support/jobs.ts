import { Job, JobType, Queue } from 'bullmq';

/** The broker's `lifecycle` queue (expiries, timeouts) seen from outside, to lose or inspect jobs. */
export function lifecycleQueue(prefix = process.env.GATEHOUSE_REDIS_PREFIX!): Queue {
  return new Queue('lifecycle', { connection: { url: process.env.REDIS_URL }, prefix });
}

const EVERY_STATE: JobType[] = ['wait', 'delayed', 'active', 'completed', 'failed', 'prioritized', 'waiting-children'];

/** Every job stored under this id, in any state: a fixed job id must never appear twice. */
export async function jobsWithId(queue: Queue, id: string): Promise<Awaited<ReturnType<Queue['getJobs']>>> {
  const jobs = await queue.getJobs(EVERY_STATE);
  return jobs.filter((job) => job?.id === id);
}

/** A stand-in for a BullMQ job, to hand to JobRunner.run as a worker would (no lock token). */
export function fakeJob(name: string, data: unknown): Job {
  return { id: `fake-${name}`, name, data, attemptsMade: 0, opts: {} } as unknown as Job;
}
