import { Body, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOperation } from '@nestjs/swagger';
import { AccessErrorCode } from '@gatehouse/domain';
import {
  AcknowledgeBreakGlass,
  acknowledgeBody,
  AdminQueries,
  ApproveAccessRequest,
  approveBody,
  DecisionBy,
  DenyAccessRequest,
  denyBody,
  listRequestsQuery,
  parseInput,
} from '@gatehouse/core';
import { CurrentAdmin, SourceIp } from '../../http/request';
import { idParam } from '../agent.controller';
import { AdminController, adminOrigin, bodySchema } from './admin-http';

/** An admin deciding as themselves (an override), or relaying one person's decision (asUser). */
const decidedBy = (admin: string, ip: string | null, asUser: string | undefined): DecisionBy =>
  asUser ? { actor: { kind: 'user', id: asUser, via: 'rest' }, sourceIp: ip, relayedBy: admin } : adminOrigin(admin, ip);

/** Access requests: lists, a request's whole story, and decisions. */
@AdminController('access-requests')
export class AccessRequestsController {
  constructor(
    private readonly queries: AdminQueries,
    private readonly approve: ApproveAccessRequest,
    private readonly deny: DenyAccessRequest,
    private readonly acknowledge: AcknowledgeBreakGlass,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Requests, oldest first; filter by status, agentId, resource; cursor pages' })
  list(@Query() query: unknown) {
    return this.queries.listRequests(parseInput(listRequestsQuery, query, 'query'), new Date());
  }

  @Get(':id')
  @ApiOperation({ summary: "A request with its decision's explanation, approvals and audit events" })
  detail(@Param('id') id: string) {
    return this.queries.requestDetail(idParam(id, AccessErrorCode.REQUEST_NOT_FOUND, 'access request'), new Date());
  }

  @Post(':id/approve')
  @HttpCode(200)
  @ApiOperation({ summary: 'Approve, as yourself (override) or as a directory user (asUser); may only narrow duration, columns or operations' })
  @ApiBody(bodySchema(approveBody))
  async approveRequest(@CurrentAdmin() admin: string, @SourceIp() ip: string | null, @Param('id') id: string, @Body() body: unknown) {
    const input = parseInput(approveBody, body ?? {});
    const { view } = await this.approve.execute({
      requestId: idParam(id, AccessErrorCode.REQUEST_NOT_FOUND, 'access request'),
      by: decidedBy(admin, ip, input.asUser),
      changes: { columns: input.columns, operations: input.operations, duration: input.duration },
      comment: input.comment,
      now: new Date(),
    });
    return view;
  }

  @Post(':id/deny')
  @HttpCode(200)
  @ApiBody(bodySchema(denyBody))
  async denyRequest(@CurrentAdmin() admin: string, @SourceIp() ip: string | null, @Param('id') id: string, @Body() body: unknown) {
    const input = parseInput(denyBody, body ?? {});
    const { view } = await this.deny.execute({
      requestId: idParam(id, AccessErrorCode.REQUEST_NOT_FOUND, 'access request'),
      by: decidedBy(admin, ip, input.asUser),
      comment: input.comment,
      now: new Date(),
    });
    return view;
  }

  @Post(':id/acknowledge')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Acknowledge a break-glass access after looking at it (comment required); it leaves the open reviews. ' +
      '409 NOT_AWAITING_REVIEW when the request is not a break-glass access or is already acknowledged',
  })
  @ApiBody(bodySchema(acknowledgeBody))
  acknowledgeRequest(@CurrentAdmin() admin: string, @SourceIp() ip: string | null, @Param('id') id: string, @Body() body: unknown) {
    const input = parseInput(acknowledgeBody, body);
    return this.acknowledge.execute({
      requestId: idParam(id, AccessErrorCode.REQUEST_NOT_FOUND, 'access request'),
      by: adminOrigin(admin, ip),
      comment: input.comment,
      now: new Date(),
    });
  }
}
