// Display formatting shared by every view. Pure: the current time is passed in.

import { parseTime } from "./time";

const pad2 = (n: number) => String(n).padStart(2, "0");

/** "45s", "2m 05s", "1h 02m", "3d 04h". */
export function formatDuration(totalSecs: number | null | undefined): string {
  if (totalSecs == null || !Number.isFinite(totalSecs)) return "—";
  const s = Math.max(0, Math.floor(totalSecs));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad2(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad2(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d ${pad2(Math.floor((s % 86400) / 3600))}h`;
}

/** A coarse length for "elapsed / limit": "40s", "12m", "60m", "12h". */
export function formatMinutes(totalSecs: number): string {
  const s = Math.max(0, Math.floor(totalSecs));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 600) return `${m}m`;
  return `${Math.floor(m / 60)}h`;
}

/** "just now", "3s ago", "5m ago", "2h ago", "4d ago" ("in 3s" for the future). */
export function formatRelative(iso: string | null | undefined, nowMs: number): string {
  const t = parseTime(iso);
  if (Number.isNaN(t)) return "never";
  return formatAgo(nowMs - t);
}

/** The same wording for a length of time already known in milliseconds. */
export function formatAgo(diffMs: number): string {
  const future = diffMs < -999;
  const secs = Math.floor(Math.abs(diffMs) / 1000);
  if (secs < 1) return "just now";
  let text: string;
  if (secs < 60) text = `${secs}s`;
  else if (secs < 3600) text = `${Math.floor(secs / 60)}m`;
  else if (secs < 86400) text = `${Math.floor(secs / 3600)}h`;
  else text = `${Math.floor(secs / 86400)}d`;
  return future ? `in ${text}` : `${text} ago`;
}

/** "$0.00", "$0.0123" under a dollar, "$12.34", "$1,234.50". */
export function formatMoney(usd: number | null | undefined): string {
  if (usd == null || !Number.isFinite(usd)) return "—";
  if (usd === 0) return "$0.00";
  const sign = usd < 0 ? "-" : "";
  const v = Math.abs(usd);
  // Less than shown digits can hold is not zero; rounding up to a dollar gives the dollar form.
  if (v < 0.00005) return `${sign}< $0.0001`;
  if (v < 0.99995) return `${sign}$${v.toFixed(4)}`;
  const [whole, cents] = v.toFixed(2).split(".");
  return `${sign}$${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}.${cents}`;
}

/** "950", "12.3k", "123k", "4.5M". */
export function formatTokens(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return "—";
  const v = Math.max(0, Math.round(n));
  if (v < 1000) return String(v);
  if (v < 100_000) return `${(v / 1000).toFixed(1)}k`;
  if (v < 1_000_000) return `${Math.round(v / 1000)}k`;
  if (v < 100_000_000) return `${(v / 1_000_000).toFixed(1)}M`;
  return `${Math.round(v / 1_000_000)}M`;
}

/** 0.873 -> "87%"; null -> "—". */
export function formatPercent(fraction: number | null | undefined): string {
  if (fraction == null || !Number.isFinite(fraction)) return "—";
  return `${Math.round(fraction * 100)}%`;
}

/**
 * A routing score or confidence as a percent, cut rather than rounded, as
 * the engine's explanations cut them to two places: 0.499 reads 49%, never
 * the 50% a minimum of 0.50 would need.
 */
export function formatConfidence(fraction: number | null | undefined): string {
  if (fraction == null || !Number.isFinite(fraction)) return "—";
  return `${Math.floor(fraction * 100 + 1e-9)}%`;
}

/** Collapses whitespace and cuts to `max` characters with an ellipsis. */
export function truncate(text: string | null | undefined, max: number): string {
  const t = (text ?? "").replace(/\s+/g, " ").trim();
  if (t.length <= max) return t;
  return `${t.slice(0, Math.max(0, max - 1)).trimEnd()}…`;
}

/** Local wall-clock time "14:03:22". */
export function formatClock(iso: string | null | undefined): string {
  const t = parseTime(iso);
  if (Number.isNaN(t)) return "—";
  const d = new Date(t);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/**
 * A time axis label: "14:03" once the axis spans minutes, "14:03:22" while it
 * spans less than ten (every label would read the same minute otherwise).
 */
export function axisClock(ms: number, spanMs: number): string {
  const d = new Date(ms);
  const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  return spanMs < 10 * 60_000 ? `${hm}:${pad2(d.getSeconds())}` : hm;
}

/** Local date and time "2025-03-01 14:03:22". */
export function formatDateTime(iso: string | null | undefined): string {
  const t = parseTime(iso);
  if (Number.isNaN(t)) return "—";
  const d = new Date(t);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${formatClock(iso)}`;
}

/** A local time "14:03:22" on the day of `nowMs`, else with its date (a weekly limit's reset). */
export function formatWhen(iso: string | null | undefined, nowMs: number): string {
  const t = parseTime(iso);
  if (Number.isNaN(t)) return "—";
  return new Date(t).toDateString() === new Date(nowMs).toDateString() ? formatClock(iso) : formatDateTime(iso);
}

/** "t-01m85c8stnvvhps4dd4r52czgd" -> "t-…r52czgd": the random tail tells ids apart. */
export function shortId(id: string | null | undefined): string {
  if (!id) return "—";
  const dash = id.indexOf("-");
  if (dash < 0 || id.length <= dash + 10) return id;
  return `${id.slice(0, dash + 1)}…${id.slice(-7)}`;
}

/** "single_expert_low_confidence" -> "single expert, low confidence". */
export function strategyLabel(strategy: string | null | undefined): string {
  switch (strategy) {
    case "single_expert":
      return "single expert";
    case "multi_expert_parallel":
      return "parallel experts";
    case "single_expert_low_confidence":
      return "single expert, low confidence";
    default:
      return strategy ? strategy.replace(/_/g, " ") : "—";
  }
}

/** "keywords_learned" -> "keywords + learned". */
export function methodLabel(method: string | null | undefined): string {
  switch (method) {
    case "type":
      return "task type";
    case "keywords":
      return "keywords";
    case "keywords_learned":
      return "keywords + learned";
    case "person":
      return "person";
    default:
      return method ?? "—";
  }
}

/** A reason worth showing beside a status, without the status again: none
 * for "completed" beside Completed, "verified: make test passed" for
 * "completed, verified: make test passed". The same rule as the engine's
 * `reason_beside` (crates/core/src/worker.rs): a status is matched as
 * written (`needs_input`) and as said (`needs input`). */
export function reasonBeside(reason: string | null | undefined, status: string): string {
  const r = (reason ?? "").trim();
  for (const s of [status, status.replaceAll("_", " ")]) {
    if (r === s) return "";
    for (const sep of [", ", "; "]) {
      if (r.startsWith(s + sep)) return r.slice(s.length + sep.length);
    }
  }
  return r;
}

/** An attempt's reason beside its outcome, a success counting as
 * "completed" (the engine's `attempt_reason_beside`). */
export function attemptReason(reason: string | null | undefined, outcome: string | null | undefined): string {
  return reasonBeside(reason, outcome === "success" ? "completed" : (outcome ?? "running"));
}

/** A status with its reason, the status said once: "failed: exited with 3",
 * "completed, verified: make test passed", "completed" (the engine's
 * `state_and_reason`). */
export function stateAndReason(reason: string | null | undefined, status: string): string {
  const whole = (reason ?? "").trim();
  const rest = reasonBeside(whole, status);
  if (!rest) return status;
  return rest.length < whole.length ? `${status}, ${rest}` : `${status}: ${rest}`;
}
