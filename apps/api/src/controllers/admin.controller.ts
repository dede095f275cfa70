import { Body, Controller, Get, HttpCode, Param, Post, Put, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { AccessErrorCode } from '@gatehouse/domain';
import {
  AdminQueries, ApproveAccessRequest, approveBody, AuditVerifier, DenyAccessRequest, denyBody, EvaluatePolicy, evaluateBody,
  KeyService, listAuditQuery, listGrantsQuery, listRequestsQuery, pageQuery, parseInput, PolicyStore, registerAgentBody, RegisterAgent,
  ResumeAgent, revokeBody, RevokeGrant, rotateAgentKeyBody, RotateAgentKey, SuspendAgent, UpsertUser, userBody, userId, Origin,
} from '@gatehouse/core';
import { AdminGuard } from '../http/guards';
import { CurrentAdmin, SourceIp } from '../http/request';
import { idParam } from './agent.controller';

const origin = (admin: string, sourceIp: string | null): Origin => ({ actor: { kind: 'admin', name: admin }, sourceIp });
const schema = (s: z.ZodType) => ({ schema: z.toJSONSchema(s) as object });

/** The admin API: agents, users, decisions, grants, audit, policy. */
@ApiTags('admin')
@ApiBearerAuth('admin-token')
@UseGuards(AdminGuard)
@Controller('v1/admin')
export class AdminController {
  constructor(
    private readonly queries: AdminQueries,
    private readonly registerAgent: RegisterAgent,
    private readonly suspendAgent: SuspendAgent,
    private readonly resumeAgent: ResumeAgent,
    private readonly rotateAgentKey: RotateAgentKey,
    private readonly upsertUser: UpsertUser,
    private readonly approve: ApproveAccessRequest,
    private readonly deny: DenyAccessRequest,
    private readonly revoke: RevokeGrant,
    private readonly verifier: AuditVerifier,
    private readonly policy: PolicyStore,
    private readonly evaluate: EvaluatePolicy,
    private readonly keys: KeyService,
  ) {}

  @Post('agents')
  @ApiOperation({ summary: 'Register an agent with its public JWK (Ed25519 or P-256)' })
  @ApiBody(schema(registerAgentBody))
  createAgent(@CurrentAdmin() admin: string, @SourceIp() ip: string | null, @Body() body: unknown) {
    const input = parseInput(registerAgentBody, body);
    return this.registerAgent.execute({ ...input, origin: origin(admin, ip) });
  }

  @Get('agents')
  listAgents(@Query() query: unknown) {
    return this.queries.listAgents(parseInput(pageQuery, query, 'query'));
  }

  @Get('agents/:id')
  getAgent(@Param('id') id: string) {
    return this.queries.getAgent(idParam(id, AccessErrorCode.AGENT_NOT_FOUND, 'agent'));
  }

  @Post('agents/:id/suspend')
  @HttpCode(200)
  @ApiOperation({ summary: "Suspend an agent; its active grants are revoked in the same transaction" })
  suspend(@CurrentAdmin() admin: string, @SourceIp() ip: string | null, @Param('id') id: string) {
    return this.suspendAgent.execute({ agentId: idParam(id, AccessErrorCode.AGENT_NOT_FOUND, 'agent'), origin: origin(admin, ip), now: new Date() });
  }

  @Post('agents/:id/resume')
  @HttpCode(200)
  resume(@CurrentAdmin() admin: string, @SourceIp() ip: string | null, @Param('id') id: string) {
    return this.resumeAgent.execute({ agentId: idParam(id, AccessErrorCode.AGENT_NOT_FOUND, 'agent'), origin: origin(admin, ip), now: new Date() });
  }

  @Put('agents/:id/key')
  @ApiOperation({ summary: "Replace an agent's public key" })
  @ApiBody(schema(rotateAgentKeyBody))
  rotateKey(@CurrentAdmin() admin: string, @SourceIp() ip: string | null, @Param('id') id: string, @Body() body: unknown) {
    const { publicJwk } = parseInput(rotateAgentKeyBody, body);
    return this.rotateAgentKey.execute({ agentId: idParam(id, AccessErrorCode.AGENT_NOT_FOUND, 'agent'), publicJwk, origin: origin(admin, ip) });
  }

  @Put('users/:id')
  @ApiOperation({ summary: 'Create or replace a user (who agents act for, who approves)' })
  @ApiBody(schema(userBody))
  putUser(@CurrentAdmin() admin: string, @SourceIp() ip: string | null, @Param('id') id: string, @Body() body: unknown) {
    return this.upsertUser.execute({ id: parseInput(userId, id, 'user id'), user: parseInput(userBody, body), origin: origin(admin, ip) });
  }

  @Get('users')
  listUsers(@Query() query: unknown) {
    return this.queries.listUsers(parseInput(pageQuery.extend({ group: z.string().max(64).optional() }), query, 'query'));
  }

  @Get('access-requests')
  @ApiOperation({ summary: 'Requests, oldest first; filter by status, agentId, resource; cursor pages' })
  listRequests(@Query() query: unknown) {
    return this.queries.listRequests(parseInput(listRequestsQuery, query, 'query'), new Date());
  }

  @Get('access-requests/:id')
  @ApiOperation({ summary: "A request with its decision's explanation, approvals and audit events" })
  requestDetail(@Param('id') id: string) {
    return this.queries.requestDetail(idParam(id, AccessErrorCode.REQUEST_NOT_FOUND, 'access request'), new Date());
  }

  @Post('access-requests/:id/approve')
  @HttpCode(200)
  @ApiOperation({ summary: 'Approve, as yourself (override) or as a directory user (asUser); may only narrow duration or columns' })
  @ApiBody(schema(approveBody))
  async approveRequest(@CurrentAdmin() admin: string, @SourceIp() ip: string | null, @Param('id') id: string, @Body() body: unknown) {
    const input = parseInput(approveBody, body ?? {});
    const { view } = await this.approve.execute({
      requestId: idParam(id, AccessErrorCode.REQUEST_NOT_FOUND, 'access request'),
      by: input.asUser ? { actor: { kind: 'user', id: input.asUser, via: 'rest' }, sourceIp: ip, relayedBy: admin } : origin(admin, ip),
      changes: { columns: input.columns, duration: input.duration },
      comment: input.comment,
      now: new Date(),
    });
    return view;
  }

  @Post('access-requests/:id/deny')
  @HttpCode(200)
  @ApiBody(schema(denyBody))
  async denyRequest(@CurrentAdmin() admin: string, @SourceIp() ip: string | null, @Param('id') id: string, @Body() body: unknown) {
    const input = parseInput(denyBody, body ?? {});
    const { view } = await this.deny.execute({
      requestId: idParam(id, AccessErrorCode.REQUEST_NOT_FOUND, 'access request'),
      by: input.asUser ? { actor: { kind: 'user', id: input.asUser, via: 'rest' }, sourceIp: ip, relayedBy: admin } : origin(admin, ip),
      comment: input.comment,
      now: new Date(),
    });
    return view;
  }

  @Get('grants')
  listGrants(@Query() query: unknown) {
    return this.queries.listGrants(parseInput(listGrantsQuery, query, 'query'), new Date());
  }

  @Post('grants/:id/revoke')
  @HttpCode(200)
  @ApiBody(schema(revokeBody))
  revokeGrant(@CurrentAdmin() admin: string, @SourceIp() ip: string | null, @Param('id') id: string, @Body() body: unknown) {
    const { reason } = parseInput(revokeBody, body);
    return this.revoke.execute({ grantId: idParam(id, AccessErrorCode.GRANT_NOT_FOUND, 'grant'), admin, reason, sourceIp: ip, now: new Date() });
  }

  @Get('audit')
  @ApiOperation({ summary: 'Audit events in insertion order; filter by requestId, agentId, type; cursor pages' })
  audit(@Query() query: unknown) {
    return this.queries.listAudit(parseInput(listAuditQuery, query, 'query'));
  }

  @Get('audit/verify')
  @ApiOperation({ summary: 'Re-computes the hash chain and checkpoint signatures; reports the first break' })
  verify() {
    return this.verifier.verify();
  }

  @Get('policy')
  @ApiOperation({ summary: 'The policy in force: version, resources, rules, and the last reload error if any' })
  currentPolicy() {
    const p = this.policy.current();
    return { version: p.version, source: p.source, sensitivity: p.sensitivity, defaults: p.defaults, resources: p.resources, rules: p.rules, lastReloadError: this.policy.lastError ?? null };
  }

  @Post('policy/evaluate')
  @HttpCode(200)
  @ApiOperation({ summary: 'Dry run: the decision an access request would get; nothing stored' })
  @ApiBody(schema(evaluateBody))
  evaluatePolicy(@Body() body: unknown) {
    const { agentId, sourceIp, at, ...request } = parseInput(evaluateBody, body);
    return this.evaluate.execute({ body: request, agentId, sourceIp, now: at ? new Date(at) : new Date() });
  }

  @Post('keys/rotate')
  @HttpCode(200)
  @ApiOperation({ summary: 'Rotate the broker signing key; the old key stays in JWKS until its tokens expired' })
  async rotateSigningKey() {
    return { kid: await this.keys.rotate() };
  }
}
