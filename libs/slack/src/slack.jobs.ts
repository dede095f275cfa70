import { Injectable, Logger } from '@nestjs/common';
import { DelayedError, Job, UnrecoverableError } from 'bullmq';
import { ApproverBrief, Config, DescribeForApprovers, JOBS, QUEUES, QueueService, RecordSlackMessage } from '@gatehouse/core';
import { buildApprovalMessage, buildThreadReply } from './message';
import { slackFailure } from './errors';
import { SlackApi } from './slack-api';

/** Thrown while the approval message is not posted yet: the edit or reply retries after the post. */
class NotPostedYet extends Error {}

/**
 * Processors of the `slack` queue. Each reads the request as it is now (Postgres is the truth), so
 * a late or repeated job shows the current state; the post is written once, then only edited.
 */
@Injectable()
export class SlackJobs {
  private readonly logger = new Logger(SlackJobs.name);

  constructor(
    private readonly config: Config,
    private readonly slack: SlackApi,
    private readonly describe: DescribeForApprovers,
    private readonly record: RecordSlackMessage,
    private readonly queues: QueueService,
  ) {}

  /** Runs one job; a 429 waits exactly Slack's Retry-After (not counted as an attempt). */
  async run(job: Job, token?: string): Promise<unknown> {
    try {
      switch (job.name) {
        case 'slackPost':
          return await this.post(job.data.requestId);
        case 'slackUpdate':
          return await this.update(job.data.requestId);
        case 'slackReply':
          return await this.reply(job.data.requestId, job.data.event);
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

  /** Whether the request's post job is still to run (waiting, delayed or running). */
  private async postStillQueued(requestId: string): Promise<boolean> {
    const post = await this.queues.queues[QUEUES.slack].getJob(JOBS.slackPost.id({ requestId }));
    const state = post ? await post.getState() : 'unknown';
    return ['waiting', 'delayed', 'active', 'prioritized', 'waiting-children'].includes(state);
  }

  private async brief(requestId: string): Promise<ApproverBrief | null> {
    return this.describe.execute(requestId);
  }

  /** Posts the message, or edits it when a previous attempt already stored its ts. */
  async post(requestId: string): Promise<string> {
    const brief = await this.brief(requestId);
    if (!brief) return 'gone';
    const message = buildApprovalMessage(brief);
    if (brief.slack.channel && brief.slack.ts) {
      await this.slack.update(brief.slack.channel, brief.slack.ts, message);
    } else {
      const posted = await this.slack.post(this.config.slack!.approvalsChannel, message);
      await this.record.execute({ requestId, where: 'channel', ...posted });
    }
    const dmTo = brief.approverGroup === 'requester' ? brief.onBehalfOf?.slackUserId : null;
    if (dmTo) {
      if (brief.slack.dmChannel && brief.slack.dmTs) await this.slack.update(brief.slack.dmChannel, brief.slack.dmTs, message);
      else await this.record.execute({ requestId, where: 'dm', ...(await this.slack.post(dmTo, message)) });
    }
    return 'posted';
  }

  /** Edits the message (and the DM) to show the request as it is now. */
  async update(requestId: string): Promise<string> {
    const brief = await this.brief(requestId);
    if (!brief) return 'gone';
    if (!brief.slack.channel || !brief.slack.ts) throw new NotPostedYet(`request ${requestId} is not posted to Slack yet`);
    const message = buildApprovalMessage(brief);
    await this.slack.update(brief.slack.channel, brief.slack.ts, message);
    if (brief.slack.dmChannel && brief.slack.dmTs) await this.slack.update(brief.slack.dmChannel, brief.slack.dmTs, message);
    return 'updated';
  }

  /** Records the change in the thread (the DM's too, where the requester decides). */
  async reply(requestId: string, event: string): Promise<string> {
    const brief = await this.brief(requestId);
    if (!brief) return 'gone';
    if (!brief.slack.channel || !brief.slack.ts) throw new NotPostedYet(`request ${requestId} is not posted to Slack yet`);
    const text = buildThreadReply(brief, event);
    await this.slack.replyInThread(brief.slack.channel, brief.slack.ts, text);
    if (brief.slack.dmChannel && brief.slack.dmTs && ['reminder', 'escalated'].includes(event)) {
      await this.slack.replyInThread(brief.slack.dmChannel, brief.slack.dmTs, text);
    }
    return 'replied';
  }
}
