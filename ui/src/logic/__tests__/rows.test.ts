import { describe, expect, it, vi } from "vitest";
import { memo, occurrences, patchData, RowCache, sameData, sameItems, type Write } from "../rows";
import { workerRow, type WorkerRow } from "../workers";
import { iso, T0, worker } from "./fixtures";

describe("sameData", () => {
  it("compares plain data deeply", () => {
    expect(sameData({ a: 1, b: [1, { c: "x" }] }, { a: 1, b: [1, { c: "x" }] })).toBe(true);
    expect(sameData({ a: 1, b: [1, { c: "x" }] }, { a: 1, b: [1, { c: "y" }] })).toBe(false);
    expect(sameData({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(sameData([1, 2], { 0: 1, 1: 2 })).toBe(false);
    expect(sameData(null, {})).toBe(false);
    expect(sameData(Number.NaN, Number.NaN)).toBe(true);
  });
  it("sameItems compares by identity", () => {
    const o = {};
    expect(sameItems([o, 1], [o, 1])).toBe(true);
    expect(sameItems([{}], [{}])).toBe(false);
  });
});

describe("RowCache (keyed rows that stay the same objects)", () => {
  const build = (nowMs: number) => vi.fn((w: ReturnType<typeof worker>) => workerRow(w, undefined, nowMs));

  it("hands back the same row, and the same array, for unchanged workers", () => {
    const cache = new RowCache<WorkerRow>();
    const ws = [worker({ id: "w-1" }), worker({ id: "w-2" })];
    const b = build(T0);
    const first = cache.list(ws, (w) => w.id, (w) => [w, T0], b);
    const second = cache.list([...ws], (w) => w.id, (w) => [w, T0], b);
    expect(b).toHaveBeenCalledTimes(2); // built once each
    expect(second).toBe(first);
  });

  it("rebuilds only the worker that changed; the others keep their objects", () => {
    const cache = new RowCache<WorkerRow>();
    const ws = [worker({ id: "w-1" }), worker({ id: "w-2" }), worker({ id: "w-3" })];
    const first = cache.list(ws, (w) => w.id, (w) => [w], (w) => workerRow(w, undefined, T0));
    const changed = [ws[0], worker({ id: "w-2", health: "late" }), ws[2]];
    const second = cache.list(changed, (w) => w.id, (w) => [w], (w) => workerRow(w, undefined, T0));
    expect(second).not.toBe(first);
    expect(second[0]).toBe(first[0]);
    expect(second[1]).not.toBe(first[1]);
    expect(second[1].health).toBe("late");
    expect(second[2]).toBe(first[2]);
  });

  it("keeps the old object when a rebuild gives the same data (a clock tick that moves no label)", () => {
    const cache = new RowCache<WorkerRow>();
    const w = worker({ id: "w-1", last_activity_at: iso(0), started_at: iso(0) });
    const at = (ms: number) => cache.list([w], (x) => x.id, () => [w, ms], (x) => workerRow(x, undefined, ms))[0];
    const a = at(T0 + 10_000);
    const b = at(T0 + 10_400); // still "10s ago"
    const c = at(T0 + 11_000); // "11s ago"
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(c.lastActivity).toBe("11s ago · output");
  });

  it("follows the order of the items and forgets rows no longer listed", () => {
    const cache = new RowCache<{ id: string }>();
    const ws = [{ id: "a" }, { id: "b" }, { id: "c" }];
    const first = cache.list(ws, (x) => x.id, (x) => [x], (x) => ({ id: x.id }));
    const second = cache.list([ws[2], ws[0]], (x) => x.id, (x) => [x], (x) => ({ id: x.id }));
    expect(second).toEqual([first[2], first[0]]);
    expect(second[0]).toBe(first[2]);
    expect(cache.size).toBe(2);
  });
});

describe("memo", () => {
  it("computes again only when an input changed", () => {
    const m = memo<number>();
    const compute = vi.fn(() => 42);
    const list: number[] = [];
    m([list, 1], compute);
    m([list, 1], compute);
    expect(compute).toHaveBeenCalledTimes(1);
    m([[], 1], compute);
    m([list, 2], compute);
    expect(compute).toHaveBeenCalledTimes(3);
  });
});

describe("patchData (a changed row updated field by field)", () => {
  const recorder = () => {
    const writes: string[] = [];
    const write: Write = (target, key, value) => {
      writes.push(key);
      (target as Record<string, unknown>)[key] = value;
    };
    return { writes, write };
  };

  it("writes only the fields that differ, nested values whole", () => {
    const badge = { label: "Healthy", cls: "green" };
    const prev = { id: "w-1", lastActivity: "1s ago", badge, elapsed: { label: "1m", pct: 2 } };
    const next = { id: "w-1", lastActivity: "3s ago", badge: { label: "Healthy", cls: "green" }, elapsed: { label: "2m", pct: 3 } };
    const { writes, write } = recorder();
    expect(patchData(prev, next, write)).toBe(true);
    expect(writes).toEqual(["lastActivity", "elapsed"]);
    expect(prev).toEqual(next);
    expect(prev.badge).toBe(badge); // equal: kept
  });

  it("never writes into a nested object (it may be shared)", () => {
    const shared = { label: "session", cls: "grey" };
    const prev = { key: "1|0", style: shared };
    const { write } = recorder();
    patchData(prev, { key: "1|0", style: { label: "assistant", cls: "indigo" } }, write);
    expect(shared).toEqual({ label: "session", cls: "grey" });
    expect(prev.style.label).toBe("assistant");
  });

  it("refuses different shapes, writing nothing", () => {
    const { writes, write } = recorder();
    expect(patchData({ a: 1 }, { a: 1, b: 2 }, write)).toBe(false);
    expect(patchData({ a: 1, c: 3 }, { a: 1, b: 2 }, write)).toBe(false);
    expect(patchData([1], [2], write)).toBe(false);
    expect(patchData(null, { a: 1 }, write)).toBe(false);
    expect(writes).toEqual([]);
  });

  it("lets RowCache keep the row object of a changed worker", () => {
    const { writes, write } = recorder();
    const cache = new RowCache<WorkerRow>((old, fresh) => patchData(old, fresh, write));
    const w1 = worker({ id: "w-1", tokens: { input: 10, output: 1 } });
    const [first] = cache.list([w1], (w) => w.id, (w) => [w], (w) => workerRow(w, undefined, T0));
    const w1b = worker({ id: "w-1", tokens: { input: 2000, output: 1 } });
    const rows = cache.list([w1b], (w) => w.id, (w) => [w], (w) => workerRow(w, undefined, T0));
    expect(rows[0]).toBe(first);
    expect(first.tokens).toBe("2.0k / 1");
    expect(writes).toEqual(["tokens"]);
  });
});

describe("occurrences (keys that survive a sliding window)", () => {
  it("numbers identical items in order, leaving the others at 0", () => {
    expect(occurrences(["a", "b", "a", "a", "c"], (x) => x)).toEqual([0, 0, 1, 2, 0]);
  });
});
