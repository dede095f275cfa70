import { BehaviourQueries } from './usecases/queries/behaviour-queries';
import { SuspendMisbehavingAgent } from './usecases/agents/suspend-misbehaving-agent';
import { BaselinesRepository } from './db/baselines.repository';
import { AgentHistories } from './behaviour/agent-history';
import { DynamicModule, Global, Module, Provider, Type } from '@nestjs/common';
import { Config } from './config/config';
import { PrismaService } from './db/prisma.service';
import { Database } from './db/database';
import { AgentsRepository } from './db/agents.repository';
import { UsersRepository } from './db/users.repository';
import { AccessRequestsRepository } from './db/access-requests.repository';
import { GrantsRepository } from './db/grants.repository';
import { BudgetsRepository } from './db/budgets.repository';
import { SigningKeysRepository } from './db/signing-keys.repository';
import { AuditEventsRepository } from './db/audit-events.repository';
import { RedisService } from './redis/redis.service';
import { KeyService } from './keys/key.service';
import { GrantTokenService } from './tokens/grant-token.service';
import { AgentAuthenticator } from './auth/agent-authenticator';
import { AdminAuthenticator } from './auth/admin-authenticator';
import { PolicyStore } from './policy/policy.store';
import { RequestEvents } from './events/request-events';
import { QueueService } from './queue/queue.service';
import { Metrics } from './metrics/metrics';
import { APPROVAL_NOTIFIER, ApprovalNotifier, LogApprovalNotifier } from './notify/approval-notifier';
import { ALERT_NOTIFIER, AlertNotifier, LogAlertNotifier } from './notify/alerts';
import { AuditCheckpointSigner, AuditExportRepository, AuditSealer, AuditVerifier, CHECKPOINT_SIGNER, ExportAuditTrail } from './audit';
import { AccessRequestPresenter } from './usecases/access-request.view';
import { GrantIssuer } from './usecases/grants/grant-issuer';
import { RequestEffects } from './usecases/access-requests/request-effects';
import { SubmitAccessRequest } from './usecases/access-requests/submit-access-request';
import { GetAccessRequest } from './usecases/access-requests/get-access-request';
import { CancelAccessRequest } from './usecases/access-requests/cancel-access-request';
import { Decider } from './usecases/access-requests/decider';
import { ApproveAccessRequest } from './usecases/access-requests/approve-access-request';
import { DenyAccessRequest } from './usecases/access-requests/deny-access-request';
import { TimeOutAccessRequest } from './usecases/access-requests/time-out-access-request';
import { GrantEnder, ReleaseGrant, RevokeGrant } from './usecases/grants/end-grant';
import { ExtendGrant } from './usecases/grants/extend-grant';
import { GrantExtensions } from './usecases/grants/grant-extensions';
import { ExtensionChain } from './usecases/queries/extension-chain';
import { ExpireGrant } from './usecases/grants/expire-grant';
import { IntrospectToken } from './usecases/grants/introspect-token';
import { Reconcile } from './usecases/reconcile';
import { RegisterAgent, ResumeAgent, RotateAgentKey, SuspendAgent } from './usecases/agents/agent-admin';
import { LoadDirectory, UpsertUser } from './usecases/users/upsert-user';
import { AdminQueries } from './usecases/queries/admin-queries';
import { EvaluatePolicy } from './usecases/evaluate-policy';
import { CoreLifecycle } from './core.lifecycle';
import { RemindApprovers } from './usecases/access-requests/remind-approvers';
import { EscalateAccessRequest } from './usecases/access-requests/escalate-access-request';
import { DescribeForApprovers } from './usecases/queries/describe-for-approvers';
import { DelegationsRepository } from './db/delegations.repository';
import { RotateSigningKey } from './usecases/keys/rotate-signing-key';
import { RequestPreparer } from './usecases/access-requests/prepare-request';
import { DecideAfterConsent } from './usecases/delegations/decide-after-consent';
import { AnswerConsent } from './usecases/delegations/answer-consent';
import { EndDelegation, ListDelegations, PutDelegation } from './usecases/delegations/manage-delegations';
import { Availability } from './availability/availability';
import { ProcessLifecycle } from './availability/process-lifecycle';
import { RestoreLostJobs } from './usecases/restore-lost-jobs';
import { AgentChanges } from './events/agent-changes';
import { EndedGrants } from './enforcement/ended-grants';
import { BudgetCheck } from './usecases/access-requests/budget-check';
import { UsageRecorder } from './enforcement/usage-recorder';
import { CheckCall } from './enforcement/check-call';
import { BreakGlassReviews } from './usecases/queries/break-glass-reviews';
import { AcknowledgeBreakGlass } from './usecases/access-requests/acknowledge-break-glass';
import { BreakGlassAlerts } from './usecases/access-requests/break-glass';

