// Which alerts the banner shows: warnings and criticals a person has not
// dismissed, critical first, then newest first. A summary alert (several
// alerts coalesced by the engine) shows how many it stands for.

import type { Alert, AlertKind } from "../types";
import { severityBadge, type Badge } from "./badges";
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

export function bannerItems(alerts: Alert[], dismissed: ReadonlySet<string>): BannerItem[] {
  return alerts
    .filter((a) => (RANK[a.severity] ?? 0) > 0 && !dismissed.has(alertKey(a)))
    .sort((a, b) => (RANK[b.severity] ?? 0) - (RANK[a.severity] ?? 0) || compareTime(b.at, a.at))
    .map((a) => ({
      key: alertKey(a),
      severity: a.severity,
      badge: severityBadge(a.severity),
      title: alertTitle(a),
      message: a.message,
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

export function bannerView(alerts: Alert[], dismissed: ReadonlySet<string>, max = 3): BannerView {
  const items = bannerItems(alerts, dismissed);
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
  return bannerItems(alerts, dismissed).map((i) => i.key);
}
