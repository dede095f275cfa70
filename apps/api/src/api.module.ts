import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { AgentController } from './controllers/agent.controller';
import { TokenController } from './controllers/token.controller';
import { AuthzenController } from './controllers/authzen.controller';
import { OpsController } from './controllers/ops.controller';
import { AccessRequestsController } from './controllers/admin/access-requests.controller';
import { AgentsController } from './controllers/admin/agents.controller';
import { AgentBaselineController, AnomaliesController } from './controllers/admin/behaviour.controller';
import { AuditController } from './controllers/admin/audit.controller';
import { AuditKeyController } from './controllers/audit-key.controller';
import { DelegationsController } from './controllers/admin/delegations.controller';
import { GrantsController } from './controllers/admin/grants.controller';
import { KeysController } from './controllers/admin/keys.controller';
import { PolicyController } from './controllers/admin/policy.controller';
import { UsersController } from './controllers/admin/users.controller';
import { ReviewsController } from './controllers/admin/reviews.controller';
import { ErrorFilter } from './http/error.filter';
import { AdminGuard, AgentGuard } from './http/guards';
import { EnforcementLifecycle } from './enforcement.lifecycle';

/** HTTP transport only: controllers translate requests into use-case calls. */
@Module({
  imports: [TerminusModule],
  controllers: [
    AgentController,
    TokenController,
    AuthzenController,
    OpsController,
    AgentsController,
    AgentBaselineController,
    AnomaliesController,
    DelegationsController,
    UsersController,
    AccessRequestsController,
    ReviewsController,
    GrantsController,
    AuditController,
    PolicyController,
    KeysController,
    AuditKeyController,
  ],
  providers: [AgentGuard, AdminGuard, EnforcementLifecycle, { provide: APP_FILTER, useClass: ErrorFilter }],
})
export class ApiModule {}
