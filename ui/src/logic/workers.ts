// Worker rows: the badge, elapsed time against the limit, last activity and
// what the actions may do for this worker.

import type { Activity, OutcomeKind, Task, Worker } from "../types";
import { isTerminalState, workerBadge, type Badge } from "./badges";
import { isLiveWorker } from "./fleet";
import { formatAgo, formatClock, formatMinutes, formatWhen, formatMoney, formatRelative, formatTokens, reasonBeside, shortId, truncate } from "./format";
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
 * Time used against the limit: every attempt's, summed (the engine sums the
 * ended ones; the running one counts from its start, `running_since`). A worker between
 * attempts or ended adds nothing more. Without the engine's sum, the clock
 * of the current attempt alone, stopped at its last activity once ended.
 */
export function elapsedVsLimit(
  w: Pick<Worker, "started_at" | "time_limit_secs" | "state" | "last_activity_at" | "ended_attempts_secs" | "running_since">,
  nowMs: number,
): Elapsed {
  const limit = Math.max(0, w.time_limit_secs || 0);
  const start = parseTime(w.started_at);
  const limitLabel = limit > 0 ? formatMinutes(limit) : "∞";
  const ended = w.ended_attempts_secs;
  if (Number.isNaN(start) && !ended) {
    return { elapsedSecs: null, limitSecs: limit, fraction: 0, pct: 0, label: `— / ${limitLabel}`, over: false, barCls: "bg-slate-300" };
  }
  let elapsed: number;
  if (ended != null) {
    // Only an attempt that runs adds its time: not one whose work is being
    // checked (it ended, and is in the sum), nor a wait between attempts.
    const since = parseTime(w.running_since);
    const runningSecs = Number.isNaN(since) ? 0 : Math.max(0, (nowMs - since) / 1000);
    elapsed = ended + runningSecs;
  } else {
    let end = nowMs;
    if (isTerminalState(w.state)) {
      const last = parseTime(w.last_activity_at);
      if (!Number.isNaN(last)) end = last;
    }
    elapsed = Math.max(0, (end - start) / 1000);
  }
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

const AFTER: Partial<Record<OutcomeKind, string>> = {
  crashed: "after a crash",
  lost: "after it vanished",
  hung: "after it hung (zombie)",
  api_error: "after an API error",
  rate_limited: "after a rate limit",
  timed_out: "after its time limit",
  killed: "after a stop",
  spawn_failed: "after it failed to start",
  max_turns: "after its turn limit",
};

/** "in 28s", "now" once due, "" when not known. */
function dueIn(until: string | null | undefined, nowMs: number): string {
  const t = parseTime(until);
  if (Number.isNaN(t)) return "";
  return t - nowMs <= 999 ? "now" : formatAgo(nowMs - t);
}

/**
 * What a worker waits for, in words: "restart in 28s, after a crash",
 * "rate limited until 14:05", "retrying the API in 12s", "restart held by the
 * circuit breaker until 14:20"; "" when it does not wait.
 */
export function waitingLabel(w: Pick<Worker, "waiting_for" | "state">, nowMs: number): string {
  const wf = w.waiting_for;
  if (!wf || isTerminalState(w.state)) return "";
  const due = dueIn(wf.until, nowMs);
  switch (wf.kind) {
    case "restart": {
      const after = wf.after ? AFTER[wf.after] ?? `after ${wf.after.replace(/_/g, " ")}` : "";
      const when = due === "now" ? "restart due now" : due ? `restart ${due}` : "restart after the backoff";
      return after ? `${when}, ${after}` : when;
    }
    case "start":
      // Its first start could not be submitted (a cluster that did not answer).
      return due === "now" ? "start due now" : due ? `start tried again ${due}` : "start tried again soon";
    case "rate_limit":
      return wf.until ? `rate limited until ${formatClock(wf.until)}` : "rate limited";
    case "usage_limit":
      if (!wf.until) return "usage limit reached: resumes when it resets";
      return due === "now" ? "usage limit has reset: resuming now" : `usage limit reached: resumes at ${formatWhen(wf.until, nowMs)}`;
    case "api_retry":
      return due ? `retrying the API ${due === "now" ? "now" : due}` : "retrying the API";
    case "circuit":
      // The restart is due; the expert's circuit breaker holds it.
      return wf.until ? `restart held by the circuit breaker until ${formatClock(wf.until)}` : "restart held by the circuit breaker";
    case "capacity": {
      // A person's reply or restart, or a restart a breaker held: no place
      // is free. Which limit holds it, in the words of the engine's reason.
      const l = wf.limit;
      if (!l) return "waits for a free place";
      const which = l.expert ? `expert ${l.expert}'s max_workers` : "capacity.max_workers";
      return `waits for a free place (${which} is ${l.max_workers})`;
    }
    case "suspended":
      // The cluster stopped its running job; it goes on once resumed.
      return "suspended by the cluster: goes on once it is resumed";
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
  /** Reply continues the conversation of a worker that ended. */
  reply: boolean;
}

/**
 * What may be done to a worker in its state: a live one can be stopped,
 * restarted, given time, nudged or taken over (the last two need its
 * session); one being stopped and one that ended, none of these.
 */
export function workerActions(w: Pick<Worker, "state" | "session_id">): WorkerActions {
  const live = !isTerminalState(w.state) && w.state !== "stopping";
  const session = live && !!w.session_id;
  return {
    kill: live,
    restart: live,
    extend: live,
    nudge: session,
    takeOver: session,
    reply: isTerminalState(w.state) && !!w.session_id,
  };
}

/** The cost, marked as Cortex's estimate until the agent's own figure arrives: "≈ $0.0123 (estimate)". */
export function costLabel(w: Pick<Worker, "cost_usd" | "cost_estimated">): string {
  const money = formatMoney(w.cost_usd);
  return w.cost_estimated ? `≈ ${money} (estimate)` : money;
}

/** How a line names a worker for a person: its task's first words and its expert ("“Fix the login test” · development"). */
export function workerSubject(w: Pick<Worker, "expert" | "task_id"> | undefined, task: Pick<Task, "description"> | undefined): string {
  if (!w) return "";
  const words = firstWords(task?.description ?? "", 40);
  return words ? `“${words}” · ${w.expert}` : w.expert;
}

/** The first words of a text, cut at a word with an ellipsis. */
export function firstWords(text: string, max: number): string {
  const line = text.split(/\s+/).filter(Boolean).join(" ");
  if (line.length <= max) return line;
  const cut = line.slice(0, max);
  const at = cut.lastIndexOf(" ");
  return `${(at > max / 2 ? cut.slice(0, at) : cut).trimEnd()}…`;
}

/** Menu size the placement allows for (the row-action menu's eight items). */
export const MENU_SIZE = { width: 192, height: 300 };

/**
 * Where a row's action menu opens: right-aligned under its button, above it
 * when there is no room below, always inside the window.
 */
export function menuPlacement(
  button: { top: number; bottom: number; right: number },
  viewportW: number,
  viewportH: number,
  size = MENU_SIZE,
): { top: string; left: string } {
  const margin = 8;
  const left = Math.max(margin, Math.min(button.right - size.width, viewportW - size.width - margin));
  const below = button.bottom + 4;
  const top = below + size.height <= viewportH - margin ? below : Math.max(margin, button.top - 4 - size.height);
  return { top: `${Math.round(top)}px`, left: `${Math.round(left)}px` };
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
    doing: live ? waitingLabel(w, nowMs) || activityLabel(w.activity, nowMs) : "",
    tokens: `${formatTokens(w.tokens?.input ?? 0)} / ${formatTokens(w.tokens?.output ?? 0)}`,
    cost: costLabel(w),
    attempt: `#${w.attempt}`,
    attemptTitle: `attempt ${w.attempt}, ${w.restarts} automatic restart${w.restarts === 1 ? "" : "s"}`,
    reason: reasonBeside(w.reason, w.state),
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
  if (filter === "live") return workers.filter(isLiveWorker);
  if (filter === "ended") return workers.filter((w) => !isLiveWorker(w));
  return workers;
}
