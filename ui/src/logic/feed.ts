// The Activity feed (alerts and process-manager lines merged, newest first)
// and one worker's health timeline.

import type { ActivityLine, Alert, Task, Worker } from "../types";
import { healthBadge, isTerminalState, severityBadge, TONE_CLASSES, TONE_DOTS, type Tone } from "./badges";
import { workerSubject } from "./workers";
import { alertKindLabel, alertTitle, withoutKind } from "./alerts";
import { formatClock, formatDateTime } from "./format";
import { occurrences } from "./rows";
import { alertKey } from "./store";
import { compareTime, parseTime } from "./time";

export interface FeedItem {
  key: string;
  at: string;
  time: string;
  when: string;
  source: "alert" | "activity";
  tone: Tone;
  cls: string;
  dot: string;
  label: string;
  title: string;
  message: string;
  workerId: string | null;
  taskId: string | null;
  attempt: number | null;
}

const EVENT_LABELS: Record<string, [string, Tone]> = {
  health: ["health", "blue"],
  alert: ["alert", "amber"],
  kill: ["kill", "red"],
  kill_and_restart: ["kill + restart", "orange"],
  extend: ["extend", "violet"],
  circuit_breaker_opened: ["circuit breaker", "red"],
  restart_held: ["restart held", "amber"],
  settings_applied: ["settings read", "blue"],
  settings_refused: ["settings refused", "red"],
  merged: ["merged", "green"],
  worktree_removed: ["worktree removed", "grey"],
};

const lineBase = (l: ActivityLine) => `${l.at}|${l.event}|${l.worker_id ?? ""}|${l.attempt ?? ""}`;

/** `index`: the line's position among identical lines (occurrences), part of its key. */
export function activityItem(l: ActivityLine, index = 0): FeedItem {
  let [label, tone] = EVENT_LABELS[l.event] ?? [l.event.replace(/_/g, " "), "grey" as Tone];
  let title = label;
  if (l.event === "health" && (l.from || l.to)) {
    // The same health both sides: what it waits for changed (a hold placed
    // on a queued job), not its health.
    title = l.from && l.from === l.to ? `still ${l.to}: its reason changed` : `${l.from ?? "?"} → ${l.to ?? "?"}`;
    tone = healthBadge(l.to).tone;
  }
  return {
    key: `a|${lineBase(l)}|${index}`,
    at: l.at,
    time: formatClock(l.at),
    when: formatDateTime(l.at),
    source: "activity",
    tone,
    cls: TONE_CLASSES[tone],
    dot: TONE_DOTS[tone],
    label,
    title,
    message: l.message,
    workerId: l.worker_id,
    taskId: l.task_id,
    attempt: l.attempt,
  };
}

export function alertItem(a: Alert): FeedItem {
  const b = severityBadge(a.severity);
  return {
    key: `x|${alertKey(a)}`,
    at: a.at,
    time: formatClock(a.at),
    when: formatDateTime(a.at),
    source: "alert",
    tone: b.tone,
    cls: b.cls,
    dot: TONE_DOTS[b.tone],
    label: b.label.toLowerCase(),
    title: alertTitle(a),
    message: withoutKind(a.message, alertKindLabel(a.kind)),
    workerId: a.worker_id ?? null,
    taskId: a.task_id ?? null,
    attempt: a.attempt ?? null,
  };
}

/** An "alert" line in pm-activity.jsonl that repeats an alert we already hold. */
function repeatsAlert(l: ActivityLine, alerts: Alert[]): boolean {
  if (l.event !== "alert") return false;
  const t = parseTime(l.at);
  return alerts.some(
    (a) =>
      (a.worker_id ?? null) === (l.worker_id ?? null) &&
      a.message === l.message &&
      Math.abs(parseTime(a.at) - t) <= 5_000,
  );
}

export function mergeFeed(alerts: Alert[], lines: ActivityLine[], limit = 500): FeedItem[] {
  const nth = occurrences(lines, lineBase);
  const items = [
    ...alerts.map(alertItem),
    ...lines.map((l, i) => ({ l, i })).filter(({ l }) => !repeatsAlert(l, alerts)).map(({ l, i }) => activityItem(l, nth[i])),
  ];
  items.sort((a, b) => compareTime(b.at, a.at) || (a.source === b.source ? 0 : a.source === "alert" ? -1 : 1));
  return items.slice(0, limit);
}

/** How an ended worker ended, as the last step of its timeline (null while it is live). */
export function outcomeItem(w: Worker): FeedItem | null {
  if (!isTerminalState(w.state)) return null;
  const b = healthBadge(w.state);
  const at = w.last_activity_at ?? w.started_at ?? w.created_at;
  return {
    key: `o|${w.id}|${w.attempt}|${w.state}`,
    at,
    time: formatClock(at),
    when: formatDateTime(at),
    source: "activity",
    tone: b.tone,
    cls: b.cls,
    dot: TONE_DOTS[b.tone],
    label: "outcome",
    title: b.label,
    message: w.reason ?? "",
    workerId: w.id,
    taskId: w.task_id,
    attempt: w.attempt,
  };
}

/** Alert kinds that report how an attempt ended. */
const ENDING_ALERTS = new Set<Alert["kind"]>(["completed", "failed", "timed_out"]);

/**
 * One worker's transitions, interventions and alerts, newest first, ending
 * (when `worker` has ended) with how it ended: a kill and restart followed
 * by a completion reads to the completion, and an earlier attempt that
 * completed before a reply shows as completed too. The alert for the last
 * attempt's end is the outcome itself, shown once.
 */
export function workerTimeline(lines: ActivityLine[], workerId: string, worker?: Worker, alerts: Alert[] = []): FeedItem[] {
  const end = worker && worker.id === workerId ? outcomeItem(worker) : null;
  const mine = alerts.filter(
    (a) => a.worker_id === workerId && !(end && ENDING_ALERTS.has(a.kind) && (a.attempt ?? end.attempt) === end.attempt),
  );
  const items = mergeFeed(
    mine,
    lines.filter((l) => l.worker_id === workerId),
    Number.POSITIVE_INFINITY,
  );
  if (end) items.push(end);
  // The outcome is the last step even when its time ties the line before it.
  return items.sort((a, b) => compareTime(b.at, a.at) || (a.label === "outcome" ? -1 : b.label === "outcome" ? 1 : 0));
}

/** Whom a feed item is about, for a person: the task's words and expert, the id second. */
export function feedSubject(item: Pick<FeedItem, "workerId" | "taskId">, workers: ReadonlyMap<string, Worker>, tasks: ReadonlyMap<string, Task>): string {
  if (!item.workerId) return "";
  const w = workers.get(item.workerId);
  return workerSubject(w, tasks.get(w?.task_id ?? item.taskId ?? ""));
}

export type FeedFilter = "all" | "alerts" | "health" | "interventions";

export const FEED_FILTERS: { id: FeedFilter; label: string }[] = [
  { id: "all", label: "All" },
  { id: "alerts", label: "Alerts" },
  { id: "health", label: "Health" },
  { id: "interventions", label: "Interventions" },
];

const INTERVENTIONS = ["kill", "kill + restart", "extend", "circuit breaker"];

/** The feed items a filter of the Activity page keeps. */
export function filterFeed(items: FeedItem[], filter: FeedFilter): FeedItem[] {
  if (filter === "alerts") return items.filter((i) => i.source === "alert" || i.label === "alert");
  if (filter === "health") return items.filter((i) => i.label === "health");
  if (filter === "interventions") return items.filter((i) => INTERVENTIONS.includes(i.label));
  return items;
}
