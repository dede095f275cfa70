import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { AccessError, AccessErrorCode, ErrorDetail } from '@gatehouse/domain';

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
      return 401;
    case AccessErrorCode.AGENT_SUSPENDED:
    case AccessErrorCode.SELF_APPROVAL:
    case AccessErrorCode.NOT_AN_APPROVER:
      return 403;
    case AccessErrorCode.AGENT_NOT_FOUND:
    case AccessErrorCode.REQUEST_NOT_FOUND:
    case AccessErrorCode.GRANT_NOT_FOUND:
    case AccessErrorCode.USER_NOT_FOUND:
    case AccessErrorCode.ROUTE_NOT_FOUND:
      return 404;
    case AccessErrorCode.REQUEST_NOT_PENDING:
    case AccessErrorCode.GRANT_NOT_ACTIVE:
    case AccessErrorCode.AGENT_NAME_TAKEN:
    case AccessErrorCode.USER_CONFLICT:
    case AccessErrorCode.IDEMPOTENCY_KEY_REUSED:
      return 409;
    case AccessErrorCode.PAYLOAD_TOO_LARGE:
      return 413;
    case AccessErrorCode.UNKNOWN_RESOURCE:
    case AccessErrorCode.UNKNOWN_COLUMN:
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
    case AccessErrorCode.DEPENDENCY_UNAVAILABLE:
      return 503;
  }
}

/** Errors raised by the HTTP stack itself (body parser, router) that are the caller's fault. */
function fromTransport(error: unknown): AccessError | undefined {
  // Nest wraps body-parser's errors in an HttpException and keeps the original as `cause`.
  const e = ((error as { cause?: unknown })?.cause ?? error) as { type?: string; status?: number; message?: string };
  if (e?.type === 'entity.too.large') return new AccessError(AccessErrorCode.PAYLOAD_TOO_LARGE, 'The body is larger than 64 KB.');
  if (e?.type === 'entity.parse.failed') return new AccessError(AccessErrorCode.MALFORMED_JSON, `The body is not valid JSON: ${e.message}`);
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') return new AccessError(AccessErrorCode.VALIDATION_FAILED, 'Send the body as UTF-8 JSON.');
  if (error instanceof HttpException) {
    const status = error.getStatus();
    if (status === 404) return new AccessError(AccessErrorCode.ROUTE_NOT_FOUND, 'No such endpoint; see /docs for the API.');
    if (status === 413) return new AccessError(AccessErrorCode.PAYLOAD_TOO_LARGE, 'The body is larger than 64 KB.');
    if (status >= 400 && status < 500) return new AccessError(AccessErrorCode.VALIDATION_FAILED, error.message);
  }
  return undefined;
}

/** Dependencies down (Postgres, Redis) answer 503, not 500. */
function isUnavailable(error: unknown): boolean {
  const e = error as { code?: string; name?: string; message?: string };
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'P1001', 'P1002', 'P1017', 'P2024'].includes(e?.code ?? '') ||
    e?.name === 'PrismaClientInitializationError' || /Connection is closed|MaxRetriesPerRequestError|connect ECONNREFUSED/.test(e?.message ?? '');
}

/** Renders every error as {"error": {"code", "message", "details"}}. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    let error = exception instanceof AccessError ? exception : fromTransport(exception);
    if (!error && isUnavailable(exception)) {
      this.logger.error(`dependency unavailable: ${(exception as Error).message}`);
      error = new AccessError(AccessErrorCode.DEPENDENCY_UNAVAILABLE, 'A dependency (Postgres or Redis) is unavailable; retry shortly.');
      response.setHeader('Retry-After', '5');
    }
    if (!error) {
      this.logger.error({ err: exception }, 'unhandled error');
      response.status(500).json({ error: { code: 'INTERNAL', message: 'An unexpected error; it is logged with this request id.', details: [] } });
      return;
    }
    const details: ErrorDetail[] = error.details;
    response.status(httpStatusOf(error.code)).json({ error: { code: error.code, message: error.message, details } });
  }
}
