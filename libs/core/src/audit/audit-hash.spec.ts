import { canonicalEvent, GENESIS_HASH, hashEvent, SealedFields } from './audit-hash';

const event: SealedFields = {
  seq: 7n,
  id: 42n,
  type: 'grant.issued',
  actor: 'agent:reporting-bot',
  sourceIp: '10.0.0.7',
  requestId: '0f8fad5b-d9cb-469f-a165-70867728950e',
  grantId: null,
  agentId: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
  data: { z: 1, a: ['read'], nested: { b: 2, a: '€' } },
  createdAt: new Date('2026-01-02T03:04:05.678Z'),
};

describe('audit hash', () => {
  it('serializes the sealed fields as RFC 8785 JSON, bigints as strings', () => {
    expect(canonicalEvent(event)).toBe(
      '{"actor":"agent:reporting-bot","agentId":"7c9e6679-7425-40de-944b-e07fc1f90ae7",' +
        '"createdAt":"2026-01-02T03:04:05.678Z","data":{"a":["read"],"nested":{"a":"€","b":2},"z":1},' +
        '"grantId":null,"id":"42","requestId":"0f8fad5b-d9cb-469f-a165-70867728950e","seq":"7",' +
        '"sourceIp":"10.0.0.7","type":"grant.issued"}',
    );
  });

  it('canonicalizes data as in RFC 8785 section 3.2.2 (numbers, escapes, key order)', () => {
    const data = JSON.parse(
      '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],' +
        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
    );
    const json = canonicalEvent({ ...event, data });
    expect(json).toContain(
      '"data":{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' + '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('hashes the previous hash followed by the canonical JSON, stably across releases', () => {
    // A change of this constant breaks every stored chain: it needs a migration, not a new expectation.
    expect(hashEvent(GENESIS_HASH, event)).toBe('120feef9651fd375f1fc7ab7139df128b06b2d928dada521b3d98a3163b01ea4');
    expect(GENESIS_HASH).toMatch(/^0{64}$/);
  });

  it('changes the hash when any sealed field or the previous hash changes', () => {
    const base = hashEvent(GENESIS_HASH, event);
    const variants: Partial<SealedFields>[] = [
      { seq: 8n },
      { id: 43n },
      { type: 'grant.revoked' },
      { actor: 'admin:alice' },
      { sourceIp: null },
      { requestId: null },
      { grantId: '0f8fad5b-d9cb-469f-a165-70867728950e' },
      { agentId: null },
      { data: { ...(event.data as object), z: 2 } },
      { createdAt: new Date('2026-01-02T03:04:05.679Z') },
    ];
    for (const change of variants) expect(hashEvent(GENESIS_HASH, { ...event, ...change })).not.toBe(base);
    expect(hashEvent('1'.repeat(64), event)).not.toBe(base);
  });
});
