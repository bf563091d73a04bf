import { describe, expect, it } from "vitest";
import { elapsedVsLimit, lastActivityLabel, workerRow, activityLabel, filterWorkers } from "../workers";
import { T0, iso, task, worker } from "./fixtures";

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
    expect(r.attemptTitle).toBe("attempt 2, 1 restart");
    expect(r.actions).toEqual({ kill: true, restart: true, extend: true, nudge: true, takeOver: true, reply: false });
  });
  it("disables kill and extend for a finished worker; filters live and ended", () => {
    const done = worker({ id: "w-2", state: "cancelled", health: "cancelled", session_id: null });
    expect(workerRow(done, undefined, T0).actions).toEqual({ kill: false, restart: true, extend: false, nudge: false, takeOver: false, reply: false });
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
