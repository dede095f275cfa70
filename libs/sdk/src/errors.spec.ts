import { retryAfterMs } from './client';
import {
  AuthenticationError,
  ConflictError,
  DelegationRequiredError,
  errorFromResponse,
  ForbiddenError,
  GatehouseError,
  InvalidRequestError,
  NotFoundError,
  RateLimitedError,
  UnavailableError,
} from './errors';

describe('SDK errors', () => {
  it('maps each API status to its typed error, keeping code, message and details', () => {
    const body = (code: string) => ({ error: { code, message: `m-${code}`, details: [{ path: 'columns[0]', message: 'unknown' }] } });
    const cases: [number, string, new (...args: never[]) => GatehouseError][] = [
      [400, 'VALIDATION_FAILED', InvalidRequestError],
      [422, 'UNKNOWN_COLUMN', InvalidRequestError],
      [401, 'INVALID_ASSERTION', AuthenticationError],
      [403, 'AGENT_SUSPENDED', ForbiddenError],
      [403, 'DELEGATION_REQUIRED', DelegationRequiredError],
      [404, 'REQUEST_NOT_FOUND', NotFoundError],
      [409, 'IDEMPOTENCY_KEY_REUSED', ConflictError],
      [503, 'UNAVAILABLE', UnavailableError],
    ];
    for (const [status, code, type] of cases) {
      const e = errorFromResponse(status, body(code));
      expect(e).toBeInstanceOf(type);
      expect({ code: e.code, status: e.status, message: e.message, details: e.details }).toEqual({
        code,
        status,
        message: `m-${code}`,
        details: [{ path: 'columns[0]', message: 'unknown' }],
      });
    }
    const limited = errorFromResponse(429, body('RATE_LIMITED'), 3) as RateLimitedError;
    expect(limited).toBeInstanceOf(RateLimitedError);
    expect(limited.retryAfterSeconds).toBe(3);
  });

  it('survives a body that is not the API shape', () => {
    const e = errorFromResponse(502, '<html>bad gateway</html>');
    expect({ code: e.code, status: e.status, message: e.message }).toEqual({
      code: 'UNEXPECTED_RESPONSE',
      status: 502,
      message: 'Gatehouse answered HTTP 502.',
    });
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
  });
});
