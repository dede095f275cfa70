import fc from 'fast-check';
import { ConnectionClosedError } from 'bullmq';
import { ReplyError } from 'ioredis';
import { MaxRetriesPerRequestError } from 'ioredis/built/errors';
import { DatabaseError } from 'pg';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { Prisma } from '@gatehouse/prisma';
import { dependencyDown, DependencyTimeoutError, withDeadline } from './dependency-failure';

const prismaKnown = (code: string, meta?: Record<string, unknown>, message = 'Invalid `prisma.agent.findMany()` invocation') =>
  new Prisma.PrismaClientKnownRequestError(message, { code, clientVersion: '6.19.3', meta });
const socketError = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code, syscall: 'connect', errno: -111 });
const pgError = (code: string, message: string) => Object.assign(new DatabaseError(message, 100, 'error'), { code, severity: 'FATAL' });
/** What Prisma 6 rethrows for a raw query whose connection died: node-postgres' plain Error, stamped with clientVersion. */
const prismaRaw = (message: string, cause?: unknown) => Object.assign(new Error(message, { cause }), { clientVersion: '6.19.3' });

describe('dependencyDown: Postgres', () => {
  it.each([
    [
      'P1001 with a DatabaseNotReachable adapter cause',
      prismaKnown('P1001', {
        driverAdapterError: { name: 'DriverAdapterError', cause: { kind: 'DatabaseNotReachable', host: '127.0.0.1', port: 5432 } },
      }),
    ],
    ['P1002 (timed out)', prismaKnown('P1002')],
    ['P1017 (server closed the connection)', prismaKnown('P1017')],
    ['P2024 (no pool connection in time)', prismaKnown('P2024')],
    [
      'P2028 that could not start a transaction',
      prismaKnown('P2028', undefined, 'Transaction API error: Unable to start a transaction in the given time.'),
    ],
    ['an initialization error', new Prisma.PrismaClientInitializationError("Can't reach database server", '6.19.3')],
    ['an adapter ConnectionClosed kind under any code', prismaKnown('P2010', { driverAdapterError: { cause: { kind: 'ConnectionClosed' } } })],
    ['an adapter SocketTimeout kind', prismaKnown('P2010', { driverAdapterError: { cause: { kind: 'SocketTimeout' } } })],
    [
      'an adapter TooManyConnections kind',
      prismaKnown('P2037', { driverAdapterError: { cause: { kind: 'TooManyConnections', cause: 'sorry, too many clients already' } } }),
    ],
    [
      'an adapter postgres kind with 57P01 (admin shutdown)',
      prismaKnown('P2010', { driverAdapterError: { cause: { kind: 'postgres', code: '57P01' } } }),
    ],
    ['node-postgres 57P01', pgError('57P01', 'terminating connection due to administrator command')],
    ['node-postgres 57P03 (starting up)', pgError('57P03', 'the database system is starting up')],
    ['node-postgres 53300', pgError('53300', 'sorry, too many clients already')],
    ['node-postgres 08006', pgError('08006', 'connection failure')],
    ['a raw query whose connection was cut', prismaRaw('Connection terminated unexpectedly')],
    [
      'a pool connect timeout (with its cause)',
      prismaRaw('Connection terminated due to connection timeout', new Error('Connection terminated unexpectedly')),
    ],
    ['pg-pool waiting too long', new Error('timeout exceeded when trying to connect')],
    ['a socket error that Prisma wrapped', prismaRaw('raw query failed', socketError('ECONNRESET'))],
    ['our own deadline', new DependencyTimeoutError('postgres', 'ping', 2000)],
  ])('%s', (_name, error) => {
    expect(dependencyDown(error)).toBe('postgres');
  });
});

describe('dependencyDown: Redis', () => {
  it.each([
    ['ioredis MaxRetriesPerRequestError, by class', new MaxRetriesPerRequestError(2)],
    ["ioredis 'Connection is closed.'", new Error('Connection is closed.')],
    ['ioredis with the offline queue off', new Error("Stream isn't writeable and enableOfflineQueue options is false")],
    ['BullMQ ConnectionClosedError', new ConnectionClosedError()],
    ['a BullMQ error caused by ioredis', new Error('could not add job', { cause: new MaxRetriesPerRequestError(20) })],
    ['a Redis still loading its data', new ReplyError('LOADING Redis is loading the dataset in memory')],
    ['a read-only replica after failover', new ReplyError("READONLY You can't write against a read only replica.")],
    ['our own deadline on a queue add', new DependencyTimeoutError('redis', 'enqueue expireGrant', 5000)],
  ])('%s', (_name, error) => {
    expect(dependencyDown(error)).toBe('redis');
  });
});

