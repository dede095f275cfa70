import 'reflect-metadata';
import { loadConfig } from '@gatehouse/core';
import { runMain } from '@gatehouse/bootstrap';
// The one process that runs both transports composes them; everything else comes from libs.
import { createHttpApp } from '../../api/src/http-app';
import { WorkerModule } from '../../worker/src/worker.module';

/** API and worker in one process: the default `npm start`. */
runMain(async () => {
  const config = loadConfig();
  const app = await createHttpApp(config, [WorkerModule]);
  await app.listen(config.port);
  return app;
});
