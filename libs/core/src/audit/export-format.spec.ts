import { createHash } from 'node:crypto';
import { canonicalize } from 'json-canonicalize';
import type { AuditCheckpoint } from '@gatehouse/prisma';
import { hashEvent } from './audit-hash';
import { backoffMs, scrub } from './export-audit-trail';
import { parseAuditSink } from './export-config';
import { checkpointOfLine, jsonCheckpointRecord, jsonEventRecord, SealedEvent } from './export-records';
import { ocsfCheckpointRecord, ocsfEventRecord, OCSF_VERSION } from './ocsf';

const AGENT = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
const REQUEST = '0f8fad5b-d9cb-469f-a165-70867728950e';
const GRANT = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';

function sealed(fields: Partial<SealedEvent> = {}): SealedEvent {
  return {
    id: 42n,
    xid: 900n,
    seq: 7n,
    prevHash: 'a'.repeat(64),
    hash: 'b'.repeat(64),
    sealedAt: new Date('2026-11-23T10:00:01.000Z'),
    type: 'grant.issued',
    actor: `agent:${AGENT}`,
    sourceIp: '10.0.0.7',
    requestId: REQUEST,
    grantId: GRANT,
    agentId: AGENT,
    data: { resource: 'crm.customers', actions: ['read'], columns: ['id', 'name'] },
    createdAt: new Date('2026-11-23T10:00:00.123Z'),
    ...fields,
  };
}

const checkpoint: AuditCheckpoint = {
  seq: 7n,
  hash: 'b'.repeat(64),
  kid: 'kid-1',
  signature: 'eyJhbGciOiJFZERTQSJ9.e30.c2ln',
  createdAt: new Date('2026-11-23T10:00:02.000Z'),
};

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('json records', () => {
  it('carry seq, prevHash and hash; without them the record is exactly what the chain hashed', () => {
    const event = sealed();
    const record = jsonEventRecord(event);
    expect(record).toMatchObject({ record: 'event', seq: '7', prevHash: 'a'.repeat(64), hash: 'b'.repeat(64), id: '42', type: 'grant.issued' });
    const { record: _r, prevHash, hash: _h, ...hashed } = record;
    // What a receiver computes, with nothing of the broker's code: sha256(prevHash + JCS(fields)).
    const expected = sha256(`${prevHash as string}${canonicalize(hashed)}`);
    expect(expected).toBe(hashEvent(event.prevHash, event));
  });

  it('write a checkpoint as its own record, which a verifier reads back from any exported shape', () => {
    const json = jsonCheckpointRecord(checkpoint);
    expect(json).toEqual({
      record: 'checkpoint',
      seq: '7',
      hash: 'b'.repeat(64),
      kid: 'kid-1',
      signature: checkpoint.signature,
      createdAt: '2026-11-23T10:00:02.000Z',
    });
    const fields = { seq: '7', hash: 'b'.repeat(64), kid: 'kid-1', signature: checkpoint.signature, createdAt: '2026-11-23T10:00:02.000Z' };
    expect(checkpointOfLine(json)).toEqual(fields);
    expect(checkpointOfLine(ocsfCheckpointRecord(checkpoint))).toEqual(fields);
    expect(checkpointOfLine({ time: 1, event: json })).toEqual(fields);
    expect(checkpointOfLine(jsonEventRecord(sealed()))).toBeNull();
    expect(checkpointOfLine(ocsfEventRecord(sealed()))).toBeNull();
    expect(checkpointOfLine({ ...json, seq: 7 })).toBeNull();
    // Strings that are not a seq or a hash the export writes are unreadable, not a crash of BigInt().
    for (const seq of ['12a', '007', '', '-1', '1e3']) expect(checkpointOfLine({ ...json, seq })).toBeNull();
    expect(checkpointOfLine({ ...json, hash: 'B'.repeat(64) })).toBeNull();
    expect(checkpointOfLine('checkpoint')).toBeNull();
    expect(checkpointOfLine(null)).toBeNull();
  });
});

