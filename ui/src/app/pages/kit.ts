// What every page's component is built with: reactive derived values that
// run only while their page is shown, scopes released when a page closes,
// and the shared lookups (tasks and workers by id).
//
// Keeping it cheap with many busy workers:
// - every list a page shows is a derived value (derive below): it is
//   computed while its page is shown and not at all while it is hidden, and
//   the bindings reading it run again only when it really changed;
// - rows come from a RowCache: an unchanged worker keeps its row object, so
//   Alpine's keyed x-for leaves its row alone, and a changed one is updated
//   field by field, so only its changed cells are redrawn;
// - relative times in lists and tables follow the 5-second clock
//   (tableNowMs), those of the open worker's page the 1-second one: every
//   redraw of a page with charts on it costs a frame;
// - charts are drawn on the clock's tick when their series changed, and only
//   while the Overview is shown.

import type { AlpineCsp } from "@alpinejs/csp";
import { fleetCounts, pausedExperts, type FleetCounts } from "../../logic/fleet";
import { memo, patchData, type RowCache, sameData, type Write } from "../../logic/rows";
import type { Task, Worker } from "../../types";
import { listedCosts, taskRow, type TaskRow } from "../../logic/tasks";
import type { Controller } from "../controller";
import type { AppState, ViewId } from "../state";

type DeriveOpts = { when?: () => boolean; patch?: boolean };

/** What a page's component sets up, undone when the page is closed. */
export interface Scope {
  derive<T>(initial: T, compute: () => T, opts?: DeriveOpts): { readonly value: T };
  effect(fn: () => void): void;
  onStop(fn: () => void): void;
  stop(): void;
}

export interface Kit {
  Alpine: AlpineCsp;
  s: AppState;
  c: Controller;
  /** The state without subscribing (e.g. the clock a row is built with). */
  plain: AppState;
  /**
   * The engine lists are replaced, never changed in place: reading `s.workers`
   * subscribes a binding to the list, and going on through raw() spares Alpine
   * a proxy (and a subscription) for every worker in it.
   */
  raw<T>(v: T): T;
  /** For RowCache: a changed row is updated in place, field by field. */
  patchRow<R>(old: R, fresh: R): boolean;
  scope(): Scope;
  /** Derive options: computed only while `view` is shown. */
  shown(view: ViewId): { when: () => boolean };
  /** A derived value for the whole window (the shell): never released. */
  global<T>(initial: T, compute: () => T, opts?: { patch?: boolean }): { readonly value: T };
  taskById(): Map<string, Task>;
  workerById(): Map<string, Worker>;
  /** Task rows, each with its cost as its workers count it at the tables' clock (or a change of the tasks), reused while unchanged. */
  taskRows(cache: RowCache<TaskRow>, tasks: readonly Task[], clock: number, nowMs: number): TaskRow[];
  /** Every count the window shows, from the one list of workers (logic/fleet.ts). */
  counts: { readonly value: FleetCounts };
}

export function makeKit(Alpine: AlpineCsp, s: AppState, c: Controller): Kit {
  const raw = <T>(v: T): T => Alpine.raw(v);
  const plain = Alpine.raw(s);

  /** Writes one field through Alpine, so the bindings reading it (and only those) run again. */
  const write: Write = (target, key, value) => {
    (Alpine.reactive(target) as Record<string, unknown>)[key] = value;
  };

  /**
   * A value derived from the state, like Vue's computed(): `compute` runs
   * again when something it read changes, and the bindings reading `.value`
   * run again only when the result differs (sameData; RowCache hands back the
   * same rows when nothing changed). While `when` is false (its page is
   * hidden) nothing is computed and the last value stays. With `patch`, a new
   * object of the same shape is written into the current one field by field
   * (only for values built fresh by `compute`, never for objects of the state).
   */
  function derive<T>(initial: T, compute: () => T, opts: DeriveOpts = {}): { box: { readonly value: T }; effect: unknown } {
    const box = Alpine.reactive({ value: initial });
    const plainBox = Alpine.raw(box);
    const { when, patch } = opts;
    const effect = Alpine.effect(() => {
      if (when && !when()) return;
      const next = compute();
      if (sameData(plainBox.value, next)) return;
      if (patch && patchData(plainBox.value, next, write)) return;
      box.value = next;
    });
    return { box, effect };
  }

  /**
   * Pages are rendered with x-if, so only the open one exists, and a closed
   * page must leave nothing running.
   */
  function scope(): Scope {
    const effects: unknown[] = [];
    const cleanups: (() => void)[] = [];
    return {
      derive(initial, compute, opts = {}) {
        const d = derive(initial, compute, opts);
        effects.push(d.effect);
        return d.box;
      },
      effect(fn) {
        effects.push(Alpine.effect(fn));
      },
      onStop(fn) {
        cleanups.push(fn);
      },
      stop() {
        effects.splice(0).forEach((e) => Alpine.release(e));
        cleanups.splice(0).forEach((f) => f());
      },
    };
  }

  const taskMap = memo<Map<string, Task>>();
  const workerMap = memo<Map<string, Worker>>();
  const listed = listedCosts();
  const counts = derive(
    fleetCounts([], [], new Set()),
    () => fleetCounts(raw(s.workers), raw(s.tasks), pausedExperts(raw(s.status))),
  ).box;

  return {
    counts,
    Alpine,
    s,
    c,
    plain,
    raw,
    patchRow: (old, fresh) => patchData(old, fresh, write),
    scope,
    shown: (view) => ({ when: () => s.view === view }),
    global: (initial, compute, opts = {}) => derive(initial, compute, opts).box,
    taskById() {
      const tasks = raw(s.tasks);
      return taskMap([tasks], () => new Map(tasks.map((t) => [t.id, t])));
    },
    workerById() {
      const workers = raw(s.workers);
      return workerMap([workers], () => new Map(workers.map((w) => [w.id, w])));
    },
    taskRows(cache, tasks, clock, nowMs) {
      // Read without subscribing to the workers (logic/tasks.ts `listedCosts`).
      const costs = listed(clock, raw(s.tasks), plain.workers);
      return cache.list(
        tasks,
        (t) => t.id,
        (t) => {
          const c = costs.get(t.id);
          return [t, clock, c?.cost_usd, c?.cost_estimated];
        },
        (t) => taskRow(t, nowMs, costs.get(t.id)),
      );
    },
  };
}

/**
 * A page component whose fields `keys` live in `store` (state that outlives
 * the page, such as a draft or a form with unsaved edits): reading or writing
 * `this.<key>` reads or writes the store.
 */
export function withKept<S extends object, K extends keyof S, C extends object>(
  store: S,
  keys: readonly K[],
  component: C & ThisType<C & Pick<S, K>>,
): C & Pick<S, K> {
  for (const key of keys) {
    Object.defineProperty(component, key, {
      get: () => store[key],
      set: (v: S[K]) => {
        store[key] = v;
      },
      enumerable: true,
      configurable: true,
    });
  }
  return component as C & Pick<S, K>;
}
