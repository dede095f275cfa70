import { Inject, Injectable } from '@nestjs/common';
import { PrismaService, Tx } from '../db/prisma.service';
import { GENESIS_HASH, hashEvent } from './audit-hash';
import { CHECKPOINT_SIGNER, CheckpointSigner } from './checkpoint-signer';

/** The advisory lock that makes sealing single-flight across processes ("gh-audit" as a bigint). */
export const AUDIT_SEALER_LOCK = 0x67682d6175646974n;

/** What one sealing pass did; `head` is the last sealed seq (null while nothing is sealed). */
export interface SealResult {
  sealed: number;
  head: string | null;
}

/** Options of one pass; `now` stamps sealedAt and the checkpoint (tests pass a fixed clock). */
export interface SealOptions {
  batchSize?: number;
  now?: Date;
}

/**
 * Chains committed audit events into the hash chain, after the fact, so that requests only ever
 * append and never wait on a global lock. Run it continuously (a repeating worker job); concurrent
 * runs are harmless because only the holder of AUDIT_SEALER_LOCK does any work.
 */
@Injectable()
export class AuditSealer {
  /** Minimum time between two signed checkpoints. */
  checkpointIntervalMs = 60_000;
  /** Events sealed per transaction when a pass is given no batchSize. */
  batchSize = 500;

  constructor(
    private readonly prisma: PrismaService,
    @Inject(CHECKPOINT_SIGNER) private readonly signer: CheckpointSigner,
  ) {}

  sealOnce(options: SealOptions = {}): Promise<SealResult> {
    const batchSize = options.batchSize ?? this.batchSize;
    return this.prisma.$transaction((tx) => this.seal(tx, batchSize, options.now ?? new Date()), {
      maxWait: 10_000,
      timeout: 60_000,
    });
  }

  /** Seals batch after batch until one comes back empty (or another sealer holds the lock). */
  async sealAll(options: SealOptions = {}): Promise<number> {
    const batch = options.batchSize ?? this.batchSize;
    let total = 0;
    // A short batch means the backlog is drained; returning then lets the job end under steady
    // load, so the reconciler sharing the maintenance queue gets its turn.
    for (;;) {
      const { sealed } = await this.sealOnce(options);
      total += sealed;
      if (sealed < batch) return total;
    }
  }

  private async seal(tx: Tx, batchSize: number, now: Date): Promise<SealResult> {
    const [lock] = await tx.$queryRaw<{ locked: boolean }[]>`
      SELECT pg_try_advisory_xact_lock(${AUDIT_SEALER_LOCK.toString()}::bigint) AS locked`;
    if (!lock.locked) return { sealed: 0, head: null };

    // Every transaction with an xid below the snapshot's xmin has finished, so no event can still
    // appear ahead of the ones read here: ordering by (xid, id) is final for them. Events of
    // transactions still running wait for a later pass.
    const [snapshot] = await tx.$queryRaw<{ xmin: bigint }[]>`
      SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin`;
    const events = await tx.auditEvent.findMany({
      where: { seq: null, xid: { lt: snapshot.xmin } },
      orderBy: [{ xid: 'asc' }, { id: 'asc' }],
      take: batchSize,
    });
    const head = await tx.auditEvent.findFirst({
      where: { seq: { not: null } },
      orderBy: { seq: 'desc' },
      select: { seq: true, hash: true },
    });
    if (events.length === 0) return { sealed: 0, head: head?.seq?.toString() ?? null };

    let seq = head?.seq ?? 0n;
    let prevHash = head?.hash ?? GENESIS_HASH;
    const ids: string[] = [];
    const seqs: string[] = [];
    const prevHashes: string[] = [];
    const hashes: string[] = [];
    for (const event of events) {
      seq += 1n;
      const hash = hashEvent(prevHash, { ...event, seq });
      ids.push(event.id.toString());
      seqs.push(seq.toString());
      prevHashes.push(prevHash);
      hashes.push(hash);
      prevHash = hash;
    }
    const updated = await tx.$executeRaw`
      UPDATE audit_events AS e
         SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash, sealed_at = ${now}
        FROM unnest(${ids}::bigint[], ${seqs}::bigint[], ${prevHashes}::text[], ${hashes}::text[])
             AS v(id, seq, prev_hash, hash)
       WHERE e.id = v.id AND e.seq IS NULL`;
    if (updated !== events.length) {
      // Only possible if something sealed without the lock; rolling back keeps the chain intact.
      throw new Error(`audit sealer: sealed ${updated} of ${events.length} events, rolling back`);
    }
    await this.checkpoint(tx, seq, prevHash, now);
    return { sealed: events.length, head: seq.toString() };
  }

  private async checkpoint(tx: Tx, seq: bigint, hash: string, now: Date): Promise<void> {
    const last = await tx.auditCheckpoint.findFirst({ orderBy: { seq: 'desc' }, select: { createdAt: true } });
    if (last && now.getTime() - last.createdAt.getTime() < this.checkpointIntervalMs) return;
    const { kid, jws } = await this.signer.sign({ seq: seq.toString(), hash, at: now.toISOString() });
    await tx.auditCheckpoint.create({ data: { seq, hash, kid, signature: jws, createdAt: now } });
  }
}
