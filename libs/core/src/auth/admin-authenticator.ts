import { Injectable } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { Config, IntrospectionCredential } from '../config/config';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Bearer tokens from a token -> holder list. Tokens are compared as SHA-256 digests with
 * timingSafeEqual, and every configured token is compared, so timing reveals neither length nor match.
 */
class TokenList<T> {
  private readonly entries: { digest: Buffer; holder: T }[];

  constructor(tokens: Map<string, T>) {
    this.entries = [...tokens].map(([token, holder]) => ({ digest: digest(token), holder }));
  }

  match(presented: string): T | undefined {
    const candidate = digest(presented);
    let found: T | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, candidate)) found ??= entry.holder;
    }
    return found;
  }
}

/** Who may introspect, and the audiences whose tokens it may see as active (undefined: every audience). */
export interface Introspector {
  name: string;
  audiences?: ReadonlySet<string>;
}

/** Who an admin or introspection bearer token belongs to. */
@Injectable()
export class AdminAuthenticator {
  private readonly admins: TokenList<string>;
  private readonly introspectors: TokenList<Introspector>;
  private readonly gateways: TokenList<Introspector>;

  constructor(config: Config) {
    this.admins = new TokenList(config.adminTokens);
    this.introspectors = new TokenList(holders(config.introspectionTokens));
    this.gateways = new TokenList(holders(config.gatewayTokens));
  }

  /** The gateway a forward-auth call comes from (X-Gatehouse-Gateway), or undefined: then it gets decisions, never upstream credentials. */
  gateway(presented: string | undefined): Introspector | undefined {
    return presented ? this.gateways.match(presented) : undefined;
  }

  /**
   * An AuthZEN client (a policy enforcement point): an admin, a resource server holding an
   * introspection credential, or a gateway. Its audiences bound the decisions it may get as true.
   */
  enforcementPoint(bearer: string | undefined): Introspector {
    const admin = bearer ? this.admins.match(bearer) : undefined;
    const credential = bearer ? this.introspectors.match(bearer) : undefined;
    const gateway = bearer ? this.gateways.match(bearer) : undefined;
    if (admin) return { name: admin };
    const found = credential ?? gateway;
    if (found) return found;
    throw new AccessError(
      AccessErrorCode.INVALID_ADMIN_TOKEN,
      'The AuthZEN API needs Authorization: Bearer <token> from GATEHOUSE_INTROSPECTION_TOKENS, GATEHOUSE_GATEWAY_TOKENS or GATEHOUSE_ADMIN_TOKENS.',
    );
  }

  /** Returns the admin's name, the actor recorded in the audit trail. */
  admin(bearer: string | undefined): string {
    const name = bearer ? this.admins.match(bearer) : undefined;
    if (!name)
      throw new AccessError(AccessErrorCode.INVALID_ADMIN_TOKEN, 'Send Authorization: Bearer <token> with a token from GATEHOUSE_ADMIN_TOKENS.');
    return name;
  }

  /** Admins (every audience) and resource servers holding an introspection credential (its audiences) may introspect. */
  introspector(bearer: string | undefined): Introspector {
    // Both lists are always compared, so timing does not tell an admin token from an introspection one.
    const admin = bearer ? this.admins.match(bearer) : undefined;
    const credential = bearer ? this.introspectors.match(bearer) : undefined;
    if (admin) return { name: admin };
    if (credential) return credential;
    throw new AccessError(
      AccessErrorCode.INVALID_ADMIN_TOKEN,
      'Introspection needs Authorization: Bearer <token> from GATEHOUSE_ADMIN_TOKENS or GATEHOUSE_INTROSPECTION_TOKENS.',
    );
  }
}

function holders(tokens: Map<string, IntrospectionCredential>): Map<string, Introspector> {
  return new Map([...tokens].map(([token, { name, audiences }]) => [token, { name, audiences: audiences && new Set(audiences) }]));
}

/** Extracts the token of an `Authorization: Bearer` header. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value ?? '');
  return match?.[1];
}
