import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, CompactSign, compactVerify, exportJWK, generateKeyPair, JWK } from 'jose';
import { Config, hashEvent, PrismaService } from '@gatehouse/core';
import { Broker, call, eventually, registerAgent, startBroker, TestAgent } from '../support/broker';
import { createScratchDatabase } from '../support/database';
import { typescriptEntry } from '../support/register';
import { checkpointEveryPass, GENESIS, jsonLines, sealedHead, someActivity, startExportingBroker } from '../support/audit-export';

// The last test rewrites the trail, so this file has a scratch database of its own.
jest.setTimeout(120_000);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a TypeScript entry point of this repository as its own process, with only `env` (and PATH). */
function run(entry: string, args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...typescriptEntry(entry), ...args],
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

const auditVerify = (args: string[], env: Record<string, string>) => run('scripts/audit-verify.ts', args, env);

describe('checkpoints signed with a key held outside the database, and audit:verify', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const auditKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  let dir: string;
  let file: string;
  let scratch: { url: string; drop: () => Promise<void> };
  let broker: Broker;
  let agent: TestAgent;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-audit-verify-'));
    file = join(dir, 'audit.jsonl');
    scratch = await createScratchDatabase();
    env = {
      DATABASE_URL: scratch.url,
      GATEHOUSE_REDIS_PREFIX: `${process.env.GATEHOUSE_REDIS_PREFIX}_audit_verify`,
      GATEHOUSE_AUDIT_SINKS: `file:${file}`,
      GATEHOUSE_AUDIT_SIGNING_KEY: auditKeyPem,
    };
    broker = await startExportingBroker(env);
    checkpointEveryPass(broker);
    agent = await registerAgent(broker);
    await someActivity(broker, agent);
    await sealedHead(broker);
    await someActivity(broker, agent);
    const head = await sealedHead(broker);
    await eventually(async () => jsonLines(file).some((r) => r.record === 'checkpoint' && Number(r.seq) === head));
  }, 120_000);

  afterAll(async () => {
    await broker?.close();
    await scratch?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('signs checkpoints with the audit key (kid = its JWK thumbprint), publishes its public key, and never stores it', async () => {
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const published = await call(`${broker.url}/.well-known/gatehouse-audit-key`, 'GET');
    expect(published).toMatchObject({ status: 200, body: { keys: [{ kty: 'OKP', crv: 'Ed25519', x: publicJwk.x, kid, alg: 'EdDSA', use: 'sig' }] } });
    expect(published.body.keys[0]).not.toHaveProperty('d');

    const lines = jsonLines(file);
    const checkpoints = lines.filter((r) => r.record === 'checkpoint');
    expect(checkpoints.length).toBeGreaterThanOrEqual(2);
    for (const checkpoint of checkpoints) {
      expect(checkpoint.kid).toBe(kid);
      const { payload, protectedHeader } = await compactVerify(checkpoint.signature, publicKey, { algorithms: ['EdDSA'] });
      expect(protectedHeader).toEqual({ alg: 'EdDSA', kid, typ: 'gatehouse-checkpoint+jws' });
      expect(JSON.parse(new TextDecoder().decode(payload))).toEqual({ seq: checkpoint.seq, hash: checkpoint.hash, at: checkpoint.createdAt });
      expect(lines[lines.indexOf(checkpoint) - 1]).toMatchObject({ record: 'event', seq: checkpoint.seq, hash: checkpoint.hash });
    }

    const stored = await broker.prisma.auditCheckpoint.findMany();
    expect(stored.length).toBeGreaterThanOrEqual(checkpoints.length);
    expect(stored.every((c) => c.kid === kid)).toBe(true);
    expect(await broker.prisma.signingKey.count({ where: { kid } })).toBe(0);
    const d = (privateKey.export({ format: 'jwk' }) as { d: string }).d;
    const [{ n }] = await broker.prisma.$queryRaw<{ n: bigint }[]>`
      SELECT (SELECT count(*) FROM signing_keys WHERE private_jwk::text LIKE '%' || ${d} || '%')
           + (SELECT count(*) FROM audit_events WHERE data::text LIKE '%' || ${d} || '%') AS n`;
    expect(n).toBe(0n);

    const verify = await broker.admin('GET', '/v1/admin/audit/verify');
    expect(verify.body).toMatchObject({ valid: true, auditKey: { kid, checkpoints: stored.length } });
  });

  it('audit:verify proves an untouched chain, with the key from GATEHOUSE_AUDIT_SIGNING_KEY or the published JWKS', async () => {
    const fromEnv = await auditVerify(['--checkpoints', file], { DATABASE_URL: scratch.url, GATEHOUSE_AUDIT_SIGNING_KEY: auditKeyPem });
    expect(fromEnv.stderr).toBe('');
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.stdout).toMatch(/Database chain: \d+ event\(s\) recomputed from seq 1, intact/);
    expect(fromEnv.stdout).toMatch(/^PROVEN: the database chain up to seq \d+/m);

    const jwks = join(dir, 'gatehouse-audit-key.json');
    writeFileSync(jwks, JSON.stringify((await call(`${broker.url}/.well-known/gatehouse-audit-key`, 'GET')).body));
    const fromFile = await auditVerify(['--checkpoints', file, '--key', jwks, '--json'], { DATABASE_URL: scratch.url });
    expect(fromFile.code).toBe(0);
    const proof = JSON.parse(fromFile.stdout);
    const exported = jsonLines(file).filter((r) => r.record === 'checkpoint');
    expect(proof).toMatchObject({
      ok: true,
      matched: exported.length,
      provenUpTo: exported[exported.length - 1].seq,
      problems: [],
      checkpoints: { total: exported.length, verified: exported.length, otherKeys: 0, invalidSignatures: [] },
    });

    // Checkpoints signed by some other key prove nothing.
    const stranger = join(dir, 'stranger.pem');
    writeFileSync(stranger, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string);
    const unproven = await auditVerify(['--checkpoints', file, '--key', stranger], { DATABASE_URL: scratch.url });
    expect(unproven.code).toBe(1);
    expect(unproven.stdout).toMatch(/^NOT PROVEN: no checkpoint in the file is signed with the given key/m);
  });

  it('catches a chain rewritten in the database, re-hashed and re-signed with a new database key, which the database alone cannot', async () => {
    await broker.close();
    const config = Object.assign(new Config(), { databaseUrl: scratch.url, databasePoolSize: 2 });
    const prisma = new PrismaService(config);
    let rewrittenFrom: bigint;
    try {
      rewrittenFrom = await rewriteTrail(prisma, agent.id);
    } finally {
      await prisma.$disconnect();
      await prisma.pool.end();
    }

    // The broker's own verification, run by someone who could write the database, is satisfied.
    const fooled = await startBroker({ DATABASE_URL: scratch.url, GATEHOUSE_REDIS_PREFIX: `${env.GATEHOUSE_REDIS_PREFIX}_after` });
    try {
      const verify = await fooled.admin('GET', '/v1/admin/audit/verify');
      expect(verify.body).toMatchObject({ valid: true, staleUnsealed: 0 });
      expect(verify.body.checkpoints).toBeGreaterThanOrEqual(2);
    } finally {
      await fooled.close();
    }

    const exported = jsonLines(file).filter((r) => r.record === 'checkpoint');
    const firstAfter = exported.find((c) => BigInt(c.seq) >= rewrittenFrom)!;
    const result = await auditVerify(['--checkpoints', file], { DATABASE_URL: scratch.url, GATEHOUSE_AUDIT_SIGNING_KEY: auditKeyPem });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/Database chain: \d+ event\(s\) recomputed from seq 1, intact/);
    expect(result.stdout).toContain(`NOT PROVEN: seq ${firstAfter.seq}: event ${firstAfter.seq} in the database is not the one the checkpoint of`);
    expect(result.stdout).toMatch(/the trail was rewritten at or before seq/);
    // Checkpoints before the rewrite still match.
    const matching = exported.filter((c) => BigInt(c.seq) < rewrittenFrom).length;
    expect(result.stdout).toContain(`Checkpoints matching the database: ${matching} of ${exported.length}`);
  });

  it('bad audit configuration stops the worker from starting, naming the variable', async () => {
    const [sinks, key] = await Promise.all([
      run('apps/worker/src/main.ts', [], { DATABASE_URL: scratch.url, GATEHOUSE_AUDIT_SINKS: 'ftp://files.example/audit.jsonl' }),
      run('apps/worker/src/main.ts', [], { DATABASE_URL: scratch.url, GATEHOUSE_AUDIT_SIGNING_KEY: 'not-a-key' }),
    ]);
    expect(sinks.code).toBe(1);
    expect(sinks.stderr).toMatch(/cannot start\. Invalid configuration:\s+GATEHOUSE_AUDIT_SINKS: ftp: sinks are not supported/);
    expect(key.code).toBe(1);
    expect(key.stderr).toMatch(/cannot start\. Invalid configuration:\s+GATEHOUSE_AUDIT_SIGNING_KEY: not a private key/);
  });
});

