import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { Pool } from 'pg';
import { parse } from 'pg-connection-string';
import { PrismaClient } from '@gatehouse/prisma';
import { Config } from '../config/config';

/**
 * Longest wait for a new Postgres connection. node-postgres waits forever by default, so a
 * Postgres that stopped answering (not refusing) held every request until the client gave up.
 */
export const CONNECT_TIMEOUT_MS = 5000;

/**
 * The one Prisma client of a process, and the one pool of Postgres connections it runs on. Only
 * repositories (and the audit chain) use them; the hot path's statements go to `pool` directly, as
 * named prepared statements, because Prisma's client costs several times the database's own time
 * there even for raw SQL.
 */
@Injectable()
export class PrismaService extends PrismaClient implements OnModuleDestroy {
  private readonly lostListeners = new Set<(error: Error) => void>();
  readonly pool: Pool;

  constructor(config: Config) {
    const logger = new Logger(PrismaService.name);
    const lost = (error: Error) => {
      logger.warn(`a Postgres connection failed: ${error.message}`);
      for (const listener of this.lostListeners) listener(error);
    };
    const pool = new Pool({
      ...(parse(config.databaseUrl) as object),
      max: config.databasePoolSize,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      // Notice a peer that vanished without closing the connection (a failover, a cut network).
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    // An idle connection the server ends (a restart, a failover) must be reported, not crash the process.
    pool.on('error', lost);
    super({ adapter: new PrismaPg(pool, { onConnectionError: lost }) });
    this.pool = pool;
  }

  /** Calls `listener` when an open connection fails (the server closed it, the network dropped it). */
  onConnectionLost(listener: (error: Error) => void): void {
    this.lostListeners.add(listener);
  }

  async onModuleDestroy(): Promise<void> {
    await this.$disconnect();
    await this.pool.end().catch(() => undefined);
  }
}

/** A Prisma interactive-transaction client. */
export type Tx = Parameters<Parameters<PrismaService['$transaction']>[0]>[0];
