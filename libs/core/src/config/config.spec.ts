import { ConfigError, loadConfig } from './config';

const TOKEN = 'introspect-0123456789abcdef';

function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('the configuration was accepted');
}

describe('limits configuration', () => {
  it('defaults: 10 long-polls per agent, 30 failed authentications per 60 s per address', () => {
    const config = loadConfig({});
    expect(config.maxWaitsPerAgent).toBe(10);
    expect(config.authFailureLimit).toEqual({ points: 30, durationSeconds: 60 });
    expect(config.rateLimit).toEqual({ points: 100, durationSeconds: 10 });
  });

  it('reads GATEHOUSE_AUTH_FAILURE_LIMIT and GATEHOUSE_MAX_WAITS_PER_AGENT', () => {
    const config = loadConfig({ GATEHOUSE_AUTH_FAILURE_LIMIT: '5/2m', GATEHOUSE_MAX_WAITS_PER_AGENT: '3', GATEHOUSE_RATE_LIMIT: '7/1h' });
    expect(config.authFailureLimit).toEqual({ points: 5, durationSeconds: 120 });
    expect(config.maxWaitsPerAgent).toBe(3);
    expect(config.rateLimit).toEqual({ points: 7, durationSeconds: 3600 });
  });

  it.each([
    ['GATEHOUSE_AUTH_FAILURE_LIMIT', '30'],
    ['GATEHOUSE_AUTH_FAILURE_LIMIT', '0/60s'],
    ['GATEHOUSE_AUTH_FAILURE_LIMIT', '30/0s'],
    ['GATEHOUSE_AUTH_FAILURE_LIMIT', '30/60d'],
    ['GATEHOUSE_RATE_LIMIT', '0/10s'],
    ['GATEHOUSE_MAX_WAITS_PER_AGENT', '0'],
    ['GATEHOUSE_MAX_WAITS_PER_AGENT', 'ten'],
    ['GATEHOUSE_MAX_WAITS_PER_AGENT', '2.5'],
  ])('%s=%s stops the start, naming the variable', (variable, value) => {
    expect(refusal({ [variable]: value })).toContain(`${variable}:`);
  });
});

describe('GATEHOUSE_INTROSPECTION_TOKENS', () => {
  it('name:token sees every audience; name:token:a|b only those audiences', () => {
    const config = loadConfig({
      GATEHOUSE_INTROSPECTION_TOKENS: `crm:${TOKEN}, billing:${TOKEN}-2:billing-api|https://billing.example.com:8443/api`,
    });
    expect(config.introspectionTokens.get(TOKEN)).toEqual({ name: 'crm', audiences: undefined });
    expect(config.introspectionTokens.get(`${TOKEN}-2`)).toEqual({
      name: 'billing',
      audiences: ['billing-api', 'https://billing.example.com:8443/api'],
    });
  });

  it.each([
    ['no name', `:${TOKEN}`],
    ['no token', 'crm'],
    ['a short token', 'crm:short:crm-api'],
    ['an empty audience list', `crm:${TOKEN}:`],
    ['an empty audience', `crm:${TOKEN}:crm-api||billing-api`],
    ['an audience with a space', `crm:${TOKEN}:crm api`],
  ])('%s stops the start, naming the variable', (_, value) => {
    expect(refusal({ GATEHOUSE_INTROSPECTION_TOKENS: value })).toMatch(/GATEHOUSE_INTROSPECTION_TOKENS: .*name:token:aud1\|aud2/);
  });
});
