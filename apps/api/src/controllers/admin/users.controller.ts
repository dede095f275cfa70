import { Body, Get, Param, Put, Query } from '@nestjs/common';
import { ApiBody, ApiOperation } from '@nestjs/swagger';
import { z } from 'zod';
import { AdminQueries, pageQuery, parseInput, UpsertUser, userBody, userId } from '@gatehouse/core';
import { CurrentAdmin, SourceIp } from '../../http/request';
import { AdminController, adminOrigin, bodySchema } from './admin-http';

/** The directory: who agents act for, who approves. */
@AdminController('users')
export class UsersController {
  constructor(
    private readonly queries: AdminQueries,
    private readonly upsertUser: UpsertUser,
  ) {}

  @Put(':id')
  @ApiOperation({ summary: 'Create or replace a user (who agents act for, who approves)' })
  @ApiBody(bodySchema(userBody))
  put(@CurrentAdmin() admin: string, @SourceIp() ip: string | null, @Param('id') id: string, @Body() body: unknown) {
    return this.upsertUser.execute({ id: parseInput(userId, id, 'user id'), user: parseInput(userBody, body), origin: adminOrigin(admin, ip) });
  }

  @Get()
  list(@Query() query: unknown) {
    return this.queries.listUsers(parseInput(pageQuery.extend({ group: z.string().max(64).optional() }), query, 'query'));
  }
}
