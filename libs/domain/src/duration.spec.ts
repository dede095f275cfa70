import { formatDuration, parseDuration } from './duration';
import { AccessError, AccessErrorCode } from './errors';

function rejection(input: unknown): AccessError {
  try {
    parseDuration(input as string);
  } catch (error) {
    return error as AccessError;
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`);
}

describe('parseDuration', () => {
  it.each([
    ['90s', 90],
    ['1s', 1],
    ['15m', 900],
    ['1h', 3600],
    ['2d', 172800],
    ['015m', 900],
    ['PT15M', 900],
    ['PT1H30M', 5400],
    ['P1D', 86400],
    ['P1DT2H', 93600],
    ['P1W', 604800],
    ['PT0.5M', 30],
    ['PT90S', 90],
    ['3650d', 3650 * 86400],
  ])('accepts %s as %d seconds', (input, seconds) => {
    expect(parseDuration(input)).toBe(seconds);
  });

  it.each([
    ['', /empty/],
    ['-5m', /negative/],
    ['-PT5M', /negative/],
    ['PT-5M', /longer than zero/],
    ['0s', /longer than zero/],
    ['PT0S', /longer than zero/],
    ['PT', /not valid/],
    ['P', /longer than zero/],
    ['PT1.5S', /whole number of seconds/],
    [' 15m', /spaces/],
    ['15m ', /spaces/],
    ['1 h', /spaces/],
    ['15 minutes', /spaces/],
    ['100', /no unit/],
    ['1.5h', /not valid/],
    ['15min', /not valid/],
    ['15M', /not valid/],
    ['pt15m', /not valid/],
    ['P1DT', /not valid/],
    ['P1Y', /years or months/],
    ['P1M', /years or months/],
    ['P1Y2D', /years or months/],
    ['3651d', /10 years/],
    ['99999999999999999999h', /10 years/],
    ['P10000D', /10 years/],
  ])('rejects %j', (input, reason) => {
    const error = rejection(input);
    expect(error).toBeInstanceOf(AccessError);
    expect(error.code).toBe(AccessErrorCode.INVALID_DURATION);
    expect(error.message).toMatch(reason);
  });

  it.each([[900], [null], [undefined], [{ minutes: 15 }]])('rejects the non-string %j', (input) => {
    const error = rejection(input);
    expect(error.code).toBe(AccessErrorCode.INVALID_DURATION);
    expect(error.message).toMatch(/must be a string/);
  });

  it('tells the person which forms work', () => {
    expect(rejection('15 minutes').message).toContain('15m');
    expect(rejection('15 minutes').message).toContain('PT15M');
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [45, '45s'],
    [90, '1m30s'],
    [900, '15m'],
    [3600, '1h'],
    [3661, '1h1m1s'],
    [5400, '1h30m'],
    [86400, '24h'],
    [90000, '25h'],
  ])('formats %d as %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});
