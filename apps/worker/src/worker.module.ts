import { Module } from '@nestjs/common';
import { JobRunner } from './job-runner';

/** Queue transport only: processors translate jobs into use-case calls. */
@Module({ providers: [JobRunner], exports: [JobRunner] })
export class WorkerModule {}
