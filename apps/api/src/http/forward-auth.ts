import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AdminAuthenticator, bearerToken, CallVerdict, CheckCall } from '@gatehouse/core';
import { httpStatusOf } from './error.filter';
import { sourceIpOf } from './request';

/** The forward-auth endpoint; Envoy's ext_authz appends the original path to it. */
export const FORWARD_AUTH_PATH = '/v1/authz/forward';

/** Routes whose answers gateways act on: decided in memory, served whatever Postgres and Redis do. */
export function isEnforcementRoute(request: FastifyRequest): boolean {
  return (request.routeOptions.config as { enforcement?: boolean } | undefined)?.enforcement === true;
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

/**
 * The call a gateway asks about. nginx (auth_request), Traefik (ForwardAuth) and Caddy
 * (forward_auth) name it in X-Forwarded-Method / -Host / -Uri (or X-Original-Method / -URI);
 * Envoy's ext_authz (HTTP service) sends the call's own method, Host and path after the prefix.
 * In Envoy's form the request itself is the call: X-Forwarded-* / X-Original-* headers are then
 * ignored, since an Envoy that lets client headers through to the check would otherwise let an
 * agent name a different call from the one it makes.
 */
export function callOf(request: FastifyRequest): { method: string; host: string; uri: string } {
  const suffix = request.url.slice(FORWARD_AUTH_PATH.length);
  if (suffix.startsWith('/')) return { method: request.method, host: header(request, 'host') ?? '', uri: suffix };
  return {
    method: header(request, 'x-forwarded-method') ?? header(request, 'x-original-method') ?? request.method,
    host: header(request, 'x-forwarded-host') ?? header(request, 'host') ?? '',
    uri: header(request, 'x-forwarded-uri') ?? header(request, 'x-original-uri') ?? '/',
  };
}

function answer(reply: FastifyReply, verdict: CallVerdict): void {
  if (verdict.allowed) {
    void reply.header('x-gatehouse-grant', verdict.grantId);
    void reply.header('x-gatehouse-agent', verdict.agentId);
    void reply.header('x-gatehouse-user', verdict.subject);
    void reply.header('x-gatehouse-resource', verdict.resource);
    void reply.header('x-gatehouse-operation', verdict.operation);
    // The gateway sets it on the upstream call in place of the agent's token (oauth2-proxy's convention).
    if (verdict.upstreamAuthorization !== undefined) void reply.header('authorization', verdict.upstreamAuthorization);
    // Envoy's ext_authz keeps the agent's Authorization unless told to remove it (other gateways ignore this).
    else void reply.header('x-envoy-auth-headers-to-remove', 'authorization');
    if (verdict.upstreamAuthorizationWithheld)
      void reply.header('x-gatehouse-upstream-credential', 'withheld: the caller is not a gateway allowed to receive it');
    void reply.code(200).send();
    return;
  }
  const { error, needed } = verdict;
  const status = httpStatusOf(error.code);
  if (status === 401) void reply.header('www-authenticate', `Bearer realm="gatehouse", error="invalid_token"`);
  // For gateways that do not pass the body on (nginx): the same facts in headers.
  void reply.header('x-gatehouse-error', error.code);
  if (needed) void reply.header('x-gatehouse-needed', JSON.stringify(needed));
  void reply.code(status).send({ error: { code: error.code, message: error.message, ...(needed ? { needed } : {}) } });
}

/**
 * Forward-auth for gateways, straight on Fastify (no Nest pipeline, no body read, no request log
 * line: the trail gets what was allowed and refused, in batches). Answers only 200, 401 or 403,
 * the statuses every gateway understands.
 */
export function registerForwardAuth(fastify: FastifyInstance, check: CheckCall, auth: AdminAuthenticator): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const verdict = await check.call({
      ...callOf(request),
      token: bearerToken(request.headers.authorization),
      gateway: auth.gateway(header(request, 'x-gatehouse-gateway')),
      sourceIp: sourceIpOf(request),
      now: new Date(),
    });
    answer(reply, verdict);
  };
  void fastify.register(async (scope) => {
    // Gateways may send the call's method with a body (Envoy) or none: it is never read.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
    const config = { enforcement: true };
    scope.all(FORWARD_AUTH_PATH, { config }, handler);
    scope.all(`${FORWARD_AUTH_PATH}/*`, { config }, handler);
  });
}
