// Jest on Node 20 cannot load ESM-only packages (@nestjs/*, jose, ...): @swc/jest turns them into
// CommonJS; every other node_modules package is left alone.
const esmOnly = [
  '@nestjs',
  'jose',
  'file-type',
  'strtok3',
  'token-types',
  '@tokenizer',
  '@borewit',
  'uint8array-extras',
  'load-esm',
  '@standard-schema',
  // Swagger UI on Fastify: @fastify/static loads an ESM-only content-disposition.
  '@fastify/static',
  'content-disposition',
];

const typescript = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      keepClassNames: true,
      target: 'es2022',
    },
    module: { type: 'commonjs' },
  },
];
const ecmascript = ['@swc/jest', { jsc: { parser: { syntax: 'ecmascript' }, target: 'es2022' }, module: { type: 'commonjs' } }];

const shared = {
  transform: { '^.+\\.ts$': typescript, '^.+\\.m?js$': ecmascript },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  moduleNameMapper: {
    '^@gatehouse/domain$': '<rootDir>/libs/domain/src',
    '^@gatehouse/domain/(.*)$': '<rootDir>/libs/domain/src/$1',
    '^@gatehouse/core$': '<rootDir>/libs/core/src',
    '^@gatehouse/core/(.*)$': '<rootDir>/libs/core/src/$1',
    '^@gatehouse/prisma$': '<rootDir>/prisma/generated/client',
    '^@gatehouse/(slack|sdk|guard|bootstrap)$': '<rootDir>/libs/$1/src',
    '^@gatehouse/(slack|sdk|guard|bootstrap)/(.*)$': '<rootDir>/libs/$1/src/$2',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testEnvironment: 'node',
};

module.exports = {
  // A root option: jest ignores testTimeout inside a project's config.
  testTimeout: 30000,
  // The e2e specs mostly wait (on Postgres, Redis, real timers), so four workers on two cores
  // finish in about a third of one worker's time. Specs that count rows use their own agent or a
  // scratch database, since the run's database is shared between the files running at once.
  maxWorkers: 4,
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/apps/**/*.spec.ts'] },
    {
      ...shared,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
