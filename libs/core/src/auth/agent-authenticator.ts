import { createPublicKey } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { createDecoder, createVerifier, TokenError } from 'fast-jwt';
import type { JWK } from 'jose';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { Config } from '../config/config';
import { Database } from '../db/database';
import { AgentRow, AgentsRepository } from '../db/agents.repository';
import { AgentChanges } from '../events/agent-changes';
import { RedisService } from '../redis/redis.service';

/** Longest lifetime an agent assertion may claim (exp - iat). */
export const MAX_ASSERTION_LIFETIME_S = 300;
/** Clock skew tolerated between agents and the broker. */
export const CLOCK_SKEW_S = 30;
/** An agent kept in memory is read again after this long, even if no change was announced. */
const KNOWN_FOR_MS = 60_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Algorithm of an agent's registered key: Ed25519 signs EdDSA, P-256 signs ES256. */
export function algorithmFor(jwk: JWK): 'EdDSA' | 'ES256' {
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  throw new AccessError(AccessErrorCode.INVALID_KEY, 'publicJwk must be an Ed25519 (OKP) or P-256 (EC) public key');
}

const invalid = (why: string) =>
  new AccessError(
    AccessErrorCode.INVALID_ASSERTION,
    `The agent assertion was refused: ${why}. Sign a fresh JWT (iss = sub = agent id, aud = the broker issuer, exp <= 5 min, new jti) with the agent's registered key.`,
  );

/** An agent as authentication knows it: its row, and a verifier pinned to its key, algorithm and id. */
interface KnownAgent {
  row: AgentRow;
  verify: (token: string) => Record<string, unknown>;
  loadedAt: number;
}

/** Reads the claims without trusting them: only to find whose key verifies the assertion. */
const decodeUnverified = createDecoder();

/**
 * Authenticates an agent from its signed assertion: no static secrets. Checks the signature with
 * the registered key (the algorithm pinned to its type), `aud`, `iss`, `sub`, lifetime, skew, and
 * refuses a `jti` seen before (kept in Redis until the assertion could no longer verify anyway).
 *
 * Agents are kept in memory, each with a verifier built once for its key (node:crypto through
 * fast-jwt; WebCrypto costs two to three times as much per signature here). A change to an agent
 * (suspension, resumption, a new key) drops it at once here and, through AgentChanges, everywhere;
 * and every write an agent's call makes re-checks in Postgres that the agent is still active with
 * that key (see the submit statement), so a stale entry can never create access.
 */
@Injectable()
export class AgentAuthenticator {
  private readonly known = new Map<string, KnownAgent>();

  constructor(
    private readonly config: Config,
    private readonly db: Database,
    private readonly agents: AgentsRepository,
    private readonly redis: RedisService,
    changes: AgentChanges,
  ) {
    changes.listen(
      (agentId) => this.known.delete(agentId),
      () => this.known.clear(),
    );
  }

  async authenticate(assertion: string | undefined, now: Date): Promise<AgentRow> {
    if (!assertion) {
      throw new AccessError(AccessErrorCode.AUTHENTICATION_REQUIRED, 'Send Authorization: Bearer <assertion>, a JWT signed with the agent key.');
    }
    let agentId: unknown;
    try {
      agentId = (decodeUnverified(assertion) as { iss?: unknown }).iss;
    } catch {
      throw invalid('it is not a JWT');
    }
    if (typeof agentId !== 'string' || !UUID.test(agentId)) throw invalid('iss must be the agent id');
    const agent = await this.agent(agentId, now);
    if (!agent) throw invalid('unknown agent or wrong key');

    let payload: Record<string, unknown>;
    try {
      payload = agent.verify(assertion);
    } catch (error) {
      throw invalid(reasonOf(error));
    }
    const { iat, exp, jti, aud } = payload as { iat: number; exp: number; jti: unknown; aud: unknown };
    const audiences = Array.isArray(aud) ? aud : [aud];
    if (!audiences.includes(this.config.issuer)) throw invalid(`claim aud is wrong (expected ${this.config.issuer})`);
    const nowS = Math.floor(now.getTime() / 1000);
    if (exp - iat > MAX_ASSERTION_LIFETIME_S) throw invalid('exp is more than 5 minutes after iat');
    if (iat > nowS + CLOCK_SKEW_S) throw invalid('iat is in the future');
    if (typeof jti !== 'string' || jti.length < 8 || jti.length > 128) throw invalid('jti must be a unique string of 8-128 characters');

    if (agent.row.status !== 'active') {
      throw new AccessError(AccessErrorCode.AGENT_SUSPENDED, 'This agent is suspended; an admin must resume it.');
    }
    const ttl = Math.max(1, exp + CLOCK_SKEW_S - nowS + 1);
    const { fresh, since } = await this.redis.rememberAssertion(this.redis.key('jti', agentId, jti), ttl, nowS);
    if (!fresh) {
      throw new AccessError(AccessErrorCode.ASSERTION_REPLAYED, 'This assertion was already used; sign a new one with a fresh jti for every call.');
    }
    if (iat < since) {
      // Redis lost the jtis it had seen: one issued before then could be a replay.
      throw new AccessError(
        AccessErrorCode.ASSERTION_REPLAYED,
        "This assertion was issued before the broker's replay cache started (Redis was restarted); sign a new one.",
      );
    }
    return agent.row;
  }

  private async agent(agentId: string, now: Date): Promise<KnownAgent | null> {
    const kept = this.known.get(agentId);
    if (kept && now.getTime() - kept.loadedAt < KNOWN_FOR_MS) return kept;
    const row = await this.agents.findForAuthentication(this.db.pool, agentId);
    if (!row) {
      this.known.delete(agentId);
      return null;
    }
    const jwk = row.publicJwk as JWK;
    const alg = algorithmFor(jwk);
    const key = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
    const verify = createVerifier({
      key,
      algorithms: [alg],
      allowedIss: row.id,
      allowedSub: row.id,
      requiredClaims: ['iat', 'exp', 'jti'],
      clockTolerance: CLOCK_SKEW_S * 1000,
      cache: false,
    }) as (token: string) => Record<string, unknown>;
    const known = { row, verify, loadedAt: now.getTime() };
    if (this.known.size > 10_000) this.known.clear();
    this.known.set(agentId, known);
    return known;
  }
}

/** Why fast-jwt refused an assertion, in the words the API uses. */
function reasonOf(error: unknown): string {
  if (!(error instanceof TokenError)) return 'unknown agent or wrong key';
  switch (error.code) {
    case TokenError.codes.expired:
      return 'it has expired';
    case TokenError.codes.inactive:
      return 'it is not valid yet (nbf)';
    case TokenError.codes.invalidClaimValue:
    case TokenError.codes.missingRequiredClaim:
    case TokenError.codes.invalidClaimType:
      return `a claim is wrong (${error.message})`;
    case TokenError.codes.invalidAlgorithm:
      return 'the signature algorithm is not the one of the agent key';
    default:
      return 'unknown agent or wrong key';
  }
}
