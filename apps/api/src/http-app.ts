import { DynamicModule, INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { FastifyInstance } from 'fastify';
import { Logger } from 'nestjs-pino';
import { AdminAuthenticator, Availability, CheckCall, Config, Metrics, preflight, requestIdOf, unavailableError } from '@gatehouse/core';
import { drainOnShutdown, rootModule } from '@gatehouse/bootstrap';
import { ApiModule } from './api.module';
import { BODY_LIMIT, registerBodyParsers } from './http/body';
import { registerAuthFailureLimit } from './http/auth-failures';
import { registerInputChecks, routerRefusals } from './http/input';
import { documentForwardAuth, isEnforcementRoute, registerForwardAuth } from './http/forward-auth';

/**
 * Paths served whatever the dependencies do: liveness, readiness (it names what is down), metrics,
 * the docs, and the AuthZEN decisions (made in memory, like forward-auth's).
 */
const ALWAYS_OPEN = /^\/(health\/(live|ready)|metrics|docs|access\/v1\/evaluations?|\.well-known\/authzen-configuration)(\/|\?|$)/;

/**
 * While Postgres or Redis is known to be down, every other request is answered 503 at once (with
 * Retry-After, by the error filter) instead of waiting for its own timeout and half-doing its
 * after-commit effects. Availability probes twice a second, so service resumes as soon as both answer.
 */
function answerUnavailableWhileDown(fastify: FastifyInstance, availability: () => Availability | undefined): void {
  fastify.addHook('onRequest', (request, _reply, done) => {
    const down = availability()?.unavailable ?? [];
    done(down.length > 0 && !ALWAYS_OPEN.test(request.url) && !isEnforcementRoute(request) ? unavailableError(down) : undefined);
  });
}

/** gatehouse_http_responses_total{route, status}: the route pattern (never the raw path, whose ids would explode the labels). */
function countResponses(fastify: FastifyInstance, metrics: () => Metrics | undefined): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    metrics()?.httpResponses.inc({ route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) });
    done();
  });
}

/** Creates the HTTP application (not yet listening); `extra` adds e.g. the worker to the same process. */
export async function createHttpApp(config: Config, extra: DynamicModule['imports'] = []): Promise<INestApplication> {
  await preflight(config);
  const adapter = new FastifyAdapter({
    trustProxy: config.trustProxy,
    bodyLimit: BODY_LIMIT,
    return503OnClosing: false,
    genReqId: requestIdOf,
    ...routerRefusals,
  });
  registerBodyParsers(adapter.getInstance());
  // Before NestFactory.create registers the middleware, so a refused address costs no work at all.
  registerAuthFailureLimit(adapter.getInstance(), config);
  let availability: Availability | undefined;
  // Hooks must be added before Nest boots Fastify; the service they read exists only after.
  answerUnavailableWhileDown(adapter.getInstance(), () => availability);
  let metrics: Metrics | undefined;
  countResponses(adapter.getInstance(), () => metrics);
  registerInputChecks(adapter.getInstance());
  const app = await NestFactory.create<NestFastifyApplication>(rootModule(config, [ApiModule, ...(extra ?? [])]), adapter, {
    // Nest's default exits the process on a boot error; throw instead, so runMain can print the
    // plain PolicyError / ConfigError message and callers (tests) see the error.
    abortOnError: false,
    bufferLogs: true,
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  registerForwardAuth(adapter.getInstance(), app.get(CheckCall), app.get(AdminAuthenticator));
  availability = app.get(Availability);
  metrics = app.get(Metrics);
  // Not Nest's shutdown hooks: they close Redis and Postgres before HTTP. runMain calls `shutdown`.
  drainOnShutdown(app);

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
  documentForwardAuth(document);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json' });
  return app;
}
