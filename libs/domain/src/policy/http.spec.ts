import { narrowScope } from '../approval';
import { AccessErrorCode } from '../errors';
import { thrown } from '../testing';
import { evaluatePolicy } from './evaluate';
import { coveringOperations, httpResourcesAt, neededFor, normalizeCallPath, normalizeHost, upstreamAuthorizationValue } from './http';
import { parsePolicy, PolicyError } from './parse';
import { highestSensitivity, resolveScope } from './scope';

const FILE = `version: 1
resources:
  crm.customers:
    columns: { id: public, email: pii }
  github.issues:
    kind: http
    audience: github-egress
    owners: platform
    upstream: https://api.github.com
    hosts: [github.egress.internal, "egress:8443"]
    upstreamAuthorization: { env: GITHUB_TOKEN, scheme: Bearer }
    operations:
      read-issues: { method: GET, path: "/repos/*/*/issues/**", sensitivity: internal }
      comment: { method: post, path: "/repos/*/*/issues/*/comments", sensitivity: pii, action: write }
      delete-repo: { method: DELETE, path: "/repos/*/*", sensitivity: restricted }
      any-meta: { method: "*", path: "/meta", sensitivity: public }
      versioned: { method: GET, path: "/v*/status", sensitivity: public }
rules:
  - id: comments-need-owner
    effect: require_approval
    when: { operations: [comment] }
  - id: reads
    effect: approve
    when: { resources: [github.issues], actions: [read] }
`;
const policy = parsePolicy(FILE, 'http.yaml');
const github = policy.resources['github.issues'];

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];

function policyError(text: string, env?: Record<string, string>): PolicyError {
  return thrown(() => parsePolicy(text, 'bad.yaml', env ? { env: envOf(env) } : {})) as PolicyError;
}

describe('HTTP resources in the policy', () => {
  it('reads operations with their method, path, sensitivity and action (GET reads, other methods write)', () => {
    expect(github.kind).toBe('http');
    expect(github.upstream).toBe('https://api.github.com');
    expect(github.hosts).toEqual(['api.github.com', 'github.egress.internal', 'egress:8443']);
    expect(github.operations['read-issues']).toEqual({
      name: 'read-issues',
      method: 'GET',
      path: '/repos/*/*/issues/**',
      sensitivity: 'internal',
      action: 'read',
    });
    expect(github.operations.comment).toMatchObject({ method: 'POST', action: 'write', sensitivity: 'pii' });
    expect(github.operations['delete-repo'].action).toBe('write');
    expect(github.actions).toEqual(['read', 'write']);
    expect(policy.resources['crm.customers']).toMatchObject({ kind: 'data', operations: {}, hosts: [] });
  });

  it('names file, path and reason for what an HTTP resource gets wrong', () => {
    const cases: [string, string, string][] = [
      ['    kind: http\n    operations: { a: { method: GET, path: /x } }', 'resources.api.upstream', 'an HTTP resource needs its upstream'],
      ['    upstream: https://x.example\n', 'resources.api.operations', 'at least one operation'],
      ['    upstream: https://x.example/v1\n    operations: { a: { method: GET, path: /x } }', 'resources.api.upstream', 'expected an origin only'],
      ['    upstream: ftp://x.example\n    operations: { a: { method: GET, path: /x } }', 'resources.api.upstream', 'expected an http(s) URL'],
      [
        '    upstream: https://x.example\n    operations: { a: { method: FETCH, path: /x } }',
        'resources.api.operations.a.method',
        'unknown method "FETCH"',
      ],
      ['    upstream: https://x.example\n    operations: { a: { method: GET, path: x } }', 'resources.api.operations.a.path', 'must start with /'],
      [
        '    upstream: https://x.example\n    operations: { a: { method: GET, path: "/a/../b" } }',
        'resources.api.operations.a.path',
        'has a ".." segment',
      ],
      [
        '    upstream: https://x.example\n    operations: { a: { method: GET, path: "/a**" } }',
        'resources.api.operations.a.path',
        'whole segments only',
      ],
      [
        '    upstream: https://x.example\n    operations: { a: { method: GET, path: /x, sensitivity: secret } }',
        'resources.api.operations.a.sensitivity',
        'unknown sensitivity "secret"',
      ],
      [
        '    upstream: https://x.example\n    columns: { id: public }\n    operations: { a: { method: GET, path: /x } }',
        'resources.api.columns',
        'grants operations, not columns',
      ],
      ['    kind: data\n    upstream: https://x.example', 'resources.api.upstream', 'only an HTTP resource (kind: http) takes upstream'],
      [
        '    upstream: https://x.example\n    actions: [read]\n    operations: { a: { method: POST, path: /x } }',
        'resources.api.operations.a.action',
        '"write" is not among',
      ],
    ];
    for (const [body, path, reason] of cases) {
      const error = policyError(`version: 1\nresources:\n  api:\n${body}\n`);
      expect(error.code).toBe(AccessErrorCode.INVALID_POLICY);
      const detail = error.details.find((d) => d.path === path);
      expect({ body, detail: detail?.message }).toEqual({ body, detail: expect.stringContaining(reason) });
      expect(error.message).toMatch(/^bad\.yaml: /);
    }
  });

  it('refuses a rule naming an operation no resource has, and an upstream credential whose variable is unset', () => {
    const unknown = policyError(`version: 1\nrules:\n  - id: r\n    effect: approve\n    when: { operations: [nope] }\n`);
    expect(unknown.details).toEqual([{ path: 'rules[0].when.operations[0]', message: 'no HTTP resource has an operation "nope"' }]);
    const unset = policyError(FILE, { OTHER: 'x' });
    expect(unset.details).toEqual([
      { path: 'resources["github.issues"].upstreamAuthorization.env', message: 'GITHUB_TOKEN is not set in the environment' },
    ]);
    expect(parsePolicy(FILE, 'ok.yaml', { env: envOf({ GITHUB_TOKEN: 'ghp_x' }) }).resources['github.issues'].upstreamAuthorization).toEqual({
      env: 'GITHUB_TOKEN',
      scheme: 'Bearer',
    });
  });
});

