import { createHmac } from 'node:crypto';
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';

/** Which calls a failure applies to: one method, and only those whose arguments pass `when`. */
export interface CallFilter {
  method?: string;
  when?: (body: Record<string, any>) => boolean;
}

/** One recorded Web API call: the method (e.g. chat.postMessage) and its parsed arguments. */
export interface SlackCall {
  method: string;
  body: Record<string, any>;
  status: number;
  at: number;
}

/**
 * A local stand-in for the Slack Web API (https://slack.com/api/): answers like Slack (ok, ts,
 * channel), records every call with its parsed body, and fails on demand (500, or 429 with
 * Retry-After) so the real @slack/web-api and Bolt code run against it.
 */
export class FakeSlack {
  readonly calls: SlackCall[] = [];
  private server!: Server;
  private tsCounter = 0;
  private failures: ({ status: 500 | 429 | 200; retryAfter?: number; error?: string } & CallFilter)[] = [];
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(({ status, body, headers }) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/`;
    return this;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** The next `count` calls (of `method`, and matching `when`, if given) fail with this status. */
  failNext(count: number, status: 500 | 429, options: { retryAfter?: number } & CallFilter = {}): void {
    for (let i = 0; i < count; i++) this.failures.push({ status, ...options });
  }

  /** The next `count` calls (of `method`, if given) answer HTTP 200 with {ok: false, error}, as Slack refuses a call for good. */
  refuseNext(count: number, error: string, options: CallFilter = {}): void {
    for (let i = 0; i < count; i++) this.failures.push({ status: 200, error, ...options });
  }

  /** Recorded calls of one method, optionally only those concerning a request id (anywhere in the body). */
  of(method: string, requestId?: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method && c.status === 200 && (!requestId || JSON.stringify(c.body).includes(requestId)));
  }

  /** Successful calls about one message (by its ts), e.g. updates and thread replies. */
  aboutTs(method: string, ts: string, field: 'ts' | 'thread_ts'): SlackCall[] {
    return this.calls.filter((c) => c.method === method && c.status === 200 && c.body[field] === ts);
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body: unknown; headers?: Record<string, string> }> {
    const method = (req.url ?? '').replace(/^\/api\//, '').split('?')[0];
    const raw = await new Promise<string>((resolve) => {
      let data = '';
      req.on('data', (chunk) => (data += chunk));
      req.on('end', () => resolve(data));
    });
    const body = parseArgs(raw, String(req.headers['content-type'] ?? ''));
    const index = this.failures.findIndex((f) => (!f.method || f.method === method) && (!f.when || f.when(body)));
    if (index >= 0 && method !== 'auth.test') {
      const failure = this.failures.splice(index, 1)[0];
      // A refusal is answered 200 as Slack does, but recorded as failed (400): of() lists successes only.
      this.calls.push({ method, body, status: failure.status === 200 ? 400 : failure.status, at: Date.now() });
      if (failure.status === 200) return { status: 200, body: { ok: false, error: failure.error } };
      if (failure.status === 429)
        return { status: 429, body: { ok: false, error: 'ratelimited' }, headers: { 'retry-after': String(failure.retryAfter ?? 1) } };
      return { status: 500, body: { ok: false, error: 'internal_error' } };
    }
    this.calls.push({ method, body, status: 200, at: Date.now() });
    switch (method) {
      case 'auth.test':
        return {
          status: 200,
          body: { ok: true, url: 'https://fake.slack.com/', team: 'Fake', user: 'gatehouse', team_id: 'T0FAKE', user_id: 'UBOT', bot_id: 'BBOT' },
        };
      case 'chat.postMessage': {
        const ts = `${Math.floor(Date.now() / 1000)}.${String(++this.tsCounter).padStart(6, '0')}`;
        // A user id as channel opens the app's direct message with that user.
        const channel = String(body.channel).startsWith('U') ? `D${String(body.channel).slice(1)}` : body.channel;
        return { status: 200, body: { ok: true, channel, ts, message: { text: body.text, ts } } };
      }
      case 'chat.update':
        return { status: 200, body: { ok: true, channel: body.channel, ts: body.ts, text: body.text } };
      case 'chat.postEphemeral':
        return { status: 200, body: { ok: true, message_ts: `${Math.floor(Date.now() / 1000)}.999999` } };
      case 'views.open':
        return { status: 200, body: { ok: true, view: { id: `V${++this.tsCounter}`, ...body.view } } };
      default:
        return { status: 200, body: { ok: false, error: 'unknown_method' } };
    }
  }
}

/** Web API arguments arrive as a form whose complex values are JSON strings, or as JSON. */
function parseArgs(raw: string, contentType: string): Record<string, any> {
  if (contentType.includes('application/json')) return raw ? JSON.parse(raw) : {};
  const out: Record<string, any> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    try {
      out[key] = /^[[{]/.test(value) ? JSON.parse(value) : value;
    } catch {
      out[key] = value;
    }
  }
  return out;
}

/** Signs an interaction exactly like Slack: v0=HMAC-SHA256(secret, "v0:{ts}:{body}"), form body payload=<JSON>. */
export function signedInteraction(
  secret: string,
  payload: unknown,
  options: { timestamp?: number; retryNum?: number } = {},
): { body: string; headers: Record<string, string> } {
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const signature = `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': signature,
      ...(options.retryNum !== undefined ? { 'x-slack-retry-num': String(options.retryNum), 'x-slack-retry-reason': 'http_timeout' } : {}),
    },
  };
}

