import { createPublicKey, JsonWebKey, KeyObject } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { compactVerify, decodeProtectedHeader } from 'jose';
import type { PrismaService } from '../db/prisma.service';
import { ed25519PrivateKey, ed25519PublicJwk } from './audit-signing-key';
import { walkChain } from './audit-verifier';
import { checkpointOfLine, ExportedCheckpoint } from './export-records';

/** A public key that checkpoints may be signed with, by kid. */
export interface CheckpointKey {
  kid: string;
  key: KeyObject;
}

/** The checkpoints found in an exported file, and the lines that were not JSON (a torn write). */
export interface ExportedCheckpoints {
  lines: number;
  unreadable: number;
  checkpoints: ExportedCheckpoint[];
}

/** What `npm run audit:verify` established. Seqs are strings. */
export interface CheckpointProof {
  ok: boolean;
  /** One sentence: what is proven, or the first thing that is wrong. */
  verdict: string;
  checkpoints: { total: number; verified: number; otherKeys: number; invalidSignatures: string[] };
  chain: { checked: number; head: string | null; brokenAt?: string; reason?: string };
  matched: number;
  /** Up to which seq the database is proven the same as when the checkpoints were signed. */
  provenUpTo: string | null;
  problems: { seq: string; reason: string }[];
}

/** Reads the checkpoint records of an exported JSON-lines file (json or OCSF format, HEC-wrapped or not). */
export async function readExportedCheckpoints(path: string): Promise<ExportedCheckpoints> {
  const found: ExportedCheckpoints = { lines: 0, unreadable: 0, checkpoints: [] };
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    found.lines += 1;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      found.unreadable += 1;
      continue;
    }
    const checkpoint = checkpointOfLine(value);
    if (checkpoint) found.checkpoints.push(checkpoint);
  }
  return found;
}

/**
 * Public keys from a file's text: a JWKS (`/.well-known/gatehouse-audit-key` saved), one JWK, or a
 * PEM public key (a private key gives its public half). Only Ed25519 keys are kept.
 */
export function checkpointKeysFrom(text: string): CheckpointKey[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    const parsed = JSON.parse(trimmed) as { keys?: JsonWebKey[] } & JsonWebKey;
    const jwks = Array.isArray(parsed.keys) ? parsed.keys : [parsed];
    return jwks.map((jwk) => keyOf(createPublicKey({ key: jwk, format: 'jwk' })));
  }
  const key = /PRIVATE KEY/.test(trimmed) ? createPublicKey(ed25519PrivateKey(trimmed)) : createPublicKey(trimmed);
  return [keyOf(key)];
}

/** The public half of GATEHOUSE_AUDIT_SIGNING_KEY. */
export function checkpointKeyOfPrivate(text: string): CheckpointKey {
  return keyOf(createPublicKey(ed25519PrivateKey(text)));
}

function keyOf(key: KeyObject): CheckpointKey {
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`an ${key.asymmetricKeyType ?? 'unknown'} key: checkpoints are signed with Ed25519`);
  return { kid: ed25519PublicJwk(key).kid, key };
}

/**
 * Proves the database's chain against checkpoints kept elsewhere: each checkpoint signed by one of
 * `keys` must verify and say what its record says; the chain is recomputed from seq 1 in one
 * snapshot; and at every checkpoint's seq the database must hold the hash the checkpoint signed.
 * A checkpoint signed by another key (the broker's, kept in the database) is compared too, but
 * proves nothing by itself: whoever writes the database could have signed it.
 */
