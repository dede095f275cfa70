// Lets a child process of the tests run the TypeScript sources directly, with the same swc
// transform as jest (decorators and their metadata) and the tsconfig path aliases, instead of
// compiling the whole app with `nest build` first. Usage: node --require ./test/support/register-ts.js <entry.ts>
// ESM-only packages (@nestjs/*, jose) load through Node's require(esm), as in the built app.
const Module = require('node:module');
const { existsSync, readFileSync } = require('node:fs');
const { dirname, join, resolve } = require('node:path');
const { transformSync } = require('@swc/core');

const ROOT = join(__dirname, '..', '..');
const ALIASES = [
  [/^@gatehouse\/prisma$/, 'prisma/generated/client'],
  [/^@gatehouse\/([a-z]+)$/, 'libs/$1/src'],
  [/^@gatehouse\/([a-z]+)\/(.+)$/, 'libs/$1/src/$2'],
];

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  const alias = ALIASES.find(([pattern]) => pattern.test(request));
  if (alias) request = join(ROOT, request.replace(alias[0], alias[1]));
  // The generated Prisma client imports its siblings as './x.js'; the sources are './x.ts'.
  else if (request.startsWith('.') && request.endsWith('.js') && parent?.filename?.endsWith('.ts')) {
    const ts = resolve(dirname(parent.filename), `${request.slice(0, -3)}.ts`);
    if (existsSync(ts)) request = ts;
  }
  return resolveFilename.call(this, request, parent, ...rest);
};

require.extensions['.ts'] = (module, filename) => {
  const { code } = transformSync(readFileSync(filename, 'utf8'), {
    filename,
    sourceMaps: 'inline',
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      keepClassNames: true,
      target: 'es2022',
    },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};
