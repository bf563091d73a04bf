// "updated 2s ago", stale (amber) after 30 s without an event or a fetch.

import { formatAgo } from "./format";

export const STALE_AFTER_MS = 30_000;

export interface Freshness {
  label: string;
  stale: boolean;
  /** Milliseconds since the last update, or null when there was none. */
  ageMs: number | null;
}

export function freshness(lastUpdateMs: number | null, nowMs: number, staleAfterMs = STALE_AFTER_MS): Freshness {
  if (lastUpdateMs == null) return { label: "no data yet", stale: true, ageMs: null };
  const age = Math.max(0, nowMs - lastUpdateMs);
  const ago = formatAgo(age);
  return { label: ago === "just now" ? "updated just now" : `updated ${ago}`, stale: age >= staleAfterMs, ageMs: age };
}
