import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** How a webhook sink's body is written, decided by its URL's path. */
export type WebhookShape = 'splunk-hec' | 'elasticsearch-bulk' | 'json-array';

/**
 * One destination of the audit export. `id` keys its cursor in Postgres; `label` names it in logs
 * and metrics. Neither ever holds a credential or a query string.
 */
export type AuditSink =
  { kind: 'file'; id: string; label: string; path: string } | { kind: 'webhook'; id: string; label: string; url: string; shape: WebhookShape };

/** `json`: Gatehouse's own records; `ocsf`: OCSF 1.3 events. */
export type AuditFormat = 'json' | 'ocsf';

/**
 * The shape a collector expects, by the URL's path: Splunk's HTTP Event Collector takes
 * concatenated `{"event": ...}` objects; Elasticsearch's bulk API takes NDJSON action lines;
 * anything else gets a JSON array.
 */
export function webhookShape(pathname: string): WebhookShape {
  const path = pathname.replace(/\/+$/, '');
  if (/\/services\/collector(\/event)?(\/1\.0)?$/.test(path)) return 'splunk-hec';
  if (/\/_bulk$/.test(path)) return 'elasticsearch-bulk';
  return 'json-array';
}

/**
 * Parses one GATEHOUSE_AUDIT_SINKS entry: `file:/path/audit.jsonl` (or `file:///path`, or a path
 * relative to the working directory) or an http(s) URL. Throws an Error whose message may be shown:
 * it names the entry by its scheme, host and path only.
 */
export function parseAuditSink(entry: string, cwd = process.cwd()): AuditSink {
  if (entry.startsWith('file:')) {
    let path: string;
    try {
      path = entry.startsWith('file://') ? fileURLToPath(entry) : entry.slice('file:'.length);
    } catch {
      throw new Error(`"${entry}" is not a file URL; write file:/path/to/audit.jsonl`);
    }
    if (!path || path.endsWith('/')) throw new Error(`"${entry}" names no file; write file:/path/to/audit.jsonl`);
    const absolute = resolve(cwd, path);
    return { kind: 'file', id: `file:${absolute}`, label: `file:${absolute}`, path: absolute };
  }
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    throw new Error(`an entry is neither file:<path> nor an http(s) URL (${schemeOf(entry)})`);
  }
  const label = `${url.protocol}//${url.host}${url.pathname}`;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`${url.protocol} sinks are not supported: use file:<path> or an http(s) URL`);
  }
  if (url.username || url.password) {
    throw new Error(`${label}: put the credentials in GATEHOUSE_AUDIT_WEBHOOK_AUTHORIZATION, not in the URL`);
  }
  url.hash = '';
  // Two sinks may differ only by their query (an index, a channel): each keeps its own cursor, and
  // the query itself, which may hold a token, is kept out of the id.
  const id = url.search ? `${label}#${createHash('sha256').update(url.search).digest('hex').slice(0, 12)}` : label;
  return { kind: 'webhook', id, label, url: url.toString(), shape: webhookShape(url.pathname) };
}

/** Parses the comma-separated list; duplicates are refused, since two would share one cursor. */
export function parseAuditSinks(value: string, cwd = process.cwd()): AuditSink[] {
  const sinks = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => parseAuditSink(entry, cwd));
  const seen = new Set<string>();
  for (const sink of sinks) {
    if (seen.has(sink.id)) throw new Error(`${sink.label} is listed twice`);
    seen.add(sink.id);
  }
  return sinks;
}

/** What an unparsable entry looks like, without its content: it may be a URL with a secret. */
function schemeOf(entry: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(entry)?.[1];
  return scheme ? `scheme "${scheme}:"` : 'no scheme';
}
