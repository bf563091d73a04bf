// The Routing page: recent decisions, how they spread over the experts, and
// the corrections people made.

import type { LoggedDecision, Task } from "../types";
import { formatConfidence, formatWhen, methodLabel, shortId, strategyLabel, truncate } from "./format";
import { occurrences } from "./rows";
import { compareTime } from "./time";

const decisionBase = (d: LoggedDecision) => `${d.task_id}|${d.at}`;

export interface DecisionRow {
  key: string;
  at: string;
  time: string;
  taskId: string;
  taskShort: string;
  task: string;
  primary: string;
  parallel: string;
  confidence: string;
  strategy: string;
  method: string;
  needsConfirmation: boolean;
  isCorrection: boolean;
}

/** What the Routing page needs of a task: its text, and whether it waits for a person's confirmation. */
export type RoutedTask = Pick<Task, "id" | "description"> & { awaitingConfirmation?: boolean };

/** Newest first; the task's text when we know the task. */
/** `nowMs` decides whether a time needs its date (one not of today does). */
export function decisionRows(decisions: LoggedDecision[], tasks: RoutedTask[], nowMs: number = Date.now()): DecisionRow[] {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const nth = occurrences(decisions, decisionBase);
  return [...decisions]
    .map((d, i) => ({ d, i }))
    .sort((a, b) => compareTime(b.d.at, a.d.at) || b.i - a.i)
    .map(({ d, i }) => ({
      key: `${decisionBase(d)}|${nth[i]}`,
      at: d.at,
      time: formatWhen(d.at, nowMs),
      taskId: d.task_id,
      taskShort: shortId(d.task_id),
      task: truncate(byId.get(d.task_id)?.description ?? "", 70),
      primary: d.primary_expert,
      parallel: (d.parallel_experts ?? []).filter((e) => e !== d.primary_expert).join(", "),
      confidence: formatConfidence(d.confidence),
      strategy: strategyLabel(d.strategy),
      method: methodLabel(d.method),
      // What the engine does now, not what the router once suggested: only a
      // task that waits for a person's confirmation says so.
      needsConfirmation: !!d.needs_confirmation && !!byId.get(d.task_id)?.awaitingConfirmation,
      isCorrection: d.method === "person",
    }));
}

export interface Distribution {
  labels: string[];
  counts: number[];
}

/**
 * Decisions per primary expert (a person's correction counts for the expert
 * chosen), every known expert listed even at zero, most used first.
 */
export function distribution(decisions: LoggedDecision[], experts: string[] = []): Distribution {
  // The latest decision per task stands (a correction replaces the first routing).
  const latest = new Map<string, LoggedDecision>();
  for (const d of decisions) {
    const prev = latest.get(d.task_id);
    if (!prev || compareTime(d.at, prev.at) >= 0) latest.set(d.task_id, d);
  }
  const counts = new Map<string, number>(experts.map((e) => [e, 0]));
  for (const d of latest.values()) counts.set(d.primary_expert, (counts.get(d.primary_expert) ?? 0) + 1);
  const sorted = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return { labels: sorted.map(([e]) => e), counts: sorted.map(([, n]) => n) };
}

export interface CorrectionRow {
  key: string;
  time: string;
  taskId: string;
  taskShort: string;
  task: string;
  from: string;
  to: string;
}

/** Decisions a person made; "from" is the routing they replaced, if logged. */
export function corrections(
  decisions: LoggedDecision[],
  tasks: Pick<Task, "id" | "description">[],
  nowMs: number = Date.now(),
): CorrectionRow[] {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const ordered = [...decisions].sort((a, b) => compareTime(a.at, b.at));
  const nth = occurrences(ordered, decisionBase);
  const out: CorrectionRow[] = [];
  const lastBy = new Map<string, LoggedDecision>();
  ordered.forEach((d, i) => {
    if (d.method === "person") {
      out.push({
        key: `${decisionBase(d)}|${nth[i]}`,
        time: formatWhen(d.at, nowMs),
        taskId: d.task_id,
        taskShort: shortId(d.task_id),
        task: truncate(byId.get(d.task_id)?.description ?? "", 70),
        from: lastBy.get(d.task_id)?.primary_expert ?? "—",
        to: d.primary_expert,
      });
    }
    lastBy.set(d.task_id, d);
  });
  return out.reverse();
}
