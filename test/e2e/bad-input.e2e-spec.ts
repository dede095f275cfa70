import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import { ADMIN_TOKEN, Broker, call, INTROSPECTION_TOKEN, putUser, registerAgent, Reply, startBroker, TestAgent } from '../support/broker';

// Every bad input is answered with a specific 4xx and error code, in the one error shape, and
// never reaches the database: the agent used here must end with no access request rows at all.

const valid = { resource: 'crm.customers', actions: ['read'], columns: ['id', 'name'], duration: '15m', reason: 'Draft a reply to ticket 4521' };
const withBody = (change: Record<string, unknown>) => ({ ...valid, ...change });
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
const without = (field: keyof typeof valid) => Object.fromEntries(Object.entries(valid).filter(([key]) => key !== field));

type Caller = 'agent' | 'admin' | 'introspector';
interface Case {
  name: string;
  as: Caller;
  method?: string;
  /** Path, or a function of the ids set up in beforeAll. */
  path: string | ((ids: Ids) => string);
  body?: Record<string, unknown> | ((ids: Ids) => Record<string, unknown>);
  raw?: string;
  headers?: Record<string, string>;
  status: number;
  code: string;
  /** A string the error's details must mention (the field or value at fault). */
  detail?: string;
}
interface Ids {
  agentId: string;
  takenName: string;
  pendingId: string;
  grantId: string;
  rsaJwk: object;
  okpJwk: Record<string, unknown>;
}