describe('a request for operations', () => {
  it('gets every operation within its actions when operations are omitted (a "*" method writes)', () => {
    const scope = resolveScope(policy, { resource: 'github.issues', actions: ['read'] });
    expect(scope).toMatchObject({ columns: [], operations: ['read-issues', 'versioned'] });
  });

  it('gets exactly the operations named, deduplicated', () => {
    const scope = resolveScope(policy, { resource: 'github.issues', actions: ['read', 'write'], operations: ['comment', 'read-issues', 'comment'] });
    expect(scope.operations).toEqual(['comment', 'read-issues']);
    expect(highestSensitivity(policy, github, scope.operations)).toBe('pii');
  });

  it('refuses unknown operations, operations beyond the actions, and columns on an HTTP API (and the reverse)', () => {
    const unknown = thrown(() => resolveScope(policy, { resource: 'github.issues', actions: ['read'], operations: ['read-issues', 'push'] }));
    expect(unknown.code).toBe(AccessErrorCode.UNKNOWN_OPERATION);
    expect(unknown.details).toEqual([{ path: 'operations[1]', message: 'github.issues has no operation "push"' }]);
    const beyond = thrown(() => resolveScope(policy, { resource: 'github.issues', actions: ['read'], operations: ['comment'] }));
    expect(beyond.code).toBe(AccessErrorCode.ACTION_NOT_ALLOWED);
    expect(beyond.message).toBe('"comment" is beyond the requested actions (read); add "write" to actions.');
    expect(thrown(() => resolveScope(policy, { resource: 'github.issues', actions: ['read'], columns: ['id'] })).code).toBe(
      AccessErrorCode.UNKNOWN_COLUMN,
    );
    expect(thrown(() => resolveScope(policy, { resource: 'crm.customers', actions: ['read'], operations: ['x'] })).code).toBe(
      AccessErrorCode.UNKNOWN_OPERATION,
    );
    expect(thrown(() => resolveScope(policy, { resource: 'github.issues', actions: ['read'], operations: [] })).code).toBe(
      AccessErrorCode.VALIDATION_FAILED,
    );
  });

  it('is decided by the policy like any request: operations conditions, sensitivity over the operations', () => {
    const base = {
      agent: { id: 'a', name: 'bot', attributes: {} },
      resource: 'github.issues',
      columns: [],
      durationSeconds: 600,
      now: new Date('2026-11-23T10:00:00Z'),
    };
    const read = evaluatePolicy(policy, { ...base, actions: ['read'], operations: ['read-issues'] });
    expect(read).toMatchObject({ outcome: 'approve', rules: ['reads'], sensitivity: 'internal' });
    const comment = evaluatePolicy(policy, { ...base, actions: ['write'], operations: ['comment'] });
    expect(comment).toMatchObject({ outcome: 'require_approval', rules: ['comments-need-owner'], sensitivity: 'pii' });
    expect(comment.approval?.approvers).toBe('platform');
    // A data request never matches a rule that lists operations.
    const data = evaluatePolicy(policy, { ...base, resource: 'crm.customers', actions: ['read'], columns: ['id'] });
    expect(data.rules).toEqual([]);
  });

  it('may only be narrowed to fewer of its operations by an approver', () => {
    const granted = { columns: [], operations: ['read-issues', 'comment'], durationSeconds: 600 };
    expect(narrowScope(granted, { operations: ['comment'] })).toEqual({ columns: [], operations: ['comment'], durationSeconds: 600 });
    const broader = thrown(() => narrowScope(granted, { operations: ['delete-repo'] }));
    expect(broader.code).toBe(AccessErrorCode.NARROWING_ONLY);
    expect(broader.details).toEqual([{ path: 'operations[0]', message: 'operation "delete-repo" was not requested' }]);
  });
});

