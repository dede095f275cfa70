import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@gatehouse/core';
import { Broker, registerAgent, startBroker } from '../support/broker';
import { delegate } from '../support/flows';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-directory-'));

describe('the directory file loaded at start', () => {
  let broker: Broker;
  const file = join(dir, 'directory.yaml');

  beforeAll(async () => {
    writeFileSync(
      file,
      [
        'users:',
        '  - { id: dir-dana, email: dana@example.com, displayName: Dana, slackUserId: U0DANA01, groups: [crm-owners] }',
        '  - { id: dir-erik, email: erik@example.com, displayName: Erik, groups: [sales] }',
      ].join('\n'),
    );
    broker = await startBroker({ GATEHOUSE_DIRECTORY_FILE: file });
  });
  afterAll(() => broker.close());

  it('makes its users known to the admin API and to access requests', async () => {
    const owners = await broker.admin('GET', '/v1/admin/users?group=crm-owners&limit=200');
    expect(owners.status).toBe(200);
    expect(owners.body.items).toContainEqual({
      id: 'dir-dana',
      email: 'dana@example.com',
      displayName: 'Dana',
      slackUserId: 'U0DANA01',
      groups: ['crm-owners'],
    });

    const agent = await registerAgent(broker);
    await delegate(broker, agent, 'dir-erik');
    const res = await agent.call('POST', '/v1/access-requests', {
      resource: 'crm.customers',
      actions: ['read'],
      columns: ['email'],
      duration: '10m',
      reason: 'Reply to Erik',
      onBehalfOf: 'erik@example.com',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'pending', onBehalfOf: 'dir-erik' });

    const approved = await broker.admin('POST', `/v1/admin/access-requests/${res.body.id}/approve`, { asUser: 'dir-dana' });
    expect(approved.status).toBe(200);
    expect(approved.body.status).toBe('approved');
    expect(approved.body.decidedBy).toBe('user:dir-dana');
    // The admin who entered Dana's decision through REST stays on the record.
    const event = await broker.prisma.auditEvent.findFirst({ where: { requestId: res.body.id, type: 'request.approved' } });
    expect(event).toMatchObject({ actor: 'user:dir-dana', data: expect.objectContaining({ relayedBy: 'admin:ops' }) });
  });

  it('refuses to start with a directory file that does not validate, naming the variable and the field', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'users:\n  - { id: x, email: not-an-email, displayName: X, groups: [] }\n');
    const start = startBroker({ GATEHOUSE_DIRECTORY_FILE: bad });
    await expect(start).rejects.toBeInstanceOf(ConfigError);
    await expect(start).rejects.toThrow(/GATEHOUSE_DIRECTORY_FILE.*users\.0\.email/);
  });
});
