import { Injectable } from '@nestjs/common';
import { TokenError } from 'fast-jwt';
import {
  AccessError,
  AccessErrorCode,
  coveringOperations,
  NeededAccess,
  neededFor,
  normalizeCallPath,
  normalizeHost,
  Policy,
  ResourcePolicy,
  upstreamAuthorizationValue,
} from '@gatehouse/domain';
import { Config } from '../config/config';
import type { Introspector } from '../auth/admin-authenticator';
import { KeyService } from '../keys/key.service';
import { PolicyStore } from '../policy/policy.store';
import { AUTHORIZATION_DETAILS_TYPE, GRANT_TOKEN_TYPE, HTTP_AUTHORIZATION_DETAILS_TYPE } from '../tokens/grant-token.service';
import { EndedGrants } from './ended-grants';
import { UsageRecorder } from './usage-recorder';

/** A gateway's question: may the bearer of `token` make this call? */
export interface CallQuestion {
  method: string;
  /** Host (or host:port) the client called. */
  host: string;
  /** Path and query as the client sent them. */
  uri: string;
  token: string | undefined;
  /** The gateway, when it presented a credential from GATEHOUSE_GATEWAY_TOKENS. */
  gateway: Introspector | undefined;
  sourceIp: string | null;
  now: Date;
}

/** Who a live grant speaks for. */
export interface GrantHolder {
  grantId: string;
  requestId: string | null;
  agentId: string;
  /** The user acted for, else the agent (the token's `sub`). */
  subject: string;
}

export type CallVerdict =
  | (GrantHolder & {
      allowed: true;
      resource: string;
      operation: string;
      /** The upstream's own credential, for the gateway to set; only for an authenticated gateway allowed that audience. */
      upstreamAuthorization?: string;
      /** Set when a credential is configured but was withheld (the caller is not an authenticated gateway for it). */
      upstreamAuthorizationWithheld?: true;
    })
  | { allowed: false; error: AccessError; needed: NeededAccess | null; holder?: GrantHolder };

/** A data resource server's question (AuthZEN): may the bearer read these columns of that resource? */
export interface DataQuestion {
  resource: string;
  action: string;
  columns?: string[];
  token: string | undefined;
  /** The enforcement point asking, recorded with the usage. */
  client?: string;
  now: Date;
}

type Claims = Record<string, unknown>;
type Verified = { ok: true; claims: Claims; holder: GrantHolder } | { ok: false; error: AccessError; holder?: GrantHolder };

const MAX_TOKEN_LENGTH = 8192;

/**
 * Decides gateway calls (forward-auth, AuthZEN) in memory: the token's signature with the keys held
 * in memory, its grant against the set of grants ended early, its operations against the policy in
 * memory. No database, no Redis on this path; what was allowed and refused is counted for the trail.
 */
@Injectable()
export class CheckCall {
  constructor(
    private readonly config: Config,
    private readonly keys: KeyService,
    private readonly policy: PolicyStore,
    private readonly ended: EndedGrants,
    private readonly usage: UsageRecorder,
  ) {}

  /** A call through a gateway, as forward-auth and AuthZEN ask it. */
  async call(question: CallQuestion): Promise<CallVerdict> {
    const verdict = await this.decide(question);
    this.record(question, verdict);
    return verdict;
  }

  /** A request for columns of a data resource (AuthZEN with a `gatehouse_data` resource). */
  async data(question: DataQuestion): Promise<{ allowed: true; holder: GrantHolder } | { allowed: false; error: AccessError; holder?: GrantHolder }> {
    const verified = await this.verify(question.token, question.now);
    if (!verified.ok) return { allowed: false, error: verified.error, holder: verified.holder };
    const detail = detailsOf(verified.claims).find((d) => d.type === AUTHORIZATION_DETAILS_TYPE && d.identifier === question.resource);
    const audience = this.policy.current().resources[question.resource]?.audience ?? question.resource;
    const columns = Array.isArray(detail?.columns) ? (detail.columns as unknown[]) : [];
    const actions = Array.isArray(detail?.actions) ? (detail.actions as unknown[]) : [];
    const covered =
      detail !== undefined &&
      audiencesOf(verified.claims).includes(audience) &&
      actions.includes(question.action) &&
      (question.columns ?? []).every((column) => columns.includes(column));
    const { holder } = verified;
    if (covered) {
      this.usage.used({ ...holder, resource: question.resource, operation: question.action, gateway: question.client ?? null, at: question.now });
      return { allowed: true, holder };
    }
    const columnsText = question.columns ? ` (${question.columns.join(', ')})` : '';
    const error = new AccessError(
      AccessErrorCode.NOT_GRANTED,
      `Grant ${holder.grantId} does not cover ${question.action} on ${question.resource}${columnsText}.`,
    );
    return { allowed: false, error, holder };
  }

