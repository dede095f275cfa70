import { AccessError, AccessErrorCode } from '@gatehouse/domain';

/** A keyset position: rows are ordered by (a timestamp, id). */
export interface Cursor {
  createdAt: Date;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Exactly what encodeCursor writes (Date#toISOString), for years Postgres and people both accept:
// a cursor is only ever handed back, so anything else was made up, and made-up values reach
// Postgres as out-of-range timestamps or non-UUIDs (a 500) unless refused here.
const TIMESTAMP = /^(\d{4})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const FIRST_YEAR = 2000;
const LAST_YEAR = 9999;

/** A cursor the API never handed out: 400 naming `cursor`, with what is wrong with it. */
function unrecognized(why: string): AccessError {
  return new AccessError(AccessErrorCode.VALIDATION_FAILED, `cursor is not one this API returned (${why}); pass nextCursor back unchanged`, [
    { path: 'cursor', message: why },
  ]);
}

export function encodeCursor(row: Cursor): string {
  return Buffer.from(`${row.createdAt.toISOString()}|${row.id}`).toString('base64url');
}

/** Reads a (time, id) cursor; refuses anything encodeCursor could not have written. */
export function decodeCursor(value: string): Cursor {
  const parts = Buffer.from(value, 'base64url').toString('utf8').split('|');
  if (parts.length !== 2) throw unrecognized('not a time and an id');
  const [at, id] = parts;
  const year = TIMESTAMP.exec(at)?.[1];
  if (!year) throw unrecognized('its time is not an ISO 8601 UTC timestamp');
  if (Number(year) < FIRST_YEAR || Number(year) > LAST_YEAR) throw unrecognized(`its time is outside the years ${FIRST_YEAR}-${LAST_YEAR}`);
  const createdAt = new Date(at);
  if (Number.isNaN(createdAt.getTime()) || createdAt.toISOString() !== at) throw unrecognized('its time is not a real date');
  if (!UUID.test(id)) throw unrecognized('its id is not a UUID');
  return { createdAt, id };
}

/** Reads a cursor that is a row's UUID (the agents list). */
export function decodeUuidCursor(value: string): string {
  if (!UUID.test(value)) throw unrecognized('not a UUID');
  return value;
}

/** Prisma `where` fragment for rows after a cursor in (field, id) order. */
export function afterCursor(cursor: Cursor | undefined, field: 'createdAt' | 'issuedAt' = 'createdAt'): object {
  if (!cursor) return {};
  return { OR: [{ [field]: { gt: cursor.createdAt } }, { [field]: cursor.createdAt, id: { gt: cursor.id } }] };
}
