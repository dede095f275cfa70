import { Inject, Injectable } from '@nestjs/common';
import { decodeProtectedHeader } from 'jose';
import { PrismaService, Tx } from '../db/prisma.service';
import { GENESIS_HASH, hashEvent } from './audit-hash';
import { CHECKPOINT_SIGNER, CheckpointSigner } from './checkpoint-signer';

/** The outcome of checking the whole audit trail; bigint seqs are strings so it serializes as JSON. */
export interface AuditVerification {
  valid: boolean;
  /** Sealed events whose hash and link were checked (up to the break, if any). */
  checked: number;
  head: { seq: string; hash: string } | null;
  unsealed: number;
  /** Unsealed events older than the grace period: the sealer is stuck or not running. */
  staleUnsealed: number;
  checkpoints: number;
  /** With GATEHOUSE_AUDIT_SIGNING_KEY set: its kid, and how many checkpoints it signed. */
  auditKey?: { kid: string; checkpoints: number };
  /** The seq where the first problem was found. */
  brokenAt?: string;
  reason?: string;
}

/** Options of one verification; `now` and the grace decide which unsealed events are stale. */
export interface VerifyOptions {
  now?: Date;
  unsealedGraceMs?: number;
}

interface Break {
  seq: bigint;
  reason: string;
}

/** Recomputes the hash chain and checks the signed checkpoints, page by page. */
@Injectable()
export class AuditVerifier {
  /** Rows read per query; the trail is never loaded whole. */
  pageSize = 1000;

  constructor(
    private readonly prisma: PrismaService,
    @Inject(CHECKPOINT_SIGNER) private readonly signer: CheckpointSigner,
  ) {}

  /**
   * Every read runs in one REPEATABLE READ snapshot, so the chain, the checkpoints and the unsealed
   * counts describe the same moment while the sealer keeps working. The transaction writes
   * nothing, takes no xid, and so never holds the sealer back.
   */
  verify(options: VerifyOptions = {}): Promise<AuditVerification> {
    return this.prisma.$transaction((tx) => this.verifyIn(tx, options), { isolationLevel: 'RepeatableRead', timeout: 300_000 });
  }

