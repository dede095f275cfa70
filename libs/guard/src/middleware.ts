import { GrantError, GrantErrorCode } from './errors';
import { assertAllowed } from './scope';
import type { GrantVerifier, VerifiedGrant } from './verifier';

/** The request fields the middleware reads and sets (Express, Fastify and node:http all fit). */
export interface GrantRequest {
  headers: Record<string, string | string[] | undefined>;
  grant?: VerifiedGrant;
}

type NodeResponse = { statusCode: number; setHeader(name: string, value: string): unknown; end(body: string): unknown };
type FastifyReply = {
  raw: unknown;
  code(status: number): FastifyReply;
  header(name: string, value: string): FastifyReply;
  send(body: string): unknown;
};

/** The bearer token of an Authorization header, or '' when there is none. */
export function bearerOf(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value ?? '');
  return match ? match[1] : '';
}

/** Verifies the request's grant and its scope; sets `req.grant`, or throws a GrantError. */
export async function authorizeRequest(
  verifier: GrantVerifier,
  req: GrantRequest,
  need: { resource: string; action: string },
): Promise<VerifiedGrant> {
  const grant = await verifier.verify(bearerOf(req.headers.authorization));
  assertAllowed(grant, need);
  req.grant = grant;
  return grant;
}

/** Writes a GrantError in the API's error shape on an Express/node:http response or a Fastify reply. */
export function sendGrantError(res: NodeResponse | FastifyReply, error: GrantError): void {
  const body = JSON.stringify(error.toBody());
  if ('raw' in res && typeof (res as FastifyReply).code === 'function') {
    (res as FastifyReply).code(error.status).header('content-type', 'application/json').header('www-authenticate', error.challenge()).send(body);
    return;
  }
  const node = res as NodeResponse;
  node.statusCode = error.status;
  node.setHeader('content-type', 'application/json');
  node.setHeader('www-authenticate', error.challenge());
  node.end(body);
}

/**
 * Express-style `(req, res, next)` middleware (also a Fastify preHandler: `(request, reply, done)`)
 * that lets the request through only with a live grant for `resource`/`action`. Refusals answer
 * 401/403/503 with `{error: {code, message, details}}`.
 */
export function requireGrant(verifier: GrantVerifier, need: { resource: string; action: string }) {
  return (req: GrantRequest, res: NodeResponse | FastifyReply, next: (error?: unknown) => void): void => {
    authorizeRequest(verifier, req, need).then(
      () => next(),
      (error: unknown) => {
        if (error instanceof GrantError) sendGrantError(res, error);
        else sendGrantError(res, new GrantError(GrantErrorCode.VERIFIER_UNAVAILABLE, 'The grant could not be checked.'));
      },
    );
  };
}
