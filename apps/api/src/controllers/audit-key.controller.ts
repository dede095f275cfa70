import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { AuditCheckpointSigner } from '@gatehouse/core';

/** The public key that verifies audit checkpoints, when they are signed with a key held outside the database. */
@ApiTags('audit')
@Controller()
export class AuditKeyController {
  constructor(private readonly signer: AuditCheckpointSigner) {}

  @Get('.well-known/gatehouse-audit-key')
  @ApiOperation({
    summary: 'JWKS of GATEHOUSE_AUDIT_SIGNING_KEY (kid = its RFC 7638 thumbprint); 404 while checkpoints are signed with the broker key',
  })
  auditKey() {
    const key = this.signer.auditKey;
    if (!key) {
      throw new AccessError(
        AccessErrorCode.ROUTE_NOT_FOUND,
        'GATEHOUSE_AUDIT_SIGNING_KEY is not set: checkpoints are signed with the broker key, which is kept in the database (see /.well-known/jwks.json).',
      );
    }
    return { keys: [key.publicJwk] };
  }
}
