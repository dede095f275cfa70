// npm run policy:test -- [files]: runs policy test files (default: policies/*.test.yaml) with the
// broker's own evaluation. Exit 0 when every case passes, 1 when one fails or a policy does not
// load, 2 when a test file (or the configuration) is bad. The work is in libs/domain.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import {
  AccessError,
  checkTestsAgainstPolicy,
  formatPolicyTestFailure,
  parsePolicy,
  parsePolicyTests,
  Policy,
  PolicyTestFile,
  runPolicyTests,
  summarizePolicyTests,
} from '@gatehouse/domain';
import { Config, ConfigError, loadConfig } from '@gatehouse/core/config/config';

/** Stops the run with a message and an exit code. */
class Stop extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** An AccessError (a policy or test file) as lines: the summary, then each problem with its path. */
function explain(error: AccessError): string {
  const lines = error.details.length > 1 ? error.details.map((d) => `  ${d.path ? `${d.path}: ` : ''}${d.message}`) : [];
  return [error.message, ...lines].join('\n');
}

function read(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new Stop(`${file}: cannot read the ${what}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, 2);
  }
}

function defaultFiles(): string[] {
  let names: string[];
  try {
    names = readdirSync('policies');
  } catch {
    names = [];
  }
  const files = names
    .filter((name) => name.endsWith('.test.yaml'))
    .sort()
    .map((name) => join('policies', name));
  if (files.length === 0) throw new Stop('no test files given, and none in policies/*.test.yaml', 2);
  return files;
}

function loadPolicy(file: string, cache: Map<string, Policy>): Policy {
  const known = cache.get(file);
  if (known) return known;
  try {
    const policy = parsePolicy(read(file, 'policy'), file);
    cache.set(file, policy);
    return policy;
  } catch (error) {
    // The policy is what is under test: one that does not load fails the tests.
    if (error instanceof AccessError) throw new Stop(explain(error), 1);
    throw error;
  }
}

function main(args: string[], config: Config): number {
  const files = args.length > 0 ? args : defaultFiles();
  const tests: PolicyTestFile[] = [];
  const problems: string[] = [];
  for (const file of files) {
    try {
      tests.push(parsePolicyTests(read(file, 'test file'), file));
    } catch (error) {
      if (!(error instanceof AccessError)) throw error;
      problems.push(explain(error));
    }
  }
  const policies = new Map<string, Policy>();
  const runs = tests.map((test) => {
    // `policy:` is relative to the test file; otherwise the broker's own policy file.
    const policyFile =
      test.policy === undefined ? config.policyFile : isAbsolute(test.policy) ? test.policy : join(dirname(test.source), test.policy);
    const policy = loadPolicy(policyFile, policies);
    try {
      checkTestsAgainstPolicy(test, policy);
    } catch (error) {
      if (!(error instanceof AccessError)) throw error;
      problems.push(explain(error));
    }
    return { test, policy };
  });
  if (problems.length > 0) throw new Stop(problems.join('\n'), 2);

  const now = new Date();
  const results = runs.flatMap(({ test, policy }) => {
    const fileResults = runPolicyTests(policy, test, { maxRequestDurationSeconds: config.maxRequestDurationSeconds, now });
    for (const result of fileResults) {
      if (result.mismatches.length > 0) console.log(formatPolicyTestFailure(test.source, result).join('\n'));
    }
    return fileResults;
  });
  console.log(summarizePolicyTests(results, tests.length, [...policies.keys()]));
  return results.some((result) => result.mismatches.length > 0) ? 1 : 0;
}

try {
  process.exitCode = main(process.argv.slice(2), loadConfig());
} catch (error) {
  if (error instanceof Stop) {
    console.error(error.message);
    process.exitCode = error.exitCode;
  } else if (error instanceof ConfigError) {
    console.error(error.message);
    process.exitCode = 2;
  } else {
    throw error;
  }
}
