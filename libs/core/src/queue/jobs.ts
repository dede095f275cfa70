import { z } from 'zod';

/** Queue names. `lifecycle` ends things on time; `maintenance` repairs and seals. */
export const QUEUES = { lifecycle: 'lifecycle', maintenance: 'maintenance', slack: 'slack' } as const;

const uuid = z.uuid();
const requestId = z.object({ requestId: uuid }).strict();
/** Slack calls retry longer: an outage of Slack must not lose a message (about 17 min in all). */
const SLACK_RETRY = { attempts: 12, backoff: { type: 'exponential', delay: 500 } } as const;
/** A change the approval message must show: the event and a counter (the approvals received). */
const slackChange = z.object({ requestId: uuid, event: z.string().regex(/^[a-z_]{1,32}$/), seq: z.int().min(0).max(1000) }).strict();
type SlackChange = z.infer<typeof slackChange>;

/** Every job the broker runs: its payload schema and its fixed id. */
export const JOBS = {
  expireGrant: { queue: QUEUES.lifecycle, schema: z.object({ grantId: uuid }).strict(), id: (d: { grantId: string }) => `expire-${d.grantId}` },
  timeOutRequest: {
    queue: QUEUES.lifecycle,
    schema: z.object({ requestId: uuid }).strict(),
    id: (d: { requestId: string }) => `timeout-${d.requestId}`,
  },
  remindApprovers: { queue: QUEUES.lifecycle, schema: requestId, id: (d: { requestId: string }) => `remind-${d.requestId}` },
  escalateRequest: { queue: QUEUES.lifecycle, schema: requestId, id: (d: { requestId: string }) => `escalate-${d.requestId}` },
  /** Posts the approval message (and the requester's DM); edits instead when its ts is stored. */
  slackPost: { queue: QUEUES.slack, schema: requestId, id: (d: { requestId: string }) => `slack-post-${d.requestId}`, retry: SLACK_RETRY },
  /** Asks the user named in onBehalfOf, in a direct message, whether the agent may act for them. */
  slackConsent: { queue: QUEUES.slack, schema: requestId, id: (d: { requestId: string }) => `slack-consent-${d.requestId}`, retry: SLACK_RETRY },
  /** Edits the approval message to show the request as it is now. */
  slackUpdate: {
    queue: QUEUES.slack,
    schema: slackChange,
    id: (d: SlackChange) => `slack-update-${d.requestId}-${d.event}-${d.seq}`,
    retry: SLACK_RETRY,
  },
  /** Records one change in the message's thread (reminders and escalations mention people). */
  slackReply: {
    queue: QUEUES.slack,
    schema: slackChange,
    id: (d: SlackChange) => `slack-reply-${d.requestId}-${d.event}-${d.seq}`,
    retry: SLACK_RETRY,
  },
  /** Posts an alert (break-glass, suspension) to the alerts channel; the payload is the alert itself. */
  slackAlert: {
    queue: QUEUES.slack,
    schema: z
      .object({
        id: z.string().regex(/^[\w.:-]{1,120}$/),
        title: z.string().min(1).max(300),
        fields: z.array(z.object({ label: z.string().min(1).max(60), value: z.string().max(3000) }).strict()).max(20),
      })
      .strict(),
    // BullMQ refuses ':' in a custom job id ("Custom Id cannot contain :"); the alert's id may hold one.
    id: (d: { id: string }) => `slack-alert-${d.id.replaceAll(':', '_')}`,
    retry: SLACK_RETRY,
  },
  reconcile: { queue: QUEUES.maintenance, schema: z.object({}).strict(), id: () => 'reconcile' },
  sealAudit: { queue: QUEUES.maintenance, schema: z.object({}).strict(), id: () => 'seal-audit' },
} as const;

export type JobName = keyof typeof JOBS;
export type JobData<N extends JobName> = z.infer<(typeof JOBS)[N]['schema']>;
