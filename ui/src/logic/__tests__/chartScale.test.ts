import { describe, expect, it } from "vitest";
import { nearestIndex, niceStep, timeTicks, valueTicks } from "../chartScale";

describe("chart scales", () => {
  it("takes round steps of 1, 2 or 5 times a power of ten", () => {
    expect(niceStep(0.7)).toBe(1);
    expect(niceStep(1.3)).toBe(2);
    expect(niceStep(3)).toBe(5);
    expect(niceStep(17)).toBe(20);
    expect(niceStep(20)).toBe(20);
    expect(niceStep(0)).toBe(1);
  });

  it("puts a count's ticks on whole numbers from zero to at least its top", () => {
    expect(valueTicks(0, { integer: true, suggestedMax: 4 })).toEqual([0, 1, 2, 3, 4]);
    expect(valueTicks(3, { integer: true })).toEqual([0, 1, 2, 3]);
    const fifty = valueTicks(51, { integer: true });
    expect(fifty[0]).toBe(0);
    expect(fifty.at(-1)).toBeGreaterThanOrEqual(51);
    expect(fifty.length).toBeLessThanOrEqual(7);
    expect(fifty.every((v) => Number.isInteger(v))).toBe(true);
  });

  it("keeps a percentage's axis at 0-100", () => {
    expect(valueTicks(37, { fixedMax: 100 })).toEqual([0, 20, 40, 60, 80, 100]);
  });

  it("puts times on round local times, at most six", () => {
    const t0 = Date.UTC(2026, 11, 4, 10, 0, 7);
    const ticks = timeTicks(t0, t0 + 4 * 60_000, 6);
    expect(ticks.length).toBeLessThanOrEqual(6);
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    expect(ticks.every((t) => t % 60_000 === 0)).toBe(true);
    // A local offset of half an hour moves the round times with it.
    const half = timeTicks(t0, t0 + 3 * 3_600_000, 6, 30 * 60_000);
    expect(half.every((t) => (t + 30 * 60_000) % 3_600_000 === 0)).toBe(true);
    expect(timeTicks(t0, t0)).toEqual([t0]);
  });

  it("finds the point nearest in time", () => {
    const pts = [{ t: 0 }, { t: 10 }, { t: 20 }];
    expect(nearestIndex(pts, -5)).toBe(0);
    expect(nearestIndex(pts, 4)).toBe(0);
    expect(nearestIndex(pts, 6)).toBe(1);
    expect(nearestIndex(pts, 99)).toBe(2);
    expect(nearestIndex([], 1)).toBe(-1);
  });
});
