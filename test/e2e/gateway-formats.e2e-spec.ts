import { readFileSync } from 'node:fs';
import { IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { parse } from 'yaml';
import { gatewayRefusal } from '@gatehouse/sdk';
import { Broker, registerAgent, startBroker, TestAgent } from '../support/broker';
import { askFor } from '../support/flows';
import { asResponse, GatewayReply, renderTemplate } from '../support/gateways';

// Envoy and Traefik are not packaged here. These specs read deploy/'s envoy.yaml and Traefik file,
// send Gatehouse the check each gateway builds from that configuration (as Envoy's ext_authz HTTP
// service and Traefik's ForwardAuth document it), and apply the answer as the gateway would: what
// reaches the upstream on 200, what the agent gets otherwise.

const GATEWAY_TOKEN = 'test-gateway-token-0123456789';
const UPSTREAM_SECRET = 'ghp_upstream_secret_value';
const READ = {
  resource: 'github.issues',
  actions: ['read'],
  columns: undefined,
  operations: ['read-issues'],
  duration: '10m',
  reason: 'Triage issue 12',
};

type Headers = Record<string, string>;
type Pattern = { exact?: string; prefix?: string };

/** One HTTP exchange with node:http (fetch would not let the Host header through). */
function send(url: string, method: string, headers: Headers): Promise<GatewayReply> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = httpRequest({ host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method, headers }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += String(chunk)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    req.end();
  });
}

const lower = (headers: Headers): Headers => Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
const single = (headers: IncomingHttpHeaders): Headers =>
  Object.fromEntries(Object.entries(headers).filter((e): e is [string, string] => typeof e[1] === 'string'));
const matches = (patterns: Pattern[], name: string) =>
  patterns.some((p) => (p.exact !== undefined && p.exact === name) || (p.prefix !== undefined && name.startsWith(p.prefix)));

/** The outcome of a call through the gateway: what the upstream received, or what the agent got. */
type Outcome = { upstream: Headers; agent?: undefined } | { upstream?: undefined; agent: GatewayReply };

