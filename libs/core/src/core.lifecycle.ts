import { Injectable, OnModuleInit } from '@nestjs/common';
import { KeyService } from './keys/key.service';
import { PolicyStore } from './policy/policy.store';
import { LoadDirectory } from './usecases/users/upsert-user';

/** Start-up work done once, before any request is served: keys, policy watch, directory. */
@Injectable()
export class CoreLifecycle implements OnModuleInit {
  constructor(
    private readonly keys: KeyService,
    private readonly policy: PolicyStore,
    private readonly directory: LoadDirectory,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.keys.init();
    await this.policy.start();
    await this.directory.execute();
  }
}
