import { Controller, HttpCode, Logger, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { verifySlackRequest } from '@slack/bolt';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { Config } from '@gatehouse/core';
import { SlackInteractions } from './slack.interactions';

/**
 * POST /slack/events: Slack's interactivity (and events) endpoint. Verified with Bolt's own check
 * on the raw body (HMAC-SHA256, 5-minute window, constant-time compare) before anything is parsed;
 * answered as soon as the handler acks, well within Slack's 3 s.
 */
@Controller()
export class SlackController {
  private readonly logger = new Logger(SlackController.name);

  constructor(private readonly config: Config, private readonly interactions: SlackInteractions) {}

  @Post('slack/events')
  @HttpCode(200)
  async events(@Req() req: FastifyRequest & { rawBody?: Buffer }, @Res() res: FastifyReply): Promise<void> {
    const raw = req.rawBody?.toString('utf8') ?? '';
    try {
      verifySlackRequest({
        signingSecret: this.config.slack!.signingSecret,
        body: raw,
        headers: {
          'x-slack-signature': String(req.headers['x-slack-signature'] ?? ''),
          'x-slack-request-timestamp': Number(req.headers['x-slack-request-timestamp']),
        },
      });
    } catch (error) {
      throw new AccessError(AccessErrorCode.INVALID_SLACK_SIGNATURE, `Slack request verification failed: ${(error as Error).message}`);
    }
    const body = parseBody(raw, String(req.headers['content-type'] ?? ''));
    if (body.type === 'url_verification') {
      void res.send({ challenge: body.challenge });
      return;
    }
    let acked = false;
    const ack = async (response?: unknown): Promise<void> => {
      if (acked) return;
      acked = true;
      if (response === undefined || response === '') await res.status(200).send('');
      else await res.status(200).send(response);
    };
    const retryNum = req.headers['x-slack-retry-num'] ? Number(req.headers['x-slack-retry-num']) : undefined;
    const retryReason = req.headers['x-slack-retry-reason'] ? String(req.headers['x-slack-retry-reason']) : undefined;
    try {
      await this.interactions.processEvent({ body, ack, retryNum, retryReason });
    } catch (error) {
      this.logger.warn(`Slack event failed: ${error}`);
      if (!acked) {
        acked = true;
        void res.status(500).send({ error: { code: 'INTERNAL', message: 'The Slack event could not be handled.', details: [] } });
      }
      return;
    }
    // Nothing listens for this kind of event: acknowledge so Slack does not retry it.
    await ack();
  }
}

function parseBody(raw: string, contentType: string): Record<string, any> {
  try {
    if (contentType.includes('application/x-www-form-urlencoded')) {
      const form = new URLSearchParams(raw);
      const payload = form.get('payload');
      return payload ? JSON.parse(payload) : Object.fromEntries(form);
    }
    return JSON.parse(raw || '{}');
  } catch {
    throw new AccessError(AccessErrorCode.VALIDATION_FAILED, 'The Slack request body is neither a form with a JSON payload nor JSON.');
  }
}
