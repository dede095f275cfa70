import type { webcrypto } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { compactVerify, decodeProtectedHeader, importJWK, JWK } from 'jose';
import { Config } from '../config/config';
import { Database } from '../db/database';
import { SigningKeysRepository } from '../db/signing-keys.repository';
import { KeyService } from '../keys/key.service';
import { AuditSigningKey } from './audit-signing-key';
import { CheckpointSigner } from './checkpoint-signer';

type CryptoKey = webcrypto.CryptoKey;

/**
 * Signs checkpoints with GATEHOUSE_AUDIT_SIGNING_KEY when it is set (kept in memory only), else
 * with the broker key as before. Verifies a checkpoint by the kid in its header: the audit key, or
 * any broker key ever stored, retired ones included, since a checkpoint outlives the tokens a
 * broker key signed.
 */
@Injectable()
export class AuditCheckpointSigner implements CheckpointSigner {
  readonly auditKey?: AuditSigningKey;
  private readonly publicKeys = new Map<string, Promise<CryptoKey>>();

  constructor(
    config: Config,
    private readonly keys: KeyService,
    private readonly db: Database,
    private readonly signingKeys: SigningKeysRepository,
  ) {
    this.auditKey = config.auditSigningKey ? AuditSigningKey.fromText(config.auditSigningKey) : undefined;
  }

  get externalKeyId(): string | undefined {
    return this.auditKey?.kid;
  }

  async sign(payload: Record<string, unknown>): Promise<{ kid: string; jws: string }> {
    if (!this.auditKey) return this.keys.sign(payload);
    return { kid: this.auditKey.kid, jws: this.auditKey.sign(payload) };
  }

  async verify(jws: string): Promise<Record<string, unknown>> {
    const { kid, alg } = decodeProtectedHeader(jws);
    if (alg !== 'EdDSA' || typeof kid !== 'string') throw new Error('not an EdDSA checkpoint signature with a kid');
    const { payload } = await compactVerify(jws, await this.publicKey(kid), { algorithms: ['EdDSA'] });
    return JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
  }

  private publicKey(kid: string): Promise<CryptoKey> {
    let key = this.publicKeys.get(kid);
    if (!key) {
      key = this.load(kid);
      this.publicKeys.set(kid, key);
      // Only a key that loaded stays cached: an unknown kid is looked up again next time.
      key.catch(() => this.publicKeys.delete(kid));
    }
    return key;
  }

  private async load(kid: string): Promise<CryptoKey> {
    if (kid === this.auditKey?.kid) return (await importJWK(this.auditKey.publicJwk as JWK, 'EdDSA')) as CryptoKey;
    const row = await this.signingKeys.findByKid(this.db.client, kid);
    if (!row) throw new Error(`checkpoint signed by an unknown key ${kid}`);
    const { d: _private, ...publicJwk } = row.publicJwk as JWK;
    return (await importJWK(publicJwk, 'EdDSA')) as CryptoKey;
  }
}
