import 'reflect-metadata';
import { loadConfig } from '@gatehouse/core';
import { createApplicationContext, runMain } from '@gatehouse/bootstrap';
import { WorkerModule } from './worker.module';

/** The worker alone: expiries, timeouts, reconciliation, audit sealing. No HTTP port. */
runMain(async () => createApplicationContext(loadConfig(), [WorkerModule]));
