import { generateKeyPairSync } from 'node:crypto';
import { ConfigError, loadConfig } from './config';

function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('the configuration was accepted');
}

const ed25519 = () => generateKeyPairSync('ed25519');
const pem = (key = ed25519().privateKey) => key.export({ type: 'pkcs8', format: 'pem' }) as string;

describe('audit export configuration', () => {
  it('defaults: no sink, the json format, no webhook authorization, no audit key', () => {
    expect(loadConfig({})).toMatchObject({ auditSinks: [], auditFormat: 'json', auditWebhookAuthorization: undefined, auditSigningKey: undefined });
  });

  it('reads file sinks (absolute, file:/// and relative) and webhooks, deciding the body by the URL path', () => {
    const config = loadConfig({
      GATEHOUSE_AUDIT_SINKS: [
        'file:/var/log/gatehouse/audit.jsonl',
        'file:///srv/audit/a.jsonl',
        'file:logs/audit.jsonl',
        'https://splunk.example:8088/services/collector',
        'https://splunk.example:8088/services/collector/event',
        'https://es.example:9200/gatehouse-audit/_bulk',
        'https://collector.example/ingest?token=abc123',
      ].join(' , '),
      GATEHOUSE_AUDIT_FORMAT: 'ocsf',
      GATEHOUSE_AUDIT_WEBHOOK_AUTHORIZATION: 'Splunk 00000000-0000-0000-0000-000000000000',
    });
    expect(config.auditFormat).toBe('ocsf');
    expect(config.auditWebhookAuthorization).toBe('Splunk 00000000-0000-0000-0000-000000000000');
    expect(config.auditSinks.map((s) => [s.kind, s.kind === 'file' ? s.path : s.shape])).toEqual([
      ['file', '/var/log/gatehouse/audit.jsonl'],
      ['file', '/srv/audit/a.jsonl'],
      ['file', `${process.cwd()}/logs/audit.jsonl`],
      ['webhook', 'splunk-hec'],
      ['webhook', 'splunk-hec'],
      ['webhook', 'elasticsearch-bulk'],
      ['webhook', 'json-array'],
    ]);
    const withQuery = config.auditSinks[6];
    expect(withQuery).toMatchObject({ url: 'https://collector.example/ingest?token=abc123', label: 'https://collector.example/ingest' });
    // The cursor's id tells two queries apart without holding the query.
    expect(withQuery.id).toMatch(/^https:\/\/collector\.example\/ingest#[0-9a-f]{12}$/);
    expect(withQuery.id).not.toContain('abc123');
  });

  it('accepts an Ed25519 key as PKCS#8 PEM, as PEM with literal \\n, and as a JWK', () => {
    const { privateKey } = ed25519();
    const text = pem(privateKey);
    expect(loadConfig({ GATEHOUSE_AUDIT_SIGNING_KEY: text }).auditSigningKey).toBe(text);
    expect(() => loadConfig({ GATEHOUSE_AUDIT_SIGNING_KEY: text.replace(/\n/g, '\\n') })).not.toThrow();
    expect(() => loadConfig({ GATEHOUSE_AUDIT_SIGNING_KEY: JSON.stringify(privateKey.export({ format: 'jwk' })) })).not.toThrow();
  });

  it.each([
    ['GATEHOUSE_AUDIT_SINKS', 'ftp://files.example/audit', /ftp: sinks are not supported/],
    ['GATEHOUSE_AUDIT_SINKS', 'collector.example/ingest', /neither file:<path> nor an http\(s\) URL/],
    ['GATEHOUSE_AUDIT_SINKS', 'file:', /names no file/],
    ['GATEHOUSE_AUDIT_SINKS', 'file:/var/log/', /names no file/],
    ['GATEHOUSE_AUDIT_SINKS', 'https://user:pw@collector.example/in', /GATEHOUSE_AUDIT_WEBHOOK_AUTHORIZATION, not in the URL/],
    ['GATEHOUSE_AUDIT_SINKS', 'file:/a.jsonl,file:/a.jsonl', /listed twice/],
    ['GATEHOUSE_AUDIT_FORMAT', 'xml', /json|ocsf/],
    ['GATEHOUSE_AUDIT_SIGNING_KEY', 'not a key', /not a private key/],
    ['GATEHOUSE_AUDIT_SIGNING_KEY', '{"kty":"OKP"', /JSON does not parse/],
    ['GATEHOUSE_AUDIT_SIGNING_KEY', JSON.stringify(ed25519().publicKey.export({ format: 'jwk' })), /not a private JWK/],
    ['GATEHOUSE_AUDIT_SIGNING_KEY', ed25519().publicKey.export({ type: 'spki', format: 'pem' }) as string, /not a private key/],
    ['GATEHOUSE_AUDIT_SIGNING_KEY', pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey), /an ec key: only Ed25519/],
  ])('%s=%s stops the start, naming the variable', (variable, value, reason) => {
    const message = refusal({ [variable]: value });
    expect(message).toContain(`${variable}:`);
    expect(message).toMatch(reason);
  });

  it('refuses a webhook authorization with no webhook to send it to, or spanning lines', () => {
    expect(refusal({ GATEHOUSE_AUDIT_WEBHOOK_AUTHORIZATION: 'Splunk abc' })).toMatch(
      /GATEHOUSE_AUDIT_WEBHOOK_AUTHORIZATION: set, but GATEHOUSE_AUDIT_SINKS lists no http/,
    );
    expect(refusal({ GATEHOUSE_AUDIT_SINKS: 'file:/tmp/a.jsonl', GATEHOUSE_AUDIT_WEBHOOK_AUTHORIZATION: 'Splunk abc' })).toContain(
      'GATEHOUSE_AUDIT_WEBHOOK_AUTHORIZATION:',
    );
    const split = refusal({ GATEHOUSE_AUDIT_SINKS: 'https://c.example/in', GATEHOUSE_AUDIT_WEBHOOK_AUTHORIZATION: 'Bearer abc\r\nX-Evil: 1' });
    expect(split).toMatch(/GATEHOUSE_AUDIT_WEBHOOK_AUTHORIZATION: must be one line/);
  });

  it('refuses settings that would do nothing: an audit format without a sink, an alerts channel without Slack', () => {
    expect(refusal({ GATEHOUSE_AUDIT_FORMAT: 'ocsf' })).toMatch(/GATEHOUSE_AUDIT_FORMAT: set, but GATEHOUSE_AUDIT_SINKS lists no sink/);
    expect(refusal({ SLACK_ALERTS_CHANNEL: 'C0ALERTS' })).toMatch(/SLACK_ALERTS_CHANNEL: set, but Slack is off/);
  });

  it('refuses the broker signing key as the audit key: that one is stored in the database', () => {
    const key = pem();
    expect(refusal({ GATEHOUSE_SIGNING_KEY: key, GATEHOUSE_AUDIT_SIGNING_KEY: key })).toMatch(/GATEHOUSE_AUDIT_SIGNING_KEY: is the broker key/);
    expect(() => loadConfig({ GATEHOUSE_SIGNING_KEY: key, GATEHOUSE_AUDIT_SIGNING_KEY: pem() })).not.toThrow();
  });

  it('never quotes a secret in its refusal: a query token, the authorization, a key', () => {
    const key = JSON.stringify({ ...(ed25519().privateKey.export({ format: 'jwk' }) as object), crv: 'X25519' });
    const messages = [
      refusal({ GATEHOUSE_AUDIT_SINKS: 'ftp://files.example/x?token=query-secret-1' }),
      refusal({ GATEHOUSE_AUDIT_SINKS: 'https://user:password-secret-2@c.example/in' }),
      refusal({ GATEHOUSE_AUDIT_SINKS: 'https://c.example/in?token=query-secret-3,https://c.example/in?token=query-secret-3' }),
      refusal({ GATEHOUSE_AUDIT_SINKS: 'https://c.example/in', GATEHOUSE_AUDIT_WEBHOOK_AUTHORIZATION: 'Bearer header-secret-4\nX: y' }),
      refusal({ GATEHOUSE_AUDIT_SIGNING_KEY: key }),
      refusal({ GATEHOUSE_AUDIT_SIGNING_KEY: '{"d": "key-secret-5", ' }),
    ];
    for (const message of messages) expect(message).not.toMatch(/secret-\d|"d"|password/);
    expect(messages[4]).not.toContain(JSON.parse(key).d);
  });
});
