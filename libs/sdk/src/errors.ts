/** The decision the broker explains with every request. */
export interface Decision {
  outcome: 'approve' | 'require_approval' | 'deny';
  rules: string[];
  message: string;
  riskScore: number;
  policyVersion: string;
  /** The request was sent as break-glass (and the policy admitted it). */
  breakGlass?: boolean;
  /** How the request departed from its agent's usual behaviour when it came ([] for none). */
  anomalies: Anomaly[];
}

/** One way a request departs from its agent's baseline, with a sentence a person understands. */
export interface Anomaly {
  code: 'new_resource' | 'new_columns' | 'unusual_hour' | 'burst' | 'new_user' | 'sensitivity_jump';
  detail: string;
}

/** One precise complaint about an input, as the API reports it. */
export interface ErrorDetail {
  path?: string;
  message: string;
}

/**
 * Every failure the SDK reports. `code` is the API's UPPER_SNAKE code (or one of the SDK's own:
 * NETWORK_ERROR, WAIT_TIMEOUT, REQUEST_DENIED, REQUEST_TIMED_OUT, REQUEST_CANCELLED, UNEXPECTED_RESPONSE).
 */
export class GatehouseError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** 400 / 422: the request was malformed or refused by the rules (unknown column, bad duration...). */
export class InvalidRequestError extends GatehouseError {}
/** 401: the assertion was refused (wrong key, clock skew, replay). */
export class AuthenticationError extends GatehouseError {}
/** 403: the agent is suspended, or the caller may not do this. */
export class ForbiddenError extends GatehouseError {}
/**
 * 403 DELEGATION_REQUIRED: the user named in onBehalfOf has not delegated to this agent and cannot be
 * asked. They (or an admin) must delegate first; or ask without onBehalfOf.
 */
export class DelegationRequiredError extends ForbiddenError {}
/** 404: no such request or grant (or another agent's). */
export class NotFoundError extends GatehouseError {}
/** 409: a state conflict (e.g. an Idempotency-Key reused with another body). */
export class ConflictError extends GatehouseError {}

/** 429 after every retry: `retryAfterSeconds` is the broker's last Retry-After. */
export class RateLimitedError extends GatehouseError {
  constructor(
    message: string,
    details: ErrorDetail[],
    readonly retryAfterSeconds?: number,
  ) {
    super('RATE_LIMITED', 429, message, details);
  }
}

/** 503 after every retry, or the broker could not be reached at all. */
export class UnavailableError extends GatehouseError {}

/** The policy or a person denied the request; `decision` says which rules and why. */
export class AccessDeniedError extends GatehouseError {
  constructor(
    readonly decision: Decision,
    readonly requestId: string,
    readonly request?: unknown,
  ) {
    super('REQUEST_DENIED', 403, `Access denied${decision.rules.length ? ` by ${decision.rules.join(', ')}` : ''}: ${decision.message}`);
  }
}

/** Nobody decided before the request's approval timeout; ask again if still needed. */
export class ApprovalTimedOutError extends GatehouseError {
  constructor(readonly requestId: string) {
    super('REQUEST_TIMED_OUT', 408, `Request ${requestId} timed out: nobody approved it in time.`);
  }
}

/** The request was withdrawn (cancelled) before anyone decided. */
export class RequestCancelledError extends GatehouseError {
  constructor(readonly requestId: string) {
    super('REQUEST_CANCELLED', 409, `Request ${requestId} was cancelled.`);
  }
}

/** waitForGrant's own timeout passed while the request was still pending (it stays pending). */
export class WaitTimeoutError extends GatehouseError {
  constructor(
    readonly requestId: string,
    timeoutMs: number,
  ) {
    super('WAIT_TIMEOUT', 408, `Request ${requestId} is still pending after ${timeoutMs} ms; wait again or cancel it.`);
  }
}

/** What an agent would ask for to make a call a gateway refused: one request body's worth. */
export interface NeededAccess {
  resource: string;
  operations: string[];
  actions: string[];
}

/**
 * A gateway in front of an HTTP API refused a call on Gatehouse's word: 401 (no valid grant token)
 * or 403 NOT_GRANTED. `needed` says what to ask for, when a resource of the policy describes the call.
 */
export class GatewayRefusalError extends GatehouseError {
  constructor(
    code: string,
    status: number,
    message: string,
    readonly needed?: NeededAccess,
  ) {
    super(code, status, message);
  }
}

function neededOf(value: unknown): NeededAccess | undefined {
  const v = value as Partial<NeededAccess> | null | undefined;
  const strings = (list: unknown) => Array.isArray(list) && list.every((item) => typeof item === 'string');
  return v && typeof v.resource === 'string' && strings(v.operations) && strings(v.actions) ? (v as NeededAccess) : undefined;
}

/**
 * Gatehouse's refusal in a gateway's answer (401 or 403), from the JSON body (Traefik, Caddy, Envoy
 * pass it on) or the X-Gatehouse-Error / X-Gatehouse-Needed headers (nginx); null when the answer is
 * not one (the upstream's own 403, a success). Reads the body: call it on a response not yet read.
 */
export async function gatewayRefusal(response: Response): Promise<GatewayRefusalError | null> {
  if (response.status !== 401 && response.status !== 403) return null;
  let body: { error?: { code?: unknown; message?: unknown; needed?: unknown } } | null = null;
  try {
    body = JSON.parse(await response.text());
  } catch {
    body = null;
  }
  const header = response.headers.get('x-gatehouse-error');
  const code = typeof body?.error?.code === 'string' ? body.error.code : header;
  if (!code) return null;
  let needed = neededOf(body?.error?.needed);
  if (!needed) {
    try {
      needed = neededOf(JSON.parse(response.headers.get('x-gatehouse-needed') ?? 'null'));
    } catch {
      needed = undefined;
    }
  }
  const message = typeof body?.error?.message === 'string' ? body.error.message : `The gateway refused the call (${code}).`;
  return new GatewayRefusalError(code, response.status, message, needed);
}

/** Builds the typed error for an API error answer `{error: {code, message, details}}`. */
export function errorFromResponse(status: number, body: unknown, retryAfterSeconds?: number): GatehouseError {
  const e = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
  const code = typeof e?.code === 'string' ? e.code : 'UNEXPECTED_RESPONSE';
  const message = typeof e?.message === 'string' ? e.message : `Gatehouse answered HTTP ${status}.`;
  const details = Array.isArray(e?.details) ? (e!.details as ErrorDetail[]) : [];
  switch (status) {
    case 400:
    case 413:
    case 422:
      return new InvalidRequestError(code, status, message, details);
    case 401:
      return new AuthenticationError(code, status, message, details);
    case 403:
      return code === 'DELEGATION_REQUIRED'
        ? new DelegationRequiredError(code, status, message, details)
        : new ForbiddenError(code, status, message, details);
    case 404:
      return new NotFoundError(code, status, message, details);
    case 409:
      return new ConflictError(code, status, message, details);
    case 429:
      return new RateLimitedError(message, details, retryAfterSeconds);
    case 503:
      return new UnavailableError(code, status, message, details);
    default:
      return new GatehouseError(code, status, message, details);
  }
}
