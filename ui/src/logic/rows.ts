// Keeping view-models stable between renders. Alpine's keyed x-for refreshes
// a row only when its item is a different object, and a binding re-runs only
// when what it reads changed: handing back the very same row object for an
// unchanged row makes a re-render of a 50-row table touch only the rows whose
// worker (or relative time) actually changed.

/** Deep equality for plain view-model data: objects, arrays and primitives. */
export function sameData(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameData(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k)) return false;
    if (!sameData((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/** The same items, by identity (Object.is), in the same order. */
export function sameItems(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/**
 * For each item, how many items before it have the same base key: the
 * position among identical lines. Unlike the index in the list it stays the
 * same when the window of recent lines slides, so a row keeps its key.
 */
export function occurrences<T>(items: readonly T[], base: (item: T) => string): number[] {
  const seen = new Map<string, number>();
  return items.map((item) => {
    const k = base(item);
    const n = seen.get(k) ?? 0;
    seen.set(k, n + 1);
    return n;
  });
}

export type Write = (target: object, key: string, value: unknown) => void;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/**
 * Brings `prev` up to `next` by writing (through `write`) only the top-level
 * fields that differ (sameData); a differing nested value is written whole,
 * so nested objects, which may be shared, are never changed. With `write`
 * going through Alpine's reactive proxy, only the bindings that read a
 * changed field run again. Returns false, writing nothing, when the two are
 * not plain objects with the same keys: replace `prev` then.
 */
export function patchData(prev: unknown, next: unknown, write: Write): boolean {
  if (!isPlainObject(prev) || !isPlainObject(next)) return false;
  const keys = Object.keys(next);
  if (keys.length !== Object.keys(prev).length || !keys.every((k) => Object.prototype.hasOwnProperty.call(prev, k))) return false;
  for (const k of keys) if (!sameData(prev[k], next[k])) write(prev, k, next[k]);
  return true;
}

interface Entry<R> {
  inputs: readonly unknown[];
  row: R;
}

/**
 * View-models keyed by id, reused while they stay the same.
 *
 * `list` builds one row per item: when the item's inputs (compared by
 * identity: the engine object, the task text, the clock...) are those of the
 * last call, the previous row object is handed back without building; when
 * a rebuilt row is equal to the previous one, the previous object is kept.
 * With `patch` (patchData through Alpine), a rebuilt row that differs is
 * written into the previous object field by field and that object is kept,
 * so only the changed cells of a row are redrawn.
 * When every row is the same object as last time, the previous array itself
 * is returned. Rows of keys no longer listed are forgotten.
 */
export class RowCache<R> {
  private entries = new Map<string, Entry<R>>();
  private last: R[] = [];

  constructor(private readonly patch?: (old: R, fresh: R) => boolean) {}

  list<T>(items: readonly T[], key: (item: T) => string, inputs: (item: T) => readonly unknown[], build: (item: T) => R): R[] {
    const next = new Map<string, Entry<R>>();
    const rows = items.map((item) => {
      const k = key(item);
      const ins = inputs(item);
      const old = next.get(k) ?? this.entries.get(k);
      let row: R;
      if (old && sameItems(old.inputs, ins)) row = old.row;
      else {
        const fresh = build(item);
        row = old && (sameData(old.row, fresh) || (this.patch?.(old.row, fresh) ?? false)) ? old.row : fresh;
      }
      next.set(k, { inputs: ins, row });
      return row;
    });
    this.entries = next;
    if (sameItems(rows, this.last)) return this.last;
    this.last = rows;
    return rows;
  }

  /** How many rows are kept (for tests). */
  get size(): number {
    return this.entries.size;
  }
}

/**
 * The last value computed from these inputs (compared by identity); computes
 * again only when one of them changed. Inputs read from Alpine's state keep
 * the binding subscribed to them.
 */
export function memo<R>(): (inputs: readonly unknown[], compute: () => R) => R {
  let lastInputs: readonly unknown[] | null = null;
  let lastValue: R;
  return (inputs, compute) => {
    if (lastInputs && sameItems(lastInputs, inputs)) return lastValue;
    lastValue = compute();
    lastInputs = inputs;
    return lastValue;
  };
}
