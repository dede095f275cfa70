import { Injectable } from '@nestjs/common';
import { isGrantLive, GrantStatus } from '@gatehouse/domain';
import { Database } from '../../db/database';
import { GrantsRepository } from '../../db/grants.repository';
import { KeyService } from '../../keys/key.service';
import { GRANT_TOKEN_TYPE } from '../../tokens/grant-token.service';

/**
 * RFC 7662: a token is active only if we signed it, it has not expired, and its grant row is still
 * active. Release and revocation show up at once because the row is read on every call.
 */
@Injectable()
export class IntrospectToken {
  constructor(
    private readonly db: Database,
    private readonly grants: GrantsRepository,
    private readonly keys: KeyService,
  ) {}

  async execute(token: string, now: Date): Promise<Record<string, unknown>> {
    let claims;
    try {
      ({ payload: claims } = await this.keys.verifyJwt(token, GRANT_TOKEN_TYPE));
    } catch {
      return { active: false };
    }
    const grant = typeof claims.jti === 'string' && /^[0-9a-f-]{36}$/i.test(claims.jti) ? await this.grants.findById(this.db.client, claims.jti) : null;
    if (!grant || !isGrantLive({ status: grant.status as GrantStatus, expiresAt: grant.expiresAt }, now)) return { active: false };
    return { active: true, token_type: 'Bearer', ...claims };
  }
}
