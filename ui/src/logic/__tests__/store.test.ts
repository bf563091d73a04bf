import { describe, expect, it } from "vitest";
import type { EngineEvent, RoutingSummary } from "../../types";
import { applyEvent, applyEvents, emptyState, mergeWorkers, MAX_ALERTS, countLiveWorkers, type EngineState } from "../store";
import { alert, iso, task, worker } from "./fixtures";

describe("event reducer", () => {
  it("inserts tasks newest first", () => {
    let s = emptyState();
    s = applyEvent(s, { type: "task_submitted", task: task({ id: "t-1", created_at: iso(0), updated_at: iso(0) }) }).state;
    s = applyEvent(s, { type: "task_submitted", task: task({ id: "t-3", created_at: iso(20), updated_at: iso(20) }) }).state;
    s = applyEvent(s, { type: "task_submitted", task: task({ id: "t-2", created_at: iso(10), updated_at: iso(10) }) }).state;
    expect(s.tasks.map((t) => t.id)).toEqual(["t-3", "t-2", "t-1"]);
  });

  it("updates a task in place by id and reports the change", () => {
    let s = emptyState();
    s = applyEvent(s, { type: "task_submitted", task: task({ id: "t-1" }) }).state;
    const r = applyEvent(s, { type: "task_updated", task: task({ id: "t-1", status: "running", updated_at: iso(5) }) });
    expect(r.change).toEqual({ kind: "task", id: "t-1", inserted: false });
    expect(r.state.tasks).toHaveLength(1);
    expect(r.state.tasks[0].status).toBe("running");
    expect(s.tasks[0].status).toBe("queued"); // the old state is not mutated
  });

  it("ignores a task update older than the one held", () => {
    let s = emptyState();
    s = applyEvent(s, { type: "task_updated", task: task({ id: "t-1", status: "completed", updated_at: iso(30) }) }).state;
    const r = applyEvent(s, { type: "task_updated", task: task({ id: "t-1", status: "running", updated_at: iso(10) }) });
    expect(r.change).toBeNull();
    expect(r.state).toBe(s);
    expect(r.state.tasks[0].status).toBe("completed");
  });

  it("orders same-millisecond updates by their full precision", () => {
    let s = emptyState();
    const at = (ns: string) => `2025-06-01T12:00:00.123${ns}Z`;
    s = applyEvent(s, { type: "task_updated", task: task({ id: "t-1", status: "running", updated_at: at("900") }) }).state;
    const r = applyEvent(s, { type: "task_updated", task: task({ id: "t-1", status: "routed", updated_at: at("100") }) });
    expect(r.change).toBeNull();
  });

  it("ignores a worker report about an older attempt", () => {
    let s = emptyState();
    s = applyEvent(s, { type: "worker_updated", worker: worker({ id: "w-1", attempt: 2, health: "starting" }) }).state;
    const r = applyEvent(s, { type: "worker_updated", worker: worker({ id: "w-1", attempt: 1, state: "failed", health: "failed" }) });
    expect(r.change).toBeNull();
    expect(r.state.workers[0].attempt).toBe(2);
  });

  it("keeps an ended attempt ended, and accepts the next attempt", () => {
    let s = emptyState();
    s = applyEvent(s, { type: "worker_updated", worker: worker({ id: "w-1", state: "failed", health: "failed" }) }).state;
    expect(applyEvent(s, { type: "worker_updated", worker: worker({ id: "w-1", state: "running" }) }).change).toBeNull();
    const r = applyEvent(s, { type: "worker_updated", worker: worker({ id: "w-1", attempt: 2, state: "running" }) });
    expect(r.change).toMatchObject({ kind: "worker", id: "w-1" });
    expect(r.state.workers[0].state).toBe("running");
  });

  it("refuses a last sign of life that goes backwards within an attempt", () => {
    let s = emptyState();
    s = applyEvent(s, { type: "worker_updated", worker: worker({ id: "w-1", last_activity_at: iso(100), health: "healthy" }) }).state;
    expect(applyEvent(s, { type: "worker_updated", worker: worker({ id: "w-1", last_activity_at: iso(50) }) }).change).toBeNull();
    // Same sign of life, new health: a transition, accepted.
    const r = applyEvent(s, { type: "worker_updated", worker: worker({ id: "w-1", last_activity_at: iso(100), health: "late" }) });
    expect(r.state.workers[0].health).toBe("late");
  });

  it("merges a fetched list with what events already brought", () => {
    const fromEvent = worker({ id: "w-1", attempt: 2 });
    const merged = mergeWorkers([fromEvent], [worker({ id: "w-1", attempt: 1 }), worker({ id: "w-0", created_at: iso(-50) })]);
    expect(merged.map((w) => [w.id, w.attempt])).toEqual([
      ["w-1", 2],
      ["w-0", 1],
    ]);
    expect(countLiveWorkers([...merged, worker({ id: "w-9", state: "completed" })])).toBe(2);
  });

  it("keeps alerts newest first, without duplicates, capped", () => {
    let s = emptyState();
    s = applyEvent(s, { type: "alert", alert: alert({ at: iso(1), message: "a" }) }).state;
    s = applyEvent(s, { type: "alert", alert: alert({ at: iso(2), message: "b" }) }).state;
    expect(applyEvent(s, { type: "alert", alert: alert({ at: iso(1), message: "a" }) }).change).toBeNull();
    expect(s.alerts.map((a) => a.message)).toEqual(["b", "a"]);
    for (let i = 0; i < MAX_ALERTS + 10; i++) s = applyEvent(s, { type: "alert", alert: alert({ at: iso(10 + i), message: `m${i}` }) }).state;
    expect(s.alerts).toHaveLength(MAX_ALERTS);
    expect(s.alerts[0].message).toBe(`m${MAX_ALERTS + 9}`);
  });
});