describe('dependencyDown: neither', () => {
  it.each([
    ['a domain refusal', new AccessError(AccessErrorCode.REQUEST_NOT_FOUND, 'No such request')],
    [
      'a domain refusal whatever it wraps',
      Object.assign(new AccessError(AccessErrorCode.VALIDATION_FAILED, 'bad'), { cause: new MaxRetriesPerRequestError(2) }),
    ],
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
    ['a unique violation', prismaKnown('P2002', { driverAdapterError: { cause: { kind: 'UniqueConstraintViolation', originalCode: '23505' } } })],
    ['a Postgres syntax error', pgError('42601', 'syntax error at or near "SELEC"')],
    ['a Redis type error', new ReplyError('WRONGTYPE Operation against a key holding the wrong kind of value')],
    ['a string', 'Connection is closed.'],
    ['nothing', undefined],
  ])('%s', (_name, error) => {
    expect(dependencyDown(error)).toBeUndefined();
  });

  it('a bare socket error is an outage of an unnamed dependency', () => {
    expect(dependencyDown(socketError('ECONNREFUSED'))).toBe('unknown');
    const dualStack = Object.assign(new AggregateError([socketError('ECONNREFUSED'), socketError('ECONNREFUSED')], ''), { code: 'ECONNREFUSED' });
    expect(dependencyDown(dualStack)).toBe('unknown');
  });

  it('a named dependency deeper in the chain wins over a bare socket error', () => {
    expect(dependencyDown(Object.assign(socketError('ECONNRESET'), { cause: new MaxRetriesPerRequestError(2) }))).toBe('redis');
  });

  it('stops on a cause cycle', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    expect(dependencyDown(a)).toBeUndefined();
  });
});

describe('dependencyDown: cause chains', () => {
  const outages: [unknown, string][] = [
    [new MaxRetriesPerRequestError(2), 'redis'],
    [prismaKnown('P1001'), 'postgres'],
    [pgError('57P01', 'terminating connection'), 'postgres'],
    [new Error('Connection is closed.'), 'redis'],
  ];
  const wrap = (error: unknown, depth: number) => {
    let wrapped = error;
    for (let i = 0; i < depth; i++) wrapped = new Error(`layer ${i}`, { cause: wrapped });
    return wrapped;
  };

  it('finds the outage under any number of wrappers (up to the walk limit)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...outages), fc.nat(20), ([error, dependency], depth) => {
        expect(dependencyDown(wrap(error, depth))).toBe(dependency);
      }),
    );
  });

  it('never calls a wrapped bug an outage', () => {
    fc.assert(
      fc.property(fc.string(), fc.nat(20), (message, depth) => {
        fc.pre(!/^(Connection|timeout|Client|Stream|Command)/.test(message));
        expect(dependencyDown(wrap(new Error(message), depth))).toBeUndefined();
      }),
    );
  });
});

describe('withDeadline', () => {
  it('rejects with a DependencyTimeoutError naming the dependency when nothing answers', async () => {
    const never = new Promise<never>(() => undefined);
    const started = Date.now();
    const error = await withDeadline(never, 50, 'redis', 'enqueue expireGrant').catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(error).toBeInstanceOf(DependencyTimeoutError);
    expect(dependencyDown(error)).toBe('redis');
    expect((error as Error).message).toBe('enqueue expireGrant: no answer from redis in 50 ms');
  });

  it('passes an answer or a failure through unchanged', async () => {
    await expect(withDeadline(Promise.resolve(7), 1000, 'postgres', 'ping')).resolves.toBe(7);
    const failure = new TypeError('a bug');
    await expect(withDeadline(Promise.reject(failure), 1000, 'postgres', 'ping')).rejects.toBe(failure);
  });
});
