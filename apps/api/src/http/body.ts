import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parse as parseJsonSafely } from 'secure-json-parse';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';

/** Largest body any endpoint reads. */
export const BODY_LIMIT = 64 * 1024;

/** Routes that also read HTML forms: RFC 7662 introspection and Slack's interactivity payloads. */
const FORM_ROUTES = new Set(['/v1/introspect', '/slack/events']);

/** A request whose body was read as bytes; Slack's signature is checked over exactly these. */
export type RawBodyRequest = FastifyRequest & { rawBody?: Buffer };

function unsupported(why: string): AccessError {
  return new AccessError(AccessErrorCode.UNSUPPORTED_MEDIA_TYPE, `${why} Send the body as JSON with Content-Type: application/json.`);
}

/** A charset other than UTF-8 is refused, never guessed. */
function checkCharset(request: FastifyRequest): void {
  const charset = /;\s*charset=("?)([^";\s]+)\1/i.exec(request.headers['content-type'] ?? '')?.[2];
  if (charset && !/^utf-?8$/i.test(charset)) throw unsupported(`The body's charset ${charset} is not supported; use UTF-8.`);
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  // Like a strict JSON body parser: only objects and arrays are bodies.
  if (!/^\s*[[{]/.test(text)) {
    throw new AccessError(AccessErrorCode.MALFORMED_JSON, 'The body is not a JSON object; send {"field": ...}.');
  }
  try {
    // secure-json-parse also refuses __proto__ and constructor.prototype keys.
    return parseJsonSafely(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (error) {
    throw new AccessError(AccessErrorCode.MALFORMED_JSON, `The body is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * The only bodies the API reads: JSON everywhere, HTML forms where a protocol says so. Any other
 * content type, or a body without one, is answered 415 by Fastify itself (no parser matches), so
 * nothing a client sent is ever silently dropped.
 */
export function registerBodyParsers(fastify: FastifyInstance): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: BODY_LIMIT }, (request, body, done) => {
    try {
      checkCharset(request);
      (request as RawBodyRequest).rawBody = body as Buffer;
      done(null, parseJson(body.toString('utf8')));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  fastify.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'buffer', bodyLimit: BODY_LIMIT }, (request, body, done) => {
    try {
      // An unknown route answers 404 whatever its body; a known one reads forms only where listed.
      if (!request.is404 && !FORM_ROUTES.has(request.routeOptions.url ?? '')) throw unsupported('This endpoint does not read HTML forms.');
      checkCharset(request);
      (request as RawBodyRequest).rawBody = body as Buffer;
      done(null, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
}
