import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/** What the upstream behind the gateway received. */
export interface UpstreamCall {
  method: string;
  path: string;
  authorization: string | undefined;
  body: string;
}

/**
 * A few lines of forward-auth gateway in Node, for specs that need one without a real gateway
 * (SDK, MCP): it asks Gatehouse about each call, forwards allowed ones to an in-process upstream
 * with the credential Gatehouse returned in place of the agent's token, and passes refusals on as
 * Traefik and Caddy do (status, body and X-Gatehouse-* headers). Real nginx and Caddy are tested
 * in gateway-*.e2e-spec.ts.
 */
export class MiniGateway {
  readonly calls: UpstreamCall[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(brokerUrl: string, gatewayToken: string, host: string): Promise<MiniGateway> {
    let gateway: MiniGateway;
    const server = createServer((req, res) => void gateway.handle(req, res, brokerUrl, gatewayToken, host));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    gateway = new MiniGateway(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return gateway;
  }

  private async handle(req: IncomingMessage, res: ServerResponse, brokerUrl: string, gatewayToken: string, host: string): Promise<void> {
    let body = '';
    for await (const chunk of req) body += String(chunk);
    const check = await fetch(`${brokerUrl}/v1/authz/forward`, {
      headers: {
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        'x-forwarded-method': req.method ?? 'GET',
        'x-forwarded-host': host,
        'x-forwarded-uri': req.url ?? '/',
        'x-gatehouse-gateway': gatewayToken,
      },
    });
    if (check.status !== 200) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      for (const name of ['x-gatehouse-error', 'x-gatehouse-needed', 'www-authenticate']) {
        const value = check.headers.get(name);
        if (value) headers[name] = value;
      }
      res.writeHead(check.status, headers).end(await check.text());
      return;
    }
    this.calls.push({ method: req.method ?? 'GET', path: req.url ?? '/', authorization: check.headers.get('authorization') ?? undefined, body });
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ upstream: 'ok', operation: check.headers.get('x-gatehouse-operation') }));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
