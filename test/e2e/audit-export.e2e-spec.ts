import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compactVerify, createRemoteJWKSet } from 'jose';
import { Broker, call, eventually, registerAgent, TestAgent } from '../support/broker';
import { createScratchDatabase } from '../support/database';
import {
  checkpointEveryPass,
  GENESIS,
  hashedFields,
  jsonLines,
  Receiver,
  receiverHash,
  sealedHead,
  someActivity,
  startExportingBroker,
} from '../support/audit-export';

// Each broker here exports a whole trail and the tests count every seq, so each runs on a scratch
// database and a Redis prefix of its own.
jest.setTimeout(90_000);

const QUERY_SECRET = 'query-secret-5f1c0a';
const HEADER_SECRET = 'Splunk header-secret-9b7e21d4';
const sorted = (seqs: number[]) => [...seqs].sort((a, b) => a - b);
const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('audit export, json format: a file, a webhook that fails and recovers, Splunk HEC', () => {
  const logged: string[] = [];
  const flaky = new Receiver();
  const hec = new Receiver();
  let dir: string;
  let file: string;
  let scratch: { url: string; drop: () => Promise<void> };
  let broker: Broker;
  let agent: TestAgent;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-export-'));
    file = join(dir, 'audit.jsonl');
    await flaky.up();
    await hec.up();
    // The flaky collector fails from the start: everything below happens while it answers 500.
    flaky.answer = () => ({ status: 500, body: { error: 'collector overloaded' } });
    hec.answer = () => ({ status: 200, body: { text: 'Success', code: 0 } });
    scratch = await createScratchDatabase();
    broker = await startExportingBroker(
      {
        DATABASE_URL: scratch.url,
        GATEHOUSE_REDIS_PREFIX: `${process.env.GATEHOUSE_REDIS_PREFIX}_export_json`,
        GATEHOUSE_AUDIT_SINKS: `file:${file}, ${flaky.url}/ingest?token=${QUERY_SECRET}, ${hec.url}/services/collector/event`,
        GATEHOUSE_AUDIT_WEBHOOK_AUTHORIZATION: HEADER_SECRET,
      },
      logged,
    );
    checkpointEveryPass(broker);
    agent = await registerAgent(broker);
    await someActivity(broker, agent);
  }, 120_000);

  afterAll(async () => {
    await broker?.close();
    await flaky.down();
    await hec.down();
    await scratch?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes every sealed event to the file once, in seq order, with seq, prevHash and hash that link and verify', async () => {
    const head = await sealedHead(broker);
    const lines = await eventually(async () => {
      const records = jsonLines(file);
      return records.some((r) => r.record === 'event' && Number(r.seq) === head) ? records : undefined;
    });
    const events = lines.filter((r) => r.record === 'event');
    expect(events.map((r) => Number(r.seq))).toEqual(range(events.length));
    expect(events.length).toBeGreaterThanOrEqual(head);

    const rows = await broker.prisma.auditEvent.findMany({ where: { seq: { lte: events.length } }, orderBy: { seq: 'asc' } });
    let prevHash = GENESIS;
    for (const [i, record] of events.entries()) {
      const row = rows[i];
      expect(record).toEqual({
        record: 'event',
        seq: String(row.seq),
        prevHash: row.prevHash,
        hash: row.hash,
        id: String(row.id),
        type: row.type,
        createdAt: row.createdAt.toISOString(),
        actor: row.actor,
        sourceIp: row.sourceIp,
        agentId: row.agentId,
        requestId: row.requestId,
        grantId: row.grantId,
        data: row.data,
      });
      expect(record.prevHash).toBe(prevHash);
      expect(receiverHash(prevHash, hashedFields(record))).toBe(record.hash);
      prevHash = record.hash;
    }
    expect(events.map((r) => r.type)).toEqual(expect.arrayContaining(['agent.registered', 'grant.issued', 'grant.released', 'request.denied']));
  });

  it('sends each checkpoint right after the event it signs, verifiable with the published broker key', async () => {
    const lines = jsonLines(file);
    const checkpoints = lines.filter((r) => r.record === 'checkpoint');
    expect(checkpoints.length).toBeGreaterThanOrEqual(1);
    const jwks = createRemoteJWKSet(new URL(`${broker.url}/.well-known/jwks.json`));
    for (const checkpoint of checkpoints) {
      const before = lines[lines.indexOf(checkpoint) - 1];
      expect(before).toMatchObject({ record: 'event', seq: checkpoint.seq, hash: checkpoint.hash });
      const { payload } = await compactVerify(checkpoint.signature, jwks, { algorithms: ['EdDSA'] });
      expect(JSON.parse(new TextDecoder().decode(payload))).toMatchObject({ seq: checkpoint.seq, hash: checkpoint.hash });
      const stored = await broker.prisma.auditCheckpoint.findUnique({ where: { seq: BigInt(checkpoint.seq) } });
      expect(stored).toMatchObject({ hash: checkpoint.hash, kid: checkpoint.kid, signature: checkpoint.signature });
    }
    // Without GATEHOUSE_AUDIT_SIGNING_KEY there is no audit key to publish.
    const key = await call(`${broker.url}/.well-known/gatehouse-audit-key`, 'GET');
    expect(key).toMatchObject({ status: 404, body: { error: { code: 'ROUTE_NOT_FOUND' } } });
    expect(key.body.error.message).toMatch(/GATEHOUSE_AUDIT_SIGNING_KEY is not set/);
  });

  it('delivers to Splunk HEC as concatenated {"event": ...} objects, every event once and in order', async () => {
    const head = await sealedHead(broker);
    const events = await eventually(async () => {
      const all = hec.accepted.flatMap((r) => r.body.split('\n').map((line) => JSON.parse(line)));
      return all.some((e) => e.event.record === 'event' && Number(e.event.seq) === head) ? all : undefined;
    });
    for (const request of hec.accepted) {
      expect(request.path).toBe('/services/collector/event');
      expect(request.headers.authorization).toBe(HEADER_SECRET);
      expect(request.headers['content-type']).toBe('application/json');
    }
    for (const wrapped of events) {
      expect(Object.keys(wrapped).sort()).toEqual(['event', 'source', 'sourcetype', 'time']);
      expect(wrapped).toMatchObject({ source: 'gatehouse', sourcetype: 'gatehouse:audit' });
      expect(wrapped.time).toBe(Date.parse(wrapped.event.createdAt) / 1000);
    }
    const seqs = events.filter((e) => e.event.record === 'event').map((e) => Number(e.event.seq));
    expect(seqs).toEqual(range(seqs.length));
    expect(events.some((e) => e.event.record === 'checkpoint')).toBe(true);
  });

  it('loses nothing to a webhook that answers 500, refuses connections, hangs, then recovers; the others never wait for it', async () => {
    const cursor = () => broker.prisma.auditExportCursor.findFirstOrThrow({ where: { sink: { startsWith: `${flaky.url}/ingest` } } });

    // Phase 1, 500s since the start: retried with a growing delay, nothing accepted, the file up to date.
    await eventually(async () => flaky.received.length >= 5);
    expect(flaky.accepted).toHaveLength(0);
    const head = await sealedHead(broker);
    await eventually(async () => jsonLines(file).some((r) => Number(r.seq) === head && r.record === 'event'));
    const failing = await cursor();
    expect(failing).toMatchObject({ deliveredSeq: 0n, lastError: 'answered HTTP 500' });
    expect(failing.failures).toBeGreaterThanOrEqual(5);
    expect(failing.retryAt).toBeInstanceOf(Date);
    const gaps = flaky.received.slice(0, 5).map((r, i, all) => (i === 0 ? 0 : r.at - all[i - 1].at));
    // After failure n the next try waits 100 ms x 2^(n-1), capped at 800 ms (a loaded machine only adds).
    for (const [n, gap] of gaps.entries()) if (n > 0) expect(gap).toBeGreaterThanOrEqual(Math.min(100 * 2 ** (n - 1), 800) - 15);

    // Operators see it in the metrics, by the sink's URL without its query.
    const sinkMetric = (name: string, value: string) => new RegExp(`^${name}\\{sink="${flaky.url}/ingest"\\} ${value}$`, 'm');
    const metrics = () => fetch(`${broker.url}/metrics`).then((res) => res.text());
    const during = await metrics();
    expect(during).toMatch(sinkMetric('gatehouse_audit_export_lag_events', String(head)));
    expect(during).toMatch(sinkMetric('gatehouse_audit_export_failures', '[1-9]\\d*'));
    expect(during).toMatch(new RegExp(`^gatehouse_audit_export_lag_events\\{sink="file:${file}"\\} \\d+$`, 'm'));
    expect(during).not.toContain(QUERY_SECRET);

    // Phase 2: the collector is gone (connections refused) while the trail grows.
    await flaky.down();
    await someActivity(broker, agent);
    await eventually(async () => /ECONNREFUSED/.test((await cursor()).lastError ?? ''));
    const headWhileDown = await sealedHead(broker);
    await eventually(async () => jsonLines(file).some((r) => Number(r.seq) === headWhileDown && r.record === 'event'));

    // Phase 3: back, but stuck: it takes requests and never answers (the test's timeout is 3 s).
    flaky.answer = () => ({ status: 200, hang: true });
    await flaky.up();
    await eventually(async () => flaky.received.some((r) => r.status === 0));
    await someActivity(broker, agent);
    const headWhileStuck = await sealedHead(broker);
    // The file takes the new events while the stuck collector still holds a request.
    await eventually(async () => jsonLines(file).some((r) => Number(r.seq) === headWhileStuck && r.record === 'event'));
    expect((await cursor()).deliveredSeq).toBe(0n);
    await eventually(async () => /no answer within 3 s/.test((await cursor()).lastError ?? ''));

    // Phase 4: answering again.
    flaky.answer = () => ({ status: 200, body: { ok: true } });
    await someActivity(broker, agent);
    const finalHead = await sealedHead(broker);
    await eventually(async () => (await cursor()).deliveredSeq === BigInt(finalHead), 30_000);

    const batches = flaky.accepted.map((r) => JSON.parse(r.body) as any[]);
    expect(batches.every(Array.isArray)).toBe(true);
    const firstCopy = new Map<number, string>();
    let delivered = 0;
    for (const batch of batches) {
      const seqs = batch.filter((r) => r.record === 'event').map((r) => Number(r.seq));
      // Each batch is in order, and starts no later than right after what was already accepted.
      expect(seqs).toEqual(sorted(seqs));
      expect(seqs[0]).toBeLessThanOrEqual(delivered + 1);
      for (const record of batch.filter((r) => r.record === 'event')) {
        const seq = Number(record.seq);
        const text = JSON.stringify(record);
        // A duplicate is only ever a re-delivery of the very same record.
        if (firstCopy.has(seq)) expect(text).toBe(firstCopy.get(seq));
        else firstCopy.set(seq, text);
      }
      delivered = Math.max(delivered, ...seqs);
    }
    expect(sorted([...firstCopy.keys()])).toEqual(range(finalHead));
    for (const request of flaky.received) {
      expect(request.path).toBe(`/ingest?token=${QUERY_SECRET}`);
      expect(request.headers.authorization).toBe(HEADER_SECRET);
    }
    expect(await cursor()).toMatchObject({ failures: 0, retryAt: null, deliveredSeq: BigInt(finalHead) });
    const after = await metrics();
    expect(after).toMatch(sinkMetric('gatehouse_audit_export_lag_events', '0'));
    expect(after).toMatch(sinkMetric('gatehouse_audit_export_failures', '0'));
    // The file is a sink of its own, at its own pace: once it has taken the final head, it holds every event once.
    const fileCursor = () => broker.prisma.auditExportCursor.findFirstOrThrow({ where: { sink: `file:${file}` } });
    await eventually(async () => (await fileCursor()).deliveredSeq === BigInt(finalHead));
    expect(jsonLines(file).filter((r) => r.record === 'event')).toHaveLength(finalHead);
  });

  it('logs a failing sink by its URL without its query string, and never a credential', () => {
    const lines = logged.filter((line) => line.includes('audit sink'));
    expect(lines.some((line) => line.includes(`audit sink ${flaky.url}/ingest did not take events from seq 1`) && /HTTP 500/.test(line))).toBe(true);
    expect(lines.some((line) => line.includes(`audit sink ${flaky.url}/ingest did not take events`) && /ECONNREFUSED/.test(line))).toBe(true);
    expect(lines.some((line) => line.includes(`audit sink ${flaky.url}/ingest did not take events`) && /no answer within 3 s/.test(line))).toBe(true);
    expect(lines.some((line) => line.includes(`audit sink ${flaky.url}/ingest takes events again`))).toBe(true);
    const all = logged.join('\n');
    expect(all).not.toContain(QUERY_SECRET);
    expect(all).not.toContain('header-secret');
    expect(all).not.toContain('?token');
  });
});

