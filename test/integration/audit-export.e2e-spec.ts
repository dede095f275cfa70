import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, CompactSign, exportJWK, generateKeyPair } from 'jose';
import { Config } from '@gatehouse/core/config/config';
import { Database } from '@gatehouse/core/db/database';
import { PrismaService } from '@gatehouse/core/db/prisma.service';
import { SigningKeysRepository } from '@gatehouse/core/db/signing-keys.repository';
import { AgentsRepository } from '@gatehouse/core/db/agents.repository';
import type { KeyService } from '@gatehouse/core/keys/key.service';
import {
  AuditCheckpointSigner,
  AuditExportRepository,
  AuditSealer,
  AuditVerifier,
  ExportAuditTrail,
  ExportOutcome,
  parseAuditSink,
  readExportedCheckpoints,
} from '@gatehouse/core/audit';
import { createScratchDatabase } from '../support/database';
import { jsonLines, Receiver } from '../support/audit-export';

// The export and the checkpoint keys against Postgres, without a broker: two exporters racing for
// one sink, batches cut by size, and which keys a checkpoint may be signed with.
jest.setTimeout(60_000);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('audit export and checkpoint keys (Postgres)', () => {
  let scratch: { url: string; drop: () => Promise<void> };
  let prisma: PrismaService;
  let other: PrismaService;
  let dir: string;
  const auditKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

  const config = (overrides: Partial<Config> = {}) =>
    Object.assign(new Config(), { databaseUrl: scratch.url, databasePoolSize: 5, auditFormat: 'json', auditSinks: [], ...overrides });
  // The broker key service signs only when no audit key is set; these tests sign such checkpoints themselves.
  const noBrokerKeys = {} as KeyService;
  const signerFor = (db: PrismaService, withAuditKey: boolean) =>
    new AuditCheckpointSigner(
      config({ auditSigningKey: withAuditKey ? auditKey : undefined }),
      noBrokerKeys,
      new Database(db),
      new SigningKeysRepository(),
    );

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    prisma = new PrismaService(config());
    other = new PrismaService(config());
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-export-int-'));
  }, 120_000);

  afterAll(async () => {
    await prisma?.$disconnect();
    await other?.$disconnect();
    await scratch?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    await prisma.$executeRaw`TRUNCATE audit_events, audit_checkpoints, audit_export_cursors RESTART IDENTITY`;
  });

  async function sealed(count: number, sealer = new AuditSealer(prisma, signerFor(prisma, true))): Promise<void> {
    await prisma.auditEvent.createMany({
      data: Array.from({ length: count }, (_, i) => ({
        type: 'request.created',
        actor: `agent:${randomUUID()}`,
        data: { n: i + 1, reason: 'x'.repeat(200) },
      })),
    });
    // The sealer waits for every older transaction in the cluster (other test files' too): poll.
    const deadline = Date.now() + 15_000;
    while ((await prisma.auditEvent.count({ where: { seq: null } })) > 0) {
      if (Date.now() > deadline) throw new Error('events stayed unsealed');
      if ((await sealer.sealAll()) === 0) await sleep(20);
    }
  }

  it('two exporters racing for one sink send each seq once, in order (the advisory lock)', async () => {
    await sealed(600);
    const sink = parseAuditSink(`file:${join(dir, 'race.jsonl')}`);
    const exporters = [prisma, other].map((db) => {
      const exporter = new ExportAuditTrail(config({ auditSinks: [sink] }), db, new AuditExportRepository(), new AgentsRepository());
      exporter.batchSize = 50;
      return exporter;
    });
    const outcomes: ExportOutcome['status'][] = [];
    await Promise.all(
      exporters.map(async (exporter) => {
        for (;;) {
          const outcome = await exporter.execute(sink);
          outcomes.push(outcome.status);
          if (outcome.status === 'idle') return;
        }
      }),
    );
    const seqs = jsonLines(join(dir, 'race.jsonl'))
      .filter((r) => r.record === 'event')
      .map((r) => Number(r.seq));
    expect(seqs).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    expect(outcomes.filter((s) => s === 'delivered')).toHaveLength(12);
    expect(await prisma.auditExportCursor.findUnique({ where: { sink: sink.id } })).toMatchObject({ deliveredSeq: 600n, failures: 0 });
  });

  it('cuts a batch before it passes maxBatchBytes; the next pass goes on from there', async () => {
    await sealed(10);
    const sink = parseAuditSink(`file:${join(dir, 'small.jsonl')}`);
    const exporter = new ExportAuditTrail(config({ auditSinks: [sink] }), prisma, new AuditExportRepository(), new AgentsRepository());
    exporter.maxBatchBytes = 1500; // about three of these records
    const first = await exporter.execute(sink);
    expect(first).toMatchObject({ status: 'delivered', from: '1', more: true });
    const upTo = Number((first as { upTo: string }).upTo);
    expect(upTo).toBeGreaterThanOrEqual(2);
    expect(upTo).toBeLessThan(10);
    expect(await exporter.execute(sink)).toMatchObject({ status: 'delivered', from: String(upTo + 1) });
  });

  it('a file with a torn last line (a crash mid-write) gets the next batch on lines of its own', async () => {
    await sealed(4);
    const path = join(dir, 'torn.jsonl');
    writeFileSync(path, '{"record":"event","seq":"1","prev');
    const sink = parseAuditSink(`file:${path}`);
    const exporter = new ExportAuditTrail(config({ auditSinks: [sink] }), prisma, new AuditExportRepository(), new AgentsRepository());
    expect(await exporter.execute(sink)).toMatchObject({ status: 'delivered', upTo: '4' });
    const lines = readFileSync(path, 'utf8').split('\n');
    expect(lines[0]).toBe('{"record":"event","seq":"1","prev');
    const records = lines.slice(1, -1).map((line) => JSON.parse(line));
    expect(records.filter((r) => r.record === 'event').map((r) => r.seq)).toEqual(['1', '2', '3', '4']);
    const checkpoints = records.filter((r) => r.record === 'checkpoint').map((r) => ({ seq: r.seq }));
    expect(checkpoints.length).toBeGreaterThanOrEqual(1);
    expect(lines.at(-1)).toBe('');
    // What audit:verify reads: the torn fragment is counted, the checkpoints found.
    const read = await readExportedCheckpoints(path);
    expect(read).toMatchObject({ lines: records.length + 1, unreadable: 1, checkpoints });
  });

  it('a sink that keeps failing waits out its backoff, keeps its cursor, and says why', async () => {
    await sealed(3);
    const sink = parseAuditSink(`file:${join(dir, 'no-such-dir', 'audit.jsonl')}`);
    const exporter = new ExportAuditTrail(config({ auditSinks: [sink] }), prisma, new AuditExportRepository(), new AgentsRepository());
    exporter.retry = { firstDelayMs: 60_000, maxDelayMs: 600_000 };
    const failed = await exporter.execute(sink);
    expect(failed).toMatchObject({ status: 'failed', from: '1', failures: 1, error: expect.stringMatching(/ENOENT/) });
    expect(await exporter.execute(sink)).toEqual({ status: 'waiting', until: (failed as { retryAt: Date }).retryAt });
    // An hour later it is due again, and the second failure doubles the delay.
    const later = await exporter.execute(sink, new Date(Date.now() + 3_600_000));
    expect(later).toMatchObject({ status: 'failed', failures: 2 });
    const row = await prisma.auditExportCursor.findUniqueOrThrow({ where: { sink: sink.id } });
    expect(row).toMatchObject({ deliveredSeq: 0n, failures: 2, lastError: expect.stringMatching(/ENOENT/) });
    expect(row.retryAt!.getTime() - row.lastErrorAt!.getTime()).toBe(120_000);
  });

  // Not an assertion: AUDIT_BENCH=1 prints how fast a sealed backlog drains to each kind of sink.
  (process.env.AUDIT_BENCH ? it : it.skip)(
    'measures export throughput',
    async () => {
      const count = Number(process.env.AUDIT_BENCH_EVENTS ?? 20_000);
      await prisma.$executeRaw`
        INSERT INTO audit_events (type, actor, source_ip, request_id, agent_id, data)
        SELECT 'request.created', 'agent:bench-' || (g % 50), '10.0.0.7', gen_random_uuid(), gen_random_uuid(),
               jsonb_build_object('resource', 'crm.customers', 'actions', jsonb_build_array('read'),
                                  'columns', jsonb_build_array('id', 'name'), 'reason', 'nightly report', 'n', g)
          FROM generate_series(1, ${count}::int) AS g`;
      const sealer = new AuditSealer(prisma, signerFor(prisma, true));
      while ((await prisma.auditEvent.count({ where: { seq: null } })) > 0) if ((await sealer.sealAll()) === 0) await sleep(20);
      const collector = new Receiver();
      await collector.up();
      const drain = async (label: string, sinkText: string, format: 'json' | 'ocsf') => {
        const sink = parseAuditSink(sinkText);
        const exporter = new ExportAuditTrail(
          config({ auditSinks: [sink], auditFormat: format }),
          prisma,
          new AuditExportRepository(),
          new AgentsRepository(),
        );
        const started = process.hrtime.bigint();
        let passes = 0;
        while ((await exporter.execute(sink)).status === 'delivered') passes += 1;
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        console.log(`${label}: ${count} events in ${passes} batches, ${seconds.toFixed(2)} s, ${Math.round(count / seconds)} events/s`);
      };
      await drain('file, json', `file:${join(dir, 'bench.jsonl')}`, 'json');
      await drain('file, ocsf', `file:${join(dir, 'bench.ocsf.jsonl')}`, 'ocsf');
      await drain('webhook (local), json array', `${collector.url}/ingest`, 'json');
      await drain('webhook (local), splunk hec', `${collector.url}/services/collector`, 'json');
      await collector.down();
    },
    600_000,
  );

  describe('checkpoint keys', () => {
    async function brokerKey(retiredAt: Date | null) {
      const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
      const publicJwk = await exportJWK(publicKey);
      const kid = await calculateJwkThumbprint(publicJwk);
      await prisma.signingKey.create({
        data: {
          kid,
          alg: 'EdDSA',
          publicJwk: { ...publicJwk, kid },
          privateJwk: { ...(await exportJWK(privateKey)), kid },
          source: 'generated',
          retiredAt,
        },
      });
      return {
        kid,
        sign: async (payload: object) => ({
          kid,
          jws: await new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'EdDSA', kid }).sign(privateKey),
        }),
      };
    }

    it('checkpoints signed with the audit key verify, and count as its own', async () => {
      const signer = signerFor(prisma, true);
      await sealed(5, new AuditSealer(prisma, signer));
      const result = await new AuditVerifier(prisma, signer).verify();
      expect(result).toMatchObject({ valid: true, checked: 5, checkpoints: 1, auditKey: { kid: signer.externalKeyId, checkpoints: 1 } });
    });

    it('a checkpoint signed by a broker key retired long ago still verifies (its tokens are gone, the checkpoint stays)', async () => {
      const old = await brokerKey(new Date('2020-01-01T00:00:00Z'));
      const signer = signerFor(prisma, false);
      const sealer = new AuditSealer(prisma, { sign: old.sign, verify: (jws) => signer.verify(jws) });
      await sealed(4, sealer);
      expect(await new AuditVerifier(prisma, signer).verify()).toMatchObject({ valid: true, checked: 4, checkpoints: 1 });
      expect(await new AuditVerifier(prisma, signer).verify()).not.toHaveProperty('auditKey');
    });

    it('a database-key checkpoint after one signed with the audit key is a re-signing', async () => {
      const signer = signerFor(prisma, true);
      const sealer = new AuditSealer(prisma, signer);
      sealer.checkpointIntervalMs = 0;
      await sealed(3, sealer);
      await sealed(3, sealer);
      const [, second] = await prisma.auditCheckpoint.findMany({ orderBy: { seq: 'asc' } });
      const mallory = await brokerKey(null);
      const { jws } = await mallory.sign({ seq: second.seq.toString(), hash: second.hash, at: second.createdAt.toISOString() });
      await prisma.auditCheckpoint.update({ where: { seq: second.seq }, data: { kid: mallory.kid, signature: jws } });
      const result = await new AuditVerifier(prisma, signer).verify();
      expect(result).toMatchObject({ valid: false, brokenAt: second.seq.toString(), auditKey: { checkpoints: 1 } });
      expect(result.reason).toMatch(
        /a key kept in the database, after checkpoint 3 was signed with GATEHOUSE_AUDIT_SIGNING_KEY: checkpoints were re-signed/,
      );
    });

    it('a checkpoint signed by a key nobody knows does not verify', async () => {
      const signer = signerFor(prisma, false);
      const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      const stranger = {
        sign: async (payload: object) => ({
          kid: 'stranger',
          jws: await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
            .setProtectedHeader({ alg: 'EdDSA', kid: 'stranger' })
            .sign(privateKey),
        }),
        verify: (jws: string) => signer.verify(jws),
      };
      await sealed(2, new AuditSealer(prisma, stranger));
      const result = await new AuditVerifier(prisma, signer).verify();
      expect(result).toMatchObject({ valid: false, brokenAt: '2' });
      expect(result.reason).toMatch(/invalid signature/);
    });
  });
});
