import { ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer, IncomingHttpHeaders, request as httpRequest, Server } from 'node:http';
import { AddressInfo, connect, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

// Real gateways (Debian's nginx and caddy) in front of a recording upstream, for the deploy/ specs.

/** The path of an installed binary (PATH, then the sbin directories), or undefined. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      /* not here */
    }
  }
  return undefined;
}

/**
 * `describe` when the binary is installed; otherwise a skipped suite that says why, or a failing
 * one under GATEHOUSE_REQUIRE_GATEWAYS=1 (set by `.ci/run`, which installs nginx-light and caddy),
 * so that CI can never pass by skipping.
 */
export function describeWithBinary(name: string, title: string, body: (binary: string) => void): void {
  const binary = findBinary(name);
  if (binary) {
    describe(title, () => body(binary));
    return;
  }
  const install = `apt-get install -y ${name === 'nginx' ? 'nginx-light' : name}`;
  if (process.env.GATEHOUSE_REQUIRE_GATEWAYS === '1') {
    describe(title, () => {
      it(`needs ${name}`, () => {
        throw new Error(`${name} is not installed and GATEHOUSE_REQUIRE_GATEWAYS=1: ${install}`);
      });
    });
    return;
  }
  describe.skip(`${title} (skipped: no ${name} binary here; ${install})`, () => {
    it(`needs ${name}`, () => undefined);
  });
  console.warn(`${title}: skipped, ${name} is not installed (${install}).`);
}

/** Fills `${NAME}` placeholders of a deploy/ template; fails when one it was given is missing or one is left. */
export function renderTemplate(file: string, values: Record<string, string>): string {
  let text = readFileSync(file, 'utf8');
  for (const [name, value] of Object.entries(values)) {
    if (!text.includes(`\${${name}}`)) throw new Error(`${file} has no placeholder \${${name}}`);
    text = text.split(`\${${name}}`).join(value);
  }
  const left = /\$\{[A-Z_]+\}/.exec(text);
  if (left) throw new Error(`${file}: placeholder ${left[0]} was not filled`);
  return text;
}

/** A call as the upstream received it. */
export interface ReceivedCall {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A node:http upstream that records every call and answers 200 with JSON. */
export class RecordingUpstream {
  readonly calls: ReceivedCall[] = [];
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<RecordingUpstream> {
    let upstream: RecordingUpstream | undefined;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += String(chunk)));
      req.on('end', () => {
        upstream!.calls.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ upstream: 'ok', path: req.url }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    upstream = new RecordingUpstream(server, (server.address() as AddressInfo).port);
    return upstream;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A gateway process run in the foreground, with its own temporary directory. */
export interface GatewayProcess {
  url: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

async function runUntilListening(
  command: string,
  args: string[],
  port: number,
  dir: string,
  env: Record<string, string> = {},
): Promise<GatewayProcess> {
  const child: ChildProcess = spawn(command, args, { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += String(chunk)));
  child.stderr!.on('data', (chunk) => (output += String(chunk)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  const deadline = Date.now() + 15_000;
  while (!(await accepting(port))) {
    if (done) throw new Error(`${command} exited before listening:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${command} did not listen on ${port} within 15 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    stop: async () => {
      if (!done) {
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Debian's nginx with deploy/nginx/gatehouse.conf.template rendered into a minimal nginx.conf:
 * pid, logs and temp paths in a temporary directory, in the foreground (`daemon off`).
 */
export async function startNginx(
  binary: string,
  values: { GATEHOUSE_SERVER: string; GATEWAY_TOKEN: string; UPSTREAM_URL: string; SERVER_NAME: string },
): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-nginx-'));
  // Workers run as nobody when the master is root: they must reach the temp paths.
  chmodSync(dir, 0o755);
  const port = await freePort();
  writeFileSync(join(dir, 'gatehouse.conf'), renderTemplate('deploy/nginx/gatehouse.conf.template', { ...values, LISTEN: `127.0.0.1:${port}` }));
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      'events { worker_connections 1024; }',
      'http {',
      `  access_log ${dir}/access.log;`,
      `  client_body_temp_path ${dir}/body;`,
      `  proxy_temp_path ${dir}/proxy;`,
      `  include ${dir}/gatehouse.conf;`,
      '}',
      '',
    ].join('\n'),
  );
  return runUntilListening(binary, ['-e', `${dir}/error.log`, '-p', dir, '-c', `${dir}/nginx.conf`], port, dir);
}

/** Debian's caddy running deploy/caddy/Caddyfile, configured through the environment as the file says. */
export async function startCaddy(
  binary: string,
  env: { GATEHOUSE_URL: string; GATEWAY_TOKEN: string; UPSTREAM_URL: string; SERVER_NAME: string },
): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-caddy-'));
  const port = await freePort();
  const adminPort = await freePort();
  return runUntilListening(binary, ['run', '--config', join(process.cwd(), 'deploy/caddy/Caddyfile'), '--adapter', 'caddyfile'], port, dir, {
    ...env,
    LISTEN: `http://:${port}`,
    CADDY_ADMIN: `127.0.0.1:${adminPort}`,
    HOME: dir,
    XDG_DATA_HOME: join(dir, 'data'),
    XDG_CONFIG_HOME: join(dir, 'config'),
  });
}

/** An answer of the gateway. */
export interface GatewayReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: any;
}

/** Calls through a gateway with node:http, so that the Host header is the one agents would send. */
export function callThrough(
  gateway: GatewayProcess,
  options: { method?: string; host: string; path: string; token?: string; body?: string; headers?: Record<string, string> },
): Promise<GatewayReply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: `${options.host}:${gateway.port}`, ...(options.headers ?? {}) };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const req = httpRequest({ host: '127.0.0.1', port: gateway.port, path: options.path, method: options.method ?? 'GET', headers }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += String(chunk)));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = text ? JSON.parse(text) : null;
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** The same answer as a fetch Response, for the SDK's gatewayRefusal. */
export function asResponse(reply: GatewayReply): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(reply.headers)) if (typeof value === 'string') headers.set(name, value);
  return new Response(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body), { status: reply.status, headers });
}
