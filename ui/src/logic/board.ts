// The board: tasks in four columns (Queued, Running, Needs you, Done),
// filtered, and grouped by project (the repository the work started in,
// else the task's folder). Pure: no DOM.

import type { Task, TaskStatus } from "../types";
import { taskExperts } from "./tasks";

export type BoardColumnKey = "queued" | "running" | "needs_you" | "done";

/** Every task status has exactly one column (the compiler checks it). */
export const BOARD_COLUMN: Record<TaskStatus, BoardColumnKey> = {
  queued: "queued",
  routed: "queued",
  running: "running",
  // Held before any worker starts (a circuit breaker, a usage limit).
  waiting: "queued",
  needs_input: "needs_you",
  needs_attention: "needs_you",
  awaiting_confirmation: "needs_you",
  // Waits for the tasks it depends on; a dependency that ends badly sends
  // it to needs_attention, which does need a person.
  blocked: "queued",
  completed: "done",
  failed: "done",
  cancelled: "done",
};

export const BOARD_COLUMNS: { key: BoardColumnKey; label: string; hint: string }[] = [
  { key: "queued", label: "Queued", hint: "waiting for a worker or for the tasks it depends on, or held (the reason says why)" },
  { key: "running", label: "Running", hint: "a worker is on it, or restarts soon" },
  { key: "needs_you", label: "Needs you", hint: "input, attention or confirmation" },
  { key: "done", label: "Done", hint: "completed, failed or cancelled" },
];

export const NO_PROJECT = "(no folder)";

/** A task's project: the repository its work started in, else its folder. */
export function projectOf(t: Pick<Task, "project" | "workdir">): string {
  return t.project || t.workdir || NO_PROJECT;
}

/** The last part of a path, for a short label ("/src/app/" -> "app"). */
export function projectName(path: string): string {
  if (path === NO_PROJECT) return path;
  const parts = path.split(/[\\/]+/).filter(Boolean);
  return parts.length ? parts[parts.length - 1] : path;
}

/**
 * Names for projects that tell them apart: each its folder's name, and
 * where two folders share a name, as many parent folders as make each
 * one different ("a/app", "b/app").
 */
export function projectNames(paths: Iterable<string>): Map<string, string> {
  const all = [...new Set(paths)];
  const parts = new Map(all.map((p) => [p, p === NO_PROJECT ? [p] : p.split(/[\\/]+/).filter(Boolean)]));
  const out = new Map<string, string>();
  const nameOf = (p: string, depth: number) => {
    const ps = parts.get(p)!;
    return ps.length ? ps.slice(Math.max(0, ps.length - depth)).join("/") : p;
  };
  let left = all;
  for (let depth = 1; left.length > 0; depth++) {
    const named = new Map<string, string[]>();
    for (const p of left) {
      const n = nameOf(p, depth);
      named.set(n, [...(named.get(n) ?? []), p]);
    }
    const next: string[] = [];
    for (const [n, ps] of named) {
      // Unique, or no folder left to add: the whole path says it.
      if (ps.length === 1) out.set(ps[0], n);
      else for (const p of ps) (depth >= parts.get(p)!.length ? out.set(p, p) : next.push(p));
    }
    left = next;
  }
  return out;
}

export interface BoardFilter {
  /** Words that must all appear in the description, id, experts or project. */
  text: string;
  /** An expert, or "" for all. */
  expert: string;
  /** A project path, or "" for all. */
  project: string;
}

export const EMPTY_FILTER: BoardFilter = { text: "", expert: "", project: "" };

export function matchesFilter(t: Task, f: BoardFilter): boolean {
  const experts = taskExperts(t);
  if (f.expert && !experts.includes(f.expert)) return false;
  const project = projectOf(t);
  if (f.project && project !== f.project) return false;
  const words = f.text.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return true;
  const hay = [t.description, t.id, project, ...experts].join(" ").toLowerCase();
  return words.every((w) => hay.includes(w));
}

export interface BoardGroup {
  project: string;
  name: string;
  tasks: Task[];
}

export interface BoardColumn {
  key: BoardColumnKey;
  label: string;
  hint: string;
  /** Every task of the column that passes the filter. */
  count: number;
  /** Shown tasks; fewer than `count` when the column is capped. */
  shown: number;
  groups: BoardGroup[];
}

/**
 * The board's columns. Within a column, projects are in name order and
 * tasks newest first; `cap` bounds the tasks shown per column (the count
 * stays the true total).
 */
export function buildBoard(tasks: Task[], filter: BoardFilter = EMPTY_FILTER, cap = 200): BoardColumn[] {
  const byColumn = new Map<BoardColumnKey, Task[]>(BOARD_COLUMNS.map((c) => [c.key, []]));
  for (const t of tasks) {
    if (!matchesFilter(t, filter)) continue;
    byColumn.get(BOARD_COLUMN[t.status] ?? "queued")!.push(t);
  }
  const names = projectNames(tasks.map(projectOf));
  return BOARD_COLUMNS.map((c) => {
    const all = byColumn.get(c.key)!.slice().sort((a, b) => b.created_at.localeCompare(a.created_at));
    const shown = all.slice(0, cap);
    const groups = new Map<string, Task[]>();
    for (const t of shown) {
      const p = projectOf(t);
      if (!groups.has(p)) groups.set(p, []);
      groups.get(p)!.push(t);
    }
    return {
      ...c,
      count: all.length,
      shown: shown.length,
      groups: [...groups.entries()]
        .map(([project, ts]) => ({ project, name: names.get(project) ?? projectName(project), tasks: ts }))
        .sort((a, b) => a.name.localeCompare(b.name) || a.project.localeCompare(b.project)),
    };
  });
}

/** The filter's choices: every expert and project among the tasks, sorted. */
export function filterChoices(tasks: Task[]): { experts: string[]; projects: { path: string; name: string }[] } {
  const experts = new Set<string>();
  const projects = new Set<string>();
  for (const t of tasks) {
    taskExperts(t).forEach((e) => experts.add(e));
    projects.add(projectOf(t));
  }
  const names = projectNames(projects);
  return {
    experts: [...experts].sort(),
    projects: [...projects].sort().map((path) => ({ path, name: names.get(path) ?? projectName(path) })),
  };
}