const services: Provider[] = [
  PrismaService,
  Database,
  AgentsRepository,
  UsersRepository,
  AccessRequestsRepository,
  GrantsRepository,
  BudgetsRepository,
  SigningKeysRepository,
  AuditEventsRepository,
  RedisService,
  KeyService,
  GrantTokenService,
  AgentAuthenticator,
  AdminAuthenticator,
  PolicyStore,
  RequestEvents,
  QueueService,
  Metrics,
  AuditSealer,
  AuditVerifier,
  AuditCheckpointSigner,
  AuditExportRepository,
  ExportAuditTrail,
  AccessRequestPresenter,
  GrantIssuer,
  RequestEffects,
  SubmitAccessRequest,
  GetAccessRequest,
  CancelAccessRequest,
  Decider,
  ApproveAccessRequest,
  DenyAccessRequest,
  TimeOutAccessRequest,
  GrantEnder,
  ReleaseGrant,
  RevokeGrant,
  GrantExtensions,
  ExtendGrant,
  ExtensionChain,
  ExpireGrant,
  IntrospectToken,
  Reconcile,
  RegisterAgent,
  SuspendAgent,
  ResumeAgent,
  RotateAgentKey,
  UpsertUser,
  LoadDirectory,
  AdminQueries,
  EvaluatePolicy,
  CoreLifecycle,
  RemindApprovers,
  EscalateAccessRequest,
  DescribeForApprovers,
  DelegationsRepository,
  RequestPreparer,
  BudgetCheck,
  DecideAfterConsent,
  AnswerConsent,
  PutDelegation,
  EndDelegation,
  ListDelegations,
  RotateSigningKey,
  Availability,
  ProcessLifecycle,
  RestoreLostJobs,
  AgentChanges,
  EndedGrants,
  UsageRecorder,
  CheckCall,
  BreakGlassReviews,
  AcknowledgeBreakGlass,
  BreakGlassAlerts,
  BaselinesRepository,
  AgentHistories,
  SuspendMisbehavingAgent,
  BehaviourQueries,
];

/** Everything the API and the worker share: one list of services, wired once. */
@Global()
@Module({})
export class CoreModule {
  /** `notifier` and `alerts` replace the log implementations (Slack, when configured); they may inject core services. */
  static forRoot(config: Config, options: { notifier?: Type<ApprovalNotifier>; alerts?: Type<AlertNotifier> } = {}): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: Config, useValue: config },
        { provide: CHECKPOINT_SIGNER, useExisting: AuditCheckpointSigner },
        LogApprovalNotifier,
        { provide: APPROVAL_NOTIFIER, useClass: options.notifier ?? LogApprovalNotifier },
        LogAlertNotifier,
        { provide: ALERT_NOTIFIER, useClass: options.alerts ?? LogAlertNotifier },
        ...services,
      ],
      exports: [Config, CHECKPOINT_SIGNER, APPROVAL_NOTIFIER, LogApprovalNotifier, ALERT_NOTIFIER, LogAlertNotifier, ...services],
    };
  }
}
