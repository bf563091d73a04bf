// The one derivation of what each worker is doing and of every count the
// views show: the Overview's cards, the navigation's counts, the "Needs
// attention" list and the Live / Ended filters all read these, over the same
// list of workers the rows are drawn from, so no two of them can disagree.

import type { Status, Task, Worker } from "../types";
import { isLiveTaskStatus, isTerminalState } from "./badges";

/** Where a worker stands, one word each; a live worker is in exactly one. */
export type WorkerBucket =
  | "scheduled" | "starting" | "healthy" | "late" | "stalled" | "zombie" | "waiting" | "unreachable" | "verifying" | "exited" | "unwatched"
  | "stopping" | "ended";

/** A worker whose process runs or will run again (not ended, not waiting for a person). */
export function isLiveWorker(w: Pick<Worker, "state">): boolean {
  return !isTerminalState(w.state);
}

const WATCHED = new Set(["scheduled", "starting", "healthy", "late", "stalled", "zombie", "unreachable", "verifying", "exited", "unwatched"]);

export function workerBucket(w: Pick<Worker, "state" | "health" | "waiting_for">): WorkerBucket {
  if (!isLiveWorker(w)) return "ended";
  if (w.state === "stopping") return "stopping";
  if (w.waiting_for || w.state === "waiting" || w.health === "waiting") return "waiting";
  if (WATCHED.has(w.health)) return w.health as WorkerBucket;
  return w.state === "starting" ? "starting" : "healthy";
}

// An unreachable worker is not hung, but nobody can tell what it does: a person should know.
// The engine's `ATTENTION` (worker_dto.rs), which the tray reads, is the same list (tested).
const ATTENTION = new Set<WorkerBucket>(["late", "stalled", "zombie", "unreachable", "exited", "waiting", "unwatched"]);

/** A live worker that is not simply working: silent, hung, or waiting to go on. */
export function needsAttention(w: Pick<Worker, "state" | "health" | "waiting_for">): boolean {
  return ATTENTION.has(workerBucket(w));
}

/** What the Waiting card counts, by what is waited for. */
export interface WaitingCounts {
  restart: number;
  /** Workers whose first start waits for a cluster that did not answer. */
  start: number;
  rateLimit: number;
  apiRetry: number;
  /** Tasks no worker may start for: their expert's circuit breaker is open. */
  circuitBreaker: number;
  /** Tasks that wait for a person to confirm their routing. */
  confirmation: number;
  /** Workers whose next attempt waits for a free place (the fleet's or their expert's limit). */
  capacity: number;
  /** Workers whose job the cluster suspended. */
  suspended: number;
}

export interface FleetCounts {
  live: number;
  /** Live workers whose state is running (a process is working). */
  running: number;
  /** Live workers whose process is being started (state starting: not in `running`). */
  spawning: number;
  buckets: Record<WorkerBucket, number>;
  waiting: WaitingCounts;
  attention: number;
  liveTasks: number;
}

const EMPTY_BUCKETS = (): Record<WorkerBucket, number> => ({
  scheduled: 0, starting: 0, healthy: 0, late: 0, stalled: 0, zombie: 0, waiting: 0, unreachable: 0, verifying: 0, exited: 0, unwatched: 0, stopping: 0, ended: 0,
});

/** The experts a circuit breaker holds now. */
export function pausedExperts(status: Pick<Status, "paused_experts"> | null): Set<string> {
  return new Set((status?.paused_experts ?? []).map((p) => p.expert));
}

/** A task that waits because its expert's circuit breaker is open. */
export function waitsOnCircuit(t: Pick<Task, "status" | "expert" | "experts">, paused: ReadonlySet<string>): boolean {
  if (t.status !== "waiting" && t.status !== "routed" && t.status !== "queued") return false;
  const experts = t.experts?.length ? t.experts : t.expert ? [t.expert] : [];
  return experts.some((e) => paused.has(e));
}

export function fleetCounts(workers: readonly Worker[], tasks: readonly Task[], paused: ReadonlySet<string>): FleetCounts {
  const buckets = EMPTY_BUCKETS();
  const waiting: WaitingCounts = { restart: 0, start: 0, rateLimit: 0, apiRetry: 0, circuitBreaker: 0, confirmation: 0, capacity: 0, suspended: 0 };
  let running = 0;
  let spawning = 0;
  for (const w of workers) {
    const b = workerBucket(w);
    buckets[b] += 1;
    if (b !== "ended" && w.state === "running") running += 1;
    if (b !== "ended" && w.state === "starting") spawning += 1;
    if (b !== "waiting") continue;
    const kind = w.waiting_for?.kind ?? "restart";
    // The account's usage limit is a rate limit too, one that lasts hours.
    if (kind === "rate_limit" || kind === "usage_limit") waiting.rateLimit += 1;
    else if (kind === "api_retry") waiting.apiRetry += 1;
    else if (kind === "circuit") waiting.circuitBreaker += 1;
    else if (kind === "start") waiting.start += 1;
    else if (kind === "capacity") waiting.capacity += 1;
    else if (kind === "suspended") waiting.suspended += 1;
    else waiting.restart += 1;
  }
  let liveTasks = 0;
  for (const t of tasks) {
    if (isLiveTaskStatus(t.status)) liveTasks += 1;
    if (t.status === "awaiting_confirmation") waiting.confirmation += 1;
    else if (waitsOnCircuit(t, paused)) waiting.circuitBreaker += 1;
    // A task is held before any worker starts by a circuit breaker or by an
    // account usage limit that refuses its model, as its reason says (one
    // whose breaker a person just closed waits for the engine to release it).
    else if (t.status === "waiting" && (t.reason ?? "").includes("usage limit")) waiting.rateLimit += 1;
  }
  const live = workers.length - buckets.ended;
  const attention = [...ATTENTION].reduce((n, b) => n + buckets[b], 0);
  return { live, running, spawning, buckets, waiting, attention, liveTasks };
}

/** Everything the Waiting card counts. */
export function waitingTotal(w: WaitingCounts): number {
  return w.restart + w.start + w.rateLimit + w.apiRetry + w.circuitBreaker + w.confirmation + w.capacity + w.suspended;
}

/** "2 restarting · 1 rate limited · 1 to confirm"; "nothing waits" when empty. */
export function waitingHint(w: WaitingCounts): string {
  const parts: string[] = [];
  if (w.restart) parts.push(`${w.restart} restarting`);
  if (w.start) parts.push(`${w.start} to start`);
  if (w.rateLimit) parts.push(`${w.rateLimit} rate limited`);
  if (w.apiRetry) parts.push(`${w.apiRetry} API retry`);
  if (w.circuitBreaker) parts.push(`${w.circuitBreaker} circuit breaker`);
  if (w.confirmation) parts.push(`${w.confirmation} to confirm`);
  if (w.capacity) parts.push(`${w.capacity} for a free place`);
  if (w.suspended) parts.push(`${w.suspended} suspended by the cluster`);
  return parts.length ? parts.join(" · ") : "nothing waits";
}

/** How many workers that need a person the overview lists. */
export const ATTENTION_LISTED = 6;

/** Under the listed ones, how many more need a person ("" when none): the list is not all of them. */
export function attentionMoreText(c: Pick<FleetCounts, "attention">, listed = ATTENTION_LISTED): string {
  const more = c.attention - listed;
  return more > 0 ? `and ${more} more need you: all workers →` : "";
}

/** What an empty "Needs attention" list says: that all is well only when something runs. */
export function attentionEmptyText(c: Pick<FleetCounts, "live">): string {
  return c.live > 0 ? "No live worker needs attention." : "No worker is running.";
}
