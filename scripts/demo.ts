import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { Pool } from 'pg';
import { shutdown } from '@gatehouse/bootstrap';
import { loadConfig } from '@gatehouse/core';
import { createGrantVerifier } from '@gatehouse/guard';
import { AccessDeniedError, DelegationRequiredError, GatehouseAgent, generateAgentKeyPair, type AccessRequest, type Grant } from '@gatehouse/sdk';
import { createHttpApp } from '../apps/api/src/http-app';
import { WorkerModule } from '../apps/worker/src/worker.module';
import { seedCrm, startCrm } from './demo-crm';
import { NodeGateway, UpstreamCall } from './demo-gateway';

/** Options of runDemo; the defaults are what `npm run demo` uses. */
export interface DemoOptions {
  log?: (line: string) => void;
  /** Default: DEMO_DATABASE_URL, else DATABASE_URL's server with database gatehouse_demo. */
  databaseUrl?: string;
  redisUrl?: string;
  redisPrefix?: string;
  /** Whether to create and migrate the database first; default true (tests pass a migrated copy). */
  migrate?: boolean;
  /** Lifetime of the grant of step (e); default 4 s. */
  shortGrantSeconds?: number;
}

/** What the CRM answered: a status, and the rows or the error. */
export interface CrmReply {
  status: number;
  columns?: string[];
  customers?: Record<string, unknown>[];
  error?: { code: string; message: string };
}

/** The outcome of each step, for the test and for anyone scripting around the demo. */
export interface DemoResult {
  delegation: { refusedBefore: string | null; delegation: { resources: string[]; expiresAt: string | null; createdBy: string } };
  lowRisk: { status: string; rules: string[]; read: CrmReply };
  pii: { firstStatus: string; approvers?: string; decidedBy?: string; read: CrmReply };
  restricted: { denied: boolean; rules: string[]; message: string };
  released: { grantStatus?: string; read: CrmReply };
  expiry: { seconds: number; before: CrmReply; after: CrmReply };
  gateway: {
    read: { status: number; operation?: string; asked: string[] };
    reply: { refused: string | null; needed?: string[]; requestStatus?: string; decidedBy?: string; status: number; upstreamSawAgentToken: boolean };
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function repoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'policies', 'default.yaml')) && existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error('demo: cannot find the repository root (policies/default.yaml)');
  }
}

