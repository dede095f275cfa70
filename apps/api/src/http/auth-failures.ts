import { Logger } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { Config } from '@gatehouse/core';
import { sourceIpOf } from './request';
import { isEnforcementRoute } from './forward-auth';

/**
 * Throttles failed authentications per source address (GATEHOUSE_AUTH_FAILURE_LIMIT). Every 401
 * counts, whoever raised it (agent assertion, admin token, introspection credential, Slack
 * signature); a success never counts and never resets the count. An address over the limit is
 * answered 429 from the first request hook, registered before Nest's middleware: no body is read,
 * no JWT decoded, neither Postgres nor Redis asked, nothing logged per request.
 *
 * The count lives in this process's memory on purpose: no Redis round trip on every request, and
 * it keeps throttling while Redis is down, when a flood costs most. Each replica counts apart, so
 * a cluster of N replicas lets at most N times the limit through.
 */
export function registerAuthFailureLimit(fastify: FastifyInstance, config: Config): void {
  const logger = new Logger('AuthFailures');
  const { points, durationSeconds } = config.authFailureLimit;
  const failures = new RateLimiterMemory({ points, duration: durationSeconds });

  fastify.addHook('onRequest', async (request, reply) => {
    // Health probes never authenticate, and a load balancer sharing a blocked address must still see the replica up.
    if (request.url.startsWith('/health/')) return;
    // Gateways ask for every agent behind them: one agent's bad tokens must not shut the gateway out.
    if (isEnforcementRoute(request)) return;
    const ip = sourceIpOf(request);
    const counted = ip ? await failures.get(ip) : null;
    if (!counted || counted.consumedPoints < points || counted.msBeforeNext <= 0) return;
    const seconds = Math.max(1, Math.ceil(counted.msBeforeNext / 1000));
    reply.header('Retry-After', String(seconds));
    throw new AccessError(
      AccessErrorCode.RATE_LIMITED,
      `Too many failed authentications from this address; nothing is accepted from it for ${seconds}s. Check the credential or assertion your client sends before retrying.`,
    );
  });

  fastify.addHook('onResponse', async (request, reply) => {
    if (reply.statusCode !== 401 || isEnforcementRoute(request)) return;
    const ip = sourceIpOf(request);
    if (!ip) return;
    const counted = await failures.penalty(ip);
    if (counted.consumedPoints === points) {
      logger.warn(
        `${ip} reached ${points} failed authentications in ${durationSeconds}s; it is refused 429 for ${Math.ceil(counted.msBeforeNext / 1000)}s`,
      );
    }
  });
}
