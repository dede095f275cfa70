import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { parse } from 'pg-connection-string';
import { PrismaClient } from '@gatehouse/prisma';
import { Config } from '../config/config';

/** The one Prisma client of a process; only repositories (and the audit chain) use it. */
@Injectable()
export class PrismaService extends PrismaClient implements OnModuleDestroy {
  constructor(config: Config) {
    super({ adapter: new PrismaPg({ ...(parse(config.databaseUrl) as object), max: config.databasePoolSize }) });
  }

  async onModuleDestroy(): Promise<void> {
    await this.$disconnect();
  }
}

/** A Prisma interactive-transaction client. */
export type Tx = Parameters<Parameters<PrismaService['$transaction']>[0]>[0];
