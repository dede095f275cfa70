import { z } from 'zod';

/** Queue names. `lifecycle` ends things on time; `maintenance` repairs and seals. */
export const QUEUES = { lifecycle: 'lifecycle', maintenance: 'maintenance' } as const;

const uuid = z.uuid();

/** Every job the broker runs: its payload schema and its fixed id. */
export const JOBS = {
  expireGrant: { queue: QUEUES.lifecycle, schema: z.object({ grantId: uuid }).strict(), id: (d: { grantId: string }) => `expire-${d.grantId}` },
  timeOutRequest: { queue: QUEUES.lifecycle, schema: z.object({ requestId: uuid }).strict(), id: (d: { requestId: string }) => `timeout-${d.requestId}` },
  reconcile: { queue: QUEUES.maintenance, schema: z.object({}).strict(), id: () => 'reconcile' },
  sealAudit: { queue: QUEUES.maintenance, schema: z.object({}).strict(), id: () => 'seal-audit' },
} as const;

export type JobName = keyof typeof JOBS;
export type JobData<N extends JobName> = z.infer<(typeof JOBS)[N]['schema']>;
