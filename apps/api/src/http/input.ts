import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { refuseUnstorableText } from '@gatehouse/core';
import { httpStatusOf } from './error.filter';
import { isEnforcementRoute } from './forward-auth';

/** Longest path segment the router accepts: room for a user id (128) and a UUID, no more. */
export const MAX_PATH_SEGMENT = 200;

function send(reply: FastifyReply, error: AccessError): void {
  void reply.status(httpStatusOf(error.code)).send({ error: { code: error.code, message: error.message, details: error.details } });
}

/**
 * Fastify options for what its router refuses before any hook or filter runs: a URL whose
 * percent-encoding is not UTF-8 (e.g. an encoded lone surrogate) and an over-long path segment.
 * Both answer in the API's error shape instead of Fastify's own.
 */
export const routerRefusals = {
  routerOptions: { maxParamLength: MAX_PATH_SEGMENT },
  frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
    switch (error.code) {
      case 'FST_ERR_BAD_URL':
        send(
          reply,
          new AccessError(AccessErrorCode.VALIDATION_FAILED, 'The URL is invalid: a percent-encoded part of its path is not UTF-8 text.', [
            { path: 'url', message: 'percent-encoding that is not UTF-8' },
          ]),
        );
        return;
      case 'FST_ERR_MAX_PARAM_LENGTH':
        send(
          reply,
          new AccessError(
            AccessErrorCode.VALIDATION_FAILED,
            `The URL is invalid: a path segment is longer than ${MAX_PATH_SEGMENT} characters; no id is that long.`,
            [{ path: 'url', message: `a path segment over ${MAX_PATH_SEGMENT} characters` }],
          ),
        );
        return;
      default:
        void reply.send(error);
    }
  },
};

/**
 * Refuses, for every route, text Postgres cannot store (NUL, lone surrogates) in path parameters,
 * the query and the body, keys included, with a 400 naming the path. It runs as Fastify's
 * preValidation hook: after the body is parsed and before Nest's guards, so a refused request
 * never reaches the database, not even to authenticate.
 */
export function registerInputChecks(fastify: FastifyInstance): void {
  fastify.addHook('preValidation', async (request) => {
    // Forward-auth reads only headers, and must answer a gateway 200, 401 or 403 whatever the URL holds.
    if (isEnforcementRoute(request)) return;
    refuseUnstorableText(request.params, 'path');
    refuseUnstorableText(request.query, 'query');
    refuseUnstorableText(request.body, 'request body');
  });
}
