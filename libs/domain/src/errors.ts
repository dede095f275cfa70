/** Every failure the broker can report, by cause. Each edge (HTTP, Slack, jobs) maps these once. */
export enum AccessErrorCode {
  // malformed input
  VALIDATION_FAILED = 'VALIDATION_FAILED',
  MALFORMED_JSON = 'MALFORMED_JSON',
  PAYLOAD_TOO_LARGE = 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE = 'UNSUPPORTED_MEDIA_TYPE',
  // who are you
  AUTHENTICATION_REQUIRED = 'AUTHENTICATION_REQUIRED',
  INVALID_ASSERTION = 'INVALID_ASSERTION',
  ASSERTION_REPLAYED = 'ASSERTION_REPLAYED',
  INVALID_ADMIN_TOKEN = 'INVALID_ADMIN_TOKEN',
  INVALID_SLACK_SIGNATURE = 'INVALID_SLACK_SIGNATURE',
  INVALID_TOKEN = 'INVALID_TOKEN',
  // not allowed
  AGENT_SUSPENDED = 'AGENT_SUSPENDED',
  SELF_APPROVAL = 'SELF_APPROVAL',
  NOT_AN_APPROVER = 'NOT_AN_APPROVER',
  DELEGATION_REQUIRED = 'DELEGATION_REQUIRED',
  NOT_GRANTED = 'NOT_GRANTED',
  // not found
  AGENT_NOT_FOUND = 'AGENT_NOT_FOUND',
  REQUEST_NOT_FOUND = 'REQUEST_NOT_FOUND',
  GRANT_NOT_FOUND = 'GRANT_NOT_FOUND',
  USER_NOT_FOUND = 'USER_NOT_FOUND',
  ROUTE_NOT_FOUND = 'ROUTE_NOT_FOUND',
  // state conflicts
  REQUEST_NOT_PENDING = 'REQUEST_NOT_PENDING',
  CONSENT_PENDING = 'CONSENT_PENDING',
  GRANT_NOT_ACTIVE = 'GRANT_NOT_ACTIVE',
  AGENT_NAME_TAKEN = 'AGENT_NAME_TAKEN',
  USER_CONFLICT = 'USER_CONFLICT',
  IDEMPOTENCY_KEY_REUSED = 'IDEMPOTENCY_KEY_REUSED',
  EXTENSION_PENDING = 'EXTENSION_PENDING',
  // well-formed but refused by the rules
  UNKNOWN_RESOURCE = 'UNKNOWN_RESOURCE',
  UNKNOWN_COLUMN = 'UNKNOWN_COLUMN',
  UNKNOWN_OPERATION = 'UNKNOWN_OPERATION',
  ACTION_NOT_ALLOWED = 'ACTION_NOT_ALLOWED',
  INVALID_DURATION = 'INVALID_DURATION',
  DURATION_TOO_LONG = 'DURATION_TOO_LONG',
  UNKNOWN_USER = 'UNKNOWN_USER',
  INVALID_KEY = 'INVALID_KEY',
  NARROWING_ONLY = 'NARROWING_ONLY',
  INVALID_POLICY = 'INVALID_POLICY',
  // throttled / unavailable
  RATE_LIMITED = 'RATE_LIMITED',
  UNAVAILABLE = 'UNAVAILABLE',
}

/** One precise complaint about an input: where (a path into the input) and why. */
export interface ErrorDetail {
  path?: string;
  message: string;
}

/** The only error type domain and use-case code throws. */
export class AccessError extends Error {
  constructor(
    readonly code: AccessErrorCode,
    message: string,
    readonly details: ErrorDetail[] = [],
  ) {
    super(message);
    this.name = 'AccessError';
  }
}
