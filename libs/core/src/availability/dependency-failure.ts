import { ConnectionClosedError } from 'bullmq';
import { ReplyError } from 'ioredis';
import { MaxRetriesPerRequestError } from 'ioredis/built/errors';
import { AccessError } from '@gatehouse/domain';
import { Prisma } from '@gatehouse/prisma';

/** The services the broker cannot work without. */
export type Dependency = 'postgres' | 'redis';

/** A dependency that did not answer within a deadline of our own (a queue add, a subscription). */
export class DependencyTimeoutError extends Error {
  constructor(
    readonly dependency: Dependency,
    what: string,
    ms: number,
  ) {
    super(`${what}: no answer from ${dependency} in ${ms} ms`);
    this.name = 'DependencyTimeoutError';
  }
}

/** Resolves or rejects like `promise`, or rejects with a DependencyTimeoutError after `ms`. */
export function withDeadline<T>(promise: Promise<T>, ms: number, dependency: Dependency, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DependencyTimeoutError(dependency, what, ms)), ms);
    timer.unref();
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Prisma's codes for "the database is not there": unreachable, timed out, closed, pool exhausted, too many connections. */
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2037']);
/** Prisma driver-adapter error kinds that mean the same. */
const ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);
/** Postgres SQLSTATEs of a server going away or refusing connections (class 08, shutdown, starting up, too many clients). */
const PG_CODES = /^(08...|57P0[123]|53300)$/;
/** node-postgres raises these as plain Errors, without a code. */
const PG_MESSAGES =
  /^(Connection terminated( unexpectedly| due to connection timeout)?|timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable|Client was closed and is not queryable)$/;
/** ioredis' own messages: the connection closed, or the offline queue is off while disconnected. */
const REDIS_MESSAGES = /^(Connection is closed\.|Stream isn't writeable and enableOfflineQueue options is false|Command timed out)$/;
/** Redis replies of a server that is loading, failing over or cannot write. */
const REDIS_REPLIES = /^(LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|MISCONF)\b/;
/** Socket errors say a connection failed, not to what: the rest of the chain (or the caller) tells. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

type Node = {
  name?: unknown;
  code?: unknown;
  message?: unknown;
  severity?: unknown;
  clientVersion?: unknown;
  cause?: unknown;
  errors?: unknown;
  meta?: unknown;
  /** Set on the cause of a Prisma DriverAdapterError: what the driver adapter made of the driver's error. */
  kind?: unknown;
  originalCode?: unknown;
};

/** What one error in a chain says on its own; 'socket' means "a connection failed" without naming the service. */
function classifyOne(e: Node): Dependency | 'socket' | undefined {
  if (e instanceof DependencyTimeoutError) return e.dependency;
  if (e instanceof Prisma.PrismaClientInitializationError) return 'postgres';
  if (e instanceof Prisma.PrismaClientKnownRequestError) {
    if (PRISMA_CODES.has(e.code)) return 'postgres';
    // Prisma's interactive transactions waited maxWait for a connection that never came.
    if (e.code === 'P2028' && /Unable to start a transaction in the given time/.test(e.message)) return 'postgres';
  }
  if (typeof e.kind === 'string') {
    if (ADAPTER_KINDS.has(e.kind)) return 'postgres';
    const sqlState = e.originalCode ?? e.code;
    if (typeof sqlState === 'string' && PG_CODES.test(sqlState)) return 'postgres';
  }
  if (e instanceof MaxRetriesPerRequestError || e instanceof ConnectionClosedError) return 'redis';
  if (e instanceof ReplyError && REDIS_REPLIES.test(String(e.message))) return 'redis';
  const message = typeof e.message === 'string' ? e.message : '';
  const code = typeof e.code === 'string' ? e.code : '';
  if (PG_MESSAGES.test(message)) return 'postgres';
  if (REDIS_MESSAGES.test(message)) return 'redis';
  // A Postgres server error (node-postgres' DatabaseError carries severity and SQLSTATE).
  if (typeof e.severity === 'string' && PG_CODES.test(code)) return 'postgres';
  if (SOCKET_CODES.has(code)) return 'socket';
  return undefined;
}

/** The errors an error points at: its cause, an AggregateError's errors, a Prisma driver-adapter error. */
function next(e: Node): unknown[] {
  const more: unknown[] = [];
  if (e.cause !== undefined) more.push(e.cause);
  if (Array.isArray(e.errors)) more.push(...e.errors);
  const adapter = (e.meta as { driverAdapterError?: unknown } | undefined)?.driverAdapterError;
  if (adapter !== undefined) more.push(adapter);
  return more;
}

/**
 * Which dependency an error says is down: Postgres, Redis, 'unknown' (a connection failed but
 * nothing in the chain says to what), or undefined when it is not an outage at all (a bug, bad
 * input, a constraint). Walks `cause` chains, AggregateErrors and Prisma's driver-adapter causes;
 * the one classifier every edge uses, so that an outage is a 503 and never a 500.
 */
export function dependencyDown(error: unknown): Dependency | 'unknown' | undefined {
  const seen = new Set<unknown>();
  const queue: { e: unknown; via?: Dependency }[] = [{ e: error }];
  let socket: Dependency | 'unknown' | undefined;
  while (queue.length > 0 && seen.size < 32) {
    const { e, via } = queue.shift()!;
    if (e === null || typeof e !== 'object' || seen.has(e)) continue;
    seen.add(e);
    // Our own refusals are answers, never outages, whatever they wrap.
    if (e instanceof AccessError) continue;
    const node = e as Node;
    const found = classifyOne(node);
    if (found === 'socket') socket ??= via ?? 'unknown';
    else if (found) return found;
    // An error Prisma raised (it stamps clientVersion) is about Postgres, whatever socket error it wraps.
    const context = via ?? (node.clientVersion !== undefined || node instanceof Prisma.PrismaClientKnownRequestError ? 'postgres' : undefined);
    for (const inner of next(node)) queue.push({ e: inner, via: context });
  }
  return socket;
}
