import { Get, Query } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { AdminQueries, AuditVerifier, listAuditQuery, parseInput } from '@gatehouse/core';
import { AdminController } from './admin-http';

/** The audit trail and its verification. */
@AdminController('audit')
export class AuditController {
  constructor(
    private readonly queries: AdminQueries,
    private readonly verifier: AuditVerifier,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Audit events in insertion order; filter by requestId, agentId, type; cursor pages' })
  list(@Query() query: unknown) {
    return this.queries.listAudit(parseInput(listAuditQuery, query, 'query'));
  }

  @Get('verify')
  @ApiOperation({ summary: 'Re-computes the hash chain and checkpoint signatures; reports the first break' })
  verify() {
    return this.verifier.verify();
  }
}
