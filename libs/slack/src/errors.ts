import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { ErrorCode, WebAPICallError } from '@slack/web-api';
import { escapeMrkdwn } from './mrkdwn';

/**
 * The one place an error code becomes text for a person in Slack. Exhaustive: a new code must be
 * worded here. Error messages quote input (a column, a user id, a comment), so in mrkdwn (messages)
 * they are escaped; a modal's field error is plain text, where an entity would show as typed.
 */
export function slackTextOf(error: AccessError, format: 'mrkdwn' | 'plain_text' = 'mrkdwn'): string {
  const message = format === 'mrkdwn' ? escapeMrkdwn(error.message) : error.message;
  switch (error.code) {
    case AccessErrorCode.SELF_APPROVAL:
      return `:no_entry_sign: You cannot approve a request made on your own behalf. ${message} Nothing was recorded.`;
    case AccessErrorCode.NOT_AN_APPROVER:
      return `:no_entry_sign: You are not an approver of this request. ${message} Nothing was recorded.`;
    case AccessErrorCode.USER_NOT_FOUND:
      return ':no_entry_sign: Your Slack account is not linked to a Gatehouse user, so your click cannot count. Ask an admin to set your slackUserId. Nothing was recorded.';
    case AccessErrorCode.AGENT_SUSPENDED:
      return `:pause_button: ${message} Nothing was recorded.`;
    case AccessErrorCode.CONSENT_PENDING:
      return `:hourglass: ${message} Nothing was recorded.`;
    case AccessErrorCode.REQUEST_NOT_PENDING:
      return `:information_source: This request is no longer pending. ${message} Nothing changed.`;
    case AccessErrorCode.REQUEST_NOT_FOUND:
      return ':information_source: This request no longer exists in Gatehouse. Nothing changed.';
    case AccessErrorCode.NARROWING_ONLY:
    case AccessErrorCode.VALIDATION_FAILED:
    case AccessErrorCode.INVALID_DURATION:
    case AccessErrorCode.DURATION_TOO_LONG:
    case AccessErrorCode.UNKNOWN_COLUMN:
    case AccessErrorCode.UNKNOWN_OPERATION:
      return `:warning: ${message} Nothing was recorded; fix it and try again.`;
    case AccessErrorCode.RATE_LIMITED:
    case AccessErrorCode.UNAVAILABLE:
      return ':warning: Gatehouse is busy or a dependency is down; nothing was recorded. Try again in a minute.';
    case AccessErrorCode.MALFORMED_JSON:
    case AccessErrorCode.PAYLOAD_TOO_LARGE:
    case AccessErrorCode.UNSUPPORTED_MEDIA_TYPE:
    case AccessErrorCode.AUTHENTICATION_REQUIRED:
    case AccessErrorCode.INVALID_ASSERTION:
    case AccessErrorCode.ASSERTION_REPLAYED:
    case AccessErrorCode.INVALID_ADMIN_TOKEN:
    case AccessErrorCode.INVALID_SLACK_SIGNATURE:
    case AccessErrorCode.INVALID_TOKEN:
    case AccessErrorCode.AGENT_NOT_FOUND:
    case AccessErrorCode.GRANT_NOT_FOUND:
    case AccessErrorCode.ROUTE_NOT_FOUND:
    case AccessErrorCode.GRANT_NOT_ACTIVE:
    case AccessErrorCode.AGENT_NAME_TAKEN:
    case AccessErrorCode.USER_CONFLICT:
    case AccessErrorCode.IDEMPOTENCY_KEY_REUSED:
    case AccessErrorCode.EXTENSION_PENDING:
    case AccessErrorCode.UNKNOWN_RESOURCE:
    case AccessErrorCode.ACTION_NOT_ALLOWED:
    case AccessErrorCode.UNKNOWN_USER:
    case AccessErrorCode.INVALID_KEY:
    case AccessErrorCode.INVALID_POLICY:
    case AccessErrorCode.DELEGATION_REQUIRED:
    case AccessErrorCode.NOT_GRANTED:
    case AccessErrorCode.BREAK_GLASS_NOT_ALLOWED:
    case AccessErrorCode.NOT_AWAITING_REVIEW:
      return `:warning: ${message} Nothing was recorded.`;
  }
}

/** Slack platform errors worth retrying; every other `ok: false` answer is permanent (bad channel, token...). */
const TRANSIENT = new Set(['internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'ratelimited']);

/** How a failed Slack call ends a job attempt: wait as Slack asked, retry with backoff, or give up. */
export function slackFailure(
  error: unknown,
): { kind: 'rate_limited'; retryAfterSeconds: number } | { kind: 'retry' } | { kind: 'permanent'; reason: string } {
  const e = error as WebAPICallError & { retryAfter?: number; data?: { error?: string } };
  switch (e?.code) {
    case ErrorCode.RateLimitedError:
      return { kind: 'rate_limited', retryAfterSeconds: Math.max(1, Number(e.retryAfter) || 1) };
    case ErrorCode.PlatformError:
      return TRANSIENT.has(e.data?.error ?? '') ? { kind: 'retry' } : { kind: 'permanent', reason: `Slack said ${e.data?.error}` };
    default:
      // HTTP 5xx, timeouts, connection errors, and anything unexpected: Slack may come back.
      return { kind: 'retry' };
  }
}
