import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { RequestMethod } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { Config } from './config/config';

/**
 * The only request headers ever logged. A whitelist, not a redaction list: a client that sends a
 * credential in a header we do not know (X-Api-Key, Proxy-Authorization, X-Whatever) must not
 * find it in the logs, and Authorization itself is never written.
 */
const REQUEST_HEADERS = ['host', 'user-agent', 'accept', 'content-type', 'content-length', 'x-request-id', 'x-forwarded-for', 'x-forwarded-proto'];
/** Response headers are whitelisted too: a gateway answer may carry an upstream credential. */
const RESPONSE_HEADERS = ['content-type', 'content-length', 'retry-after', 'location'];
/** A query key is kept only when it looks like a parameter name rather than a value. */
const QUERY_KEY = /^[A-Za-z0-9_.[\]-]{1,40}$/;

function pick(headers: IncomingHttpHeaders | OutgoingHttpHeaders | undefined, names: string[]): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const name of names) if (headers?.[name] !== undefined) kept[name] = headers[name];
  return kept;
}

/**
 * The path with every query value redacted and the keys kept (`/x?token=[redacted]&wait=[redacted]`):
 * a credential sent in a query string never reaches the log, and the shape of the call still does.
 */
export function redactedUrl(target: string | undefined): string {
  if (!target) return '';
  // A fragment is never meant for the server: drop it, whatever it holds.
  const hash = target.indexOf('#');
  const url = hash < 0 ? target : target.slice(0, hash);
  const question = url.indexOf('?');
  if (question < 0) return url;
  const parts = url
    .slice(question + 1)
    .split('&')
    .filter(Boolean)
    .map((part) => {
      const equals = part.indexOf('=');
      // A bare `?abc` may itself be the secret.
      const key = equals < 0 ? '' : part.slice(0, equals);
      return QUERY_KEY.test(key) ? `${key}=[redacted]` : '[redacted]';
    });
  return `${url.slice(0, question)}?${parts.join('&')}`;
}

type LoggedRequest = IncomingMessage & { originalUrl?: string };
// Nest's Fastify middleware sees `url` stripped of the matched path; `originalUrl` is the request's own.
const pathOf = (req: LoggedRequest) => redactedUrl(req.originalUrl ?? req.url);

/** The request id: the caller's X-Request-Id when it is a sane token, else a fresh UUID. Give it to the HTTP server (Fastify's genReqId). */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && /^[\w.-]{1,100}$/.test(given) ? given : randomUUID();
}

/**
 * Structured JSON logs with a request id on every line. Requests are logged as method, path with
 * redacted query values, whitelisted headers and the remote address; never bodies, never credentials.
 */
export function loggingModule(config: Config) {
  const options = {
    level: config.logLevel,
    // Only used where the server set no id; on Fastify, its genReqId (requestIdOf) has.
    genReqId: requestIdOf,
    serializers: {
      // pino-http hands these its own wrapped request and response, with the original on `raw`.
      req: (req: { id?: unknown; method?: string; url?: string; headers?: IncomingHttpHeaders; remoteAddress?: string; raw?: LoggedRequest }) => ({
        id: req.id,
        method: req.method,
        url: req.raw ? pathOf(req.raw) : redactedUrl(req.url),
        headers: pick(req.headers, REQUEST_HEADERS),
        remoteAddress: req.remoteAddress,
      }),
      res: (res: { statusCode?: number; headers?: OutgoingHttpHeaders }) => ({
        statusCode: res.statusCode,
        headers: pick(res.headers, RESPONSE_HEADERS),
      }),
    },
    // Defence in depth for objects logged by the application itself.
    redact: { paths: ['*.token', '*.privateJwk', '*.signingKey', '*.authorization'], censor: '[redacted]' },
    // Not logged per request: liveness, metrics, and forward-auth (a check per gateway call; its
    // allows and refusals reach the audit trail in batches instead).
    autoLogging: {
      ignore: (req: LoggedRequest) => {
        const path = (req.originalUrl ?? req.url ?? '').split('?')[0];
        return path === '/health/live' || path === '/metrics' || path === '/v1/authz/forward' || path.startsWith('/v1/authz/forward/');
      },
    },
    customSuccessMessage: (req: LoggedRequest, res: ServerResponse) => `${req.method} ${pathOf(req)} ${res.statusCode}`,
    customErrorMessage: (req: LoggedRequest, res: ServerResponse) => `${req.method} ${pathOf(req)} ${res.statusCode}`,
  };
  return LoggerModule.forRoot({
    pinoHttp: config.logDestination ? [options, config.logDestination] : options,
    // nestjs-pino's default route pattern, `{/*splat}`, matches nothing on Nest 12's Fastify adapter,
    // which left every request unlogged; `*path` matches every path.
    forRoutes: [{ path: '*path', method: RequestMethod.ALL }],
  });
}
