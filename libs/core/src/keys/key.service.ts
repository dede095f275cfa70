import { createPrivateKey, createPublicKey, type webcrypto } from 'node:crypto';
import { createSigner, createVerifier } from 'fast-jwt';
import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import {
  calculateJwkThumbprint,
  CompactSign,
  compactVerify,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  importPKCS8,
  JWK,
  JWTPayload,
  jwtVerify,
  JWTVerifyResult,
} from 'jose';
import { Config, ConfigError } from '../config/config';
import { Database } from '../db/database';
import type { Tx } from '../db/prisma.service';
import { SigningKeysRepository } from '../db/signing-keys.repository';
import type { CheckpointSigner } from '../audit/checkpoint-signer';

type CryptoKey = webcrypto.CryptoKey;
const ALG = 'EdDSA';
const REFRESH_MS = 60_000;

interface LoadedKey {
  kid: string;
  publicJwk: JWK;
  privateKey: CryptoKey;
  /** PKCS#8 of the same key, for node:crypto signing (fast-jwt) on the hot path. */
  privatePem: string;
  /** One signer per token type, built on first use. */
  signers: Map<string, (claims: JWTPayload) => string>;
  /** One verifier per token type, built on first use. */
  verifiers: Map<string, TokenVerifier>;
}

/** A token checked by one of our keys: its header and claims (signature, alg, typ and lifetime hold). */
export interface VerifiedToken {
  header: { kid?: string; typ?: string; alg?: string };
  payload: Record<string, unknown>;
}
type TokenVerifier = (token: string) => VerifiedToken;

/** Reloading the keys for a kid we do not hold happens at most this often (a forged kid costs no query). */
const UNKNOWN_KID_RELOAD_MS = 5_000;

/**
 * The broker's EdDSA signing keys: loaded once at start and kept in memory, so the hot path signs
 * without touching the database. A retired key stays published until every token it signed expired.
 */
@Injectable()
export class KeyService implements CheckpointSigner, OnModuleDestroy {
  private readonly logger = new Logger(KeyService.name);
  private keys = new Map<string, LoadedKey>();
  private currentKid?: string;
  private jwkSet?: ReturnType<typeof createLocalJWKSet>;
  private timer?: NodeJS.Timeout;
  private lastUnknownKidReload = 0;

  constructor(
    private readonly config: Config,
    private readonly db: Database,
    private readonly repo: SigningKeysRepository,
  ) {}

