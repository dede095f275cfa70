import type { AuditCheckpoint, AuditEvent } from '@gatehouse/prisma';

/** An audit event the sealer has chained: its seq, prevHash and hash are set. */
export type SealedEvent = AuditEvent & { seq: bigint; prevHash: string; hash: string };

/** One record of the export stream, as any sink needs it. */
export interface ExportRecord {
  kind: 'event' | 'checkpoint';
  seq: bigint;
  /** When it happened: the event's createdAt, or when the checkpoint was signed. */
  time: Date;
  /** `event-<seq>` or `checkpoint-<seq>`: a receiver that stores by id keeps one copy of a re-delivery. */
  uid: string;
  body: Record<string, unknown>;
}

/**
 * Gatehouse's own record of an event. Without `record`, `prevHash` and `hash`, it is exactly the
 * object the chain hashes, so a receiver checks it with
 * `hash === sha256(prevHash + JCS(record minus record, prevHash and hash))` (RFC 8785).
 */
export function jsonEventRecord(event: SealedEvent): Record<string, unknown> {
  return {
    record: 'event',
    seq: event.seq.toString(),
    prevHash: event.prevHash,
    hash: event.hash,
    id: event.id.toString(),
    type: event.type,
    createdAt: event.createdAt.toISOString(),
    actor: event.actor,
    sourceIp: event.sourceIp ?? null,
    agentId: event.agentId ?? null,
    requestId: event.requestId ?? null,
    grantId: event.grantId ?? null,
    data: event.data ?? null,
  };
}

/** A signed checkpoint: `signature` is a compact JWS whose payload is `{seq, hash, at}`. */
export function jsonCheckpointRecord(checkpoint: AuditCheckpoint): Record<string, unknown> {
  return {
    record: 'checkpoint',
    seq: checkpoint.seq.toString(),
    hash: checkpoint.hash,
    kid: checkpoint.kid,
    signature: checkpoint.signature,
    createdAt: checkpoint.createdAt.toISOString(),
  };
}

/** The checkpoint fields a verifier reads back from an exported line, whatever the format. */
export interface ExportedCheckpoint {
  seq: string;
  hash: string;
  kid: string;
  signature: string;
  createdAt: string;
}

/**
 * The checkpoint in one exported line: a JSON-format record, an OCSF event carrying it under
 * `unmapped.gatehouse`, or either wrapped as Splunk HEC's `{"event": ...}`. Anything else is null.
 */
export function checkpointOfLine(value: unknown): ExportedCheckpoint | null {
  const object = (v: unknown): Record<string, unknown> | undefined =>
    typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  let record = object(value);
  if (record && object(record.event) && !('record' in record)) record = object(record.event);
  const gatehouse = object(object(record?.unmapped)?.gatehouse);
  const candidate = gatehouse ?? record;
  if (candidate?.record !== 'checkpoint') return null;
  const { seq, hash, kid, signature, createdAt } = candidate;
  const strings = [seq, hash, kid, signature, createdAt];
  if (!strings.every((s) => typeof s === 'string')) return null;
  // A seq as the export writes it (a positive integer, no leading zero) and a sha256 hash: anything else is unreadable.
  if (!/^[1-9]\d{0,18}$/.test(seq as string) || !/^[0-9a-f]{64}$/.test(hash as string)) return null;
  return { seq, hash, kid, signature, createdAt } as ExportedCheckpoint;
}
