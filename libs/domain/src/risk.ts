import { DateTime } from 'luxon';
import { Policy } from './policy/types';

/** Days and hours in a time zone, as in businessHours and a rule's timeWindow. */
export interface HoursWindow {
  days?: number[];
  from?: string;
  to?: string;
  tz: string;
}

/** What the risk score of a request is computed from. */
export interface RiskInput {
  sensitivity: string;
  durationSeconds: number;
  actions: string[];
  onBehalfOf: boolean;
  now: Date;
  /** How many ways the request departs from its agent's baseline. */
  anomalies?: number;
}

/** Risk added per anomaly, and at most in all. */
export const ANOMALY_RISK = { each: 15, max: 30 };

function minutesOf(time: string): number {
  const [hours, minutes] = time.split(':').map(Number);
  return hours * 60 + minutes;
}

/**
 * Whether `now` falls in the window, read in the window's time zone. `from` is inclusive, `to`
 * exclusive; `from` later than `to` wraps past midnight (22:00-06:00).
 */
export function isWithinHours(hours: HoursWindow, now: Date): boolean {
  const local = DateTime.fromJSDate(now, { zone: hours.tz });
  if (!local.isValid) return false; // an unknown zone never matches rather than guessing one
  const minute = local.hour * 60 + local.minute;
  const from = hours.from === undefined ? 0 : minutesOf(hours.from);
  const to = hours.to === undefined ? 24 * 60 : minutesOf(hours.to);
  let day: number = local.weekday;
  let inside: boolean;
  if (from < to) {
    inside = minute >= from && minute < to;
  } else if (from > to) {
    inside = minute >= from || minute < to;
    // The early-morning part of an overnight window belongs to the day it started on:
    // "fri 22:00-06:00" covers Saturday 02:00, not Friday 02:00.
    if (minute < to) day = day === 1 ? 7 : day - 1;
  } else {
    inside = true; // equal times: the whole day (the policy parser refuses this; callers may not)
  }
  return inside && (hours.days === undefined || hours.days.includes(day));
}

/**
 * A 0..100 score of how risky a request is: sensitivity up to 40, duration up to 20, writing 20,
 * off business hours 10, no user named 10, anomalies 15 each up to 30.
 */
export function riskScore(policy: Policy, input: RiskInput): number {
  const levels = policy.sensitivity.length;
  const rank = Math.max(0, policy.sensitivity.indexOf(input.sensitivity));
  const sensitivity = levels > 1 ? (40 * rank) / (levels - 1) : 0;
  const duration = 20 * Math.min(1, Math.max(0, input.durationSeconds) / policy.defaults.maxDurationSeconds);
  const writes = input.actions.some((action) => action !== 'read') ? 20 : 0;
  const offHours = isWithinHours(policy.defaults.businessHours, input.now) ? 0 : 10;
  const unattended = input.onBehalfOf ? 0 : 10;
  const anomalies = Math.min(ANOMALY_RISK.max, ANOMALY_RISK.each * (input.anomalies ?? 0));
  return Math.min(100, Math.max(0, Math.round(sensitivity + duration + writes + offHours + unattended + anomalies)));
}
