import { Injectable } from '@nestjs/common';
import type { SigningKey } from '@gatehouse/prisma';
import { Tx } from './prisma.service';

export type SigningKeyRow = SigningKey;

/** The broker's own token-signing keys. The private half never leaves the process. */
@Injectable()
export class SigningKeysRepository {
  /** Current first, then retired keys that may still verify live tokens. */
  listUsable(db: Tx, retiredAfter: Date): Promise<SigningKeyRow[]> {
    return db.signingKey.findMany({
      where: { OR: [{ retiredAt: null }, { retiredAt: { gt: retiredAfter } }] },
      orderBy: { createdAt: 'desc' },
    });
  }

  findCurrent(db: Tx): Promise<SigningKeyRow | null> {
    return db.signingKey.findFirst({ where: { retiredAt: null }, orderBy: { createdAt: 'desc' } });
  }

  findByKid(db: Tx, kid: string): Promise<SigningKeyRow | null> {
    return db.signingKey.findUnique({ where: { kid } });
  }

  /** Inserts unless the kid exists (a second process booting at once with the same configured key). */
  async insertIfAbsent(db: Tx, key: { kid: string; alg: string; publicJwk: object; privateJwk: object; source: string }): Promise<void> {
    await db.signingKey.createMany({ data: [key], skipDuplicates: true });
  }

  async retireAllExcept(db: Tx, kid: string, at: Date): Promise<void> {
    await db.signingKey.updateMany({ where: { retiredAt: null, kid: { not: kid } }, data: { retiredAt: at } });
  }

  /** Serializes key generation across processes that boot together. */
  async lockForKeyGeneration(db: Tx): Promise<void> {
    await db.$executeRaw`SELECT pg_advisory_xact_lock(7411002)`;
  }
}
