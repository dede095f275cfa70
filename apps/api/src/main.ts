import 'reflect-metadata';
import { loadConfig } from '@gatehouse/core';
import { runMain } from '@gatehouse/bootstrap';
import { createHttpApp } from './http-app';

/** The API alone (scale it apart from the worker). */
runMain(async () => {
  const config = loadConfig();
  const app = await createHttpApp(config);
  await app.listen(config.port);
  return app;
});
