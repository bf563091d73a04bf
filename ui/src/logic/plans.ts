// The plan view: a plan's tasks as an indented list (each task one step
// deeper than the deepest task it waits for), with status badges, what each
// waits on, and the plan's counts, cost and time as the engine reports them.
// Also the editable text of a waiting plan, and reading it back.

import type { PlanSpec, PlanView, PlanViewTask, Task } from "../types";
import { taskStatusBadge, type Badge } from "./badges";
import { formatDuration, shortId, truncate } from "./format";
import type { TaskCost } from "./tasks";
import { costLabel } from "./workers";

export interface PlanTaskRow {
  name: string;
  taskId: string;
  shortId: string;
  text: string;
  badge: Badge;
  /** 0 for a task that waits for nothing, else one more than its deepest dependency. */
  depth: number;
  indentStyle: string;
  after: string;
  /** "waiting for a, b" while it is blocked, else "". */
  waitingFor: string;
  reason: string;
  cost: string;
}

export interface PlanCard {
  id: string;
  shortId: string;
  goal: string;
  goalTask: string;
  /** The goal task's own status and reason (a goal the coordinator split), when it is known. */
  goalBadge: Badge | null;
  /** "Goal: <status>" ("" when unknown) and its badge classes. */
  goalLabel: string;
  goalCls: string;
  goalReason: string;
  awaiting: boolean;
  /** The engine's counts, e.g. "2 completed · 1 blocked". */
  counts: string;
  cost: string;
  elapsed: string;
  tasks: PlanTaskRow[];
}

/** Depth of each task in dependency order (the engine's order puts every task after those it waits for). */
export function planDepths(tasks: Pick<PlanViewTask, "name" | "after">[]): Map<string, number> {
  const depth = new Map<string, number>();
  for (const t of tasks) {
    const d = t.after.reduce((m, a) => Math.max(m, (depth.get(a) ?? -1) + 1), 0);
    depth.set(t.name, d);
  }
  return depth;
}

/** Counts in a fixed order, so the text does not jump about. */
const COUNT_ORDER = [
  "awaiting_confirmation",
  "running",
  "routed",
  "waiting",
  "blocked",
  "needs_input",
  "needs_attention",
  "failed",
  "cancelled",
  "completed",
];

export function countsText(counts: Record<string, number>): string {
  const keys = Object.keys(counts).sort((a, b) => {
    const ia = COUNT_ORDER.indexOf(a);
    const ib = COUNT_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  return keys
    .filter((k) => counts[k] > 0)
    .map((k) => `${counts[k]} ${taskStatusBadge(k).label.toLowerCase()}`)
    .join(" · ");
}

/**
 * `costs`: each task's cost as its workers count it (`costsByTask`), so a
 * running plan's figures move as its workers do; a task missing there keeps
 * the plan view's figure.
 */
export function planCard(p: PlanView, goal?: Task, costs: ReadonlyMap<string, TaskCost> = new Map()): PlanCard {
  const costOf = (t: Task): TaskCost => costs.get(t.id) ?? { cost_usd: t.cost_usd, cost_estimated: !!t.cost_estimated };
  // The plan view's figure, moved by what its tasks' workers add since.
  const total = p.tasks.reduce(
    (sum, t) => {
      const c = costOf(t.task);
      return { cost_usd: sum.cost_usd + c.cost_usd - t.task.cost_usd, cost_estimated: sum.cost_estimated || c.cost_estimated };
    },
    { cost_usd: p.cost_usd, cost_estimated: !!p.cost_estimated },
  );
  const depth = planDepths(p.tasks);
  const known = goal && goal.id === p.goal_task ? goal : undefined;
  return {
    id: p.id,
    shortId: shortId(p.id),
    goal: p.goal,
    goalTask: p.goal_task ?? "",
    goalBadge: known ? taskStatusBadge(known.status) : null,
    goalLabel: known ? `Goal: ${taskStatusBadge(known.status).label}` : "",
    goalCls: known ? taskStatusBadge(known.status).cls : "",
    goalReason: known?.reason ?? "",
    awaiting: p.awaiting_confirmation,
    counts: countsText(p.counts),
    cost: costLabel(total),
    elapsed: formatDuration(p.elapsed_secs),
    tasks: p.tasks.map((t) => {
      const d = depth.get(t.name) ?? 0;
      return {
        name: t.name,
        taskId: t.task.id,
        shortId: shortId(t.task.id),
        text: truncate(t.task.description, 120),
        badge: taskStatusBadge(t.task.status),
        depth: d,
        indentStyle: `padding-left: ${d * 1.5}rem`,
        after: t.after.join(", "),
        waitingFor: t.task.status === "blocked" && t.blocked_on.length ? `waiting for ${t.blocked_on.join(", ")}` : "",
        reason: t.task.status === "blocked" ? "" : (t.task.reason ?? ""),
        cost: costLabel(costOf(t.task)),
      };
    }),
  };
}

/**
 * A waiting plan as a person edits it: the schema of `cortex plan submit`.
 * An expert is kept only where the plan named it (a routed task goes back
 * to the router), and every check is kept.
 */
export function planSpecOf(p: PlanView): PlanSpec {
  return {
    goal: p.goal,
    tasks: p.tasks.map((t) => {
      const spec: PlanSpec["tasks"][number] = { name: t.name, description: t.task.description };
      if (t.task.routing?.method === "person" && t.task.expert) spec.expert = t.task.expert;
      if (t.task.type) spec.type = t.task.type;
      if (t.task.priority && t.task.priority !== "medium") spec.priority = t.task.priority;
      if (t.task.verify) spec.verify = t.task.verify;
      if (t.after.length) spec.after = [...t.after];
      return spec;
    }),
  };
}

export function planSpecText(p: PlanView): string {
  return JSON.stringify(planSpecOf(p), null, 2);
}

/** The edited text as a plan, or why it is not one (the engine checks the rest). */
export function parsePlanSpec(text: string): { spec: PlanSpec } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return { error: `not JSON: ${(e as Error).message}` };
  }
  const v = value as Partial<PlanSpec> | null;
  if (!v || typeof v !== "object" || Array.isArray(v)) return { error: 'expected an object {"goal", "tasks": [...]}' };
  if (typeof v.goal !== "string") return { error: "goal: expected text" };
  if (!Array.isArray(v.tasks)) return { error: "tasks: expected a list" };
  return { spec: v as PlanSpec };
}
