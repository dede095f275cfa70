#!/usr/bin/env node
// Creates the database when it does not exist yet, then applies prisma/migrations.
const { Client } = require('pg');
const { runPrisma, DEFAULT_DATABASE_URL } = require('./prisma');

async function ensureDatabase(url) {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
  } finally {
    await client.end();
  }
}

ensureDatabase(process.env.DATABASE_URL || DEFAULT_DATABASE_URL)
  .then(() => process.exit(runPrisma(['migrate', 'deploy'])))
  .catch((error) => {
    console.error(`migrate: cannot prepare the database named by DATABASE_URL: ${error.message}`);
    process.exit(1);
  });
