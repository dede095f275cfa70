#!/usr/bin/env node
// The static checks of `npm test` (typecheck, lint, formatting), side by side: each is single-threaded
// and none depends on another. Exits non-zero if any fails, after all have reported.
const { spawn } = require('node:child_process');

const checks = [
  ['typecheck', ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json', '--noEmit']],
  ['eslint', ['node_modules/eslint/bin/eslint.js', '.']],
  ['prettier', ['node_modules/prettier/bin/prettier.cjs', '--check', '--log-level', 'warn', '**/*.{ts,js,mjs}']],
];

Promise.all(
  checks.map(
    ([name, args]) =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, args, { stdio: 'inherit' });
        child.on('exit', (code) => {
          if (code !== 0) console.error(`${name} failed`);
          resolve(code === 0);
        });
      }),
  ),
).then((results) => process.exit(results.every(Boolean) ? 0 : 1));