describe('a gateway call', () => {
  it('is found by host, as the client named it, with or without a default port', () => {
    expect(httpResourcesAt(policy, 'API.GitHub.com').map((r) => r.id)).toEqual(['github.issues']);
    expect(httpResourcesAt(policy, 'api.github.com:443').map((r) => r.id)).toEqual(['github.issues']);
    expect(httpResourcesAt(policy, 'egress:8443').map((r) => r.id)).toEqual(['github.issues']);
    expect(httpResourcesAt(policy, 'egress')).toEqual([]);
    expect(httpResourcesAt(policy, 'evil.example')).toEqual([]);
    expect(normalizeHost('Api.Github.com.:80')).toBe('api.github.com');
  });

  it('matches operations by method and path pattern: * one segment, ** any, GET covers HEAD', () => {
    const all = Object.keys(github.operations);
    const covering = (method: string, uri: string) => coveringOperations(github, all, method, normalizeCallPath(uri)!);
    expect(covering('GET', '/repos/acme/app/issues')).toEqual(['read-issues']);
    expect(covering('GET', '/repos/acme/app/issues/12/comments?page=2')).toEqual(['read-issues']);
    expect(covering('HEAD', '/repos/acme/app/issues/12')).toEqual(['read-issues']);
    expect(covering('POST', '/repos/acme/app/issues/12/comments')).toEqual(['comment']);
    expect(covering('POST', '/repos/acme/app/issues/12/comments/9')).toEqual([]);
    expect(covering('DELETE', '/repos/acme/app')).toEqual(['delete-repo']);
    expect(covering('GET', '/repos/acme')).toEqual([]);
    expect(covering('PUT', '/meta')).toEqual(['any-meta']);
    expect(covering('GET', '/v3/status')).toEqual(['versioned']);
    expect(covering('GET', '/x3/status')).toEqual([]);
    expect(covering('GET', '/repos/a%20b/app/issues')).toEqual(['read-issues']);
  });

  it('refuses paths an upstream could read differently than the pattern does', () => {
    for (const uri of [
      '/repos/a/b/issues/../../../admin',
      '/repos/a/%2e%2e/x',
      '/repos/a%2Fb/c/issues',
      '/repos//a/issues',
      '/a\\b',
      '/a%5cb',
      '/a/%00',
      '/bad%zz',
      'repos/a',
      '',
    ]) {
      expect({ uri, path: normalizeCallPath(uri) }).toEqual({ uri, path: null });
    }
    expect(normalizeCallPath('/repos/a/b/issues/?q=1#x')).toBe('/repos/a/b/issues/');
  });

  it('names what would be needed: the least sensitive operation that covers the call', () => {
    expect(neededFor(policy, { method: 'GET', host: 'github.egress.internal', uri: '/repos/a/b/issues/1' })).toEqual({
      resource: 'github.issues',
      operations: ['read-issues'],
      actions: ['read'],
    });
    expect(neededFor(policy, { method: 'POST', host: 'api.github.com', uri: '/repos/a/b/issues/1/comments' })).toEqual({
      resource: 'github.issues',
      operations: ['comment'],
      actions: ['write'],
    });
    expect(neededFor(policy, { method: 'GET', host: 'api.github.com', uri: '/users/x' })).toBeNull();
    expect(neededFor(policy, { method: 'GET', host: 'elsewhere', uri: '/repos/a/b/issues' })).toBeNull();
  });

  it('carries the upstream credential from the environment, with its scheme, only when set', () => {
    expect(upstreamAuthorizationValue(github, envOf({ GITHUB_TOKEN: 'ghp_secret' }))).toBe('Bearer ghp_secret');
    expect(upstreamAuthorizationValue(github, envOf({}))).toBeUndefined();
    expect(upstreamAuthorizationValue(policy.resources['crm.customers'], envOf({ GITHUB_TOKEN: 'x' }))).toBeUndefined();
  });
});
