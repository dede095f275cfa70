#!/usr/bin/env node
// npm run bench [-- <which...>] [-- --duration 15 --connections 50 --rounds 2]
// Each measurement prints the broker's figure beside a reference measured in the same run.
const { hotPath } = require('./hot-path');
const { policyDecisions } = require('./policy');
const { expiryLateness } = require('./expiry');
const { pendingList } = require('./pending-list');

const argv = process.argv.slice(2);
const flag = (name, fallback) => {
  const at = argv.indexOf(`--${name}`);
  return at >= 0 ? Number(argv[at + 1]) : fallback;
};
const which = argv.filter((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));
const ALL = {
  'hot-path': () => hotPath({ connections: flag('connections', 50), duration: flag('duration', 15), rounds: flag('rounds', 2) }),
  policy: () => policyDecisions(),
  expiry: () => expiryLateness(),
  'pending-list': () => pendingList(),
};

async function main() {
  const chosen = which.length ? which : Object.keys(ALL);
  for (const name of chosen) {
    if (!ALL[name]) throw new Error(`unknown benchmark ${name}; known: ${Object.keys(ALL).join(', ')}`);
    console.log(JSON.stringify({ [name]: await ALL[name]() }, null, 2));
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
