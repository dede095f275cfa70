import type { Server, ServerResponse } from 'node:http';
import { Server as NetServer } from 'node:net';

/** How the HTTP side of a shutdown went. */
export interface HttpDrainReport {
  /** Requests in flight when accepting stopped. */
  inFlightAtStop: number;
  /** Requests still unanswered at the deadline (their connections were cut). */
  unfinished: number;
  /** Connections destroyed at the deadline instead of closing by themselves. */
  forcedConnections: number;
}

/** How long requests must have stopped coming before idle keep-alive connections are closed. */
const QUIET_MS = 250;

/**
 * Tracks an HTTP server's requests so that a shutdown can, in this order, stop accepting
 * connections, let the requests in flight finish (each response then closes its connection),
 * close the idle keep-alive connections, and cut whatever is left only at the deadline.
 */
export class HttpDrain {
  private readonly inFlight = new Set<ServerResponse>();
  private draining = false;
  private closed?: Promise<void>;
  private readonly settledListeners = new Set<() => void>();
  private inFlightAtStop = 0;
  private lastRequestAt = 0;

  constructor(private readonly server: Server) {
    // Prepended so it runs before Fastify, which may answer synchronously.
    server.prependListener('request', (_request, response: ServerResponse) => this.track(response));
  }

  /** Stops accepting connections; from now on every response closes its connection. */
  stopAccepting(): void {
    if (this.draining) return;
    this.draining = true;
    this.inFlightAtStop = this.inFlight.size;
    for (const response of this.inFlight) closeAfter(response);
    // http.Server#close would also close the idle keep-alive connections at once, racing a request
    // a client may be sending on one right now (it would get a reset). Only stop listening here.
    this.closed = new Promise((resolve) => NetServer.prototype.close.call(this.server, () => resolve()));
  }

  /**
   * Resolves once no request is in flight and none has started for `quietMs`, or at the deadline.
   * A client busy on a keep-alive connection sends its next request a moment after each answer: it
   * is served (with Connection: close) instead of finding its connection closed under its request.
   */
  async settle(deadline: number, quietMs = QUIET_MS): Promise<void> {
    for (;;) {
      await this.noneInFlight(deadline);
      const quietFor = Date.now() - this.lastRequestAt;
      if (quietFor >= quietMs || Date.now() >= deadline) return;
      await new Promise((resolve) => setTimeout(resolve, Math.min(quietMs - quietFor, Math.max(0, deadline - Date.now()))));
    }
  }

  private async noneInFlight(deadline: number): Promise<void> {
    if (this.inFlight.size === 0) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.settledListeners.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      this.settledListeners.add(done);
    });
  }

  /** Closes idle connections and waits for the others to close (each after its response) until the deadline. */
  async close(deadline: number): Promise<HttpDrainReport> {
    this.stopAccepting();
    this.server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.closed!.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), Math.max(0, deadline - Date.now())))),
    ]);
    clearTimeout(timer);
    const unfinished = this.inFlight.size;
    let forcedConnections = 0;
    if (timedOut) {
      forcedConnections = await countConnections(this.server);
      this.server.closeAllConnections();
      await this.closed;
    }
    return { inFlightAtStop: this.inFlightAtStop, unfinished, forcedConnections };
  }

  private track(response: ServerResponse): void {
    this.lastRequestAt = Date.now();
    this.inFlight.add(response);
    if (this.draining) closeAfter(response);
    response.once('close', () => {
      this.inFlight.delete(response);
      if (this.inFlight.size === 0) for (const done of [...this.settledListeners]) done();
    });
  }
}

/** Node ends a connection after a response that says Connection: close, so the client reconnects elsewhere. */
function closeAfter(response: ServerResponse): void {
  if (!response.headersSent) response.setHeader('Connection', 'close');
}

function countConnections(server: Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((error, count) => resolve(error ? 0 : count)));
}
