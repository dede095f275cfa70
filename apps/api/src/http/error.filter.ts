import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AccessError, AccessErrorCode, ErrorDetail } from '@gatehouse/domain';
import { Availability, RETRY_AFTER_SECONDS, unavailableError } from '@gatehouse/core';

/** The one place an error code becomes an HTTP status. Exhaustive: a new code must be mapped here. */
export function httpStatusOf(code: AccessErrorCode): number {
  switch (code) {
    case AccessErrorCode.VALIDATION_FAILED:
    case AccessErrorCode.MALFORMED_JSON:
      return 400;
    case AccessErrorCode.AUTHENTICATION_REQUIRED:
    case AccessErrorCode.INVALID_ASSERTION:
    case AccessErrorCode.ASSERTION_REPLAYED:
    case AccessErrorCode.INVALID_ADMIN_TOKEN:
    case AccessErrorCode.INVALID_SLACK_SIGNATURE:
    case AccessErrorCode.INVALID_TOKEN:
      return 401;
    case AccessErrorCode.AGENT_SUSPENDED:
    case AccessErrorCode.SELF_APPROVAL:
    case AccessErrorCode.NOT_AN_APPROVER:
    case AccessErrorCode.DELEGATION_REQUIRED:
    case AccessErrorCode.NOT_GRANTED:
    case AccessErrorCode.BREAK_GLASS_NOT_ALLOWED:
      return 403;
    case AccessErrorCode.AGENT_NOT_FOUND:
    case AccessErrorCode.REQUEST_NOT_FOUND:
    case AccessErrorCode.GRANT_NOT_FOUND:
    case AccessErrorCode.USER_NOT_FOUND:
    case AccessErrorCode.ROUTE_NOT_FOUND:
      return 404;
    case AccessErrorCode.REQUEST_NOT_PENDING:
    case AccessErrorCode.CONSENT_PENDING:
    case AccessErrorCode.GRANT_NOT_ACTIVE:
    case AccessErrorCode.AGENT_NAME_TAKEN:
    case AccessErrorCode.USER_CONFLICT:
    case AccessErrorCode.IDEMPOTENCY_KEY_REUSED:
    case AccessErrorCode.NOT_AWAITING_REVIEW:
    case AccessErrorCode.EXTENSION_PENDING:
      return 409;
    case AccessErrorCode.PAYLOAD_TOO_LARGE:
      return 413;
    case AccessErrorCode.UNSUPPORTED_MEDIA_TYPE:
      return 415;
    case AccessErrorCode.UNKNOWN_RESOURCE:
    case AccessErrorCode.UNKNOWN_COLUMN:
    case AccessErrorCode.UNKNOWN_OPERATION:
    case AccessErrorCode.ACTION_NOT_ALLOWED:
    case AccessErrorCode.INVALID_DURATION:
    case AccessErrorCode.DURATION_TOO_LONG:
    case AccessErrorCode.UNKNOWN_USER:
    case AccessErrorCode.INVALID_KEY:
    case AccessErrorCode.NARROWING_ONLY:
    case AccessErrorCode.INVALID_POLICY:
      return 422;
    case AccessErrorCode.RATE_LIMITED:
      return 429;
    case AccessErrorCode.UNAVAILABLE:
      return 503;
  }
}

const unreadableBody = () =>
  new AccessError(
    AccessErrorCode.UNSUPPORTED_MEDIA_TYPE,
    'The body has no Content-Type, or one this endpoint does not read: send JSON with Content-Type: application/json.',
  );

/** Errors raised by the HTTP stack itself (Fastify's parsing and routing) that are the caller's fault. */
function fromTransport(error: unknown): AccessError | undefined {
  const e = error as { code?: string; statusCode?: number; message?: string };
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AccessError(AccessErrorCode.PAYLOAD_TOO_LARGE, 'The body is larger than 64 KB.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return unreadableBody();
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AccessError(AccessErrorCode.VALIDATION_FAILED, 'The body is not as long as its Content-Length says.');
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    if (status === 404) return new AccessError(AccessErrorCode.ROUTE_NOT_FOUND, 'No such endpoint; see /docs for the API.');
    if (status === 413) return new AccessError(AccessErrorCode.PAYLOAD_TOO_LARGE, 'The body is larger than 64 KB.');
    if (status === 415) return unreadableBody();
    if (status >= 400 && status < 500) return new AccessError(AccessErrorCode.VALIDATION_FAILED, error.message);
    if (status === 503) {
      // Terminus' readiness answer: {status, info, error: {postgres: {...}}, details}; name what is down.
      const down = Object.keys((error.getResponse() as { error?: Record<string, unknown> })?.error ?? {});
      return unavailableError(down.filter((d): d is 'postgres' | 'redis' => d === 'postgres' || d === 'redis'));
    }
  }
  // Any other 4xx Fastify raises is about the request as sent (a malformed header, an aborted body).
  if (typeof e?.code === 'string' && e.code.startsWith('FST_ERR') && e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    return new AccessError(
      e.statusCode === 404 ? AccessErrorCode.ROUTE_NOT_FOUND : AccessErrorCode.VALIDATION_FAILED,
      e.message ?? 'The request is malformed.',
    );
  }
  return undefined;
}

/** Renders every error as {"error": {"code", "message", "details"}}. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  constructor(private readonly availability: Availability) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<FastifyReply>();
    let error = exception instanceof AccessError ? exception : fromTransport(exception);
    if (!error) {
      // An outage is a 503, never a 500; the outage itself is logged once, by Availability.
      const down = this.availability.report(exception);
      if (down) {
        this.logger.debug(`answered 503, ${down} unavailable: ${(exception as Error)?.message}`);
        error = unavailableError([down]);
      }
    }
    if (error?.code === AccessErrorCode.UNAVAILABLE) response.header('Retry-After', String(RETRY_AFTER_SECONDS));
    if (!error) {
      this.logger.error({ err: exception }, 'unhandled error');
      response.status(500).send({ error: { code: 'INTERNAL', message: 'An unexpected error; it is logged with this request id.', details: [] } });
      return;
    }
    const details: ErrorDetail[] = error.details;
    response.status(httpStatusOf(error.code)).send({ error: { code: error.code, message: error.message, details } });
  }
}
