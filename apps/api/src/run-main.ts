import { PolicyError } from '@gatehouse/domain';
import { ConfigError } from '@gatehouse/core';

/** Boots a process; configuration and policy errors stop it with a plain message, not a stack. */
export function runMain(boot: () => Promise<void>): void {
  boot().catch((error: unknown) => {
    if (error instanceof ConfigError || error instanceof PolicyError) {
      console.error(`gatehouse: cannot start. ${error.message}`);
      for (const d of (error as PolicyError).details ?? []) console.error(`  ${d.path ?? ''}: ${d.message}`);
    } else {
      console.error('gatehouse: cannot start.', error);
    }
    process.exit(1);
  });
}