describe('gateway request formats (deploy/envoy, deploy/traefik) against forward-auth', () => {
  let broker: Broker;
  let agent: TestAgent;
  let token: string;
  let grantId: string;

  beforeAll(async () => {
    broker = await startBroker({
      GATEHOUSE_POLICY_FILE: 'test/fixtures/http-policy.yaml',
      GATEHOUSE_TEST_GITHUB_TOKEN: UPSTREAM_SECRET,
      GATEHOUSE_GATEWAY_TOKENS: `edge:${GATEWAY_TOKEN}`,
      GATEHOUSE_USAGE_FLUSH_INTERVAL: '1h',
    });
    agent = await registerAgent(broker);
    const request = await askFor(agent, 'approved', READ);
    token = request.grant.token;
    grantId = request.grant.id;
  });
  afterAll(() => broker.close());

  it('documents forward-auth in the OpenAPI document, both forms, with its answers and headers', async () => {
    const doc = (await (await fetch(`${broker.url}/docs/openapi.json`)).json()) as any;
    const plain = doc.paths['/v1/authz/forward'].get;
    expect(Object.keys(plain.responses)).toEqual(['200', '401', '403']);
    expect(Object.keys(plain.responses['200'].headers)).toEqual(
      expect.arrayContaining(['X-Gatehouse-Grant', 'Authorization', 'X-Envoy-Auth-Headers-To-Remove']),
    );
    expect(plain.responses['403'].headers['X-Gatehouse-Needed']).toBeDefined();
    expect(plain.parameters.map((p: { name: string }) => p.name)).toContain('X-Gatehouse-Gateway');
    expect(doc.paths['/v1/authz/forward/{path}'].get.parameters[0]).toMatchObject({ name: 'path', in: 'path' });
  });

  describe('Envoy ext_authz (HTTP service)', () => {
    let service: any;
    let route: any;

    beforeAll(() => {
      const broker_ = new URL(broker.url);
      const config = parse(
        renderTemplate('deploy/envoy/envoy.yaml', {
          GATEHOUSE_HOST: broker_.hostname,
          GATEHOUSE_PORT: broker_.port,
          GATEWAY_TOKEN,
          UPSTREAM_HOST: 'api.github.test',
          EGRESS_HOST: 'github.egress.test',
        }),
      );
      const manager = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
      service = manager.http_filters.find((f: any) => f.name === 'envoy.filters.http.ext_authz').typed_config.http_service;
      route = manager.route_config.virtual_hosts[0];
    });

    /** Envoy's check: the call's method and Host, path_prefix + path, the allowed headers and headers_to_add, no body. */
    async function throughEnvoy(method: string, host: string, path: string, agentHeaders: Headers): Promise<Outcome> {
      const request = service.authorization_request;
      const sent: Headers = { host, 'content-length': '0' };
      for (const [name, value] of Object.entries(agentHeaders)) if (matches(request.allowed_headers.patterns, name)) sent[name] = value;
      for (const { key, value } of request.headers_to_add) sent[key] = value;
      const answer = await send(`${service.server_uri.uri}${service.path_prefix}${path}`, method, sent);
      const response = service.authorization_response;
      if (answer.status !== 200) {
        const headers = Object.fromEntries(
          Object.entries(answer.headers).filter(([name]) => matches(response.allowed_client_headers.patterns, name)),
        );
        return { agent: { status: answer.status, headers, body: answer.body } };
      }
      const upstream: Headers = { ...agentHeaders };
      for (const [name, value] of Object.entries(single(answer.headers)))
        if (matches(response.allowed_upstream_headers.patterns, name)) upstream[name] = value;
      for (const name of (answer.headers['x-envoy-auth-headers-to-remove'] as string | undefined)?.split(',') ?? []) delete upstream[name.trim()];
      return { upstream };
    }

    it('lets a granted call through with the upstream credential in place of the agent token, query kept', async () => {
      expect(route.domains).toEqual(['github.egress.test', 'github.egress.test:*']);
      const outcome = await throughEnvoy('GET', 'github.egress.test', '/repos/acme/app/issues?state=open', { authorization: `Bearer ${token}` });
      expect(outcome.upstream).toMatchObject({
        authorization: `Bearer ${UPSTREAM_SECRET}`,
        'x-gatehouse-grant': grantId,
        'x-gatehouse-operation': 'read-issues',
      });
      expect(JSON.stringify(outcome.upstream)).not.toContain(token);
    });

    it('has Envoy remove the agent token when the resource has no upstream credential', async () => {
      const status = await askFor(agent, 'approved', { ...READ, resource: 'status.api', operations: ['read-status'] });
      const outcome = await throughEnvoy('GET', 'status.test', '/status', { authorization: `Bearer ${status.grant.token}` });
      expect(outcome.upstream).toBeDefined();
      expect(outcome.upstream!.authorization).toBeUndefined();
      expect(outcome.upstream!['x-gatehouse-grant']).toBe(status.grant.id);
    });

    it('refuses an ungranted call, and the agent gets the status, body and headers the SDK reads', async () => {
      const outcome = await throughEnvoy('POST', 'github.egress.test', '/repos/acme/app/issues/3/comments', { authorization: `Bearer ${token}` });
      expect(outcome.agent?.status).toBe(403);
      expect(outcome.agent!.headers['x-gatehouse-error']).toBe('NOT_GRANTED');
      const refusal = await gatewayRefusal(asResponse(outcome.agent!));
      expect({ code: refusal?.code, needed: refusal?.needed }).toEqual({
        code: 'NOT_GRANTED',
        needed: { resource: 'github.issues', operations: ['comment'], actions: ['write'] },
      });
      const none = await throughEnvoy('GET', 'github.egress.test', '/repos/acme/app/issues', {});
      expect(none.agent?.status).toBe(401);
      expect(none.agent!.headers['www-authenticate']).toMatch(/^Bearer /);
    });

    it('decides the call Envoy forwards, not one named in X-Forwarded-* or X-Original-* headers', async () => {
      // Even with an Envoy configured to pass every client header to the check.
      const answer = await send(`${broker.url}/v1/authz/forward/repos/acme/app`, 'DELETE', {
        host: 'github.egress.test',
        authorization: `Bearer ${token}`,
        'x-forwarded-method': 'GET',
        'x-forwarded-uri': '/repos/acme/app/issues',
        'x-original-method': 'GET',
        'x-original-uri': '/repos/acme/app/issues',
        'x-forwarded-host': 'github.egress.test',
        'x-gatehouse-gateway': GATEWAY_TOKEN,
      });
      expect(answer.status).toBe(403);
      expect(answer.body.error.code).toBe('NOT_GRANTED');
      expect(answer.body.error.needed).toEqual({ resource: 'github.issues', operations: ['delete-repo'], actions: ['write'] });
      // And an ambiguous path after the prefix is never granted.
      for (const path of ['//repos/acme/app/issues', '/repos/acme/app/issues/%2e%2e/x', '/repos/acme%2Fapp/x/issues']) {
        const res = await send(`${broker.url}/v1/authz/forward${path}`, 'GET', { host: 'github.egress.test', authorization: `Bearer ${token}` });
        expect({ path, status: res.status }).toEqual({ path, status: 403 });
      }
    });
  });

  describe('Traefik ForwardAuth', () => {
    let middlewares: any;

    beforeAll(() => {
      // Traefik's file provider renders {{ env "NAME" }}; the same here.
      const env: Headers = { GATEHOUSE_URL: broker.url, GATEWAY_TOKEN, UPSTREAM_URL: 'https://api.github.test', EGRESS_HOST: 'github.egress.test' };
      const text = readFileSync('deploy/traefik/gatehouse.yml', 'utf8').replace(/\{\{ env "([A-Z_]+)" \}\}/g, (_, name: string) => env[name]);
      const config = parse(text).http;
      expect(config.routers['gatehouse-egress'].middlewares).toEqual([
        'gatehouse-gateway-credential',
        'gatehouse-forward-auth',
        'gatehouse-strip-credential',
      ]);
      middlewares = config.middlewares;
    });

    /** The middleware chain: set the gateway credential, ForwardAuth (X-Forwarded-* written by Traefik), strip the credential. */
    async function throughTraefik(method: string, host: string, uri: string, agentHeaders: Headers): Promise<Outcome> {
      const headers: Headers = { ...agentHeaders, ...lower(middlewares['gatehouse-gateway-credential'].headers.customRequestHeaders) };
      const forwardAuth = middlewares['gatehouse-forward-auth'].forwardAuth;
      expect(forwardAuth.trustForwardHeader).toBe(false);
      const answer = await send(forwardAuth.address, 'GET', {
        ...headers,
        'x-forwarded-method': method,
        'x-forwarded-proto': 'https',
        'x-forwarded-host': host,
        'x-forwarded-uri': uri,
        'x-forwarded-for': '10.0.0.7',
      });
      if (answer.status < 200 || answer.status > 299) return { agent: answer };
      const upstream: Headers = { ...headers };
      for (const name of forwardAuth.authResponseHeaders.map((h: string) => h.toLowerCase())) {
        delete upstream[name];
        const value = answer.headers[name];
        if (typeof value === 'string') upstream[name] = value;
      }
      for (const [name, value] of Object.entries(lower(middlewares['gatehouse-strip-credential'].headers.customRequestHeaders)))
        if (value === '') delete upstream[name];
      return { upstream };
    }

    it('lets a granted call through with the upstream credential; Host with the entry point port', async () => {
      const outcome = await throughTraefik('GET', 'github.egress.test:443', '/repos/acme/app/issues?state=open', {
        authorization: `Bearer ${token}`,
      });
      expect(outcome.upstream).toMatchObject({
        authorization: `Bearer ${UPSTREAM_SECRET}`,
        'x-gatehouse-grant': grantId,
        'x-gatehouse-agent': agent.id,
      });
      expect(Object.keys(outcome.upstream!)).not.toContain('x-gatehouse-gateway');
      expect(JSON.stringify(outcome.upstream)).not.toContain(token);
      expect(JSON.stringify(outcome.upstream)).not.toContain(GATEWAY_TOKEN);
    });

    it('removes the agent token when the resource has no upstream credential', async () => {
      const status = await askFor(agent, 'approved', { ...READ, resource: 'status.api', operations: ['read-status'] });
      const outcome = await throughTraefik('GET', 'status.test', '/status', { authorization: `Bearer ${status.grant.token}` });
      expect(outcome.upstream).toBeDefined();
      expect(outcome.upstream!.authorization).toBeUndefined();
    });

    it("refuses an ungranted call with Gatehouse's answer, whatever X-Original-* the agent adds", async () => {
      const outcome = await throughTraefik('DELETE', 'github.egress.test', '/repos/acme/app', {
        authorization: `Bearer ${token}`,
        'x-original-method': 'GET',
        'x-original-uri': '/repos/acme/app/issues',
      });
      expect(outcome.agent?.status).toBe(403);
      const refusal = await gatewayRefusal(asResponse(outcome.agent!));
      expect(refusal?.needed).toEqual({ resource: 'github.issues', operations: ['delete-repo'], actions: ['write'] });
      const none = await throughTraefik('GET', 'github.egress.test', '/repos/acme/app/issues', {});
      expect(none.agent?.status).toBe(401);
      expect((await gatewayRefusal(asResponse(none.agent!)))?.code).toBe('AUTHENTICATION_REQUIRED');
    });
  });
});
