// Small timing helpers, kept pure so tests can drive them with fake timers.

export interface Debounced<A extends unknown[]> {
  (...args: A): void;
  cancel(): void;
  /** Runs a pending call now. */
  flush(): void;
  pending(): boolean;
}

/**
 * Calls `fn` once `ms` after the last call, with the last call's arguments.
 * With `maxWaitMs`, a steady stream of calls (each less than `ms` after the
 * previous one) still runs `fn` at least that often.
 */
export function debounce<A extends unknown[]>(fn: (...args: A) => void, ms: number, maxWaitMs?: number): Debounced<A> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let maxTimer: ReturnType<typeof setTimeout> | null = null;
  let last: A | null = null;
  const clear = () => {
    if (timer) clearTimeout(timer);
    if (maxTimer) clearTimeout(maxTimer);
    timer = null;
    maxTimer = null;
  };
  const run = () => {
    clear();
    const args = last;
    last = null;
    if (args) fn(...args);
  };
  const d = ((...args: A) => {
    last = args;
    if (timer) clearTimeout(timer);
    timer = setTimeout(run, ms);
    if (maxWaitMs != null && maxTimer === null) maxTimer = setTimeout(run, Math.max(ms, maxWaitMs));
  }) as Debounced<A>;
  d.cancel = () => {
    clear();
    last = null;
  };
  d.flush = () => {
    if (timer) run();
  };
  d.pending = () => timer !== null;
  return d;
}

export interface Throttled {
  (): void;
  cancel(): void;
  /** Runs a pending call now (the next one then waits a full period). */
  flush(): void;
  pending(): boolean;
}

/**
 * Runs `fn` at most once every `ms`. A call in a quiet period runs it after
 * `leadMs` (0: as soon as the current task ends; "sync": at once); calls while
 * it is cooling down are gathered into one run at the end of the period.
 */
export function throttle(fn: () => void, ms: number, leadMs: number | "sync" = 0): Throttled {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let wanted = false;
  const run = () => {
    timer = null;
    if (!wanted) return; // a quiet period: idle until the next call
    wanted = false;
    timer = setTimeout(run, ms);
    fn();
  };
  const t = (() => {
    wanted = true;
    if (timer) return;
    if (leadMs === "sync") run();
    else timer = setTimeout(run, leadMs);
  }) as Throttled;
  t.cancel = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    wanted = false;
  };
  t.flush = () => {
    if (!wanted) return;
    if (timer) clearTimeout(timer);
    run();
  };
  t.pending = () => wanted;
  return t;
}

/**
 * Hands out tickets so only the answer to the latest request is used: an
 * answer that arrives after a newer request was made is dropped.
 */
export class Latest {
  private seq = 0;
  next(): number {
    this.seq += 1;
    return this.seq;
  }
  isCurrent(ticket: number): boolean {
    return ticket === this.seq;
  }
  /** Makes every outstanding ticket stale. */
  invalidate(): void {
    this.seq += 1;
  }
}
