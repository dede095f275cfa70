import type { AuditCheckpoint } from '@gatehouse/prisma';
import { canonicalEvent } from './audit-hash';
import type { SealedEvent } from './export-records';

/** The OCSF schema version the records follow. */
export const OCSF_VERSION = '1.3.0';

/** What the event row does not say but the OCSF record names: the agent's name and the scope concerned. */
export interface OcsfContext {
  agentName?: string;
  scope?: { resource: string; actions: string[]; columns: string[] };
}

type Outcome = 'success' | 'failure' | 'other';

interface OcsfClass {
  uid: number;
  name: string;
  category: number;
  activities: Record<number, string>;
}

const CATEGORIES: Record<number, string> = { 0: 'Uncategorized', 3: 'Identity & Access Management', 6: 'Application Activity' };

const ACCOUNT_CHANGE: OcsfClass = { uid: 3001, name: 'Account Change', category: 3, activities: { 1: 'Create', 2: 'Enable', 5: 'Disable' } };
const AUTHORIZE_SESSION: OcsfClass = { uid: 3003, name: 'Authorize Session', category: 3, activities: { 1: 'Assign Privileges' } };
const USER_ACCESS: OcsfClass = {
  uid: 3005,
  name: 'User Access Management',
  category: 3,
  activities: { 1: 'Assign Privileges', 2: 'Revoke Privileges' },
};
const API_ACTIVITY: OcsfClass = { uid: 6003, name: 'API Activity', category: 6, activities: { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete' } };
const BASE_EVENT: OcsfClass = { uid: 0, name: 'Base Event', category: 0, activities: {} };

/** How one Gatehouse event type maps: the class, the activity (99: Other), the outcome and the severity (1-6). */
interface Mapping {
  cls: OcsfClass;
  activity: number;
  outcome: Outcome;
  severity?: number;
}

const m = (cls: OcsfClass, activity: number, outcome: Outcome, severity = 1): Mapping => ({ cls, activity, outcome, severity });

/** The mapping table (README: "OCSF mapping"). A type not listed falls back by its prefix. */
export const OCSF_MAPPINGS: Record<string, Mapping> = {
  'request.created': m(AUTHORIZE_SESSION, 1, 'other'),
  'request.pending': m(AUTHORIZE_SESSION, 1, 'other'),
  'request.consent_requested': m(AUTHORIZE_SESSION, 1, 'other'),
  'request.consented': m(AUTHORIZE_SESSION, 1, 'other'),
  'request.approval_received': m(AUTHORIZE_SESSION, 1, 'other'),
  'request.escalated': m(AUTHORIZE_SESSION, 1, 'other'),
  'request.cancelled': m(AUTHORIZE_SESSION, 1, 'other'),
  'request.approved': m(AUTHORIZE_SESSION, 1, 'success'),
  'request.denied': m(AUTHORIZE_SESSION, 1, 'failure', 2),
  'request.timed_out': m(AUTHORIZE_SESSION, 1, 'failure'),
  'approval.refused': m(AUTHORIZE_SESSION, 99, 'failure', 2),
  // Break-glass skipped the approvers: a SIEM should rank it above routine grants.
  'access_request.break_glass': m(AUTHORIZE_SESSION, 1, 'success', 4),
  'access_request.acknowledged': m(AUTHORIZE_SESSION, 99, 'success'),
  'access_request.break_glass_refused': m(AUTHORIZE_SESSION, 1, 'failure', 3),
  'grant.issued': m(USER_ACCESS, 1, 'success'),
  'grant.released': m(USER_ACCESS, 2, 'success'),
  'grant.expired': m(USER_ACCESS, 2, 'success'),
  'grant.revoked': m(USER_ACCESS, 2, 'success'),
  'grant.superseded': m(USER_ACCESS, 2, 'success'),
  'grant.used': m(API_ACTIVITY, 99, 'success'),
  'access.refused': m(API_ACTIVITY, 99, 'failure', 2),
  'delegation.created': m(USER_ACCESS, 1, 'success'),
  'delegation.ended': m(USER_ACCESS, 2, 'success'),
  'delegation.refused': m(USER_ACCESS, 1, 'failure'),
  'agent.registered': m(ACCOUNT_CHANGE, 1, 'success'),
  'agent.resumed': m(ACCOUNT_CHANGE, 2, 'success'),
  'agent.suspended': m(ACCOUNT_CHANGE, 5, 'success', 3),
  'agent.key_rotated': m(ACCOUNT_CHANGE, 99, 'success'),
  'user.upserted': m(ACCOUNT_CHANGE, 99, 'success'),
  'policy.loaded': m(API_ACTIVITY, 3, 'success'),
  'key.rotated': m(API_ACTIVITY, 3, 'success'),
};

const PREFIX_FALLBACKS: [string, Mapping][] = [
  ['request.', m(AUTHORIZE_SESSION, 1, 'other')],
  ['grant.', m(USER_ACCESS, 99, 'other')],
  ['delegation.', m(USER_ACCESS, 99, 'other')],
  ['agent.', m(ACCOUNT_CHANGE, 99, 'other')],
  ['user.', m(ACCOUNT_CHANGE, 99, 'other')],
];

/** The mapping of one type: listed, else by prefix, else API Activity / Other. */
export function ocsfMapping(type: string): Mapping {
  return OCSF_MAPPINGS[type] ?? PREFIX_FALLBACKS.find(([prefix]) => type.startsWith(prefix))?.[1] ?? m(API_ACTIVITY, 99, 'other');
}

const SEVERITIES: Record<number, string> = { 1: 'Informational', 2: 'Low', 3: 'Medium', 4: 'High', 5: 'Critical', 6: 'Fatal' };
const STATUSES: Record<Outcome, [number, string]> = { success: [1, 'Success'], failure: [2, 'Failure'], other: [99, 'Other'] };

type OcsfUser = { uid?: string; name?: string; email_addr?: string; type: string; type_id: number };

/** `agent:<id>`, `admin:<name>`, `user:<id>`, `slack:<id>`, `system`, `policy` as an OCSF actor. */
function actorOf(actor: string, event: SealedEvent, context: OcsfContext): Record<string, unknown> {
  const colon = actor.indexOf(':');
  const [kind, name] = colon < 0 ? [actor, ''] : [actor.slice(0, colon), actor.slice(colon + 1)];
  switch (kind) {
    case 'agent':
      return { user: agentUser(name, name === event.agentId ? context.agentName : undefined) };
    case 'admin':
      return { user: { name, type: 'Admin', type_id: 2 } };
    case 'user':
      return { user: { uid: name, type: 'User', type_id: 1 } };
    case 'slack':
      return { user: { uid: name, type: 'Slack user', type_id: 99 } };
    case 'system':
    case 'policy':
      return { app_name: 'Gatehouse', user: { name: kind, type: 'System', type_id: 3 } };
    default:
      return { user: { name: actor, type: 'Unknown', type_id: 0 } };
  }
}

function agentUser(id: string | null | undefined, name: string | undefined): OcsfUser {
  return { ...(id ? { uid: id } : {}), ...(name ? { name } : {}), type: 'AI agent', type_id: 99 };
}

/** The user an event is about: the agent, except for a directory user's own change. */
function subjectOf(event: SealedEvent, context: OcsfContext): OcsfUser | undefined {
  const data = (event.data ?? {}) as Record<string, unknown>;
  if (event.type.startsWith('user.')) {
    const id = typeof data.id === 'string' ? data.id : undefined;
    return {
      ...(id ? { uid: id } : {}),
      ...(typeof data.displayName === 'string' ? { name: data.displayName } : {}),
      ...(typeof data.email === 'string' ? { email_addr: data.email } : {}),
      type: 'User',
      type_id: 1,
    };
  }
  return event.agentId ? agentUser(event.agentId, context.agentName) : undefined;
}

/** Privileges as the grant token's scope writes them (`crm.customers:read`); a delegation as `act-for:<user>`. */
function privilegesOf(event: SealedEvent, context: OcsfContext): string[] | undefined {
  const data = (event.data ?? {}) as Record<string, unknown>;
  if (event.type.startsWith('delegation.') && typeof data.user === 'string') return [`act-for:${data.user}`];
  return context.scope?.actions.map((action) => `${context.scope!.resource}:${action}`);
}

/** One sealed event as an OCSF 1.3 event; `raw_data` is the exact JSON the chain hashed. */
export function ocsfEventRecord(event: SealedEvent, context: OcsfContext = {}): Record<string, unknown> {
  const { cls, activity, outcome, severity = 1 } = ocsfMapping(event.type);
  const activityName = cls.activities[activity] ?? event.type;
  const [statusId, status] = STATUSES[outcome];
  const user = subjectOf(event, context);
  const privileges = privilegesOf(event, context);
  const scope = context.scope;
  const record: Record<string, unknown> = {
    category_uid: cls.category,
    category_name: CATEGORIES[cls.category],
    class_uid: cls.uid,
    class_name: cls.name,
    activity_id: activity,
    activity_name: activityName,
    type_uid: cls.uid * 100 + activity,
    type_name: `${cls.name}: ${activity === 99 ? 'Other' : activityName}`,
    severity_id: severity,
    severity: SEVERITIES[severity],
    status_id: statusId,
    status: outcome === 'other' ? event.type.slice(event.type.lastIndexOf('.') + 1) : status,
    status_detail: event.type,
    time: event.createdAt.getTime(),
    message: `${event.type} by ${event.actor}${scope ? ` (${scope.resource})` : ''}`,
    metadata: {
      version: OCSF_VERSION,
      product: { name: 'Gatehouse', vendor_name: 'Gatehouse', feature: { name: 'audit trail' } },
      uid: `event-${event.seq}`,
      sequence: Number(event.seq),
      event_code: event.type,
      log_name: 'gatehouse-audit',
      original_time: event.createdAt.toISOString(),
      ...(event.requestId ? { correlation_uid: event.requestId } : {}),
    },
    actor: actorOf(event.actor, event, context),
    ...(user ? { user } : {}),
    ...(event.sourceIp ? { src_endpoint: { ip: event.sourceIp } } : {}),
    ...(privileges?.length ? { privileges } : {}),
  };
  if (cls === USER_ACCESS && scope)
    record.resource = { uid: scope.resource, name: scope.resource, type: 'Gatehouse resource', data: { columns: scope.columns } };
  if (cls === API_ACTIVITY) {
    record.api = { operation: event.type, service: { name: 'Gatehouse' } };
    if (scope) record.resources = [{ uid: scope.resource, name: scope.resource, type: 'Gatehouse resource' }];
  }
  record.raw_data = canonicalEvent(event);
  record.unmapped = {
    gatehouse: {
      record: 'event',
      seq: event.seq.toString(),
      prevHash: event.prevHash,
      hash: event.hash,
      id: event.id.toString(),
      requestId: event.requestId ?? null,
      grantId: event.grantId ?? null,
      agentId: event.agentId ?? null,
      data: event.data ?? null,
    },
  };
  return record;
}

/** A signed checkpoint as an OCSF Base Event; the checkpoint itself sits under `unmapped.gatehouse`. */
export function ocsfCheckpointRecord(checkpoint: AuditCheckpoint): Record<string, unknown> {
  return {
    category_uid: 0,
    category_name: CATEGORIES[0],
    class_uid: BASE_EVENT.uid,
    class_name: BASE_EVENT.name,
    activity_id: 99,
    activity_name: 'Checkpoint',
    type_uid: 99,
    type_name: 'Base Event: Other',
    severity_id: 1,
    severity: SEVERITIES[1],
    status_id: 1,
    status: 'Success',
    time: checkpoint.createdAt.getTime(),
    message: `audit checkpoint: events up to seq ${checkpoint.seq} signed by ${checkpoint.kid}`,
    metadata: {
      version: OCSF_VERSION,
      product: { name: 'Gatehouse', vendor_name: 'Gatehouse', feature: { name: 'audit trail' } },
      uid: `checkpoint-${checkpoint.seq}`,
      event_code: 'audit.checkpoint',
      log_name: 'gatehouse-audit',
    },
    unmapped: {
      gatehouse: {
        record: 'checkpoint',
        seq: checkpoint.seq.toString(),
        hash: checkpoint.hash,
        kid: checkpoint.kid,
        signature: checkpoint.signature,
        createdAt: checkpoint.createdAt.toISOString(),
      },
    },
  };
}
