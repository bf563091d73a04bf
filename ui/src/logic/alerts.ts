// Which alerts the banner shows: warnings and criticals a person has not
// dismissed and that still hold, critical first, then newest first. A
// summary alert (several alerts coalesced by the engine) shows how many it
// stands for.

import type { Alert, AlertKind, Worker } from "../types";
import { isTerminalState, severityBadge, type Badge } from "./badges";
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
  if (!w || !passes(a)) return true;
  const ended = isTerminalState(w.state);
  return a.kind === "stalled" ? !ended && w.health === "stalled" : !ended;
}

/** Alerts about a condition that can pass (see `stillHolds`). */
function passes(a: Alert): boolean {
  return a.kind === "stalled" || a.kind === "timeout_warning" || (a.kind === "budget" && a.severity === "warning");
}

/**
 * Keys of alerts that a newer one about the same condition of the same
 * worker replaces: a worker stalled twice shows its latest stall once.
 */
function superseded(alerts: Alert[]): Set<string> {
  const newest = new Map<string, Alert>();
  const out = new Set<string>();
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

export function bannerItems(
  alerts: Alert[],
  dismissed: ReadonlySet<string>,
  workers: ReadonlyMap<string, Worker> = new Map(),
): BannerItem[] {
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
): BannerView {
  const items = bannerItems(alerts, dismissed, workers);
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
  return alerts.filter((a) => (RANK[a.severity] ?? 0) > 0 && !dismissed.has(alertKey(a))).map(alertKey);
}
