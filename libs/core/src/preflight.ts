import { Config } from './config/config';
import { importConfiguredKey } from './keys/key.service';
import { readPolicyFile } from './policy/policy.store';
import { readDirectoryFile } from './usecases/users/upsert-user';

/**
 * Validates the files and the key named by the configuration before any connection opens: Nest
 * does not close the providers of a failed boot, so a late failure would leave the process hanging.
 */
export async function preflight(config: Config): Promise<void> {
  readPolicyFile(config.policyFile, config.secret);
  if (config.directoryFile) readDirectoryFile(config.directoryFile);
  if (config.signingKey) await importConfiguredKey(config.signingKey);
}