/** A block_actions payload as Slack sends it when someone clicks a button of the approval message. */
export function buttonClick(input: {
  slackUserId: string;
  actionId: string;
  requestId: string;
  channel?: string;
  messageTs?: string;
}): Record<string, unknown> {
  return {
    type: 'block_actions',
    team: { id: 'T0FAKE', domain: 'fake' },
    user: { id: input.slackUserId, username: input.slackUserId.toLowerCase(), team_id: 'T0FAKE' },
    api_app_id: 'A0FAKE',
    token: 'legacy-verification-token',
    trigger_id: `trigger-${input.slackUserId}-${Date.now()}`,
    channel: { id: input.channel ?? 'C0APPROVALS', name: 'approvals' },
    container: { type: 'message', message_ts: input.messageTs ?? '1.000001', channel_id: input.channel ?? 'C0APPROVALS' },
    message: { ts: input.messageTs ?? '1.000001', text: 'approval' },
    response_url: 'http://127.0.0.1:1/unused',
    actions: [
      {
        type: 'button',
        action_id: input.actionId,
        block_id: `decide-${input.requestId}`,
        value: input.requestId,
        action_ts: String(Date.now() / 1000),
        text: { type: 'plain_text', text: input.actionId },
      },
    ],
  };
}

/** A view_submission payload of the "Approve with changes" modal. */
export function changesSubmission(input: {
  slackUserId: string;
  requestId: string;
  columns: string[];
  duration?: string;
  comment?: string;
}): Record<string, unknown> {
  return {
    type: 'view_submission',
    team: { id: 'T0FAKE', domain: 'fake' },
    user: { id: input.slackUserId, username: input.slackUserId.toLowerCase(), team_id: 'T0FAKE' },
    api_app_id: 'A0FAKE',
    token: 'legacy-verification-token',
    trigger_id: `trigger-${Date.now()}`,
    view: {
      id: 'V0MODAL',
      type: 'modal',
      callback_id: 'gatehouse_changes_modal',
      team_id: 'T0FAKE',
      app_id: 'A0FAKE',
      bot_id: 'BBOT',
      private_metadata: JSON.stringify({ requestId: input.requestId, channel: 'C0APPROVALS' }),
      state: {
        values: {
          columns: {
            value: { type: 'checkboxes', selected_options: input.columns.map((c) => ({ text: { type: 'plain_text', text: c }, value: c })) },
          },
          duration: { value: { type: 'plain_text_input', value: input.duration ?? null } },
          comment: { value: { type: 'plain_text_input', value: input.comment ?? null } },
        },
      },
      hash: 'h',
      title: { type: 'plain_text', text: 'Approve with changes' },
      blocks: [],
    },
  };
}
