import { AccessError, AccessErrorCode } from '../errors';
import { listKnown } from './format';
import { Policy, ResourcePolicy } from './types';

/** What an agent asked for, before it is checked against the policy. */
export interface ScopeRequest {
  resource: string;
  actions: string[];
  columns?: string[];
}

/** A request's scope, checked against the policy: known resource, allowed actions, known columns. */
export interface ResolvedScope {
  resource: ResourcePolicy;
  actions: string[];
  columns: string[];
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

  const listed = Object.keys(resource.columns);
  if (request.columns === undefined) return { resource, actions, columns: listed };
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
  return { resource, actions, columns: [...new Set(request.columns)] };
}

/** Sensitivity label of one column; a column the resource does not list gets its defaultSensitivity. */
export function columnSensitivity(policy: Policy, resource: string | ResourcePolicy, column: string): string {
  const found = resourceOf(policy, resource);
  return Object.hasOwn(found.columns, column) ? found.columns[column] : found.defaultSensitivity;
}

/** The most sensitive label among the columns (the resource's defaultSensitivity when none). */
export function highestSensitivity(policy: Policy, resource: string | ResourcePolicy, columns: string[]): string {
  const found = resourceOf(policy, resource);
  let highest = columns.length === 0 ? found.defaultSensitivity : columnSensitivity(policy, found, columns[0]);
  for (const column of columns) {
    const label = columnSensitivity(policy, found, column);
    if (policy.sensitivity.indexOf(label) > policy.sensitivity.indexOf(highest)) highest = label;
  }
  return highest;
}
