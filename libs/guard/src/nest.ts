import { CanActivate, ExecutionContext, HttpException, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GrantError } from './errors';
import { authorizeRequest, type GrantRequest } from './middleware';
import type { GrantVerifier } from './verifier';

/** Injection token of the GrantVerifier the guard uses: provide it with createGrantVerifier(...). */
export const GRANT_VERIFIER = Symbol('GRANT_VERIFIER');
const REQUIRED = 'gatehouse:required-grant';

/** Marks a route (or controller) as needing a grant for `resource` and `action`. */
export const RequireGrant = (resource: string, action: string) => SetMetadata(REQUIRED, { resource, action });

/**
 * A Nest guard: routes marked with @RequireGrant pass only with a live grant covering them;
 * `request.grant` then holds the VerifiedGrant. Refusals use the API's error shape.
 */
@Injectable()
export class GrantGuard implements CanActivate {
  constructor(
    @Inject(GRANT_VERIFIER) private readonly verifier: GrantVerifier,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const need = this.reflector.getAllAndOverride<{ resource: string; action: string } | undefined>(REQUIRED, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!need) return true;
    const req = context.switchToHttp().getRequest<GrantRequest>();
    try {
      await authorizeRequest(this.verifier, req, need);
      return true;
    } catch (error) {
      if (error instanceof GrantError) {
        const res = context.switchToHttp().getResponse<{ setHeader?: (n: string, v: string) => void; header?: (n: string, v: string) => void }>();
        if (typeof res.setHeader === 'function') res.setHeader('www-authenticate', error.challenge());
        else res.header?.('www-authenticate', error.challenge());
        throw new HttpException(error.toBody(), error.status);
      }
      throw error;
    }
  }
}
