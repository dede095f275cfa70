/**
 * npm run audit:verify -- --checkpoints <file> [--key <public key file>] [--json]
 *
 * Proves the audit chain in the database (DATABASE_URL) against checkpoints an audit sink wrote
 * elsewhere. The key is GATEHOUSE_AUDIT_SIGNING_KEY's public half, or --key (a JWKS such as
 * /.well-known/gatehouse-audit-key saved at setup, a JWK, or a PEM public key).
 * Exit code: 0 proven; 1 not proven (a rewritten or truncated chain, a bad signature, no checkpoint
 * signed with the key); 2 the command itself could not run (arguments, files, configuration).
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '@gatehouse/core/config/config';
import { PrismaService } from '@gatehouse/core/db/prisma.service';
import {
  CheckpointKey,
  checkpointKeyOfPrivate,
  checkpointKeysFrom,
  CheckpointProof,
  proveAgainstCheckpoints,
  readExportedCheckpoints,
} from '@gatehouse/core/audit/checkpoint-proof';

const USAGE = 'usage: npm run audit:verify -- --checkpoints <exported file.jsonl> [--key <public key file>] [--json]';

class UsageError extends Error {}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { checkpoints: { type: 'string' }, key: { type: 'string', multiple: true }, json: { type: 'boolean' }, help: { type: 'boolean' } },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.checkpoints) throw new UsageError(`--checkpoints is required\n${USAGE}`);
  const config = loadConfig();
  const { keys, keySource } = loadKeys(values.key ?? [], config.auditSigningKey);

  const exported = await readExportedCheckpoints(values.checkpoints).catch((error: Error) => {
    throw new UsageError(`cannot read ${values.checkpoints}: ${error.message}`);
  });
  const prisma = new PrismaService(config);
  let proof: CheckpointProof;
  try {
    proof = await proveAgainstCheckpoints(prisma, exported.checkpoints, keys);
  } finally {
    await prisma.$disconnect();
    await prisma.pool.end().catch(() => undefined);
  }

  if (values.json) {
    console.log(
      JSON.stringify(
        { file: { path: values.checkpoints, lines: exported.lines, unreadable: exported.unreadable }, keys: keys.map((k) => k.kid), ...proof },
        null,
        2,
      ),
    );
  } else {
    const { checkpoints, chain } = proof;
    console.log(
      `Checkpoints file: ${values.checkpoints}: ${exported.lines} lines, ${checkpoints.total} checkpoint(s), ${exported.unreadable} unreadable line(s)`,
    );
    console.log(`Key: ${keys.map((k) => k.kid).join(', ')} (${keySource})`);
    console.log(
      `Signatures: ${checkpoints.verified} verified with the key, ${checkpoints.otherKeys} signed by another key (compared, but no proof by themselves), ${checkpoints.invalidSignatures.length} invalid`,
    );
    console.log(
      chain.brokenAt
        ? `Database chain: breaks at seq ${chain.brokenAt} (${chain.reason}); ${chain.checked} event(s) before it recomputed`
        : `Database chain: ${chain.checked} event(s) recomputed from seq 1, intact, head seq ${chain.head ?? 'none'}`,
    );
    console.log(`Checkpoints matching the database: ${proof.matched} of ${checkpoints.total}`);
    for (const problem of proof.problems.slice(0, 20)) console.log(`  x seq ${problem.seq}: ${problem.reason}`);
    if (proof.problems.length > 20) console.log(`  ... and ${proof.problems.length - 20} more`);
    console.log(proof.ok ? `PROVEN: ${proof.verdict}` : `NOT PROVEN: ${proof.verdict}`);
  }
  return proof.ok ? 0 : 1;
}

function loadKeys(files: string[], configured: string | undefined): { keys: CheckpointKey[]; keySource: string } {
  if (files.length > 0) {
    const keys = files.flatMap((file) => {
      try {
        return checkpointKeysFrom(readFileSync(file, 'utf8'));
      } catch (error) {
        // The parser's own words may quote the file; the file may be a private key given by mistake.
        throw new UsageError(
          `${file} holds no Ed25519 public key (a JWKS, a JWK or a PEM public key)${error instanceof SyntaxError ? '' : `: ${(error as Error).message}`}`,
        );
      }
    });
    return { keys, keySource: `from ${files.join(', ')}` };
  }
  if (configured) return { keys: [checkpointKeyOfPrivate(configured)], keySource: 'the public half of GATEHOUSE_AUDIT_SIGNING_KEY' };
  throw new UsageError(`no key: pass --key <public key file>, or set GATEHOUSE_AUDIT_SIGNING_KEY\n${USAGE}`);
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError || error instanceof ConfigError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`audit:verify: ${(error as Error).message}`);
    } else {
      console.error('audit:verify: could not run.', error);
    }
    process.exit(2);
  },
);
