import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { GrantError, GrantErrorCode } from './errors';
import { detailsOf, type AuthorizationDetail } from './scope';

/** Options of createGrantVerifier. */
export interface GrantVerifierOptions {
  /** The broker's GATEHOUSE_ISSUER: the tokens' `iss`. */
  issuer: string;
  /** This resource server's audience (the policy's `audience` of the resource, e.g. crm-api). */
  audience: string;
  /** Default `${issuer}/.well-known/jwks.json`. */
  jwksUri?: string;
  /** Clock skew allowed on exp/nbf/iat; default 30 s. */
  clockToleranceSec?: number;
  /** Minimum time between two JWKS fetches triggered by an unknown kid; default 30 s. */
  jwksCooldownMs?: number;
  /** Ask the broker whether the grant is still active (release and revocation show at once). */
  introspection?: { url: string; token: string; cacheMs?: number };
  /** For tests and custom transports (introspection only; jose fetches the JWKS itself). */
  fetch?: typeof fetch;
}

/** A grant token that verified, with its claims in a friendlier shape. */
export interface VerifiedGrant {
  /** The grant id (`jti`). */
  id: string;
  token: string;
  /** The user acted for, else the agent. */
  subject: string;
  /** The agent. */
  clientId: string;
  requestId?: string;
  purpose?: string;
  scope: string[];
  expiresAt: Date;
  authorizationDetails: AuthorizationDetail[];
  claims: JWTPayload;
}

/** Verifies grant tokens for one audience. */
export interface GrantVerifier {
  verify(token: string): Promise<VerifiedGrant>;
}

const TOKEN_TYPE = 'at+jwt';
const UNAVAILABLE = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JOSE_GENERIC']);

function refusal(error: unknown): GrantError {
  if (error instanceof GrantError) return error;
  if (error instanceof joseErrors.JWTExpired)
    return new GrantError(GrantErrorCode.TOKEN_EXPIRED, 'The grant token has expired; request access again.');
  if (error instanceof joseErrors.JOSEError) {
    if (UNAVAILABLE.has(error.code)) return new GrantError(GrantErrorCode.VERIFIER_UNAVAILABLE, `Cannot fetch the broker's keys: ${error.message}`);
    return new GrantError(GrantErrorCode.TOKEN_INVALID, `The grant token is not valid: ${error.message}`);
  }
  // fetch failures (broker down) surface as plain errors from jose's JWKS fetch.
  return new GrantError(GrantErrorCode.VERIFIER_UNAVAILABLE, `Cannot verify the grant token: ${(error as Error)?.message ?? String(error)}`);
}

/**
 * Verifies grant tokens offline against the broker's JWKS: EdDSA only, typ at+jwt, iss, aud and
 * time with a small skew. Keys are cached; an unknown kid refetches the JWKS, at most once per
 * cooldown, so forged kids cannot make us hammer the broker. With `introspection`, each grant is
 * also checked with the broker (cached for `cacheMs`), so a released or revoked grant is refused
 * before it expires.
 */
export function createGrantVerifier(options: GrantVerifierOptions): GrantVerifier {
  const issuer = options.issuer.replace(/\/$/, '');
  const jwks = createRemoteJWKSet(new URL(options.jwksUri ?? `${issuer}/.well-known/jwks.json`), {
    cooldownDuration: options.jwksCooldownMs ?? 30_000,
    cacheMaxAge: 10 * 60_000,
  });
  const tolerance = options.clockToleranceSec ?? 30;
  const introspection = options.introspection ? new IntrospectionCache(options.introspection, options.fetch ?? fetch) : undefined;

  return {
    async verify(token: string): Promise<VerifiedGrant> {
      if (!token) throw new GrantError(GrantErrorCode.TOKEN_MISSING, 'Send the grant token as Authorization: Bearer <token>.');
      let claims: JWTPayload;
      try {
        ({ payload: claims } = await jwtVerify(token, jwks, {
          issuer,
          audience: options.audience,
          algorithms: ['EdDSA'],
          typ: TOKEN_TYPE,
          clockTolerance: tolerance,
          requiredClaims: ['exp', 'iat', 'jti', 'sub'],
        }));
      } catch (error) {
        throw refusal(error);
      }
      const grant: VerifiedGrant = {
        id: claims.jti!,
        token,
        subject: claims.sub!,
        clientId: typeof claims.client_id === 'string' ? claims.client_id : claims.sub!,
        requestId: typeof claims.req === 'string' ? claims.req : undefined,
        purpose: typeof claims.purpose === 'string' ? claims.purpose : undefined,
        scope: typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [],
        expiresAt: new Date(claims.exp! * 1000),
        authorizationDetails: detailsOf({ authorization_details: claims.authorization_details }),
        claims,
      };
      if (introspection && !(await introspection.isActive(grant))) {
        throw new GrantError(GrantErrorCode.TOKEN_INACTIVE, 'This grant is no longer active (released, revoked or expired); request access again.');
      }
      return grant;
    },
  };
}

/** Introspection answers per grant id: "active" for a short while, "inactive" for good (it never comes back). */
class IntrospectionCache {
  private readonly entries = new Map<string, { active: boolean; until: number }>();
  private readonly cacheMs: number;

  constructor(
    private readonly config: { url: string; token: string; cacheMs?: number },
    private readonly fetchImpl: typeof fetch,
  ) {
    this.cacheMs = config.cacheMs ?? 5_000;
  }

  async isActive(grant: VerifiedGrant): Promise<boolean> {
    const now = Date.now();
    const cached = this.entries.get(grant.id);
    if (cached && cached.until > now) return cached.active;
    const active = await this.ask(grant.token);
    if (this.entries.size > 10_000) this.prune(now);
    this.entries.set(grant.id, { active, until: active ? now + this.cacheMs : grant.expiresAt.getTime() + 60_000 });
    return active;
  }

  private async ask(token: string): Promise<boolean> {
    let res: Response;
    try {
      res = await this.fetchImpl(this.config.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.config.token}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ token }),
        signal: AbortSignal.timeout(5_000),
      });
    } catch (error) {
      throw new GrantError(GrantErrorCode.VERIFIER_UNAVAILABLE, `Cannot reach the broker's introspection endpoint: ${(error as Error).message}`);
    }
    // Fail closed: a resource server that asked for revocation checks must not serve without one.
    if (!res.ok) throw new GrantError(GrantErrorCode.VERIFIER_UNAVAILABLE, `Introspection answered HTTP ${res.status}.`);
    const body = (await res.json()) as { active?: unknown };
    return body.active === true;
  }

  private prune(now: number): void {
    for (const [id, entry] of this.entries) if (entry.until <= now) this.entries.delete(id);
  }
}
