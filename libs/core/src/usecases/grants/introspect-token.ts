import { Injectable } from '@nestjs/common';
import { isGrantLive, GrantStatus } from '@gatehouse/domain';
import { Database } from '../../db/database';
import { GrantsRepository } from '../../db/grants.repository';
import type { Introspector } from '../../auth/admin-authenticator';
import { KeyService } from '../../keys/key.service';
import { GRANT_TOKEN_TYPE } from '../../tokens/grant-token.service';

/**
 * RFC 7662: a token is active only if we signed it, it has not expired, and its grant row is still
 * active. Release and revocation show up at once because the row is read on every call. A
 * credential scoped to audiences sees another audience's token as merely inactive (section 2.2).
 */
@Injectable()
export class IntrospectToken {
  constructor(
    private readonly db: Database,
    private readonly grants: GrantsRepository,
    private readonly keys: KeyService,
  ) {}

  async execute(token: string, introspector: Introspector, now: Date): Promise<Record<string, unknown>> {
    let claims;
    try {
      ({ payload: claims } = await this.keys.verifyJwt(token, GRANT_TOKEN_TYPE));
    } catch {
      return { active: false };
    }
    // Decided before the grant is read, so a foreign token's answer (and its timing) says nothing about its grant.
    if (!isVisibleTo(claims.aud, introspector)) return { active: false };
    const grant =
      typeof claims.jti === 'string' && /^[0-9a-f-]{36}$/i.test(claims.jti) ? await this.grants.findById(this.db.client, claims.jti) : null;
    if (!grant || !isGrantLive({ status: grant.status as GrantStatus, expiresAt: grant.expiresAt }, now)) return { active: false };
    return { active: true, token_type: 'Bearer', ...claims };
  }
}

function isVisibleTo(aud: unknown, introspector: Introspector): boolean {
  const { audiences } = introspector;
  if (!audiences) return true;
  const tokenAudiences = Array.isArray(aud) ? aud : [aud];
  return tokenAudiences.some((a) => typeof a === 'string' && audiences.has(a));
}
