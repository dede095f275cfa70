#!/usr/bin/env node
// Generates an agent's Ed25519 key pair (what @gatehouse/sdk's generateAgentKeyPair does):
// the private JWK goes to a file readable only by you, the public JWK to stdout, ready to register.
//   npm run agent-keygen -- [path of the private key file, default ./agent-key.json]
const { writeFileSync, existsSync } = require('node:fs');
const { resolve } = require('node:path');

async function main() {
  const { generateKeyPair, exportJWK } = await import('jose');
  const file = resolve(process.argv[2] || 'agent-key.json');
  if (existsSync(file)) {
    console.error(`agent-keygen: ${file} exists; refusing to overwrite a key. Name another file.`);
    process.exit(1);
  }
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  writeFileSync(file, `${JSON.stringify(await exportJWK(privateKey))}\n`, { mode: 0o600 });
  console.log(JSON.stringify(await exportJWK(publicKey)));
  console.error(`agent-keygen: private key written to ${file} (mode 600; keep it secret).`);
  console.error('Register the public JWK above: POST /v1/admin/agents {"name": "...", "publicJwk": <it>}');
}

main().catch((error) => {
  console.error(`agent-keygen: ${error.message}`);
  process.exit(1);
});
