import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { typescriptEntry } from '../support/register';

// `npm run policy:test` and `npm run policy:lint` as a user runs them: the real scripts in a child
// process, judged by exit code and output. Running the shipped tests here puts them in `npm test`.
const ROOT = resolve(__dirname, '../..');
const SHIPPED_CASES = (parse(readFileSync(join(ROOT, 'policies/default.test.yaml'), 'utf8')) as { cases: unknown[] }).cases.length;

function run(script: 'policy-test' | 'policy-lint', args: string[], env: Record<string, string> = {}) {
  const base = { ...process.env };
  delete base.GATEHOUSE_POLICY_FILE;
  delete base.GATEHOUSE_MAX_DURATION;
  const result = spawnSync(process.execPath, [...typescriptEntry(`scripts/${script}.ts`), ...args], {
    cwd: ROOT,
    env: { ...base, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const POLICY = `version: 1
resources:
  crm.customers: { owners: crm-owners, columns: { id: public, email: pii } }
rules:
  - { id: reads, effect: approve, when: { actions: [read], sensitivity: { atMost: public } }, maxDuration: 10m }
  - { id: pii, effect: require_approval, when: { sensitivity: { atLeast: pii } }, approvers: owners }
`;

const READ_ID = '{ agent: { name: bot }, resource: crm.customers, actions: [read], columns: [id], duration: 30m }';

describe('npm run policy:test', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-policy-test-'));
    mkdirSync(join(dir, 'policies'));
    writeFileSync(join(dir, 'policies', 'crm.yaml'), POLICY);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('passes the shipped tests of policies/default.yaml (the default files)', () => {
    const result = run('policy-test', []);
    expect(result).toEqual({ status: 0, stdout: `policy tests: ${SHIPPED_CASES} passed (1 file, policies/default.yaml)\n`, stderr: '' });
    expect(SHIPPED_CASES).toBeGreaterThanOrEqual(20);
  });

  it('prints each failing case with what was expected and what came, and exits 1', () => {
    const file = join(dir, 'failing.test.yaml');
    writeFileSync(
      file,
      `policy: policies/crm.yaml
cases:
  - { name: passes, request: ${READ_ID}, expect: { outcome: approve, rules: [reads], duration: 10m } }
  - { name: wrong-duration, request: ${READ_ID}, expect: { outcome: approve, rules: [reads], duration: 30m } }
  - name: wrong-outcome
    request: { agent: { name: bot }, resource: crm.customers, actions: [read], columns: [email], duration: 5m }
    expect: { outcome: approve }
  - { name: refused, request: { agent: { name: bot }, resource: crm.customers, actions: [read], columns: [ssn], duration: 5m }, expect: { outcome: deny } }
`,
    );
    const result = run('policy-test', [file]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n')).toEqual([
      `FAIL ${file} cases[1] "wrong-duration": duration differs`,
      '  expected: approve, rules [reads], duration 30m',
      '  got:      approve, rules [reads], duration 10m',
      '  message:  Approved by rule reads.',
      `FAIL ${file} cases[2] "wrong-outcome": outcome differs`,
      '  expected: approve',
      '  got:      require_approval, rules [pii], duration 5m, approvers crm-owners, approvals 1',
      '  message:  Rule pii requires approval by crm-owners.',
      `FAIL ${file} cases[3] "refused": expected the policy to decide deny, but the broker refused the request with UNKNOWN_COLUMN`,
      '  expected: deny',
      '  got:      refused with UNKNOWN_COLUMN',
      '  message:  crm.customers has no column "ssn"; known columns: id, email.',
      `policy tests: 1 passed, 3 failed (1 file, ${join(dir, 'policies/crm.yaml')})`,
      '',
    ]);
  });

  it('reads GATEHOUSE_POLICY_FILE when the test file names no policy, and applies GATEHOUSE_MAX_DURATION', () => {
    const file = join(dir, 'env.test.yaml');
    writeFileSync(
      file,
      `cases:
  - { name: clamped, request: ${READ_ID}, expect: { outcome: approve, duration: 10m } }
  - { name: over-the-cap, request: { agent: { name: bot }, resource: crm.customers, actions: [read], duration: 2h }, expect: { error: DURATION_TOO_LONG } }
`,
    );
    const policyFile = join(dir, 'policies', 'crm.yaml');
    expect(run('policy-test', [file], { GATEHOUSE_POLICY_FILE: policyFile, GATEHOUSE_MAX_DURATION: '1h' })).toMatchObject({
      status: 0,
      stdout: `policy tests: 2 passed (1 file, ${policyFile})\n`,
    });
    // with the default cap of 24h, 2h is no longer refused
    expect(run('policy-test', [file], { GATEHOUSE_POLICY_FILE: policyFile }).stdout).toContain('FAIL');
  });

  it('refuses a bad test file with exit 2, naming the file, the path and the reason, and runs nothing', () => {
    const bad = join(dir, 'bad.test.yaml');
    writeFileSync(
      bad,
      `policy: policies/crm.yaml
cases:
  - { name: a, request: { agent: { name: bot }, resource: crm.customers, actions: [read], duration: 5m, at: "tomorrow" }, expect: { outcome: approve } }
  - { name: b, request: ${READ_ID}, expect: { outcome: approve, rules: [read] } }
`,
    );
    const result = run('policy-test', [bad, join(dir, 'failing.test.yaml')]);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`${bad}: cases[0].request.at: expected an ISO 8601 time with its offset`);

    writeFileSync(bad, `policy: policies/crm.yaml\ncases:\n  - { name: b, request: ${READ_ID}, expect: { outcome: approve, rules: [read] } }\n`);
    expect(run('policy-test', [bad])).toMatchObject({
      status: 2,
      stdout: '',
      stderr: `${bad}: cases[0].expect.rules[0]: no rule "read" in ${join(dir, 'policies/crm.yaml')}; its rules: reads, pii\n`,
    });
    expect(run('policy-test', [join(dir, 'missing.test.yaml')])).toMatchObject({
      status: 2,
      stderr: `${join(dir, 'missing.test.yaml')}: cannot read the test file: ENOENT\n`,
    });
  });

  it('fails (exit 1) when the policy under test does not load', () => {
    writeFileSync(join(dir, 'policies', 'broken.yaml'), POLICY.replace('effect: approve', 'effect: allow'));
    const file = join(dir, 'broken.test.yaml');
    writeFileSync(file, `policy: policies/broken.yaml\ncases:\n  - { name: a, request: ${READ_ID}, expect: { outcome: approve } }\n`);
    const result = run('policy-test', [file]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      `${join(dir, 'policies/broken.yaml')}: rules[0].effect: expected "approve" or "require_approval" or "deny", got "allow"\n`,
    );
  });
});

describe('npm run policy:lint', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'gatehouse-policy-lint-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds nothing in the shipped policy, even with --strict', () => {
    expect(run('policy-lint', ['--strict'])).toEqual({ status: 0, stdout: 'policy lint: no warnings (policies/default.yaml)\n', stderr: '' });
  });

  it('names the rule or resource and why; exit 0, or 1 with --strict', () => {
    const file = join(dir, 'lint.yaml');
    writeFileSync(
      file,
      `${POLICY}  - { id: legacy, effect: deny, when: { resources: [legacy.*] } }
  - { id: pii-ok, effect: approve, when: { sensitivity: { atLeast: pii }, actions: [read] } }
`.replace('resources:\n', 'resources:\n  hr.salaries: { columns: { amount: pii } }\n'),
    );
    const expected = [
      `${file}: rules[2] (legacy): warning: never matches: its resources [legacy.*] match no resource of the policy`,
      `${file}: rules[3] (pii-ok): warning: always overridden: every request it matches is asked of people by rule pii (require_approval wins over approve), so it never decides`,
      `policy lint: 2 warnings (${file})`,
      '',
    ].join('\n');
    expect(run('policy-lint', [file])).toEqual({ status: 0, stdout: expected, stderr: '' });
    expect(run('policy-lint', [file, '--strict'])).toEqual({ status: 1, stdout: expected, stderr: '' });
  });

  it('exits 1 when the policy does not parse, and 2 on bad usage', () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'version: 2\n');
    expect(run('policy-lint', [file])).toEqual({ status: 1, stdout: '', stderr: `${file}: version: expected 1 (the only policy file version)\n` });
    expect(run('policy-lint', ['--fix']).status).toBe(2);
  });
});
