import { AccessError, AccessErrorCode } from '@gatehouse/domain';

/** A keyset position: rows are ordered by (a timestamp, id). */
export interface Cursor {
  createdAt: Date;
  id: string;
}

export function encodeCursor(row: Cursor): string {
  return Buffer.from(`${row.createdAt.toISOString()}|${row.id}`).toString('base64url');
}

export function decodeCursor(value: string): Cursor {
  const [at, id] = Buffer.from(value, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(at ?? '');
  if (!id || Number.isNaN(createdAt.getTime())) {
    throw new AccessError(AccessErrorCode.VALIDATION_FAILED, 'cursor is not one this API returned; pass nextCursor back unchanged', [{ path: 'cursor', message: 'unrecognized cursor' }]);
  }
  return { createdAt, id };
}

/** Prisma `where` fragment for rows after a cursor in (field, id) order. */
export function afterCursor(cursor: Cursor | undefined, field: 'createdAt' | 'issuedAt' = 'createdAt'): object {
  if (!cursor) return {};
  return { OR: [{ [field]: { gt: cursor.createdAt } }, { [field]: cursor.createdAt, id: { gt: cursor.id } }] };
}
