import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/** One call that reached the upstream behind the gateway. */
export interface UpstreamCall {
  method: string;
  path: string;
  /** What the upstream saw in Authorization: the gateway's credential, never the agent's token. */
  authorization: string | undefined;
  operation: string | undefined;
  body: string;
}

/** What the upstream answers. */
export type Upstream = (call: UpstreamCall) => { status: number; body: unknown };

/**
 * A forward-auth gateway in a few lines of Node, for the demo and for specs that need a gateway
 * without nginx (in production: one of deploy/'s). For every call it asks Gatehouse
 * (`/v1/authz/forward`, with its gateway credential), passes an allowed call to the upstream with
 * the credential Gatehouse returned in place of the agent's token, and hands a refusal back as
 * Traefik and Caddy do (status, JSON body, X-Gatehouse-* headers).
 */
export class NodeGateway {
  readonly calls: UpstreamCall[] = [];

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(options: { brokerUrl: string; gatewayToken: string; host: string; upstream: Upstream }): Promise<NodeGateway> {
    let gateway: NodeGateway | undefined;
    const server = createServer((req, res) => void gateway!.handle(req, res, options));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    gateway = new NodeGateway(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return gateway;
  }

  private async handle(
    req: IncomingMessage,
    res: ServerResponse,
    options: { brokerUrl: string; gatewayToken: string; host: string; upstream: Upstream },
  ): Promise<void> {
    let body = '';
    for await (const chunk of req) body += String(chunk);
    const check = await fetch(`${options.brokerUrl}/v1/authz/forward`, {
      headers: {
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        'x-forwarded-method': req.method ?? 'GET',
        'x-forwarded-host': options.host,
        'x-forwarded-uri': req.url ?? '/',
        'x-gatehouse-gateway': options.gatewayToken,
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
    const call: UpstreamCall = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      authorization: check.headers.get('authorization') ?? undefined,
      operation: check.headers.get('x-gatehouse-operation') ?? undefined,
      body,
    };
    this.calls.push(call);
    const answer = options.upstream(call);
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
