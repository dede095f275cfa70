import 'reflect-metadata';
import { loadConfig } from '@gatehouse/core';
import { createHttpApp } from './http-app';
import { runMain } from './run-main';

/** The API alone (scale it apart from the worker). */
runMain(async () => {
  const config = loadConfig();
  const app = await createHttpApp(config);
  await app.listen(config.port);
});
