import { Body, Get, HttpCode, Param, Post, Put, Query } from '@nestjs/common';
import { ApiBody, ApiOperation } from '@nestjs/swagger';
import { AccessErrorCode } from '@gatehouse/domain';
import {
  AdminQueries,
  pageQuery,
  parseInput,
  registerAgentBody,
  RegisterAgent,
  ResumeAgent,
  rotateAgentKeyBody,
  RotateAgentKey,
  SuspendAgent,
} from '@gatehouse/core';
import { CurrentAdmin, SourceIp } from '../../http/request';
import { idParam } from '../agent.controller';
import { AdminController, adminOrigin, bodySchema } from './admin-http';

/** Agents: registration with a public key, suspension, key rotation. */
@AdminController('agents')
export class AgentsController {
  constructor(
    private readonly queries: AdminQueries,
    private readonly registerAgent: RegisterAgent,
    private readonly suspendAgent: SuspendAgent,
    private readonly resumeAgent: ResumeAgent,
    private readonly rotateAgentKey: RotateAgentKey,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Register an agent with its public JWK (Ed25519 or P-256)' })
  @ApiBody(bodySchema(registerAgentBody))
  create(@CurrentAdmin() admin: string, @SourceIp() ip: string | null, @Body() body: unknown) {
    const input = parseInput(registerAgentBody, body);
    return this.registerAgent.execute({ ...input, origin: adminOrigin(admin, ip) });
  }

  @Get()
  list(@Query() query: unknown) {
    return this.queries.listAgents(parseInput(pageQuery, query, 'query'));
  }

  @Get(':id')
  get(@Param('id') id: string) {
    return this.queries.getAgent(idParam(id, AccessErrorCode.AGENT_NOT_FOUND, 'agent'));
  }

  @Post(':id/suspend')
  @HttpCode(200)
  @ApiOperation({ summary: 'Suspend an agent; its active grants are revoked in the same transaction' })
  async suspend(@CurrentAdmin() admin: string, @SourceIp() ip: string | null, @Param('id') id: string) {
    const { agent, revokedGrants } = await this.suspendAgent.execute({
      agentId: idParam(id, AccessErrorCode.AGENT_NOT_FOUND, 'agent'),
      origin: adminOrigin(admin, ip),
      now: new Date(),
    });
    return { agent, revokedGrants };
  }

  @Post(':id/resume')
  @HttpCode(200)
  @ApiOperation({ summary: 'Resume a suspended agent (by an admin, or by the broker for its behaviour: defaults.anomaly.suspendAfter)' })
  resume(@CurrentAdmin() admin: string, @SourceIp() ip: string | null, @Param('id') id: string) {
    return this.resumeAgent.execute({
      agentId: idParam(id, AccessErrorCode.AGENT_NOT_FOUND, 'agent'),
      origin: adminOrigin(admin, ip),
      now: new Date(),
    });
  }

  @Put(':id/key')
  @ApiOperation({ summary: "Replace an agent's public key" })
  @ApiBody(bodySchema(rotateAgentKeyBody))
  rotateKey(@CurrentAdmin() admin: string, @SourceIp() ip: string | null, @Param('id') id: string, @Body() body: unknown) {
    const { publicJwk } = parseInput(rotateAgentKeyBody, body);
    return this.rotateAgentKey.execute({ agentId: idParam(id, AccessErrorCode.AGENT_NOT_FOUND, 'agent'), publicJwk, origin: adminOrigin(admin, ip) });
  }
}
