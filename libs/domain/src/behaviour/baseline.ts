import { DateTime, IANAZone } from 'luxon';

// What is normal for one agent, learned from its requests one at a time (never by reading its
// history again), and how a new request departs from it.
//
// A baseline is a flat map of counters, so that two requests of one agent observed at once add up
// instead of one overwriting the other: the store merges an observation into the stored map by
// adding counter to counter in one atomic statement (see mergeCounts), exactly as `observe` does.
//
//   n                  requests observed (every request the policy did not deny)
//   m                  minutes in which the agent asked at least once
//   a                  requests made on behalf of a user
//   r:<resource>       requests for a resource
//   p:<resource>:<part> requests naming a column (data) or an operation (HTTP) of it
//   h:<0..23>          requests per hour of day, in the agent's time zone
//   u:<user id>        requests on behalf of a user
//   s:<label>          requests whose most sensitive part had this label

/** Counters of what an agent did; absent counters are zero. */
export type Baseline = Record<string, number>;

/** Anomaly kinds, each a way a request departs from its agent's baseline. */
export const ANOMALY_CODES = ['new_resource', 'new_columns', 'unusual_hour', 'burst', 'new_user', 'sensitivity_jump'] as const;
export type AnomalyCode = (typeof ANOMALY_CODES)[number];

/** One departure from the baseline, with a sentence a person understands. */
export type Anomaly = { code: AnomalyCode; detail: string };

/** The facts of one request a baseline learns from and is compared with. */
export interface RequestFacts {
  resource: string;
  /** The requested columns (data) or operations (HTTP). */
  parts: string[];
  /** The label of the most sensitive requested part. */
  sensitivity: string;
  user: { id: string; email: string } | null;
  /** This agent's requests in the current minute, this one included. */
  minuteCount: number;
}

/** The policy's `defaults.anomaly`, with its defaults applied. */
export interface AnomalySettings {
  /** Requests observed before the baseline speaks at all. */
  minHistory: number;
  /** The zone hours are read in, unless the agent has a valid `tz` attribute. */
  timeZone: string;
  /** Suspend an agent after this many denied or anomalous decisions within `withinSeconds`. */
  suspendAfter?: { denied?: number; anomalous?: number; withinSeconds: number };
}

export const DEFAULT_ANOMALY_SETTINGS: AnomalySettings = { minHistory: 20, timeZone: 'UTC' };

/**
 * How sure the baseline must be before it speaks; tuned with `npm run bench:anomaly` (see README).
 * - novelty: a never-seen resource, part or user is flagged only while the chance of something new
 *   (Good-Turing: the share of observations that were first-and-only sightings) is at most this;
 *   an agent that meets new users all the time is not flagged for each one.
 * - hourShare: an hour is unusual when it and its two neighbours together held less than this
 *   share of the requests.
 * - burstFactor, burstFloor: a minute is a burst from max(floor, factor x the usual per minute).
 */
export const ANOMALY_THRESHOLDS = { novelty: 0.05, hourShare: 0.02, burstFactor: 5, burstFloor: 10 };

const count = (baseline: Baseline, key: string): number => baseline[key] ?? 0;

/** The zone an agent's hours are read in: its `tz` attribute when that is a valid IANA zone. */
export function zoneOf(attributes: Record<string, unknown>, settings: AnomalySettings): string {
  const tz = Object.hasOwn(attributes, 'tz') ? attributes.tz : undefined;
  return typeof tz === 'string' && IANAZone.isValidZone(tz) ? tz : settings.timeZone;
}

/** The local time of a request in a zone. */
function localTime(at: Date, zone: string): DateTime {
  return DateTime.fromJSDate(at, { zone });
}

/** The counters one request adds: `observe(b, f, at, zone)` is `mergeCounts(b, observation(f, at, zone))`. */
export function observation(facts: RequestFacts, at: Date, zone: string): Baseline {
  const delta: Baseline = { n: 1, [`r:${facts.resource}`]: 1, [`h:${localTime(at, zone).hour}`]: 1, [`s:${facts.sensitivity}`]: 1 };
  if (facts.minuteCount <= 1) delta.m = 1;
  for (const part of new Set(facts.parts)) delta[`p:${facts.resource}:${part}`] = 1;
  if (facts.user) {
    delta.a = 1;
    delta[`u:${facts.user.id}`] = 1;
  }
  return delta;
}

/** Adds counters to counters (what the store does atomically in SQL). */
export function mergeCounts(baseline: Baseline, delta: Baseline): Baseline {
  const merged: Baseline = { ...baseline };
  for (const [key, value] of Object.entries(delta)) merged[key] = count(merged, key) + value;
  return merged;
}

/** The baseline after one more request. */
export function observe(baseline: Baseline, facts: RequestFacts, at: Date, zone: string): Baseline {
  return mergeCounts(baseline, observation(facts, at, zone));
}

/** Whether the baseline has seen too little to speak. */
export function isYoung(baseline: Baseline, settings: AnomalySettings): boolean {
  return count(baseline, 'n') < settings.minHistory;
}

/** Keys under a prefix, with the prefix removed, and their counts. */
function entriesUnder(baseline: Baseline, prefix: string): [string, number][] {
  const found: [string, number][] = [];
  for (const key in baseline) if (key.startsWith(prefix)) found.push([key.slice(prefix.length), baseline[key]]);
  return found;
}

/** Good-Turing: the chance that the next observation of a kind is one never seen, from first-and-only sightings. */
function noveltyOf(entries: [string, number][], observations: number): number {
  if (observations <= 0) return 0;
  return entries.filter(([, seen]) => seen === 1).length / observations;
}

const hh = (hour: number) => `${String((hour + 24) % 24).padStart(2, '0')}:00`;

