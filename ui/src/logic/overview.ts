// Overview numbers from Status: the stat cards and the values the charts follow.

import type { Status } from "../types";
import { waitingHint, waitingTotal, type FleetCounts } from "./fleet";
import { formatMoney, formatPercent, formatTokens } from "./format";
import { isTerminalState } from "./badges";

export interface StatCard {
  id: string;
  label: string;
  value: number;
  /** Classes for the number (coloured when it needs attention). */
  valueCls: string;
  hint: string;
}

const count = (m: Record<string, number> | undefined, k: string) => (m && Number.isFinite(m[k]) ? m[k] : 0);

/**
 * What the Running card's number holds besides working agents, and what
 * is about to join it: `starting` of the running ones have not shown a sign
 * of life yet; `spawning` more are being started and not counted.
 */
function runningHint(starting: number, spawning: number, scheduled: number, queued: number): string {
  const among = [starting ? `${starting} starting` : "", scheduled ? `${scheduled} in the cluster's queue` : ""].filter(Boolean);
  const parts = [
    among.length ? `of them ${among.join(", ")}` : "",
    spawning ? `${spawning} more starting` : "",
    queued ? `${queued} task${queued === 1 ? "" : "s"} waiting to start` : "",
  ].filter(Boolean);
  return parts.length ? parts.join(" · ") : "workers";
}

/** The cards, from the one count of the workers (logic/fleet.ts). */
/** `queued`: tasks not started yet (`queuedTasks`), said beside the running workers. */
export function statCards(c: FleetCounts, queued = 0): StatCard[] {
  const attention = (n: number, cls: string) => (n > 0 ? cls : "text-slate-900");
  const { late, stalled, zombie, starting, scheduled, healthy, unreachable } = c.buckets;
  const waiting = waitingTotal(c.waiting);
  // Shown only while a cluster does not answer: most fleets never see it.
  const cutOff: StatCard[] = unreachable
    ? [{ id: "unreachable", label: "Unreachable", value: unreachable, valueCls: "text-amber-600", hint: "cluster not answering, not stopped" }]
    : [];
  return [
    { id: "running", label: "Running", value: c.running, valueCls: "text-slate-900", hint: runningHint(Math.max(0, starting - c.spawning), c.spawning, scheduled, queued) },
    { id: "healthy", label: "Healthy", value: healthy, valueCls: "text-emerald-700", hint: "signs of life" },
    { id: "late", label: "Late", value: late, valueCls: attention(late, "text-amber-600"), hint: "silent, no CPU" },
    { id: "stalled", label: "Stalled", value: stalled, valueCls: attention(stalled, "text-orange-600"), hint: "alerted" },
    { id: "zombie", label: "Zombie", value: zombie, valueCls: attention(zombie, "text-red-600"), hint: "hung, being killed" },
    { id: "waiting", label: "Waiting", value: waiting, valueCls: "text-sky-700", hint: waitingHint(c.waiting) },
    ...cutOff,
  ];
}

export interface Totals {
  successRate: string;
  tokensToday: string;
  /** "≈ $1.50" when part of it is an estimate. */
  costToday: string;
  /** Says when and why the cost is an estimate; empty otherwise. */
  costNote: string;
  queued: number;
  paused: boolean;
}

/** Tasks not started yet: queued or routed, from the status counts. */
export function queuedTasks(s: Status | null): number {
  return count(s?.tasks, "queued") + count(s?.tasks, "routed");
}

export function totals(s: Status | null): Totals {
  const queued = queuedTasks(s);
  return {
    successRate: formatPercent(s?.success_rate ?? null),
    tokensToday: formatTokens(s?.tokens_today ?? 0),
    costToday: `${s?.cost_today_estimated ? "≈ " : ""}${formatMoney(s?.cost_today_usd ?? 0)}`,
    costNote: s?.cost_today_estimated
      ? "includes Cortex's estimate, from token counts, for attempts that ended without the agent's own figure"
      : "",
    queued,
    paused: !!s?.paused,
  };
}

/** Workers not yet ended, from the status counts by state. */
export function activeWorkers(s: Status): number {
  return Object.entries(s.workers ?? {})
    .filter(([state]) => !isTerminalState(state))
    .reduce((n, [, c]) => n + (Number.isFinite(c) ? c : 0), 0);
}
