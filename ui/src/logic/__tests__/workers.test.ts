import { describe, expect, it } from "vitest";
import { costLabel, elapsedVsLimit, lastActivityLabel, workerRow, activityLabel, filterWorkers, waitingLabel, workerSubject } from "../workers";
import { T0, iso, task, worker } from "./fixtures";
import { taskRow } from "../tasks";

describe("elapsed against the limit", () => {
  it("reports minutes used of the limit with a fraction", () => {
    const e = elapsedVsLimit(worker({ started_at: iso(0), time_limit_secs: 3600 }), T0 + 12 * 60_000);
    expect(e.label).toBe("12m / 60m");
    expect(e.fraction).toBeCloseTo(0.2);
    expect(e.pct).toBe(20);
    expect(e.barCls).toBe("bg-emerald-500");
  });
  it("warns near the limit and clamps past it", () => {
    expect(elapsedVsLimit(worker({ time_limit_secs: 1000 }), T0 + 800_000).barCls).toBe("bg-amber-500");
    const over = elapsedVsLimit(worker({ time_limit_secs: 1000 }), T0 + 1_500_000);
    expect(over).toMatchObject({ fraction: 1, pct: 100, over: true, barCls: "bg-red-500" });
  });
  it("stops the clock of a finished worker and waits for a first start", () => {
    const done = worker({ state: "completed", health: "completed", last_activity_at: iso(300) });
    expect(elapsedVsLimit(done, T0 + 9_999_000).label).toBe("5m / 60m");
    const notYet = elapsedVsLimit(worker({ started_at: null }), T0);
    expect(notYet).toMatchObject({ label: "— / 60m", fraction: 0, elapsedSecs: null });
  });
});

describe("worker rows", () => {
  it("shows last activity with its source", () => {
    expect(lastActivityLabel(worker({ last_activity_at: iso(57) }), T0 + 60_000)).toBe("3s ago · output");
    expect(lastActivityLabel(worker({ last_activity_at: null }), T0)).toBe("never");
  });
  it("builds a row with the task text, tokens, cost and actions", () => {
    const r = workerRow(
      worker({ id: "w-1", health: "stalled", restarts: 1, attempt: 2 }),
      task({ description: "Audit the payment service for injection flaws and report every finding with a fix" }),
      T0 + 61_000,
    );
    expect(r.health).toBe("stalled");
    expect(r.badge.tone).toBe("orange");
    expect(r.taskText.endsWith("…")).toBe(true);
    expect(r.taskText.length).toBeLessThanOrEqual(60);
    expect(r.tokens).toBe("12.3k / 678");
    expect(r.cost).toBe("$0.0123");
    expect(r.attempt).toBe("#2");
    expect(r.attemptTitle).toBe("attempt 2, 1 automatic restart");
    expect(r.actions).toEqual({ kill: true, restart: true, extend: true, nudge: true, takeOver: true, reply: false });
  });
  it("offers nothing of a live worker's actions for an ended one; filters live and ended", () => {
    const done = worker({ id: "w-2", state: "cancelled", health: "cancelled", session_id: null });
    const none = { kill: false, restart: false, extend: false, nudge: false, takeOver: false, reply: false };
    expect(workerRow(done, undefined, T0).actions).toEqual(none);
    const completed = worker({ id: "w-3", state: "completed", health: "completed", session_id: "s-1" });
    expect(workerRow(completed, undefined, T0).actions).toEqual({ ...none, reply: true });
    const all = [worker({ id: "w-1" }), done];
    expect(filterWorkers(all, "live").map((w) => w.id)).toEqual(["w-1"]);
    expect(filterWorkers(all, "ended").map((w) => w.id)).toEqual(["w-2"]);
  });
  it("describes what the stream says the worker is doing", () => {
    expect(activityLabel({ kind: "running_tool", tool: "Bash", since: iso(0) }, T0 + 42_000)).toBe("running Bash (42s)");
    expect(activityLabel({ kind: "retrying_api", until: iso(30), status: 529, attempt: 3 }, T0)).toBe(
      "retrying the API after 529, attempt 3, in 30s",
    );
  });
});

