// Task rows for the queue.

import type { Task, Worker } from "../types";
import { isLiveTaskStatus, taskStatusBadge, type Badge } from "./badges";
import { costLabel } from "./workers";
import { formatConfidence, formatRelative, reasonBeside, shortId, strategyLabel, truncate } from "./format";

export interface TaskRow {
  id: string;
  shortId: string;
  text: string;
  fullText: string;
  badge: Badge;
  priority: string;
  priorityCls: string;
  type: string;
  experts: string;
  confidence: string;
  strategy: string;
  method: string;
  needsConfirmation: boolean;
  created: string;
  cost: string;
  reason: string;
  canCancel: boolean;
}

const PRIORITY_CLS: Record<string, string> = {
  critical: "text-red-700 font-semibold",
  high: "text-orange-700 font-medium",
  medium: "text-slate-700",
  low: "text-slate-500",
};

/** The experts of a task: its assignments, else its routing. */
export function taskExperts(t: Task): string[] {
  if (t.experts?.length) return t.experts;
  if (t.assignments?.length) return [...new Set(t.assignments.map((a) => a.expert))];
  if (t.expert) return [t.expert];
  if (t.routing?.primary_expert) return [t.routing.primary_expert];
  return [];
}

/** What a task cost so far, and whether part of it is an estimate. */
export interface TaskCost {
  cost_usd: number;
  cost_estimated: boolean;
}

/**
 * Each task's cost as its workers count it, running attempts' figures so far
 * included (workers update live; a task's own figure only when it changes
 * state). The page holds every worker, so the sums are whole.
 */
export function costsByTask(workers: readonly Worker[]): Map<string, TaskCost> {
  const out = new Map<string, TaskCost>();
  for (const w of workers) {
    const c = out.get(w.task_id) ?? { cost_usd: 0, cost_estimated: false };
    c.cost_usd += w.cost_usd;
    c.cost_estimated ||= !!w.cost_estimated;
    out.set(w.task_id, c);
  }
  return out;
}

/**
 * The costs a list of tasks shows: `costsByTask` taken again only when the
 * list's clock moves (the tables' 5-second clock, which moves their
 * relative times too) or the tasks change, not with every batch of engine
 * events that moves a running worker's figures: each change shown costs
 * WebKit a frame, and 50 workers' costs moving with every batch doubled the
 * page's CPU. The task and worker pages show the figures as they move.
 */
export function listedCosts(): (clock: number, tasks: readonly Task[], workers: readonly Worker[]) => Map<string, TaskCost> {
  let taken: { clock: number; tasks: readonly Task[]; costs: Map<string, TaskCost> } | null = null;
  return (clock, tasks, workers) => {
    if (!taken || taken.clock !== clock || taken.tasks !== tasks) taken = { clock, tasks, costs: costsByTask(workers) };
    return taken.costs;
  };
}

/** `cost`: the task's workers' (costsByTask); without one, the task's own figure. */
export function taskRow(t: Task, nowMs: number, cost?: TaskCost): TaskRow {
  const experts = taskExperts(t);
  return {
    id: t.id,
    shortId: shortId(t.id),
    text: truncate(t.description, 90),
    fullText: t.description,
    badge: taskStatusBadge(t.status),
    priority: t.priority,
    priorityCls: PRIORITY_CLS[t.priority] ?? "text-slate-700",
    type: t.type ?? "",
    experts: experts.length ? experts.join(", ") : "—",
    confidence: t.routing ? formatConfidence(t.routing.confidence) : "—",
    strategy: t.routing ? strategyLabel(t.routing.strategy) : "—",
    method: t.routing?.method ?? "",
    // The engine's status says it; a routing that asked for confirmation
    // once is history after the task was confirmed or ran.
    needsConfirmation: t.status === "awaiting_confirmation",
    created: formatRelative(t.created_at, nowMs),
    cost: costLabel(cost ?? { cost_usd: t.cost_usd, cost_estimated: !!t.cost_estimated }),
    reason: reasonBeside(t.reason, t.status),
    canCancel: isLiveTaskStatus(t.status),
  };
}

export type TaskFilter = "all" | "live" | "attention" | "ended";

export const TASK_FILTERS: { id: TaskFilter; label: string }[] = [
  { id: "all", label: "All" },
  { id: "live", label: "Live" },
  { id: "attention", label: "Needs a person" },
  { id: "ended", label: "Ended" },
];

export function filterTasks(tasks: Task[], filter: TaskFilter): Task[] {
  switch (filter) {
    case "live":
      return tasks.filter((t) => isLiveTaskStatus(t.status));
    case "attention":
      return tasks.filter((t) => ["needs_attention", "needs_input", "awaiting_confirmation"].includes(t.status));
    case "ended":
      return tasks.filter((t) => !isLiveTaskStatus(t.status));
    default:
      return tasks;
  }
}

/**
 * The folder a new task's form starts with: the newest task's own folder
 * (a worktree task's is the repository it branched from), "" with none.
 * Cortex never runs an agent without a folder named.
 */
export function lastWorkdir(tasks: readonly Pick<Task, "workdir" | "created_at">[]): string {
  let best: { at: string; dir: string } | null = null;
  for (const t of tasks) {
    if (t.workdir && (!best || t.created_at > best.at)) best = { at: t.created_at, dir: t.workdir };
  }
  return best?.dir ?? "";
}