  private async decide(question: CallQuestion): Promise<CallVerdict> {
    const policy = this.policy.current();
    const path = normalizeCallPath(question.uri);
    const what = `${question.method.toUpperCase()} ${question.host}${path ?? question.uri.split('?')[0]}`;
    if (path === null) {
      const message = `${what}: the path is ambiguous (dot segments, empty segments, encoded slashes or control characters) and is never granted.`;
      return { allowed: false, error: new AccessError(AccessErrorCode.NOT_GRANTED, message), needed: null };
    }
    const needed = () => neededFor(policy, question);
    const verified = await this.verify(question.token, question.now);
    if (!verified.ok) return { allowed: false, error: verified.error, needed: needed(), holder: verified.holder };

    const host = normalizeHost(question.host);
    const audiences = audiencesOf(verified.claims);
    for (const detail of detailsOf(verified.claims)) {
      if (detail.type !== HTTP_AUTHORIZATION_DETAILS_TYPE || typeof detail.identifier !== 'string') continue;
      const resource = httpResource(policy, detail.identifier);
      if (!resource || !resource.hosts.includes(host) || !audiences.includes(resource.audience)) continue;
      const granted = Array.isArray(detail.operations) ? detail.operations.filter((o): o is string => typeof o === 'string') : [];
      const [operation] = coveringOperations(resource, granted, question.method, path);
      if (operation) return { allowed: true, ...verified.holder, resource: resource.id, operation, ...this.credential(resource, question.gateway) };
    }
    const need = needed();
    const message = need
      ? `Grant ${verified.holder.grantId} does not cover ${what}; ask for resource ${need.resource}, operations [${need.operations.join(', ')}], actions [${need.actions.join(', ')}].`
      : `No resource in the policy describes ${what}; no grant can cover it.`;
    return { allowed: false, error: new AccessError(AccessErrorCode.NOT_GRANTED, message), needed: need, holder: verified.holder };
  }

  /** The upstream credential goes only to a gateway that authenticated and may see this audience. */
  private credential(
    resource: ResourcePolicy,
    gateway: Introspector | undefined,
  ): { upstreamAuthorization?: string; upstreamAuthorizationWithheld?: true } {
    const value = upstreamAuthorizationValue(resource, this.config.secret);
    if (value === undefined) return {};
    if (!gateway || (gateway.audiences && !gateway.audiences.has(resource.audience))) return { upstreamAuthorizationWithheld: true };
    return { upstreamAuthorization: value };
  }

  /** Signature (keys in memory), alg, typ, iss, exp, nbf, and the grant not ended early. */
  private async verify(token: string | undefined, now: Date): Promise<Verified> {
    if (!token) {
      return {
        ok: false,
        error: new AccessError(
          AccessErrorCode.AUTHENTICATION_REQUIRED,
          'Send the grant token as Authorization: Bearer <token>; ask Gatehouse for access first.',
        ),
      };
    }
    if (token.length > MAX_TOKEN_LENGTH) return { ok: false, error: invalid('it is longer than any grant token') };
    const kid = kidOf(token);
    if (kid === undefined) return { ok: false, error: invalid('it is not a JWT signed by Gatehouse') };
    let verify = this.keys.verifierFor(kid, GRANT_TOKEN_TYPE);
    if (!verify && (await this.keys.reloadForUnknownKid())) verify = this.keys.verifierFor(kid, GRANT_TOKEN_TYPE);
    if (!verify) return { ok: false, error: invalid('it is not signed by a Gatehouse key') };
    let claims: Claims;
    try {
      claims = verify(token).payload;
    } catch (error) {
      return { ok: false, error: invalid(reasonOf(error)) };
    }
    rememberHeader(token, kid);
    if (claims.iss !== this.config.issuer) return { ok: false, error: invalid(`it was issued by ${String(claims.iss)}, not ${this.config.issuer}`) };
    const holder: GrantHolder = {
      grantId: String(claims.jti),
      requestId: typeof claims.req === 'string' ? claims.req : null,
      agentId: String(claims.client_id),
      subject: String(claims.sub),
    };
    if (typeof claims.exp === 'number' && claims.exp * 1000 <= now.getTime()) return { ok: false, error: invalid('it has expired'), holder };
    if (this.ended.has(holder.grantId)) {
      return {
        ok: false,
        error: new AccessError(
          AccessErrorCode.INVALID_TOKEN,
          'This grant has ended (released, revoked, or replaced by an extension); ask for access again.',
        ),
        holder,
      };
    }
    return { ok: true, claims, holder };
  }

