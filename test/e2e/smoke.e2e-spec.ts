import { createRemoteJWKSet, jwtVerify } from 'jose';
import { Broker, putUser, registerAgent, startBroker } from '../support/broker';
import { delegate } from '../support/flows';

describe('smoke', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(() => broker.close());

  it('auto-approves a low-risk read with a token that verifies', async () => {
    const agent = await registerAgent(broker);
    await putUser(broker, 'alice', ['sales']);
    await delegate(broker, agent, 'alice');
    const res = await agent.call('POST', '/v1/access-requests', {
      resource: 'crm.customers',
      actions: ['read'],
      columns: ['id', 'name'],
      duration: '15m',
      reason: 'Draft a reply to ticket 4521',
      onBehalfOf: 'alice@example.com',
    });
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('approved');
    const { payload, protectedHeader } = await jwtVerify(res.body.grant.token, createRemoteJWKSet(new URL(`${broker.url}/.well-known/jwks.json`)), {
      issuer: broker.url,
      audience: 'crm-api',
      typ: 'at+jwt',
      algorithms: ['EdDSA'],
    });
    expect(protectedHeader.typ).toBe('at+jwt');
    expect(payload.sub).toBe('alice');
  });
});