  /** Makes sure a current key exists (configured, stored, or generated once) and loads the usable ones. */
  async init(): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.repo.lockForKeyGeneration(tx);
      if (this.config.signingKey) {
        const key = await importConfiguredKey(this.config.signingKey);
        await this.repo.insertIfAbsent(tx, { ...key, alg: ALG, source: 'configured' });
        await this.repo.retireAllExcept(tx, key.kid, new Date());
      } else if (!(await this.repo.findCurrent(tx))) {
        await this.repo.insertIfAbsent(tx, { ...(await generateKey()), alg: ALG, source: 'generated' });
        this.logger.log('Generated the broker signing key and stored it in the database');
      }
    });
    await this.reload();
    this.timer ??= setInterval(() => void this.reload().catch((e) => this.logger.warn(`key refresh failed: ${e}`)), REFRESH_MS);
    this.timer.unref();
  }

  /**
   * Makes a new current key inside the caller's transaction (which audits it) and retires the
   * others; call `reload()` after commit. The old key keeps verifying until its tokens expired.
   */
  async rotateIn(tx: Tx): Promise<{ from: string | null; to: string }> {
    const key = await generateKey();
    await this.repo.lockForKeyGeneration(tx);
    const from = (await this.repo.findCurrent(tx))?.kid ?? null;
    await this.repo.insertIfAbsent(tx, { ...key, alg: ALG, source: 'generated' });
    await this.repo.retireAllExcept(tx, key.kid, new Date());
    return { from, to: key.kid };
  }

  get currentKeyId(): string {
    if (!this.currentKid) throw new Error('KeyService.init() has not run');
    return this.currentKid;
  }

  /**
   * Signs a JWT with the key `kid`: Ed25519 is deterministic, so the same claims give the same token.
   * node:crypto through fast-jwt, with a signer built once per key and type: WebCrypto (jose) costs
   * two to three times as much per signature, and this runs on every grant.
   */
  async signJwt(claims: JWTPayload, kid: string, typ: string): Promise<string> {
    const key = this.keys.get(kid) ?? (await this.reload(), this.keys.get(kid));
    if (!key) throw new Error(`signing key ${kid} is no longer available`);
    let signer = key.signers.get(typ);
    if (!signer) {
      signer = createSigner({ key: key.privatePem, algorithm: ALG, kid, header: { alg: ALG, typ } }) as (claims: JWTPayload) => string;
      key.signers.set(typ, signer);
    }
    return signer(claims);
  }

  /** Verifies a token signed by one of our keys (signature, alg, typ, iss); the caller checks the rest. */
  verifyJwt(token: string, typ: string): Promise<JWTVerifyResult> {
    return jwtVerify(token, this.jwks(), { algorithms: [ALG], typ, issuer: this.config.issuer });
  }

  /**
   * A verifier of tokens of type `typ` signed by key `kid`, in memory (node:crypto through fast-jwt,
   * which also remembers tokens it verified until they expire): signature, alg, typ, exp and nbf.
   * Undefined for a kid this process does not hold; see reloadForUnknownKid.
   */
  verifierFor(kid: string, typ: string): TokenVerifier | undefined {
    const key = this.keys.get(kid);
    if (!key) return undefined;
    let verifier = key.verifiers.get(typ);
    if (!verifier) {
      const pem = createPublicKey({ key: key.publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
      verifier = createVerifier({
        key: pem,
        algorithms: [ALG],
        checkTyp: typ,
        complete: true,
        cache: 10_000,
        requiredClaims: ['exp', 'jti'],
      }) as TokenVerifier;
      key.verifiers.set(typ, verifier);
    }
    return verifier;
  }

  /**
   * A token names a kid we do not hold: a key rotated in by another replica a moment ago, or a forgery.
   * Reloads the keys, at most once per few seconds; returns whether it did.
   */
  async reloadForUnknownKid(): Promise<boolean> {
    if (Date.now() - this.lastUnknownKidReload < UNKNOWN_KID_RELOAD_MS) return false;
    this.lastUnknownKidReload = Date.now();
    await this.reload();
    return true;
  }

  publicJwks(): { keys: JWK[] } {
    return { keys: [...this.keys.values()].map((k) => k.publicJwk) };
  }

  async sign(payload: Record<string, unknown>): Promise<{ kid: string; jws: string }> {
    const kid = this.currentKeyId;
    const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: ALG, kid, typ: 'gatehouse-checkpoint+jws' })
      .sign(this.keys.get(kid)!.privateKey);
    return { kid, jws };
  }

  async verify(jws: string): Promise<Record<string, unknown>> {
    const { payload } = await compactVerify(jws, this.jwks(), { algorithms: [ALG] });
    return JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private jwks() {
    this.jwkSet ??= createLocalJWKSet(this.publicJwks());
    return this.jwkSet;
  }

  /** Loads the usable keys from the database (at start, every minute, and after a rotation). */
  async reload(): Promise<void> {
    const retiredAfter = new Date(Date.now() - this.config.maxRequestDurationSeconds * 1000);
    const rows = await this.repo.listUsable(this.db.client, retiredAfter);
    const next = new Map<string, LoadedKey>();
    for (const row of rows) {
      const cached = this.keys.get(row.kid);
      next.set(
        row.kid,
        cached ?? {
          kid: row.kid,
          publicJwk: row.publicJwk as JWK,
          privateKey: (await importJWK(row.privateJwk as JWK, ALG)) as CryptoKey,
          privatePem: createPrivateKey({ key: row.privateJwk as never, format: 'jwk' }).export({ type: 'pkcs8', format: 'pem' }) as string,
          signers: new Map(),
          verifiers: new Map(),
        },
      );
    }
    this.keys = next;
    this.currentKid = rows.find((r) => r.retiredAt === null)?.kid;
    this.jwkSet = undefined;
  }
}

async function describe(privateKey: CryptoKey, publicKey: CryptoKey) {
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  return { kid, publicJwk: { ...publicJwk, kid, alg: ALG, use: 'sig' }, privateJwk: { ...(await exportJWK(privateKey)), kid } };
}

async function generateKey() {
  const { privateKey, publicKey } = await generateKeyPair(ALG, { crv: 'Ed25519', extractable: true });
  return describe(privateKey, publicKey);
}

/** GATEHOUSE_SIGNING_KEY: an Ed25519 private key as PKCS#8 PEM or as a JWK (JSON); a ConfigError otherwise. */
export async function importConfiguredKey(value: string) {
  try {
    return await importKeyText(value.trim());
  } catch (error) {
    throw new ConfigError(
      `Invalid configuration:\n  GATEHOUSE_SIGNING_KEY: not an Ed25519 private key as PKCS#8 PEM or JWK (${(error as Error).message})`,
    );
  }
}

async function importKeyText(text: string) {
  const privateKey = text.startsWith('{')
    ? ((await importJWK(JSON.parse(text) as JWK, ALG, { extractable: true })) as CryptoKey)
    : await importPKCS8(text.replace(/\\n/g, '\n'), ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  if (jwk.crv !== 'Ed25519' || !jwk.d) throw new Error('GATEHOUSE_SIGNING_KEY must be an Ed25519 private key (PEM or JWK)');
  const { d: _d, ...publicOnly } = jwk;
  const publicKey = (await importJWK(publicOnly, ALG, { extractable: true })) as CryptoKey;
  return describe(privateKey, publicKey);
}
