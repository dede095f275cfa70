import { INestApplicationContext, Logger } from '@nestjs/common';
import { PolicyError } from '@gatehouse/domain';
import { Config, ConfigError } from '@gatehouse/core';
import { shutdown } from './shutdown';

/**
 * Boots a process; configuration and policy errors stop it with a plain message, not a stack.
 * SIGTERM and SIGINT run the graceful shutdown once; a second signal ends the process at once.
 */
export function runMain(boot: () => Promise<INestApplicationContext>): void {
  boot().then(
    (app) => {
      const timeoutMs = app.get(Config).shutdownTimeoutSeconds * 1000;
      const stop = (signal: NodeJS.Signals) => {
        new Logger('Shutdown').log(`${signal}: shutting down (at most ${timeoutMs / 1000} s)`);
        shutdown(app, { timeoutMs }).then(
          (report) => process.exit(report.timedOut ? 1 : 0),
          (error: unknown) => {
            console.error('gatehouse: shutdown failed.', error);
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    },
    (error: unknown) => {
      if (error instanceof ConfigError || error instanceof PolicyError) {
        console.error(`gatehouse: cannot start. ${error.message}`);
        for (const d of (error as PolicyError).details ?? []) console.error(`  ${d.path ?? ''}: ${d.message}`);
      } else {
        console.error('gatehouse: cannot start.', error);
      }
      process.exit(1);
    },
  );
}
