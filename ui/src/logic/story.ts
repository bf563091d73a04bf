// A task's detail page from the engine's story (`task_detail`): the
// summary, the verification badge, every worker side by side with its
// attempts, and what each worker may be asked (Reply only once it ended).
// Pure: no DOM, no clock.

import type { Changes, Task, TaskStory, Verification, Worker, WorkerStory } from "../types";
import { healthBadge, isTerminalState, taskStatusBadge, workerBadge, type Badge } from "./badges";
import { BOARD_COLUMN } from "./board";
import type { DiffFile } from "./diff";
import { attemptReason, formatConfidence, formatDateTime, formatDuration, formatTokens, reasonBeside, strategyLabel } from "./format";
import { parseTime } from "./time";
import { costLabel } from "./workers";

export interface VerificationBadge {
  label: string;
  tone: "green" | "red" | "blue" | "grey";
  detail: string;
}

export function verificationBadge(v: Verification | null | undefined): VerificationBadge {
  // No check has run: none may be set (the task's, its expert's or the
  // config's, which the page does not see), or it has not started yet.
  if (!v) return { label: "Not verified", tone: "grey", detail: "no check of its work has run" };
  if (v.passed == null) return { label: "Verifying", tone: "blue", detail: v.command };
  // Stopped by a person, or never run: it did not fail.
  if (v.outcome === "stopped") return { label: "Check stopped", tone: "grey", detail: `${v.command}: ${v.reason ?? "stopped"}` };
  if (v.outcome === "not_run") return { label: "Check not run", tone: "red", detail: `${v.command}: ${v.reason ?? "it could not run"}` };
  const rounds = v.rounds > 1 ? ` after ${v.rounds} rounds` : "";
  return v.passed
    ? { label: "Verified", tone: "green", detail: `${v.command} passed${rounds}` }
    : { label: "Check failed", tone: "red", detail: `${v.command} exited ${v.exit_code ?? "without a code"}${rounds}` };
}

export interface AttemptLine {
  key: string;
  label: string;
  when: string;
  outcome: string;
  reason: string;
  cost: string;
  duration: string;
}

export interface WorkerColumn {
  id: string;
  expert: string;
  badge: Badge;
  reason: string;
  result: string;
  cost: string;
  tokens: string;
  duration: string;
  attempts: AttemptLine[];
  verification: VerificationBadge;
  /** Reply continues an ended worker's conversation; a live one is nudged instead. */
  canReply: boolean;
  workdir: string;
  changesNote: string;
}

export interface StoryView {
  id: string;
  description: string;
  badge: Badge;
  column: string;
  reason: string;
  result: string;
  verification: VerificationBadge;
  routing: string;
  explanation: string;
  project: string;
  cost: string;
  tokens: string;
  duration: string;
  attempts: string;
  workers: WorkerColumn[];
  /** Experts with changes to show (the Changes tab's choice). */
  changeExperts: string[];
}

// Input and output as every other view counts them; the cache's tokens,
// when there are any, beside them and named.
const tokensOf = (t: { input: number; output: number; cache_read?: number; cache_creation?: number }) => {
  const cache = (t.cache_read ?? 0) + (t.cache_creation ?? 0);
  const base = `${formatTokens(t.input)} in / ${formatTokens(t.output)} out`;
  return cache > 0 ? `${base} (+ ${formatTokens(cache)} cache)` : base;
};

/** Where a part's work is merged, as the CLI says it (`Changes::merged_where`). */
export function mergedWhere(c: Changes): string | null {
  const all = [...(c.merged_into ? [c.merged_into] : []), ...(c.merged_elsewhere ?? [])];
  if (all.length === 0) return null;
  const last = all[all.length - 1];
  const list = all.length === 1 ? last : `${all.slice(0, -1).join(", ")} and ${last}`;
  const notBase = !c.merged_into && c.base_branch ? `, not into ${c.base_branch}` : "";
  return `merged into ${list}${notBase}`;
}

