import { Get, Param, Query } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiQuery } from '@nestjs/swagger';
import { AccessErrorCode } from '@gatehouse/domain';
import { anomaliesQuery, BehaviourQueries, parseInput } from '@gatehouse/core';
import { idParam } from '../agent.controller';
import { AdminController } from './admin-http';

/** Recent anomalous decisions, newest first. */
@AdminController('anomalies')
export class AnomaliesController {
  constructor(private readonly queries: BehaviourQueries) {}

  @Get()
  @ApiOperation({
    summary: 'Anomalous decisions, newest first',
    description:
      'Each item: the request, its status and outcome, its risk score and its anomalies (code and detail). Filter by agentId; pass nextCursor back as cursor for the next page.',
  })
  @ApiQuery({ name: 'agentId', required: false, description: 'Only this agent (UUID)' })
  @ApiQuery({ name: 'limit', required: false, description: '1 to 200, default 50' })
  @ApiQuery({ name: 'cursor', required: false, description: 'nextCursor of the previous page' })
  list(@Query() query: unknown) {
    return this.queries.listAnomalies(parseInput(anomaliesQuery, query, 'query'));
  }
}

/** What is normal for an agent. */
@AdminController('agents')
export class AgentBaselineController {
  constructor(private readonly queries: BehaviourQueries) {}

  @Get(':id/baseline')
  @ApiOperation({
    summary: "An agent's baseline: what is normal for it",
    description:
      'Requests observed and whether the baseline is still young (fewer than defaults.anomaly.minHistory: no anomalies yet); resources with the columns or operations it asks for; its hours (histogram in its time zone, and the span it works); its usual requests per active minute; the users it acts for; the most sensitive label it has had.',
  })
  @ApiParam({ name: 'id', description: 'Agent id (UUID)' })
  baseline(@Param('id') id: string) {
    return this.queries.baselineOf(idParam(id, AccessErrorCode.AGENT_NOT_FOUND, 'agent'));
  }
}
