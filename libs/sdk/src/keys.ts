import { exportJWK, generateKeyPair, type JWK } from 'jose';

/** An agent's key pair as JWKs: keep `privateJwk` secret, register `publicJwk` with the broker. */
export interface AgentKeyPair {
  privateJwk: JWK;
  publicJwk: JWK;
}

/** Generates an Ed25519 key pair for a new agent. */
export async function generateAgentKeyPair(): Promise<AgentKeyPair> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const [privateJwk, publicJwk] = await Promise.all([exportJWK(privateKey), exportJWK(publicKey)]);
  return { privateJwk, publicJwk };
}

/** The assertion algorithm a JWK signs with: EdDSA for Ed25519, ES256 for P-256. */
export function algorithmOf(jwk: JWK): 'EdDSA' | 'ES256' {
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  throw new Error(`Unsupported agent key: kty ${jwk.kty}, crv ${jwk.crv} (use Ed25519 or P-256).`);
}
