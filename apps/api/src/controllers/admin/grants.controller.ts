import { Body, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOperation } from '@nestjs/swagger';
import { AccessErrorCode } from '@gatehouse/domain';
import { AdminQueries, listGrantsQuery, parseInput, revokeBody, RevokeGrant } from '@gatehouse/core';
import { CurrentAdmin, SourceIp } from '../../http/request';
import { idParam } from '../agent.controller';
import { AdminController, bodySchema } from './admin-http';

/** Grants: lists, one grant with its usage, and revocation. */
@AdminController('grants')
export class GrantsController {
  constructor(
    private readonly queries: AdminQueries,
    private readonly revoke: RevokeGrant,
  ) {}

  @Get()
  list(@Query() query: unknown) {
    return this.queries.listGrants(parseInput(listGrantsQuery, query, 'query'), new Date());
  }

  @Get(':id')
  @ApiOperation({ summary: 'One grant, with what the gateways saw it used for (calls per operation, first and last time)' })
  get(@Param('id') id: string) {
    return this.queries.grantDetail(idParam(id, AccessErrorCode.GRANT_NOT_FOUND, 'grant'), new Date());
  }

  @Post(':id/revoke')
  @HttpCode(200)
  @ApiBody(bodySchema(revokeBody))
  revokeGrant(@CurrentAdmin() admin: string, @SourceIp() ip: string | null, @Param('id') id: string, @Body() body: unknown) {
    const { reason } = parseInput(revokeBody, body);
    return this.revoke.execute({ grantId: idParam(id, AccessErrorCode.GRANT_NOT_FOUND, 'grant'), admin, reason, sourceIp: ip, now: new Date() });
  }
}
