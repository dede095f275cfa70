import { Module } from '@nestjs/common';
import { JobRunner } from './job-runner';
import { ScheduleKeeper } from './schedule-keeper';

/** Queue transport only: processors translate jobs into use-case calls. */
@Module({ providers: [JobRunner, ScheduleKeeper], exports: [JobRunner, ScheduleKeeper] })
export class WorkerModule {}
