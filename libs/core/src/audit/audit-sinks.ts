import { open } from 'node:fs/promises';
import type { AuditFormat, AuditSink, WebhookShape } from './export-config';
import type { ExportRecord } from './export-records';

/** Delivers a batch; resolving means the destination has it (written and synced, or answered 2xx). */
export interface SinkWriter {
  deliver(records: ExportRecord[]): Promise<void>;
}

/** What a webhook writer needs besides its URL. */
export interface WebhookOptions {
  authorization?: string;
  format: AuditFormat;
  timeoutMs: number;
}

/** The writer for one configured sink. */
export function sinkWriter(sink: AuditSink, options: WebhookOptions): SinkWriter {
  return sink.kind === 'file' ? new FileSinkWriter(sink.path) : new WebhookSinkWriter(sink.url, sink.shape, options);
}

/**
 * Appends JSON lines. The file is opened for each batch, so a shipper or logrotate may move it
 * away at any time (the next batch creates it again), and synced before the batch counts as
 * delivered.
 */
export class FileSinkWriter implements SinkWriter {
  constructor(private readonly path: string) {}

  async deliver(records: ExportRecord[]): Promise<void> {
    const text = records.map((record) => `${JSON.stringify(record.body)}\n`).join('');
    const file = await open(this.path, 'a+', 0o640);
    try {
      // A crash in the middle of a write may have left a torn last line: start on a line of our
      // own, so the fragment stays one unreadable line rather than spoiling the next record too.
      const { size } = await file.stat();
      const last = Buffer.alloc(1);
      const torn = size > 0 && (await file.read(last, 0, 1, size - 1)).bytesRead === 1 && last[0] !== 0x0a;
      await file.appendFile(torn ? `\n${text}` : text);
      await file.datasync();
    } finally {
      await file.close();
    }
  }
}

/**
 * POSTs a batch to a collector, shaped by its URL: Splunk HEC gets concatenated `{"event": ...}`
 * objects, Elasticsearch's `_bulk` NDJSON `create` actions keyed by the record's uid (a
 * re-delivered record is a 409 there, which counts as delivered), anything else a JSON array.
 * Redirects are refused: the Authorization header must not follow one to another host.
 */
export class WebhookSinkWriter implements SinkWriter {
  constructor(
    private readonly url: string,
    private readonly shape: WebhookShape,
    private readonly options: WebhookOptions,
  ) {}

  async deliver(records: ExportRecord[]): Promise<void> {
    const { body, contentType } = this.encode(records);
    const headers: Record<string, string> = { 'content-type': contentType, 'user-agent': 'gatehouse-audit-export' };
    if (this.options.authorization) headers.authorization = this.options.authorization;
    let response: Response;
    try {
      response = await fetch(this.url, { method: 'POST', headers, body, redirect: 'error', signal: AbortSignal.timeout(this.options.timeoutMs) });
    } catch (error) {
      throw new Error(describeFetchError(error, this.options.timeoutMs));
    }
    const text = await response.text().catch(() => '');
    if (!response.ok) throw new Error(`answered HTTP ${response.status}${this.shape === 'splunk-hec' ? hecReason(text) : ''}`);
    if (this.shape === 'elasticsearch-bulk') checkBulkReply(text, records.length);
  }

  private encode(records: ExportRecord[]): { body: string; contentType: string } {
    switch (this.shape) {
      case 'splunk-hec': {
        const sourcetype = this.options.format === 'ocsf' ? 'gatehouse:ocsf' : 'gatehouse:audit';
        const events = records.map((r) => JSON.stringify({ time: r.time.getTime() / 1000, source: 'gatehouse', sourcetype, event: r.body }));
        return { body: events.join('\n'), contentType: 'application/json' };
      }
      case 'elasticsearch-bulk': {
        const lines = records.flatMap((r) => [
          JSON.stringify({ create: { _id: r.uid } }),
          JSON.stringify({ '@timestamp': r.time.toISOString(), ...r.body }),
        ]);
        return { body: `${lines.join('\n')}\n`, contentType: 'application/x-ndjson' };
      }
      case 'json-array':
        return { body: JSON.stringify(records.map((r) => r.body)), contentType: 'application/json' };
    }
  }
}

/** Splunk explains a refusal in `{"text": ..., "code": n}`; quoted briefly, it tells an operator what to fix. */
function hecReason(text: string): string {
  try {
    const reply = JSON.parse(text) as { text?: unknown; code?: unknown };
    return typeof reply.text === 'string' ? ` (${reply.text.slice(0, 100)}, code ${String(reply.code)})` : '';
  } catch {
    return '';
  }
}

/** A bulk reply may be 200 with some documents refused; only a 409 (already stored) counts as delivered. */
function checkBulkReply(text: string, documents: number): void {
  let reply: { errors?: boolean; items?: Record<string, { status?: number; error?: { type?: string } }>[] };
  try {
    reply = JSON.parse(text) as typeof reply;
  } catch {
    throw new Error('answered a bulk reply that is not JSON');
  }
  if (!reply.errors) return;
  const refused = (reply.items ?? [])
    .map((item) => Object.values(item)[0])
    .filter((result) => !result?.status || (result.status >= 300 && result.status !== 409));
  if (refused.length > 0) {
    const first = refused[0];
    throw new Error(
      `Elasticsearch refused ${refused.length} of ${documents} documents (first: ${first?.status ?? '?'} ${first?.error?.type ?? 'unknown error'})`,
    );
  }
}

/** fetch's own message is "fetch failed"; the reason is in its cause (a code and an address, never the URL). */
function describeFetchError(error: unknown, timeoutMs: number): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${timeoutMs / 1000} s`;
  if (e.cause?.message) return e.cause.message.startsWith(e.cause.code ?? '\0') ? e.cause.message : `${e.cause.code ?? 'error'}: ${e.cause.message}`;
  return e.message ?? String(error);
}
