import { Injectable } from '@nestjs/common';
import type { Pool } from 'pg';
import { PrismaService, Tx } from './prisma.service';

/** Runs use-case work in one transaction; repositories take the transaction as their first argument. */
@Injectable()
export class Database {
  constructor(private readonly prisma: PrismaService) {}

  /** The pool itself, for reads that need no transaction. */
  get client(): Tx {
    return this.prisma as unknown as Tx;
  }

  /** The same connections without Prisma, for the hot path's prepared statements (repositories only). */
  get pool(): Pool {
    return this.prisma.pool;
  }

  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.prisma.$transaction(work, { maxWait: 5000, timeout: 10000 });
  }

  async ping(): Promise<void> {
    await this.prisma.$queryRaw`SELECT 1`;
  }
}