describe('OCSF records', () => {
  const context = { agentName: 'support-bot', scope: { resource: 'crm.customers', actions: ['read', 'write'], columns: ['id', 'name'] } };

  it('a grant issued is User Access Management: Assign Privileges, for the agent, with the scope as privileges', () => {
    const record = ocsfEventRecord(sealed(), context);
    expect(record).toMatchObject({
      category_uid: 3,
      category_name: 'Identity & Access Management',
      class_uid: 3005,
      class_name: 'User Access Management',
      activity_id: 1,
      activity_name: 'Assign Privileges',
      type_uid: 300501,
      type_name: 'User Access Management: Assign Privileges',
      severity_id: 1,
      severity: 'Informational',
      status_id: 1,
      status: 'Success',
      status_detail: 'grant.issued',
      time: Date.parse('2026-11-23T10:00:00.123Z'),
      metadata: {
        version: OCSF_VERSION,
        product: { name: 'Gatehouse', vendor_name: 'Gatehouse' },
        uid: 'event-7',
        sequence: 7,
        event_code: 'grant.issued',
        correlation_uid: REQUEST,
        original_time: '2026-11-23T10:00:00.123Z',
      },
      actor: { user: { uid: AGENT, name: 'support-bot', type: 'AI agent', type_id: 99 } },
      user: { uid: AGENT, name: 'support-bot', type: 'AI agent', type_id: 99 },
      src_endpoint: { ip: '10.0.0.7' },
      privileges: ['crm.customers:read', 'crm.customers:write'],
      resource: { uid: 'crm.customers', name: 'crm.customers', data: { columns: ['id', 'name'] } },
      unmapped: { gatehouse: { record: 'event', seq: '7', prevHash: 'a'.repeat(64), hash: 'b'.repeat(64), id: '42', grantId: GRANT } },
    });
    expect(OCSF_VERSION).toMatch(/^1\.\d+\.\d+$/);
    // raw_data is the exact text the chain hashed: a receiver checks the hash from it alone.
    expect(sha256(`${'a'.repeat(64)}${record.raw_data as string}`)).toBe(hashEvent('a'.repeat(64), sealed()));
  });

  it.each([
    ['grant.revoked', 'admin:ops', 3005, 2, 'Revoke Privileges', 1, 'Success', 1],
    ['grant.expired', 'system', 3005, 2, 'Revoke Privileges', 1, 'Success', 1],
    ['request.approved', 'policy', 3003, 1, 'Assign Privileges', 1, 'Success', 1],
    ['request.denied', 'user:alice', 3003, 1, 'Assign Privileges', 2, 'Failure', 2],
    ['request.timed_out', 'system', 3003, 1, 'Assign Privileges', 2, 'Failure', 1],
    ['request.pending', 'policy', 3003, 1, 'Assign Privileges', 99, 'pending', 1],
    ['approval.refused', 'slack:U123', 3003, 99, 'approval.refused', 2, 'Failure', 2],
    ['agent.registered', 'admin:ops', 3001, 1, 'Create', 1, 'Success', 1],
    ['agent.suspended', 'admin:ops', 3001, 5, 'Disable', 1, 'Success', 3],
    ['agent.resumed', 'admin:ops', 3001, 2, 'Enable', 1, 'Success', 1],
    ['policy.loaded', 'system', 6003, 3, 'Update', 1, 'Success', 1],
    ['access.refused', 'system', 6003, 99, 'access.refused', 2, 'Failure', 2],
    ['access_request.break_glass', 'agent:x', 3003, 1, 'Assign Privileges', 1, 'Success', 4],
    ['access_request.acknowledged', 'admin:ops', 3003, 99, 'access_request.acknowledged', 1, 'Success', 1],
    ['access_request.break_glass_refused', 'agent:x', 3003, 1, 'Assign Privileges', 2, 'Failure', 3],
    // Types this mapping does not list fall back by prefix, or to API Activity: Other.
    ['request.extended', 'agent:x', 3003, 1, 'Assign Privileges', 99, 'extended', 1],
    ['grant.narrowed', 'admin:ops', 3005, 99, 'grant.narrowed', 99, 'narrowed', 1],
    ['review.acknowledged', 'admin:ops', 6003, 99, 'review.acknowledged', 99, 'acknowledged', 1],
  ])('%s by %s: class %i, activity %i (%s), status %i (%s), severity %i', (type, actor, cls, activity, activityName, statusId, status, severity) => {
    const record = ocsfEventRecord(sealed({ type, actor }), context);
    expect(record).toMatchObject({
      class_uid: cls,
      activity_id: activity,
      activity_name: activityName,
      type_uid: cls * 100 + activity,
      status_id: statusId,
      status,
      status_detail: type,
      severity_id: severity,
    });
    expect(record.type_name).toBe(`${record.class_name}: ${activity === 99 ? 'Other' : activityName}`);
  });

  it('names the actor by kind and API Activity carries the api and resources', () => {
    expect(ocsfEventRecord(sealed({ actor: 'admin:ops' })).actor).toEqual({ user: { name: 'ops', type: 'Admin', type_id: 2 } });
    expect(ocsfEventRecord(sealed({ actor: 'user:alice' })).actor).toEqual({ user: { uid: 'alice', type: 'User', type_id: 1 } });
    expect(ocsfEventRecord(sealed({ actor: 'system' })).actor).toEqual({
      app_name: 'Gatehouse',
      user: { name: 'system', type: 'System', type_id: 3 },
    });
    const api = ocsfEventRecord(sealed({ type: 'policy.loaded', agentId: null, requestId: null, grantId: null, sourceIp: null }));
    expect(api).toMatchObject({ api: { operation: 'policy.loaded', service: { name: 'Gatehouse' } } });
    expect(api).not.toHaveProperty('user');
    expect(api).not.toHaveProperty('src_endpoint');
    expect(api).not.toHaveProperty('privileges');
    expect((api.metadata as object) ?? {}).not.toHaveProperty('correlation_uid');
  });

  it('a user change names the directory user; a delegation its act-for privilege', () => {
    const user = ocsfEventRecord(
      sealed({ type: 'user.upserted', agentId: null, data: { id: 'alice', email: 'alice@example.com', displayName: 'Alice', groups: [] } }),
    );
    expect(user).toMatchObject({ class_uid: 3001, user: { uid: 'alice', name: 'Alice', email_addr: 'alice@example.com', type: 'User', type_id: 1 } });
    const delegation = ocsfEventRecord(sealed({ type: 'delegation.created', data: { user: 'alice', resources: ['crm.*'] } }), { agentName: 'bot' });
    expect(delegation).toMatchObject({ class_uid: 3005, activity_id: 1, privileges: ['act-for:alice'], user: { uid: AGENT, name: 'bot' } });
  });

  it('a checkpoint is a Base Event with the checkpoint under unmapped.gatehouse', () => {
    expect(ocsfCheckpointRecord(checkpoint)).toMatchObject({
      class_uid: 0,
      category_uid: 0,
      activity_id: 99,
      type_uid: 99,
      time: Date.parse('2026-11-23T10:00:02.000Z'),
      metadata: { version: OCSF_VERSION, uid: 'checkpoint-7', event_code: 'audit.checkpoint' },
      unmapped: { gatehouse: { record: 'checkpoint', seq: '7', kid: 'kid-1', signature: checkpoint.signature } },
    });
  });
});

describe('delivery failures', () => {
  it('back off exponentially from the first delay, capped', () => {
    const retry = { firstDelayMs: 1000, maxDelayMs: 60_000 };
    expect([1, 2, 3, 4, 5, 6, 7, 8, 100].map((n) => backoffMs(n, retry))).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });

  it('are told without the URL, its query or the authorization, whatever the error said', () => {
    const sink = parseAuditSink('https://collector.example/in?token=q-secret-123&x=1');
    const said = new Error(`POST https://collector.example/in?token=q-secret-123&x=1 failed; token=q-secret-123; auth Splunk h-secret-4567890`);
    const message = scrub(said, sink, 'Splunk h-secret-4567890');
    expect(message).not.toMatch(/secret/);
    expect(message).toContain('[redacted]');
    expect(scrub(new Error('connect ECONNREFUSED 127.0.0.1:9'), sink)).toBe('connect ECONNREFUSED 127.0.0.1:9');
  });
});
