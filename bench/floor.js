#!/usr/bin/env node
// The bare floor of the auto-approve path: the same work as the broker's, with nothing else.
// Fastify, pg and jose: verify the agent's assertion (EdDSA), refuse a replayed jti in Redis, one
// transaction inserting the request, its grant and two audit rows into the broker's own schema,
// and one EdDSA signature of the grant token. No policy, no framework, no queue, no logging.
// Started by bench/run.js with: PORT, DATABASE_URL, REDIS_URL, FLOOR_AGENT_ID, FLOOR_AGENT_JWK.
const { randomUUID } = require('node:crypto');
const Fastify = require('fastify');
const { Pool } = require('pg');
const Redis = require('ioredis');

async function main() {
  const { importJWK, jwtVerify, SignJWT, generateKeyPair } = await import('jose');
  const port = Number(process.env.PORT);
  const issuer = `http://127.0.0.1:${port}`;
  const agentId = process.env.FLOOR_AGENT_ID;
  const agentKey = await importJWK(JSON.parse(process.env.FLOOR_AGENT_JWK), 'EdDSA');
  const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const app = Fastify({ bodyLimit: 64 * 1024 });

  app.post('/v1/access-requests', async (req, reply) => {
    const assertion = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    let claims;
    try {
      ({ payload: claims } = await jwtVerify(assertion ?? '', agentKey, {
        algorithms: ['EdDSA'],
        audience: issuer,
        issuer: agentId,
        subject: agentId,
        requiredClaims: ['jti', 'iat', 'exp'],
      }));
    } catch {
      return reply.code(401).send({ error: { code: 'INVALID_ASSERTION' } });
    }
    if ((await redis.set(`floor:jti:${claims.jti}`, '1', 'EX', 330, 'NX')) !== 'OK')
      return reply.code(401).send({ error: { code: 'ASSERTION_REPLAYED' } });
    const body = req.body;
    const id = randomUUID();
    const grantId = randomUUID();
    const now = new Date(Math.floor(Date.now() / 1000) * 1000);
    const expiresAt = new Date(now.getTime() + 600_000);
    const decision = {
      outcome: 'approve',
      rules: ['low-risk-reads'],
      message: 'Approved.',
      riskScore: 20,
      policyVersion: 'floor',
      sensitivity: 'internal',
      durationSeconds: 600,
    };
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO access_requests (id, agent_id, resource, actions, columns, duration_seconds, reason, status, decision, policy_version, risk_score, decided_at, decided_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 600, $6, 'approved', $7, 'floor', 20, $8, 'policy', $8, $8)`,
        [id, agentId, body.resource, body.actions, body.columns, body.reason, decision, now],
      );
      await client.query(
        `INSERT INTO grants (id, request_id, agent_id, subject, audience, resource, actions, columns, purpose, kid, issued_at, expires_at, status)
         VALUES ($1, $2, $3::uuid, $3::text, 'crm-api', $4, $5, $6, $7, 'floor', $8, $9, 'active')`,
        [grantId, id, agentId, body.resource, body.actions, body.columns, body.reason, now, expiresAt],
      );
      await client.query(
        `INSERT INTO audit_events (type, actor, request_id, agent_id, data) VALUES ('request.created', $1, $2, $3, $4), ('grant.issued', 'policy', $2, $3, $5)`,
        [`agent:${agentId}`, id, agentId, { resource: body.resource, columns: body.columns }, { grantId, expiresAt }],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    const token = await new SignJWT({
      client_id: agentId,
      scope: `${body.resource}:read`,
      authorization_details: [{ type: 'gatehouse_data', identifier: body.resource, actions: body.actions, columns: body.columns }],
      purpose: body.reason,
      req: id,
    })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'floor', typ: 'at+jwt' })
      .setIssuer(issuer)
      .setSubject(agentId)
      .setAudience('crm-api')
      .setIssuedAt(now.getTime() / 1000)
      .setNotBefore(now.getTime() / 1000)
      .setExpirationTime(expiresAt.getTime() / 1000)
      .setJti(grantId)
      .sign(privateKey);
    return reply.code(201).send({
      id,
      status: 'approved',
      decision: { outcome: 'approve', rules: decision.rules },
      grant: { id: grantId, token, expiresAt: expiresAt.toISOString() },
    });
  });

  // The admin pending list's floor: the same three reads as the broker (a keyset page of requests,
  // their grants, their approval counts), a cursor in the broker's format, JSON out.
  app.get('/v1/admin/access-requests', async (req) => {
    const limit = Math.min(200, Number(req.query.limit ?? 50));
    const [at, id] = req.query.cursor ? Buffer.from(req.query.cursor, 'base64url').toString('utf8').split('|') : [null, null];
    const { rows } = await pool.query(
      `SELECT id::text AS id, agent_id::text AS "agentId", resource, actions, columns, duration_seconds AS "durationSeconds", reason, status, decision,
              approver_group AS "approverGroup", required_approvals AS "requiredApprovals", approval_expires_at AS "approvalExpiresAt", created_at AS "createdAt"
         FROM access_requests
        WHERE status = $1 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2::timestamptz, $3::uuid))
        ORDER BY created_at, id LIMIT $4`,
      [req.query.status ?? 'pending', at, id, limit],
    );
    const ids = rows.map((r) => r.id);
    const [grants, counts] = await Promise.all([
      pool.query(
        'SELECT id::text AS id, request_id::text AS "requestId", status, expires_at AS "expiresAt" FROM grants WHERE request_id = ANY($1::uuid[])',
        [ids],
      ),
      pool.query('SELECT request_id::text AS "requestId", count(*)::int AS n FROM approvals WHERE request_id = ANY($1::uuid[]) GROUP BY request_id', [
        ids,
      ]),
    ]);
    const grantOf = new Map(grants.rows.map((g) => [g.requestId, g]));
    const countOf = new Map(counts.rows.map((c) => [c.requestId, c.n]));
    const items = rows.map((r) => ({
      ...r,
      grant: grantOf.get(r.id),
      approval: { approvers: r.approverGroup, required: r.requiredApprovals, received: countOf.get(r.id) ?? 0, expiresAt: r.approvalExpiresAt },
    }));
    const last = rows[rows.length - 1];
    return {
      items,
      ...(rows.length === limit ? { nextCursor: Buffer.from(`${last.createdAt.toISOString()}|${last.id}`).toString('base64url') } : {}),
    };
  });

  const close = async () => {
    await app.close();
    await Promise.allSettled([pool.end(), redis.quit()]);
    process.exit(0);
  };
  process.on('SIGTERM', close);
  process.on('SIGINT', close);
  await app.listen({ port, host: '127.0.0.1' });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
