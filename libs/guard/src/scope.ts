import { GrantError, GrantErrorCode } from './errors';

/** One RFC 9396 authorization detail of a grant token. */
export interface AuthorizationDetail {
  type: string;
  identifier: string;
  actions: string[];
  columns: string[];
}

/** Anything that carries a grant's authorization details: a VerifiedGrant or raw claims. */
export type GrantLike = { authorizationDetails: AuthorizationDetail[] } | { authorization_details?: unknown };

/** The type Gatehouse writes into authorization_details. */
export const GATEHOUSE_DETAIL_TYPE = 'gatehouse_data';

function isDetail(value: unknown): value is AuthorizationDetail {
  const d = value as AuthorizationDetail;
  return (
    typeof d === 'object' &&
    d !== null &&
    d.type === GATEHOUSE_DETAIL_TYPE &&
    typeof d.identifier === 'string' &&
    Array.isArray(d.actions) &&
    d.actions.every((a) => typeof a === 'string') &&
    Array.isArray(d.columns) &&
    d.columns.every((c) => typeof c === 'string')
  );
}

/** The Gatehouse details of a grant; anything malformed or of another type is ignored. */
export function detailsOf(grant: GrantLike): AuthorizationDetail[] {
  const raw = 'authorizationDetails' in grant ? grant.authorizationDetails : grant.authorization_details;
  return Array.isArray(raw) ? raw.filter(isDetail) : [];
}

/** Throws INSUFFICIENT_SCOPE unless the grant allows `action` on `resource`. */
export function assertAllowed(grant: GrantLike, need: { resource: string; action: string }): void {
  const ok = detailsOf(grant).some((d) => d.identifier === need.resource && d.actions.includes(need.action));
  if (!ok) {
    throw new GrantError(
      GrantErrorCode.INSUFFICIENT_SCOPE,
      `This grant does not allow ${need.action} on ${need.resource}; request access to it first.`,
    );
  }
}

/** The columns of `resource` the grant covers (empty when none). */
export function allowedColumns(grant: GrantLike, resource: string): string[] {
  const columns = new Set<string>();
  for (const d of detailsOf(grant)) if (d.identifier === resource) d.columns.forEach((c) => columns.add(c));
  return [...columns];
}

/**
 * A copy of `row` with only the granted columns of `resource`. `resource` may be left out when
 * the grant covers exactly one resource. Columns are matched by own property name only.
 */
export function projectRow<T extends Record<string, unknown>>(row: T, grant: GrantLike, resource?: string): Partial<T> {
  let target = resource;
  if (target === undefined) {
    const resources = [...new Set(detailsOf(grant).map((d) => d.identifier))];
    if (resources.length !== 1) throw new GrantError(GrantErrorCode.INSUFFICIENT_SCOPE, 'Name the resource: this grant does not cover exactly one.');
    target = resources[0];
  }
  const out: Partial<T> = {};
  for (const column of allowedColumns(grant, target)) {
    if (Object.prototype.hasOwnProperty.call(row, column)) (out as Record<string, unknown>)[column] = row[column];
  }
  return out;
}
