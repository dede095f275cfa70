import 'reflect-metadata';
import { loadConfig } from '@gatehouse/core';
import { createHttpApp } from '../../api/src/http-app';
import { runMain } from '../../api/src/run-main';
import { WorkerModule } from '../../worker/src/worker.module';

/** API and worker in one process: the default `npm start`. */
runMain(async () => {
  const config = loadConfig();
  const app = await createHttpApp(config, [WorkerModule]);
  await app.listen(config.port);
});
