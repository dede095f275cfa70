import type { webcrypto } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { decodeJwt, decodeProtectedHeader, errors, importJWK, JWK, jwtVerify } from 'jose';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { Config } from '../config/config';
import { Database } from '../db/database';
import { AgentRow, AgentsRepository } from '../db/agents.repository';
import { RedisService } from '../redis/redis.service';

/** Longest lifetime an agent assertion may claim (exp - iat). */
export const MAX_ASSERTION_LIFETIME_S = 300;
/** Clock skew tolerated between agents and the broker. */
export const CLOCK_SKEW_S = 30;
type CryptoKey = webcrypto.CryptoKey;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Algorithm of an agent's registered key: Ed25519 signs EdDSA, P-256 signs ES256. */
export function algorithmFor(jwk: JWK): 'EdDSA' | 'ES256' {
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  throw new AccessError(AccessErrorCode.INVALID_KEY, 'publicJwk must be an Ed25519 (OKP) or P-256 (EC) public key');
}

const invalid = (why: string) =>
  new AccessError(AccessErrorCode.INVALID_ASSERTION, `The agent assertion was refused: ${why}. Sign a fresh JWT (iss = sub = agent id, aud = the broker issuer, exp <= 5 min, new jti) with the agent's registered key.`);

/**
 * Authenticates an agent from its signed assertion: no static secrets. Checks the signature with
 * the registered key, `aud`, lifetime, skew, and refuses a `jti` seen before (kept in Redis until
 * the assertion could no longer verify anyway).
 */
@Injectable()
export class AgentAuthenticator {
  private readonly keyCache = new Map<string, CryptoKey>();

  constructor(
    private readonly config: Config,
    private readonly db: Database,
    private readonly agents: AgentsRepository,
    private readonly redis: RedisService,
  ) {}

  async authenticate(assertion: string | undefined, now: Date): Promise<AgentRow> {
    if (!assertion) {
      throw new AccessError(AccessErrorCode.AUTHENTICATION_REQUIRED, 'Send Authorization: Bearer <assertion>, a JWT signed with the agent key.');
    }
    let agentId: unknown;
    let alg: unknown;
    try {
      agentId = decodeJwt(assertion).iss;
      alg = decodeProtectedHeader(assertion).alg;
    } catch {
      throw invalid('it is not a JWT');
    }
    if (typeof agentId !== 'string' || !UUID.test(agentId)) throw invalid('iss must be the agent id');
    const agent = await this.agents.findForAuthentication(this.db.client, agentId);
    if (!agent) throw invalid('unknown agent or wrong key');

    const publicJwk = agent.publicJwk as JWK;
    const expectedAlg = algorithmFor(publicJwk);
    if (alg !== expectedAlg) throw invalid(`the agent key signs ${expectedAlg}`);
    const nowS = Math.floor(now.getTime() / 1000);
    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, await this.keyFor(agent, expectedAlg), {
        algorithms: [expectedAlg],
        audience: this.config.issuer,
        issuer: agent.id,
        subject: agent.id,
        clockTolerance: CLOCK_SKEW_S,
        currentDate: now,
        requiredClaims: ['iat', 'exp', 'jti'],
      }));
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw invalid('it has expired');
      if (error instanceof errors.JWTClaimValidationFailed) throw invalid(`claim ${error.claim} is wrong (${error.reason})`);
      throw invalid('unknown agent or wrong key');
    }
    const { iat, exp, jti } = payload as { iat: number; exp: number; jti: unknown };
    if (exp - iat > MAX_ASSERTION_LIFETIME_S) throw invalid('exp is more than 5 minutes after iat');
    if (iat > nowS + CLOCK_SKEW_S) throw invalid('iat is in the future');
    if (typeof jti !== 'string' || jti.length < 8 || jti.length > 128) throw invalid('jti must be a unique string of 8-128 characters');

    if (agent.status !== 'active') {
      throw new AccessError(AccessErrorCode.AGENT_SUSPENDED, 'This agent is suspended; an admin must resume it.');
    }
    const ttl = Math.max(1, exp + CLOCK_SKEW_S - nowS + 1);
    const { fresh, since } = await this.redis.rememberAssertion(this.redis.key('jti', agent.id, jti), ttl, nowS);
    if (!fresh) {
      throw new AccessError(AccessErrorCode.ASSERTION_REPLAYED, 'This assertion was already used; sign a new one with a fresh jti for every call.');
    }
    if (iat < since) {
      // Redis lost the jtis it had seen: one issued before then could be a replay.
      throw new AccessError(AccessErrorCode.ASSERTION_REPLAYED, 'This assertion was issued before the broker\'s replay cache started (Redis was restarted); sign a new one.');
    }
    return agent;
  }

  /** Imported keys are cached per agent key id, so a rotation takes effect at once. */
  private async keyFor(agent: AgentRow, alg: string): Promise<CryptoKey> {
    const cacheKey = `${agent.id}:${agent.keyId}`;
    let key = this.keyCache.get(cacheKey);
    if (!key) {
      key = (await importJWK(agent.publicJwk as JWK, alg)) as CryptoKey;
      if (this.keyCache.size > 10_000) this.keyCache.clear();
      this.keyCache.set(cacheKey, key);
    }
    return key;
  }
}
