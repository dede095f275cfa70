/** Why a resource server refuses a grant token. */
export enum GrantErrorCode {
  /** No bearer token on the request (401). */
  TOKEN_MISSING = 'TOKEN_MISSING',
  /** Bad signature, algorithm, typ, issuer, audience or shape (401). */
  TOKEN_INVALID = 'TOKEN_INVALID',
  /** Past `exp` (or before `nbf`), beyond the clock tolerance (401). */
  TOKEN_EXPIRED = 'TOKEN_EXPIRED',
  /** The broker says the grant is no longer active: released, revoked or expired (401). */
  TOKEN_INACTIVE = 'TOKEN_INACTIVE',
  /** The token is valid but does not cover this resource, action or column (403). */
  INSUFFICIENT_SCOPE = 'INSUFFICIENT_SCOPE',
  /** The broker's keys or introspection could not be reached (503). */
  VERIFIER_UNAVAILABLE = 'VERIFIER_UNAVAILABLE',
}

/** The HTTP status a resource server answers for each code. */
export function grantErrorStatus(code: GrantErrorCode): number {
  switch (code) {
    case GrantErrorCode.TOKEN_MISSING:
    case GrantErrorCode.TOKEN_INVALID:
    case GrantErrorCode.TOKEN_EXPIRED:
    case GrantErrorCode.TOKEN_INACTIVE:
      return 401;
    case GrantErrorCode.INSUFFICIENT_SCOPE:
      return 403;
    case GrantErrorCode.VERIFIER_UNAVAILABLE:
      return 503;
  }
}

/** A refused grant token, with the code and status to answer. */
export class GrantError extends Error {
  readonly status: number;

  constructor(
    readonly code: GrantErrorCode,
    message: string,
    readonly details: { path?: string; message: string }[] = [],
  ) {
    super(message);
    this.name = 'GrantError';
    this.status = grantErrorStatus(code);
  }

  /** The API's error body: `{error: {code, message, details}}`. */
  toBody(): { error: { code: string; message: string; details: { path?: string; message: string }[] } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }

  /** The RFC 6750 WWW-Authenticate challenge for this refusal. */
  challenge(): string {
    const error = this.status === 403 ? 'insufficient_scope' : this.code === GrantErrorCode.TOKEN_MISSING ? undefined : 'invalid_token';
    const description = this.message.replace(/["\\]/g, "'");
    return error ? `Bearer error="${error}", error_description="${description}"` : 'Bearer';
  }
}
