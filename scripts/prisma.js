#!/usr/bin/env node
// Runs the Prisma CLI with the contract's default DATABASE_URL, because `prisma generate` falls back
// to downloading a native engine when the datasource URL is unset.
const { spawnSync } = require('node:child_process');

const DEFAULT_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/gatehouse';

function runPrisma(args) {
  const env = { ...process.env, DATABASE_URL: process.env.DATABASE_URL || DEFAULT_DATABASE_URL };
  const preload = ['--require', require.resolve('./prisma-timers.js')];
  const result = spawnSync(process.execPath, [...preload, require.resolve('prisma/build/index.js'), ...args], { env, stdio: 'inherit' });
  return result.status ?? 1;
}

module.exports = { runPrisma, DEFAULT_DATABASE_URL };

if (require.main === module) process.exit(runPrisma(process.argv.slice(2)));
