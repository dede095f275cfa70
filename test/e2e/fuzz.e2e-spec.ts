import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { exportJWK, generateKeyPair, JWK } from 'jose';
import { z } from 'zod';
import {
  acknowledgeBody,
  accessRequestBody,
  approveBody,
  delegationBody,
  delegationsQuery,
  denyBody,
  evaluateBody,
  listAuditQuery,
  listGrantsQuery,
  listRequestsQuery,
  listReviewsQuery,
  pageQuery,
  registerAgentBody,
  revokeBody,
  rotateAgentKeyBody,
  userBody,
  waitQuery,
} from '@gatehouse/core';
import { ADMIN_TOKEN, Broker, call, INTROSPECTION_TOKEN, putUser, registerAgent, Reply, TestAgent } from '../support/broker';
import { createScratchDatabase } from '../support/database';
import { askFor, delegate, PII } from '../support/flows';
import { buttonClick, changesSubmission, FakeSlack } from '../support/fake-slack';
import { people, Person, SIGNING_SECRET, startSlackBroker } from '../support/slack';
import {
  encodeLoosely,
  Hints,
  hostileCursor,
  hostileId,
  hostileOf,
  hostileText,
  hostileValue,
  JsonSchema,
  mutate,
  mutation,
  queryString,
} from './fuzz.arbitraries';

// Property: whatever reaches any endpoint, generated from that endpoint's own schema with hostile
// values swapped in, the broker never answers 5xx, and a refused request (4xx) writes no row.
// The run is seeded (FUZZ_SEED overrides it) so a failure can be replayed; every offending case is
// collected and listed, not only the first, so one run says how many holes there are.
// FUZZ_RUNS sets the cases per endpoint; FUZZ_DEBUG=1 logs every request and its answer.
jest.setTimeout(240_000);

const SEED = Number(process.env.FUZZ_SEED ?? 20261122);
const RUNS = Number(process.env.FUZZ_RUNS ?? 20);

