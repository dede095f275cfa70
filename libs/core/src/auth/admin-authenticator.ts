import { Injectable } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { Config } from '../config/config';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Bearer tokens from a name:token list. Tokens are compared as SHA-256 digests with
 * timingSafeEqual, and every configured token is compared, so timing reveals neither length nor match.
 */
class TokenList {
  private readonly entries: { digest: Buffer; name: string }[];

  constructor(tokens: Map<string, string>) {
    this.entries = [...tokens].map(([token, name]) => ({ digest: digest(token), name }));
  }

  match(presented: string): string | undefined {
    const candidate = digest(presented);
    let found: string | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, candidate)) found ??= entry.name;
    }
    return found;
  }
}

/** Who an admin or introspection bearer token belongs to. */
@Injectable()
export class AdminAuthenticator {
  private readonly admins: TokenList;
  private readonly introspectors: TokenList;

  constructor(config: Config) {
    this.admins = new TokenList(config.adminTokens);
    this.introspectors = new TokenList(config.introspectionTokens);
  }

  /** Returns the admin's name, the actor recorded in the audit trail. */
  admin(bearer: string | undefined): string {
    const name = bearer ? this.admins.match(bearer) : undefined;
    if (!name) throw new AccessError(AccessErrorCode.INVALID_ADMIN_TOKEN, 'Send Authorization: Bearer <token> with a token from GATEHOUSE_ADMIN_TOKENS.');
    return name;
  }

  /** Admins and resource servers holding an introspection credential may introspect. */
  introspector(bearer: string | undefined): string {
    const name = bearer ? (this.admins.match(bearer) ?? this.introspectors.match(bearer)) : undefined;
    if (!name) throw new AccessError(AccessErrorCode.INVALID_ADMIN_TOKEN, 'Introspection needs Authorization: Bearer <token> from GATEHOUSE_ADMIN_TOKENS or GATEHOUSE_INTROSPECTION_TOKENS.');
    return name;
  }
}

/** Extracts the token of an `Authorization: Bearer` header. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value ?? '');
  return match?.[1];
}