  private record(question: CallQuestion, verdict: CallVerdict): void {
    const gateway = question.gateway?.name ?? null;
    if (verdict.allowed) {
      this.usage.used({
        grantId: verdict.grantId,
        requestId: verdict.requestId,
        agentId: verdict.agentId,
        resource: verdict.resource,
        operation: verdict.operation,
        gateway,
        at: question.now,
      });
      return;
    }
    this.usage.refused({
      agentId: verdict.holder?.agentId ?? null,
      grantId: verdict.holder?.grantId ?? null,
      code: verdict.error.code,
      method: question.method.toUpperCase(),
      host: question.host,
      path: question.uri.split('?')[0],
      needed: verdict.needed,
      gateway,
      sourceIp: question.sourceIp,
      at: question.now,
    });
  }
}

function invalid(reason: string): AccessError {
  return new AccessError(AccessErrorCode.INVALID_TOKEN, `The grant token is not valid: ${reason}.`);
}

function httpResource(policy: Policy, id: string): ResourcePolicy | undefined {
  const resource = Object.hasOwn(policy.resources, id) ? policy.resources[id] : undefined;
  return resource?.kind === 'http' ? resource : undefined;
}

function detailsOf(claims: Claims): Record<string, unknown>[] {
  const details = claims.authorization_details;
  return Array.isArray(details) ? details.filter((d): d is Record<string, unknown> => typeof d === 'object' && d !== null) : [];
}

function audiencesOf(claims: Claims): string[] {
  const aud = claims.aud;
  return (Array.isArray(aud) ? aud : [aud]).filter((a): a is string => typeof a === 'string');
}

/**
 * Header segment -> kid. Every grant token signed with one key has the same header, so the decode
 * is done once per key, not per call. Only headers of tokens whose signature verified are kept, so
 * junk headers cannot fill it; bounded: headers past the bound are decoded every time.
 */
const kidByHeader = new Map<string, string>();
const KID_CACHE_SIZE = 64;

/** Keeps the header of a token whose signature verified, for the next call's `kidOf`. */
function rememberHeader(token: string, kid: string): void {
  if (kidByHeader.size < KID_CACHE_SIZE) kidByHeader.set(token.slice(0, token.indexOf('.')), kid);
}

/** The kid of a compact JWS header, read without trusting it (only to pick the key). */
function kidOf(token: string): string | undefined {
  const dot = token.indexOf('.');
  if (dot <= 0 || dot > 1024) return undefined;
  const segment = token.slice(0, dot);
  const known = kidByHeader.get(segment);
  if (known !== undefined) return known;
  try {
    const header = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as unknown;
    const kid = typeof header === 'object' && header !== null ? (header as { kid?: unknown }).kid : undefined;
    if (typeof kid !== 'string' || kid.length > 200) return undefined;
    return kid;
  } catch {
    return undefined;
  }
}

function reasonOf(error: unknown): string {
  if (!(error instanceof TokenError)) return 'it does not verify';
  switch (error.code) {
    case TokenError.codes.expired:
      return 'it has expired';
    case TokenError.codes.inactive:
      return 'it is not valid yet (nbf)';
    case TokenError.codes.invalidType:
      return 'its typ is not at+jwt';
    case TokenError.codes.invalidAlgorithm:
      return 'its algorithm is not EdDSA';
    default:
      return 'its signature or claims do not verify';
  }
}