  private async verifyIn(db: Tx, options: VerifyOptions): Promise<AuditVerification> {
    const now = options.now ?? new Date();
    const graceMs = options.unsealedGraceMs ?? 10_000;
    const chain = await walkChain(db, this.pageSize);
    const checkpoints = await this.checkCheckpoints(db);
    const unsealed = await db.auditEvent.count({ where: { seq: null } });
    const staleUnsealed = await db.auditEvent.count({ where: { seq: null, createdAt: { lt: new Date(now.getTime() - graceMs) } } });

    const breaks = [chain.broken, checkpoints.broken].filter((b): b is Break => b !== undefined);
    const first = breaks.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0))[0];
    const result: AuditVerification = {
      valid: first === undefined && staleUnsealed === 0,
      checked: chain.checked,
      head: chain.head,
      unsealed,
      staleUnsealed,
      checkpoints: checkpoints.checked,
    };
    if (this.signer.externalKeyId) result.auditKey = { kid: this.signer.externalKeyId, checkpoints: checkpoints.external };
    if (first) {
      result.brokenAt = first.seq.toString();
      result.reason = first.reason;
    } else if (staleUnsealed > 0) {
      result.reason = `${staleUnsealed} audit event(s) left unsealed for more than ${graceMs} ms: is the sealer running?`;
    }
    return result;
  }

  /**
   * With a key held outside the database, a checkpoint signed by a database key after one signed by
   * the outside key means checkpoints were re-signed by someone who could write the database. A
   * rewrite that re-signs every checkpoint is beyond any check made from the database alone: that
   * is what `npm run audit:verify -- --checkpoints` (checkpoints exported elsewhere) is for.
   */
  private async checkCheckpoints(db: Tx): Promise<{ checked: number; external: number; broken?: Break }> {
    const externalKid = this.signer.externalKeyId;
    let firstExternal: bigint | undefined;
    let external = 0;
    let checked = 0;
    let after = -1n;
    for (;;) {
      const checkpoints = await db.auditCheckpoint.findMany({
        where: { seq: { gt: after } },
        orderBy: { seq: 'asc' },
        take: this.pageSize,
      });
      const events = await db.auditEvent.findMany({
        where: { seq: { in: checkpoints.map((c) => c.seq) } },
        select: { seq: true, hash: true },
      });
      const hashAt = new Map(events.map((e) => [String(e.seq), e.hash]));
      for (const checkpoint of checkpoints) {
        const fail = (reason: string) => ({ checked, external, broken: { seq: checkpoint.seq, reason } });
        const payload = await this.signer.verify(checkpoint.signature).catch(() => undefined);
        if (!payload) return fail(`checkpoint ${checkpoint.seq} has an invalid signature`);
        if (payload.seq !== checkpoint.seq.toString() || payload.hash !== checkpoint.hash) {
          return fail(`checkpoint ${checkpoint.seq} does not match what was signed`);
        }
        const hash = hashAt.get(checkpoint.seq.toString());
        if (hash === undefined) {
          return fail(`event ${checkpoint.seq} named by a signed checkpoint is missing: the trail was truncated`);
        }
        if (hash !== checkpoint.hash) {
          return fail(`event ${checkpoint.seq} no longer has the hash its checkpoint signed: the trail was rewritten`);
        }
        if (externalKid) {
          const { kid } = decodeProtectedHeader(checkpoint.signature);
          if (kid === externalKid) {
            firstExternal ??= checkpoint.seq;
            external += 1;
          } else if (firstExternal !== undefined) {
            return fail(
              `checkpoint ${checkpoint.seq} is signed by ${String(kid)}, a key kept in the database, after checkpoint ${firstExternal} was signed with GATEHOUSE_AUDIT_SIGNING_KEY: checkpoints were re-signed`,
            );
          }
        }
        checked += 1;
      }
      if (checkpoints.length < this.pageSize) return { checked, external };
      after = checkpoints[checkpoints.length - 1].seq;
    }
  }
}

/** What walking the chain found: events checked in order up to the first break, and the last good one. */
export interface ChainWalk {
  checked: number;
  head: { seq: string; hash: string } | null;
  broken?: { seq: bigint; reason: string };
}

/**
 * Recomputes the chain from seq 1, page by page: every seq present, every event linked to the one
 * before and hashing to its stored hash. `visit` sees each event that checked out, in order.
 */
export async function walkChain(db: Tx, pageSize: number, visit?: (seq: bigint, hash: string) => void): Promise<ChainWalk> {
  let checked = 0;
  let head: ChainWalk['head'] = null;
  let expected = 1n;
  let prevHash = GENESIS_HASH;
  for (;;) {
    const rows = await db.auditEvent.findMany({
      where: { seq: expected === 1n ? { not: null } : { gte: expected } },
      orderBy: { seq: 'asc' },
      take: pageSize,
    });
    for (const row of rows) {
      const seq = row.seq as bigint;
      const fail = (at: bigint, reason: string) => ({ checked, head, broken: { seq: at, reason } });
      if (seq !== expected) {
        return fail(expected, `seq ${expected} is missing: a sealed event was deleted or unsealed`);
      }
      if (row.prevHash !== prevHash) {
        return fail(seq, `event ${seq} does not link to the hash of event ${seq - 1n}: events were reordered or removed`);
      }
      if (row.hash !== hashEvent(prevHash, { ...row, seq })) {
        return fail(seq, `event ${seq} was edited after sealing: its hash does not match its content`);
      }
      checked += 1;
      prevHash = row.hash;
      head = { seq: seq.toString(), hash: row.hash };
      visit?.(seq, row.hash);
      expected += 1n;
    }
    if (rows.length < pageSize) return { checked, head };
  }
}
