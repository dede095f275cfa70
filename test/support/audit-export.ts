import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { canonicalize } from 'json-canonicalize';
import { AuditSealer, ExportAuditTrail } from '@gatehouse/core';
import { AuditExportRunner } from '../../apps/worker/src/audit-export-runner';
import { Broker, eventually, startBroker, TestAgent } from './broker';
import { ask } from './flows';

/** The GENESIS prevHash of seq 1. */
export const GENESIS = '0'.repeat(64);

/**
 * A broker whose audit export runs at test speed (poll 100 ms, retries from 100 ms doubling up to
 * 800 ms), its log lines pushed to `logged` when given. nestjs-pino keeps the first app's logger
 * for the whole process, so a spec that reads logs starts that broker first.
 */
export function startExportingBroker(env: Record<string, string>, logged?: string[]): Promise<Broker> {
  return startBroker(env, {
    logged,
    prepare: (app) => {
      const exporter = app.get(ExportAuditTrail);
      exporter.retry = { firstDelayMs: 100, maxDelayMs: 800 };
      exporter.timeoutMs = 3000;
      app.get(AuditExportRunner).pollMs = 100;
    },
  });
}

/** Checkpoints at every sealing pass, so a test sees several without waiting minutes. */
export function checkpointEveryPass(broker: Broker): void {
  broker.app.get(AuditSealer).checkpointIntervalMs = 0;
}

/** Some of everything: an approved request (grant issued, then released), a pending one denied by an admin. */
export async function someActivity(broker: Broker, agent: TestAgent): Promise<void> {
  const approved = await ask(agent);
  if (approved.body?.status !== 'approved') throw new Error(`expected approved, got ${JSON.stringify(approved.body)}`);
  const released = await agent.call('POST', `/v1/grants/${approved.body.grant.id}/release`);
  if (released.status !== 200) throw new Error(`release failed: ${released.status}`);
  const pending = await ask(agent, { columns: ['id', 'email'] });
  if (pending.body?.status !== 'pending') throw new Error(`expected pending, got ${JSON.stringify(pending.body)}`);
  const denied = await broker.admin('POST', `/v1/admin/access-requests/${pending.body.id}/deny`, { comment: 'not for this ticket' });
  if (denied.status !== 200) throw new Error(`deny failed: ${denied.status}`);
}

/** Waits until every event is sealed; returns the head seq. */
export async function sealedHead(broker: Broker): Promise<number> {
  await eventually(async () => (await broker.prisma.auditEvent.count({ where: { seq: null } })) === 0, 20_000);
  const { _max } = await broker.prisma.auditEvent.aggregate({ _max: { seq: true } });
  return Number(_max.seq ?? 0);
}

/** The JSON lines of a file (none while it does not exist); a line that does not parse fails the test. */
export function jsonLines(file: string): any[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

/** What a receiver computes to check an event, with nothing of the broker's code: sha256(prevHash + JCS(the hashed fields)). */
export function receiverHash(prevHash: string, hashedFields: Record<string, unknown>): string {
  return createHash('sha256').update(prevHash).update(canonicalize(hashedFields)).digest('hex');
}

/** The fields of a json-format event record that the chain hashes (the record minus record, prevHash, hash). */
export function hashedFields(record: Record<string, unknown>): Record<string, unknown> {
  const { record: _kind, prevHash: _prev, hash: _hash, ...fields } = record;
  return fields;
}

/** One request as a receiver saw it, and what it answered. */
export interface Received {
  at: number;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

/**
 * A local collector. `answer` decides each request's status (and body); `down()` closes the port
 * and cuts open connections so that connections are refused, `up()` listens again on the same port.
 */
export class Receiver {
  readonly received: Received[] = [];
  /** The status and body of the answer; `hang` never answers (until `down()`), like a stuck collector. */
  answer: (request: { path: string; body: string; headers: IncomingHttpHeaders }) => { status: number; body?: unknown; hang?: boolean } = () => ({
    status: 200,
  });
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const path = req.url ?? '';
        const reply = this.answer({ path, body, headers: req.headers });
        this.received.push({ at: Date.now(), path, headers: req.headers, body, status: reply.hang ? 0 : reply.status });
        if (reply.hang) return;
        res.writeHead(reply.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(reply.body ?? {}));
      });
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The requests it answered with a 2xx: what the collector accepted. */
  get accepted(): Received[] {
    return this.received.filter((r) => r.status >= 200 && r.status < 300);
  }
}
