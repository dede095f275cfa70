import { randomUUID } from 'node:crypto';
import { createRemoteJWKSet, JWTPayload, jwtVerify, JWTVerifyResult } from 'jose';
import { Broker, call, INTROSPECTION_TOKEN, putUser, Reply, TestAgent } from './broker';

/** A request body the fixture policy auto-approves (public + internal columns, 15 minutes). */
export const LOW_RISK = {
  resource: 'crm.customers',
  actions: ['read'],
  columns: ['id', 'name'],
  duration: '15m',
  reason: 'Draft a reply to ticket 4521',
};
/** A request body the fixture policy sends to crm-owners (pii columns). */
export const PII = { resource: 'crm.customers', actions: ['read'], columns: ['email', 'phone'], duration: '15m', reason: 'Call the customer back' };

/** Submits an access request, `overrides` replacing fields of the low-risk body. */
export function ask(agent: TestAgent, overrides: Record<string, unknown> = {}, headers?: Record<string, string>): Promise<Reply> {
  return agent.call('POST', '/v1/access-requests', { ...LOW_RISK, ...overrides }, headers);
}

/** Submits a request and insists on the answer's status (approved/pending/denied). */
export async function askFor(agent: TestAgent, status: string, overrides: Record<string, unknown> = {}): Promise<any> {
  const res = await ask(agent, overrides);
  if (res.status !== 201 || res.body?.status !== status)
    throw new Error(`expected a ${status} request, got ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Asserts the status and the contract's error shape {error: {code, message, details}}. */
export function expectError(res: Reply, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
  expect(typeof res.body.error.message).toBe('string');
  expect(res.body.error.message.length).toBeGreaterThan(0);
  expect(Array.isArray(res.body.error.details)).toBe(true);
}

/** POST /v1/introspect with a credential (the resource server's by default; null sends none), the token as JSON or as a form field. */
export function introspect(
  broker: Broker,
  token: string,
  as: 'json' | 'form' = 'json',
  credential: string | null = INTROSPECTION_TOKEN,
): Promise<Reply> {
  const url = `${broker.url}/v1/introspect`;
  const bearer = credential ?? undefined;
  if (as === 'json') return call(url, 'POST', { token: bearer, body: { token } });
  return call(url, 'POST', {
    token: bearer,
    raw: new URLSearchParams({ token }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
}

/** Verifies a grant token the way a resource server would: remote JWKS, issuer, audience, typ, EdDSA. */
export function verifyGrantToken(
  broker: Broker,
  token: string,
  options: { audience?: string; typ?: string } = {},
): Promise<JWTVerifyResult<JWTPayload>> {
  const jwks = createRemoteJWKSet(new URL(`${broker.url}/.well-known/jwks.json`));
  return jwtVerify(token, jwks, { issuer: broker.url, audience: options.audience ?? 'crm-api', typ: options.typ ?? 'at+jwt', algorithms: ['EdDSA'] });
}

/** Registers directory users with ids unique to this run (other spec files share the users table). */
export async function users(broker: Broker, groupsById: Record<string, string[]>): Promise<Record<string, string>> {
  const suffix = randomUUID().slice(0, 8);
  const ids: Record<string, string> = {};
  for (const [name, groups] of Object.entries(groupsById)) {
    ids[name] = `${name}-${suffix}`;
    await putUser(broker, ids[name], groups);
  }
  return ids;
}

/** Seconds since the epoch, as JWT claims count time. */
export const nowSeconds = () => Math.floor(Date.now() / 1000);

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An admin lets `agent` act for `userId` (every resource, until ended, unless `body` narrows it). */
export async function delegate(
  broker: Broker,
  agent: { id: string },
  userId: string,
  body: { resources?: string[]; expiresAt?: string } = {},
): Promise<any> {
  const res = await broker.admin('PUT', `/v1/admin/agents/${agent.id}/delegations/${userId}`, body);
  if (res.status !== 200) throw new Error(`delegation failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}
