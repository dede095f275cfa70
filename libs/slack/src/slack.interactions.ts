import { Injectable, Logger } from '@nestjs/common';
import { App, BlockAction, ButtonAction, Receiver, ReceiverEvent, ViewSubmitAction } from '@slack/bolt';
import { AccessError, AccessErrorCode, ConsentAnswer } from '@gatehouse/domain';
import { AccessRequestView, AnswerConsent, ApproveAccessRequest, Config, DenyAccessRequest, DescribeForApprovers } from '@gatehouse/core';
import { CONSENT_ACTIONS } from './consent-message';
import { SlackUsers } from './slack-users';
import { escapeMrkdwn } from './mrkdwn';
import { ACTIONS, buildChangesModal, CHANGES_MODAL, modalBlockOf, readChangesSubmission } from './message';
import { slackTextOf } from './errors';
import { SlackApi } from './slack-api';

/** Bolt's receiver for Gatehouse: the HTTP side is a Nest controller that verifies and hands events over. */
class ControllerReceiver implements Receiver {
  app?: App;
  init(app: App): void {
    this.app = app;
  }
  start(): Promise<void> {
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type Decision = {
  action: 'approve' | 'deny';
  requestId: string;
  slackUserId: string;
  changes?: { columns?: string[]; operations?: string[]; duration?: string };
  comment?: string;
};

/**
 * Slack buttons and the changes modal, handled by Bolt. Each click is translated into the same use
 * cases REST calls (ApproveAccessRequest / DenyAccessRequest); who may decide is theirs to judge.
 */
@Injectable()
export class SlackInteractions {
  private readonly logger = new Logger(SlackInteractions.name);
  private readonly receiver = new ControllerReceiver();
  readonly app: App;

  constructor(
    config: Config,
    private readonly slack: SlackApi,
    private readonly users: SlackUsers,
    private readonly approve: ApproveAccessRequest,
    private readonly consent: AnswerConsent,
    private readonly deny: DenyAccessRequest,
    private readonly describe: DescribeForApprovers,
  ) {
    this.app = new App({
      token: config.slack!.botToken,
      receiver: this.receiver,
      tokenVerificationEnabled: false,
      clientOptions: { slackApiUrl: config.slack!.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, timeout: 10_000 },
    });
    this.app.action<BlockAction<ButtonAction>>(ACTIONS.approve, async ({ ack, body, action }) => {
      await ack();
      await this.tell(body, (await this.decide({ action: 'approve', requestId: action.value ?? '', slackUserId: body.user.id })).text);
    });
    this.app.action<BlockAction<ButtonAction>>(ACTIONS.deny, async ({ ack, body, action }) => {
      await ack();
      await this.tell(body, (await this.decide({ action: 'deny', requestId: action.value ?? '', slackUserId: body.user.id })).text);
    });
    for (const answer of Object.keys(CONSENT_ACTIONS) as ConsentAnswer[]) {
      this.app.action<BlockAction<ButtonAction>>(CONSENT_ACTIONS[answer], async ({ ack, body, action }) => {
        await ack();
        await this.tell(body, await this.answerConsent(answer, action.value ?? '', body.user.id));
      });
    }
    this.app.action<BlockAction<ButtonAction>>(ACTIONS.changes, async ({ ack, body, action }) => {
      await ack();
      const brief = await this.describe.execute(action.value ?? '');
      if (!brief || brief.view.status !== 'pending') {
        await this.tell(
          body,
          `:information_source: This request is ${brief ? `already ${brief.view.status.replace('_', ' ')}` : 'gone'}; nothing to change.`,
        );
        return;
      }
      await this.slack.openModal(body.trigger_id, buildChangesModal(brief, { channel: body.channel?.id }));
    });
    this.app.view<ViewSubmitAction>(CHANGES_MODAL, async ({ ack, body, view }) => {
      let input;
      try {
        input = readChangesSubmission(view);
      } catch (error) {
        if (!(error instanceof AccessError)) throw error;
        await ack({ response_action: 'errors', errors: { [modalBlockOf(error.details[0]?.path)]: slackTextOf(error, 'plain_text').slice(0, 150) } });
        return;
      }
      const outcome = await this.decide(
        {
          action: 'approve',
          requestId: input.requestId,
          slackUserId: body.user.id,
          comment: input.comment,
          changes: {
            ...(input.operations ? { operations: input.operations } : { columns: input.columns }),
            ...(input.duration ? { duration: input.duration } : {}),
          },
        },
        'plain_text',
      );
      // Refusals and bad input stay in the modal, next to the field concerned.
      if (outcome.text) await ack({ response_action: 'errors', errors: { [modalBlockOf(outcome.field)]: outcome.text.slice(0, 150) } });
      else await ack();
    });
  }

  /** Hands a verified request to Bolt; `ack` answers Slack's HTTP request. */
  processEvent(event: ReceiverEvent): Promise<void> {
    return this.app.processEvent(event);
  }

  /**
   * Runs the use case; returns what to tell the clicker (no text when the message itself will show
   * it) and which input field a refusal is about.
   */
  private async decide(d: Decision, format: 'mrkdwn' | 'plain_text' = 'mrkdwn'): Promise<{ text?: string; field?: string }> {
    // Button values come from our own messages; anything else is not a request we know.
    if (!UUID.test(d.requestId)) return { text: slackTextOf(new AccessError(AccessErrorCode.REQUEST_NOT_FOUND, 'Not a Gatehouse request.')) };
    try {
      const userId = await this.users.identify(d.slackUserId, d.requestId, d.action);
      const by = { actor: { kind: 'user' as const, id: userId, via: 'slack' as const } };
      const now = new Date();
      const result =
        d.action === 'approve'
          ? await this.approve.execute({ requestId: d.requestId, by, changes: d.changes, comment: d.comment, now })
          : await this.deny.execute({ requestId: d.requestId, by, comment: d.comment, now });
      return result.changed ? {} : { text: unchanged(result.view, d.action) };
    } catch (error) {
      if (error instanceof AccessError) return { text: slackTextOf(error, format), field: error.details[0]?.path?.replace(/\[.*$/, '') };
      this.logger.error(`Slack ${d.action} of ${d.requestId} failed: ${error}`);
      return { text: ':warning: Something went wrong in Gatehouse; nothing may have been recorded. Try again, or decide with the admin API.' };
    }
  }

  /** The named user answers whether the agent may act for them; returns what to tell them, if anything. */
  private async answerConsent(answer: ConsentAnswer, requestId: string, slackUserId: string): Promise<string | undefined> {
    if (!UUID.test(requestId)) return slackTextOf(new AccessError(AccessErrorCode.REQUEST_NOT_FOUND, 'Not a Gatehouse request.'));
    try {
      const userId = await this.users.identify(slackUserId, requestId, 'consent');
      const result = await this.consent.execute({ requestId, by: { actor: { kind: 'user', id: userId, via: 'slack' } }, answer, now: new Date() });
      if (result.changed) return undefined;
      return `:information_source: This request is already ${result.view.status.replace('_', ' ')}; your answer changed nothing.`;
    } catch (error) {
      if (error instanceof AccessError) return slackTextOf(error);
      this.logger.error(`Slack consent ${answer} on ${requestId} failed: ${error}`);
      return ':warning: Something went wrong in Gatehouse; your answer may not have been recorded. Try again.';
    }
  }

  private async tell(body: BlockAction, text: string | undefined): Promise<void> {
    if (!text || !body.channel?.id) return;
    await this.slack
      .ephemeral(body.channel.id, body.user.id, text)
      .catch((error) => this.logger.warn(`ephemeral to ${body.user.id} failed: ${error}`));
  }
}

/** A repeated click, a Slack retry or a stale message: the request already reflects it. */
function unchanged(view: AccessRequestView, action: 'approve' | 'deny'): string {
  if (view.status === 'pending') {
    const left = Math.max(0, (view.approval?.required ?? 1) - (view.approval?.received ?? 0));
    return `:information_source: Your approval was already recorded; it still needs ${left} more from a different person in ${escapeMrkdwn(view.approval?.approvers ?? '')}. Nothing changed.`;
  }
  const past = action === 'approve' ? 'approval' : 'denial';
  return `:information_source: This request is already ${view.status.replace('_', ' ')}${view.decidedBy ? ` (by ${escapeMrkdwn(view.decidedBy)})` : ''}; your ${past} changed nothing.`;
}
