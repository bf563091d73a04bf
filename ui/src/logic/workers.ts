// Worker rows: the badge, elapsed time against the limit, last activity and
// what the actions may do for this worker.

import type { Activity, Task, Worker } from "../types";
import { isTerminalState, workerBadge, type Badge } from "./badges";
import { formatMinutes, formatMoney, formatRelative, formatTokens, shortId, truncate } from "./format";
import { parseTime } from "./time";

export interface Elapsed {
  elapsedSecs: number | null;
  limitSecs: number;
  /** elapsed / limit, clamped to 0..1 (0 before the start). */
  fraction: number;
  /** Bar width 0..100. */
  pct: number;
  /** "12m / 60m", "— / 60m" before the first start. */
  label: string;
  over: boolean;
  barCls: string;
}

/**
 * Time used against the limit. A finished worker's clock stops at its last
 * activity (the engine reports the attempt's end there).
 */
export function elapsedVsLimit(
  w: Pick<Worker, "started_at" | "time_limit_secs" | "state" | "last_activity_at">,
  nowMs: number,
): Elapsed {
  const limit = Math.max(0, w.time_limit_secs || 0);
  const start = parseTime(w.started_at);
  const limitLabel = limit > 0 ? formatMinutes(limit) : "∞";
  if (Number.isNaN(start)) {
    return { elapsedSecs: null, limitSecs: limit, fraction: 0, pct: 0, label: `— / ${limitLabel}`, over: false, barCls: "bg-slate-300" };
  }
  let end = nowMs;
  if (isTerminalState(w.state)) {
    const last = parseTime(w.last_activity_at);
    if (!Number.isNaN(last)) end = last;
  }
  const elapsed = Math.max(0, (end - start) / 1000);
  const raw = limit > 0 ? elapsed / limit : 0;
  const fraction = Math.min(1, Math.max(0, raw));
  const terminal = isTerminalState(w.state);
  const barCls = terminal ? "bg-slate-400" : raw >= 0.9 ? "bg-red-500" : raw >= 0.75 ? "bg-amber-500" : "bg-emerald-500";
  return {
    elapsedSecs: elapsed,
    limitSecs: limit,
    fraction,
    pct: Math.round(fraction * 100),
    label: `${formatMinutes(elapsed)} / ${limitLabel}`,
    over: limit > 0 && raw > 1,
    barCls,
  };
}

/** "3s ago · output"; "never" before any sign of life. */
export function lastActivityLabel(w: Pick<Worker, "last_activity_at" | "last_activity_source">, nowMs: number): string {
  if (!w.last_activity_at) return "never";
  const ago = formatRelative(w.last_activity_at, nowMs);
  return w.last_activity_source ? `${ago} · ${w.last_activity_source}` : ago;
}

/** What the stream says the worker is doing, in a few words. */
export function activityLabel(a: Activity | null | undefined, nowMs: number): string {
  if (!a) return "";
  switch (a.kind) {
    case "starting":
      return "starting";
    case "waiting_on_model":
      return `waiting on the model (${formatRelative(a.since, nowMs).replace(" ago", "")})`;
    case "running_tool":
      return `running ${a.tool} (${formatRelative(a.since, nowMs).replace(" ago", "")})`;
    case "retrying_api":
      return `retrying the API${a.status ? ` after ${a.status}` : ""}, attempt ${a.attempt}, ${formatRelative(a.until, nowMs)}`;
    case "finished":
      return "finished";
    case "working":
      return "working";
    default:
      return "";
  }
}

export interface WorkerActions {
  kill: boolean;
  restart: boolean;
  extend: boolean;
  nudge: boolean;
  takeOver: boolean;
}

export function workerActions(w: Pick<Worker, "state" | "session_id">): WorkerActions {
  const live = !isTerminalState(w.state);
  return {
    kill: live,
    restart: true,
    extend: live,
    nudge: !!w.session_id,
    takeOver: !!w.session_id,
  };
}

/** What a row draws of Elapsed: only values that move when the drawing does. */
export type ElapsedView = Pick<Elapsed, "label" | "pct" | "over" | "barCls">;

/**
 * One worker as a row draws it. Only drawn values: two rows built a moment
 * apart are equal unless something visible changed (see logic/rows.ts).
 */
export interface WorkerRow {
  id: string;
  shortId: string;
  health: string;
  badge: Badge;
  live: boolean;
  expert: string;
  taskId: string;
  taskText: string;
  taskFull: string;
  elapsed: ElapsedView;
  lastActivity: string;
  doing: string;
  tokens: string;
  cost: string;
  /** "#2". */
  attempt: string;
  /** "attempt 2 of this worker, 1 restart". */
  attemptTitle: string;
  reason: string;
  actions: WorkerActions;
}

export function workerRow(w: Worker, task: Task | undefined, nowMs: number): WorkerRow {
  const badge = workerBadge(w);
  const live = !isTerminalState(w.state);
  const { label, pct, over, barCls } = elapsedVsLimit(w, nowMs);
  return {
    id: w.id,
    shortId: shortId(w.id),
    health: badge.key,
    badge,
    live,
    expert: w.expert,
    taskId: w.task_id,
    taskText: truncate(task?.description ?? w.task_id, 60),
    taskFull: task?.description ?? "",
    elapsed: { label, pct, over, barCls },
    lastActivity: lastActivityLabel(w, nowMs),
    doing: live ? activityLabel(w.activity, nowMs) : "",
    tokens: `${formatTokens(w.tokens?.input ?? 0)} / ${formatTokens(w.tokens?.output ?? 0)}`,
    cost: formatMoney(w.cost_usd),
    attempt: `#${w.attempt}`,
    attemptTitle: `attempt ${w.attempt}, ${w.restarts} restart${w.restarts === 1 ? "" : "s"}`,
    reason: w.reason ?? "",
    actions: workerActions(w),
  };
}

export type WorkerFilter = "all" | "live" | "ended";

export const WORKER_FILTERS: { id: WorkerFilter; label: string }[] = [
  { id: "all", label: "All" },
  { id: "live", label: "Live" },
  { id: "ended", label: "Ended" },
];

export function filterWorkers(workers: Worker[], filter: WorkerFilter): Worker[] {
  if (filter === "live") return workers.filter((w) => !isTerminalState(w.state));
  if (filter === "ended") return workers.filter((w) => isTerminalState(w.state));
  return workers;
}
