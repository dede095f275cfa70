import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiBearerAuth, ApiBody, ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import {
  accessRequestBody,
  AdminQueries,
  AgentRow,
  CancelAccessRequest,
  ExtendGrant,
  extendGrantBody,
  GetAccessRequest,
  listGrantsQuery,
  parseInput,
  ReleaseGrant,
  SubmitAccessRequest,
  TooManyWaits,
  uuidParam,
  waitQuery,
} from '@gatehouse/core';
import { AgentGuard } from '../http/guards';
import { CurrentAgent, SourceIp } from '../http/request';

const idempotencyKey = z
  .string()
  .regex(/^[\x21-\x7e]{1,200}$/, 'Idempotency-Key must be 1-200 visible ASCII characters')
  .optional();

/** A path id that is not a UUID names nothing. */
export function idParam(id: string, code: AccessErrorCode, what: string): string {
  if (!uuidParam.safeParse(id).success) throw new AccessError(code, `No ${what} ${id}.`);
  return id;
}

/** The agent API: ask, wait, cancel, extend, release. Every call carries a fresh signed assertion. */
@ApiTags('agent')
@ApiBearerAuth('agent-assertion')
@UseGuards(AgentGuard)
@Controller('v1')
export class AgentController {
  constructor(
    private readonly submit: SubmitAccessRequest,
    private readonly get: GetAccessRequest,
    private readonly cancel: CancelAccessRequest,
    private readonly release: ReleaseGrant,
    private readonly queries: AdminQueries,
    private readonly extend: ExtendGrant,
  ) {}

  @Post('access-requests')
  @HttpCode(201)
  @ApiOperation({
    summary:
      'Ask for access; the policy decides at once (approved, pending or denied). breakGlass: true (emergencies) is approved at once where people ' +
      'would be asked, for agents the policy admits (else 403 BREAK_GLASS_NOT_ALLOWED); alerted and reviewed',
    description:
      "The decision explains itself: rules, message, riskScore, policyVersion, and anomalies (how the request departs from this agent's baseline: [{code, detail}], [] for none). " +
      "A policy budget over its limit for this agent (live grants, requests in the last hour, granted time today) makes the decision stricter: `decision.rules` is then `['budget:<id>']` and `decision.message` names the limit that is over.",
  })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'A retry with the same key and body returns the same request' })
  @ApiBody({ schema: z.toJSONSchema(accessRequestBody) as object })
  async create(
    @CurrentAgent() agent: AgentRow,
    @Body() body: unknown,
    @Headers('idempotency-key') key: string | undefined,
    @SourceIp() ip: string | null,
  ) {
    const input = parseInput(accessRequestBody, body);
    const { view } = await this.submit.execute({
      agent,
      body: input,
      idempotencyKey: parseInput(idempotencyKey, key, 'Idempotency-Key header'),
      sourceIp: ip,
      now: new Date(),
    });
    return view;
  }

  @Get('access-requests/:id')
  @ApiOperation({
    summary: 'Read a request; ?wait=N (<= 60) holds while it is pending (at most GATEHOUSE_MAX_WAITS_PER_AGENT holds per agent, then 429)',
  })
  async read(@CurrentAgent() agent: AgentRow, @Param('id') id: string, @Query() query: unknown, @Res({ passthrough: true }) reply: FastifyReply) {
    const { wait } = parseInput(waitQuery, query, 'query');
    // A client that hangs up ends its hold at once, freeing its slot (the response's close fires then, or once it is sent).
    const hungUp = new AbortController();
    reply.raw.once('close', () => hungUp.abort());
    try {
      return await this.get.execute({
        agentId: agent.id,
        requestId: idParam(id, AccessErrorCode.REQUEST_NOT_FOUND, 'access request'),
        waitSeconds: wait,
        signal: hungUp.signal,
      });
    } catch (error) {
      if (error instanceof TooManyWaits) reply.header('Retry-After', String(error.retryAfterSeconds));
      throw error;
    }
  }

  @Post('access-requests/:id/cancel')
  @HttpCode(200)
  @ApiOperation({ summary: 'Withdraw a pending request' })
  cancelRequest(@CurrentAgent() agent: AgentRow, @Param('id') id: string, @SourceIp() ip: string | null) {
    return this.cancel.execute({
      agentId: agent.id,
      requestId: idParam(id, AccessErrorCode.REQUEST_NOT_FOUND, 'access request'),
      sourceIp: ip,
      now: new Date(),
    });
  }

  @Get('grants')
  @ApiOperation({ summary: "This agent's grants (no tokens); ?status=active" })
  grants(@CurrentAgent() agent: AgentRow, @Query() query: unknown) {
    const filter = parseInput(listGrantsQuery.omit({ agentId: true }), query, 'query');
    return this.queries.listGrants({ ...filter, agentId: agent.id }, new Date());
  }

  @Post('grants/:id/extend')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Keep a live grant longer: a new request for the same access, linked by `extends`, decided by the policy (condition `extension: true`)',
    description:
      'Answers like POST /v1/access-requests. Approved (at once, or later by people): a new grant and token; the old grant ends `superseded` and its token stops working at once. ' +
      "The chain's total time (since its first grant started, plus the new duration) counts against maxDuration: the duration is shortened, or the extension denied, when over it. " +
      "Another agent's grant is 404; a grant no longer live is 409 GRANT_NOT_ACTIVE; a second extension while one is pending is 409 EXTENSION_PENDING.",
  })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'A retry with the same key and body returns the same request' })
  @ApiBody({ schema: z.toJSONSchema(extendGrantBody) as object })
  extendGrant(
    @CurrentAgent() agent: AgentRow,
    @Param('id') id: string,
    @Body() body: unknown,
    @Headers('idempotency-key') key: string | undefined,
    @SourceIp() ip: string | null,
  ) {
    return this.extend.execute({
      agent,
      grantId: idParam(id, AccessErrorCode.GRANT_NOT_FOUND, 'grant'),
      body: parseInput(extendGrantBody, body),
      idempotencyKey: parseInput(idempotencyKey, key, 'Idempotency-Key header'),
      sourceIp: ip,
      now: new Date(),
    });
  }

  @Post('grants/:id/release')
  @HttpCode(200)
  @ApiOperation({ summary: 'The task is done: the grant ends now' })
  releaseGrant(@CurrentAgent() agent: AgentRow, @Param('id') id: string, @SourceIp() ip: string | null) {
    return this.release.execute({ agentId: agent.id, grantId: idParam(id, AccessErrorCode.GRANT_NOT_FOUND, 'grant'), sourceIp: ip, now: new Date() });
  }
}
