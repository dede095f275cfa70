import { Duration } from 'luxon';
import { AccessError, AccessErrorCode } from './errors';

const SHORT_FORM = /^(\d+)(s|m|h|d)$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
// Nobody needs a grant or a timeout longer than this; anything above is a typo (1000d for 100d).
const MAX_SECONDS = 10 * 365 * 86400;
const EXAMPLES = 'use a whole number with a unit, like 90s, 15m, 1h or 2d, or ISO 8601 like PT15M';

function invalid(message: string): never {
  throw new AccessError(AccessErrorCode.INVALID_DURATION, message);
}

function parseIso(input: string): number {
  const duration = Duration.fromISO(input);
  // Luxon tolerates a dangling "T" (P1DT); a person who wrote that meant something else.
  if (!duration.isValid || input.endsWith('T')) {
    invalid(`duration "${input}" is not valid: ${EXAMPLES}`);
  }
  const parts = duration.toObject();
  // A month or a year has no fixed length, so "P1M" would grant a different time each month.
  if (parts.years || parts.months || parts.quarters) {
    invalid(`duration "${input}" uses years or months, whose length varies: give days instead (P30D)`);
  }
  return duration.as('seconds');
}

/** Parses "90s", "15m", "1h", "2d" or an ISO 8601 duration ("PT15M") into whole seconds. */
export function parseDuration(input: string): number {
  if (typeof input !== 'string') {
    invalid(`duration must be a string: ${EXAMPLES}`);
  }
  if (input.length === 0) invalid(`duration is empty: ${EXAMPLES}`);
  if (input.trim() !== input || /\s/.test(input)) {
    invalid(`duration "${input}" must not contain spaces: ${EXAMPLES}`);
  }
  if (/^-?\d+(\.\d+)?$/.test(input)) {
    invalid(`duration "${input}" has no unit: ${EXAMPLES}`);
  }
  if (input.startsWith('-')) invalid(`duration "${input}" is negative: it must be longer than zero`);
  let seconds: number;
  const short = SHORT_FORM.exec(input);
  if (short) {
    seconds = Number(short[1]) * UNIT_SECONDS[short[2]];
  } else if (input.startsWith('P')) {
    seconds = parseIso(input);
  } else {
    invalid(`duration "${input}" is not valid: ${EXAMPLES}`);
  }
  if (!Number.isFinite(seconds) || seconds <= 0) {
    invalid(`duration "${input}" must be longer than zero`);
  }
  if (!Number.isInteger(seconds)) {
    invalid(`duration "${input}" is not a whole number of seconds`);
  }
  if (seconds > MAX_SECONDS) {
    invalid(`duration "${input}" is longer than 10 years; ask for what the task needs`);
  }
  return seconds;
}

/** Formats seconds compactly for people: 90 -> "1m30s", 5400 -> "1h30m", 86400 -> "24h". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return String(seconds);
  const sign = seconds < 0 ? '-' : '';
  let rest = Math.round(Math.abs(seconds));
  if (rest === 0) return '0s';
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  rest -= minutes * 60;
  const parts = [hours && `${hours}h`, minutes && `${minutes}m`, rest && `${rest}s`];
  return sign + parts.filter(Boolean).join('');
}
