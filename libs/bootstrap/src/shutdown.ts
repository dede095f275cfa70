import { INestApplication, INestApplicationContext, Logger } from '@nestjs/common';
import type { Server } from 'node:http';
import { ProcessLifecycle } from '@gatehouse/core';
import { HttpDrain, HttpDrainReport } from './http-drain';

/** What a shutdown did and how long each step took (ms from its start). */
export interface ShutdownReport {
  ms: number;
  /** Whether the deadline cut anything short (requests, connections, jobs or closing clients). */
  timedOut: boolean;
  http?: HttpDrainReport;
  steps: { step: string; at: number }[];
}

const CLOSE_GRACE_MS = 2000;
const drains = new WeakMap<INestApplicationContext, HttpDrain>();
const running = new WeakMap<INestApplicationContext, Promise<ShutdownReport>>();

/** Lets `shutdown` drain this application's HTTP server; call it before `listen`. */
export function drainOnShutdown(app: INestApplication): void {
  drains.set(app, new HttpDrain(app.getHttpServer() as Server));
}

/**
 * The graceful shutdown SIGTERM runs (and tests call), in this order: stop accepting connections;
 * drain (readiness 503, responses close their connections, long-polls answer now); let in-flight
 * requests finish with their after-commit effects, since Redis, queues and Postgres are still
 * open; close idle keep-alive connections; stop the queue workers, letting active jobs finish;
 * only then close Redis, queues and Prisma (Nest's destroy hooks). Bounded by `timeoutMs`: what
 * is left at the deadline is cut. Calling it again returns the same shutdown.
 */
export function shutdown(app: INestApplicationContext, options: { timeoutMs: number }): Promise<ShutdownReport> {
  let report = running.get(app);
  if (!report) {
    report = run(app, options.timeoutMs);
    running.set(app, report);
  }
  return report;
}

async function run(app: INestApplicationContext, timeoutMs: number): Promise<ShutdownReport> {
  const logger = new Logger('Shutdown');
  const started = Date.now();
  const deadline = started + timeoutMs;
  const steps: ShutdownReport['steps'] = [];
  const step = (name: string) => steps.push({ step: name, at: Date.now() - started });
  let timedOut = false;
  const within = async (work: Promise<unknown>, what: string, until = deadline) => {
    const failed = work.catch((error: unknown) => logger.warn(`${what} failed: ${error}`));
    if (!(await beforeDeadline(failed, until))) {
      timedOut = true;
      logger.warn(`${what} did not finish within the shutdown timeout`);
    }
  };

  const http = drains.get(app);
  const lifecycle = app.get(ProcessLifecycle);
  http?.stopAccepting();
  step('stopped accepting');
  await within(lifecycle.startDraining(), 'draining');
  step('draining');
  await http?.settle(deadline);
  step('requests finished');
  const httpReport = await http?.close(deadline);
  if (httpReport && (httpReport.unfinished > 0 || httpReport.forcedConnections > 0)) timedOut = true;
  step('connections closed');
  await within(lifecycle.stopWork(), 'stopping the queue workers');
  step('work stopped');
  // A little time past the deadline, so that clients still close cleanly after a step above timed out.
  await within(app.close(), 'closing Redis, queues and Postgres', Math.max(deadline, Date.now()) + CLOSE_GRACE_MS);
  step('clients closed');
  const ms = Date.now() - started;
  logger.log({ msg: `shut down in ${ms} ms`, timedOut, http: httpReport, steps });
  return { ms, timedOut, http: httpReport, steps };
}

/** Whether `work` settled before the deadline (it keeps running otherwise). */
async function beforeDeadline(work: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = work.then(() => true);
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()))));
  const result = await Promise.race([settled, late]);
  clearTimeout(timer);
  return result;
}
