import type { AccessRequest, Grant } from '@gatehouse/prisma';
import type { AuditEntry } from './audit-events.repository';
import { MERGE_COUNTS_SQL } from './baselines.repository';

// The submit hot path's one statement, as a named prepared statement: its text is built once, here,
// from column maps typed over every field of the rows, so a new column does not compile until it
// is written here (none is silently dropped) and the statement is parsed once per connection.

type Column = [name: string, cast: string];

const REQUEST: Record<keyof AccessRequest, Column> = {
  id: ['id', '::uuid'],
  agentId: ['agent_id', '::uuid'],
  onBehalfOf: ['on_behalf_of', '::text'],
  resource: ['resource', '::text'],
  actions: ['actions', '::text[]'],
  columns: ['columns', '::text[]'],
  operations: ['operations', '::text[]'],
  durationSeconds: ['duration_seconds', '::int'],
  reason: ['reason', '::text'],
  task: ['task', '::jsonb'],
  sourceIp: ['source_ip', '::text'],
  status: ['status', '::text'],
  decision: ['decision', '::jsonb'],
  policyVersion: ['policy_version', '::text'],
  riskScore: ['risk_score', '::int'],
  approverGroup: ['approver_group', '::text'],
  requiredApprovals: ['required_approvals', '::int'],
  approvalExpiresAt: ['approval_expires_at', '::timestamptz'],
  idempotencyKey: ['idempotency_key', '::text'],
  bodyHash: ['body_hash', '::text'],
  decidedAt: ['decided_at', '::timestamptz'],
  decidedBy: ['decided_by', '::text'],
  decisionComment: ['decision_comment', '::text'],
  remindAt: ['remind_at', '::timestamptz'],
  escalateAt: ['escalate_at', '::timestamptz'],
  escalateTo: ['escalate_to', '::text'],
  escalatedAt: ['escalated_at', '::timestamptz'],
  delegationId: ['delegation_id', '::uuid'],
  consent: ['consent', '::text'],
  breakGlass: ['break_glass', '::boolean'],
  review: ['review', '::text'],
  reviewedAt: ['reviewed_at', '::timestamptz'],
  reviewedBy: ['reviewed_by', '::text'],
  reviewComment: ['review_comment', '::text'],
  alertedAt: ['alerted_at', '::timestamptz'],
  extendsGrantId: ['extends_grant_id', '::uuid'],
  chainStartedAt: ['chain_started_at', '::timestamptz'],
  createdAt: ['created_at', '::timestamptz'],
  updatedAt: ['updated_at', '::timestamptz'],
};

// request_id comes from the inserted request (the grant exists only if the request does).
const GRANT: Record<Exclude<keyof Grant, 'requestId'>, Column> = {
  id: ['id', '::uuid'],
  agentId: ['agent_id', '::uuid'],
  subject: ['subject', '::text'],
  audience: ['audience', '::text'],
  resource: ['resource', '::text'],
  actions: ['actions', '::text[]'],
  columns: ['columns', '::text[]'],
  operations: ['operations', '::text[]'],
  purpose: ['purpose', '::text'],
  kid: ['kid', '::text'],
  issuedAt: ['issued_at', '::timestamptz'],
  expiresAt: ['expires_at', '::timestamptz'],
  status: ['status', '::text'],
  endedAt: ['ended_at', '::timestamptz'],
  endedBy: ['ended_by', '::text'],
  endReason: ['end_reason', '::text'],
  sensitivity: ['sensitivity', '::text'],
};

const requestFields = Object.keys(REQUEST) as (keyof AccessRequest)[];
const grantFields = Object.keys(GRANT) as Exclude<keyof Grant, 'requestId'>[];
// $1, $2: the agent the caller authenticated (its id and key); then the request, the grant, a flag, the audit rows.
const at = (offset: number) => (field: string, i: number, map: Record<string, Column>) => `$${offset + i}${map[field][1]}`;
const requestStart = 3;
const grantStart = requestStart + requestFields.length;
const flag = grantStart + grantFields.length;
const audit = flag + 1;
// The observation this request adds to its agent's baseline (null: none), and the shard it goes to.
const observed = audit + 1;
const shard = observed + 1;

