// The Usage page: the journal's per-day buckets (engine `usage_by_day`)
// turned into a daily series per expert, model or project, and totals.
// Pure: no DOM, no clock.

import type { UsageReport, UsageRow, Worker } from "../types";
import { projectName, projectNames } from "./board";

export type UsageDimension = "expert" | "model" | "project";

/**
 * The label of a row's group along a dimension; `projects` names each
 * project apart from others of the same folder name (`projectNames`).
 */
export function groupOf(row: UsageRow, by: UsageDimension, projects?: ReadonlyMap<string, string>): string {
  if (by === "expert") return row.expert;
  if (by === "model") return row.model ?? "not reported";
  return projects?.get(row.project) ?? projectName(row.project);
}

// Input and output, as the overview, the worker rows and the CLI count
// tokens (cache reads are counted apart by the agent, and cost little).
const tokensOf = (r: UsageRow) => r.tokens.input + r.tokens.output;

/** Every day from `since` to `until` inclusive, `YYYY-MM-DD`. */
export function daysBetween(since: string, until: string): string[] {
  const out: string[] = [];
  const end = Date.parse(`${until}T00:00:00Z`);
  for (let t = Date.parse(`${since}T00:00:00Z`); t <= end && out.length < 400; t += 86_400_000) {
    out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
}

export interface UsageTotal {
  group: string;
  costUsd: number;
  tokens: number;
  attempts: number;
  /** Some of the cost is Cortex's estimate (attempts that ended without the agent's figure). */
  estimated: boolean;
}

export interface UsageSeries {
  group: string;
  /** One value per day of `days`. */
  cost: number[];
  tokens: number[];
}

export interface UsageView {
  days: string[];
  /** Groups by cost, largest first; beyond `top`, the rest are summed as "other". */
  series: UsageSeries[];
  totals: UsageTotal[];
  total: UsageTotal;
  /** Cost per day over all groups. */
  dailyCost: number[];
}

export const OTHER = "other";

export function usageView(report: UsageReport, by: UsageDimension, top = 6): UsageView {
  const days = daysBetween(report.since, report.until);
  const index = new Map(days.map((d, i) => [d, i]));
  const totals = new Map<string, UsageTotal>();
  const projects = projectNames(report.rows.map((r) => r.project));
  for (const r of report.rows) {
    const g = groupOf(r, by, projects);
    const t = totals.get(g) ?? { group: g, costUsd: 0, tokens: 0, attempts: 0, estimated: false };
    t.costUsd += r.cost_usd;
    t.tokens += tokensOf(r);
    t.attempts += r.attempts;
    t.estimated ||= r.cost_estimated;
    totals.set(g, t);
  }
  const ranked = [...totals.values()].sort((a, b) => b.costUsd - a.costUsd || b.tokens - a.tokens || a.group.localeCompare(b.group));
  const kept = new Set(ranked.slice(0, ranked.length > top ? top - 1 : top).map((t) => t.group));
  const series = new Map<string, UsageSeries>();
  const seriesOf = (g: string) => {
    let s = series.get(g);
    if (!s) {
      s = { group: g, cost: days.map(() => 0), tokens: days.map(() => 0) };
      series.set(g, s);
    }
    return s;
  };
  ranked.forEach((t) => kept.has(t.group) && seriesOf(t.group));
  const dailyCost = days.map(() => 0);
  for (const r of report.rows) {
    const i = index.get(r.day);
    if (i === undefined) continue;
    const g = groupOf(r, by, projects);
    const s = seriesOf(kept.has(g) ? g : OTHER);
    s.cost[i] += r.cost_usd;
    s.tokens[i] += tokensOf(r);
    dailyCost[i] += r.cost_usd;
  }
  const total = ranked.reduce<UsageTotal>(
    (acc, t) => ({
      group: "all",
      costUsd: acc.costUsd + t.costUsd,
      tokens: acc.tokens + t.tokens,
      attempts: acc.attempts + t.attempts,
      estimated: acc.estimated || t.estimated,
    }),
    { group: "all", costUsd: 0, tokens: 0, attempts: 0, estimated: false },
  );
  return { days, series: [...series.values()], totals: ranked, total, dailyCost };
}

/** Minutes east of UTC for the viewer (JavaScript's offset has the other sign). */
export function viewerUtcOffsetMinutes(date: Date): number {
  return -date.getTimezoneOffset();
}

/** One of the viewer's local midnights, as the engine reads it. */
export interface Midnight {
  /** When the day starts, in milliseconds since the epoch. */
  at_ms: number;
  /** Minutes east of UTC from then on. */
  offset_minutes: number;
}

/**
 * The viewer's local midnights of the `days` days that end with `now`'s,
 * and the next one, oldest first: the engine cuts each day at its own, so
 * across a daylight-saving change no record moves to the day beside it.
 * A midnight the clocks skip is the day's first instant.
 */
export function viewerMidnights(now: Date, days: number): Midnight[] {
  const out: Midnight[] = [];
  for (let back = days - 1; back >= -1; back--) {
    const day = new Date(now.getFullYear(), now.getMonth(), now.getDate() - back);
    out.push({ at_ms: day.getTime(), offset_minutes: viewerUtcOffsetMinutes(day) });
  }
  return out;
}

/**
 * What changes when an attempt ends (its worker moves on to another
 * attempt, waits, or ends): the Usage page, read from the journal's ended
 * attempts, is fetched again when this changes, so it follows the engine
 * as every other page does.
 */
export function endedAttemptsKey(workers: readonly Pick<Worker, "id" | "attempt" | "state">[]): string {
  return workers.map((w) => `${w.id}:${w.attempt}:${w.state}`).join("|");
}