/** The hours the agent works, as "09:00–18:00": the day minus its longest quiet stretch. */
export function workingHours(baseline: Baseline): string | null {
  const n = count(baseline, 'n');
  if (n === 0) return null;
  const quiet = (hour: number) => count(baseline, `h:${(hour + 24) % 24}`) / n < ANOMALY_THRESHOLDS.hourShare / 3;
  let bestStart = -1;
  let bestLength = 0;
  for (let start = 0; start < 24; start++) {
    if (!quiet(start) || quiet(start - 1)) continue; // only where a quiet stretch begins
    let length = 0;
    while (length < 24 && quiet(start + length)) length++;
    if (length > bestLength) [bestStart, bestLength] = [start, length];
  }
  if (bestLength === 0) return 'at any hour';
  return `${hh(bestStart + bestLength)}–${hh(bestStart)}`;
}

/** The requests per active minute the agent usually makes (at least 1). */
export function usualRate(baseline: Baseline): number {
  const minutes = count(baseline, 'm');
  return minutes > 0 ? Math.max(1, count(baseline, 'n') / minutes) : 1;
}

/** The most sensitive label the agent has ever asked for and been given (or sent to people for), by the policy's order. */
export function highestSensitivitySeen(baseline: Baseline, labels: string[]): string | null {
  let highest = -1;
  for (const [label] of entriesUnder(baseline, 's:')) highest = Math.max(highest, labels.indexOf(label));
  return highest < 0 ? null : labels[highest];
}

const listed = (names: string[]) => names.join(', ');

/**
 * How a request departs from the agent's baseline; none while the baseline is young.
 * `labels` is the policy's sensitivity order, low to high.
 */
export function anomaliesOf(baseline: Baseline, facts: RequestFacts, at: Date, zone: string, settings: AnomalySettings, labels: string[]): Anomaly[] {
  if (isYoung(baseline, settings)) return [];
  const n = count(baseline, 'n');
  const { novelty, hourShare, burstFactor, burstFloor } = ANOMALY_THRESHOLDS;
  const found: Anomaly[] = [];

  const onResource = count(baseline, `r:${facts.resource}`);
  if (onResource === 0) {
    if (noveltyOf(entriesUnder(baseline, 'r:'), n) <= novelty) {
      found.push({ code: 'new_resource', detail: `first time this agent asks for ${facts.resource}` });
    }
  } else {
    const seen = entriesUnder(baseline, `p:${facts.resource}:`);
    const unseen = [...new Set(facts.parts)].filter((part) => count(baseline, `p:${facts.resource}:${part}`) === 0);
    if (unseen.length > 0 && noveltyOf(seen, onResource) <= novelty) {
      const known = seen.sort((a, b) => b[1] - a[1]).map(([part]) => part);
      found.push({
        code: 'new_columns',
        detail: `asks for ${listed(unseen)} on ${facts.resource}, it has only ever asked for ${known.length > 0 ? listed(known) : 'nothing else'}`,
      });
    }
  }

  const local = localTime(at, zone);
  const near = [-1, 0, 1].reduce((sum, offset) => sum + count(baseline, `h:${(local.hour + offset + 24) % 24}`), 0);
  if (near / n < hourShare) {
    found.push({ code: 'unusual_hour', detail: `${local.toFormat('HH:mm')} ${zone}, it works ${workingHours(baseline)}` });
  }

  const usual = usualRate(baseline);
  if (facts.minuteCount >= Math.max(burstFloor, burstFactor * usual)) {
    found.push({ code: 'burst', detail: `${facts.minuteCount} requests in the last minute, its usual is ${Math.round(usual)}` });
  }

  if (facts.user && count(baseline, `u:${facts.user.id}`) === 0 && noveltyOf(entriesUnder(baseline, 'u:'), count(baseline, 'a')) <= novelty) {
    found.push({ code: 'new_user', detail: `first time it acts for ${facts.user.email}` });
  }

  const highest = highestSensitivitySeen(baseline, labels);
  if (highest !== null && labels.indexOf(facts.sensitivity) > labels.indexOf(highest)) {
    found.push({ code: 'sensitivity_jump', detail: `${facts.sensitivity}, it has only ever had ${highest}` });
  }
  return found;
}

/** What is normal for an agent, readable: for the admin API. */
export interface BaselineSummary {
  requests: number;
  young: boolean;
  resources: { resource: string; requests: number; parts: { name: string; requests: number }[] }[];
  hours: { timeZone: string; works: string | null; histogram: number[] };
  usualPerMinute: number;
  users: { id: string; requests: number }[];
  highestSensitivity: string | null;
}

const byCount = (a: [string, number], b: [string, number]) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1);

export function summarizeBaseline(baseline: Baseline, zone: string, settings: AnomalySettings, labels: string[]): BaselineSummary {
  return {
    requests: count(baseline, 'n'),
    young: isYoung(baseline, settings),
    resources: entriesUnder(baseline, 'r:')
      .sort(byCount)
      .map(([resource, requests]) => ({
        resource,
        requests,
        parts: entriesUnder(baseline, `p:${resource}:`)
          .sort(byCount)
          .map(([name, seen]) => ({ name, requests: seen })),
      })),
    hours: { timeZone: zone, works: workingHours(baseline), histogram: Array.from({ length: 24 }, (_, hour) => count(baseline, `h:${hour}`)) },
    usualPerMinute: Math.round(usualRate(baseline) * 10) / 10,
    users: entriesUnder(baseline, 'u:')
      .sort(byCount)
      .map(([id, requests]) => ({ id, requests })),
    highestSensitivity: highestSensitivitySeen(baseline, labels),
  };
}
