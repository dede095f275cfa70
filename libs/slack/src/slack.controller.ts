import { Controller, HttpCode, Logger, Post, Req, Res } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { verifySlackRequest } from '@slack/bolt';
import { z } from 'zod';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { Config, parseInput, refuseUnstorableText } from '@gatehouse/core';
import { SlackInteractions } from './slack.interactions';

/** Slack's replay window, both ways: a request timestamped further in the past or the future is refused. */
export const SLACK_SIGNATURE_WINDOW_SECONDS = 5 * 60;

const slackUser = z.looseObject({ id: z.string().min(1).max(64) });

/**
 * The interaction payloads Gatehouse handles, as far as its handlers (and Bolt) read them. Kept
 * generic over action ids: any button of ours, present or future, is a block_actions payload.
 */
export const slackPayloads = {
  block_actions: z.looseObject({
    type: z.literal('block_actions'),
    user: slackUser,
    actions: z
      .array(z.looseObject({ action_id: z.string().min(1).max(255), value: z.string().max(2000).optional() }))
      .min(1)
      .max(25),
    channel: z.looseObject({ id: z.string().min(1).max(64) }).nullish(),
    trigger_id: z.string().max(255).optional(),
  }),
  view_submission: z.looseObject({
    type: z.literal('view_submission'),
    user: slackUser,
    view: z.looseObject({
      callback_id: z.string().max(255),
      private_metadata: z.string().max(3000),
      state: z.looseObject({ values: z.record(z.string(), z.record(z.string(), z.unknown())) }),
    }),
  }),
  url_verification: z.looseObject({ type: z.literal('url_verification'), challenge: z.string().min(1).max(500) }),
};
type Handled = keyof typeof slackPayloads;

/**
 * POST /slack/events: Slack's interactivity (and events) endpoint. Verified with Bolt's own check
 * on the raw body (HMAC-SHA256, constant-time compare) plus a timestamp window of five minutes
 * both ways, before anything is parsed. A verified payload is then checked for its shape: Bolt and
 * our handlers trust the fields they read, so a malformed one is a 400 here, never a crash later.
 * Answered as soon as the handler acks, well within Slack's 3 s.
 */
@Controller()
export class SlackController {
  private readonly logger = new Logger(SlackController.name);

  constructor(
    private readonly config: Config,
    private readonly interactions: SlackInteractions,
  ) {}

  @Post('slack/events')
  @HttpCode(200)
  async events(@Req() req: FastifyRequest & { rawBody?: Buffer }, @Res() res: FastifyReply): Promise<void> {
    const raw = req.rawBody?.toString('utf8') ?? '';
    verify(this.config.slack!.signingSecret, raw, req.headers, new Date());
    const body = parseBody(raw, String(req.headers['content-type'] ?? ''));
    const type = handledType(body);
    if (!type) {
      // Well-formed, but nothing here handles it: acknowledge so Slack does not retry it.
      await res.status(200).send('');
      return;
    }
    const payload = parseInput(slackPayloads[type], body, 'Slack payload');
    if (payload.type === 'url_verification') {
      void res.send({ challenge: payload.challenge });
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
      await this.interactions.processEvent({ body: payload, ack, retryNum, retryReason });
    } catch (error) {
      this.logger.warn(`Slack event failed: ${error}`);
      if (acked) return;
      acked = true;
      // Not yet answered: the error filter answers it, 503 with Retry-After for an outage (Slack retries).
      throw error;
    }
    // Nothing listens for this kind of event: acknowledge so Slack does not retry it.
    await ack();
  }
}

/** Bolt's signature check, plus the half of the window Bolt leaves open: timestamps in the future. */
function verify(signingSecret: string, raw: string, headers: FastifyRequest['headers'], now: Date): void {
  const timestamp = Number(headers['x-slack-request-timestamp']);
  try {
    if (timestamp > now.getTime() / 1000 + SLACK_SIGNATURE_WINDOW_SECONDS) {
      throw new Error(
        `x-slack-request-timestamp is more than ${SLACK_SIGNATURE_WINDOW_SECONDS / 60} minutes in the future; check the sender's clock`,
      );
    }
    verifySlackRequest({
      signingSecret,
      body: raw,
      headers: { 'x-slack-signature': String(headers['x-slack-signature'] ?? ''), 'x-slack-request-timestamp': timestamp },
    });
  } catch (error) {
    throw new AccessError(AccessErrorCode.INVALID_SLACK_SIGNATURE, `Slack request verification failed: ${(error as Error).message}`);
  }
}

function parseBody(raw: string, contentType: string): unknown {
  let body: unknown;
  try {
    if (contentType.includes('application/x-www-form-urlencoded')) {
      const form = new URLSearchParams(raw);
      const payload = form.get('payload');
      body = payload !== null ? JSON.parse(payload) : Object.fromEntries(form);
    } else {
      body = JSON.parse(raw || '{}');
    }
  } catch {
    throw new AccessError(AccessErrorCode.VALIDATION_FAILED, 'The Slack request body is neither a form with a JSON payload nor JSON.');
  }
  // Text Postgres cannot store, anywhere in the payload (a user id, a comment in the modal...).
  refuseUnstorableText(body, 'Slack payload');
  return body;
}

/** The payload type we handle; undefined for well-formed kinds we do not (Slack gets a 200); 400 for anything else. */
function handledType(body: unknown): Handled | undefined {
  const fields = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : undefined;
  if (fields && typeof fields.type === 'string' && fields.type.length > 0) {
    return Object.hasOwn(slackPayloads, fields.type) ? (fields.type as Handled) : undefined;
  }
  // Slash commands and SSL checks come as plain forms without a type.
  if (fields && (typeof fields.command === 'string' || fields.ssl_check !== undefined)) return undefined;
  throw new AccessError(
    AccessErrorCode.VALIDATION_FAILED,
    'The Slack payload is invalid: type: expected a Slack payload type such as block_actions',
    [{ path: 'type', message: 'required' }],
  );
}
