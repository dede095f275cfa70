import { createHash } from 'node:crypto';
import { canonicalize } from 'json-canonicalize';

/** The prevHash of the first sealed event (seq 1). */
export const GENESIS_HASH = '0'.repeat(64);

/** The fields of an audit event that its hash covers; anything else on the row is bookkeeping. */
export interface SealedFields {
  seq: bigint | string;
  id: bigint | string;
  type: string;
  actor: string;
  sourceIp: string | null;
  requestId: string | null;
  grantId: string | null;
  agentId: string | null;
  data: unknown;
  createdAt: Date;
}

/**
 * RFC 8785 (JCS) JSON of the sealed fields. Bigints become strings so the hash never depends on
 * number precision, and absent optional fields are hashed as null so "unset" cannot be confused
 * with a dropped key.
 */
export function canonicalEvent(event: SealedFields): string {
  return canonicalize({
    seq: event.seq.toString(),
    id: event.id.toString(),
    type: event.type,
    actor: event.actor,
    sourceIp: event.sourceIp ?? null,
    requestId: event.requestId ?? null,
    grantId: event.grantId ?? null,
    agentId: event.agentId ?? null,
    data: event.data ?? null,
    createdAt: event.createdAt.toISOString(),
  });
}

/** sha256 (hex) of the previous event's hash followed by this event's canonical JSON. */
export function hashEvent(prevHash: string, event: SealedFields): string {
  return createHash('sha256').update(prevHash).update(canonicalEvent(event)).digest('hex');
}
