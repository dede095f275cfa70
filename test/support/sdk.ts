import { randomUUID } from 'node:crypto';
import { GatehouseAgent, GatehouseAgentOptions, generateAgentKeyPair } from '@gatehouse/sdk';
import { Broker } from './broker';

/** Registers a new agent with a fresh Ed25519 key and returns an SDK client for it. */
export async function sdkAgent(broker: Broker, options: Partial<GatehouseAgentOptions> = {}): Promise<GatehouseAgent> {
  const { privateJwk, publicJwk } = await generateAgentKeyPair();
  const res = await broker.admin('POST', '/v1/admin/agents', { name: `sdk-${randomUUID().slice(0, 8)}`, publicJwk, owner: 'team-ai@example.com' });
  if (res.status !== 201) throw new Error(`agent registration failed: ${res.status} ${JSON.stringify(res.body)}`);
  return new GatehouseAgent({ brokerUrl: broker.url, agentId: res.body.id, privateKey: privateJwk, ...options });
}
