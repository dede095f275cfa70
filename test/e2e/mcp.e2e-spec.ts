import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { generateAgentKeyPair } from '@gatehouse/sdk';
import { Broker, startBroker } from '../support/broker';
import { users, verifyGrantToken } from '../support/flows';
import { typescriptEntry } from '../support/register';
import { NodeGateway } from '../../scripts/demo-gateway';

const GATEWAY_TOKEN = 'test-gateway-token-0123456789';
const echoOperation = (c: { operation?: string }) => ({ status: 200, body: { upstream: 'ok', operation: c.operation } });

type TextResult = { content: { type: string; text: string }[]; isError?: boolean };
const textOf = (result: unknown) => (result as TextResult).content.map((c) => c.text).join('\n');

describe('MCP server over stdio', () => {
  let broker: Broker;
  let client: Client;
  let stderr = '';
  let gateway: NodeGateway;
  let agentId: string;

  beforeAll(async () => {
    broker = await startBroker({
      GATEHOUSE_POLICY_FILE: 'test/fixtures/http-policy.yaml',
      GATEHOUSE_TEST_GITHUB_TOKEN: 'ghp_mcp_test',
      GATEHOUSE_GATEWAY_TOKENS: `edge:${GATEWAY_TOKEN}`,
    });
    gateway = await NodeGateway.start({ brokerUrl: broker.url, gatewayToken: GATEWAY_TOKEN, host: 'github.egress.test', upstream: echoOperation });
    const { privateJwk, publicJwk } = await generateAgentKeyPair();
    const res = await broker.admin('POST', '/v1/admin/agents', { name: `mcp-${Date.now()}`, publicJwk, owner: 'team-ai@example.com' });
    agentId = res.body.id;
    // The key goes in as a file path, the way a client configuration would keep it out of its JSON.
    const keyFile = join(tmpdir(), `gatehouse-mcp-key-${res.body.id}.json`);
    writeFileSync(keyFile, JSON.stringify(privateJwk), { mode: 0o600 });
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: typescriptEntry('apps/mcp/src/main.ts'),
      env: { PATH: process.env.PATH ?? '', GATEHOUSE_URL: broker.url, GATEHOUSE_AGENT_ID: res.body.id, GATEHOUSE_AGENT_KEY: keyFile },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (chunk) => {
      stderr += String(chunk);
    });
    client = new Client({ name: 'gatehouse-e2e', version: '1.0.0' });
    await client.connect(transport);
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await gateway?.close();
    await broker?.close();
  });

  it('lists the six tools with their inputs', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      'call_http_api',
      'check_access_request',
      'extend_access',
      'list_my_grants',
      'release_access',
      'request_access',
    ]);
    const extend = tools.find((t) => t.name === 'extend_access')!;
    expect(Object.keys(extend.inputSchema.properties ?? {}).sort()).toEqual(['duration', 'grant_id', 'reason']);
    const request = tools.find((t) => t.name === 'request_access')!;
    expect(Object.keys(request.inputSchema.properties ?? {}).sort()).toEqual([
      'actions',
      'break_glass',
      'columns',
      'duration',
      'on_behalf_of',
      'operations',
      'reason',
      'resource',
    ]);
    expect(stderr).toContain('gatehouse-mcp: ready');
  });

  it('asks, waits for an approver, and ends up holding a grant whose token verifies', async () => {
    const { dana } = await users(broker, { dana: ['crm-owners'] });
    const asked = await client.callTool({
      name: 'request_access',
      arguments: { resource: 'crm.customers', actions: ['read'], columns: ['email'], duration: '10m', reason: 'Email the customer about ticket 7' },
    });
    const pending = textOf(asked);
    expect(pending).toMatch(/^PENDING: request [0-9a-f-]{36} for read on crm\.customers, columns email needs approval by crm-owners \(0\/1/);
    expect(pending).toContain('check_access_request');
    const requestId = /request ([0-9a-f-]{36})/.exec(pending)![1];

    const checking = client.callTool({ name: 'check_access_request', arguments: { request_id: requestId, wait_seconds: 20 } });
    await new Promise((r) => setTimeout(r, 300));
    expect((await broker.admin('POST', `/v1/admin/access-requests/${requestId}/approve`, { asUser: dana })).status).toBe(200);
    const approved = textOf(await checking);
    expect(approved).toMatch(/^APPROVED \(approved by .+\)\. Grant [0-9a-f-]{36}: read on crm\.customers, columns email, until /);
    const token = /Token: (\S+)/.exec(approved)![1];
    const grantId = /Grant ([0-9a-f-]{36})/.exec(approved)![1];
    const { payload } = await verifyGrantToken(broker, token);
    expect(payload).toMatchObject({ jti: grantId, req: requestId });

    const listed = textOf(await client.callTool({ name: 'list_my_grants', arguments: {} }));
    expect(listed).toContain(`- ${grantId}: read on crm.customers, columns email, until`);

    const released = textOf(await client.callTool({ name: 'release_access', arguments: { grant_id: grantId } }));
    expect(released).toBe(`RELEASED: grant ${grantId} (crm.customers) is released; its token no longer works.`);
    expect(textOf(await client.callTool({ name: 'list_my_grants', arguments: {} }))).toMatch(/^No active grants/);
  });

  it('gets low-risk access at once, and reads a denial with its reason', async () => {
    const ok = textOf(
      await client.callTool({ name: 'request_access', arguments: { resource: 'crm.customers', columns: ['id', 'name'], reason: 'Look up a name' } }),
    );
    expect(ok).toMatch(/^APPROVED \(policy rule low-risk-reads\)\. Grant .*: read on crm\.customers, columns id, name, until .*\(15 min from now\)/);
    const denied = await client.callTool({
      name: 'request_access',
      arguments: { resource: 'crm.customers', columns: ['ssn'], reason: 'Verify identity' },
    });
    expect(textOf(denied)).toMatch(
      /^DENIED: request [0-9a-f-]{36} for read on crm\.customers, columns ssn\.\nWhy: Restricted columns are never granted to agents\. \(rule no-restricted\)/,
    );
  });

  it('extends a grant: a new token at once, the old one refused; an ended grant is an error saying what to do', async () => {
    const ok = textOf(
      await client.callTool({
        name: 'request_access',
        arguments: { resource: 'crm.customers', columns: ['id', 'name'], duration: '10m', reason: 'Look up a name' },
      }),
    );
    const [, oldId, oldToken] = /Grant ([0-9a-f-]{36}):[\s\S]*Token: (\S+)/.exec(ok)!;
    const extended = textOf(
      await client.callTool({ name: 'extend_access', arguments: { grant_id: oldId, duration: '5m', reason: 'More names to check' } }),
    );
    expect(extended).toMatch(
      /^EXTENDED: APPROVED \(policy rule low-risk-reads\)\. Grant [0-9a-f-]{36}: read on crm\.customers, columns id, name, until .*\(5 min from now\)/,
    );
    expect(extended).toContain(`The token of grant ${oldId} no longer works: use this one from now on.`);
    const [, newToken] = /Token: (\S+)/.exec(extended)!;
    expect(newToken).not.toBe(oldToken);
    expect((await verifyGrantToken(broker, newToken)).payload.client_id).toBe(agentId);
    const again = await client.callTool({ name: 'extend_access', arguments: { grant_id: oldId, reason: 'Once more' } });
    expect((again as TextResult).isError).toBe(true);
    expect(textOf(again)).toMatch(
      /^ERROR GRANT_NOT_ACTIVE \(HTTP 409\): The grant is superseded; only a live grant can be extended[\s\S]*Next: only a live grant can be extended; use request_access to ask anew\.$/,
    );
  });

  it('reports API errors as tool errors a model can act on', async () => {
    const bad = await client.callTool({ name: 'request_access', arguments: { resource: 'crm.customers', columns: ['shoe_size'], reason: 'x' } });
    expect((bad as TextResult).isError).toBe(true);
    expect(textOf(bad)).toMatch(/^ERROR UNKNOWN_COLUMN \(HTTP 422\): /);
    // This policy has no breakGlass block: the emergency path is refused, and the model is told why.
    const glass = await client.callTool({
      name: 'request_access',
      arguments: { resource: 'crm.customers', columns: ['email'], reason: 'Outage', break_glass: true },
    });
    expect((glass as TextResult).isError).toBe(true);
    expect(textOf(glass)).toMatch(/^ERROR BREAK_GLASS_NOT_ALLOWED \(HTTP 403\): Break-glass is not allowed here: the policy has no breakGlass block/);
  });

  it('calls an HTTP API through its gateway: asks for what is missing, waits for a person when it must, then calls', async () => {
    const { pat } = await users(broker, { pat: ['platform'] });
    const read = textOf(
      await client.callTool({ name: 'call_http_api', arguments: { url: `${gateway.url}/repos/acme/app/issues/3`, reason: 'Triage issue 3' } }),
    );
    expect(read).toMatch(
      /^HTTP 200 \(with grant [0-9a-f-]{36}: read on github\.issues, operations read-issues\)\n\{"upstream":"ok","operation":"read-issues"\}$/,
    );
    expect(gateway.calls.at(-1)).toMatchObject({ path: '/repos/acme/app/issues/3', authorization: 'Bearer ghp_mcp_test' });

    const comment = { url: `${gateway.url}/repos/acme/app/issues/3/comments`, method: 'POST', body: '{"body":"On it"}', reason: 'Reply on issue 3' };
    const pending = textOf(await client.callTool({ name: 'call_http_api', arguments: comment }));
    expect(pending).toMatch(/^PENDING: request [0-9a-f-]{36} for write on github\.issues, operations comment needs approval by platform/);
    expect(pending).toContain('call call_http_api again');
    expect(gateway.calls.some((c) => c.path.endsWith('/comments'))).toBe(false);
    const requestId = /request ([0-9a-f-]{36})/.exec(pending)![1];
    expect((await broker.admin('POST', `/v1/admin/access-requests/${requestId}/approve`, { asUser: pat })).status).toBe(200);
    expect(textOf(await client.callTool({ name: 'check_access_request', arguments: { request_id: requestId, wait_seconds: 0 } }))).toMatch(
      /^APPROVED/,
    );
    const sent = textOf(await client.callTool({ name: 'call_http_api', arguments: comment }));
    expect(sent).toMatch(/^HTTP 200 \(with grant [0-9a-f-]{36}: write on github\.issues, operations comment\)/);
    expect(gateway.calls.at(-1)).toMatchObject({ method: 'POST', path: '/repos/acme/app/issues/3/comments', body: '{"body":"On it"}' });
    // One request for the comment, not one per call (other specs share the database: this agent's only).
    const listed = await broker.admin('GET', `/v1/admin/access-requests?resource=github.issues&agentId=${agentId}&limit=10`);
    expect(listed.body.items.filter((r: { operations?: string[] }) => r.operations?.includes('comment'))).toHaveLength(1);
  });
});