/**
 * Inserts a decided request, its grant when approved at once, and their audit events, atomically and
 * in one round trip, only while the agent is still active with the key that signed the call: an agent
 * suspended or re-keyed a moment ago (another replica, a stale cache) inserts nothing. The request's
 * observation is added to one shard of its agent's baseline in the same statement.
 */
export const SUBMIT_STATEMENT = {
  name: 'gatehouse_submit_v4',
  text: `
    WITH agent AS (
      SELECT 1 FROM agents WHERE id = $1::uuid AND status = 'active' AND key_id = $2::text
    ), r AS (
      INSERT INTO access_requests (${requestFields.map((f) => REQUEST[f][0]).join(', ')})
      SELECT ${requestFields.map((f, i) => at(requestStart)(f, i, REQUEST)).join(', ')} FROM agent
      RETURNING id
    ), g AS (
      INSERT INTO grants (request_id, ${grantFields.map((f) => GRANT[f][0]).join(', ')})
      SELECT r.id, ${grantFields.map((f, i) => at(grantStart)(f, i, GRANT)).join(', ')} FROM r WHERE $${flag}::boolean
    ), e AS (
      INSERT INTO audit_events (type, actor, source_ip, request_id, grant_id, agent_id, data)
      SELECT e.type, e.actor, e.source_ip, e.request_id, e.grant_id, e.agent_id, e.data
      FROM r, jsonb_to_recordset($${audit}::jsonb) AS e(type text, actor text, source_ip text, request_id uuid, grant_id uuid, agent_id uuid, data jsonb)
    ), b AS (
      INSERT INTO agent_baselines (agent_id, shard, counts, updated_at)
      SELECT $1::uuid, $${shard}::smallint, $${observed}::jsonb, $${requestStart + requestFields.indexOf('createdAt')}::timestamptz
      FROM r WHERE $${observed}::jsonb IS NOT NULL
      ON CONFLICT (agent_id, shard) DO UPDATE SET counts = ${MERGE_COUNTS_SQL}, updated_at = EXCLUDED.updated_at
    )
    SELECT count(*)::int AS inserted FROM r`,
};

const jsonb = new Set(['::jsonb']);
const param = (value: unknown, cast: string) => (jsonb.has(cast) && value !== null && value !== undefined ? JSON.stringify(value) : (value ?? null));

/** The statement's values, in its placeholders' order. */
export function submitValues(
  guard: { agentId: string; keyId: string },
  request: AccessRequest,
  grant: Grant | null,
  entries: AuditEntry[],
  baseline: { shard: number; counts: Record<string, number> } | null = null,
): unknown[] {
  const events = entries.map((e) => ({
    type: e.type,
    actor: e.actor,
    source_ip: e.sourceIp ?? null,
    request_id: e.requestId ?? null,
    grant_id: e.grantId ?? null,
    agent_id: e.agentId ?? null,
    data: e.data ?? {},
  }));
  return [
    guard.agentId,
    guard.keyId,
    ...requestFields.map((f) => param(request[f], REQUEST[f][1])),
    ...grantFields.map((f) => (grant ? param(grant[f], GRANT[f][1]) : null)),
    grant !== null,
    JSON.stringify(events),
    baseline ? JSON.stringify(baseline.counts) : null,
    baseline?.shard ?? 0,
  ];
}

/** Every column of access_requests as a row of the API's shape (the select list of the hot reads). */
export const REQUEST_SELECT = requestFields.map((f) => `${REQUEST[f][0]} AS "${f}"`).join(', ');
/** Every column of grants as a row of the API's shape. */
export const GRANT_SELECT = ['request_id AS "requestId"', ...grantFields.map((f) => `${GRANT[f][0]} AS "${f}"`)].join(', ');
