// Time series for the Overview charts, kept in memory from events and
// status fetches.

export interface Point {
  /** Milliseconds since the epoch. */
  t: number;
  v: number;
}

export interface SeriesOptions {
  /** Points kept (oldest dropped first). */
  max: number;
  /** A point closer than this to the previous one replaces it. */
  minGapMs: number;
}

export const DEFAULT_SERIES: SeriesOptions = { max: 720, minGapMs: 2_000 };

/** Returns a new series with the point added. */
export function pushPoint(series: Point[], t: number, v: number, opts: SeriesOptions = DEFAULT_SERIES): Point[] {
  if (!Number.isFinite(v) || !Number.isFinite(t)) return series;
  const last = series[series.length - 1];
  if (last && t < last.t) return series;
  // A point close to the previous one replaces its value and keeps its time,
  // so a burst of events is one point and the chart still moves on.
  const next =
    last && t - last.t < opts.minGapMs ? [...series.slice(0, -1), { t: last.t, v }] : [...series, { t, v }];
  return next.length > opts.max ? next.slice(next.length - opts.max) : next;
}
