// The in-memory picture of tasks, workers and alerts, kept current by engine
// events. Pure functions: each returns new arrays, so the caller can assign
// them to a reactive store.

import type { Alert, EngineEvent, Task, Worker } from "../types";
import { isTerminalState } from "./badges";
import { compareTime } from "./time";

export interface EngineState {
  /** Newest first (created_at, then id: ids are time-ordered). */
  tasks: Task[];
  /** Newest first. */
  workers: Worker[];
  /** Newest first, at most MAX_ALERTS. */
  alerts: Alert[];
}

export const MAX_ALERTS = 200;

export function emptyState(): EngineState {
  return { tasks: [], workers: [], alerts: [] };
}

export type Change =
  | { kind: "task"; id: string; inserted: boolean }
  | { kind: "worker"; id: string; inserted: boolean }
  | { kind: "alert"; alert: Alert }
  | { kind: "activity" };

const newestFirst = (a: { created_at: string; id: string }, b: { created_at: string; id: string }) => {
  const c = compareTime(b.created_at, a.created_at);
  if (c !== 0) return c;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
};

/** True when `incoming` is older than what we hold and must be ignored. */
export function isStaleTask(existing: Task, incoming: Task): boolean {
  return compareTime(incoming.updated_at, existing.updated_at) < 0;
}

/**
 * Workers carry no update time: an older attempt is stale, a live report
 * about an attempt we already saw end is stale, and within one attempt the
 * last sign of life never goes backwards.
 */
export function isStaleWorker(existing: Worker, incoming: Worker): boolean {
  if (incoming.attempt !== existing.attempt) return incoming.attempt < existing.attempt;
  // Ended, then live again within one attempt: only a person's reply does that.
  if (isTerminalState(existing.state) && !isTerminalState(incoming.state)) return !incoming.replied;
  if (existing.last_activity_at && incoming.last_activity_at) {
    return compareTime(incoming.last_activity_at, existing.last_activity_at) < 0;
  }
  return false;
}

function upsert<T extends { id: string; created_at: string }>(
  list: T[],
  item: T,
  stale: (existing: T, incoming: T) => boolean,
): { list: T[]; changed: boolean; inserted: boolean } {
  const i = list.findIndex((x) => x.id === item.id);
  if (i >= 0) {
    if (stale(list[i], item)) return { list, changed: false, inserted: false };
    const next = list.slice();
    next[i] = item;
    return { list: next, changed: true, inserted: false };
  }
  const next = [...list, item].sort(newestFirst);
  return { list: next, changed: true, inserted: true };
}

export function upsertTask(tasks: Task[], task: Task) {
  return upsert(tasks, task, isStaleTask);
}

export function upsertWorker(workers: Worker[], worker: Worker) {
  return upsert(workers, worker, isStaleWorker);
}

/** Applies a fetched list (a snapshot) with the same staleness rules. */
export function mergeTasks(tasks: Task[], fetched: Task[]): Task[] {
  return fetched.reduce((acc, t) => upsertTask(acc, t).list, tasks);
}

export function mergeWorkers(workers: Worker[], fetched: Worker[]): Worker[] {
  return fetched.reduce((acc, w) => upsertWorker(acc, w).list, workers);
}

export function alertKey(a: Alert): string {
  return [a.at, a.kind, a.worker_id ?? "", a.task_id ?? "", a.attempt ?? "", a.message].join("|");
}

export function addAlert(alerts: Alert[], alert: Alert): { list: Alert[]; changed: boolean } {
  const key = alertKey(alert);
  if (alerts.some((a) => alertKey(a) === key)) return { list: alerts, changed: false };
  const next = [alert, ...alerts].sort((a, b) => compareTime(b.at, a.at));
  return { list: next.slice(0, MAX_ALERTS), changed: true };
}

/**
 * Applies one engine event. Returns the new state (the same object when
 * nothing changed) and what changed, or null for an ignored (stale or
 * duplicate) event.
 */
export function applyEvent(state: EngineState, ev: EngineEvent): { state: EngineState; change: Change | null } {
  switch (ev.type) {
    case "task_submitted":
    case "task_updated": {
      const r = upsertTask(state.tasks, ev.task);
      if (!r.changed) return { state, change: null };
      return { state: { ...state, tasks: r.list }, change: { kind: "task", id: ev.task.id, inserted: r.inserted } };
    }
    case "worker_updated": {
      const r = upsertWorker(state.workers, ev.worker);
      if (!r.changed) return { state, change: null };
      return {
        state: { ...state, workers: r.list },
        change: { kind: "worker", id: ev.worker.id, inserted: r.inserted },
      };
    }
    case "alert": {
      const r = addAlert(state.alerts, ev.alert);
      if (!r.changed) return { state, change: null };
      return { state: { ...state, alerts: r.list }, change: { kind: "alert", alert: ev.alert } };
    }
    case "activity_logged":
      // The log is fetched by the views that show it; the state holds none of it.
      return { state, change: { kind: "activity" } };
    default:
      return { state, change: null };
  }
}

/** Live workers (not completed, failed or cancelled). */
export function countLiveWorkers(workers: Worker[]): number {
  return workers.filter((w) => !isTerminalState(w.state)).length;
}

/** What one batch of events did (see applyEvents). */
export interface Batch {
  /** The new state: the same arrays where nothing changed, one new array per part that did. */
  state: EngineState;
  /** The accepted events' changes, in order (ignored events leave none). */
  changes: Change[];
  /** Workers that changed, each once, in the order first changed. */
  workerIds: string[];
  /** The engine wrote a line to its activity log (process-manager lines). */
  activityMoved: boolean;
  /** The owner read edited settings files and uses them now. */
  settingsMoved: boolean;
  /** A task was submitted or its routing changed (the decision log has new lines). */
  routingMoved: boolean;
}

const sameRouting = (a: Task["routing"], b: Task["routing"]) => a === b || JSON.stringify(a) === JSON.stringify(b);

/**
 * Applies a batch of engine events in order, as applyEvent one by one would,
 * and says what the batch changed, so the caller replaces its state once per
 * batch instead of once per event.
 */
export function applyEvents(state: EngineState, events: readonly EngineEvent[]): Batch {
  let cur = state;
  const changes: Change[] = [];
  const workerIds = new Set<string>();
  let activityMoved = false;
  let settingsMoved = false;
  let routingMoved = false;
  for (const ev of events) {
    const before = cur;
    const r = applyEvent(cur, ev);
    if (!r.change) continue;
    cur = r.state;
    changes.push(r.change);
    if (r.change.kind === "worker") {
      workerIds.add(r.change.id);
    } else if (r.change.kind === "task" && (ev.type === "task_submitted" || ev.type === "task_updated")) {
      const prev = before.tasks.find((t) => t.id === ev.task.id);
      if (ev.type === "task_submitted" || !sameRouting(prev?.routing, ev.task.routing)) routingMoved = true;
    } else if (r.change.kind === "activity") {
      activityMoved = true;
      if (ev.type === "activity_logged" && ev.line?.event === "settings_applied") settingsMoved = true;
    }
  }
  return { state: cur, changes, workerIds: [...workerIds], activityMoved, settingsMoved, routingMoved };
}
