import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, UnrecoverableError } from 'bullmq';
import { ExpireGrant, QueueService, Reconcile } from '@gatehouse/core';
import { JobRunner } from '../../apps/worker/src/job-runner';
import { Broker, call, eventually, INTROSPECTION_TOKEN, registerAgent, startBroker, TestAgent } from '../support/broker';
import { createScratchDatabase } from '../support/database';
import { fakeJob, jobsWithId, lifecycleQueue } from '../support/jobs';

// These tests count every reconciled grant and every job, so they run on a database and a Redis
// prefix of their own: another file's broker reconciling the shared database would take the work
// this file wants to watch. The schedule is stretched to 1h so only the explicit calls reconcile.
jest.setTimeout(60_000);

const REQUESTS = '/v1/access-requests';
const lowRisk = { resource: 'crm.customers', actions: ['read'], columns: ['id', 'name'], reason: 'Summarise open tickets' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('queue and reconciler', () => {
  let scratch: { url: string; drop: () => Promise<void> };
  let env: Record<string, string>;
  let broker: Broker;
  let agent: TestAgent;
  let queue: Queue;

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    env = { DATABASE_URL: scratch.url, GATEHOUSE_REDIS_PREFIX: `${process.env.GATEHOUSE_REDIS_PREFIX}_workers`, GATEHOUSE_RECONCILE_INTERVAL: '1h' };
    broker = await startBroker(env);
    agent = await registerAgent(broker);
    queue = lifecycleQueue(env.GATEHOUSE_REDIS_PREFIX);
  }, 120_000);

  afterAll(async () => {
    await queue?.close();
    await broker?.close();
    await scratch?.drop();
  });

  /** An auto-approved grant of `duration`; returns the grant as the agent saw it. */
  async function grant(duration: string): Promise<{ id: string; token: string; expiresAt: string }> {
    const res = await agent.call('POST', REQUESTS, { ...lowRisk, duration });
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('approved');
    return res.body.grant;
  }

  /** Deletes the grant's expiry job from Redis, as if it had been lost. */
  async function loseExpiryJob(grantId: string): Promise<void> {
    const jobId = `expire-${grantId}`;
    expect(await queue.getJob(jobId)).toBeDefined();
    expect(await queue.remove(jobId)).toBe(1);
    expect(await queue.getJob(jobId)).toBeUndefined();
  }

  const introspect = async (token: string) =>
    (await call(`${broker.url}/v1/introspect`, 'POST', { token: INTROSPECTION_TOKEN, body: { token } })).body;
  const expiredEvents = (grantId: string) => broker.prisma.auditEvent.count({ where: { grantId, type: 'grant.expired' } });

  it('the reconciler expires a grant whose queue job was lost; introspection was inactive already', async () => {
    const issued = await grant('2s');
    expect(await introspect(issued.token)).toMatchObject({ active: true, jti: issued.id });
    await loseExpiryJob(issued.id);

    await sleep(new Date(issued.expiresAt).getTime() - Date.now() + 500);
    // Nothing ended it: the row still says active, yet the grant is inactive everywhere.
    expect(await broker.prisma.grant.findUnique({ where: { id: issued.id } })).toMatchObject({ status: 'active', endedAt: null });
    expect(await introspect(issued.token)).toEqual({ active: false });
    const listed = await broker.admin('GET', `/v1/admin/grants?agentId=${agent.id}`);
    expect(listed.body.items.find((g: { id: string }) => g.id === issued.id)).toMatchObject({ status: 'expired' });
    expect(await expiredEvents(issued.id)).toBe(0);

    expect(await broker.app.get(Reconcile).execute(new Date())).toEqual({ expired: 1, timedOut: 0, escalated: 0 });
    expect(await broker.prisma.grant.findUnique({ where: { id: issued.id } })).toMatchObject({ status: 'expired', endedBy: 'system' });
    expect(await expiredEvents(issued.id)).toBe(1);

    // A second pass finds nothing to do.
    expect(await broker.app.get(Reconcile).execute(new Date())).toEqual({ expired: 0, timedOut: 0, escalated: 0 });
    expect(await expiredEvents(issued.id)).toBe(1);
  });

  it('two processes racing on one expiry end it exactly once', async () => {
    const second = await startBroker(env);
    try {
      const issued = await grant('2s');
      await loseExpiryJob(issued.id);
      await sleep(new Date(issued.expiresAt).getTime() - Date.now() + 200);

      const racers = [broker, second].flatMap((b) => Array.from({ length: 5 }, () => b.app.get(ExpireGrant)));
      const outcomes = await Promise.all(racers.map((expire) => expire.execute({ grantId: issued.id, now: new Date() })));
      expect(outcomes.filter((o) => o === 'expired')).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'unchanged')).toHaveLength(9);
      expect(await broker.prisma.grant.findUnique({ where: { id: issued.id } })).toMatchObject({ status: 'expired' });
      expect(await expiredEvents(issued.id)).toBe(1);
    } finally {
      await second.close();
    }
  });

  it('grants falling due together are ended in batches by their jobs, each once, with one audit event', async () => {
    // 250 grants due in the same second: more than one batch of 200.
    const due = Math.floor(Date.now() / 1000) + 4;
    const grants = await Promise.all(
      Array.from({ length: 250 }, async () => {
        const res = await agent.call('POST', REQUESTS, { ...lowRisk, duration: `${due - Math.floor(Date.now() / 1000)}s` });
        expect(res.body.status).toBe('approved');
        return res.body.grant.id as string;
      }),
    );
    const ended = await eventually(
      async () => {
        const rows = await broker.prisma.grant.findMany({ where: { id: { in: grants } } });
        return rows.every((g) => g.status === 'expired') ? rows : undefined;
      },
      20_000,
      100,
    );
    for (const g of ended) expect(g.endedAt!.getTime()).toBeGreaterThanOrEqual(g.expiresAt.getTime());
    const events = await broker.prisma.auditEvent.groupBy({
      by: ['grantId'],
      where: { type: 'grant.expired', grantId: { in: grants } },
      _count: { _all: true },
    });
    expect(events).toHaveLength(250);
    expect(events.every((e) => e._count._all === 1)).toBe(true);
    const sample = await broker.prisma.auditEvent.findFirstOrThrow({ where: { type: 'grant.expired', grantId: grants[0] } });
    expect(sample).toMatchObject({ actor: 'system', data: { expiresAt: ended.find((g) => g.id === grants[0])!.expiresAt.toISOString() } });
  });

  it('an expiry job that runs before the grant is due changes nothing', async () => {
    const issued = await grant('15m');
    expect(await broker.app.get(ExpireGrant).execute({ grantId: issued.id, now: new Date() })).toBe('not_due');
    expect(await broker.prisma.grant.findUnique({ where: { id: issued.id } })).toMatchObject({ status: 'active' });
    expect(await introspect(issued.token)).toMatchObject({ active: true });
  });

  it('a pending request times out at the policy approvalTimeout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-timeout-'));
    const file = join(dir, 'policy.yaml');
    const fixture = readFileSync('test/fixtures/policy.yaml', 'utf8');
    writeFileSync(file, fixture.replace('approvalTimeout: 15m', 'approvalTimeout: 2s'));
    expect(readFileSync(file, 'utf8')).toContain('approvalTimeout: 2s');
    const timing = await startBroker({ ...env, GATEHOUSE_POLICY_FILE: file });
    try {
      const asker = await registerAgent(timing);
      const before = Date.now();
      const res = await asker.call('POST', REQUESTS, { ...lowRisk, columns: ['id', 'email'], duration: '15m' });
      const after = Date.now();
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ status: 'pending', approval: { approvers: 'crm-owners', required: 1, received: 0 } });
      const deadline = new Date(res.body.approval.expiresAt).getTime();
      expect(deadline).toBeGreaterThanOrEqual(before + 2000 - 5);
      expect(deadline).toBeLessThanOrEqual(after + 2000 + 5);

      const final = await eventually(async () => {
        const read = await asker.call('GET', `${REQUESTS}/${res.body.id}?wait=5`);
        expect(read.status).toBe(200);
        return read.body.status === 'pending' ? undefined : read.body;
      }, 8_000);
      const elapsed = Date.now() - before;
      expect(final.status).toBe('timed_out');
      expect(final.grant).toBeUndefined();
      expect(elapsed).toBeGreaterThanOrEqual(1900);
      expect(elapsed).toBeLessThan(6000);
      const events = await timing.prisma.auditEvent.findMany({ where: { requestId: res.body.id, type: 'request.timed_out' } });
      expect(events).toHaveLength(1);
      expect(events[0].actor).toBe('system');

      const approve = await timing.admin('POST', `/v1/admin/access-requests/${res.body.id}/approve`, { comment: 'too late' });
      expect(approve.status).toBe(409);
      expect(approve.body.error.code).toBe('REQUEST_NOT_PENDING');
      expect(await timing.prisma.grant.count({ where: { requestId: res.body.id } })).toBe(0);
      expect(await timing.prisma.accessRequest.findUnique({ where: { id: res.body.id } })).toMatchObject({ status: 'timed_out' });
    } finally {
      await timing.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a job with an invalid payload or an unknown name as unrecoverable', async () => {
    const runner = broker.app.get(JobRunner);
    await expect(runner.run(fakeJob('expireGrant', { grantId: 'nope' }))).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(runner.run(fakeJob('expireGrant', { grantId: randomUUID(), extra: true }))).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(runner.run(fakeJob('timeOutRequest', {}))).rejects.toBeInstanceOf(UnrecoverableError);
    const unknown = runner.run(fakeJob('dropAllGrants', {}));
    await expect(unknown).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(unknown).rejects.toThrow(/unknown job dropAllGrants/);
    // A well-formed job for a grant that does not exist is harmless, not an error.
    await expect(runner.run(fakeJob('expireGrant', { grantId: randomUUID() }))).resolves.toBe('unchanged');
  });

  it('the real worker fails a bad job once, without retrying it', async () => {
    const job = await queue.add(
      'expireGrant',
      { grantId: 'nope' },
      { jobId: `bad-${randomUUID()}`, attempts: 5, backoff: { type: 'fixed', delay: 100 } },
    );
    const failed = await eventually(async () => {
      const state = await queue.getJobState(job.id!);
      return state === 'failed' ? queue.getJob(job.id!) : undefined;
    });
    expect(failed!.attemptsMade).toBe(1);
    expect(failed!.failedReason).toMatch(/invalid expireGrant payload/);
  });

  it('adding the same expiry job again leaves one job', async () => {
    const issued = await grant('15m');
    const jobId = `expire-${issued.id}`;
    const [original] = await jobsWithId(queue, jobId);
    expect(original).toBeDefined();
    expect(await queue.getJobState(jobId)).toBe('delayed');

    const queues = broker.app.get(QueueService);
    await queues.add('expireGrant', { grantId: issued.id }, { runAt: new Date(issued.expiresAt) });
    await queues.add('expireGrant', { grantId: issued.id }, { runAt: new Date(Date.now() + 1000) });

    const jobs = await jobsWithId(queue, jobId);
    expect(jobs).toHaveLength(1);
    expect(jobs[0].timestamp).toBe(original.timestamp);
    expect(jobs[0].delay).toBe(original.delay);
    expect(jobs[0].data).toEqual({ grantId: issued.id });
    expect(await queue.getJobState(jobId)).toBe('delayed');
  });
});
