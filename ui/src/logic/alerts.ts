// Which alerts the banner shows: warnings and criticals a person has not
// dismissed and that still hold, critical first, then newest first. A
// summary alert (several alerts coalesced by the engine) is shown as its
// members, each with its own severity and worker, so the banner's count and
// colour are those of what it lists; the Activity page keeps the summary.

import type { Alert, AlertKind, Task, Worker } from "../types";
import { isTerminalState, severityBadge, type Badge } from "./badges";
import { isLiveWorker, workerBucket } from "./fleet";
import { shortId } from "./format";
import { workerSubject } from "./workers";
import { alertKey } from "./store";
import { compareTime } from "./time";

const KIND_LABELS: Record<AlertKind, string> = {
  stalled: "Stalled",
  zombie: "Zombie",
  timeout_warning: "Time limit near",
  timed_out: "Timed out",
  budget: "Budget",
  failed: "Failed",
  circuit_breaker: "Circuit breaker",
  completed: "Completed",
  extended: "Extended",
  needs_input: "Needs you",
  usage_limit: "Usage limit",
};

export function alertKindLabel(kind: string): string {
  return KIND_LABELS[kind as AlertKind] ?? kind.replace(/_/g, " ");
}

export interface BannerItem {
  key: string;
  severity: string;
  badge: Badge;
  title: string;
  message: string;
  /** Whom it is about: the task's first words and the expert, the id second ("" when no worker). */
  subject: string;
  /** How many alerts this line stands for (1, or a summary's size). */
  count: number;
  at: string;
  workerId: string | null;
}

const RANK: Record<string, number> = { critical: 2, warning: 1 };

/** A short title: the kind, or "5 alerts" for a summary. */
export function alertTitle(a: Alert): string {
  const n = a.summarized?.length ?? 0;
  if (n > 0) {
    const kinds = [...new Set(a.summarized!.map((s) => alertKindLabel(s.kind).toLowerCase()))];
    return `${n} alerts · ${kinds.join(", ")}`;
  }
  return alertKindLabel(a.kind);
}

/**
 * Whether what the alert says is still so. A stall passes when the worker
 * is no longer stalled; a warning about time or budget, when the worker has
 * ended (an alert about how it ended follows if there is one). What the PM
 * did (killed, timed out, failed, paused an expert) stays until dismissed. A
 * worker the page does not know is taken to be as the alert says.
 */
export function stillHolds(a: Alert, workers: ReadonlyMap<string, Worker>): boolean {
  if (a.summarized?.length) return a.summarized.some((s) => stillHolds(s, workers));
  const w = a.worker_id ? workers.get(a.worker_id) : undefined;
  if (!w) return true;
  if (recovered(a, w)) return false;
  if (!passes(a)) return true;
  const ended = isTerminalState(w.state);
  return a.kind === "stalled" ? !ended && w.health === "stalled" : !ended;
}

/**
 * The worker got past what the alert is about: it completed since, or an
 * attempt after the alert's one is working. A kill, a crash or a timeout
 * followed by a restart that did its work is no longer news for the banner.
 */
function recovered(a: Alert, w: Worker): boolean {
  if (w.state === "completed") return true;
  if (a.attempt == null || w.attempt <= a.attempt || !isLiveWorker(w)) return false;
  return ["healthy", "starting", "verifying"].includes(workerBucket(w));
}

/** Alerts about a condition that can pass (see `stillHolds`). */
function passes(a: Alert): boolean {
  // A usage limit's wait passes when the worker works again or ends.
  return a.kind === "stalled" || a.kind === "timeout_warning" || a.kind === "usage_limit" || (a.kind === "budget" && a.severity === "warning");
}

/**
 * Keys of alerts that a newer one about the same condition of the same
 * worker replaces: a worker stalled twice shows its latest stall once.
 */
