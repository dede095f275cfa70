import { Injectable, Logger } from '@nestjs/common';
import { DelayedError, Job, UnrecoverableError } from 'bullmq';
import { ApproverBrief, Config, DescribeForApprovers, JobData, JOBS, QUEUES, QueueService } from '@gatehouse/core';
import { buildConsentMessage } from './consent-message';
import { buildAlertMessage, buildApprovalMessage, buildThreadReply, SlackMessage } from './message';
import { slackFailure } from './errors';
import { SlackApi } from './slack-api';
import { SlackMessageKind, SlackMessageRef, SlackMessagesRepository } from './slack-messages.repository';

/** Thrown while the message to edit or reply to is not posted yet: the job retries after the post. */
class NotPostedYet extends Error {}

/**
 * Processors of the `slack` queue. Each reads the request as it is now (Postgres is the truth), so
 * a late or repeated job shows the current state; each message is posted once, then only edited.
 */
@Injectable()
export class SlackJobs {
  private readonly logger = new Logger(SlackJobs.name);

  constructor(
    private readonly config: Config,
    private readonly slack: SlackApi,
    private readonly describe: DescribeForApprovers,
    private readonly messages: SlackMessagesRepository,
    private readonly queues: QueueService,
  ) {}

  /** Runs one job; a 429 waits exactly Slack's Retry-After (not counted as an attempt). */
  async run(job: Job, token?: string): Promise<unknown> {
    try {
      switch (job.name) {
        case 'slackPost':
          return await this.post(job.data.requestId);
        case 'slackConsent':
          return await this.askConsent(job.data.requestId);
        case 'slackUpdate':
          return await this.update(job.data.requestId);
        case 'slackReply':
          return await this.reply(job.data.requestId, job.data.event);
        case 'slackAlert':
          return await this.alert(job.data as JobData<'slackAlert'>);
        default:
          throw new UnrecoverableError(`unknown Slack job ${job.name}`);
      }
    } catch (error) {
      if (error instanceof NotPostedYet && token && (await this.postStillQueued(job.data.requestId))) {
        // Follow the post closely instead of backing off: this wait does not use up attempts.
        await job.moveToDelayed(Date.now() + 1000, token);
        throw new DelayedError();
      }
      if (error instanceof UnrecoverableError || error instanceof NotPostedYet) throw error;
      const failure = slackFailure(error);
      if (failure.kind === 'rate_limited' && token) {
        this.logger.warn(`Slack rate-limited ${job.name} ${job.id}: retrying in ${failure.retryAfterSeconds}s`);
        await job.moveToDelayed(Date.now() + failure.retryAfterSeconds * 1000, token);
        throw new DelayedError();
      }
      if (failure.kind === 'permanent') throw new UnrecoverableError(`${job.name}: ${failure.reason}`);
      throw error;
    }
  }

  /** Whether a job that posts one of the request's messages is still to run (waiting, delayed or running). */
  private async postStillQueued(requestId: string): Promise<boolean> {
    const queue = this.queues.queues[QUEUES.slack];
    for (const id of [JOBS.slackPost.id({ requestId }), JOBS.slackConsent.id({ requestId })]) {
      const state = await (await queue.getJob(id))?.getState();
      if (state && ['waiting', 'delayed', 'active', 'prioritized', 'waiting-children'].includes(state)) return true;
    }
    return false;
  }

  /** Posts `message` as the request's message of `kind`, or edits it when an earlier attempt stored it. */
  private async show(
    requestId: string,
    kind: SlackMessageKind,
    to: string,
    message: SlackMessage,
    stored: SlackMessageRef | undefined,
  ): Promise<void> {
    if (stored) await this.slack.update(stored.channel, stored.ts, message);
    else await this.messages.record(requestId, kind, await this.slack.post(to, message));
  }

  /** The approvals channel message (and the DM of the user acted for when they approve). */
  async post(requestId: string): Promise<string> {
    const brief = await this.describe.execute(requestId);
    if (!brief) return 'gone';
    const stored = await this.messages.forRequest(requestId);
    const message = buildApprovalMessage(brief);
    await this.show(requestId, 'approvals', this.config.slack!.approvalsChannel, message, stored.approvals);
    const dmTo = brief.approverGroup === 'requester' ? brief.onBehalfOf?.slackUserId : null;
    if (dmTo) await this.show(requestId, 'requester', dmTo, message, stored.requester);
    return 'posted';
  }

  /** The direct message asking the named user whether the agent may act for them. */
  async askConsent(requestId: string): Promise<string> {
    const brief = await this.describe.execute(requestId);
    const to = brief?.onBehalfOf?.slackUserId;
    if (!brief || !to) return 'gone';
    const stored = await this.messages.forRequest(requestId);
    await this.show(requestId, 'consent', to, buildConsentMessage(brief), stored.consent);
    return 'asked';
  }

  /** Edits every message the request has in Slack to show it as it is now. */
  async update(requestId: string): Promise<string> {
    const brief = await this.describe.execute(requestId);
    if (!brief) return 'gone';
    const stored = await this.messages.forRequest(requestId);
    const found = Object.entries(stored) as [SlackMessageKind, SlackMessageRef][];
    if (found.length === 0) throw new NotPostedYet(`request ${requestId} is not in Slack yet`);
    for (const [kind, ref] of found) await this.slack.update(ref.channel, ref.ts, this.render(kind, brief));
    return 'updated';
  }

  /** Records the change in the approvals message's thread (the requester's DM too, for reminders and escalation). */
  async reply(requestId: string, event: string): Promise<string> {
    const brief = await this.describe.execute(requestId);
    if (!brief) return 'gone';
    const stored = await this.messages.forRequest(requestId);
    if (!stored.approvals) {
      // A request that never reached the approvers (refused or withdrawn while asking consent) has no thread.
      if (brief.consent !== null && brief.approverGroup === null) return 'no thread';
      throw new NotPostedYet(`request ${requestId} is not posted to Slack yet`);
    }
    const text = buildThreadReply(brief, event);
    await this.slack.replyInThread(stored.approvals.channel, stored.approvals.ts, text);
    if (stored.requester && ['reminder', 'escalated'].includes(event))
      await this.slack.replyInThread(stored.requester.channel, stored.requester.ts, text);
    return 'replied';
  }

  /** Posts an alert to the alerts channel. A retry after a timeout may post twice: an alert errs on being seen. */
  async alert(alert: JobData<'slackAlert'>): Promise<string> {
    await this.slack.post(this.config.slack!.alertsChannel, buildAlertMessage(alert));
    return 'alerted';
  }

  private render(kind: SlackMessageKind, brief: ApproverBrief): SlackMessage {
    return kind === 'consent' ? buildConsentMessage(brief) : buildApprovalMessage(brief);
  }
}
