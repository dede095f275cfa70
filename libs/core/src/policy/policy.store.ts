import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { FSWatcher, readFileSync, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { parsePolicy, Policy } from '@gatehouse/domain';
import { Config } from '../config/config';
import { Database } from '../db/database';
import { AuditEventsRepository } from '../db/audit-events.repository';

/**
 * Reads and validates the policy file; throws PolicyError naming file, path and reason. With `env`,
 * the upstream credentials it names must be set there.
 */
export function readPolicyFile(file: string, env?: (name: string) => string | undefined): Policy {
  return parsePolicy(readFileSync(file, 'utf8'), file, env ? { env } : {});
}

/**
 * The policy in force. Loaded once at boot (a bad file stops the start); afterwards the file is
 * watched and a bad edit keeps the last good policy. Decisions read it from memory only.
 */
@Injectable()
export class PolicyStore implements OnModuleDestroy {
  private readonly logger = new Logger(PolicyStore.name);
  private policy: Policy;
  private watcher?: FSWatcher;
  private debounce?: NodeJS.Timeout;
  lastError?: string;

  constructor(
    private readonly config: Config,
    private readonly db: Database,
    private readonly audit: AuditEventsRepository,
  ) {
    this.policy = readPolicyFile(config.policyFile, config.secret);
  }

  current(): Policy {
    return this.policy;
  }

  /** Records the loaded version (once per version) and starts watching the file. */
  async start(): Promise<void> {
    await this.recordLoaded();
    const file = resolve(this.config.policyFile);
    // Watch the directory: editors replace files by rename, which ends a watch on the file itself.
    this.watcher = watch(dirname(file), (_event, name) => {
      if (name && name.toString() !== basename(file)) return;
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => void this.reload(), 100);
    });
    this.watcher.unref();
  }

  /** Re-reads the file; on a bad edit keeps the last good policy and says why. */
  async reload(): Promise<boolean> {
    let next: Policy;
    try {
      next = readPolicyFile(this.config.policyFile, this.config.secret);
    } catch (error) {
      this.lastError = (error as Error).message;
      this.logger.error(`Policy reload refused, keeping ${this.policy.version}: ${this.lastError}`);
      return false;
    }
    this.lastError = undefined;
    if (next.version === this.policy.version) return true;
    this.policy = next;
    this.logger.log(`Policy ${next.version} loaded from ${this.config.policyFile}`);
    await this.recordLoaded().catch((e) => this.logger.error(`could not audit the policy load: ${e}`));
    return true;
  }

  onModuleDestroy(): void {
    clearTimeout(this.debounce);
    this.watcher?.close();
  }

  private async recordLoaded(): Promise<void> {
    const { version, source, rules } = this.policy;
    await this.db.transaction(async (tx) => {
      const last = await this.audit.latestOfType(tx, 'policy.loaded');
      if ((last?.data as { version?: string } | undefined)?.version === version) return;
      await this.audit.append(tx, [{ type: 'policy.loaded', actor: 'system', data: { version, source, rules: rules.map((r) => r.id) } }]);
    });
  }
}
