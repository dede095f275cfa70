import { DynamicModule, INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { Config, CoreModule, loggingModule, preflight, requestIdOf } from '@gatehouse/core';
import { SlackModule, SlackNotifier } from '@gatehouse/slack';
import { ApiModule } from './api.module';
import { BODY_LIMIT, registerBodyParsers } from './http/body';
import { registerAuthFailureLimit } from './http/auth-failures';
import { registerInputChecks, routerRefusals } from './http/input';

/** Root module of a process: logging, the shared core, and the parts this process runs. */
export function rootModule(config: Config, parts: DynamicModule['imports']): DynamicModule {
  @Module({})
  class RootModule {}
  // Slack approvals replace the log notifier and add /slack/events only when all three variables are set.
  const slack = config.slack ? [SlackModule.forRoot()] : [];
  const core = CoreModule.forRoot(config, { notifier: config.slack ? SlackNotifier : undefined });
  return { module: RootModule, imports: [loggingModule(config), core, ...slack, ...(parts ?? [])] };
}

/** Creates the HTTP application (not yet listening); `extra` adds e.g. the worker to the same process. */
export async function createHttpApp(config: Config, extra: DynamicModule['imports'] = []): Promise<INestApplication> {
  await preflight(config);
  const adapter = new FastifyAdapter({ trustProxy: config.trustProxy, bodyLimit: BODY_LIMIT, return503OnClosing: false, genReqId: requestIdOf, ...routerRefusals });
  registerBodyParsers(adapter.getInstance());
  // Before NestFactory.create registers the middleware, so a refused address costs no work at all.
  registerAuthFailureLimit(adapter.getInstance(), config);
  registerInputChecks(adapter.getInstance());
  const app = await NestFactory.create<NestFastifyApplication>(rootModule(config, [ApiModule, ...(extra ?? [])]), adapter, {
    // Nest's default exits the process on a boot error; throw instead, so runMain can print the
    // plain PolicyError / ConfigError message and callers (tests) see the error.
    abortOnError: false,
    bufferLogs: true,
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  app.enableShutdownHooks();

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Gatehouse')
      .setDescription('Just-in-time access broker for AI agents. Errors: {"error": {"code", "message", "details"}}.')
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A JWT signed by the agent key' }, 'agent-assertion')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'A token from GATEHOUSE_ADMIN_TOKENS' }, 'admin-token')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json' });
  return app;
}