export function changesNote(c: Changes | null | undefined): string {
  if (!c) return "No worker has started yet.";
  if (c.kind === "none") return c.message ?? "Nothing to compare.";
  // Git failed: no files listed is not "nothing changed".
  if (c.unreadable) return `The changes cannot be read: ${c.message ?? "git failed"}`;
  const n = c.files.length;
  const worktree = c.worktree_removed ? "its worktree was removed, the branch is kept" : "a worktree";
  const where = c.kind === "worktree" ? `on ${c.branch ?? "its branch"} (${worktree})` : `in place in ${c.workdir}`;
  const others = c.may_include_others ? "; may include other edits to the same checkout" : "";
  const mergedAt = mergedWhere(c);
  const merged = mergedAt ? `; ${mergedAt}` : "";
  // A worktree's note (it left its branch) stands beside its files.
  const note = c.kind === "worktree" && c.message ? `; ${c.message}` : "";
  return `${n} file${n === 1 ? "" : "s"} changed ${where}${others}${merged}${note}`;
}

/** What an attempt that has not ended is doing: running, or still in a cluster's queue. */
function openOutcome(a: WorkerStory["attempts"][number]): string {
  return a.queued ? "queued on the cluster, not begun to run" : "running";
}

function workerColumn(w: WorkerStory, live: Worker | undefined): WorkerColumn {
  return {
    id: w.id,
    expert: w.expert,
    // A live worker reads as every other view reads it (stalled, verifying,
    // stopping...); the story's word is its lifecycle state, "running".
    badge: live && !isTerminalState(w.status) ? workerBadge(live) : healthBadge(w.status),
    reason: reasonBeside(w.reason, w.status),
    result: w.result ?? "",
    cost: costLabel(w),
    tokens: tokensOf(w.tokens),
    duration: formatDuration(w.duration_secs),
    attempts: w.attempts.map((a) => ({
      key: `${w.id}|${a.n}`,
      label: `Attempt ${a.n}${a.resumed ? " (resumed)" : ""}`,
      when: formatDateTime(a.started_at),
      outcome: a.outcome ?? openOutcome(a),
      reason: attemptReason(a.reason, a.outcome),
      cost: costLabel(a),
      duration: formatDuration(a.duration_secs),
    })),
    verification: verificationBadge(w.verification),
    canReply: isTerminalState(w.status),
    workdir: w.workdir,
    changesNote: changesNote(w.changes),
  };
}

/**
 * The story with its workers' figures as they are now: a worker the page
 * knows gives its cost and tokens (running attempt included, as the workers
 * list shows them) and its running attempt's own; the task's are their sums.
 * The story itself is read when the task or a worker changes state, the
 * figures move with every worker update.
 */
export function liveStory(s: TaskStory, workers: ReadonlyMap<string, Worker>, nowMs: number | null = null): TaskStory {
  // A running attempt's time, as read, grows with the clock until the next read.
  const grown = (a: WorkerStory["attempts"][number]) => {
    // Its time counts from when it left a cluster's queue, if it waited in one.
    const start = parseTime(a.running_at ?? a.started_at);
    if (a.ended_at || a.queued || nowMs === null || Number.isNaN(start)) return 0;
    return Math.max(0, (nowMs - start) / 1000 - a.duration_secs);
  };
  if (!s.workers.some((w) => workers.has(w.id)) && nowMs === null) return s;
  const ws = s.workers.map((ws) => {
    const w = workers.get(ws.id);
    const run = w?.live_attempt;
    const more = ws.attempts.reduce((n, a) => n + grown(a), 0);
    return {
      ...ws,
      ...(w ? { cost_usd: w.cost_usd, cost_estimated: !!w.cost_estimated, tokens: { ...ws.tokens, input: w.tokens.input, output: w.tokens.output } } : {}),
      duration_secs: ws.duration_secs + more,
      attempts: ws.attempts.map((a) => {
        const live = run && a.n === run.n && !a.ended_at
          ? { cost_usd: run.cost_usd, cost_estimated: run.cost_estimated, tokens: { ...a.tokens, input: run.tokens.input, output: run.tokens.output } }
          : {};
        return { ...a, ...live, duration_secs: a.duration_secs + grown(a) };
      }),
    };
  });
  const sum = (f: (w: WorkerStory) => number) => ws.reduce((n, w) => n + f(w), 0);
  const more = ws.reduce((n, w, i) => n + (w.duration_secs - s.workers[i].duration_secs), 0);
  return {
    ...s,
    workers: ws,
    cost_usd: sum((w) => w.cost_usd),
    cost_estimated: ws.some((w) => w.cost_estimated),
    tokens: { ...s.tokens, input: sum((w) => w.tokens.input), output: sum((w) => w.tokens.output) },
    duration_secs: s.duration_secs + more,
  };
}

