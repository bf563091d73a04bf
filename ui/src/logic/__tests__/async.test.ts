import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { debounce, throttle } from "../async";

describe("throttle (event batches, chart samples)", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("runs a call in a quiet period at the end of the current task", () => {
    const fn = vi.fn();
    const t = throttle(fn, 300);
    t();
    t();
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(0);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it("gathers the calls of a busy period into one run per period", () => {
    const fn = vi.fn();
    const t = throttle(fn, 300);
    const runs: number[] = [];
    fn.mockImplementation(() => runs.push(Date.now()));
    const start = Date.now();
    for (let i = 0; i < 50; i++) {
      t();
      vi.advanceTimersByTime(40); // 25 calls a second for 2 s
    }
    vi.advanceTimersByTime(1000);
    expect(runs.map((r) => r - start)).toEqual([0, 300, 600, 900, 1200, 1500, 1800, 2100]);
  });

  it("goes quiet after a period without calls, then runs the next call soon again", () => {
    const fn = vi.fn();
    const t = throttle(fn, 300);
    t();
    vi.advanceTimersByTime(1000);
    expect(fn).toHaveBeenCalledTimes(1);
    t();
    vi.advanceTimersByTime(0);
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it("runs at once with a 'sync' lead", () => {
    const fn = vi.fn();
    const t = throttle(fn, 1000, "sync");
    t();
    expect(fn).toHaveBeenCalledTimes(1);
    t();
    t();
    expect(fn).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1000);
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it("flushes a pending run now, and cancels", () => {
    const fn = vi.fn();
    const t = throttle(fn, 300);
    t();
    expect(t.pending()).toBe(true);
    t.flush();
    expect(fn).toHaveBeenCalledTimes(1);
    expect(t.pending()).toBe(false);
    t();
    t.cancel();
    vi.advanceTimersByTime(1000);
    expect(fn).toHaveBeenCalledTimes(1);
  });
});

describe("debounce", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("runs once after the calls stop, with the last arguments", () => {
    const fn = vi.fn();
    const d = debounce(fn, 400);
    d(1);
    vi.advanceTimersByTime(300);
    d(2);
    vi.advanceTimersByTime(399);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledExactlyOnceWith(2);
  });

  it("with a max wait, still runs during calls that never pause", () => {
    const fn = vi.fn();
    const d = debounce(fn, 400, 2000);
    for (let i = 0; i < 125; i++) {
      d(i);
      vi.advanceTimersByTime(40); // 5 s of calls 40 ms apart
    }
    expect(fn.mock.calls.map((c) => c[0])).toEqual([49, 99]);
    vi.advanceTimersByTime(400);
    expect(fn).toHaveBeenCalledTimes(3);
    expect(fn).toHaveBeenLastCalledWith(124);
  });

  it("without one, waits for the pause", () => {
    const fn = vi.fn();
    const d = debounce(fn, 400);
    for (let i = 0; i < 125; i++) {
      d(i);
      vi.advanceTimersByTime(40);
    }
    expect(fn).not.toHaveBeenCalled();
    d.flush();
    expect(fn).toHaveBeenCalledExactlyOnceWith(124);
  });
});
