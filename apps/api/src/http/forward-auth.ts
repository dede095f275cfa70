import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OpenAPIObject } from '@nestjs/swagger';
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

type Operation = NonNullable<OpenAPIObject['paths'][string]['get']>;
type Parameter = NonNullable<Operation['parameters']>[number];
const text = { schema: { type: 'string' } } as const;
const refusal = (description: string) => ({
  description,
  headers: {
    'X-Gatehouse-Error': { description: 'The error code, for gateways that drop the body (nginx)', ...text },
    'X-Gatehouse-Needed': { description: '`needed` as JSON, when a resource of the policy describes the call', ...text },
  },
  content: {
    'application/json': {
      schema: {
        type: 'object',
        properties: {
          error: {
            type: 'object',
            properties: {
              code: { type: 'string' },
              message: { type: 'string' },
              needed: {
                type: 'object',
                description: 'What to ask for (POST /v1/access-requests) so that this call is allowed',
                properties: {
                  resource: { type: 'string' },
                  operations: { type: 'array', items: { type: 'string' } },
                  actions: { type: 'array', items: { type: 'string' } },
                },
              },
            },
          },
        },
      },
    },
  },
});
const parameters: Parameter[] = [
  { name: 'Authorization', in: 'header', description: "The agent's grant token: `Bearer <token>`", ...text },
  {
    name: 'X-Gatehouse-Gateway',
    in: 'header',
    description: 'The gateway credential (GATEHOUSE_GATEWAY_TOKENS); without it no upstream credential is returned',
    ...text,
  },
  { name: 'X-Forwarded-Method', in: 'header', description: 'Method of the call', ...text },
  { name: 'X-Forwarded-Host', in: 'header', description: 'Host the agent called (a `hosts:` entry of a kind: http resource)', ...text },
  { name: 'X-Forwarded-Uri', in: 'header', description: 'Path and query of the call', ...text },
];
const operation: Operation = {
  tags: ['enforcement'],
  summary: 'Forward-auth for gateways (nginx auth_request, Traefik ForwardAuth, Caddy forward_auth, Envoy ext_authz)',
  description:
    "Any method. The call is named by X-Forwarded-Method / -Host / -Uri (or X-Original-Method / -URI); in Envoy's form " +
    "(`/v1/authz/forward/<path>`) by the request's own method, Host and the path after the prefix. Decided in memory. " +
    'Ready configurations: deploy/ (nginx, Caddy, Traefik, Envoy).',
  parameters,
  responses: {
    '200': {
      description: 'A live grant covers the call',
      headers: {
        'X-Gatehouse-Grant': { description: 'The grant', ...text },
        'X-Gatehouse-Agent': { description: 'The agent', ...text },
        'X-Gatehouse-User': { description: 'The user acted for, else the agent', ...text },
        'X-Gatehouse-Resource': { description: 'The kind: http resource', ...text },
        'X-Gatehouse-Operation': { description: 'The operation covering the call', ...text },
        Authorization: {
          description: "The upstream's own credential, for the gateway to set in place of the agent's token (authenticated gateways only)",
          ...text,
        },
        'X-Envoy-Auth-Headers-To-Remove': { description: "`authorization` when no credential is returned: Envoy removes the agent's token", ...text },
      },
    },
    '401': refusal('No valid grant token (missing, forged, expired, or the grant ended)'),
    '403': refusal('NOT_GRANTED: no live grant covers this method, host and path'),
  },
};

/** The forward-auth route in the OpenAPI document (it is served by Fastify directly, outside Nest's controllers). */
export function documentForwardAuth(document: OpenAPIObject): void {
  document.paths[FORWARD_AUTH_PATH] = { get: operation, post: operation };
  document.paths[`${FORWARD_AUTH_PATH}/{path}`] = {
    get: {
      ...operation,
      summary: "Forward-auth in Envoy ext_authz's form: the call's path after the prefix",
      parameters: [{ name: 'path', in: 'path', required: true, description: 'The path of the call', ...text }, ...parameters.slice(0, 2)],
    },
  };
}
