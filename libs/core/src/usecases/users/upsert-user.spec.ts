import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../config/config';
import { readDirectoryFile } from './upsert-user';

describe('readDirectoryFile', () => {
  let dir: string;
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'directory-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const refusal = (path: string): ConfigError => {
    try {
      readDirectoryFile(path);
    } catch (error) {
      return error as ConfigError;
    }
    throw new Error('expected the directory file to be refused');
  };

  it('reads a valid file', () => {
    const path = file('ok.yaml', 'users:\n  - { id: alice, email: alice@example.com, displayName: "Alice Ö", groups: [crm-owners] }\n');
    expect(readDirectoryFile(path)).toEqual([{ id: 'alice', email: 'alice@example.com', displayName: 'Alice Ö', groups: ['crm-owners'] }]);
  });

  it('refuses a NUL (YAML "\\0") in a display name, naming the variable, the file and the field', () => {
    const path = file('nul.yaml', 'users:\n  - { id: alice, email: alice@example.com, displayName: "Ali\\0ce", groups: [] }\n');
    const error = refusal(path);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe(
      `GATEHOUSE_DIRECTORY_FILE: The directory file ${path} is invalid: users.0.displayName: contains a NUL character (U+0000), which cannot be stored`,
    );
  });

  it('refuses a lone surrogate anywhere, a group name included', () => {
    const path = file('surrogate.yaml', 'users:\n  - { id: bob, email: bob@example.com, displayName: Bob, groups: ["sup\\udc00port"] }\n');
    expect(refusal(path).message).toContain('users.0.groups.0: contains a lone surrogate (U+DC00)');
  });
});
