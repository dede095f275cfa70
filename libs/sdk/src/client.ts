import { randomUUID } from 'node:crypto';
import { importJWK, SignJWT, type CryptoKey, type JWK, type KeyObject } from 'jose';
import {
  AccessDeniedError,
  ApprovalTimedOutError,
  errorFromResponse,
  GatehouseError,
  gatewayRefusal,
  RequestCancelledError,
  UnavailableError,
  WaitTimeoutError,
} from './errors';
import { algorithmOf } from './keys';
import type { AccessRequest, AccessRequestInput, AccessResult, Grant, GrantSummary, PendingHandle } from './types';

/** How the client retries 429 and 503 answers (and unreachable brokers). */
export interface RetryOptions {
  /** Retries after the first attempt; default 4. */
  retries?: number;
  /** First backoff when the broker sends no Retry-After; doubles each time; default 250 ms. */
  baseDelayMs?: number;
  /** No single wait is longer than this; default 30 s. */
  maxDelayMs?: number;
}

/** Options of a GatehouseAgent. */
export interface GatehouseAgentOptions {
  brokerUrl: string;
  agentId: string;
  /** The agent's private JWK (Ed25519 or P-256). */
  privateKey: JWK;
  /** The broker's GATEHOUSE_ISSUER, the `aud` of assertions; default brokerUrl. */
  issuer?: string;
  retry?: RetryOptions;
  /** Seconds an assertion lives; default 60 (the broker allows up to 300). */
  assertionTtlSeconds?: number;
  /** For tests and custom transports. */
  fetch?: typeof fetch;
}

interface SendOptions {
  body?: unknown;
  idempotencyKey?: string;
  timeoutMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `init` with `Authorization: Bearer <token>` (or without any Authorization header when no token). */
function withBearer(init: RequestInit, token: string | undefined): RequestInit {
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  else headers.delete('authorization');
  return { ...init, headers };
}

/** Parses Retry-After (seconds or an HTTP date) into milliseconds. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * An agent's client for the Gatehouse broker. Every call carries a freshly signed assertion (new
 * jti), so retries are never refused as replays.
 */
export class GatehouseAgent {
  readonly brokerUrl: string;
  readonly agentId: string;
  private readonly issuer: string;
  private readonly alg: 'EdDSA' | 'ES256';
  private readonly jwk: JWK;
  private key?: Promise<CryptoKey | KeyObject | Uint8Array>;
  private readonly retry: Required<RetryOptions>;
  private readonly ttl: number;
  private readonly fetchImpl: typeof fetch;

  constructor(options: GatehouseAgentOptions) {
    if (!options.privateKey?.d) throw new Error('GatehouseAgent: privateKey must be the private JWK (it has no "d").');
    this.brokerUrl = options.brokerUrl.replace(/\/$/, '');
    this.agentId = options.agentId;
    this.issuer = (options.issuer ?? this.brokerUrl).replace(/\/$/, '');
    this.jwk = options.privateKey;
    this.alg = algorithmOf(options.privateKey);
    this.retry = { retries: 4, baseDelayMs: 250, maxDelayMs: 30_000, ...options.retry };
    this.ttl = options.assertionTtlSeconds ?? 60;
    this.fetchImpl = options.fetch ?? fetch;
  }

  /** Asks for access. Approved: the grant. Pending: a handle for waitForGrant. Denied: AccessDeniedError. */
  async requestAccess(input: AccessRequestInput): Promise<AccessResult> {
    // One key for this call and all its retries: the broker answers a retry with the first request.
    const request = await this.send<AccessRequest>('POST', '/v1/access-requests', { body: input, idempotencyKey: randomUUID() });
    return this.resultOf(request);
  }

  /** Reads a request; `waitSeconds` (≤ 60) holds while it is pending. */
  getRequest(id: string, options: { waitSeconds?: number } = {}): Promise<AccessRequest> {
    const wait = options.waitSeconds ? `?wait=${Math.min(60, Math.max(0, Math.floor(options.waitSeconds)))}` : '';
    const timeoutMs = ((options.waitSeconds ?? 0) + 15) * 1000;
    return this.send<AccessRequest>('GET', `/v1/access-requests/${encodeURIComponent(id)}${wait}`, { timeoutMs });
  }

  /**
   * Long-polls until the request is decided. Returns the grant when approved; throws
   * AccessDeniedError, ApprovalTimedOutError, RequestCancelledError, or WaitTimeoutError when
   * `timeoutMs` passes first (the request then stays pending).
   */
  async waitForGrant(handle: PendingHandle | string, options: { timeoutMs?: number } = {}): Promise<Grant & { token: string }> {
    const requestId = typeof handle === 'string' ? handle : handle.requestId;
    const timeoutMs = options.timeoutMs ?? 15 * 60_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      const waitSeconds = Math.max(0, Math.min(60, Math.floor(left / 1000)));
      const request = await this.getRequest(requestId, { waitSeconds });
      if (request.status !== 'pending') {
        const result = this.resultOf(request);
        if (result.status === 'approved') return result.grant;
      }
      const rest = deadline - Date.now();
      if (rest <= 0) throw new WaitTimeoutError(requestId, timeoutMs);
      // Under a second left: the broker cannot hold that long, so look once more after a short pause.
      if (waitSeconds === 0) await sleep(Math.min(rest, 250));
    }
  }

  /** Withdraws a pending request. */
  cancel(handle: PendingHandle | string): Promise<AccessRequest> {
    const id = typeof handle === 'string' ? handle : handle.requestId;
    return this.send<AccessRequest>('POST', `/v1/access-requests/${encodeURIComponent(id)}/cancel`);
  }

