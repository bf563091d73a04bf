import { describe, expect, it } from "vitest";
import { ATTENTION_LISTED, attentionEmptyText, attentionMoreText, fleetCounts, needsAttention, waitingHint, workerBucket } from "../fleet";
import { statCards } from "../overview";
import { filterWorkers } from "../workers";
import { task, worker } from "./fixtures";

describe("one count of the workers", () => {
  it("counts a zombie on its card when the list shows one, whatever an older status said", () => {
    const zombie = worker({ id: "w-z", health: "zombie" });
    const ws = [zombie, worker({ id: "w-ok" })];
    const c = fleetCounts(ws, [], new Set());
    const card = statCards(c).find((k) => k.id === "zombie");
    expect(card?.value).toBe(1);
    expect(ws.filter(needsAttention).map((w) => w.id)).toEqual(["w-z"]);
    expect(c.attention).toBe(1);
  });

  it("says which running workers still wait in a cluster's queue", () => {
    const ws = [worker({ id: "w-q", health: "scheduled" }), worker({ id: "w-s", health: "starting" }), worker({ id: "w-ok" })];
    const c = fleetCounts(ws, [], new Set());
    expect(workerBucket(ws[0])).toBe("scheduled");
    expect(needsAttention(ws[0])).toBe(false);
    expect(statCards(c).find((k) => k.id === "running")).toMatchObject({ value: 3, hint: "of them 1 starting, 1 in the cluster's queue" });
    // Tasks not started yet are said beside the workers (not under the cost).
    expect(statCards(c, 2).find((k) => k.id === "running")?.hint).toBe("of them 1 starting, 1 in the cluster's queue · 2 tasks waiting to start");
    // A worker whose process is being started is not in the number: said apart.
    const spawning = fleetCounts([...ws, worker({ id: "w-new", state: "starting", health: "starting" })], [], new Set());
    expect(statCards(spawning).find((k) => k.id === "running")).toMatchObject({ value: 3, hint: "of them 1 starting, 1 in the cluster's queue · 1 more starting" });
  });

  it("counts workers a cluster cannot be asked about apart from hung ones, on a card of their own", () => {
    const ws = [worker({ id: "w-u", health: "unreachable" }), worker({ id: "w-z", health: "zombie" }), worker({ id: "w-ok" })];
    const c = fleetCounts(ws, [], new Set());
    expect(workerBucket(ws[0])).toBe("unreachable");
    expect(c.buckets.unreachable).toBe(1);
    expect(c.buckets.zombie).toBe(1);
    const cards = statCards(c);
    expect(cards.find((k) => k.id === "unreachable")).toMatchObject({ value: 1, hint: "cluster not answering, not stopped" });
    expect(cards.find((k) => k.id === "zombie")?.value).toBe(1);
    expect(ws.filter(needsAttention).map((w) => w.id)).toEqual(["w-u", "w-z"]);
    // Without one, the card is not there.
    expect(statCards(fleetCounts([worker({ id: "w-ok" })], [], new Set())).some((k) => k.id === "unreachable")).toBe(false);
  });

  it("says what the waiting wait for: restarts, rate limits, the circuit breaker, a confirmation, a free place, a resumption", () => {
    const ws = [
      worker({ id: "w-1", state: "waiting", health: "waiting", waiting_for: { kind: "restart", after: "crashed" } }),
      worker({ id: "w-2", state: "waiting", health: "waiting", waiting_for: { kind: "restart", after: "lost" } }),
      worker({ id: "w-3", health: "waiting", waiting_for: { kind: "rate_limit", until: "2025-06-01T12:05:00Z" } }),
      worker({ id: "w-4", state: "waiting", health: "waiting", expert: "security", waiting_for: { kind: "circuit", until: "2025-06-01T12:20:00Z", after: "crashed" } }),
      worker({ id: "w-5", state: "waiting", health: "waiting", waiting_for: { kind: "usage_limit", until: "2025-06-01T17:00:00Z", after: "rate_limited" } }),
      // Its first start could not be submitted: it waits to start, not to restart.
      worker({ id: "w-6", state: "waiting", health: "waiting", attempt: 0, waiting_for: { kind: "start", until: "2025-06-01T12:00:05Z" } }),
      // A person's restart with no free place, and a job the cluster suspended: neither restarts.
      worker({ id: "w-7", state: "waiting", health: "waiting", waiting_for: { kind: "capacity", after: "killed" } }),
      worker({ id: "w-8", health: "waiting", waiting_for: { kind: "suspended" } }),
    ];
    const ts = [
      task({ id: "t-1", status: "awaiting_confirmation" }),
      task({ id: "t-2", status: "waiting", expert: "security" }),
      task({ id: "t-3", status: "running", expert: "security" }),
      // Held by the account's usage limit before a worker started.
      task({ id: "t-4", status: "waiting", expert: "development", reason: "the account's usage limit refused worker w-1: new workers start once it resets at 2025-06-01T17:00:00Z" }),
      // Its breaker closed a moment ago, not released yet: not a rate limit.
      task({ id: "t-5", status: "waiting", expert: "cicd", reason: "expert cicd paused by circuit breaker until 2025-06-01T12:20:00Z" }),
    ];
    const c = fleetCounts(ws, ts, new Set(["security"]));
    // The account's usage limit counts as a rate limit, for a waiting worker and a held task.
    expect(c.waiting).toEqual({ restart: 2, start: 1, rateLimit: 3, apiRetry: 0, circuitBreaker: 2, confirmation: 1, capacity: 1, suspended: 1 });
    const card = statCards(c).find((k) => k.id === "waiting");
    expect(card).toMatchObject({
      value: 11,
      hint: "2 restarting · 1 to start · 3 rate limited · 2 circuit breaker · 1 to confirm · 1 for a free place · 1 suspended by the cluster",
    });
    expect(card?.hint).not.toContain("API retry");
    expect(waitingHint(fleetCounts([], [], new Set()).waiting)).toBe("nothing waits");
  });

  it("uses one meaning of live for the navigation, the filters and the cards", () => {
    const ws = [
      worker({ id: "w-1" }),
      worker({ id: "w-2", state: "needs_input", health: "needs_input" }),
      worker({ id: "w-3", state: "stopping", health: "healthy" }),
      worker({ id: "w-4", state: "completed", health: "completed" }),
    ];
    const c = fleetCounts(ws, [], new Set());
    expect(c.live).toBe(filterWorkers(ws, "live").length);
    expect(c.live).toBe(2);
    expect(workerBucket(ws[2])).toBe("stopping");
    expect(c.running).toBe(1);
  });
});

describe("the empty attention list", () => {
  it("does not call a fleet healthy when no worker runs", () => {
    expect(attentionEmptyText(fleetCounts([], [], new Set()))).toBe("No worker is running.");
    expect(attentionEmptyText(fleetCounts([worker({ state: "completed", health: "completed" })], [], new Set()))).toBe("No worker is running.");
    expect(attentionEmptyText(fleetCounts([worker()], [], new Set()))).toBe("No live worker needs attention.");
  });
});

describe("the attention list's length", () => {
  it("says how many more need a person than it lists, counted as the cards count them", () => {
    const stalled = (i: number) => worker({ id: `w-${i}`, health: "stalled" });
    const few = fleetCounts([1, 2, 3].map(stalled), [], new Set());
    expect(attentionMoreText(few)).toBe("");
    const many = fleetCounts(Array.from({ length: ATTENTION_LISTED + 2 }, (_, i) => stalled(i)), [], new Set());
    expect(many.attention).toBe(ATTENTION_LISTED + 2);
    expect(attentionMoreText(many)).toBe("and 2 more need you: all workers →");
  });
});
