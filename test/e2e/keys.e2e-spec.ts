import { generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, exportJWK, importPKCS8, jwtVerify } from 'jose';
import { ConfigError } from '@gatehouse/core';
import { Broker, INTROSPECTION_TOKEN, call, registerAgent, startBroker } from '../support/broker';
import { createScratchDatabase } from '../support/database';

// Rotation changes the broker key of a database: these run on one of their own.
describe('broker signing keys', () => {
  let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
  let broker: Broker;
  const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  let configuredKid: string;

  beforeAll(async () => {
    scratch = await createScratchDatabase();
    const { d: _d, ...publicJwk } = await exportJWK(await importPKCS8(pem, 'EdDSA', { extractable: true }));
    configuredKid = await calculateJwkThumbprint(publicJwk);
    broker = await startBroker({
      DATABASE_URL: scratch.url,
      GATEHOUSE_REDIS_PREFIX: `${process.env.GATEHOUSE_REDIS_PREFIX}_keys`,
      GATEHOUSE_SIGNING_KEY: pem,
    });
  }, 120_000);
  afterAll(async () => {
    await broker?.close();
    await scratch?.drop();
  });

  const jwks = async () => (await call(`${broker.url}/.well-known/jwks.json`, 'GET')).body as { keys: Record<string, unknown>[] };
  const grantToken = async () => {
    const agent = await registerAgent(broker);
    const res = await agent.call('POST', '/v1/access-requests', {
      resource: 'crm.customers',
      actions: ['read'],
      columns: ['id'],
      duration: '10m',
      reason: 'key test',
    });
    expect(res.body.status).toBe('approved');
    return res.body.grant.token as string;
  };

  it('signs with the configured key and publishes only its public half', async () => {
    const { keys } = await jwks();
    expect(keys.map((k) => k.kid)).toEqual([configuredKid]);
    expect(keys[0]).not.toHaveProperty('d');
    expect(decodeProtectedHeader(await grantToken()).kid).toBe(configuredKid);
  });

  it('rotates: new tokens use the new key, old tokens keep verifying and stay active', async () => {
    const before = await grantToken();
    const rotated = await broker.admin('POST', '/v1/admin/keys/rotate');
    expect(rotated.status).toBe(200);
    expect(rotated.body.kid).not.toBe(configuredKid);
    expect(rotated.body.previousKid).toBe(configuredKid);
    const audited = await broker.prisma.auditEvent.findFirst({ where: { type: 'key.rotated' }, orderBy: { id: 'desc' } });
    expect(audited).toMatchObject({ actor: 'admin:ops', data: { from: configuredKid, to: rotated.body.kid } });

    const set = await jwks();
    expect(set.keys.map((k) => k.kid).sort()).toEqual([configuredKid, rotated.body.kid].sort());
    const after = await grantToken();
    expect(decodeProtectedHeader(after).kid).toBe(rotated.body.kid);
    const verifyAgainst = createLocalJWKSet(set as never);
    for (const token of [before, after]) {
      await expect(
        jwtVerify(token, verifyAgainst, { issuer: broker.url, audience: 'crm-api', typ: 'at+jwt', algorithms: ['EdDSA'] }),
      ).resolves.toBeDefined();
      const introspection = await call(`${broker.url}/v1/introspect`, 'POST', { token: INTROSPECTION_TOKEN, body: { token } });
      expect(introspection.body.active).toBe(true);
    }
  });

  it('refuses to start with a signing key that is not an Ed25519 private key, naming the variable', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    for (const value of ['not a key', rsa]) {
      const start = startBroker({ DATABASE_URL: scratch.url, GATEHOUSE_SIGNING_KEY: value });
      await expect(start).rejects.toBeInstanceOf(ConfigError);
      await expect(start).rejects.toThrow(/GATEHOUSE_SIGNING_KEY/);
    }
  });
});
