import { Body, Delete, Get, HttpCode, Param, Put, Query } from '@nestjs/common';
import { ApiBody, ApiOperation } from '@nestjs/swagger';
import { AccessErrorCode } from '@gatehouse/domain';
import { delegationBody, delegationsQuery, EndDelegation, ListDelegations, parseInput, PutDelegation, userId } from '@gatehouse/core';
import { CurrentAdmin, SourceIp } from '../../http/request';
import { idParam } from '../agent.controller';
import { AdminController, adminOrigin, bodySchema } from './admin-http';

/** Delegations: which users an agent may act for, given and ended by admins. */
@AdminController('agents/:id/delegations')
export class DelegationsController {
  constructor(
    private readonly list: ListDelegations,
    private readonly put: PutDelegation,
    private readonly end: EndDelegation,
  ) {}

  @Get()
  @ApiOperation({ summary: "An agent's delegations: ?status=live (default) or all" })
  delegations(@Param('id') id: string, @Query() query: unknown) {
    const { status } = parseInput(delegationsQuery, query, 'query');
    return this.list.execute({ agentId: idParam(id, AccessErrorCode.AGENT_NOT_FOUND, 'agent'), status, now: new Date() });
  }

  @Put(':userId')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Let the agent act for the user (every resource unless `resources`, until ended unless `expiresAt`); replaces the previous admin delegation of the pair',
  })
  @ApiBody(bodySchema(delegationBody))
  delegate(
    @CurrentAdmin() admin: string,
    @SourceIp() ip: string | null,
    @Param('id') id: string,
    @Param('userId') user: string,
    @Body() body: unknown,
  ) {
    const input = parseInput(delegationBody, body ?? {});
    return this.put.execute({
      agentId: idParam(id, AccessErrorCode.AGENT_NOT_FOUND, 'agent'),
      userId: parseInput(userId, user, 'user id'),
      resources: input.resources,
      expiresAt: input.expiresAt ? new Date(input.expiresAt) : undefined,
      origin: adminOrigin(admin, ip),
      now: new Date(),
    });
  }

  @Delete(':userId')
  @HttpCode(200)
  @ApiOperation({ summary: 'End every delegation from the user to the agent; its grants acting for the user are revoked' })
  undelegate(@CurrentAdmin() admin: string, @SourceIp() ip: string | null, @Param('id') id: string, @Param('userId') user: string) {
    return this.end.execute({
      agentId: idParam(id, AccessErrorCode.AGENT_NOT_FOUND, 'agent'),
      userId: parseInput(userId, user, 'user id'),
      origin: adminOrigin(admin, ip),
      now: new Date(),
    });
  }
}