  /**
   * Keeps a live grant longer: a new request for the same access, decided by the policy (it may
   * shorten the duration to the chain's maxDuration, ask people, or deny). Answers like
   * requestAccess: approved, the new grant (the old token stops working at once); pending, a handle
   * for waitForGrant; denied, AccessDeniedError. A grant no longer live throws GRANT_NOT_ACTIVE (409).
   */
  async extend(grant: Pick<Grant, 'id'> | string, input: { duration: string; reason: string }): Promise<AccessResult> {
    const id = typeof grant === 'string' ? grant : grant.id;
    const request = await this.send<AccessRequest>('POST', `/v1/grants/${encodeURIComponent(id)}/extend`, {
      body: { duration: input.duration, reason: input.reason },
      idempotencyKey: randomUUID(),
    });
    return this.resultOf(request);
  }

  /** Ends a grant now (the task is done). Releasing twice is harmless. */
  release(grant: Pick<Grant, 'id'> | string): Promise<Grant> {
    const id = typeof grant === 'string' ? grant : grant.id;
    return this.send<Grant>('POST', `/v1/grants/${encodeURIComponent(id)}/release`);
  }

  /** This agent's grants (no tokens); default: only the active ones. */
  async listGrants(options: { status?: 'active' | 'expired' | 'released' | 'revoked' | 'superseded' | 'all' } = {}): Promise<GrantSummary[]> {
    const status = options.status ?? 'active';
    const query = status === 'all' ? '' : `?status=${status}`;
    const page = await this.send<{ items: GrantSummary[] }>('GET', `/v1/grants${query}`);
    return page.items;
  }

  /**
   * Calls an HTTP API through a gateway that asks Gatehouse, with `ask.grant`'s token when given.
   * When the gateway refuses the call naming what it needs, asks for exactly that (with `ask`'s
   * reason, duration and user), waits up to `ask.waitMs` (default 0: not at all) while people
   * decide, and calls once more with the new grant. Returns the last response and the grant it
   * carried. Throws the refusal when nothing can be asked (no `needed`), AccessDeniedError when the
   * policy or a person says no, and WaitTimeoutError while the request is still pending.
   */
  async fetchWithAccess(
    url: string,
    init: RequestInit,
    ask: { reason: string; duration?: string; onBehalfOf?: string; grant?: { token: string }; waitMs?: number },
  ): Promise<{ response: Response; grant?: Grant & { token: string } }> {
    const first = await this.fetchImpl(url, withBearer(init, ask.grant?.token));
    const refusal = await gatewayRefusal(first.clone());
    if (!refusal) return { response: first, ...(ask.grant ? { grant: ask.grant as Grant & { token: string } } : {}) };
    if (!refusal.needed) throw refusal;
    const result = await this.requestAccess({ ...refusal.needed, duration: ask.duration ?? '15m', reason: ask.reason, onBehalfOf: ask.onBehalfOf });
    const grant = result.status === 'approved' ? result.grant : await this.waitForGrant(result.handle, { timeoutMs: ask.waitMs ?? 0 });
    return { response: await this.fetchImpl(url, withBearer(init, grant.token)), grant };
  }

  private resultOf(request: AccessRequest): AccessResult {
    switch (request.status) {
      case 'approved':
        if (!request.grant?.token) {
          throw new GatehouseError(
            'GRANT_NOT_ACTIVE',
            409,
            `Request ${request.id} was approved, but its grant is ${request.grant?.status ?? 'gone'}.`,
          );
        }
        return { status: 'approved', grant: request.grant as Grant & { token: string }, request };
      case 'pending':
        return { status: 'pending', handle: { requestId: request.id, request }, request };
      case 'denied':
        throw new AccessDeniedError(request.decision, request.id, request);
      case 'timed_out':
        throw new ApprovalTimedOutError(request.id);
      case 'cancelled':
        throw new RequestCancelledError(request.id);
      default:
        throw new GatehouseError('UNEXPECTED_RESPONSE', 200, `Unknown request status ${String((request as { status: unknown }).status)}.`);
    }
  }

  private async assertion(): Promise<string> {
    this.key ??= importJWK(this.jwk, this.alg);
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: this.alg, typ: 'JWT' })
      .setIssuer(this.agentId)
      .setSubject(this.agentId)
      .setAudience(this.issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + this.ttl)
      .setJti(randomUUID())
      .sign(await this.key);
  }

  private async send<T>(method: string, path: string, options: SendOptions = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { authorization: `Bearer ${await this.assertion()}`, accept: 'application/json' };
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
      const backoff = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** attempt);
      let res: Response;
      try {
        res = await this.fetchImpl(`${this.brokerUrl}${path}`, {
          method,
          headers,
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
        });
      } catch (error) {
        // Unreachable broker: retrying is safe, every write carries an idempotency key or is idempotent.
        if (attempt < this.retry.retries) {
          await sleep(backoff);
          continue;
        }
        throw new UnavailableError('NETWORK_ERROR', 0, `Cannot reach Gatehouse at ${this.brokerUrl}: ${(error as Error).message}`);
      }
      const text = await res.text();
      let body: unknown = null;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        body = text;
      }
      if (res.ok) return body as T;
      const wait = retryAfterMs(res.headers.get('retry-after'));
      if ((res.status === 429 || res.status === 503) && attempt < this.retry.retries) {
        await sleep(Math.min(this.retry.maxDelayMs, wait ?? backoff));
        continue;
      }
      throw errorFromResponse(res.status, body, wait === undefined ? undefined : Math.ceil(wait / 1000));
    }
  }
}
