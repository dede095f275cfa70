import { INestApplication } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { webcrypto } from 'node:crypto';
import { exportJWK, generateKeyPair, JWK, SignJWT } from 'jose';
import { Config, loadConfig, PrismaService } from '@gatehouse/core';
import { shutdown } from '@gatehouse/bootstrap';
import { createHttpApp } from '../../apps/api/src/http-app';
import { WorkerModule } from '../../apps/worker/src/worker.module';

type CryptoKey = webcrypto.CryptoKey;

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const INTROSPECTION_TOKEN = 'test-introspection-token-0123';

/** A running broker (API and worker in one process) on a random port, against the run's database. */
export interface Broker {
  url: string;
  config: Config;
  app: INestApplication;
  prisma: PrismaService;
  admin(method: string, path: string, body?: unknown): Promise<Reply>;
  close(): Promise<void>;
}

/** A response with its parsed JSON body. */
export interface Reply {
  status: number;
  body: any;
  headers: Headers;
}

export async function call(
  url: string,
  method: string,
  init: { token?: string; body?: unknown; headers?: Record<string, string>; raw?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  let body: string | undefined = init.raw;
  if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers['content-type'] ??= 'application/json';
  } else if (init.raw !== undefined) headers['content-type'] ??= 'application/json';
  const res = await fetch(url, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: keep the text */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/**
 * Starts a broker; `env` overrides the test defaults (policy file, tokens, rate limit...). With
 * `logged`, its log (at info) is pushed there: nestjs-pino keeps the first app's logger for the
 * whole process, so a spec that reads logs starts that broker first. `prepare` tunes the app
 * before it listens.
 */
export async function startBroker(
  env: Record<string, string> = {},
  options: { logged?: string[]; prepare?: (app: INestApplication) => void } = {},
): Promise<Broker> {
  const config = loadConfig({
    ...process.env,
    PORT: '0',
    LOG_LEVEL: options.logged ? 'info' : 'silent',
    GATEHOUSE_ADMIN_TOKENS: `ops:${ADMIN_TOKEN}`,
    GATEHOUSE_INTROSPECTION_TOKENS: `crm:${INTROSPECTION_TOKEN}`,
    GATEHOUSE_POLICY_FILE: 'test/fixtures/policy.yaml',
    GATEHOUSE_RATE_LIMIT: '1000/10s',
    // The suites send many bad credentials from 127.0.0.1 on purpose; test/e2e/limits sets a low limit.
    GATEHOUSE_AUTH_FAILURE_LIMIT: '100000/1s',
    ...env,
  });
  const { logged, prepare } = options;
  if (logged) config.logDestination = { write: (line: string) => void logged.push(line) };
  const app = await createHttpApp(config, [WorkerModule]);
  prepare?.(app);
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  const url = `http://127.0.0.1:${address.port}`;
  // Tokens' iss and assertions' aud are the issuer; make it the real address.
  config.issuer = url;
  return {
    url,
    config,
    app,
    prisma: app.get(PrismaService),
    admin: (method, path, body) => call(`${url}${path}`, method, { token: ADMIN_TOKEN, body }),
    // The same graceful shutdown SIGTERM runs.
    close: async () => {
      await shutdown(app, { timeoutMs: config.shutdownTimeoutSeconds * 1000 });
    },
  };
}

/** A registered agent holding its private key; `call` signs a fresh assertion every time. */
export interface TestAgent {
  id: string;
  name: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  alg: 'EdDSA' | 'ES256';
  assertion(overrides?: { aud?: string; iat?: number; exp?: number; jti?: string; iss?: string; key?: CryptoKey }): Promise<string>;
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
}

export async function registerAgent(
  broker: Broker,
  options: { alg?: 'EdDSA' | 'ES256'; attributes?: Record<string, string>; name?: string } = {},
): Promise<TestAgent> {
  const alg = options.alg ?? 'EdDSA';
  const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
  const publicJwk = await exportJWK(publicKey);
  const name = options.name ?? `agent-${randomUUID().slice(0, 8)}`;
  const res = await broker.admin('POST', '/v1/admin/agents', { name, publicJwk, attributes: options.attributes, owner: 'team-ai@example.com' });
  if (res.status !== 201) throw new Error(`agent registration failed: ${res.status} ${JSON.stringify(res.body)}`);
  const id = res.body.id as string;
  const agent: TestAgent = {
    id,
    name,
    privateKey: privateKey as CryptoKey,
    publicJwk,
    alg,
    assertion: (o = {}) => {
      const now = Math.floor(Date.now() / 1000);
      return new SignJWT({})
        .setProtectedHeader({ alg })
        .setIssuer(o.iss ?? id)
        .setSubject(o.iss ?? id)
        .setAudience(o.aud ?? broker.config.issuer)
        .setIssuedAt(o.iat ?? now)
        .setExpirationTime(o.exp ?? now + 60)
        .setJti(o.jti ?? randomUUID())
        .sign(o.key ?? (privateKey as CryptoKey));
    },
    call: async (method, path, body, headers) => call(`${broker.url}${path}`, method, { token: await agent.assertion(), body, headers }),
  };
  return agent;
}

/** Registers (or replaces) a directory user. */
export async function putUser(broker: Broker, id: string, groups: string[], extra: { slackUserId?: string } = {}): Promise<void> {
  const res = await broker.admin('PUT', `/v1/admin/users/${id}`, { email: `${id}@example.com`, displayName: id, groups, ...extra });
  if (res.status !== 200) throw new Error(`user registration failed: ${res.status} ${JSON.stringify(res.body)}`);
}

/** Polls `check` until it returns a value, or fails after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined | null | false>, ms = 10_000, every = 100): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, every));
  }
}
