#!/usr/bin/env node
// The bare floor of forward-auth: node:http and node:crypto, nothing else. Verifies the same
// EdDSA grant token (signature, typ, iss, exp), looks its jti up in a Set of ended grants, and
// answers 200 with a header, or 401. No policy, no path matching, no framework, no logging.
// Started by bench/authz.js with: PORT, FLOOR_PUBLIC_JWK, FLOOR_ISSUER.
const { createServer } = require('node:http');
const { createPublicKey, verify } = require('node:crypto');

const key = createPublicKey({ key: JSON.parse(process.env.FLOOR_PUBLIC_JWK), format: 'jwk' });
const issuer = process.env.FLOOR_ISSUER;
const ended = new Set(Array.from({ length: 1000 }, (_, i) => `ended-${i}`));

function check(authorization) {
  const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
  if (!token) return false;
  const [header, payload, signature] = token.split('.');
  if (!signature || !verify(null, Buffer.from(`${header}.${payload}`), key, Buffer.from(signature, 'base64url'))) return false;
  const h = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  return h.typ === 'at+jwt' && claims.iss === issuer && claims.exp * 1000 > Date.now() && !ended.has(claims.jti);
}

const server = createServer((req, res) => {
  if (check(req.headers.authorization)) res.writeHead(200, { 'x-gatehouse-grant': 'floor' }).end();
  else res.writeHead(401).end();
});
server.keepAliveTimeout = 60_000;
process.on('SIGTERM', () => server.close(() => process.exit(0)));
server.listen(Number(process.env.PORT), '127.0.0.1');