describe("event batches", () => {
  const start = (): EngineState => ({
    tasks: [task({ id: "t-1", updated_at: iso(0), routing: undefined })],
    workers: [worker({ id: "w-1", health: "healthy", last_activity_at: iso(10) }), worker({ id: "w-0", created_at: iso(-10) })],
    alerts: [],
  });
  const fold = (s: EngineState, evs: EngineEvent[]) => evs.reduce((acc, ev) => applyEvent(acc, ev).state, s);

  it("takes an ended worker live again only for a person's reply", () => {
    let s = emptyState();
    const done = worker({ id: "w-1", state: "completed", health: "completed", attempt: 1, last_activity_at: iso(100) });
    s = applyEvent(s, { type: "worker_updated", worker: done }).state;
    // A late report of the attempt that ended: stale.
    const late = worker({ id: "w-1", state: "running", attempt: 1, last_activity_at: iso(100) });
    expect(applyEvent(s, { type: "worker_updated", worker: late }).state.workers[0].state).toBe("completed");
    // The reply reopened it within the same attempt: shown at once.
    const reopened = worker({ id: "w-1", state: "waiting", health: "waiting", attempt: 1, last_activity_at: iso(100), replied: true });
    expect(applyEvent(s, { type: "worker_updated", worker: reopened }).state.workers[0].state).toBe("waiting");
  });

  it("ends where applying the events one by one ends", () => {
    const evs: EngineEvent[] = [
      { type: "worker_updated", worker: worker({ id: "w-1", last_activity_at: iso(20) }) },
      { type: "worker_updated", worker: worker({ id: "w-2", created_at: iso(30) }) },
      { type: "worker_updated", worker: worker({ id: "w-1", last_activity_at: iso(15) }) }, // stale
      { type: "task_updated", task: task({ id: "t-1", status: "running", updated_at: iso(5) }) },
      { type: "task_submitted", task: task({ id: "t-2", created_at: iso(40), updated_at: iso(40) }) },
      { type: "alert", alert: alert({ at: iso(3) }) },
      { type: "alert", alert: alert({ at: iso(3) }) }, // duplicate
      { type: "worker_updated", worker: worker({ id: "w-1", last_activity_at: iso(25), health: "late" }) },
    ];
    const s = start();
    const b = applyEvents(s, evs);
    expect(b.state).toEqual(fold(s, evs));
    expect(b.changes).toHaveLength(6);
    expect(b.workerIds).toEqual(["w-1", "w-2"]);
    expect(b.state.workers.map((w) => [w.id, w.last_activity_at])).toEqual([
      ["w-2", iso(60)],
      ["w-1", iso(25)],
      ["w-0", iso(60)],
    ]);
  });

  it("says when the owner read edited settings, and only then", () => {
    const line = (event: string) => ({ v: 1, at: iso(1), event, message: "m" }) as never;
    const s = start();
    expect(applyEvents(s, [{ type: "activity_logged", line: line("settings_applied") }]).settingsMoved).toBe(true);
    expect(applyEvents(s, [{ type: "activity_logged", line: line("settings_refused") }]).settingsMoved).toBe(false);
    expect(applyEvents(s, [{ type: "activity_logged", line: line("health") }]).settingsMoved).toBe(false);
  });

  it("replaces only the lists that changed, and nothing for an ignored batch", () => {
    const s = start();
    const b = applyEvents(s, [{ type: "worker_updated", worker: worker({ id: "w-1", last_activity_at: iso(20) }) }]);
    expect(b.state.workers).not.toBe(s.workers);
    expect(b.state.tasks).toBe(s.tasks);
    expect(b.state.alerts).toBe(s.alerts);
    const none = applyEvents(s, [{ type: "worker_updated", worker: worker({ id: "w-1", last_activity_at: iso(1) }) }]);
    expect(none.state).toBe(s);
    expect(none.changes).toEqual([]);
    expect(applyEvents(s, []).state).toBe(s);
  });

  it("does not change the state it was given", () => {
    const s = start();
    const copy = structuredClone(s);
    applyEvents(s, [
      { type: "worker_updated", worker: worker({ id: "w-1", last_activity_at: iso(20), health: "late" }) },
      { type: "task_submitted", task: task({ id: "t-2", created_at: iso(40), updated_at: iso(40) }) },
    ]);
    expect(s).toEqual(copy);
  });

  it("says when the activity log has something new: when the engine says it wrote a line, and only then", () => {
    const s = start();
    // A health move, an extension or a reply is logged by the engine, which says so.
    const moved = applyEvents(s, [{ type: "worker_updated", worker: worker({ id: "w-1", health: "late", last_activity_at: iso(20) }) }]);
    expect(moved.activityMoved).toBe(false);
    const line = { at: iso(20), event: "health", worker_id: "w-1", task_id: "t-1", attempt: 1, from: "healthy", to: "late", message: "silent for 300s" };
    const logged = applyEvents(s, [{ type: "activity_logged", line }]);
    expect(logged.activityMoved).toBe(true);
    expect(logged.state).toBe(s); // the state holds no log lines
    // A PM nudge changes no worker: its line alone moves the log.
    const nudge = { ...line, event: "nudge", from: undefined, to: undefined, message: "nudged a stalled worker" };
    expect(applyEvents(s, [{ type: "activity_logged", line: nudge }]).activityMoved).toBe(true);
    expect(applyEvents(s, [{ type: "alert", alert: alert() }]).activityMoved).toBe(false);
  });

  it("says when the decision log has something new: a submitted task or a routing change", () => {
    const s = start();
    const routing: RoutingSummary = {
      primary_expert: "security",
      confidence: 0.9,
      strategy: "single_expert",
      method: "keywords",
      needs_confirmation: false,
      explanation: "",
    };
    const statusOnly = applyEvents(s, [{ type: "task_updated", task: task({ id: "t-1", status: "running", updated_at: iso(5), routing: undefined }) }]);
    expect(statusOnly.routingMoved).toBe(false);
    expect(applyEvents(s, [{ type: "task_updated", task: task({ id: "t-1", updated_at: iso(5), routing }) }]).routingMoved).toBe(true);
    expect(applyEvents(s, [{ type: "task_submitted", task: task({ id: "t-3", created_at: iso(9), updated_at: iso(9) }) }]).routingMoved).toBe(true);
  });
});
