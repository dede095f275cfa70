import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { AdminAuthenticator, AgentAuthenticator, bearerToken, Config, RedisService } from '@gatehouse/core';
import { AuthenticatedRequest } from './request';

/** Authenticates the agent's signed assertion, then applies its rate limit (429 with Retry-After). */
@Injectable()
export class AgentGuard implements CanActivate {
  private readonly limiter: RateLimiterRedis;

  constructor(
    private readonly auth: AgentAuthenticator,
    redis: RedisService,
    config: Config,
  ) {
    this.limiter = new RateLimiterRedis({
      storeClient: redis.client,
      keyPrefix: redis.key('ratelimit', 'agent'),
      points: config.rateLimit.points,
      duration: config.rateLimit.durationSeconds,
    });
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const agent = await this.auth.authenticate(bearerToken(req.headers.authorization), new Date());
    try {
      await this.limiter.consume(agent.id);
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      const seconds = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
      context.switchToHttp().getResponse<FastifyReply>().header('Retry-After', String(seconds));
      throw new AccessError(AccessErrorCode.RATE_LIMITED, `Too many requests from this agent; retry in ${seconds}s.`);
    }
    req.agent = agent;
    return true;
  }
}

/** Admin bearer token from GATEHOUSE_ADMIN_TOKENS. */
@Injectable()
export class AdminGuard implements CanActivate {
  constructor(private readonly auth: AdminAuthenticator) {}

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<AuthenticatedRequest>();
    req.admin = this.auth.admin(bearerToken(req.headers.authorization));
    return true;
  }
}