/**
 * What the task page reads its story again on: the task's change, and each
 * of its workers' state, attempt and health (an attempt ending into its
 * check, or a job leaving a cluster's queue, changes nothing else).
 */
export function storySignature(
  id: string,
  t: Pick<Task, "updated_at" | "status"> | undefined,
  workers: readonly Pick<Worker, "id" | "task_id" | "state" | "attempt" | "health">[],
): string {
  const own = workers.filter((w) => w.task_id === id).map((w) => `${w.id}:${w.state}:${w.attempt}:${w.health}`);
  return `${id}|${t?.updated_at}|${t?.status}|${own.join(",")}`;
}

export function storyView(s: TaskStory, workers: ReadonlyMap<string, Worker> = new Map()): StoryView {
  const r = s.routing;
  return {
    id: s.id,
    description: s.description,
    badge: taskStatusBadge(s.status),
    column: BOARD_COLUMN[s.status] ?? "",
    reason: reasonBeside(s.reason, s.status),
    result: s.result ?? "",
    verification: verificationBadge(s.verification),
    routing: r ? `${r.primary_expert} · ${formatConfidence(r.confidence)} · ${strategyLabel(r.strategy)}` : "not routed yet",
    explanation: r?.explanation ?? "",
    project: s.project ?? s.workdir ?? "",
    cost: costLabel(s),
    tokens: tokensOf(s.tokens),
    duration: formatDuration(s.duration_secs),
    attempts: `${s.attempts} attempt${s.attempts === 1 ? "" : "s"}`,
    workers: s.workers.map((w) => workerColumn(w, workers.get(w.id))),
    changeExperts: s.workers.filter((w) => w.changes.kind !== "none").map((w) => w.expert),
  };
}

/** Merge applies to a worktree's branch with work its base branch does not
 * hold yet, once the worker that made it has ended (the engine refuses a
 * merge under a live agent); in place the work is already in the checkout. */
export function canMerge(c: Changes | null | undefined, s: Pick<TaskStory, "workers"> | null): boolean {
  if (!c || c.kind !== "worktree" || c.files.length === 0 || c.merged_into) return false;
  const w = s?.workers.find((w) => w.id === c.worker_id);
  return !!w && isTerminalState(w.status);
}

export interface ShownDiff {
  files: DiffFile[];
  /** Lines left out to keep the page fast (the file list stays complete). */
  hiddenLines: number;
}

/** At most `maxLines` diff lines, whole hunks first; the rest counted. */
export function capDiff(files: DiffFile[], maxLines = 4000): ShownDiff {
  let left = maxLines;
  let hidden = 0;
  const shown = files.map((f) => ({
    ...f,
    hunks: f.hunks.map((h) => {
      const take = Math.max(0, Math.min(left, h.lines.length));
      left -= take;
      hidden += h.lines.length - take;
      return { ...h, lines: h.lines.slice(0, take) };
    }),
  }));
  return { files: shown, hiddenLines: hidden };
}
