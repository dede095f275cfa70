/**
 * Signs and checks audit checkpoints. The implementation owns the key (and its rotation); a
 * checkpoint stores the kid and the compact JWS so a verifier can be given only public keys.
 */
export interface CheckpointSigner {
  /** The kid of a key held outside the database (GATEHOUSE_AUDIT_SIGNING_KEY), when one signs. */
  readonly externalKeyId?: string;
  /** A compact JWS over the JSON of `payload`, and the id of the key that made it. */
  sign(payload: Record<string, unknown>): Promise<{ kid: string; jws: string }>;
  /** The payload of a compact JWS made by `sign`; throws when the signature does not verify. */
  verify(jws: string): Promise<Record<string, unknown>>;
}

/** Nest injection token for the CheckpointSigner. */
export const CHECKPOINT_SIGNER = Symbol('CHECKPOINT_SIGNER');