describe("what a worker row says is true", () => {
  it("says a worker in restart backoff waits for its restart, in how long and after what", () => {
    const w = worker({ state: "waiting", health: "waiting", waiting_for: { kind: "restart", until: iso(28), after: "crashed" } });
    expect(waitingLabel(w, T0)).toBe("restart in 28s, after a crash");
    // A first start the cluster did not take is no restart.
    expect(waitingLabel(worker({ state: "waiting", attempt: 0, waiting_for: { kind: "start", until: iso(5) } }), T0)).toBe("start tried again in 5s");
    expect(workerRow(w, undefined, T0).doing).toBe("restart in 28s, after a crash");
    const zombie = worker({ state: "waiting", health: "waiting", waiting_for: { kind: "restart", until: iso(5), after: "hung" } });
    expect(waitingLabel(zombie, T0)).toBe("restart in 5s, after it hung (zombie)");
    const vanished = worker({ state: "waiting", health: "waiting", waiting_for: { kind: "restart", until: iso(5), after: "lost" } });
    expect(waitingLabel(vanished, T0)).toBe("restart in 5s, after it vanished");
    const api = worker({ state: "waiting", health: "waiting", waiting_for: { kind: "restart", until: iso(-1), after: "api_error" } });
    expect(waitingLabel(api, T0)).toBe("restart due now, after an API error");
    const limited = worker({ health: "waiting", waiting_for: { kind: "rate_limit", until: "2025-06-01T12:05:00Z" } });
    expect(waitingLabel(limited, T0)).toMatch(/^rate limited until \d\d:\d\d/);
    // The account's usage limit: resumes at its reset, with the date when not today.
    const usage = worker({ state: "waiting", health: "waiting", waiting_for: { kind: "usage_limit", until: iso(3600), after: "rate_limited" } });
    expect(waitingLabel(usage, T0)).toMatch(/^usage limit reached: resumes at \d\d:\d\d:\d\d$/);
    const reset = worker({ state: "waiting", health: "waiting", waiting_for: { kind: "usage_limit", until: iso(-5) } });
    expect(waitingLabel(reset, T0)).toBe("usage limit has reset: resuming now");
    const weekly = worker({ state: "waiting", health: "waiting", waiting_for: { kind: "usage_limit", until: iso(5 * 86_400) } });
    expect(waitingLabel(weekly, T0)).toMatch(/^usage limit reached: resumes at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    const held = worker({ state: "waiting", health: "waiting", waiting_for: { kind: "circuit", until: iso(600), after: "crashed" } });
    expect(waitingLabel(held, T0)).toMatch(/^restart held by the circuit breaker until \d\d:\d\d:\d\d$/);
    expect(workerRow(held, undefined, T0).doing).toBe(waitingLabel(held, T0));
    // The limit it waits on, in the words of the engine's reason (`cortex workers`).
    const full = worker({ state: "waiting", health: "waiting", waiting_for: { kind: "capacity", until: null, limit: { max_workers: 4 } } });
    expect(waitingLabel(full, T0)).toBe("waits for a free place (capacity.max_workers is 4)");
    const expertFull = worker({ state: "waiting", health: "waiting", waiting_for: { kind: "capacity", limit: { expert: "development", max_workers: 1 } } });
    expect(waitingLabel(expertFull, T0)).toBe("waits for a free place (expert development's max_workers is 1)");
    // An engine that did not say which: nothing more than it said.
    const unsaid = worker({ state: "waiting", health: "waiting", waiting_for: { kind: "capacity" } });
    expect(waitingLabel(unsaid, T0)).toBe("waits for a free place");
    const suspended = worker({ health: "waiting", waiting_for: { kind: "suspended" } });
    expect(waitingLabel(suspended, T0)).toBe("suspended by the cluster: goes on once it is resumed");
    expect(workerRow(suspended, undefined, T0).doing).toBe(waitingLabel(suspended, T0));
    expect(waitingLabel(worker(), T0)).toBe("");
  });

  it("marks the cost as an estimate until the final figure arrives", () => {
    expect(costLabel(worker({ cost_usd: 0.4, cost_estimated: true }))).toBe("≈ $0.4000 (estimate)");
    expect(costLabel(worker({ cost_usd: 0.4, cost_estimated: false }))).toBe("$0.4000");
    expect(workerRow(worker({ state: "cancelled", health: "cancelled", cost_usd: 0.31, cost_estimated: true }), undefined, T0).cost).toBe(
      "≈ $0.3100 (estimate)",
    );
  });

  it("sums the elapsed time over every attempt", () => {
    const ended = worker({ state: "completed", health: "completed", started_at: iso(600), last_activity_at: iso(600), ended_attempts_secs: 1500 });
    expect(elapsedVsLimit(ended, T0 + 9_999_000).label).toBe("25m / 60m");
    const second = worker({ state: "running", started_at: iso(600), running_since: iso(600), ended_attempts_secs: 300 });
    expect(elapsedVsLimit(second, T0 + 660_000).label).toBe("6m / 60m");
    // Its work being checked: the attempt ended and is in the sum, so the
    // check's time is not counted again on top of it.
    const checked = worker({ state: "running", health: "verifying", started_at: iso(0), running_since: null, ended_attempts_secs: 600 });
    expect(elapsedVsLimit(checked, T0 + 660_000).label).toBe("10m / 60m");
    const between = worker({ state: "waiting", health: "waiting", started_at: iso(0), ended_attempts_secs: 120 });
    expect(elapsedVsLimit(between, T0 + 9_999_000).label).toBe("2m / 60m");
  });

  it("shows a worker being stopped as stopping, with no action left to take", () => {
    const r = workerRow(worker({ state: "stopping", health: "healthy" }), undefined, T0);
    expect(r.badge.label).toBe("Stopping…");
    expect(Object.values(r.actions).some(Boolean)).toBe(false);
  });

  it("names a worker by its task's first words and expert", () => {
    const t = task({ description: "Refactor   the cache layer so that every read goes through the new interface" });
    expect(workerSubject(worker(), t)).toBe("“Refactor the cache layer so that every…” · development");
    expect(workerSubject(worker(), undefined)).toBe("development");
  });
});

describe("reasons beside a status", () => {
  it("leaves out a reason that only repeats the status, in worker and task rows", () => {
    expect(workerRow(worker({ state: "completed", reason: "completed" }), undefined, T0).reason).toBe("");
    expect(workerRow(worker({ state: "failed", reason: "exited with 3" }), undefined, T0).reason).toBe("exited with 3");
    expect(taskRow(task({ status: "completed", reason: "completed" }), T0).reason).toBe("");
    expect(taskRow(task({ status: "completed", reason: "completed, verified: make test passed" }), T0).reason).toBe("verified: make test passed");
    expect(taskRow(task({ status: "cancelled", reason: "cancelled by a person" }), T0).reason).toBe("cancelled by a person");
  });
});
