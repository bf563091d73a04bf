import { describe, expect, it } from "vitest";
import { costsByTask, lastWorkdir, listedCosts, taskRow } from "../tasks";
import { T0, task, worker } from "./fixtures";

describe("the folder a new task starts with", () => {
  it("is the newest task's folder, never a guess", () => {
    const tasks = [
      { workdir: "/src/app", created_at: "2026-12-01T10:00:00Z" },
      { workdir: "/src/api", created_at: "2026-12-02T10:00:00Z" },
      { workdir: undefined, created_at: "2026-12-03T10:00:00Z" },
    ];
    expect(lastWorkdir(tasks)).toBe("/src/api");
    expect(lastWorkdir([])).toBe("");
    expect(lastWorkdir([{ workdir: undefined, created_at: "2026-12-03T10:00:00Z" }])).toBe("");
  });
});

describe("a task's cost", () => {
  it("is its workers' so far, a running attempt's estimate included and marked", () => {
    const workers = [
      worker({ id: "w-1", task_id: "t-1", cost_usd: 0.02, cost_estimated: false }),
      worker({ id: "w-2", task_id: "t-1", cost_usd: 0.003, cost_estimated: true }),
      worker({ id: "w-3", task_id: "t-2", cost_usd: 0.5, cost_estimated: false }),
    ];
    const costs = costsByTask(workers);
    expect(costs.get("t-1")?.cost_usd).toBeCloseTo(0.023, 10);
    expect(costs.get("t-1")?.cost_estimated).toBe(true);
    expect(costs.get("t-2")).toEqual({ cost_usd: 0.5, cost_estimated: false });
    // The task's own figure lags until its next state change: the workers' wins.
    const t = task({ id: "t-1", status: "running", cost_usd: 0.02 });
    expect(taskRow(t, T0, costs.get("t-1")).cost).toBe("≈ $0.0230 (estimate)");
    // Without workers, the task's own figure, marked as the engine marks it.
    expect(taskRow(task({ cost_usd: 0.4, cost_estimated: true }), T0).cost).toBe("≈ $0.4000 (estimate)");
    expect(taskRow(task({ cost_usd: 0.4 }), T0).cost).toBe("$0.4000");
  });
});

describe("listedCosts", () => {
  it("takes the running costs again when the list's clock moves or the tasks change, not with every worker update", () => {
    const costs = listedCosts();
    const tasks = [task({ id: "t-1", status: "running" })];
    const at = (cost: number) => [worker({ id: "w-1", task_id: "t-1", cost_usd: cost, cost_estimated: true })];
    expect(costs(0, tasks, at(0.01)).get("t-1")?.cost_usd).toBe(0.01);
    // Its worker's figures moved; the list's clock and tasks did not.
    expect(costs(0, tasks, at(0.02)).get("t-1")?.cost_usd).toBe(0.01);
    // The clock moved.
    expect(costs(5000, tasks, at(0.03)).get("t-1")?.cost_usd).toBe(0.03);
    // A task changed (here: it ended).
    const ended = [task({ id: "t-1", status: "completed" })];
    expect(costs(5000, ended, at(0.04)).get("t-1")).toEqual({ cost_usd: 0.04, cost_estimated: true });
  });
});
