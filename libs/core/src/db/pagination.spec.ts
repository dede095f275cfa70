import { AccessError, AccessErrorCode } from '@gatehouse/domain';
import { thrown } from '@gatehouse/domain/testing';
import { decodeCursor, decodeUuidCursor, encodeCursor } from './pagination';

const ID = '9f1c0e4e-8a2b-4d1e-9a57-1c2b3d4e5f60';
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64url');

describe('decodeCursor', () => {
  it('reads back what encodeCursor wrote', () => {
    const row = { createdAt: new Date('2026-11-22T03:48:51.749Z'), id: ID };
    expect(decodeCursor(encodeCursor(row))).toEqual(row);
  });

  it.each([
    ['garbage', 'bm9wZQ', 'not a time and an id'],
    ['three parts', b64(`2026-01-01T00:00:00.000Z|${ID}|x`), 'not a time and an id'],
    ['an id that is not a UUID', b64('2026-01-01T00:00:00.000Z|not-a-uuid'), 'its id is not a UUID'],
    ['an empty id', b64('2026-01-01T00:00:00.000Z|'), 'its id is not a UUID'],
    ['a NUL for an id', b64('2026-01-01T00:00:00.000Z|\u0000'), 'its id is not a UUID'],
    ['a date without a time', b64(`2026-01-01|${ID}`), 'its time is not an ISO 8601 UTC timestamp'],
    ['a huge number for a time', b64(`1e400|${ID}`), 'its time is not an ISO 8601 UTC timestamp'],
    ['the year 275760', b64(`+275760-09-13T00:00:00.000Z|${ID}`), 'its time is not an ISO 8601 UTC timestamp'],
    ['the year 1', b64(`0001-01-01T00:00:00.000Z|${ID}`), 'its time is outside the years 2000-9999'],
    ['the year 1969', b64(`1969-12-31T23:59:59.999Z|${ID}`), 'its time is outside the years 2000-9999'],
    ['February 30th', b64(`2026-02-30T00:00:00.000Z|${ID}`), 'its time is not a real date'],
    ['hour 25', b64(`2026-01-01T25:00:00.000Z|${ID}`), 'its time is not a real date'],
  ])('refuses %s with a 400 naming cursor', (_name, cursor, why) => {
    const error = thrown(() => decodeCursor(cursor));
    expect(error).toBeInstanceOf(AccessError);
    expect(error.code).toBe(AccessErrorCode.VALIDATION_FAILED);
    expect(error.details).toEqual([{ path: 'cursor', message: why }]);
  });

  it('accepts the bounds: the first instant of 2000 and the last of 9999', () => {
    expect(decodeCursor(b64(`2000-01-01T00:00:00.000Z|${ID}`)).createdAt.toISOString()).toBe('2000-01-01T00:00:00.000Z');
    expect(decodeCursor(b64(`9999-12-31T23:59:59.999Z|${ID}`)).createdAt.toISOString()).toBe('9999-12-31T23:59:59.999Z');
  });
});

describe('decodeUuidCursor', () => {
  it('takes a UUID and refuses anything else', () => {
    expect(decodeUuidCursor(ID)).toBe(ID);
    for (const bad of ['null', '1e+21', `${ID}x`, '', 'bm9wZQ'])
      expect(thrown(() => decodeUuidCursor(bad)).details).toEqual([{ path: 'cursor', message: 'not a UUID' }]);
  });
});
