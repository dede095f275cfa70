import { Injectable, Logger } from '@nestjs/common';

type Hook = () => void | Promise<void>;

/**
 * The process's way out. Shutdown (libs/bootstrap) first starts draining, then closes HTTP, then
 * stops the work in hand, and only then closes Redis, queues and Postgres; parts of the process
 * join the phases they belong to here, because Nest's own destroy hooks run in an order of their
 * own (they closed Redis before HTTP).
 */
@Injectable()
export class ProcessLifecycle {
  private readonly logger = new Logger(ProcessLifecycle.name);
  private drainingSince?: number;
  private readonly drainHooks: Hook[] = [];
  private readonly stopHooks: Hook[] = [];
  private stopped?: Promise<void>;

  /** True once shutdown began: readiness answers 503 and responses close their connections. */
  get draining(): boolean {
    return this.drainingSince !== undefined;
  }

  /** `hook` runs when draining starts: wake long-polls, stop timers that would start new work. */
  whenDraining(hook: Hook): void {
    this.drainHooks.push(hook);
  }

  /** `hook` runs once HTTP is closed: consumers stop taking jobs and finish the ones they hold. */
  whenStoppingWork(hook: Hook): void {
    this.stopHooks.push(hook);
  }

  async startDraining(): Promise<void> {
    if (this.draining) return;
    this.drainingSince = Date.now();
    await this.run('draining', this.drainHooks);
  }

  stopWork(): Promise<void> {
    this.stopped ??= this.run('stopping work', this.stopHooks);
    return this.stopped;
  }

  private async run(phase: string, hooks: Hook[]): Promise<void> {
    const results = await Promise.allSettled(hooks.map(async (hook) => hook()));
    for (const result of results) if (result.status === 'rejected') this.logger.warn(`${phase}: ${result.reason}`);
  }
}
