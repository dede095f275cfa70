import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { loadConfig, preflight } from '@gatehouse/core';
import { rootModule } from '../../api/src/http-app';
import { runMain } from '../../api/src/run-main';
import { WorkerModule } from './worker.module';

/** The worker alone: expiries, timeouts, reconciliation, audit sealing. No HTTP port. */
runMain(async () => {
  const config = loadConfig();
  await preflight(config);
  const app = await NestFactory.createApplicationContext(rootModule(config, [WorkerModule]), { bufferLogs: true, abortOnError: false });
  app.useLogger(app.get(Logger));
  app.enableShutdownHooks();
  await app.init();
});
