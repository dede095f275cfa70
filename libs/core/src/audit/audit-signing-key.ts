import { createHash, createPrivateKey, createPublicKey, JsonWebKey, KeyObject, sign } from 'node:crypto';

/** The public half of an Ed25519 key as a JWK (RFC 8037), with its RFC 7638 thumbprint as kid. */
export interface AuditPublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

/** The protected header's `typ` of a signed checkpoint. */
export const CHECKPOINT_JWS_TYPE = 'gatehouse-checkpoint+jws';

/**
 * Reads an Ed25519 private key written as PKCS#8 PEM (literal `\n` sequences allowed, as
 * environment variables often carry them) or as a JWK. The error says what is wrong with the
 * value without quoting it: Node's JSON errors quote their input, and the input is a private key.
 */
export function ed25519PrivateKey(text: string): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject;
  if (trimmed.startsWith('{')) {
    let jwk: JsonWebKey;
    try {
      jwk = JSON.parse(trimmed) as JsonWebKey;
    } catch {
      throw new Error('not a private key: neither PKCS#8 PEM nor a JWK (the JSON does not parse)');
    }
    try {
      key = createPrivateKey({ key: jwk, format: 'jwk' });
    } catch {
      throw new Error('not a private JWK (a public JWK without "d" is not enough)');
    }
  } else {
    try {
      key = createPrivateKey(trimmed.replace(/\\n/g, '\n'));
    } catch {
      throw new Error('not a private key in PKCS#8 PEM (-----BEGIN PRIVATE KEY-----) or JWK');
    }
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`an ${key.asymmetricKeyType ?? 'unknown'} key: only Ed25519 is supported`);
  return key;
}

/** The public JWK of an Ed25519 key (private or public), kid = its RFC 7638 thumbprint. */
export function ed25519PublicJwk(key: KeyObject): AuditPublicJwk {
  const { x } = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'jwk' }) as { x: string };
  // RFC 7638: the required members only, in lexicographic order, no whitespace.
  const kid = createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest('base64url');
  return { kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' };
}

/**
 * The key that signs audit checkpoints when GATEHOUSE_AUDIT_SIGNING_KEY is set. It lives only in
 * this process's memory: never in the database, so whoever can write the database cannot re-sign
 * a rewritten trail with it.
 */
export class AuditSigningKey {
  readonly publicJwk: AuditPublicJwk;

  private constructor(private readonly privateKey: KeyObject) {
    this.publicJwk = ed25519PublicJwk(privateKey);
  }

  static fromText(text: string): AuditSigningKey {
    return new AuditSigningKey(ed25519PrivateKey(text));
  }

  get kid(): string {
    return this.publicJwk.kid;
  }

  /** A compact JWS (EdDSA) over the JSON of `payload`. */
  sign(payload: Record<string, unknown>): string {
    const header = { alg: 'EdDSA', kid: this.kid, typ: CHECKPOINT_JWS_TYPE };
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
    return `${input}.${sign(null, Buffer.from(input), this.privateKey).toString('base64url')}`;
  }
}

const base64url = (text: string) => Buffer.from(text).toString('base64url');