/**
 * What an attacker with write access to the database does: changes one event (the agent's first
 * grant is now said to be issued by someone else), recomputes every hash after it so the chain is
 * consistent again, adds a broker key of their own and re-signs every stored checkpoint with it.
 * Returns the seq of the changed event.
 */
async function rewriteTrail(prisma: PrismaService, agentId: string): Promise<bigint> {
  const target = await prisma.auditEvent.findFirstOrThrow({ where: { type: 'grant.issued', agentId }, orderBy: { seq: 'asc' } });
  await prisma.auditEvent.update({ where: { id: target.id }, data: { actor: 'admin:mallory' } });
  const rows = await prisma.auditEvent.findMany({ where: { seq: { not: null } }, orderBy: { seq: 'asc' } });
  let prevHash = GENESIS;
  const hashAt = new Map<bigint, string>();
  for (const row of rows) {
    const hash = hashEvent(prevHash, { ...row, seq: row.seq! });
    if (row.seq! >= target.seq!) await prisma.auditEvent.update({ where: { id: row.id }, data: { prevHash, hash } });
    hashAt.set(row.seq!, hash);
    prevHash = hash;
  }
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), alg: 'EdDSA', use: 'sig' } as JWK;
  const kid = await calculateJwkThumbprint(publicJwk);
  await prisma.signingKey.create({
    data: {
      kid,
      alg: 'EdDSA',
      publicJwk: { ...publicJwk, kid },
      privateJwk: { ...(await exportJWK(privateKey)), kid },
      source: 'generated',
      retiredAt: new Date(),
    },
  });
  for (const checkpoint of await prisma.auditCheckpoint.findMany()) {
    const hash = hashAt.get(checkpoint.seq)!;
    const payload = { seq: checkpoint.seq.toString(), hash, at: checkpoint.createdAt.toISOString() };
    const signature = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'gatehouse-checkpoint+jws' })
      .sign(privateKey);
    await prisma.auditCheckpoint.update({ where: { seq: checkpoint.seq }, data: { hash, kid, signature } });
  }
  return target.seq!;
}