export async function proveAgainstCheckpoints(
  prisma: PrismaService,
  exported: ExportedCheckpoint[],
  keys: CheckpointKey[],
): Promise<CheckpointProof> {
  const problems: CheckpointProof['problems'] = [];
  const invalidSignatures: string[] = [];
  const bySeq = new Map<string, ExportedCheckpoint & { verified: boolean }>();
  let otherKeys = 0;
  for (const checkpoint of exported) {
    const seen = bySeq.get(checkpoint.seq);
    if (seen) {
      // A re-delivery repeats the very same checkpoint; two different ones for a seq cannot both be true.
      if (seen.hash !== checkpoint.hash)
        problems.push({ seq: checkpoint.seq, reason: `two different checkpoints of seq ${checkpoint.seq} in the file` });
      continue;
    }
    const verified = await verifySignature(checkpoint, keys);
    if (verified === 'invalid') invalidSignatures.push(checkpoint.seq);
    if (verified === 'other-key') otherKeys += 1;
    bySeq.set(checkpoint.seq, { ...checkpoint, verified: verified === 'verified' });
  }
  for (const seq of invalidSignatures) {
    problems.push({ seq, reason: `checkpoint ${seq} does not verify with the key it names, or says something else than its record` });
  }

  const wanted = new Set(bySeq.keys());
  const hashAt = new Map<string, string>();
  const chain = await prisma.$transaction(
    (tx) =>
      walkChain(tx, 1000, (seq, hash) => {
        const key = seq.toString();
        if (wanted.has(key)) hashAt.set(key, hash);
      }),
    { isolationLevel: 'RepeatableRead', timeout: 3_600_000, maxWait: 10_000 },
  );
  if (chain.broken) problems.push({ seq: chain.broken.seq.toString(), reason: `the database chain breaks: ${chain.broken.reason}` });

  let matched = 0;
  let provenUpTo: bigint | null = null;
  const ordered = [...bySeq.values()].sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : 1));
  for (const checkpoint of ordered) {
    if (invalidSignatures.includes(checkpoint.seq)) continue;
    const seq = BigInt(checkpoint.seq);
    const hash = hashAt.get(checkpoint.seq);
    if (hash === undefined) {
      if (chain.broken && chain.broken.seq <= seq) continue; // already reported: the chain breaks before it
      problems.push({
        seq: checkpoint.seq,
        reason: `checkpoint ${seq} is beyond the database's last sealed event (${chain.head?.seq ?? 'none'}): the trail was truncated`,
      });
    } else if (hash !== checkpoint.hash) {
      problems.push({
        seq: checkpoint.seq,
        reason: `event ${seq} in the database is not the one the checkpoint of ${checkpoint.createdAt} signed (hash ${hash.slice(0, 12)}…, signed ${checkpoint.hash.slice(0, 12)}…): the trail was rewritten at or before seq ${seq}`,
      });
    } else {
      matched += 1;
      if (checkpoint.verified) provenUpTo = seq;
    }
  }
  const verified = ordered.filter((c) => c.verified).length;
  problems.sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? -1 : BigInt(a.seq) > BigInt(b.seq) ? 1 : 0));
  const ok = problems.length === 0 && verified > 0;
  const verdict = ok
    ? `the database chain up to seq ${provenUpTo} is the one ${verified} checkpoint(s) signed with the audit key; events after it are covered by the next checkpoint`
    : problems.length > 0
      ? `seq ${problems[0].seq}: ${problems[0].reason}`
      : `no checkpoint in the file is signed with the given key (${keys.map((k) => k.kid).join(', ')}): nothing is proven`;
  return {
    ok,
    verdict,
    checkpoints: { total: bySeq.size, verified, otherKeys, invalidSignatures },
    chain: {
      checked: chain.checked,
      head: chain.head?.seq ?? null,
      ...(chain.broken ? { brokenAt: chain.broken.seq.toString(), reason: chain.broken.reason } : {}),
    },
    matched,
    provenUpTo: provenUpTo?.toString() ?? null,
    problems,
  };
}

async function verifySignature(checkpoint: ExportedCheckpoint, keys: CheckpointKey[]): Promise<'verified' | 'other-key' | 'invalid'> {
  let kid: unknown;
  try {
    kid = decodeProtectedHeader(checkpoint.signature).kid;
  } catch {
    return 'invalid';
  }
  const key = keys.find((k) => k.kid === kid);
  if (!key) return 'other-key';
  try {
    const { payload } = await compactVerify(checkpoint.signature, key.key, { algorithms: ['EdDSA'] });
    const signed = JSON.parse(new TextDecoder().decode(payload)) as { seq?: unknown; hash?: unknown };
    return signed.seq === checkpoint.seq && signed.hash === checkpoint.hash ? 'verified' : 'invalid';
  } catch {
    return 'invalid';
  }
}
