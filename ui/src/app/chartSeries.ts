// The chart series of the Overview: samples of the live worker count and
// the success rate, taken at most one a second (on the clock's tick), so a
// chart redraws in the same task (and the same frame) as the relative times
// the tick moves.

import { pushPoint, type Point } from "../logic/series";

export type SeriesName = "active" | "success";

export class SeriesRecorder {
  readonly series: Record<SeriesName, Point[]> = { active: [], success: [] };
  private listeners: ((name: SeriesName, points: Point[]) => void)[] = [];
  /** The latest value of each series not yet taken as a point (see record). */
  private samples: Partial<Record<SeriesName, number>> = {};

  constructor(private readonly now: () => number) {}

  /** Calls `listener` with each new version of a series; returns how to stop. */
  onSeries(listener: (name: SeriesName, points: Point[]) => void): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  /** Puts older points before what the chart has (the demo page's history). */
  seed(name: SeriesName, history: Point[]): void {
    const first = this.series[name][0]?.t ?? Infinity;
    this.series[name] = [...history.filter((p) => p.t < first), ...this.series[name]];
    this.listeners.forEach((l) => l(name, this.series[name]));
  }

  /**
   * Keeps the value as the series' next sample, taken on the next tick of
   * the clock (so at most one point a second); a series' first value is
   * taken at once.
   */
  record(name: SeriesName, value: number | null | undefined): void {
    if (value == null || !Number.isFinite(value)) return;
    this.samples[name] = value;
    if (this.series[name].length === 0) this.take(name);
  }

  /** Takes every pending sample (the clock's tick). */
  tick(): void {
    this.take("active");
    this.take("success");
  }

  /** Drops the samples not taken yet (the controller stops). */
  clear(): void {
    this.samples = {};
  }

  private take(name: SeriesName): void {
    const value = this.samples[name];
    delete this.samples[name];
    if (value === undefined) return;
    const prev = this.series[name];
    const next = pushPoint(prev, this.now(), value);
    if (next === prev) return;
    const a = prev[prev.length - 1];
    const b = next[next.length - 1];
    // The same value folded into the last point: nothing to redraw.
    if (next.length === prev.length && a && b && a.t === b.t && a.v === b.v) return;
    this.series[name] = next;
    this.listeners.forEach((l) => l(name, next));
  }
}