function demoDatabaseUrl(): string {
  if (process.env.DEMO_DATABASE_URL) return process.env.DEMO_DATABASE_URL;
  const url = new URL(process.env.DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/gatehouse');
  url.pathname = '/gatehouse_demo';
  return url.toString();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

const sameSet = (a: string[] | undefined, b: string[]) => !!a && a.length === b.length && b.every((x) => a.includes(x));

/** What went differently from the story; empty when every step did what it should. */
export function unexpected(r: DemoResult): string[] {
  const problems: string[] = [];
  if (r.delegation.refusedBefore !== 'DELEGATION_REQUIRED') problems.push('(0) acting for alice before she delegated was not refused');
  if (r.lowRisk.status !== 'approved' || r.lowRisk.read.status !== 200 || !sameSet(r.lowRisk.read.columns, ['id', 'name', 'company']))
    problems.push('(a) low-risk read');
  if (r.pii.firstStatus !== 'pending' || r.pii.read.status !== 200 || !sameSet(r.pii.read.columns, ['id', 'email', 'phone']))
    problems.push('(b) approved PII read');
  if (!r.restricted.denied) problems.push('(c) restricted request was not denied');
  if (r.released.read.status !== 401 || r.released.read.error?.code !== 'TOKEN_INACTIVE') problems.push('(d) a released grant still read');
  if (r.expiry.before.status !== 200 || r.expiry.after.status !== 401 || r.expiry.after.error?.code !== 'TOKEN_EXPIRED') problems.push('(e) expiry');
  const g = r.gateway;
  if (g.read.status !== 200 || g.read.operation !== 'read-tickets' || !sameSet(g.read.asked, ['read-tickets']))
    problems.push('(f) reading tickets through the gateway');
  if (g.reply.refused !== 'NOT_GRANTED' || !sameSet(g.reply.needed, ['reply']) || g.reply.requestStatus !== 'pending' || g.reply.status !== 201)
    problems.push('(f) replying through the gateway after approval');
  if (g.reply.upstreamSawAgentToken) problems.push("(f) the helpdesk saw the agent's token");
  return problems;
}

/**
 * Runs the whole story: a broker (API + worker, policies/default.yaml) on a database of its own,
 * a CRM guarded by @gatehouse/guard, a helpdesk API behind a forward-auth gateway, and an agent
 * using @gatehouse/sdk through steps (0) and (a)-(f).
 */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const root = repoRoot(__dirname);
  const databaseUrl = options.databaseUrl ?? demoDatabaseUrl();
  const cleanup: (() => Promise<unknown>)[] = [];

  try {
    log('== Gatehouse demo ==');
    if (options.migrate !== false) {
      execFileSync(process.execPath, [join(root, 'scripts', 'migrate.js')], {
        cwd: root,
        env: { ...process.env, DATABASE_URL: databaseUrl },
        stdio: 'pipe',
      });
    }
    log(`database  ${new URL(databaseUrl).pathname.slice(1)}: created if missing and migrated`);

    // --- the broker: API and worker in this process, with a fresh admin token ---
    const adminToken = randomBytes(24).toString('base64url');
    const introspectionToken = randomBytes(24).toString('base64url');
    const gatewayToken = randomBytes(24).toString('base64url');
    const port = await freePort();
    const brokerUrl = `http://127.0.0.1:${port}`;
    const config = loadConfig({
      DATABASE_URL: databaseUrl,
      REDIS_URL: options.redisUrl ?? process.env.REDIS_URL,
      GATEHOUSE_REDIS_PREFIX: options.redisPrefix ?? 'gatehouse_demo',
      PORT: String(port),
      GATEHOUSE_ISSUER: brokerUrl,
      GATEHOUSE_ADMIN_TOKENS: `demo:${adminToken}`,
      GATEHOUSE_INTROSPECTION_TOKENS: `crm:${introspectionToken}`,
      GATEHOUSE_GATEWAY_TOKENS: `demo-gateway:${gatewayToken}`,
      GATEHOUSE_POLICY_FILE: join(root, 'policies', 'default.yaml'),
      LOG_LEVEL: process.env.DEMO_LOG_LEVEL ?? 'silent',
    });
    const app = await createHttpApp(config, [WorkerModule]);
    // The broker stops as it does on SIGTERM: HTTP drained first, then Redis, queues and Postgres.
    cleanup.push(() => shutdown(app, { timeoutMs: config.shutdownTimeoutSeconds * 1000 }));
    await app.listen(port, '127.0.0.1');
    log(`broker    ${brokerUrl} (policy policies/default.yaml, a generated admin token)`);

    const admin = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${brokerUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = (await res.json()) as any;
      if (!res.ok) throw new Error(`admin ${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };

    // --- the CRM: its own table in schema demo_crm, behind the guard (JWKS offline + introspection) ---
    const pool = new Pool({ connectionString: databaseUrl, max: 2 });
    cleanup.push(() => pool.end());
    const seeded = await seedCrm(pool);
    const verifier = createGrantVerifier({
      issuer: brokerUrl,
      audience: 'crm-api',
      // Broker and CRM share this machine's clock; across machines keep the default 30 s.
      clockToleranceSec: 1,
      introspection: { url: `${brokerUrl}/v1/introspect`, token: introspectionToken, cacheMs: 1000 },
    });
    const crm = await startCrm(pool, verifier);
    cleanup.push(() => crm.close());
    log(`crm       ${crm.url}/customers (demo_crm.customers, ${seeded} rows; guard: audience crm-api, introspection cached 1 s)`);

    const read = async (token: string): Promise<CrmReply> => {
      const res = await fetch(`${crm.url}/customers`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await res.json()) as { columns?: string[]; customers?: Record<string, unknown>[]; error?: { code: string; message: string } };
      const reply: CrmReply = { status: res.status, ...body };
      if (res.ok) {
        log(`    CRM GET /customers -> ${res.status}: ${reply.customers!.length} rows with columns [${reply.columns!.join(', ')}]`);
        log(`      first row: ${JSON.stringify(reply.customers![0])}`);
      } else {
        log(`    CRM GET /customers -> ${res.status} ${reply.error!.code}: ${reply.error!.message}`);
      }
      return reply;
    };

    // --- people and the agent ---
    await admin('PUT', '/v1/admin/users/alice', { email: 'alice@example.com', displayName: 'Alice (support)', groups: ['support'] });
    await admin('PUT', '/v1/admin/users/dana', { email: 'dana@example.com', displayName: 'Dana (CRM owner)', groups: ['crm-owners'] });
    await admin('PUT', '/v1/admin/users/sam', { email: 'sam@example.com', displayName: 'Sam (support lead)', groups: ['support-leads'] });
    const { privateJwk, publicJwk } = await generateAgentKeyPair();
    const agentName = `support-assistant-${randomBytes(3).toString('hex')}`;
    const registered = await admin('POST', '/v1/admin/agents', { name: agentName, publicJwk, owner: 'alice@example.com' });
    const agent = new GatehouseAgent({ brokerUrl, agentId: registered.id, privateKey: privateJwk });
    log(`agent     ${agentName} (${registered.id}), Ed25519 key generated here, works for alice`);
    log(`people    dana is in crm-owners and approves; sam leads support; alice is who the agent works for`);

    const describe = (r: AccessRequest) =>
      `${r.decision.outcome} by rule ${r.decision.rules.join(', ') || '(default)'} (risk ${r.decision.riskScore}): ${r.decision.message}`;
    const ask = (columns: string[], duration: string, reason: string) => {
      log(`    ${agentName} asks: read crm.customers [${columns.join(', ')}] for ${duration}, for alice, because "${reason}"`);
      return agent.requestAccess({ resource: 'crm.customers', actions: ['read'], columns, duration, reason, onBehalfOf: 'alice' });
    };
    const granted = (g: Grant) => log(`    grant ${g.id}: [${g.columns.join(', ')}] until ${g.expiresAt}`);

    // (0) acting for alice needs her delegation; without Slack she cannot be asked, so an admin delegates
    log('\n(0) acting for alice needs her delegation');
    let refusedBefore: string | null = null;
    try {
      await ask(['id', 'name', 'company'], '10m', 'Summarise the accounts in ticket 4521');
      log('    unexpectedly accepted: alice has not delegated yet');
    } catch (error) {
      if (!(error instanceof DelegationRequiredError)) throw error;
      refusedBefore = error.code;
      log(`    refused: ${error.code} (403): ${error.message}`);
    }
    const until = new Date(Date.now() + 3600_000).toISOString();
    log(`    alice asks an admin to let ${agentName} act for her on crm.* for an hour: PUT /v1/admin/agents/${registered.id}/delegations/alice`);
    const delegation = await admin('PUT', `/v1/admin/agents/${registered.id}/delegations/alice`, { resources: ['crm.*'], expiresAt: until });
    log(`    delegation ${delegation.id}: ${delegation.status}, resources [${delegation.resources.join(', ')}] until ${delegation.expiresAt}`);

    // (a) low-risk columns: approved at once, read at once
    log('\n(a) low-risk columns');
    const a = await ask(['id', 'name', 'company'], '10m', 'Summarise the accounts in ticket 4521');
    if (a.status !== 'approved') throw new Error(`(a) expected an immediate grant, got ${a.status}`);
    log(`    decision: ${describe(a.request)}`);
    granted(a.grant);
    const lowRisk = { status: a.status, rules: a.request.decision.rules, read: await read(a.grant.token) };

    // (b) PII: pending; the agent long-polls while dana approves through the admin API
    log('\n(b) personal data (PII)');
    const b = await ask(['id', 'email', 'phone'], '15m', 'Call the customer back about ticket 4521');
    if (b.status !== 'pending') throw new Error(`(b) expected a pending request, got ${b.status}`);
    log(`    decision: ${describe(b.request)}`);
    log(
      `    pending: needs ${b.request.approval!.required} approval from ${b.request.approval!.approvers}; the agent waits (waitForGrant, long-poll)`,
    );
    const waiting = agent.waitForGrant(b.handle, { timeoutMs: 30_000 });
    await sleep(500);
    log(`    dana (crm-owners) approves through the admin API: POST /v1/admin/access-requests/${b.handle.requestId}/approve {asUser: "dana"}`);
    await admin('POST', `/v1/admin/access-requests/${b.handle.requestId}/approve`, { asUser: 'dana', comment: 'OK for the callback' });
    const piiGrant = await waiting;
    const bDecided = await agent.getRequest(b.handle.requestId);
    log(`    the wait ends: ${bDecided.status}, decided by ${bDecided.decidedBy}`);
    granted(piiGrant);
    const pii = { firstStatus: b.status, approvers: b.request.approval!.approvers, decidedBy: bDecided.decidedBy, read: await read(piiGrant.token) };

    // (c) restricted: denied by policy, as a typed error
    log('\n(c) restricted columns');
    let restricted: DemoResult['restricted'] = { denied: false, rules: [], message: '' };
    try {
      await ask(['id', 'ssn'], '5m', 'Verify the customer identity');
      log('    unexpectedly approved');
    } catch (error) {
      if (!(error instanceof AccessDeniedError)) throw error;
      log(`    decision: denied by rule ${error.decision.rules.join(', ')}: ${error.decision.message}`);
      restricted = { denied: true, rules: error.decision.rules, message: error.decision.message };
    }

    // (d) release: the grant ends now; the CRM's introspection check refuses the token
    log('\n(d) release');
    const released = await agent.release(piiGrant);
    log(`    the agent is done and releases grant ${released.id}: ${released.status}`);
    log('    (the CRM caches "still active" answers for 1 s; waiting that out)');
    await sleep(1100);
    const releasedResult = { grantStatus: released.status, read: await read(piiGrant.token) };

    // (e) a short grant expires by itself
    const seconds = options.shortGrantSeconds ?? 4;
    log('\n(e) a short grant expires');
    const e = await ask(['id', 'name'], `${seconds}s`, 'Quick look-up for ticket 4522');
    if (e.status !== 'approved') throw new Error(`(e) expected an immediate grant, got ${e.status}`);
    log(`    decision: ${describe(e.request)}`);
    granted(e.grant);
    const before = await read(e.grant.token);
    const waitMs = Date.parse(e.grant.expiresAt) - Date.now() + 1500; // past exp and the CRM's 1 s skew
    log(`    waiting ${(waitMs / 1000).toFixed(1)} s for it to expire...`);
    await sleep(waitMs);
    const after = await read(e.grant.token);

    // (f) an HTTP API behind a gateway: every call is checked; a missing operation is asked for
    log('\n(f) the helpdesk API, through a gateway');
    const seenTokens: string[] = [];
    const helpdesk = (call: UpstreamCall) => {
      if (call.authorization) seenTokens.push(call.authorization);
      return call.method === 'GET'
        ? { status: 200, body: { id: 4521, subject: 'Invoice question', status: 'open' } }
        : { status: 201, body: { replied: true } };
    };
    const gateway = await NodeGateway.start({ brokerUrl, gatewayToken, host: 'helpdesk.egress.internal', upstream: helpdesk });
    cleanup.push(() => gateway.close());
    log(
      `gateway   ${gateway.url} -> helpdesk.api (a Node stand-in for deploy/nginx/gatehouse.conf.template: each call asks ${brokerUrl}/v1/authz/forward)`,
    );
    log(`    ${agentName} GETs /api/tickets/4521 through the gateway with no grant; the SDK reads what is missing and asks for it`);
    const readCall = await agent.fetchWithAccess(
      `${gateway.url}/api/tickets/4521`,
      { method: 'GET' },
      { reason: 'Read ticket 4521 to draft the reply', duration: '10m' },
    );
    log(
      `    -> ${readCall.response.status} ${await readCall.response.text()} (grant ${readCall.grant?.id}: operations [${readCall.grant?.operations?.join(', ')}])`,
    );
    const read_ = { status: readCall.response.status, operation: gateway.calls.at(-1)?.operation, asked: readCall.grant?.operations ?? [] };

    log(`    ${agentName} POSTs a reply with the read grant: the gateway refuses and says what is needed`);
    const replyUrl = `${gateway.url}/api/tickets/4521/replies`;
    const replyInit = {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'We have corrected the invoice.' }),
    };
    const refusedReply = await fetch(replyUrl, { ...replyInit, headers: { ...replyInit.headers, authorization: `Bearer ${readCall.grant!.token}` } });
    const refusal = (await refusedReply.json()) as { error: { code: string; message: string; needed?: { operations: string[] } } };
    log(`    -> ${refusedReply.status} ${refusal.error.code}: ${refusal.error.message}`);
    const replyRequest = await agent.requestAccess({
      ...(refusal.error.needed as { resource: string; operations: string[]; actions: string[] }),
      duration: '10m',
      reason: 'Send the drafted reply on ticket 4521',
    });
    log(`    asked for [${refusal.error.needed?.operations.join(', ')}]: ${describe(replyRequest.request)}`);
    let replyStatus = 0;
    let replyDecidedBy: string | undefined;
    if (replyRequest.status === 'pending') {
      const waitingReply = agent.waitForGrant(replyRequest.handle, { timeoutMs: 30_000 });
      await sleep(300);
      log(`    sam (support-leads) approves: POST /v1/admin/access-requests/${replyRequest.request.id}/approve {asUser: "sam"}`);
      await admin('POST', `/v1/admin/access-requests/${replyRequest.request.id}/approve`, { asUser: 'sam' });
      const replyGrant = await waitingReply;
      replyDecidedBy = (await agent.getRequest(replyRequest.request.id)).decidedBy;
      const sent = await agent.fetchWithAccess(replyUrl, replyInit, { reason: 'Send the reply', grant: replyGrant });
      replyStatus = sent.response.status;
      log(`    -> the reply goes through: ${sent.response.status} ${await sent.response.text()}`);
    }
    const agentTokens = [readCall.grant?.token].filter(Boolean).map((t) => `Bearer ${t}`);
    const gatewayResult: DemoResult['gateway'] = {
      read: read_,
      reply: {
        refused: refusal.error.code,
        needed: refusal.error.needed?.operations,
        requestStatus: replyRequest.status,
        decidedBy: replyDecidedBy,
        status: replyStatus,
        upstreamSawAgentToken: seenTokens.some((seen) => agentTokens.includes(seen)),
      },
    };
    log(`    the helpdesk received ${gateway.calls.length} calls, none carrying the agent's token; usage is on the trail (grant.used)`);

    const result: DemoResult = {
      delegation: {
        refusedBefore,
        delegation: { resources: delegation.resources, expiresAt: delegation.expiresAt, createdBy: delegation.createdBy },
      },
      lowRisk,
      pii,
      restricted,
      released: releasedResult,
      expiry: { seconds, before, after },
      gateway: gatewayResult,
    };
    const problems = unexpected(result);
    if (problems.length) throw new Error(`the demo did not go as the policy says:\n  ${problems.join('\n  ')}`);
    log(
      `\nDone: every step went as the policy says. It is all on the audit trail in ${new URL(databaseUrl).pathname.slice(1)} (GET /v1/admin/audit?agentId=${registered.id}).`,
    );
    return result;
  } finally {
    for (const close of cleanup.reverse()) await close().catch(() => undefined);
  }
}

if (require.main === module) {
  runDemo().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`demo failed: ${(error as Error)?.stack ?? String(error)}`);
      process.exit(1);
    },
  );
}
