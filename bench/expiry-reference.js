#!/usr/bin/env node
// The reference for expiry lateness: a bare BullMQ queue and worker (the broker's concurrency of 10)
// whose job is the conditional UPDATE that ends a grant, nothing else. It enqueues one delayed job
// per grant of kid 'reference' due at its expires_at, and exits once none is active any more.
const { Pool } = require('pg');
const { Queue, Worker } = require('bullmq');

async function main() {
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
  const connection = { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' };
  const prefix = process.env.REFERENCE_PREFIX;
  const queue = new Queue('reference-expiry', { connection, prefix });
  const { rows } = await pool.query("SELECT id::text AS id, expires_at FROM grants WHERE kid = 'reference' AND status = 'active'");
  await queue.addBulk(
    rows.map((g) => ({
      name: 'expire',
      data: { id: g.id },
      opts: { jobId: `expire-${g.id}`, delay: Math.max(0, g.expires_at.getTime() - Date.now()), removeOnComplete: true },
    })),
  );
  const worker = new Worker(
    'reference-expiry',
    async (job) => {
      await pool.query(
        "UPDATE grants SET status = 'expired', ended_at = now(), ended_by = 'system' WHERE id = $1::uuid AND status = 'active' AND expires_at <= now()",
        [job.data.id],
      );
    },
    { connection, prefix, concurrency: 10 },
  );
  for (;;) {
    const {
      rows: [left],
    } = await pool.query("SELECT count(*)::int AS n FROM grants WHERE kid = 'reference' AND status = 'active'");
    if (left.n === 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  await pool.end();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
