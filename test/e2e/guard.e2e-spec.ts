import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Controller, Get, Module, Req } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import express from 'express';
import { base64url, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { KeyService } from '@gatehouse/core';
import { createGrantVerifier, GrantError, GrantErrorCode, GrantVerifier, projectRow, requireGrant, VerifiedGrant } from '@gatehouse/guard';
import { Broker, call, INTROSPECTION_TOKEN, startBroker } from '../support/broker';
import { LOW_RISK, nowSeconds, sleep } from '../support/flows';
import { GRANT_VERIFIER, GrantGuard, RequireGrant } from '@gatehouse/guard/nest';
import { sdkAgent } from '../support/sdk';

describe('guard against real and forged grant tokens', () => {
  let broker: Broker;
  let verifier: GrantVerifier;
  let token: string;
  let grantId: string;
  let kid: string;
  let claims: Record<string, unknown>;

  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error('the token was accepted');
      },
      (e: unknown) => e as GrantError,
    );
  const part = (value: unknown) => base64url.encode(JSON.stringify(value));

  beforeAll(async () => {
    broker = await startBroker();
    verifier = createGrantVerifier({ issuer: broker.url, audience: 'crm-api' });
    const agent = await sdkAgent(broker);
    const result = await agent.requestAccess({ ...LOW_RISK, columns: ['id', 'name'] });
    if (result.status !== 'approved') throw new Error('expected approved');
    token = result.grant.token;
    grantId = result.grant.id;
    kid = decodeProtectedHeader(token).kid!;
    claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  });
  afterAll(() => broker?.close());

  /** Signs `claims` with the broker's own key: only the check under test can refuse it. */
  const brokerSigned = (overrides: Record<string, unknown>, typ = 'at+jwt') =>
    broker.app.get(KeyService).signJwt({ ...claims, ...overrides }, kid, typ);

  it('accepts the real token and exposes its grant', async () => {
    const grant = await verifier.verify(token);
    expect(grant).toMatchObject({
      id: grantId,
      scope: ['crm.customers:read'],
      authorizationDetails: [{ type: 'gatehouse_data', identifier: 'crm.customers', actions: ['read'], columns: ['id', 'name'] }],
    });
    expect(grant.expiresAt.getTime()).toBeGreaterThan(Date.now());
  });

  it('refuses alg none', async () => {
    const forged = `${part({ alg: 'none', typ: 'at+jwt', kid })}.${part(claims)}.`;
    const e = await refusal(verifier.verify(forged));
    expect(e).toBeInstanceOf(GrantError);
    expect({ code: e.code, status: e.status }).toEqual({ code: GrantErrorCode.TOKEN_INVALID, status: 401 });
  });

  it('refuses HS256 signed with the public key (as raw bytes and as the JWK text)', async () => {
    const jwks = (await call(`${broker.url}/.well-known/jwks.json`, 'GET')).body.keys as { kid: string; x: string }[];
    const jwk = jwks.find((k) => k.kid === kid)!;
    for (const secret of [base64url.decode(jwk.x), new TextEncoder().encode(JSON.stringify(jwk))]) {
      const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid }).sign(secret);
      expect((await refusal(verifier.verify(forged))).code).toBe(GrantErrorCode.TOKEN_INVALID);
    }
  });

  it('refuses a broker-signed token for another audience', async () => {
    const e = await refusal(verifier.verify(await brokerSigned({ aud: 'billing-api' })));
    expect(e.code).toBe(GrantErrorCode.TOKEN_INVALID);
    expect(e.message).toMatch(/aud/);
  });

  it('refuses a broker-signed token of another typ, or another issuer', async () => {
    expect((await refusal(verifier.verify(await brokerSigned({}, 'JWT')))).code).toBe(GrantErrorCode.TOKEN_INVALID);
    expect((await refusal(verifier.verify(await brokerSigned({ iss: 'https://evil.example' })))).code).toBe(GrantErrorCode.TOKEN_INVALID);
  });

  it('refuses an expired token beyond the 30 s skew, and accepts one inside it', async () => {
    const expired = await brokerSigned({ iat: nowSeconds() - 600, nbf: nowSeconds() - 600, exp: nowSeconds() - 31 });
    expect((await refusal(verifier.verify(expired))).code).toBe(GrantErrorCode.TOKEN_EXPIRED);
    const justExpired = await brokerSigned({ exp: nowSeconds() - 5 });
    await expect(verifier.verify(justExpired)).resolves.toMatchObject({ id: grantId });
  });

  it('refuses an unknown kid, refetching the JWKS at most once per cooldown', async () => {
    let fetches = 0;
    const proxy: Server = createServer(async (_req, res) => {
      fetches++;
      const upstream = await fetch(`${broker.url}/.well-known/jwks.json`);
      res.setHeader('content-type', 'application/json');
      res.end(await upstream.text());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const counted = createGrantVerifier({
        issuer: broker.url,
        audience: 'crm-api',
        jwksCooldownMs: 300,
        jwksUri: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/jwks.json`,
      });
      await counted.verify(token);
      expect(fetches).toBe(1);
      const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      const unknownKid = (i: number) => new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: `unknown-${i}` }).sign(privateKey);
      await sleep(350); // past the cooldown
      for (let i = 0; i < 5; i++) {
        expect((await refusal(counted.verify(await unknownKid(i)))).code).toBe(GrantErrorCode.TOKEN_INVALID);
      }
      expect(fetches).toBe(2); // one refetch for the first unknown kid; the cooldown holds back the other four
      await counted.verify(token); // known kid: from the cache
      expect(fetches).toBe(2);
      await sleep(350);
      expect((await refusal(counted.verify(await unknownKid(9)))).code).toBe(GrantErrorCode.TOKEN_INVALID);
      expect(fetches).toBe(3);
      // A token signed by a stranger's key under the broker's kid fails on the signature.
      const stolenKid = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid }).sign(privateKey);
      expect((await refusal(counted.verify(stolenKid))).code).toBe(GrantErrorCode.TOKEN_INVALID);
    } finally {
      proxy.close();
    }
  });

  it('answers 503 VERIFIER_UNAVAILABLE when the JWKS cannot be fetched, and never accepts the token', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const down = createGrantVerifier({ issuer: broker.url, audience: 'crm-api', jwksUri: `http://127.0.0.1:${port}/jwks.json` });
    const e = await refusal(down.verify(token));
    expect({ code: e.code, status: e.status }).toEqual({ code: GrantErrorCode.VERIFIER_UNAVAILABLE, status: 503 });
  });

  it('refuses a tampered payload (columns widened to ssn, signature kept)', async () => {
    const [header, , signature] = token.split('.');
    const widened = {
      ...claims,
      authorization_details: [{ type: 'gatehouse_data', identifier: 'crm.customers', actions: ['read'], columns: ['id', 'name', 'ssn'] }],
    };
    const e = await refusal(verifier.verify(`${header}.${part(widened)}.${signature}`));
    expect(e.code).toBe(GrantErrorCode.TOKEN_INVALID);
  });

  it('a revoked grant still verifies offline, and is refused with introspection', async () => {
    const agent = await sdkAgent(broker);
    const result = await agent.requestAccess(LOW_RISK);
    if (result.status !== 'approved') throw new Error('expected approved');
    const introspecting = createGrantVerifier({
      issuer: broker.url,
      audience: 'crm-api',
      introspection: { url: `${broker.url}/v1/introspect`, token: INTROSPECTION_TOKEN, cacheMs: 300 },
    });
    await expect(introspecting.verify(result.grant.token)).resolves.toMatchObject({ id: result.grant.id });

    const revoked = await broker.admin('POST', `/v1/admin/grants/${result.grant.id}/revoke`, { reason: 'guard test' });
    expect(revoked.status).toBe(200);
    await expect(verifier.verify(result.grant.token)).resolves.toMatchObject({ id: result.grant.id });
    await sleep(350); // past the introspection cache
    const e = await refusal(introspecting.verify(result.grant.token));
    expect({ code: e.code, status: e.status }).toEqual({ code: GrantErrorCode.TOKEN_INACTIVE, status: 401 });
  });

  it('introspection with a bad credential fails closed (503), it never lets the token through', async () => {
    const wrongCredential = createGrantVerifier({
      issuer: broker.url,
      audience: 'crm-api',
      introspection: { url: `${broker.url}/v1/introspect`, token: 'not-a-valid-credential-000' },
    });
    const e = await refusal(wrongCredential.verify(token));
    expect({ code: e.code, status: e.status }).toEqual({ code: GrantErrorCode.VERIFIER_UNAVAILABLE, status: 503 });
  });

  it('projectRow keeps only the granted columns of the real grant', async () => {
    const grant = await verifier.verify(token);
    const row = { id: 7, name: 'Ada', company: 'Analytical', email: 'ada@example.com', ssn: '123-45-6789' };
    expect(projectRow(row, grant, 'crm.customers')).toEqual({ id: 7, name: 'Ada' });
    expect(projectRow(row, grant)).toEqual({ id: 7, name: 'Ada' });
    expect(projectRow(row, grant, 'billing.invoices')).toEqual({});
  });

  it('requireGrant middleware: 401 without a token, 403 outside the scope, 200 inside, in the API error shape', async () => {
    const app = express();
    app.get('/customers', requireGrant(verifier, { resource: 'crm.customers', action: 'read' }), (req, res) => {
      const grant = (req as unknown as { grant: VerifiedGrant }).grant;
      res.json(projectRow({ id: 1, name: 'Ada', email: 'ada@example.com' }, grant, 'crm.customers'));
    });
    app.delete('/customers', requireGrant(verifier, { resource: 'crm.customers', action: 'write' }), (_req, res) => {
      res.json({ deleted: true });
    });
    const server = await new Promise<Server>((r) => {
      const s = app.listen(0, '127.0.0.1', () => r(s));
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const none = await call(`${base}/customers`, 'GET');
      expect(none.status).toBe(401);
      expect(none.body.error).toMatchObject({ code: 'TOKEN_MISSING', details: [] });
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      const forged = await call(`${base}/customers`, 'GET', { token: `${token.slice(0, -4)}AAAA` });
      expect(forged.status).toBe(401);
      expect(forged.body.error.code).toBe('TOKEN_INVALID');
      const write = await call(`${base}/customers`, 'DELETE', { token });
      expect(write.status).toBe(403);
      expect(write.body.error.code).toBe('INSUFFICIENT_SCOPE');
      const read = await call(`${base}/customers`, 'GET', { token });
      expect(read.status).toBe(200);
      expect(read.body).toEqual({ id: 1, name: 'Ada' });
    } finally {
      server.close();
    }
  });

  it('Nest GrantGuard: @RequireGrant routes need a grant in scope; unmarked routes are left alone', async () => {
    @Controller('customers')
    class CustomersController {
      @Get()
      @RequireGrant('crm.customers', 'read')
      list(@Req() req: { grant: VerifiedGrant }) {
        return [projectRow({ id: 1, name: 'Ada', ssn: '078-05-1120' }, req.grant, 'crm.customers')];
      }

      @Get('invoices')
      @RequireGrant('billing.invoices', 'read')
      invoices() {
        return [];
      }

      @Get('health')
      health() {
        return { ok: true };
      }
    }
    @Module({
      controllers: [CustomersController],
      providers: [
        { provide: GRANT_VERIFIER, useValue: verifier },
        { provide: APP_GUARD, useClass: GrantGuard },
      ],
    })
    class CrmModule {}
    const app = await NestFactory.create(CrmModule, new FastifyAdapter(), { logger: false });
    await app.listen(0, '127.0.0.1');
    const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    try {
      expect((await call(`${base}/customers/health`, 'GET')).status).toBe(200);
      const none = await call(`${base}/customers`, 'GET');
      expect(none.status).toBe(401);
      expect(none.body).toEqual({ error: { code: 'TOKEN_MISSING', message: expect.any(String), details: [] } });
      const expired = await call(`${base}/customers`, 'GET', { token: await brokerSigned({ exp: nowSeconds() - 60 }) });
      expect({ status: expired.status, code: expired.body.error.code }).toEqual({ status: 401, code: 'TOKEN_EXPIRED' });
      expect(expired.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
      const other = await call(`${base}/customers/invoices`, 'GET', { token });
      expect({ status: other.status, code: other.body.error.code }).toEqual({ status: 403, code: 'INSUFFICIENT_SCOPE' });
      const ok = await call(`${base}/customers`, 'GET', { token });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual([{ id: 1, name: 'Ada' }]);
    } finally {
      await app.close();
    }
  });
});
