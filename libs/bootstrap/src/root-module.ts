import { DynamicModule, INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Logger } from 'nestjs-pino';
import { Config, CoreModule, loggingModule, preflight } from '@gatehouse/core';
import { SlackAlertNotifier, SlackModule, SlackNotifier } from '@gatehouse/slack';

/** Root module of a process: logging, the shared core, and the parts this process runs. */
export function rootModule(config: Config, parts: DynamicModule['imports']): DynamicModule {
  @Module({})
  class RootModule {}
  // Slack approvals replace the log notifier and add /slack/events only when all three variables are set.
  const slack = config.slack ? [SlackModule.forRoot()] : [];
  const core = CoreModule.forRoot(config, config.slack ? { notifier: SlackNotifier, alerts: SlackAlertNotifier } : {});
  return { module: RootModule, imports: [loggingModule(config), core, ...slack, ...(parts ?? [])] };
}

/** A process without HTTP (the worker alone), started and ready; stop it with `shutdown`. */
export async function createApplicationContext(config: Config, parts: DynamicModule['imports']): Promise<INestApplicationContext> {
  await preflight(config);
  const app = await NestFactory.createApplicationContext(rootModule(config, parts), { bufferLogs: true, abortOnError: false });
  app.useLogger(app.get(Logger));
  await app.init();
  return app;
}
