import { Injectable } from '@nestjs/common';
import type { JWTPayload } from 'jose';
import { Config } from '../config/config';
import { KeyService } from '../keys/key.service';
import type { GrantRow } from '../db/grants.repository';
import { PolicyStore } from '../policy/policy.store';

/** RFC 9068 token type of grant tokens. */
export const GRANT_TOKEN_TYPE = 'at+jwt';
/** RFC 9396 authorization_details type of a data resource's grant. */
export const AUTHORIZATION_DETAILS_TYPE = 'gatehouse_data';
/** RFC 9396 authorization_details type of an HTTP resource's grant. */
export const HTTP_AUTHORIZATION_DETAILS_TYPE = 'gatehouse_http';

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

/**
 * Grant tokens carry exactly the contract's claims. Nothing about a token is stored but the grant
 * row: Ed25519 signatures are deterministic, so re-signing the row gives the identical token.
 */
@Injectable()
export class GrantTokenService {
  constructor(
    private readonly config: Config,
    private readonly keys: KeyService,
    private readonly policy: PolicyStore,
  ) {}

  claims(grant: GrantRow): JWTPayload {
    const actingForUser = grant.subject !== grant.agentId;
    return {
      iss: this.config.issuer,
      sub: grant.subject,
      client_id: grant.agentId,
      ...(actingForUser ? { act: { sub: grant.agentId } } : {}),
      aud: grant.audience,
      iat: seconds(grant.issuedAt),
      nbf: seconds(grant.issuedAt),
      exp: seconds(grant.expiresAt),
      jti: grant.id,
      scope: grant.actions.map((action) => `${grant.resource}:${action}`).join(' '),
      authorization_details: [this.authorizationDetail(grant)],
      purpose: grant.purpose,
      req: grant.requestId,
    };
  }

  /** RFC 9396: columns for data; operations and the upstream (`locations`) for an HTTP API. */
  private authorizationDetail(grant: GrantRow): Record<string, unknown> {
    if (grant.operations.length === 0) {
      return { type: AUTHORIZATION_DETAILS_TYPE, identifier: grant.resource, actions: grant.actions, columns: grant.columns };
    }
    const upstream = this.policy.current().resources[grant.resource]?.upstream;
    return {
      type: HTTP_AUTHORIZATION_DETAILS_TYPE,
      identifier: grant.resource,
      actions: grant.actions,
      operations: grant.operations,
      ...(upstream !== undefined && { locations: [upstream] }),
    };
  }

  sign(grant: GrantRow): Promise<string> {
    return this.keys.signJwt(this.claims(grant), grant.kid, GRANT_TOKEN_TYPE);
  }
}