describe('audit export, OCSF format: a file and Elasticsearch _bulk', () => {
  const elastic = new Receiver();
  /** The fake index: documents by _id, as Elasticsearch keeps them (a second create of an id is a 409). */
  const index = new Map<string, any>();
  let dir: string;
  let file: string;
  let scratch: { url: string; drop: () => Promise<void> };
  let broker: Broker;
  let agent: TestAgent;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-export-ocsf-'));
    file = join(dir, 'audit.ocsf.jsonl');
    await elastic.up();
    let bulks = 0;
    elastic.answer = ({ body }) => {
      const lines = body.split('\n').filter(Boolean);
      const items: object[] = [];
      bulks += 1;
      for (let i = 0; i < lines.length; i += 2) {
        const id = JSON.parse(lines[i]).create._id as string;
        // The first bulk has its second document refused, as a busy cluster does (429 per item, 200 overall).
        if (bulks === 1 && i === 2) items.push({ create: { _id: id, status: 429, error: { type: 'es_rejected_execution_exception' } } });
        else if (index.has(id)) items.push({ create: { _id: id, status: 409, error: { type: 'version_conflict_engine_exception' } } });
        else {
          index.set(id, JSON.parse(lines[i + 1]));
          items.push({ create: { _id: id, status: 201 } });
        }
      }
      return { status: 200, body: { errors: items.some((item: any) => item.create.status >= 300), items } };
    };
    scratch = await createScratchDatabase();
    broker = await startExportingBroker({
      DATABASE_URL: scratch.url,
      GATEHOUSE_REDIS_PREFIX: `${process.env.GATEHOUSE_REDIS_PREFIX}_export_ocsf`,
      GATEHOUSE_AUDIT_FORMAT: 'ocsf',
      GATEHOUSE_AUDIT_SINKS: `file:${file},${elastic.url}/gatehouse-audit/_bulk`,
      GATEHOUSE_AUDIT_WEBHOOK_AUTHORIZATION: 'ApiKey elastic-key-0123456789',
    });
    checkpointEveryPass(broker);
    agent = await registerAgent(broker);
    await someActivity(broker, agent);
  }, 120_000);

  afterAll(async () => {
    await broker?.close();
    await elastic.down();
    await scratch?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes OCSF 1.3 events in seq order whose raw_data verifies against the chain, classed as the README maps them', async () => {
    const head = await sealedHead(broker);
    const lines = await eventually(async () => {
      const records = jsonLines(file);
      return records.some((r) => r.unmapped.gatehouse.record === 'event' && Number(r.unmapped.gatehouse.seq) === head) ? records : undefined;
    });
    const events = lines.filter((r) => r.unmapped.gatehouse.record === 'event');
    expect(events.map((r) => r.metadata.sequence)).toEqual(range(events.length));
    let prevHash = GENESIS;
    for (const event of events) {
      const { seq, hash } = event.unmapped.gatehouse;
      expect(event.unmapped.gatehouse.prevHash).toBe(prevHash);
      expect(receiverHash(prevHash, JSON.parse(event.raw_data))).toBe(hash);
      expect(JSON.parse(event.raw_data)).toMatchObject({ seq, type: event.metadata.event_code });
      expect(event).toMatchObject({
        metadata: { version: '1.3.0', product: { name: 'Gatehouse', vendor_name: 'Gatehouse' }, uid: `event-${seq}`, log_name: 'gatehouse-audit' },
        time: Date.parse(event.metadata.original_time),
        type_uid: event.class_uid * 100 + event.activity_id,
        severity_id: expect.any(Number),
        status_id: expect.any(Number),
      });
      expect(typeof event.category_uid).toBe('number');
      prevHash = hash;
    }

    const ofAgent = (type: string) => events.find((e) => e.metadata.event_code === type && e.unmapped.gatehouse.agentId === agent.id);
    const asAgent = { uid: agent.id, name: agent.name, type: 'AI agent', type_id: 99 };
    expect(ofAgent('agent.registered')).toMatchObject({
      class_uid: 3001,
      activity_id: 1,
      activity_name: 'Create',
      status_id: 1,
      actor: { user: { name: 'ops', type_id: 2 } },
      user: asAgent,
      src_endpoint: { ip: '127.0.0.1' },
    });
    const issued = ofAgent('grant.issued');
    expect(issued).toMatchObject({
      class_uid: 3005,
      class_name: 'User Access Management',
      category_uid: 3,
      activity_id: 1,
      activity_name: 'Assign Privileges',
      type_uid: 300501,
      status: 'Success',
      user: asAgent,
      privileges: ['crm.customers:read'],
      resource: { uid: 'crm.customers', data: { columns: ['id', 'name'] } },
      metadata: { correlation_uid: issued.unmapped.gatehouse.requestId },
    });
    expect(ofAgent('grant.released')).toMatchObject({
      class_uid: 3005,
      activity_id: 2,
      activity_name: 'Revoke Privileges',
      privileges: ['crm.customers:read'],
    });
    expect(ofAgent('request.approved')).toMatchObject({ class_uid: 3003, class_name: 'Authorize Session', activity_id: 1, status_id: 1 });
    expect(ofAgent('request.denied')).toMatchObject({
      class_uid: 3003,
      status_id: 2,
      status: 'Failure',
      severity_id: 2,
      actor: { user: { name: 'ops', type: 'Admin' } },
      user: asAgent,
      privileges: ['crm.customers:read'],
    });
    expect(events.find((e) => e.metadata.event_code === 'policy.loaded')).toMatchObject({
      class_uid: 6003,
      category_uid: 6,
      activity_id: 3,
      api: { operation: 'policy.loaded' },
    });

    const checkpoints = lines.filter((r) => r.unmapped.gatehouse.record === 'checkpoint');
    expect(checkpoints.length).toBeGreaterThanOrEqual(1);
    for (const checkpoint of checkpoints) {
      expect(checkpoint).toMatchObject({ class_uid: 0, activity_id: 99, type_uid: 99, metadata: { event_code: 'audit.checkpoint' } });
      const before = lines[lines.indexOf(checkpoint) - 1];
      expect(before.unmapped.gatehouse).toMatchObject({
        record: 'event',
        seq: checkpoint.unmapped.gatehouse.seq,
        hash: checkpoint.unmapped.gatehouse.hash,
      });
    }
  });

  it('Elasticsearch _bulk: create actions keyed by seq, with @timestamp; a refused document goes again, a 409 counts as delivered', async () => {
    const head = await sealedHead(broker);
    const cursor = () => broker.prisma.auditExportCursor.findFirstOrThrow({ where: { sink: `${elastic.url}/gatehouse-audit/_bulk` } });
    await eventually(async () => (await cursor()).deliveredSeq === BigInt(head));

    expect(sorted([...index.keys()].filter((id) => id.startsWith('event-')).map((id) => Number(id.slice(6))))).toEqual(range(head));
    for (const [id, doc] of index) {
      expect(doc['@timestamp']).toBe(new Date(doc.time).toISOString());
      expect(id).toBe(doc.metadata.uid);
    }
    const [first, second] = elastic.received;
    for (const request of elastic.received) {
      expect(request.path).toBe('/gatehouse-audit/_bulk');
      expect(request.headers['content-type']).toBe('application/x-ndjson');
      expect(request.headers.authorization).toBe('ApiKey elastic-key-0123456789');
      expect(request.body.endsWith('\n')).toBe(true);
    }
    // The first bulk had a document refused: the whole batch went again, and what was stored came back as 409s.
    const ids = (body: string) =>
      body
        .split('\n')
        .filter((_, i) => i % 2 === 0 && _)
        .map((line) => JSON.parse(line).create._id);
    expect(ids(second.body).slice(0, ids(first.body).length)).toEqual(ids(first.body));
    expect(await cursor()).toMatchObject({
      failures: 0,
      lastError: expect.stringMatching(/Elasticsearch refused 1 of \d+ documents \(first: 429 es_rejected_execution_exception\)/),
    });
  });
});