function superseded(alerts: Alert[]): Set<string> {
  const newest = new Map<string, Alert>();
  const out = new Set<string>();
  // A time limit extended after a warning about it: the warning spoke of
  // the old limit (the engine warns again as the new one nears).
  const extendedAt = new Map<string, string>();
  for (const a of alerts) {
    if (a.kind !== "extended" || !a.worker_id) continue;
    const seen = extendedAt.get(a.worker_id);
    if (!seen || compareTime(a.at, seen) > 0) extendedAt.set(a.worker_id, a.at);
  }
  for (const a of alerts) {
    const ext = a.kind === "timeout_warning" && a.worker_id ? extendedAt.get(a.worker_id) : undefined;
    if (ext && compareTime(ext, a.at) > 0) out.add(alertKey(a));
  }
  for (const a of alerts) {
    if (!a.worker_id || !passes(a) || a.summarized?.length) continue;
    const k = `${a.worker_id}|${a.kind}`;
    const seen = newest.get(k);
    if (!seen) newest.set(k, a);
    else if (compareTime(a.at, seen.at) > 0) {
      out.add(alertKey(seen));
      newest.set(k, a);
    } else out.add(alertKey(a));
  }
  return out;
}

/** The message without a leading repeat of the kind ("stalled: silent..." under "Stalled"). */
export function withoutKind(message: string, label: string): string {
  const prefix = `${label.toLowerCase()}: `;
  return message.toLowerCase().startsWith(prefix) ? message.slice(prefix.length) : message;
}

/** The alerts one by one: a summary gives its members. */
export function members(alerts: readonly Alert[]): Alert[] {
  return alerts.flatMap((a) => (a.summarized?.length ? a.summarized : [a]));
}

/** Whom an alert is about, for a person: the task's words and expert, the worker's id second. */
export function alertSubject(a: Alert, workers: ReadonlyMap<string, Worker>, tasks: ReadonlyMap<string, Task>): string {
  if (!a.worker_id) return "";
  const w = workers.get(a.worker_id);
  const subject = workerSubject(w, w ? tasks.get(w.task_id) : a.task_id ? tasks.get(a.task_id) : undefined);
  return subject ? `${subject} · ${shortId(a.worker_id)}` : shortId(a.worker_id);
}

export function bannerItems(
  all: Alert[],
  dismissed: ReadonlySet<string>,
  workers: ReadonlyMap<string, Worker> = new Map(),
  tasks: ReadonlyMap<string, Task> = new Map(),
): BannerItem[] {
  const alerts = members(all);
  const old = superseded(alerts);
  return alerts
    .filter((a) => (RANK[a.severity] ?? 0) > 0 && !dismissed.has(alertKey(a)) && !old.has(alertKey(a)) && stillHolds(a, workers))
    .sort((a, b) => (RANK[b.severity] ?? 0) - (RANK[a.severity] ?? 0) || compareTime(b.at, a.at))
    .map((a) => ({
      key: alertKey(a),
      severity: a.severity,
      badge: severityBadge(a.severity),
      title: alertTitle(a),
      message: withoutKind(a.message, alertKindLabel(a.kind)),
      subject: alertSubject(a, workers, tasks),
      count: Math.max(1, a.summarized?.length ?? 0),
      at: a.at,
      workerId: a.worker_id ?? null,
    }));
}

export interface BannerView {
  visible: boolean;
  /** The lines shown (at most `max`). */
  shown: BannerItem[];
  /** How many more are hidden behind "and N more". */
  more: number;
  /** The banner's colour: the worst severity shown. */
  severity: "critical" | "warning" | null;
}

export function bannerView(
  alerts: Alert[],
  dismissed: ReadonlySet<string>,
  workers: ReadonlyMap<string, Worker> = new Map(),
  max = 3,
  tasks: ReadonlyMap<string, Task> = new Map(),
): BannerView {
  const items = bannerItems(alerts, dismissed, workers, tasks);
  const shown = items.slice(0, max);
  return {
    visible: shown.length > 0,
    shown,
    more: items.length - shown.length,
    severity: shown.length === 0 ? null : shown[0].severity === "critical" ? "critical" : "warning",
  };
}

/** Keys to dismiss for "dismiss all": every alert the banner would show. */
export function dismissAllKeys(alerts: Alert[], dismissed: ReadonlySet<string>): string[] {
  // Alerts that no longer hold are dismissed too, so they cannot come back.
  return members(alerts)
    .filter((a) => (RANK[a.severity] ?? 0) > 0 && !dismissed.has(alertKey(a)))
    .map(alertKey);
}