type Caller = 'agent' | 'admin' | 'introspector' | 'slack' | 'nobody';
/** One generated HTTP request. */
interface Sent {
  as: Caller;
  method: string;
  path: string;
  /** The raw body and its content type, when there is one. */
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

const schemaOf = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as JsonSchema;

/** How a body travels: JSON nearly always, sometimes as something the endpoint does not read. */
const transport = fc.oneof(
  { weight: 10, arbitrary: fc.constant({ kind: 'json' as const, contentType: 'application/json' }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      { kind: 'raw' as const, contentType: 'text/plain' },
      { kind: 'json' as const, contentType: 'application/json; charset=latin1' },
      { kind: 'json' as const, contentType: 'application/json; charset=utf-8' },
      { kind: 'form' as const, contentType: 'application/x-www-form-urlencoded' },
      { kind: 'raw' as const, contentType: 'multipart/form-data; boundary=x' },
      { kind: 'raw' as const, contentType: 'application/json' },
      { kind: 'json' as const, contentType: 'application/vnd.api+json' },
    ),
  },
);

function encodeBody(value: unknown, how: { kind: 'json' | 'form' | 'raw'; contentType: string }): { body: string; contentType: string } {
  if (how.kind === 'form' && value && typeof value === 'object') {
    return { body: queryString(value as Record<string, unknown>).slice(1), contentType: how.contentType };
  }
  if (how.kind === 'raw') return { body: typeof value === 'string' ? value : `${JSON.stringify(value) ?? ''}}`, contentType: how.contentType };
  return { body: JSON.stringify(value) ?? '', contentType: how.contentType };
}

/** A request with a generated JSON body. */
function withBody(as: Caller, method: string, path: fc.Arbitrary<string>, body: fc.Arbitrary<unknown>): fc.Arbitrary<Sent> {
  return fc.tuple(path, body, transport).map(([p, value, how]) => ({ as, method, path: p, ...encodeBody(value, how) }));
}

/** A request with a generated query string (and no body). */
function withQuery(as: Caller, method: string, path: fc.Arbitrary<string>, query: fc.Arbitrary<unknown>): fc.Arbitrary<Sent> {
  return fc.tuple(path, query).map(([p, q]) => ({
    as,
    method,
    path: `${p}${q && typeof q === 'object' && !Array.isArray(q) ? queryString(q as Record<string, unknown>) : `?q=${encodeLoosely(String(q))}`}`,
  }));
}

const idFrom = (pool: () => string[]) =>
  fc.oneof({ weight: 3, arbitrary: fc.nat().map((i) => pool()[i % pool().length]) }, { weight: 2, arbitrary: hostileId });

/** Counts of every table a request could write. */
interface Counts {
  accessRequests: number;
  grants: number;
  approvals: number;
  agents: number;
  users: number;
  auditEvents: number;
  /** approval.refused and access_request.break_glass_refused events: these refusals are audited by design */
  refusals: number;
}

/** Tables a refused request changed; an audited refusal (approval.refused, a refused break-glass) is the one row allowed. */
function wroteRows(before: Counts, after: Counts): string[] {
  const refusals = after.refusals - before.refusals;
  return (Object.keys(before) as (keyof Counts)[])
    .filter((table) => table !== 'refusals')
    .map((table) => [table, after[table] - before[table] - (table === 'auditEvents' ? refusals : 0)] as const)
    .filter(([, delta]) => delta !== 0)
    .map(([table, delta]) => `${table} ${delta > 0 ? '+' : ''}${delta}`);
}

describe('fuzz: every endpoint, generated input', () => {
  let scratch: { url: string; drop: () => Promise<void> };
  let broker: Broker;
  let fake: FakeSlack;
  let agent: TestAgent;
  let p: Record<string, Person>;
  const pending: string[] = [];
  const approved: string[] = [];
  const grants: string[] = [];
  const victims: string[] = [];
  /** Break-glass accesses waiting for review. */
  const reviews: string[] = [];
  const cursors: Record<string, string[]> = { requests: [], grants: [], audit: [], agents: [], users: [], reviews: [] };
  const jwks: JWK[] = [];

  beforeAll(async () => {
    // A database of its own: row counts must move only with this file's requests.
    scratch = await createScratchDatabase();
    ({ broker, fake } = await startSlackBroker({ DATABASE_URL: scratch.url, GATEHOUSE_RECONCILE_INTERVAL: '1h' }));
    agent = await registerAgent(broker);
    p = await people(broker, { alice: ['crm-owners'], carol: ['crm-owners'], bob: ['support'], dan: ['support'] });
    // bob delegated (his requests wait for approvers); dan did not (his wait for his consent).
    await delegate(broker, agent, p.bob.id);
    for (let i = 0; i < 6; i++) pending.push((await askFor(agent, 'pending', { ...PII, onBehalfOf: p.bob.id })).id);
    for (let i = 0; i < 3; i++) pending.push((await askFor(agent, 'pending', { ...PII, onBehalfOf: p.dan.id })).id);
    for (let i = 0; i < 4; i++) {
      const body = await askFor(agent, 'approved');
      approved.push(body.id);
      grants.push(body.grant.id);
    }
    // The Slack fixture lets agents acting for an executive break glass.
    const executive = `exec-${p.bob.id}`;
    await putUser(broker, executive, ['executives']);
    await delegate(broker, agent, executive);
    for (let i = 0; i < 3; i++) reviews.push((await askFor(agent, 'approved', { ...PII, onBehalfOf: executive, breakGlass: true })).id);
    for (let i = 0; i < 3; i++) victims.push((await registerAgent(broker)).id);
    for (const alg of ['EdDSA', 'ES256'] as const) {
      const { publicKey } = await generateKeyPair(alg, { extractable: true });
      jwks.push(await exportJWK(publicKey));
    }
    const page = async (path: string) => (await broker.admin('GET', `${path}?limit=1`)).body.nextCursor as string;
    cursors.requests.push(await page('/v1/admin/access-requests'));
    cursors.grants.push(await page('/v1/admin/grants'));
    cursors.audit.push(await page('/v1/admin/audit'));
    cursors.agents.push(await page('/v1/admin/agents'));
    cursors.users.push(await page('/v1/admin/users'));
    cursors.reviews.push(await page('/v1/admin/reviews'));
  }, 120_000);

  afterAll(async () => {
    await broker?.close();
    await fake?.stop();
    await scratch?.drop();
  });

  async function counts(): Promise<Counts> {
    const [row] = await broker.prisma.$queryRawUnsafe<Counts[]>(`
      SELECT (SELECT count(*) FROM access_requests)::int AS "accessRequests", (SELECT count(*) FROM grants)::int AS grants,
             (SELECT count(*) FROM approvals)::int AS approvals, (SELECT count(*) FROM agents)::int AS agents,
             (SELECT count(*) FROM users)::int AS users, (SELECT count(*) FROM audit_events)::int AS "auditEvents",
             (SELECT count(*) FROM audit_events WHERE type IN ('approval.refused', 'access_request.break_glass_refused'))::int AS refusals`);
    return row;
  }

  /** Slack work continues after the ack: wait until nothing moves any more. */
  async function settle(): Promise<void> {
    let last = JSON.stringify(await counts());
    for (let i = 0; i < 25; i++) {
      await new Promise((r) => setTimeout(r, 40));
      const now = JSON.stringify(await counts());
      if (now === last) return;
      last = now;
    }
  }

  async function send(s: Sent): Promise<Reply> {
    const token =
      s.as === 'agent' ? await agent.assertion() : s.as === 'admin' ? ADMIN_TOKEN : s.as === 'introspector' ? INTROSPECTION_TOKEN : undefined;
    const headers = { ...(s.contentType ? { 'content-type': s.contentType } : {}), ...(s.headers ?? {}) };
    return call(`${broker.url}${s.path}`, s.method, { token, raw: s.body, headers });
  }

  // ---- the endpoints and how to generate their input ----

  const requestHints = (): Hints => ({
    resource: fc.constantFrom('crm.customers', 'crm.deals'),
    actions: fc.constantFrom(['read'], ['read', 'write'], ['write']),
    columns: fc.subarray(['id', 'name', 'email', 'phone', 'ssn']),
    duration: fc.constantFrom('90s', '15m', '1h', 'PT15M', '2d'),
    reason: fc.constantFrom('Draft a reply to ticket 4521', 'Call the customer back'),
    onBehalfOf: fc.constantFrom(...Object.values(p).map((x) => x.id)),
    task: fc.dictionary(fc.string({ maxLength: 10 }), fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean(), fc.constant(null)), {
      maxKeys: 3,
    }),
  });
  const jwkHints = (): Hints => ({
    publicJwk: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom(...jwks) },
      {
        weight: 2,
        arbitrary: fc.constantFrom<Record<string, unknown>>(
          { kty: 'OKP', crv: 'Ed25519', x: 'AAAA' },
          { kty: 'OKP', crv: 'Ed25519', x: '+/+/'.repeat(11) },
          { kty: 'OKP', crv: 'Ed25519', x: '!!!!'.repeat(11) },
          { kty: 'OKP', crv: 'Ed25519', x: `${'A'.repeat(42)}=` },
          { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(44) },
          { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) },
          { kty: 'EC', crv: 'P-256', x: 'A'.repeat(43), y: 'A'.repeat(43) },
          { kty: 'EC', crv: 'P-256', x: 'A'.repeat(43) },
          { kty: 'EC', crv: 'P-256', x: 'A'.repeat(43), y: 'a b c' },
          { kty: 'OKP', crv: 'P-256', x: 'A'.repeat(43) },
          { kty: 'EC', crv: 'Ed25519', x: 'A'.repeat(43), y: 'A'.repeat(43) },
          { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43), d: 'A'.repeat(43) },
          { kty: 'OKP', crv: 'Ed25519', x: '\u0000'.repeat(43) },
          { kty: 'OKP', crv: 'Ed25519', x: 'é'.repeat(43) },
        ),
      },
    ),
  });
  const name = fc.uuid().map((id) => `fz-${id.slice(0, 13)}`);
  const userHints: Hints = { groups: fc.subarray(['crm-owners', 'support', 'sales-leads']), displayName: fc.constantFrom('Dana', 'Eve O’Neil') };

  const agentPaths = (suffix: string, pool: () => string[]) => idFrom(pool).map((id) => `/v1/access-requests/${id}${suffix}`);
  const waitSafe = (q: unknown) => {
    // A long wait on a pending request would only slow the run: any wait of 2 s or more becomes 0.
    const query = q as Record<string, unknown> | null;
    if (query && typeof query === 'object') {
      const n = Number(query.wait);
      if (n >= 2 && n <= 60) return { ...query, wait: 0 };
    }
    return q;
  };
  const cursorHint = (key: string) => fc.oneof({ weight: 1, arbitrary: fc.constantFrom(...cursors[key]) }, { weight: 3, arbitrary: hostileCursor });
  const queryFor = (s: z.ZodType, key: string, extra: Hints = {}) =>
    hostileOf(schemaOf(s), { cursor: cursorHint(key), limit: fc.integer({ min: 1, max: 5 }), ...extra });
  const noBody = fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: hostileValue.map((v) => ({ note: v })) });
  const optionalBody = (as: Caller, path: fc.Arbitrary<string>) =>
    fc
      .tuple(path, noBody, transport)
      .map(([p2, value, how]): Sent =>
        value === undefined ? { as, method: 'POST', path: p2 } : { as, method: 'POST', path: p2, ...encodeBody(value, how) },
      );

  const slackPayload = (): fc.Arbitrary<unknown> => {
    const user = fc.constantFrom(...Object.values(p).map((x) => x.slack), 'UNOBODY123', 'U\u0000X');
    const requestId = fc.oneof(
      fc.nat().map((i) => pending[i % pending.length]),
      fc.uuid(),
      hostileText,
    );
    const click = fc
      .record({
        slackUserId: user,
        actionId: fc.constantFrom(
          'gatehouse_approve',
          'gatehouse_deny',
          'gatehouse_approve_changes',
          'gatehouse_consent_once',
          'gatehouse_consent_8h',
          'gatehouse_consent_refuse',
          'some_other_action',
        ),
        requestId,
      })
      .map((x) => buttonClick(x as { slackUserId: string; actionId: string; requestId: string }));
    const submission = fc
      .record({
        slackUserId: user,
        requestId,
        columns: fc.subarray(['email', 'phone', 'name']),
        duration: fc.constantFrom('5m', '2h', 'abc'),
        comment: fc.oneof(fc.constant(undefined), hostileText, fc.constant('looks fine')),
      })
      .map((x) => changesSubmission(x as { slackUserId: string; requestId: string; columns: string[] }));
    const urlVerification = fc.record({ type: fc.constant('url_verification'), token: fc.constant('t'), challenge: fc.string({ maxLength: 20 }) });
    const other = fc.record({
      type: fc.constantFrom(
        'shortcut',
        'message_action',
        'block_suggestion',
        'view_closed',
        'event_callback',
        'interactive_message',
        'dialog_submission',
        'app_rate_limited',
      ),
      user: fc.constant({ id: 'U123' }),
    });
    return fc.oneof(
      { weight: 4, arbitrary: fc.tuple(click, mutation).map(([v, m]) => mutate(v, m)) },
      { weight: 3, arbitrary: fc.tuple(submission, mutation).map(([v, m]) => mutate(v, m)) },
      { weight: 1, arbitrary: fc.tuple(urlVerification, mutation).map(([v, m]) => mutate(v, m)) },
      { weight: 1, arbitrary: other },
      { weight: 1, arbitrary: hostileValue },
    );
  };
  const slackRequest = (): fc.Arbitrary<Sent> =>
    fc
      .tuple(
        slackPayload(),
        fc.constantFrom('form', 'form', 'form', 'json', 'form-garbage', 'form-no-payload'),
        fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -100_000, max: 100_000 }) }),
      )
      .map(([payload, encoding, skew]) => {
        const json = JSON.stringify(payload) ?? 'null';
        const body =
          encoding === 'json'
            ? json
            : encoding === 'form-garbage'
              ? `payload=${encodeLoosely(json.slice(0, Math.max(1, json.length - 3)))}`
              : encoding === 'form-no-payload'
                ? `type=${encodeLoosely(String((payload as any)?.type ?? 'x'))}&user=U1`
                : `payload=${encodeLoosely(json)}`;
        const timestamp = Math.floor(Date.now() / 1000) + skew;
        const signature = `v0=${createHmac('sha256', SIGNING_SECRET).update(`v0:${timestamp}:${body}`).digest('hex')}`;
        return {
          as: 'slack',
          method: 'POST',
          path: '/slack/events',
          body,
          contentType: encoding === 'json' ? 'application/json' : 'application/x-www-form-urlencoded',
          headers: { 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': signature },
        };
      });

  const endpoints = (): [string, fc.Arbitrary<Sent>][] => [
    // agent API
    [
      'POST /v1/access-requests',
      withBody('agent', 'POST', fc.constant('/v1/access-requests'), hostileOf(schemaOf(accessRequestBody), requestHints())),
    ],
    [
      'GET /v1/access-requests/{id}?wait=',
      withQuery(
        'agent',
        'GET',
        agentPaths('', () => [...pending, ...approved]),
        hostileOf(schemaOf(waitQuery), { wait: fc.constantFrom(0, 1) }).map(waitSafe),
      ),
    ],
    [
      'POST /v1/access-requests/{id}/cancel',
      optionalBody(
        'agent',
        agentPaths('/cancel', () => pending),
      ),
    ],
    ['GET /v1/grants', withQuery('agent', 'GET', fc.constant('/v1/grants'), queryFor(listGrantsQuery.omit({ agentId: true }), 'grants'))],
    [
      'POST /v1/grants/{id}/release',
      optionalBody(
        'agent',
        idFrom(() => grants).map((id) => `/v1/grants/${id}/release`),
      ),
    ],
    // admin API
    [
      'POST /v1/admin/agents',
      withBody(
        'admin',
        'POST',
        fc.constant('/v1/admin/agents'),
        hostileOf(schemaOf(registerAgentBody), {
          ...jwkHints(),
          name,
          attributes: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 3 }),
        }),
      ),
    ],
    ['GET /v1/admin/agents', withQuery('admin', 'GET', fc.constant('/v1/admin/agents'), queryFor(pageQuery, 'agents'))],
    ['GET /v1/admin/agents/{id}', idFrom(() => victims).map((id): Sent => ({ as: 'admin', method: 'GET', path: `/v1/admin/agents/${id}` }))],
    [
      'POST /v1/admin/agents/{id}/suspend',
      optionalBody(
        'admin',
        idFrom(() => victims).map((id) => `/v1/admin/agents/${id}/suspend`),
      ),
    ],
    [
      'POST /v1/admin/agents/{id}/resume',
      optionalBody(
        'admin',
        idFrom(() => victims).map((id) => `/v1/admin/agents/${id}/resume`),
      ),
    ],
    [
      'PUT /v1/admin/agents/{id}/key',
      withBody(
        'admin',
        'PUT',
        idFrom(() => victims).map((id) => `/v1/admin/agents/${id}/key`),
        hostileOf(schemaOf(rotateAgentKeyBody), jwkHints()),
      ),
    ],
    [
      'PUT /v1/admin/agents/{id}/delegations/{userId}',
      withBody(
        'admin',
        'PUT',
        fc
          .tuple(
            idFrom(() => victims),
            fc.oneof(fc.constantFrom(...Object.values(p).map((x) => x.id)), hostileId),
          )
          .map(([a, u]) => `/v1/admin/agents/${a}/delegations/${u}`),
        hostileOf(schemaOf(delegationBody), {
          resources: fc.constantFrom(['crm.*'], ['crm.customers', 'crm.deals'], ['crm.nope']),
          expiresAt: fc
            .date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true })
            .map((d) => d.toISOString()),
        }),
      ),
    ],
    [
      'GET /v1/admin/agents/{id}/delegations',
      withQuery(
        'admin',
        'GET',
        idFrom(() => victims).map((id) => `/v1/admin/agents/${id}/delegations`),
        hostileOf(schemaOf(delegationsQuery)),
      ),
    ],
    [
      'DELETE /v1/admin/agents/{id}/delegations/{userId}',
      fc
        .tuple(
          idFrom(() => victims),
          fc.oneof(fc.constantFrom(...Object.values(p).map((x) => x.id)), hostileId),
        )
        .map(([a, u]): Sent => ({ as: 'admin', method: 'DELETE', path: `/v1/admin/agents/${a}/delegations/${u}` })),
    ],
    [
      'PUT /v1/admin/users/{id}',
      withBody(
        'admin',
        'PUT',
        fc.oneof(fc.stringMatching(/^[a-z][a-z0-9.-]{0,20}$/), hostileId).map((id) => `/v1/admin/users/${id}`),
        hostileOf(schemaOf(userBody), userHints),
      ),
    ],
    [
      'GET /v1/admin/users',
      withQuery('admin', 'GET', fc.constant('/v1/admin/users'), queryFor(pageQuery.extend({ group: z.string().max(64).optional() }), 'users')),
    ],
    ['GET /v1/admin/access-requests', withQuery('admin', 'GET', fc.constant('/v1/admin/access-requests'), queryFor(listRequestsQuery, 'requests'))],
    [
      'GET /v1/admin/access-requests/{id}',
      idFrom(() => [...pending, ...approved]).map((id): Sent => ({ as: 'admin', method: 'GET', path: `/v1/admin/access-requests/${id}` })),
    ],
    [
      'POST /v1/admin/access-requests/{id}/approve',
      withBody(
        'admin',
        'POST',
        idFrom(() => pending).map((id) => `/v1/admin/access-requests/${id}/approve`),
        hostileOf(schemaOf(approveBody), { asUser: fc.constantFrom(p.alice.id, p.bob.id, 'nobody-here') }),
      ),
    ],
    [
      'POST /v1/admin/access-requests/{id}/deny',
      withBody(
        'admin',
        'POST',
        idFrom(() => pending).map((id) => `/v1/admin/access-requests/${id}/deny`),
        hostileOf(schemaOf(denyBody), { asUser: fc.constantFrom(p.carol.id, p.bob.id, 'nobody-here') }),
      ),
    ],
    ['GET /v1/admin/grants', withQuery('admin', 'GET', fc.constant('/v1/admin/grants'), queryFor(listGrantsQuery, 'grants'))],
    [
      'POST /v1/admin/grants/{id}/revoke',
      withBody(
        'admin',
        'POST',
        idFrom(() => grants).map((id) => `/v1/admin/grants/${id}/revoke`),
        hostileOf(schemaOf(revokeBody)),
      ),
    ],
    ['GET /v1/admin/audit', withQuery('admin', 'GET', fc.constant('/v1/admin/audit'), queryFor(listAuditQuery, 'audit'))],
    ['GET /v1/admin/audit/verify', withQuery('admin', 'GET', fc.constant('/v1/admin/audit/verify'), fc.oneof(fc.constant({}), hostileValue))],
    ['GET /v1/admin/policy', withQuery('admin', 'GET', fc.constant('/v1/admin/policy'), fc.oneof(fc.constant({}), hostileValue))],
    [
      'POST /v1/admin/policy/evaluate',
      withBody(
        'admin',
        'POST',
        fc.constant('/v1/admin/policy/evaluate'),
        hostileOf(schemaOf(evaluateBody), { ...requestHints(), agentId: fc.constant(agent.id) }),
      ),
    ],
    // introspection, as JSON and as a form
    [
      'POST /v1/introspect (JSON)',
      withBody(
        'introspector',
        'POST',
        fc.constant('/v1/introspect'),
        hostileOf({
          type: 'object',
          properties: { token: { type: 'string', minLength: 1 }, token_type_hint: { type: 'string' } },
          required: ['token'],
        }),
      ),
    ],
    [
      'POST /v1/introspect (form)',
      hostileOf({
        type: 'object',
        properties: { token: { type: 'string', minLength: 1 }, token_type_hint: { type: 'string' } },
        required: ['token'],
      }).map((v): Sent => ({
        as: 'introspector',
        method: 'POST',
        path: '/v1/introspect',
        contentType: 'application/x-www-form-urlencoded',
        body:
          v && typeof v === 'object' && !Array.isArray(v) ? queryString(v as Record<string, unknown>).slice(1) : `token=${encodeLoosely(String(v))}`,
      })),
    ],
    // Slack, correctly signed
    ['POST /slack/events', slackRequest()],
    // break-glass reviews (last, so the seeds of the endpoints above stay as they were)
    ['GET /v1/admin/reviews', withQuery('admin', 'GET', fc.constant('/v1/admin/reviews'), queryFor(listReviewsQuery, 'reviews'))],
    [
      'POST /v1/admin/access-requests/{id}/acknowledge',
      withBody(
        'admin',
        'POST',
        idFrom(() => [...reviews, ...approved]).map((id) => `/v1/admin/access-requests/${id}/acknowledge`),
        hostileOf(schemaOf(acknowledgeBody)),
      ),
    ],
  ];

  it('never answers 5xx, and a refused request writes no row', async () => {
    const offenders: string[] = [];
    let total = 0;
    const list = endpoints();
    for (const [index, [endpoint, arbitrary]] of list.entries()) {
      const runs = endpoint === 'POST /slack/events' ? RUNS * 5 : RUNS;
      for (const sent of fc.sample(arbitrary, { seed: SEED + index, numRuns: runs })) {
        total++;
        const before = await counts();
        const res = await send(sent);
        if (process.env.FUZZ_DEBUG) console.log(endpoint, res.status, res.body?.error?.code ?? '', (sent.body ?? sent.path).slice(0, 160));
        const what = `${endpoint}: ${sent.method} ${sent.path.slice(0, 200)} ${sent.contentType ?? ''} ${(sent.body ?? '').slice(0, 300)}`;
        if (res.status >= 500) {
          offenders.push(`${res.status} ← ${what} → ${JSON.stringify(res.body).slice(0, 200)}`);
          continue;
        }
        if (res.status >= 400) {
          // 431 is Node's HTTP parser refusing a request line and headers over 16 KB, before any route exists.
          if (
            res.status !== 431 &&
            (!res.body?.error ||
              typeof res.body.error.code !== 'string' ||
              typeof res.body.error.message !== 'string' ||
              !Array.isArray(res.body.error.details))
          ) {
            offenders.push(`${res.status} without the error shape ← ${what} → ${JSON.stringify(res.body).slice(0, 200)}`);
          }
          const written = wroteRows(before, await counts());
          if (written.length > 0) offenders.push(`${res.status} ${res.body?.error?.code} wrote rows (${written.join(', ')}) ← ${what}`);
        } else if (sent.as === 'slack') await settle();
      }
    }
    expect(total).toBeGreaterThanOrEqual(300);
    const fivexx = offenders.filter((o) => o.startsWith('5')).length;
    if (offenders.length > 0) {
      throw new Error(
        `seed ${SEED}: ${offenders.length} of ${total} generated requests broke the property (${fivexx} answered 5xx):\n${offenders.join('\n')}`,
      );
    }
  });
});
