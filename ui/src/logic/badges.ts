// Health, state and status -> badge colour and label. The class strings are
// written out in full so Tailwind finds them when it scans the sources.

import type { Severity, TaskStatus, Worker } from "../types";

export type Tone = "green" | "blue" | "amber" | "orange" | "red" | "grey" | "violet";

export const TONE_CLASSES: Record<Tone, string> = {
  green: "bg-emerald-100 text-emerald-800 ring-emerald-600/30",
  blue: "bg-sky-100 text-sky-800 ring-sky-600/30",
  amber: "bg-amber-100 text-amber-800 ring-amber-600/30",
  orange: "bg-orange-100 text-orange-800 ring-orange-600/30",
  red: "bg-red-100 text-red-800 ring-red-600/30",
  grey: "bg-slate-100 text-slate-600 ring-slate-500/30",
  violet: "bg-violet-100 text-violet-800 ring-violet-600/30",
};

/** A dot colour for the same tone (legends, timelines). */
export const TONE_DOTS: Record<Tone, string> = {
  green: "bg-emerald-500",
  blue: "bg-sky-500",
  amber: "bg-amber-500",
  orange: "bg-orange-500",
  red: "bg-red-500",
  grey: "bg-slate-400",
  violet: "bg-violet-500",
};

export interface Badge {
  /** The machine value shown (data-health, filters). */
  key: string;
  label: string;
  tone: Tone;
  cls: string;
}

const badge = (key: string, label: string, tone: Tone): Badge => ({ key, label, tone, cls: TONE_CLASSES[tone] });

const HEALTH: Record<string, [string, Tone]> = {
  healthy: ["Healthy", "green"],
  scheduled: ["Scheduled", "blue"],
  starting: ["Starting", "blue"],
  waiting: ["Waiting", "blue"],
  late: ["Late", "amber"],
  stalled: ["Stalled", "orange"],
  zombie: ["Zombie", "red"],
  unreachable: ["Unreachable", "amber"],
  verifying: ["Verifying", "blue"],
  exited: ["Exited (not settled)", "amber"],
  // No owner runs: nobody judges its health (seen by a view that is not the owner).
  unwatched: ["Unwatched", "amber"],
  stopping: ["Stopping…", "amber"],
  // Terminal worker states, which the engine also reports as the health.
  failed: ["Failed", "red"],
  completed: ["Completed", "grey"],
  cancelled: ["Cancelled", "grey"],
  needs_input: ["Needs you", "amber"],
  needs_attention: ["Needs attention", "amber"],
  running: ["Running", "green"],
};

// The status sets every view counts and filters with (one place for each;
// logic/fleet.ts counts with them).

/** Task statuses that are final. */
export const ENDED_TASK_STATUSES: readonly string[] = ["completed", "failed", "cancelled"];

/** Worker states after which its process is gone and none starts by itself. */
const TERMINAL = new Set(["completed", "failed", "cancelled", "needs_input", "needs_attention"]);

export function isTerminalState(state: string): boolean {
  return TERMINAL.has(state);
}

/** The badge of one health value (or a terminal state). */
export function healthBadge(health: string | null | undefined): Badge {
  const key = (health ?? "").toLowerCase();
  const known = HEALTH[key];
  if (known) return badge(key, known[0], known[1]);
  return badge(key || "unknown", key ? key.replace(/_/g, " ") : "Unknown", "grey");
}

/**
 * A worker's badge: a finished worker shows how it ended, one waiting to go
 * on (the engine's `waiting_for`, which it drops once the PM finds the wait
 * overdue) says so, as every count does (`workerBucket`); else the process
 * manager's health.
 */
export function workerBadge(w: Pick<Worker, "state" | "health" | "waiting_for">): Badge {
  // A stop was asked for and the process is not gone yet: whatever its health was.
  if (isTerminalState(w.state) || w.state === "stopping") return healthBadge(w.state);
  if (w.waiting_for) return healthBadge("waiting");
  return healthBadge(w.health || w.state);
}

const TASK: Record<TaskStatus, [string, Tone]> = {
  queued: ["Queued", "grey"],
  awaiting_confirmation: ["Awaiting confirmation", "amber"],
  routed: ["Routed", "violet"],
  running: ["Running", "green"],
  waiting: ["Waiting", "blue"],
  needs_attention: ["Needs attention", "amber"],
  needs_input: ["Needs you", "amber"],
  blocked: ["Blocked", "violet"],
  completed: ["Completed", "grey"],
  failed: ["Failed", "red"],
  cancelled: ["Cancelled", "grey"],
};

export function taskStatusBadge(status: string): Badge {
  const known = TASK[status as TaskStatus];
  return known ? badge(status, known[0], known[1]) : badge(status, status, "grey");
}

export function isLiveTaskStatus(status: string): boolean {
  return !ENDED_TASK_STATUSES.includes(status);
}

export function severityBadge(severity: Severity | string): Badge {
  switch (severity) {
    case "critical":
      return badge("critical", "Critical", "red");
    case "warning":
      return badge("warning", "Warning", "amber");
    default:
      return badge(String(severity), "Info", "blue");
  }
}
