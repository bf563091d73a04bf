import { describe, expect, it } from "vitest";
import { freshness, STALE_AFTER_MS } from "../freshness";
import { pushPoint } from "../series";

describe("freshness", () => {
  it("is fresh under 30 s and stale from 30 s", () => {
    expect(freshness(1_000, 3_000)).toEqual({ label: "updated 2s ago", stale: false, ageMs: 2_000 });
    expect(freshness(0, STALE_AFTER_MS - 1).stale).toBe(false);
    expect(freshness(0, STALE_AFTER_MS).stale).toBe(true);
    expect(freshness(0, 95_000).label).toBe("updated 1m ago");
  });
  it("is stale before any update and says so", () => {
    expect(freshness(null, 10)).toEqual({ label: "no data yet", stale: true, ageMs: null });
    expect(freshness(5_000, 5_100).label).toBe("updated just now");
  });
});

describe("chart series", () => {
  it("appends, folds close points and caps the length", () => {
    const opts = { max: 3, minGapMs: 1_000 };
    let s = pushPoint([], 0, 1, opts);
    s = pushPoint(s, 500, 2, opts); // folded into the first point
    expect(s).toEqual([{ t: 0, v: 2 }]);
    s = pushPoint(s, 1_000, 3, opts);
    s = pushPoint(s, 2_000, 4, opts);
    s = pushPoint(s, 3_000, 5, opts);
    expect(s.map((p) => p.v)).toEqual([3, 4, 5]);
    expect(pushPoint(s, 100, 9, opts)).toBe(s); // out of order: dropped
    expect(pushPoint(s, 4_000, Number.NaN, opts)).toBe(s);
  });
});
