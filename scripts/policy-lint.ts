// npm run policy:lint -- [file] [--strict]: warns about rules that can never match, rules always
// overridden, and resources no rule speaks for. Exit 0 (with warnings unless --strict), 1 when the
// policy does not load or, with --strict, when there is any warning; 2 for bad usage or
// configuration. The analysis is lintPolicy in libs/domain.
import { readFileSync } from 'node:fs';
import { AccessError, lintPolicy, parsePolicy } from '@gatehouse/domain';
import { ConfigError, loadConfig } from '@gatehouse/core/config/config';

const USAGE = 'usage: npm run policy:lint -- [policy file, default GATEHOUSE_POLICY_FILE or policies/default.yaml] [--strict]';

function main(args: string[]): number {
  const strict = args.includes('--strict');
  const files = args.filter((arg) => arg !== '--strict');
  const unknown = files.filter((arg) => arg.startsWith('-'));
  if (unknown.length > 0 || files.length > 1) {
    console.error(unknown.length > 0 ? `unknown option ${unknown.join(', ')}\n${USAGE}` : `one policy file at a time\n${USAGE}`);
    return 2;
  }
  const config = loadConfig();
  const file = files[0] ?? config.policyFile;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    console.error(`${file}: cannot read the policy: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    return 1;
  }
  let warnings;
  try {
    warnings = lintPolicy(parsePolicy(text, file), { maxRequestDurationSeconds: config.maxRequestDurationSeconds });
  } catch (error) {
    if (!(error instanceof AccessError)) throw error;
    const lines = error.details.length > 1 ? error.details.map((d) => `  ${d.path ? `${d.path}: ` : ''}${d.message}`) : [];
    console.error([error.message, ...lines].join('\n'));
    return 1;
  }
  for (const warning of warnings) console.log(`${file}: ${warning.path} (${warning.subject}): warning: ${warning.message}`);
  const count = warnings.length === 0 ? 'no warnings' : warnings.length === 1 ? '1 warning' : `${warnings.length} warnings`;
  console.log(`policy lint: ${count} (${file})`);
  return strict && warnings.length > 0 ? 1 : 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exitCode = 2;
}
