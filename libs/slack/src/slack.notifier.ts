import { Injectable } from '@nestjs/common';
import { AccessRequestView, ApprovalNotifier, LogApprovalNotifier, QueueService } from '@gatehouse/core';

/**
 * Slack approvals: every notification becomes queue jobs with fixed ids (post, ask consent, edit,
 * thread reply), so a Slack outage delays messages but never loses or doubles them. Also logs, as
 * without Slack.
 */
@Injectable()
export class SlackNotifier implements ApprovalNotifier {
  constructor(private readonly queues: QueueService, private readonly log: LogApprovalNotifier) {}

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
    const seq = event === 'approval_received' ? view.approval?.received ?? 0 : 0;
    if (event !== 'reminder') await this.queues.add('slackUpdate', { requestId, event, seq });
    await this.queues.add('slackReply', { requestId, event, seq });
  }
}
