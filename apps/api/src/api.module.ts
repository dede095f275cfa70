import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { AgentController } from './controllers/agent.controller';
import { AdminController } from './controllers/admin.controller';
import { TokenController } from './controllers/token.controller';
import { OpsController } from './controllers/ops.controller';
import { DelegationsController } from './controllers/delegations.controller';
import { ErrorFilter } from './http/error.filter';
import { AdminGuard, AgentGuard } from './http/guards';

/** HTTP transport only: controllers translate requests into use-case calls. */
@Module({
  imports: [TerminusModule],
  controllers: [AgentController, AdminController, DelegationsController, TokenController, OpsController],
  providers: [AgentGuard, AdminGuard, { provide: APP_FILTER, useClass: ErrorFilter }],
})
export class ApiModule {}
