// Where a chart's ticks go: round values on the value axis, round times on
// the time axis. Pure, so the drawing in app/charts.ts stays small.

/** Round steps: 1, 2 or 5 times a power of ten, at least `rough`. */
export function niceStep(rough: number): number {
  if (!(rough > 0) || !Number.isFinite(rough)) return 1;
  const power = 10 ** Math.floor(Math.log10(rough));
  for (const m of [1, 2, 5, 10]) {
    if (m * power >= rough - 1e-9 * power) return m * power;
  }
  return 10 * power;
}

export interface ValueAxis {
  /** A fixed top (a percentage: 100). */
  fixedMax?: number;
  /** Without a fixed top, the axis reaches at least this. */
  suggestedMax?: number;
  /** Whole numbers only (a count). */
  integer?: boolean;
  /** At most this many ticks. */
  maxTicks?: number;
}

/** The value axis from 0 to a round top at or above `hi`: its ticks. */
export function valueTicks(hi: number, axis: ValueAxis = {}): number[] {
  const maxTicks = Math.max(2, axis.maxTicks ?? 6);
  const top = axis.fixedMax ?? Math.max(Number.isFinite(hi) ? hi : 0, axis.suggestedMax ?? 0, axis.integer ? 1 : 0);
  if (!(top > 0)) return [0, 1];
  let step = niceStep(top / (maxTicks - 1));
  if (axis.integer) step = Math.max(1, Math.round(step));
  const n = Math.ceil(top / step - 1e-9);
  return Array.from({ length: n + 1 }, (_, i) => Math.round(i * step * 1e6) / 1e6);
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const TIME_STEPS = [
  SECOND,
  2 * SECOND,
  5 * SECOND,
  10 * SECOND,
  15 * SECOND,
  30 * SECOND,
  MINUTE,
  2 * MINUTE,
  5 * MINUTE,
  10 * MINUTE,
  15 * MINUTE,
  30 * MINUTE,
  HOUR,
  2 * HOUR,
  3 * HOUR,
  6 * HOUR,
  12 * HOUR,
  24 * HOUR,
];

/**
 * Round times within [t0, t1] (local clock: whole minutes, quarter hours...),
 * at most `max` of them. `offsetMs` is the local time's offset from UTC.
 */
export function timeTicks(t0: number, t1: number, max = 6, offsetMs = 0): number[] {
  if (!(t1 > t0)) return Number.isFinite(t0) ? [t0] : [];
  const span = t1 - t0;
  const step = TIME_STEPS.find((s) => span / s <= max - 1) ?? Math.ceil(span / (max - 1) / HOUR) * HOUR;
  const first = Math.ceil((t0 + offsetMs) / step) * step - offsetMs;
  const out: number[] = [];
  for (let t = first; t <= t1 && out.length < max; t += step) out.push(t);
  return out;
}

/** The index of the point nearest in time to `t` (points sorted by time). */
export function nearestIndex(points: { t: number }[], t: number): number {
  if (points.length === 0) return -1;
  let lo = 0;
  let hi = points.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid].t < t) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && t - points[lo - 1].t <= points[lo].t - t) return lo - 1;
  return lo;
}
