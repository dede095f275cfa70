import { Body, Controller, Get, Headers, HttpCode, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import {
  AdminAuthenticator,
  AUTHORIZATION_DETAILS_TYPE,
  bearerToken,
  Config,
  HTTP_AUTHORIZATION_DETAILS_TYPE,
  IntrospectToken,
  KeyService,
  parseInput,
} from '@gatehouse/core';

const introspectionBody = z.object({ token: z.string().min(1).max(8192), token_type_hint: z.string().max(100).optional() }).strict();

/** Public keys and metadata for resource servers, and RFC 7662 introspection. */
@ApiTags('tokens')
@Controller()
export class TokenController {
  constructor(
    private readonly config: Config,
    private readonly keys: KeyService,
    private readonly auth: AdminAuthenticator,
    private readonly introspect: IntrospectToken,
  ) {}

  @Get('.well-known/jwks.json')
  @ApiOperation({ summary: 'Public keys that verify grant tokens (retired keys stay until their tokens expired)' })
  jwks() {
    return this.keys.publicJwks();
  }

  @Get('.well-known/oauth-authorization-server')
  @ApiOperation({ summary: 'RFC 8414 authorization server metadata' })
  metadata() {
    const issuer = this.config.issuer;
    return {
      issuer,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      introspection_endpoint: `${issuer}/v1/introspect`,
      introspection_endpoint_auth_methods_supported: ['bearer'],
      authorization_details_types_supported: [AUTHORIZATION_DETAILS_TYPE, HTTP_AUTHORIZATION_DETAILS_TYPE],
      token_endpoint_auth_signing_alg_values_supported: ['EdDSA', 'ES256'],
      access_token_signing_alg_values_supported: ['EdDSA'],
      service_documentation: `${issuer}/docs`,
    };
  }

  @Post('v1/introspect')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'RFC 7662: {active:false} once expired, released, revoked or superseded by an extension, or when the token is for an audience the credential is not scoped to',
  })
  async introspectToken(@Headers('authorization') authorization: string | undefined, @Body() body: unknown) {
    const introspector = this.auth.introspector(bearerToken(authorization));
    const { token } = parseInput(introspectionBody, body);
    return this.introspect.execute(token, introspector, new Date());
  }
}
