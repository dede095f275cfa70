import { Injectable, Logger } from '@nestjs/common';
import { AccessRequestView, ApprovalNotifier, JOBS, LogApprovalNotifier, QUEUES, QueueService } from '@gatehouse/core';
import { SlackMessagesRepository } from './slack-messages.repository';

/** A post younger than this may still be on its way; older and missing, it was lost. */
const POST_GRACE_MS = 30_000;

/**
 * Slack approvals: every notification becomes queue jobs with fixed ids (post, ask consent, edit,
 * thread reply), so a Slack outage delays messages but never loses or doubles them. Also logs, as
 * without Slack.
 */
@Injectable()
export class SlackNotifier implements ApprovalNotifier {
  private readonly logger = new Logger(SlackNotifier.name);

  constructor(
    private readonly queues: QueueService,
    private readonly log: LogApprovalNotifier,
    private readonly messages: SlackMessagesRepository,
  ) {}

  /** A direct message can reach only a user linked to a Slack account. */
  canAskConsent(user: { slackUserId: string | null }): boolean {
    return user.slackUserId !== null;
  }

  async requestChanged(view: AccessRequestView, event: string): Promise<void> {
    await this.log.requestChanged(view, event);
    const requestId = view.id;
    switch (event) {
      case 'pending':
        await this.queues.add('slackPost', { requestId });
        return;
      case 'consent_requested':
        await this.queues.add('slackConsent', { requestId });
        return;
      case 'consent_allowed':
        // The approvers' message is new; the user's consent message shows what they allowed.
        await this.queues.add('slackPost', { requestId });
        await this.queues.add('slackUpdate', { requestId, event, seq: 0 });
        return;
    }
    // Approvals received are numbered, so the second one of three is a job of its own.
    const seq = event === 'approval_received' ? (view.approval?.received ?? 0) : 0;
    if (event !== 'reminder') await this.queues.add('slackUpdate', { requestId, event, seq });
    await this.queues.add('slackReply', { requestId, event, seq });
  }

  /**
   * Pending requests that Slack should show but does not (the post job was lost with Redis, or gave
   * up while Slack was down) are posted again. A job kept as failed or completed would make the
   * fixed-id add a no-op, so it is removed first.
   */
  async reconcile(now: Date): Promise<void> {
    const queue = this.queues.queues[QUEUES.slack];
    const missing = await this.messages.findUnposted(new Date(now.getTime() - POST_GRACE_MS), 500);
    for (const { id: requestId, kind } of missing) {
      const name = kind === 'consent' ? 'slackConsent' : 'slackPost';
      const job = await queue.getJob(JOBS[name].id({ requestId }));
      const state = await job?.getState();
      if (state && !['failed', 'completed'].includes(state)) continue;
      await job?.remove();
      await this.queues.add(name, { requestId });
    }
    if (missing.length > 0) this.logger.log(`re-queued ${missing.length} Slack message(s) that were never posted`);
  }
}
