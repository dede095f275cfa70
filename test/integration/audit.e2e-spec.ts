import { randomUUID } from 'node:crypto';
import { CompactSign, compactVerify, generateKeyPair } from 'jose';
import { Config } from '@gatehouse/core/config/config';
import { PrismaService } from '@gatehouse/core/db/prisma.service';
import { AuditSealer, AuditVerifier, CheckpointSigner, GENESIS_HASH, hashEvent } from '@gatehouse/core/audit';
import { createScratchDatabase } from '../support/database';

// These specs tamper with the trail, so they run in a scratch database of their own and start
// every test from an empty trail. Migrating the scratch database takes ~10 s with Prisma's wasm engine.
jest.setTimeout(30_000);

async function testSigner(): Promise<CheckpointSigner> {
  const { publicKey, privateKey } = await generateKeyPair('EdDSA');
  const kid = `audit-test-${randomUUID()}`;
  return {
    async sign(payload) {
      const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'EdDSA', kid }).sign(privateKey);
      return { kid, jws };
    },
    async verify(jws) {
      const { payload } = await compactVerify(jws, publicKey, { algorithms: ['EdDSA'] });
      return JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
    },
  };
}

function event(n: number, extra: { createdAt?: Date } = {}) {
  return {
    type: n % 2 ? 'request.submitted' : 'grant.issued',
    actor: n % 3 ? `agent:bot-${n}` : 'admin:alice',
    sourceIp: n % 4 ? '10.0.0.7' : null,
    requestId: randomUUID(),
    grantId: n % 2 ? null : randomUUID(),
    agentId: randomUUID(),
    data: { n, resource: 'warehouse/orders', actions: ['read'], note: 'käse €', nested: { z: 1, a: [1.5, null, true] } },
    ...extra,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('audit trail (sealer and verifier)', () => {
  let scratch: { url: string; drop: () => Promise<void> };
  let prisma: PrismaService;
  let other: PrismaService;
  let signer: CheckpointSigner;
  let sealer: AuditSealer;
  let verifier: AuditVerifier;

  const connect = (url: string) => new PrismaService(Object.assign(new Config(), { databaseUrl: url, databasePoolSize: 5 }));

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    prisma = connect(scratch.url);
    other = connect(scratch.url);
    signer = await testSigner();
    sealer = new AuditSealer(prisma, signer);
    verifier = new AuditVerifier(prisma, signer);
  }, 120_000);

  afterAll(async () => {
    await prisma?.$disconnect();
    await other?.$disconnect();
    await scratch?.drop();
  });

  beforeEach(async () => {
    await prisma.$executeRaw`TRUNCATE audit_events, audit_checkpoints RESTART IDENTITY`;
  });

  const insert = async (count: number, from = 1) => {
    await prisma.auditEvent.createMany({ data: Array.from({ length: count }, (_, i) => event(from + i)) });
  };
  const unsealed = () => prisma.auditEvent.count({ where: { seq: null } });
  const sealedRows = () => prisma.auditEvent.findMany({ where: { seq: { not: null } }, orderBy: { seq: 'asc' } });

  // The sealer waits for every older transaction in the cluster, including other test files'
  // transactions in other databases, so a pass may seal nothing for a moment: poll, don't assume.
  async function settle(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while ((await unsealed()) > 0) {
      if (Date.now() > deadline) throw new Error('events stayed unsealed for 10 s');
      if ((await sealer.sealAll()) === 0) await sleep(20);
    }
  }

  async function firstNonEmptyPass(options: { batchSize: number }) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const result = await sealer.sealOnce(options);
      if (result.sealed > 0 || Date.now() > deadline) return result;
      await sleep(20);
    }
  }

  it('seals appended events into a hash chain that verifies', async () => {
    await insert(25);

    const first = await firstNonEmptyPass({ batchSize: 10 });
    expect(first).toEqual({ sealed: 10, head: '10' });
    await settle();

    const rows = await sealedRows();
    expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 25 }, (_, i) => BigInt(i + 1)));
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 25 }, (_, i) => BigInt(i + 1)));
    let prevHash = GENESIS_HASH;
    for (const row of rows) {
      expect(row.prevHash).toBe(prevHash);
      expect(row.hash).toBe(hashEvent(prevHash, { ...row, seq: row.seq! }));
      expect(row.sealedAt).toBeInstanceOf(Date);
      prevHash = row.hash!;
    }

    const result = await verifier.verify();
    expect(result).toEqual({
      valid: true,
      checked: 25,
      head: { seq: '25', hash: rows[24].hash },
      unsealed: 0,
      staleUnsealed: 0,
      checkpoints: 1,
    });
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
  });

  it('reports an empty trail as valid', async () => {
    expect(await sealer.sealOnce()).toEqual({ sealed: 0, head: null });
    expect(await verifier.verify()).toEqual({ valid: true, checked: 0, head: null, unsealed: 0, staleUnsealed: 0, checkpoints: 0 });
  });

  it('signs a checkpoint of the head at most once per interval', async () => {
    const t0 = new Date('2030-01-01T00:00:00.000Z');
    const at = (ms: number) => new Date(t0.getTime() + ms);
    await insert(3);
    await settle();
    await prisma.auditCheckpoint.deleteMany();
    await insert(2, 4);
    await poll(() => sealer.sealOnce({ now: t0 }));
    await insert(2, 6);
    await poll(() => sealer.sealOnce({ now: at(30_000) }));
    await insert(2, 8);
    await poll(() => sealer.sealOnce({ now: at(61_000) }));

    const checkpoints = await prisma.auditCheckpoint.findMany({ orderBy: { seq: 'asc' } });
    const heads = await prisma.auditEvent.findMany({ where: { seq: { in: [5n, 9n] } }, orderBy: { seq: 'asc' } });
    expect(checkpoints.map((c) => [c.seq, c.hash, c.createdAt])).toEqual([
      [5n, heads[0].hash, t0],
      [9n, heads[1].hash, at(61_000)],
    ]);
    expect(await signer.verify(checkpoints[1].signature)).toEqual({ seq: '9', hash: heads[1].hash, at: at(61_000).toISOString() });
    expect(await verifier.verify()).toMatchObject({ valid: true, checked: 9, checkpoints: 2 });

    async function poll(pass: () => Promise<{ sealed: number }>) {
      const deadline = Date.now() + 10_000;
      while ((await pass()).sealed === 0 && Date.now() < deadline) await sleep(20);
    }
  });

  it('leaves events of a running transaction unsealed until it commits, then chains them in xid order', async () => {
    await insert(3, 1);
    const step = () => {
      let done!: () => void;
      const reached = new Promise<void>((resolve) => (done = resolve));
      return { reached, done };
    };
    const firstInsert = step();
    const goOn = step();
    // This transaction takes its xid with n=4, then writes n=5 after a later transaction has
    // committed n=6 and n=7: n=5 gets a higher id than those, but belongs before them.
    const transaction = other.$transaction(
      async (tx) => {
        await tx.auditEvent.create({ data: { ...event(4), type: 'slow.transaction' } });
        firstInsert.done();
        await goOn.reached;
        await tx.auditEvent.create({ data: { ...event(5), type: 'slow.transaction' } });
      },
      { timeout: 20_000 },
    );
    await firstInsert.reached;
    await insert(2, 6);

    await sealUntil(3);
    expect(await sealer.sealAll()).toBe(0);
    expect((await sealedRows()).map((r) => (r.data as { n: number }).n)).toEqual([1, 2, 3]);
    expect(await unsealed()).toBe(2); // n=6 and n=7 wait for the older, still open transaction

    goOn.done();
    await transaction;
    await settle();
    const rows = await sealedRows();
    expect(rows.map((r) => r.seq)).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n]);
    expect(rows.map((r) => (r.data as { n: number }).n)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(rows.map((r) => r.id)).toEqual([1n, 2n, 3n, 4n, 7n, 5n, 6n]);
    expect(await verifier.verify()).toMatchObject({ valid: true, checked: 7, head: { seq: '7' } });

    async function sealUntil(count: number) {
      const deadline = Date.now() + 10_000;
      while ((await prisma.auditEvent.count({ where: { seq: { not: null } } })) < count && Date.now() < deadline) {
        await sealer.sealAll();
        await sleep(20);
      }
    }
  });

  it('keeps one chain when two sealers race', async () => {
    await insert(400);
    const rivals = [new AuditSealer(prisma, signer), new AuditSealer(other, signer)];
    const results = await Promise.all(rivals.map((rival) => rival.sealOnce({ batchSize: 1000 })));

    await insert(600, 401);
    const deadline = Date.now() + 20_000;
    const drain = async (rival: AuditSealer) => {
      let sealed = 0;
      while ((await unsealed()) > 0 && Date.now() < deadline) sealed += (await rival.sealOnce({ batchSize: 25 })).sealed;
      return sealed;
    };
    const drained = await Promise.all(rivals.map(drain));
    expect(drained.every((sealed) => sealed > 0)).toBe(true); // they really took turns

    const total = results.reduce((sum, r) => sum + r.sealed, 0) + drained[0] + drained[1];
    expect(total).toBe(1000);
    const [stats] = await prisma.$queryRaw<{ n: bigint; distinct: bigint; max: bigint }[]>`
      SELECT count(*) AS n, count(DISTINCT seq) AS distinct, max(seq) AS max FROM audit_events WHERE seq IS NOT NULL`;
    expect(stats).toEqual({ n: 1000n, distinct: 1000n, max: 1000n });
    expect(await verifier.verify()).toMatchObject({ valid: true, checked: 1000, head: { seq: '1000' } });
  });

  describe('detects tampering', () => {
    beforeEach(async () => {
      await insert(6);
      await settle();
      expect(await verifier.verify()).toMatchObject({ valid: true, checked: 6 });
    });

    it('an edited row', async () => {
      await prisma.$executeRaw`UPDATE audit_events SET data = '{"n": 99}' WHERE seq = 3`;
      const result = await verifier.verify();
      expect(result).toMatchObject({ valid: false, checked: 2, head: { seq: '2' }, brokenAt: '3' });
      expect(result.reason).toMatch(/edited/);
    });

    it('a deleted row', async () => {
      await prisma.$executeRaw`DELETE FROM audit_events WHERE seq = 4`;
      const result = await verifier.verify();
      expect(result).toMatchObject({ valid: false, checked: 3, brokenAt: '4' });
      expect(result.reason).toMatch(/deleted/);
    });

    it('a row unsealed again (seq cleared), even after it is sealed anew at the end', async () => {
      await prisma.$executeRaw`UPDATE audit_events SET seq = NULL WHERE seq = 2`;
      await settle();
      expect(await verifier.verify()).toMatchObject({ valid: false, checked: 1, brokenAt: '2' });
    });

    it('two rows whose seq were swapped', async () => {
      await prisma.$transaction([
        prisma.$executeRaw`UPDATE audit_events SET seq = -1 WHERE seq = 2`,
        prisma.$executeRaw`UPDATE audit_events SET seq = 2 WHERE seq = 3`,
        prisma.$executeRaw`UPDATE audit_events SET seq = 3 WHERE seq = -1`,
      ]);
      const result = await verifier.verify();
      expect(result).toMatchObject({ valid: false, checked: 1, brokenAt: '2' });
      expect(result.reason).toMatch(/reordered/);
    });

    it('a tampered checkpoint signature', async () => {
      const [checkpoint] = await prisma.auditCheckpoint.findMany();
      const [header, payload, signature] = checkpoint.signature.split('.');
      const flipped = signature[10] === 'A' ? 'B' : 'A';
      const forged = [header, payload, signature.slice(0, 10) + flipped + signature.slice(11)].join('.');
      await prisma.auditCheckpoint.update({ where: { seq: checkpoint.seq }, data: { signature: forged } });

      const result = await verifier.verify();
      expect(result).toMatchObject({ valid: false, checked: 6, checkpoints: 0, brokenAt: checkpoint.seq.toString() });
      expect(result.reason).toMatch(/signature/);
    });

    it('a rewritten chain whose hashes were all recomputed, through its signed checkpoint', async () => {
      await prisma.$executeRaw`UPDATE audit_events SET actor = 'admin:mallory' WHERE seq = 2`;
      let prevHash = GENESIS_HASH;
      for (const row of await sealedRows()) {
        const hash = hashEvent(prevHash, { ...row, seq: row.seq! });
        await prisma.auditEvent.update({ where: { id: row.id }, data: { prevHash, hash } });
        prevHash = hash;
      }
      const result = await verifier.verify();
      expect(result).toMatchObject({ valid: false, checked: 6, brokenAt: '6' });
      expect(result.reason).toMatch(/rewritten/);
    });

    it('a truncated tail, through its signed checkpoint', async () => {
      await prisma.$executeRaw`DELETE FROM audit_events WHERE seq = 6`;
      const result = await verifier.verify();
      expect(result).toMatchObject({ valid: false, checked: 5, head: { seq: '5' }, brokenAt: '6' });
      expect(result.reason).toMatch(/truncated/);
    });
  });

  it('fails when an event stays unsealed longer than the grace period', async () => {
    await insert(2);
    await settle();
    await prisma.auditEvent.create({ data: event(3, { createdAt: new Date(Date.now() - 60_000) }) });
    await prisma.auditEvent.create({ data: event(4) });

    const result = await verifier.verify();
    expect(result).toMatchObject({ valid: false, checked: 2, unsealed: 2, staleUnsealed: 1 });
    expect(result.brokenAt).toBeUndefined();
    expect(result.reason).toMatch(/unsealed/);
    expect(await verifier.verify({ unsealedGraceMs: 120_000 })).toMatchObject({ valid: true, unsealed: 2, staleUnsealed: 0 });
    expect(await verifier.verify({ now: new Date(Date.now() + 3_600_000) })).toMatchObject({ valid: false, staleUnsealed: 2 });
  });

  // Not an assertion: AUDIT_BENCH=1 prints sealing and verification throughput.
  (process.env.AUDIT_BENCH ? it : it.skip)(
    'measures seal throughput',
    async () => {
      const count = Number(process.env.AUDIT_BENCH_EVENTS ?? 20_000);
      await prisma.$executeRaw`
      INSERT INTO audit_events (type, actor, source_ip, request_id, agent_id, data)
      SELECT 'request.submitted', 'agent:bench-' || (g % 50), '10.0.0.7', gen_random_uuid(), gen_random_uuid(),
             jsonb_build_object('n', g, 'resource', 'warehouse/orders', 'actions', jsonb_build_array('read'),
                                'reason', 'nightly report', 'risk', g % 100)
        FROM generate_series(1, ${count}::int) AS g`;
      await sleep(100);
      const started = process.hrtime.bigint();
      let passes = 0;
      while ((await unsealed()) > 0) {
        passes += (await sealer.sealOnce({ batchSize: 500 })).sealed > 0 ? 1 : 0;
      }
      const sealSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      const verifyStarted = process.hrtime.bigint();
      const result = await verifier.verify();
      const verifySeconds = Number(process.hrtime.bigint() - verifyStarted) / 1e9;
      expect(result).toMatchObject({ valid: true, checked: count });
      console.log(
        `sealed ${count} events in ${passes} passes of 500: ${sealSeconds.toFixed(2)} s, ${Math.round(count / sealSeconds)} events/s; ` +
          `verified in ${verifySeconds.toFixed(2)} s, ${Math.round(count / verifySeconds)} events/s`,
      );
    },
    300_000,
  );
});
