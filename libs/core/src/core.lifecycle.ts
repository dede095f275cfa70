import { Injectable, OnModuleInit } from '@nestjs/common';
import { KeyService } from './keys/key.service';
import { PolicyStore } from './policy/policy.store';
import { LoadDirectory } from './usecases/users/upsert-user';
import { RedisService } from './redis/redis.service';
import { CLOCK_SKEW_S, MAX_ASSERTION_LIFETIME_S } from './auth/agent-authenticator';

/** Start-up work done once, before any request is served: keys, policy watch, directory, replay cache. */
@Injectable()
export class CoreLifecycle implements OnModuleInit {
  constructor(
    private readonly keys: KeyService,
    private readonly policy: PolicyStore,
    private readonly directory: LoadDirectory,
    private readonly redis: RedisService,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.keys.init();
    await this.policy.start();
    await this.directory.execute();
    // A replay cache that does not exist yet at boot (a first start) has seen nothing: it covers every
    // assertion that could still be valid. One found missing later, while running, means Redis lost
    // what it had seen (RedisService.rememberAssertion then starts it at that moment). Redis may be
    // down at boot: then the first assertion starts it.
    const since = Math.floor(Date.now() / 1000) - MAX_ASSERTION_LIFETIME_S - CLOCK_SKEW_S;
    await this.redis.client.set(this.redis.key('jti-since'), String(since), 'NX').catch(() => undefined);
  }
}
