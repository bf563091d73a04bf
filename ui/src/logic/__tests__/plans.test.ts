import { describe, expect, it } from "vitest";
import type { PlanView, Task } from "../../types";
import { countsText, parsePlanSpec, planCard, planDepths, planSpecOf } from "../plans";

function task(id: string, status: Task["status"], extra: Partial<Task> = {}): Task {
  return {
    id,
    status,
    priority: "medium",
    type: null,
    description: `do ${id}`,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    cost_usd: 0.01,
    ...extra,
  };
}

const plan: PlanView = {
  id: "p-01m8zxwhejkfmwmh3yda6ghs2c",
  goal: "ship the parser",
  goal_task: "t-goal",
  awaiting_confirmation: false,
  created_at: "2026-01-01T00:00:00Z",
  tasks: [
    {
      name: "lexer",
      after: [],
      blocked_on: [],
      task: task("t-1", "completed", {
        verify: "cargo test lexer",
        expert: "development",
        routing: { primary_expert: "development", confidence: 1, strategy: "single_expert", method: "person", needs_confirmation: false, explanation: "" },
      }),
    },
    { name: "docs", after: [], blocked_on: [], task: task("t-2", "running", { expert: "inventory", routing: { primary_expert: "inventory", confidence: 0.9, strategy: "single_expert", method: "keywords", needs_confirmation: false, explanation: "" } }) },
    { name: "parser", after: ["lexer", "docs"], blocked_on: ["docs"], task: task("t-3", "blocked", { reason: "waiting for t-2 to complete" }) },
    { name: "audit", after: ["parser"], blocked_on: ["parser"], task: task("t-4", "blocked", { priority: "high" }) },
  ],
  counts: { completed: 1, running: 1, blocked: 2 },
  cost_usd: 0.0246,
  elapsed_secs: 75,
};

describe("the plan view", () => {
  it("indents each task one step under the deepest task it waits for", () => {
    expect([...planDepths(plan.tasks).entries()]).toEqual([
      ["lexer", 0],
      ["docs", 0],
      ["parser", 1],
      ["audit", 2],
    ]);
    const card = planCard(plan);
    expect(card.tasks.map((t) => t.indentStyle)).toEqual([
      "padding-left: 0rem",
      "padding-left: 0rem",
      "padding-left: 1.5rem",
      "padding-left: 3rem",
    ]);
  });

  it("says what a blocked task waits on, by name, and shows other tasks' reasons", () => {
    const card = planCard(plan);
    const parser = card.tasks[2];
    expect(parser.badge.label).toBe("Blocked");
    expect(parser.waitingFor).toBe("waiting for docs");
    expect(parser.reason).toBe("");
    expect(card.tasks[1].waitingFor).toBe("");
    expect(card.tasks[0].after).toBe("");
    expect(parser.after).toBe("lexer, docs");
  });

  it("shows the engine's counts, cost and time as they are", () => {
    const card = planCard(plan);
    expect(card.counts).toBe("1 running · 2 blocked · 1 completed");
    expect(card.cost).toMatch(/^\$0\.02/);
    expect(card.elapsed).toMatch(/1m/);
    expect(countsText({ awaiting_confirmation: 3, completed: 0 })).toBe("3 awaiting confirmation");
  });

  it("moves a running task's cost, and the plan's, with its workers' figures, marked as estimates", () => {
    const costs = new Map([["t-2", { cost_usd: 0.05, cost_estimated: true }]]);
    const card = planCard(plan, undefined, costs);
    expect(card.tasks[1].cost).toBe("≈ $0.0500 (estimate)");
    expect(card.tasks[0].cost).toBe("$0.0100");
    // 0.0246 from the engine, with t-2 at 0.05 instead of 0.01.
    expect(card.cost).toBe("≈ $0.0646 (estimate)");
  });

  it("gives a waiting plan back as the schema of plan submit, keeping checks and named experts", () => {
    const spec = planSpecOf(plan);
    expect(spec.goal).toBe("ship the parser");
    expect(spec.tasks[0]).toEqual({ name: "lexer", description: "do t-1", expert: "development", verify: "cargo test lexer" });
    expect(spec.tasks[1]).toEqual({ name: "docs", description: "do t-2" });
    expect(spec.tasks[3]).toEqual({ name: "audit", description: "do t-4", priority: "high", after: ["parser"] });
  });

  it("reads an edited plan back, or says why it is not one", () => {
    expect(parsePlanSpec(JSON.stringify(planSpecOf(plan)))).toEqual({ spec: planSpecOf(plan) });
    expect(parsePlanSpec("{")).toHaveProperty("error");
    expect(parsePlanSpec("[]")).toEqual({ error: 'expected an object {"goal", "tasks": [...]}' });
    expect(parsePlanSpec('{"goal": "g"}')).toEqual({ error: "tasks: expected a list" });
  });

  it("shows the goal task's own status and reason when it is known", () => {
    const goal = task("t-goal", "running", { reason: "all 4 tasks of plan p-1 completed; checking their merged work: make test" });
    const card = planCard(plan, goal);
    expect(card.goalBadge?.label).toBe("Running");
    expect(card.goalLabel).toBe("Goal: Running");
    expect(card.goalReason).toContain("checking their merged work");
    expect(planCard(plan).goalBadge).toBeNull();
    expect(planCard(plan, task("t-other", "completed")).goalBadge).toBeNull();
  });
});