const REQUESTS = '/v1/access-requests';
const cases: Case[] = [
  // transport: the body is not a JSON object
  { name: 'malformed JSON', as: 'agent', path: REQUESTS, raw: '{"resource": "crm.customers",', status: 400, code: 'MALFORMED_JSON' },
  { name: 'a JSON array as body', as: 'agent', path: REQUESTS, raw: '[{"resource": "crm.customers"}]', status: 400, code: 'VALIDATION_FAILED' },
  { name: 'a JSON string as body', as: 'agent', path: REQUESTS, raw: '"read crm.customers"', status: 400, code: 'MALFORMED_JSON' },
  { name: 'a JSON number as body', as: 'agent', path: REQUESTS, raw: '42', status: 400, code: 'MALFORMED_JSON' },
  { name: 'an empty body', as: 'agent', path: REQUESTS, raw: '', status: 400, code: 'VALIDATION_FAILED' },
  {
    name: 'a text/plain body',
    as: 'agent',
    path: REQUESTS,
    raw: JSON.stringify(valid),
    headers: { 'content-type': 'text/plain' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'a body over 64 KB',
    as: 'agent',
    path: REQUESTS,
    body: withBody({ task: { notes: 'x'.repeat(70 * 1024) } }),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  // shape and types
  {
    name: 'actions as a string',
    as: 'agent',
    path: REQUESTS,
    body: withBody({ actions: 'read' }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'actions',
  },
  {
    name: 'columns as numbers',
    as: 'agent',
    path: REQUESTS,
    body: withBody({ columns: [1, 2] }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'columns.0',
  },
  {
    name: 'duration as a number',
    as: 'agent',
    path: REQUESTS,
    body: withBody({ duration: 900 }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'duration',
  },
  {
    name: 'reason as an object',
    as: 'agent',
    path: REQUESTS,
    body: withBody({ reason: { text: 'why' } }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'reason',
  },
  {
    name: 'an unknown top-level field',
    as: 'agent',
    path: REQUESTS,
    body: withBody({ priority: 'urgent' }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'priority',
  },
  { name: 'no resource', as: 'agent', path: REQUESTS, body: without('resource'), status: 400, code: 'VALIDATION_FAILED', detail: 'resource' },
  { name: 'no actions', as: 'agent', path: REQUESTS, body: without('actions'), status: 400, code: 'VALIDATION_FAILED', detail: 'actions' },
  { name: 'no duration', as: 'agent', path: REQUESTS, body: without('duration'), status: 400, code: 'VALIDATION_FAILED', detail: 'duration' },
  { name: 'no reason', as: 'agent', path: REQUESTS, body: without('reason'), status: 400, code: 'VALIDATION_FAILED', detail: 'reason' },
  { name: 'an empty reason', as: 'agent', path: REQUESTS, body: withBody({ reason: '' }), status: 400, code: 'VALIDATION_FAILED', detail: 'reason' },
  {
    name: 'a reason of only spaces',
    as: 'agent',
    path: REQUESTS,
    body: withBody({ reason: '   \t ' }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'reason',
  },
  {
    name: 'a reason of 1001 characters',
    as: 'agent',
    path: REQUESTS,
    body: withBody({ reason: 'r'.repeat(1001) }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'reason',
  },
  // well-formed but refused by the policy
  {
    name: 'an unknown resource',
    as: 'agent',
    path: REQUESTS,
    body: withBody({ resource: 'crm.secrets' }),
    status: 422,
    code: 'UNKNOWN_RESOURCE',
    detail: 'crm.secrets',
  },
  {
    name: 'an unknown column',
    as: 'agent',
    path: REQUESTS,
    body: withBody({ columns: ['id', 'shoe_size'] }),
    status: 422,
    code: 'UNKNOWN_COLUMN',
    detail: 'shoe_size',
  },
  {
    name: 'an action the resource does not allow',
    as: 'agent',
    path: REQUESTS,
    body: withBody({ actions: ['read', 'delete'] }),
    status: 422,
    code: 'ACTION_NOT_ALLOWED',
    detail: 'delete',
  },
  { name: 'a negative duration', as: 'agent', path: REQUESTS, body: withBody({ duration: '-5m' }), status: 422, code: 'INVALID_DURATION' },
  { name: 'a zero duration', as: 'agent', path: REQUESTS, body: withBody({ duration: '0m' }), status: 422, code: 'INVALID_DURATION' },
  { name: "duration '15 minutes'", as: 'agent', path: REQUESTS, body: withBody({ duration: '15 minutes' }), status: 422, code: 'INVALID_DURATION' },
  { name: "duration 'abc'", as: 'agent', path: REQUESTS, body: withBody({ duration: 'abc' }), status: 422, code: 'INVALID_DURATION' },
  { name: "duration '100' (no unit)", as: 'agent', path: REQUESTS, body: withBody({ duration: '100' }), status: 422, code: 'INVALID_DURATION' },
  {
    name: "duration '400d' (over the broker's 24h cap)",
    as: 'agent',
    path: REQUESTS,
    body: withBody({ duration: '400d' }),
    status: 422,
    code: 'DURATION_TOO_LONG',
    detail: 'duration',
  },
  {
    name: "ISO duration 'P1Y' (years vary in length)",
    as: 'agent',
    path: REQUESTS,
    body: withBody({ duration: 'P1Y' }),
    status: 422,
    code: 'INVALID_DURATION',
  },
  {
    name: 'onBehalfOf an unknown user',
    as: 'agent',
    path: REQUESTS,
    body: withBody({ onBehalfOf: 'nobody-here@example.com' }),
    status: 422,
    code: 'UNKNOWN_USER',
    detail: 'onBehalfOf',
  },
  // headers, query, path
  {
    name: 'an Idempotency-Key with spaces',
    as: 'agent',
    path: REQUESTS,
    body: valid,
    headers: { 'idempotency-key': 'my key 1' },
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'an Idempotency-Key of 300 characters',
    as: 'agent',
    path: REQUESTS,
    body: valid,
    headers: { 'idempotency-key': 'k'.repeat(300) },
    status: 400,
    code: 'VALIDATION_FAILED',
  },
  {
    name: 'GET with wait=abc',
    as: 'agent',
    method: 'GET',
    path: (ids) => `${REQUESTS}/${ids.pendingId}?wait=abc`,
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'wait',
  },
  {
    name: 'GET with wait=61',
    as: 'agent',
    method: 'GET',
    path: (ids) => `${REQUESTS}/${ids.pendingId}?wait=61`,
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'wait',
  },
  { name: 'GET a non-uuid request id', as: 'agent', method: 'GET', path: `${REQUESTS}/not-a-uuid`, status: 404, code: 'REQUEST_NOT_FOUND' },
  // admin API
  {
    name: 'an agent with an RSA key',
    as: 'admin',
    path: '/v1/admin/agents',
    body: (ids) => ({ name: `rsa-${randomUUID().slice(0, 8)}`, publicJwk: ids.rsaJwk }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'publicJwk.kty',
  },
  {
    name: 'an agent key without x',
    as: 'admin',
    path: '/v1/admin/agents',
    body: () => ({ name: `nox-${randomUUID().slice(0, 8)}`, publicJwk: { kty: 'OKP', crv: 'Ed25519' } }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'publicJwk.x',
  },
  {
    name: "an agent key with the private 'd'",
    as: 'admin',
    path: '/v1/admin/agents',
    body: (ids) => ({ name: `priv-${randomUUID().slice(0, 8)}`, publicJwk: { ...ids.okpJwk, d: 'bm90LWEtcmVhbC1rZXk' } }),
    status: 422,
    code: 'INVALID_KEY',
  },
  // Well-formed coordinates (32 bytes of base64url each) that are not a point on P-256: the key does not import.
  {
    name: 'an agent key that is not a point on the curve',
    as: 'admin',
    path: '/v1/admin/agents',
    body: () => ({ name: `bad-${randomUUID().slice(0, 8)}`, publicJwk: { kty: 'EC', crv: 'P-256', x: 'A'.repeat(43), y: 'A'.repeat(43) } }),
    status: 422,
    code: 'INVALID_KEY',
  },
  {
    name: 'a rotated key that is not a point on the curve',
    as: 'admin',
    method: 'PUT',
    path: (ids) => `/v1/admin/agents/${ids.agentId}/key`,
    body: { publicJwk: { kty: 'EC', crv: 'P-256', x: 'A'.repeat(43), y: 'A'.repeat(43) } },
    status: 422,
    code: 'INVALID_KEY',
  },
  // JWK members that are not base64url of the curve's size
  {
    name: 'an Ed25519 x of 3 bytes',
    as: 'admin',
    path: '/v1/admin/agents',
    body: () => ({ name: `short-${randomUUID().slice(0, 8)}`, publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'AAAA' } }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"publicJwk.x","message":"must be 32 bytes in base64url (43 characters); this is 4 characters"',
  },
  {
    name: 'an Ed25519 x in standard base64 (+ and /)',
    as: 'admin',
    path: '/v1/admin/agents',
    body: () => ({ name: `b64-${randomUUID().slice(0, 8)}`, publicJwk: { kty: 'OKP', crv: 'Ed25519', x: `${'+/'.repeat(21)}A` } }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"publicJwk.x","message":"must be base64url',
  },
  {
    name: 'an Ed25519 x with padding',
    as: 'admin',
    path: '/v1/admin/agents',
    body: () => ({ name: `pad-${randomUUID().slice(0, 8)}`, publicJwk: { kty: 'OKP', crv: 'Ed25519', x: `${'A'.repeat(43)}=` } }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"publicJwk.x"',
  },
  {
    name: 'an Ed25519 x of non-ASCII letters',
    as: 'admin',
    path: '/v1/admin/agents',
    body: () => ({ name: `utf-${randomUUID().slice(0, 8)}`, publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'é'.repeat(43) } }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"publicJwk.x"',
  },
  {
    name: 'a P-256 key without y',
    as: 'admin',
    path: '/v1/admin/agents',
    body: () => ({ name: `noy-${randomUUID().slice(0, 8)}`, publicJwk: { kty: 'EC', crv: 'P-256', x: 'A'.repeat(43) } }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"publicJwk.y","message":"a P-256 key needs y"',
  },
  {
    name: 'a rotated P-256 key whose y is 33 bytes',
    as: 'admin',
    method: 'PUT',
    path: (ids) => `/v1/admin/agents/${ids.agentId}/key`,
    body: { publicJwk: { kty: 'EC', crv: 'P-256', x: 'A'.repeat(43), y: 'A'.repeat(44) } },
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"publicJwk.y"',
  },
  {
    name: 'a duplicate agent name',
    as: 'admin',
    path: '/v1/admin/agents',
    body: (ids) => ({ name: ids.takenName, publicJwk: ids.okpJwk }),
    status: 409,
    code: 'AGENT_NAME_TAKEN',
  },
  {
    name: 'a user with a bad email',
    as: 'admin',
    method: 'PUT',
    path: '/v1/admin/users/bad-email-user',
    body: { email: 'not-an-email', displayName: 'Bad', groups: [] },
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'email',
  },
  {
    name: 'approve with an unknown field',
    as: 'admin',
    path: (ids) => `/v1/admin/access-requests/${ids.pendingId}/approve`,
    body: { comment: 'ok', grantEverything: true },
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'grantEverything',
  },
  {
    name: 'revoke without a reason',
    as: 'admin',
    path: (ids) => `/v1/admin/grants/${ids.grantId}/revoke`,
    body: {},
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'reason',
  },
  {
    name: 'list with limit=0',
    as: 'admin',
    method: 'GET',
    path: '/v1/admin/access-requests?limit=0',
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'limit',
  },
  {
    name: 'list with limit=1000',
    as: 'admin',
    method: 'GET',
    path: '/v1/admin/access-requests?limit=1000',
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'limit',
  },
  {
    name: 'list with status=bogus',
    as: 'admin',
    method: 'GET',
    path: '/v1/admin/access-requests?status=bogus',
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'status',
  },
  {
    name: 'list with a cursor the API never gave',
    as: 'admin',
    method: 'GET',
    path: '/v1/admin/access-requests?cursor=bm9wZQ',
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'cursor',
  },
  {
    name: 'audit with a non-numeric cursor',
    as: 'admin',
    method: 'GET',
    path: '/v1/admin/audit?cursor=abc',
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'cursor',
  },
  // cursors that decode to odd values
  {
    name: 'a requests cursor whose id is not a UUID',
    as: 'admin',
    method: 'GET',
    path: `/v1/admin/access-requests?cursor=${b64('2026-01-01T00:00:00.000Z|not-a-uuid')}`,
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"cursor","message":"its id is not a UUID"',
  },
  {
    name: 'a requests cursor in the year 275760',
    as: 'admin',
    method: 'GET',
    path: `/v1/admin/access-requests?cursor=${b64('+275760-09-13T00:00:00.000Z|9f1c0e4e-8a2b-4d1e-9a57-1c2b3d4e5f60')}`,
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"cursor"',
  },
  {
    name: 'a grants cursor in the year 1',
    as: 'admin',
    method: 'GET',
    path: `/v1/admin/grants?cursor=${b64('0001-01-01T00:00:00.000Z|9f1c0e4e-8a2b-4d1e-9a57-1c2b3d4e5f60')}`,
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'outside the years 2000-9999',
  },
  {
    name: "an agent's grants cursor on February 30th",
    as: 'agent',
    method: 'GET',
    path: `/v1/grants?cursor=${b64('2026-02-30T00:00:00.000Z|9f1c0e4e-8a2b-4d1e-9a57-1c2b3d4e5f60')}`,
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'not a real date',
  },
  {
    name: 'an audit cursor above 2^63-1',
    as: 'admin',
    method: 'GET',
    path: '/v1/admin/audit?cursor=9223372036854775808',
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"cursor","message":"beyond the largest audit event id (2^63-1)"',
  },
  {
    name: 'an agents cursor that is not a UUID',
    as: 'admin',
    method: 'GET',
    path: '/v1/admin/agents?cursor=null',
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"cursor","message":"not a UUID"',
  },
  {
    name: 'an agents cursor that is a huge number',
    as: 'admin',
    method: 'GET',
    path: '/v1/admin/agents?cursor=1e%2B21',
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"cursor"',
  },
  {
    name: 'evaluate with a non-uuid agentId',
    as: 'admin',
    path: '/v1/admin/policy/evaluate',
    body: withBody({ agentId: 'agent-7' }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'agentId',
  },
  {
    name: 'introspect with no token field',
    as: 'introspector',
    path: '/v1/introspect',
    body: { token_type_hint: 'access_token' },
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'token',
  },
  // text Postgres cannot store (NUL, lone surrogates): refused at the edge, naming the path
  {
    name: 'a NUL in the reason',
    as: 'agent',
    path: REQUESTS,
    body: withBody({ reason: 'Draft a reply\u0000' }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"reason","message":"contains a NUL character (U+0000), which cannot be stored"',
  },
  {
    name: 'a lone surrogate in the reason',
    as: 'agent',
    path: REQUESTS,
    body: withBody({ reason: 'Draft \ud800 a reply' }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"reason","message":"contains a lone surrogate (U+D800)',
  },
  {
    name: 'a NUL in a task value',
    as: 'agent',
    path: REQUESTS,
    body: withBody({ task: { id: 'T-1', note: 'a\u0000b' } }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"task.note"',
  },
  {
    name: 'a NUL in a task key',
    as: 'agent',
    path: REQUESTS,
    body: withBody({ task: { 'no\u0000te': 'x' } }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'the field name contains a NUL',
  },
  {
    name: 'a lone low surrogate in onBehalfOf',
    as: 'agent',
    path: REQUESTS,
    body: withBody({ onBehalfOf: 'alice\udc00' }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"onBehalfOf"',
  },
  {
    name: 'a NUL in a column name',
    as: 'agent',
    path: REQUESTS,
    body: withBody({ columns: ['id', 'na\u0000me'] }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"columns.1"',
  },
  {
    name: 'a NUL in an agent attribute',
    as: 'admin',
    path: '/v1/admin/agents',
    body: (ids) => ({ name: 'nul-attr-agent', publicJwk: ids.okpJwk, attributes: { team: 'sup\u0000port' } }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"attributes.team"',
  },
  {
    name: 'a lone surrogate in an agent attribute key',
    as: 'admin',
    path: '/v1/admin/agents',
    body: (ids) => ({ name: 'surrogate-attr-agent', publicJwk: ids.okpJwk, attributes: { ['te\ud83dam']: 'x' } }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: 'the field name contains a lone surrogate',
  },
  {
    name: "a NUL in an agent's owner",
    as: 'admin',
    path: '/v1/admin/agents',
    body: (ids) => ({ name: 'nul-owner-agent', publicJwk: ids.okpJwk, owner: 'team\u0000@example.com' }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"owner"',
  },
  {
    name: "a NUL in a user's display name",
    as: 'admin',
    method: 'PUT',
    path: '/v1/admin/users/nul-name-user',
    body: { email: 'nul-name@example.com', displayName: 'Eve\u0000', groups: [] },
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"displayName"',
  },
  {
    name: "a lone surrogate in a user's display name",
    as: 'admin',
    method: 'PUT',
    path: '/v1/admin/users/surrogate-name-user',
    body: { email: 'surrogate-name@example.com', displayName: 'Eve \udfff', groups: [] },
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"displayName"',
  },
  {
    name: 'a NUL in an approval comment',
    as: 'admin',
    path: (ids) => `/v1/admin/access-requests/${ids.pendingId}/approve`,
    body: { comment: 'ok\u0000' },
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"comment"',
  },
  {
    name: 'a lone surrogate in a deny comment',
    as: 'admin',
    path: (ids) => `/v1/admin/access-requests/${ids.pendingId}/deny`,
    body: { comment: '\ud800no' },
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"comment"',
  },
  {
    name: 'a NUL in a revoke reason',
    as: 'admin',
    path: (ids) => `/v1/admin/grants/${ids.grantId}/revoke`,
    body: { reason: 'incident\u000012' },
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"reason"',
  },
  {
    name: 'a NUL in the policy dry run',
    as: 'admin',
    path: '/v1/admin/policy/evaluate',
    body: (ids) => withBody({ agentId: ids.agentId, reason: 'x\u0000' }),
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"reason"',
  },
  {
    name: 'a NUL in a query parameter',
    as: 'admin',
    method: 'GET',
    path: '/v1/admin/users?group=sup%00port',
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"group"',
  },
  {
    name: 'a NUL in the audit type filter',
    as: 'admin',
    method: 'GET',
    path: '/v1/admin/audit?type=request.approved%00',
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"type"',
  },
  {
    name: 'a NUL in the users cursor',
    as: 'admin',
    method: 'GET',
    path: '/v1/admin/users?cursor=alice%00',
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"cursor"',
  },
  {
    name: 'a NUL in a path id',
    as: 'admin',
    method: 'GET',
    path: '/v1/admin/agents/a%00b',
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"id"',
  },
  {
    name: 'a NUL in a user id',
    as: 'admin',
    method: 'PUT',
    path: '/v1/admin/users/nul%00id',
    body: { email: 'nul-id@example.com', displayName: 'Nul', groups: [] },
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"id"',
  },
  {
    name: 'a percent-encoded lone surrogate in a path id',
    as: 'agent',
    path: '/v1/grants/%ED%A0%80/release',
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"url"',
  },
  {
    name: 'a path id of 300 characters',
    as: 'admin',
    method: 'GET',
    path: `/v1/admin/access-requests/${'x'.repeat(300)}`,
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"url"',
  },
  {
    name: 'a NUL in a token to introspect, as a form',
    as: 'introspector',
    path: '/v1/introspect',
    raw: 'token=abc%00def',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 400,
    code: 'VALIDATION_FAILED',
    detail: '"path":"token"',
  },
];

describe('bad input', () => {
  let broker: Broker;
  let agent: TestAgent;
  let ids: Ids;

  beforeAll(async () => {
    broker = await startBroker();
    agent = await registerAgent(broker);
    // Another agent owns the request and grant the admin cases point at, so `agent` asks nothing valid.
    const other = await registerAgent(broker);
    await putUser(broker, `bad-input-${other.id.slice(0, 8)}`, ['sales']);
    const pending = await other.call('POST', REQUESTS, withBody({ columns: ['email'] }));
    const approved = await other.call('POST', REQUESTS, valid);
    expect([pending.body.status, approved.body.status]).toEqual(['pending', 'approved']);
    const { publicKey: rsa } = await generateKeyPair('RS256', { extractable: true });
    const { publicKey: okp } = await generateKeyPair('EdDSA', { extractable: true });
    ids = {
      agentId: agent.id,
      takenName: other.name,
      pendingId: pending.body.id,
      grantId: approved.body.grant.id,
      rsaJwk: await exportJWK(rsa),
      okpJwk: (await exportJWK(okp)) as Record<string, unknown>,
    };
  });
  afterAll(() => broker?.close());

  async function send(c: Case): Promise<Reply> {
    const token = c.as === 'agent' ? await agent.assertion() : c.as === 'admin' ? ADMIN_TOKEN : INTROSPECTION_TOKEN;
    const path = typeof c.path === 'function' ? c.path(ids) : c.path;
    const body = typeof c.body === 'function' ? c.body(ids) : c.body;
    return call(`${broker.url}${path}`, c.method ?? 'POST', { token, body, raw: c.raw, headers: c.headers });
  }

  it('has a table of at least 35 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(35);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s → its 4xx and code', async (_name, c) => {
    const res = await send(c);
    expect(res.status).toBeLessThan(500);
    expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status: c.status, code: c.code });
    expect(Object.keys(res.body)).toEqual(['error']);
    expect(Object.keys(res.body.error).sort()).toEqual(['code', 'details', 'message']);
    expect(typeof res.body.error.message).toBe('string');
    expect(res.body.error.message.trim()).not.toBe('');
    expect(Array.isArray(res.body.error.details)).toBe(true);
    if (c.detail) expect(JSON.stringify(res.body.error.details)).toContain(c.detail);
  });

  it('left no access request rows for the agent, and the targets of the admin cases unchanged', async () => {
    expect(await broker.prisma.accessRequest.count({ where: { agentId: ids.agentId } })).toBe(0);
    expect(await broker.prisma.accessRequest.findUnique({ where: { id: ids.pendingId } })).toMatchObject({ status: 'pending' });
    expect(await broker.prisma.grant.findUnique({ where: { id: ids.grantId } })).toMatchObject({ status: 'active' });
    expect(await broker.prisma.user.count({ where: { id: { in: ['bad-email-user', 'nul-name-user', 'surrogate-name-user'] } } })).toBe(0);
    expect(await broker.prisma.agent.count({ where: { name: { in: ['nul-attr-agent', 'surrogate-attr-agent', 'nul-owner-agent'] } } })).toBe(0);
    expect(await broker.prisma.approval.count({ where: { requestId: ids.pendingId } })).toBe(0);
  });
});
