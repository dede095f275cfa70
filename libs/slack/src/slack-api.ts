import { Injectable } from '@nestjs/common';
import { WebClient } from '@slack/web-api';
import { Config } from '@gatehouse/core';
import type { Block, SlackMessage } from './message';

/** The Slack Web API client the broker uses: errors surface at once (429s included), retries are the queue's job. */
export function slackClient(config: Config): WebClient {
  return new WebClient(config.slack!.botToken, {
    slackApiUrl: config.slack!.apiUrl,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: 10_000,
  });
}

/** The small Slack surface approvals need: post, update, reply in a thread, ephemeral notes, modals, health. */
@Injectable()
export class SlackApi {
  readonly client: WebClient;

  constructor(config: Config) {
    this.client = slackClient(config);
  }

  async post(channel: string, message: SlackMessage): Promise<{ channel: string; ts: string }> {
    const res = await this.client.chat.postMessage({ channel, text: message.text, blocks: message.blocks as never, unfurl_links: false });
    return { channel: res.channel!, ts: res.ts! };
  }

  async update(channel: string, ts: string, message: SlackMessage): Promise<void> {
    await this.client.chat.update({ channel, ts, text: message.text, blocks: message.blocks as never });
  }

  async replyInThread(channel: string, threadTs: string, text: string): Promise<void> {
    await this.client.chat.postMessage({ channel, thread_ts: threadTs, text });
  }

  async ephemeral(channel: string, user: string, text: string, blocks?: Block[]): Promise<void> {
    await this.client.chat.postEphemeral({ channel, user, text, ...(blocks ? { blocks: blocks as never } : {}) });
  }

  async openModal(triggerId: string, view: Record<string, unknown>): Promise<void> {
    await this.client.views.open({ trigger_id: triggerId, view: view as never });
  }

  /** Whether the token works (auth.test). */
  async health(): Promise<boolean> {
    return this.client.auth.test().then(
      (r) => r.ok === true,
      () => false,
    );
  }
}
