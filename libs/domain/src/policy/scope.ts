import { AccessError, AccessErrorCode } from '../errors';
import { listKnown } from './format';
import { Policy, ResourcePolicy } from './types';

/** What an agent asked for, before it is checked against the policy. */
export interface ScopeRequest {
  resource: string;
  actions: string[];
  columns?: string[];
  operations?: string[];
}

/**
 * A request's scope, checked against the policy: known resource, allowed actions, and its known
 * columns (a data resource) or operations (an HTTP resource); the other list is empty.
 */
export interface ResolvedScope {
  resource: ResourcePolicy;
  actions: string[];
  columns: string[];
  operations: string[];
}

function findResource(policy: Policy, id: string): ResourcePolicy {
  if (Object.hasOwn(policy.resources, id)) return policy.resources[id];
  const known = Object.keys(policy.resources);
  const hint = known.length <= 20 ? `known resources: ${listKnown(known, 20)}` : 'ask an admin for the resource ids in the policy';
  throw new AccessError(AccessErrorCode.UNKNOWN_RESOURCE, `Unknown resource "${id}"; ${hint}.`, [
    { path: 'resource', message: `unknown resource "${id}"` },
  ]);
}

function quoteAll(names: string[]): string {
  return names.map((name) => `"${name}"`).join(', ');
}

function resourceOf(policy: Policy, resource: string | ResourcePolicy): ResourcePolicy {
  return typeof resource === 'string' ? findResource(policy, resource) : resource;
}

/** Checks a request against the policy's resources; columns omitted means every listed column. */
export function resolveScope(policy: Policy, request: ScopeRequest): ResolvedScope {
  const resource = findResource(policy, request.resource);

  const actions = [...new Set(request.actions)];
  if (actions.length === 0) {
    throw new AccessError(AccessErrorCode.VALIDATION_FAILED, `actions must not be empty; ask for one of: ${resource.actions.join(', ')}.`, [
      { path: 'actions', message: 'must not be empty' },
    ]);
  }
  const refused = actions.filter((action) => !resource.actions.includes(action));
  if (refused.length > 0) {
    const allowed = resource.actions.join(', ');
    throw new AccessError(
      AccessErrorCode.ACTION_NOT_ALLOWED,
      `${resource.id} does not allow ${quoteAll(refused)}; ask for one of: ${allowed}.`,
      refused.map((action) => ({
        path: `actions[${request.actions.indexOf(action)}]`,
        message: `"${action}" is not allowed on ${resource.id}; allowed: ${allowed}`,
      })),
    );
  }

  return resource.kind === 'http' ? resolveOperations(resource, actions, request) : resolveColumns(resource, actions, request);
}

function resolveColumns(resource: ResourcePolicy, actions: string[], request: ScopeRequest): ResolvedScope {
  if (request.operations !== undefined) {
    throw new AccessError(AccessErrorCode.UNKNOWN_OPERATION, `${resource.id} is data: ask for columns, not operations.`, [
      { path: 'operations', message: `${resource.id} has columns, not operations` },
    ]);
  }
  const listed = Object.keys(resource.columns);
  if (request.columns === undefined) return { resource, actions, columns: listed, operations: [] };
  if (request.columns.length === 0) {
    throw new AccessError(AccessErrorCode.VALIDATION_FAILED, 'columns must not be empty; omit it to ask for every column.', [
      { path: 'columns', message: 'must not be empty' },
    ]);
  }
  // A resource that lists no columns accepts any column name (rated defaultSensitivity).
  if (listed.length > 0) {
    const unknown = [...new Set(request.columns)].filter((column) => !Object.hasOwn(resource.columns, column));
    if (unknown.length > 0) {
      throw new AccessError(
        AccessErrorCode.UNKNOWN_COLUMN,
        `${resource.id} has no column ${quoteAll(unknown)}; known columns: ${listKnown(listed, 30)}.`,
        unknown.map((column) => ({
          path: `columns[${request.columns!.indexOf(column)}]`,
          message: `${resource.id} has no column "${column}"`,
        })),
      );
    }
  }
  return { resource, actions, columns: [...new Set(request.columns)], operations: [] };
}

