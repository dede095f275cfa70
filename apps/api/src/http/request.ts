import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { AgentRow } from '@gatehouse/core';

/** A request after the agent or admin guard ran. */
export type AuthenticatedRequest = FastifyRequest & {
  agent?: AgentRow;
  admin?: string;
};

/** The caller's address (behind GATEHOUSE_TRUST_PROXY, the forwarded one), with IPv4-mapped IPv6 shown as IPv4. */
export function sourceIpOf(req: FastifyRequest): string | null {
  const ip = req.ip ?? req.socket.remoteAddress ?? null;
  return ip?.startsWith('::ffff:') ? ip.slice(7) : ip;
}

/** The authenticated agent (set by AgentGuard). */
export const CurrentAgent = createParamDecorator((_: unknown, ctx: ExecutionContext) => ctx.switchToHttp().getRequest<AuthenticatedRequest>().agent!);
/** The authenticated admin's name (set by AdminGuard). */
export const CurrentAdmin = createParamDecorator((_: unknown, ctx: ExecutionContext) => ctx.switchToHttp().getRequest<AuthenticatedRequest>().admin!);
/** The caller's source IP. */
export const SourceIp = createParamDecorator((_: unknown, ctx: ExecutionContext) => sourceIpOf(ctx.switchToHttp().getRequest<FastifyRequest>()));
