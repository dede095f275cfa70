import { parsePolicy } from './policy/parse';
import { isWithinHours, riskScore } from './risk';

// Business hours: Monday to Friday, 08:00-18:00 UTC (the defaults); maxDuration 1h.
const policy = parsePolicy('version: 1\n', 'risk.yaml');
const WEDNESDAY_NOON = new Date('2025-01-15T12:00:00Z');
const SATURDAY_NOON = new Date('2025-01-18T12:00:00Z');

describe('riskScore', () => {
  it.each([
    // sensitivity, duration, actions, user named, now, expected: the arithmetic spelled out
    ['public', 900, ['read'], true, WEDNESDAY_NOON, 5], // 0 + 20*0.25
    ['internal', 1800, ['read'], true, WEDNESDAY_NOON, 23], // 13.33 + 10
    ['pii', 3600, ['read', 'write'], false, WEDNESDAY_NOON, 77], // 26.67 + 20 + 20 + 10
    ['pii', 60, ['read'], true, SATURDAY_NOON, 37], // 26.67 + 0.33 + 10
    ['restricted', 7200, ['write'], false, SATURDAY_NOON, 100], // 40 + 20 (capped) + 20 + 10 + 10
    ['public', 1, ['read'], true, WEDNESDAY_NOON, 0], // 0.0056 rounds down
  ] as const)('%s for %ds doing %j (user named: %s) at %s scores %d', (sensitivity, durationSeconds, actions, onBehalfOf, now, expected) => {
    expect(riskScore(policy, { sensitivity, durationSeconds, actions: [...actions], onBehalfOf, now })).toBe(expected);
  });

  it('counts any action other than read as a write', () => {
    const base = { sensitivity: 'public', durationSeconds: 900, onBehalfOf: true, now: WEDNESDAY_NOON };
    expect(riskScore(policy, { ...base, actions: ['export'] }) - riskScore(policy, { ...base, actions: ['read'] })).toBe(20);
  });

  it('reads business hours in their own time zone', () => {
    const paris = parsePolicy('version: 1\ndefaults:\n  businessHours: { from: "09:00", to: "17:00", tz: Europe/Paris }\n', 'p.yaml');
    const input = { sensitivity: 'public', durationSeconds: 900, actions: ['read'], onBehalfOf: true };
    // 16:30 UTC is 17:30 in Paris in winter: after hours there
    expect(riskScore(paris, { ...input, now: new Date('2025-01-15T16:30:00Z') })).toBe(15);
    expect(riskScore(paris, { ...input, now: new Date('2025-01-15T15:30:00Z') })).toBe(5);
  });

  it('gives no sensitivity points when the policy has a single level', () => {
    const flat = parsePolicy('version: 1\nsensitivity: [all]\n', 'p.yaml');
    expect(riskScore(flat, { sensitivity: 'all', durationSeconds: 3600, actions: ['read'], onBehalfOf: true, now: WEDNESDAY_NOON })).toBe(20);
  });
});

describe('isWithinHours', () => {
  const parisOffice = { from: '09:00', to: '17:00', tz: 'Europe/Paris' };

  it.each([
    ['2025-01-15T07:59:00Z', false], // 08:59 in Paris (UTC+1 in winter)
    ['2025-01-15T08:00:00Z', true], // 09:00: from is inclusive
    ['2025-01-15T15:59:59Z', true], // 16:59:59
    ['2025-01-15T16:00:00Z', false], // 17:00: to is exclusive
    ['2025-07-16T06:59:00Z', false], // 08:59 in Paris (UTC+2 in summer)
    ['2025-07-16T07:00:00Z', true], // 09:00 summer time
    ['2025-07-16T14:59:00Z', true], // 16:59 summer time
    ['2025-07-16T15:00:00Z', false], // 17:00 summer time
    ['2025-03-30T07:00:00Z', true], // the day clocks go forward: 09:00 CEST
  ])('09:00-17:00 Europe/Paris at %s -> %s', (instant, expected) => {
    expect(isWithinHours(parisOffice, new Date(instant))).toBe(expected);
  });

  it('uses the weekday of the window time zone, not of UTC', () => {
    const saturdayUtc = new Date('2025-01-18T01:00:00Z'); // Friday 20:00 in New York
    const weekdays = [1, 2, 3, 4, 5];
    expect(isWithinHours({ days: weekdays, tz: 'America/New_York' }, saturdayUtc)).toBe(true);
    expect(isWithinHours({ days: weekdays, tz: 'UTC' }, saturdayUtc)).toBe(false);
    expect(isWithinHours({ days: weekdays, from: '18:00', to: '22:00', tz: 'America/New_York' }, saturdayUtc)).toBe(true);
    expect(isWithinHours({ days: [6], tz: 'America/New_York' }, saturdayUtc)).toBe(false);
  });

  describe('an overnight window (22:00-06:00 UTC) on Fridays', () => {
    const fridayNight = { days: [5], from: '22:00', to: '06:00', tz: 'UTC' };
    it.each([
      ['2025-01-17T21:59:00Z', false], // Friday before it starts
      ['2025-01-17T22:00:00Z', true], // Friday 22:00
      ['2025-01-17T23:59:00Z', true],
      ['2025-01-18T00:00:00Z', true], // Saturday 00:00 still belongs to Friday night
      ['2025-01-18T05:59:00Z', true],
      ['2025-01-18T06:00:00Z', false], // to is exclusive
      ['2025-01-17T02:00:00Z', false], // Friday 02:00 is Thursday night
      ['2025-01-18T23:00:00Z', false], // Saturday night is not listed
    ])('at %s -> %s', (instant, expected) => {
      expect(isWithinHours(fridayNight, new Date(instant))).toBe(expected);
    });

    it('wraps Sunday night into Monday morning', () => {
      expect(isWithinHours({ days: [7], from: '22:00', to: '06:00', tz: 'UTC' }, new Date('2025-01-20T03:00:00Z'))).toBe(true);
    });

    it('works without days', () => {
      const nightly = { from: '22:00', to: '06:00', tz: 'UTC' };
      expect(isWithinHours(nightly, new Date('2025-01-15T03:00:00Z'))).toBe(true);
      expect(isWithinHours(nightly, new Date('2025-01-15T12:00:00Z'))).toBe(false);
    });
  });

  it('means the whole day when no times are given', () => {
    expect(isWithinHours({ tz: 'UTC' }, new Date('2025-01-15T00:00:00Z'))).toBe(true);
    expect(isWithinHours({ days: [3], tz: 'UTC' }, new Date('2025-01-15T23:59:59Z'))).toBe(true);
    expect(isWithinHours({ days: [3], tz: 'UTC' }, new Date('2025-01-16T00:00:00Z'))).toBe(false);
  });

  it('never matches an unknown time zone', () => {
    expect(isWithinHours({ tz: 'Nowhere/Land' }, WEDNESDAY_NOON)).toBe(false);
  });
});
