import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { EndedGrants, UsageRecorder } from '@gatehouse/core';

/** The API process decides gateway calls: it keeps the ended grants in memory and writes what it saw. */
@Injectable()
export class EnforcementLifecycle implements OnApplicationBootstrap {
  constructor(
    private readonly ended: EndedGrants,
    private readonly usage: UsageRecorder,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.ended.start();
    this.usage.start();
  }
}
