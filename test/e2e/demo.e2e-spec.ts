import { Client } from 'pg';
import { runDemo } from '../../scripts/demo';
import { copyOfTemplate } from '../support/database';

const SERVER_URL = process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';

describe('npm run demo', () => {
  // The demo makes its own database (as `npm run demo` makes gatehouse_demo); this run's copy is dropped after.
  const database = `${process.env.GATEHOUSE_TEST_DATABASE}_demo`;
  afterAll(async () => {
    const admin = new Client({ connectionString: `${SERVER_URL}/postgres` });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.end();
  });

  it('tells the whole story (0), (a)-(f) with the outcomes the policy promises', async () => {
    const lines: string[] = [];
    // A copy of the run's migrated template: `npm run demo` itself migrates (about 11 s).
    const result = await runDemo({
      log: (line) => lines.push(line),
      databaseUrl: await copyOfTemplate(database),
      migrate: false,
      redisPrefix: `${process.env.GATEHOUSE_REDIS_PREFIX}_demo`,
      shortGrantSeconds: 2,
    });

    // (0) acting for alice is refused until she (through an admin) delegates to the agent
    expect(result.delegation).toMatchObject({
      refusedBefore: 'DELEGATION_REQUIRED',
      delegation: { resources: ['crm.*'], expiresAt: expect.any(String), createdBy: 'admin:demo' },
    });

    // (a) low risk: approved at once by low-risk-reads; the CRM returned exactly those columns
    expect(result.lowRisk).toMatchObject({
      status: 'approved',
      rules: ['low-risk-reads'],
      read: { status: 200, columns: ['id', 'name', 'company'] },
    });
    expect(result.lowRisk.read.customers).toHaveLength(3);
    for (const row of result.lowRisk.read.customers!) expect(Object.keys(row).sort()).toEqual(['company', 'id', 'name']);

    // (b) PII: pending for crm-owners, approved by dana, then read with only the granted columns
    expect(result.pii).toMatchObject({ firstStatus: 'pending', approvers: 'crm-owners', decidedBy: 'user:dana', read: { status: 200 } });
    expect(result.pii.read.customers![0]).toEqual({ id: 1, email: 'ada@analytical.example', phone: '+44 20 7946 0001' });

    // (c) restricted: denied by no-restricted
    expect(result.restricted).toEqual({ denied: true, rules: ['no-restricted'], message: 'Restricted columns are never granted to agents.' });

    // (d) released: the CRM's introspection check refuses the token
    expect(result.released).toMatchObject({ grantStatus: 'released', read: { status: 401, error: { code: 'TOKEN_INACTIVE' } } });

    // (e) a 2 s grant reads, then is refused as expired
    expect(result.expiry).toMatchObject({ seconds: 2, before: { status: 200 }, after: { status: 401, error: { code: 'TOKEN_EXPIRED' } } });

    // (f) the helpdesk API through a gateway: reading is asked and approved at once; a reply is refused
    // NOT_GRANTED naming `reply`, asked for, approved by sam, then goes through; the helpdesk never
    // saw the agent's token
    expect(result.gateway).toEqual({
      read: { status: 200, operation: 'read-tickets', asked: ['read-tickets'] },
      reply: {
        refused: 'NOT_GRANTED',
        needed: ['reply'],
        requestStatus: 'pending',
        decidedBy: 'user:sam',
        status: 201,
        upstreamSawAgentToken: false,
      },
    });

    // The SSN never left the CRM's database.
    expect(JSON.stringify(result)).not.toMatch(/078-05-1120|219-09-9999|457-55-5462/);
    // A person can follow it: every step is printed, with the decision and the CRM's answer.
    const text = lines.join('\n');
    for (const step of [
      '(0) acting for alice needs her delegation',
      '(a) low-risk columns',
      '(b) personal data (PII)',
      '(c) restricted columns',
      '(d) release',
      '(e) a short grant expires',
      '(f) the helpdesk API, through a gateway',
    ])
      expect(text).toContain(step);
    expect(text).toContain('decision: require_approval by rule pii-needs-owner');
    expect(text).toContain('dana (crm-owners) approves');
    expect(text).toContain('CRM GET /customers -> 401 TOKEN_EXPIRED');
  }, 60_000);
});
