// Small timing helpers, kept pure so tests can drive them with fake timers.

export interface Debounced<A extends unknown[]> {
  (...args: A): void;
  cancel(): void;
  /** Runs a pending call now. */
  flush(): void;
  pending(): boolean;
}

/** Calls `fn` once `ms` after the last call, with the last call's arguments. */
export function debounce<A extends unknown[]>(fn: (...args: A) => void, ms: number): Debounced<A> {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let last: A | null = null;
  const run = () => {
    timer = null;
    const args = last;
    last = null;
    if (args) fn(...args);
  };
  const d = ((...args: A) => {
    last = args;
    if (timer) clearTimeout(timer);
    timer = setTimeout(run, ms);
  }) as Debounced<A>;
  d.cancel = () => {
    if (timer) clearTimeout(timer);
    timer = null;
    last = null;
  };
  d.flush = () => {
    if (timer) {
      clearTimeout(timer);
      run();
    }
  };
  d.pending = () => timer !== null;
  return d;
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
