import { HttpCode, Post } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { RotateSigningKey } from '@gatehouse/core';
import { CurrentAdmin, SourceIp } from '../../http/request';
import { AdminController, adminOrigin } from './admin-http';

/** The broker's token-signing key. */
@AdminController('keys')
export class KeysController {
  constructor(private readonly rotateKey: RotateSigningKey) {}

  @Post('rotate')
  @HttpCode(200)
  @ApiOperation({ summary: 'Rotate the broker signing key (audited); the old key stays in JWKS until its tokens expired' })
  rotate(@CurrentAdmin() admin: string, @SourceIp() ip: string | null) {
    return this.rotateKey.execute({ origin: adminOrigin(admin, ip) });
  }
}
