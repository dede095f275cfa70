import { Module } from '@nestjs/common';
import { AuditExportRunner } from './audit-export-runner';
import { JobRunner } from './job-runner';
import { ScheduleKeeper } from './schedule-keeper';

/** Queue transport (processors translate jobs into use-case calls) and the audit export loops. */
@Module({ providers: [JobRunner, ScheduleKeeper, AuditExportRunner], exports: [JobRunner, ScheduleKeeper, AuditExportRunner] })
export class WorkerModule {}
