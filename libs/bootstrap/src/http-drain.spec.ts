import http from 'node:http';
import { AddressInfo } from 'node:net';
import { HttpDrain } from './http-drain';

const servers: http.Server[] = [];

/** A plain HTTP server whose handler waits `?ms=` before answering, with a drain attached. */
async function server(): Promise<{ url: string; server: http.Server; drain: HttpDrain }> {
  const s = http.createServer((req, res) => {
    const ms = Number(new URL(req.url!, 'http://x').searchParams.get('ms') ?? 0);
    const timer = setTimeout(() => res.end('done'), ms);
    res.on('close', () => clearTimeout(timer));
  });
  const drain = new HttpDrain(s);
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, server: s, drain };
}

type Outcome = { status: number; connection?: string; body: string } | { error: string };

function get(url: string, agent: http.Agent): Promise<Outcome> {
  return new Promise((resolve) => {
    http
      .get(url, { agent }, (res) => {
        let body = '';
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, body }));
      })
      .on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('HttpDrain', () => {
  let agent: http.Agent;
  beforeEach(() => (agent = new http.Agent({ keepAlive: true, maxSockets: 2 })));
  afterEach(() => {
    agent.destroy();
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      s.close();
    }
  });

  it('lets a request in flight finish with Connection: close, refuses new connections, closes idle keep-alive ones', async () => {
    const { url, server: s, drain } = await server();
    // One idle keep-alive connection, one request in flight.
    expect(await get(`${url}/`, agent)).toMatchObject({ status: 200, connection: 'keep-alive' });
    const other = new http.Agent({ keepAlive: true });
    const inFlight = get(`${url}/?ms=300`, other);
    await sleep(50);

    drain.stopAccepting();
    expect(await get(`${url}/`, other)).toEqual({ error: 'ECONNREFUSED' });
    await drain.settle(Date.now() + 5000);
    expect(await inFlight).toEqual({ status: 200, connection: 'close', body: 'done' });
    const report = await drain.close(Date.now() + 5000);
    expect(report).toEqual({ inFlightAtStop: 1, unfinished: 0, forcedConnections: 0 });
    expect(s.listening).toBe(false);
    other.destroy();
  });

  it('serves a request arriving on a keep-alive connection while draining, and closes that connection after it', async () => {
    const { url, drain } = await server();
    // Two keep-alive connections, both idle; then one of them busy.
    const warm = await Promise.all([get(`${url}/?ms=20`, agent), get(`${url}/?ms=20`, agent)]);
    expect(warm).toMatchObject([{ connection: 'keep-alive' }, { connection: 'keep-alive' }]);
    const slow = get(`${url}/?ms=200`, agent);
    await sleep(20);
    drain.stopAccepting();
    // The idle connection is still open: a request sent on it is answered, not reset.
    expect(await get(`${url}/?ms=10`, agent)).toEqual({ status: 200, connection: 'close', body: 'done' });
    expect(await slow).toEqual({ status: 200, connection: 'close', body: 'done' });
    expect(await drain.close(Date.now() + 5000)).toMatchObject({ unfinished: 0, forcedConnections: 0 });
  });

  it('cuts what is still running at the deadline and says so', async () => {
    const { url, drain } = await server();
    const stuck = get(`${url}/?ms=10000`, agent);
    await sleep(50);
    drain.stopAccepting();
    const started = Date.now();
    await drain.settle(Date.now() + 200);
    const report = await drain.close(Date.now() + 100);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(report).toEqual({ inFlightAtStop: 1, unfinished: 1, forcedConnections: 1 });
    expect(await stuck).toEqual({ error: 'ECONNRESET' });
  });
});
