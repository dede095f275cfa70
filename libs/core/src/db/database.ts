import { Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
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

  /**
   * One transaction on a pool connection, for hot-path statements that must run together (the
   * budgeted submit: lock, count, insert). A connection whose ROLLBACK failed is dropped, not reused.
   */
  async poolTransaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollback: Error) => (broken = rollback));
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async ping(): Promise<void> {
    await this.prisma.$queryRaw`SELECT 1`;
  }
}
