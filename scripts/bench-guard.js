#!/usr/bin/env node
// Guard verifications per second vs raw node:crypto Ed25519 verification of the same token, in one
// run on one machine. Needs the built guard: `npm run bench:guard` builds it first.
const { createServer } = require('node:http');
const crypto = require('node:crypto');
const { resolve } = require('node:path');

const GUARD = resolve(__dirname, '../dist/demo/libs/guard/src');
const SECONDS = Number(process.env.BENCH_SECONDS || 3);

async function measure(name, fn) {
  for (let i = 0; i < 2000; i++) await fn(); // warm-up
  let n = 0;
  const start = process.hrtime.bigint();
  const until = start + BigInt(SECONDS * 1e9);
  while (process.hrtime.bigint() < until) {
    for (let i = 0; i < 200; i++) await fn();
    n += 200;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const rate = n / seconds;
  console.log(`${name.padEnd(44)} ${Math.round(rate).toLocaleString('en-US').padStart(9)} verifications/s  (${(1e6 / rate).toFixed(1)} µs each)`);
  return rate;
}

async function main() {
  const { createGrantVerifier } = require(GUARD);
  const { SignJWT, exportJWK, importJWK, jwtVerify } = await import('jose');
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'EdDSA', use: 'sig' };
  const jwks = createServer((_req, res) => res.end(JSON.stringify({ keys: [jwk] })));
  await new Promise((r) => jwks.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${jwks.address().port}`;
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({
    client_id: 'agent-1',
    scope: 'crm.customers:read',
    purpose: 'bench',
    req: crypto.randomUUID(),
    authorization_details: [{ type: 'gatehouse_data', identifier: 'crm.customers', actions: ['read'], columns: ['id', 'name', 'company'] }],
  })
    .setProtectedHeader({ alg: 'EdDSA', kid: 'bench', typ: 'at+jwt' })
    .setIssuer(issuer)
    .setSubject('alice')
    .setAudience('crm-api')
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + 3600)
    .setJti(crypto.randomUUID())
    .sign(privateKey);

  const verifier = createGrantVerifier({ issuer, audience: 'crm-api' });
  await verifier.verify(token); // fetches and caches the JWKS once
  const localKey = await importJWK(jwk, 'EdDSA');
  const [h, p, s] = token.split('.');
  const signed = Buffer.from(`${h}.${p}`);
  const signature = Buffer.from(s, 'base64url');
  if (!crypto.verify(null, signed, publicKey, signature)) throw new Error('raw verification failed');

  console.log(
    `node ${process.version}, ${require('node:os').cpus()[0].model}, ${require('node:os').cpus().length} cpus; ${SECONDS} s per line; token ${token.length} bytes`,
  );
  const raw = await measure('raw node:crypto.verify (Ed25519, sig only)', () => crypto.verify(null, signed, publicKey, signature));
  const jose = await measure('jose jwtVerify, local key, same checks', () =>
    jwtVerify(token, localKey, { issuer, audience: 'crm-api', algorithms: ['EdDSA'], typ: 'at+jwt', clockTolerance: 30 }),
  );
  const guard = await measure('guard verifier.verify (remote JWKS, cached)', () => verifier.verify(token));
  console.log(`guard / raw = ${(guard / raw).toFixed(2)}; jose / raw = ${(jose / raw).toFixed(2)}`);
  jwks.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