/** Operations omitted means every operation within the requested actions; each named one must be within them. */
function resolveOperations(resource: ResourcePolicy, actions: string[], request: ScopeRequest): ResolvedScope {
  if (request.columns !== undefined) {
    throw new AccessError(AccessErrorCode.UNKNOWN_COLUMN, `${resource.id} is an HTTP API: ask for operations, not columns.`, [
      { path: 'columns', message: `${resource.id} has operations, not columns` },
    ]);
  }
  const listed = Object.keys(resource.operations);
  if (request.operations === undefined) {
    const within = listed.filter((name) => actions.includes(resource.operations[name].action));
    if (within.length === 0) {
      throw new AccessError(
        AccessErrorCode.UNKNOWN_OPERATION,
        `${resource.id} has no operation for ${quoteAll(actions)}; known operations: ${listKnown(listed, 30)}.`,
        [{ path: 'actions', message: `no operation of ${resource.id} is a ${actions.join(' or ')}` }],
      );
    }
    return { resource, actions, columns: [], operations: within };
  }
  if (request.operations.length === 0) {
    throw new AccessError(AccessErrorCode.VALIDATION_FAILED, 'operations must not be empty; omit it to ask for every operation within the actions.', [
      { path: 'operations', message: 'must not be empty' },
    ]);
  }
  const asked = [...new Set(request.operations)];
  const unknown = asked.filter((name) => !Object.hasOwn(resource.operations, name));
  if (unknown.length > 0) {
    throw new AccessError(
      AccessErrorCode.UNKNOWN_OPERATION,
      `${resource.id} has no operation ${quoteAll(unknown)}; known operations: ${listKnown(listed, 30)}.`,
      unknown.map((name) => ({ path: `operations[${request.operations!.indexOf(name)}]`, message: `${resource.id} has no operation "${name}"` })),
    );
  }
  const beyond = asked.filter((name) => !actions.includes(resource.operations[name].action));
  if (beyond.length > 0) {
    throw new AccessError(
      AccessErrorCode.ACTION_NOT_ALLOWED,
      `${quoteAll(beyond)} ${beyond.length === 1 ? 'is' : 'are'} beyond the requested actions (${actions.join(', ')}); add ${quoteAll([...new Set(beyond.map((name) => resource.operations[name].action))])} to actions.`,
      beyond.map((name) => ({
        path: `operations[${request.operations!.indexOf(name)}]`,
        message: `"${name}" is a ${resource.operations[name].action}, not requested in actions`,
      })),
    );
  }
  return { resource, actions, columns: [], operations: asked };
}

/** Sensitivity label of one column; a column the resource does not list gets its defaultSensitivity. */
export function columnSensitivity(policy: Policy, resource: string | ResourcePolicy, column: string): string {
  const found = resourceOf(policy, resource);
  return Object.hasOwn(found.columns, column) ? found.columns[column] : found.defaultSensitivity;
}

/** Sensitivity label of one part: a column of a data resource, an operation of an HTTP resource. */
export function partSensitivity(policy: Policy, resource: string | ResourcePolicy, part: string): string {
  const found = resourceOf(policy, resource);
  if (found.kind === 'http') return Object.hasOwn(found.operations, part) ? found.operations[part].sensitivity : found.defaultSensitivity;
  return columnSensitivity(policy, found, part);
}

/** The parts a scope grants: its columns, or its operations for an HTTP resource. */
export function partsOf(scope: { columns: string[]; operations: string[] }): string[] {
  return scope.operations.length > 0 ? scope.operations : scope.columns;
}

/** The most sensitive label among the parts (columns or operations; the resource's defaultSensitivity when none). */
export function highestSensitivity(policy: Policy, resource: string | ResourcePolicy, parts: string[]): string {
  const found = resourceOf(policy, resource);
  let highest = parts.length === 0 ? found.defaultSensitivity : partSensitivity(policy, found, parts[0]);
  for (const part of parts) {
    const label = partSensitivity(policy, found, part);
    if (policy.sensitivity.indexOf(label) > policy.sensitivity.indexOf(highest)) highest = label;
  }
  return highest;
}
