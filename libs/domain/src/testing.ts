import { AccessError } from './errors';

/** For specs: the AccessError `fn` throws, failing the spec when it throws nothing. */
export function thrown(fn: () => unknown): AccessError {
  try {
    fn();
  } catch (error) {
    return error as AccessError;
  }
  throw new Error('expected an error');
}
