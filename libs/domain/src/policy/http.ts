import { HttpOperation, Policy, ResourcePolicy } from './types';

// HTTP resources: which named operation of which resource a gateway's call is, judged from the
// method, the host and the path. Pure and memoized per policy: a gateway asks on every call.

/** One call as a gateway forwards it for a decision. */
export interface HttpCall {
  method: string;
  /** Host or host:port as the client named it. */
  host: string;
  /** The path as sent (query string allowed; it is ignored). */
  uri: string;
}

/** What an agent would have to ask for to make a call: one request body's worth. */
export interface NeededAccess {
  resource: string;
  operations: string[];
  actions: string[];
}

/** Why a path pattern in the policy is unusable, or undefined when it is fine. */
export function pathPatternProblem(pattern: string): string | undefined {
  if (!pattern.startsWith('/')) return `"${pattern}" must start with /`;
  if (/[?#\s]/.test(pattern)) return `"${pattern}" must be a path only (no query, fragment or spaces)`;
  const segments = pattern.split('/').slice(1);
  for (const [i, segment] of segments.entries()) {
    if (segment === '' && i < segments.length - 1) return `"${pattern}" has an empty segment (//)`;
    if (segment === '.' || segment === '..') return `"${pattern}" has a "${segment}" segment`;
    if (segment.includes('**') && segment !== '**') return `"${pattern}": ** stands for whole segments only (/**/), not part of one`;
  }
  return undefined;
}

const compiled = new WeakMap<HttpOperation, RegExp>();

/** `/repos/*\/issues/**` -> a regex over decoded paths: `*` one non-empty segment (or part of one), `**` any segments. */
function pathRegex(operation: HttpOperation): RegExp {
  let regex = compiled.get(operation);
  if (!regex) {
    const parts = operation.path
      .split('/')
      .slice(1)
      .map((segment) => {
        if (segment === '**') return '(?:/[^/]*)*';
        if (segment === '*') return '/[^/]+';
        return '/' + segment.split('*').map(escapeRegex).join('[^/]*');
      });
    regex = new RegExp(`^${parts.join('')}$`);
    compiled.set(operation, regex);
  }
  return regex;
}

function escapeRegex(text: string): string {
  return text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The path a gateway forwarded, decoded segment by segment, or null when it is ambiguous: dot
 * segments, empty segments, encoded slashes or backslashes, control characters or bad escapes. An
 * upstream may read such a path differently than the pattern does, so it is never granted.
 */
export function normalizeCallPath(uri: string): string | null {
  const end = uri.search(/[?#]/);
  const path = end < 0 ? uri : uri.slice(0, end);
  if (!path.startsWith('/')) return null;
  const segments = path.split('/').slice(1);
  const decoded: string[] = [];
  for (const [i, raw] of segments.entries()) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (segment === '' && i < segments.length - 1) return null;
    if (segment === '.' || segment === '..' || /[/\\]/.test(segment) || hasControlCharacter(segment)) return null;
    decoded.push(segment);
  }
  return '/' + decoded.join('/');
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** Whether an operation covers a method on a (normalized) path; a GET operation also covers HEAD. */
export function operationCovers(operation: HttpOperation, method: string, path: string): boolean {
  const upper = method.toUpperCase();
  const methodOk = operation.method === '*' || operation.method === upper || (operation.method === 'GET' && upper === 'HEAD');
  return methodOk && pathRegex(operation).test(path);
}

/** Lower case, no trailing dot; a default port (80, 443) dropped, so `api.github.com:443` is `api.github.com`. */
export function normalizeHost(host: string): string {
  const lower = host
    .trim()
    .toLowerCase()
    .replace(/\.(?=:|$)/, '');
  return lower.replace(/:(80|443)$/, '');
}

const byHost = new WeakMap<Policy, Map<string, ResourcePolicy[]>>();

/** The HTTP resources a gateway reaches under `host`. */
export function httpResourcesAt(policy: Policy, host: string): ResourcePolicy[] {
  let index = byHost.get(policy);
  if (!index) {
    index = new Map();
    for (const resource of Object.values(policy.resources)) {
      if (resource.kind !== 'http') continue;
      for (const name of resource.hosts) index.set(name, [...(index.get(name) ?? []), resource]);
    }
    byHost.set(policy, index);
  }
  return index.get(normalizeHost(host)) ?? [];
}

/** Names of the operations of `resource`, among `names`, that cover the call. */
export function coveringOperations(resource: ResourcePolicy, names: Iterable<string>, method: string, path: string): string[] {
  const covering: string[] = [];
  for (const name of names) {
    const operation = Object.hasOwn(resource.operations, name) ? resource.operations[name] : undefined;
    if (operation && operationCovers(operation, method, path)) covering.push(name);
  }
  return covering;
}

/**
 * What an agent would ask for to make this call: on the first resource at that host that has an
 * operation covering it, the least sensitive such operation (the first listed among equals).
 */
export function neededFor(policy: Policy, call: HttpCall): NeededAccess | null {
  const path = normalizeCallPath(call.uri);
  if (path === null) return null;
  const rank = (label: string) => policy.sensitivity.indexOf(label);
  for (const resource of httpResourcesAt(policy, call.host)) {
    const candidates = coveringOperations(resource, Object.keys(resource.operations), call.method, path).map((name) => resource.operations[name]);
    if (candidates.length === 0) continue;
    const least = candidates.reduce((best, operation) => (rank(operation.sensitivity) < rank(best.sensitivity) ? operation : best));
    return { resource: resource.id, operations: [least.name], actions: [least.action] };
  }
  return null;
}

/** The header value a gateway sets on the upstream call, from the environment; undefined when not configured or unset. */
export function upstreamAuthorizationValue(resource: ResourcePolicy, env: (name: string) => string | undefined): string | undefined {
  const source = resource.upstreamAuthorization;
  if (!source) return undefined;
  const value = env(source.env);
  if (value === undefined || value === '') return undefined;
  return source.scheme ? `${source.scheme} ${value}` : value;
}
