import { describe, expect, it } from "vitest";
import type { ActivityLine, LoggedDecision } from "../../types";
import { feedSubject, filterFeed, mergeFeed, workerTimeline } from "../feed";
import { corrections, decisionRows, distribution } from "../routing";
import { transcriptView } from "../transcript";
import { taskRow, taskExperts, filterTasks } from "../tasks";
import { statCards, totals, activeWorkers, queuedTasks } from "../overview";
import { toApiError, describeError } from "../errors";
import { fleetCounts } from "../fleet";
import { alert, decision, iso, task, T0, worker } from "./fixtures";

const line = (over: Partial<ActivityLine>): ActivityLine => ({
  at: iso(0),
  event: "health",
  worker_id: "w-1",
  task_id: "t-1",
  attempt: 1,
  message: "",
  ...over,
});

describe("activity feed", () => {
  it("merges alerts and lines newest first, without repeating an alert", () => {
    const a = alert({ at: iso(10), worker_id: "w-1", message: "worker w-1 stalled" });
    const lines = [
      line({ at: iso(5), from: "healthy", to: "late", message: "late" }),
      line({ at: iso(10), event: "alert", message: "worker w-1 stalled" }),
      line({ at: iso(20), event: "kill_and_restart", message: "killed" }),
    ];
    const feed = mergeFeed([a], lines);
    expect(feed.map((i) => [i.source, i.title])).toEqual([
      ["activity", "kill + restart"],
      ["alert", "Stalled"],
      ["activity", "healthy → late"],
    ]);
    expect(feed[2].tone).toBe("amber");
  });
  it("says a queued job's reason changed when its health did not (a hold placed on it)", () => {
    const held = line({ from: "scheduled", to: "scheduled", message: "queued on the cluster: held by its owner (JobHeldUser)" });
    expect(mergeFeed([], [held]).map((i) => i.title)).toEqual(["still scheduled: its reason changed"]);
  });
  it("says a settings file edited on disk was read, or refused, with no worker to name", () => {
    const feed = mergeFeed([], [
      line({ at: iso(1), event: "settings_applied", worker_id: null, message: "read again" }),
      line({ at: iso(2), event: "settings_refused", worker_id: null, message: "config.json: key `capacity.max_worker`" }),
    ]);
    expect(feed.map((i) => [i.title, i.tone])).toEqual([
      ["settings refused", "red"],
      ["settings read", "blue"],
    ]);
  });
  it("says a merge and a worktree's removal as what they did to the repository", () => {
    const feed = mergeFeed([], [
      line({ at: iso(1), event: "merged", message: "merged cortex/t-1-development into main (merge commit 1a2b3c4d5e6f, 2 files)" }),
      line({ at: iso(2), event: "worktree_removed", message: "worktree /w removed, branch cortex/t-1-development kept (its work is merged)" }),
    ]);
    expect(feed.map((i) => [i.title, i.tone, i.workerId])).toEqual([
      ["worktree removed", "grey", "w-1"],
      ["merged", "green", "w-1"],
    ]);
  });
  it("keeps a line's key when older lines drop out of the window", () => {
    const lines = [line({ at: iso(1), message: "a" }), line({ at: iso(2), message: "b" }), line({ at: iso(3), message: "c" })];
    const before = mergeFeed([], lines).map((i) => i.key);
    const after = mergeFeed([], [...lines.slice(1), line({ at: iso(4), message: "d" })]).map((i) => i.key);
    expect(after.slice(1)).toEqual(before.slice(0, 2));
    // Identical lines still get distinct keys.
    const twins = mergeFeed([], [line({ at: iso(1) }), line({ at: iso(1) })]).map((i) => i.key);
    expect(new Set(twins).size).toBe(2);
  });
  it("filters the feed by alerts, health changes and interventions", () => {
    const lines = [
      line({ at: iso(5), from: "healthy", to: "late", message: "late" }),
      line({ at: iso(10), event: "alert", message: "worker w-1 stalled" }),
      line({ at: iso(20), event: "kill_and_restart", message: "killed" }),
      line({ at: iso(30), event: "extend", message: "15 more minutes" }),
    ];
    const feed = mergeFeed([], lines);
    expect(filterFeed(feed, "all")).toHaveLength(4);
    expect(filterFeed(feed, "alerts").map((i) => i.label)).toEqual(["alert"]);
    expect(filterFeed(feed, "health").map((i) => i.label)).toEqual(["health"]);
    expect(filterFeed(feed, "interventions").map((i) => i.label)).toEqual(["extend", "kill + restart"]);
  });

  it("builds one worker's timeline", () => {
    const lines = [line({ at: iso(1), worker_id: "w-2" }), line({ at: iso(2), from: "late", to: "stalled" }), line({ at: iso(3), event: "extend" })];
    expect(workerTimeline(lines, "w-1").map((i) => i.title)).toEqual(["extend", "late → stalled"]);
  });
});

describe("routing page", () => {
  const logged = (over: Partial<LoggedDecision>): LoggedDecision => ({ ...decision(), task_id: "t-1", at: iso(0), ...over });
  const decisions = [
    logged({ task_id: "t-1", at: iso(1), primary_expert: "development", method: "keywords" }),
    logged({ task_id: "t-2", at: iso(2), primary_expert: "security" }),
    logged({ task_id: "t-1", at: iso(3), primary_expert: "security", method: "person", confidence: 1 }),
  ];
  it("says a decision awaits confirmation only while its task does", () => {
    const low = [logged({ task_id: "t-7", needs_confirmation: true })];
    expect(decisionRows(low, [{ id: "t-7", description: "x" }])[0].needsConfirmation).toBe(false);
    expect(decisionRows(low, [{ id: "t-7", description: "x", awaitingConfirmation: true }])[0].needsConfirmation).toBe(true);
  });
  it("keeps a decision's key when older decisions drop out of the window", () => {
    const before = decisionRows(decisions, []);
    const after = decisionRows(decisions.slice(1), []);
    expect(after.map((r) => r.key)).toEqual(before.slice(0, 2).map((r) => r.key));
  });
  it("lists decisions newest first with the task text", () => {
    // A decision of another day reads with its date, one of today by its time.
    const at = Date.parse(decisions[0].at);
    expect(decisionRows(decisions.slice(0, 1), [], at)[0].time).toMatch(/^\d\d:\d\d:\d\d$/);
    expect(decisionRows(decisions.slice(0, 1), [], at + 2 * 86_400_000)[0].time).not.toMatch(/^\d\d:\d\d:\d\d$/);
    const rows = decisionRows(decisions, [task({ id: "t-2", description: "Patch the XSS" })]);
    expect(rows.map((r) => r.primary)).toEqual(["security", "security", "development"]);
    expect(rows[1].task).toBe("Patch the XSS");
    expect(rows[0].isCorrection).toBe(true);
  });
  it("counts the standing decision per task, listing idle experts", () => {
    expect(distribution(decisions, ["cicd", "development", "security"])).toEqual({
      labels: ["security", "cicd", "development"],
      counts: [2, 0, 0],
    });
  });
  it("lists corrections with what they replaced", () => {
    const c = corrections(decisions, []);
    expect(c).toHaveLength(1);
    expect(c[0]).toMatchObject({ taskId: "t-1", from: "development", to: "security" });
  });
});

describe("transcript", () => {
  it("groups entries by attempt, styles kinds and cuts huge text", () => {
    const g = transcriptView(
      [
        { attempt: 1, kind: "assistant", text: "Looking at the tests" },
        { attempt: 1, kind: "tool_call", text: "Bash: npm test" },
        { attempt: 2, kind: "tool_error", text: "x".repeat(50) },
        { attempt: 2, kind: "mystery" as never, text: "?" },
      ],
      20,
    );
    expect(g.map((x) => x.title)).toEqual(["Attempt 1", "Attempt 2"]);
    expect(g[0].entries[1].style.label).toBe("tool call");
    expect(g[1].entries[0]).toMatchObject({ cut: 30, text: "x".repeat(20) });
    expect(g[1].entries[0].style.cls).toContain("bg-red-50");
    expect(g[1].entries[1].style.label).toBe("other");
  });
});

describe("tasks, overview and errors", () => {
  it("summarizes a task row with its routing", () => {
    const t = task({
      status: "needs_attention",
      assignments: [
        { expert: "security", status: "running" },
        { expert: "cicd", status: "pending" },
      ],
      routing: { primary_expert: "security", confidence: 0.62, strategy: "multi_expert_parallel", method: "keywords", needs_confirmation: true, explanation: "" },
    });
    const r = taskRow(t, T0 + 90_000);
    expect(taskExperts(t)).toEqual(["security", "cicd"]);
    expect(r).toMatchObject({ experts: "security, cicd", confidence: "62%", strategy: "parallel experts", needsConfirmation: false, created: "1m ago" });
    expect(filterTasks([t, task({ id: "t-9", status: "completed" })], "attention")).toHaveLength(1);
  });
  it("asks for a confirmation only while the engine says the task awaits one", () => {
    const routing = { primary_expert: "security", confidence: 0.4, strategy: "single_expert_low_confidence" as const, method: "keywords" as const, needs_confirmation: true, explanation: "" };
    expect(taskRow(task({ status: "running", routing }), T0).needsConfirmation).toBe(false);
    expect(taskRow(task({ status: "completed", routing }), T0).needsConfirmation).toBe(false);
    expect(taskRow(task({ status: "awaiting_confirmation", routing }), T0).needsConfirmation).toBe(true);
    expect(filterTasks([task({ status: "running", routing })], "attention")).toHaveLength(0);
  });
  it("reads the cards from the one count of the workers, totals and active workers from status", () => {
    const s = {
      tasks: { queued: 2 },
      workers: { running: 3, waiting: 1, completed: 7 },
      health: { healthy: 2, stalled: 1, waiting: 1 },
      paused: false,
      success_rate: 0.9,
      cost_today_usd: 1.5,
      tokens_today: 12_345,
      now: iso(0),
    };
    const ws = [
      worker({ id: "w-1" }),
      worker({ id: "w-2" }),
      worker({ id: "w-3", health: "stalled" }),
      worker({ id: "w-4", state: "waiting", health: "waiting", waiting_for: { kind: "restart", after: "crashed" } }),
      worker({ id: "w-5", state: "completed", health: "completed" }),
    ];
    const cards = Object.fromEntries(statCards(fleetCounts(ws, [], new Set())).map((c) => [c.id, c.value]));
    expect(cards).toEqual({ running: 3, healthy: 2, late: 0, stalled: 1, zombie: 0, waiting: 1 });
    expect(activeWorkers(s)).toBe(4);
    expect(totals(s)).toMatchObject({ successRate: "90%", tokensToday: "12.3k", costToday: "$1.50", queued: 2 });
    expect(queuedTasks(s)).toBe(2);
    // Today's cost says when part of it is Cortex's estimate (a killed attempt's tokens), and why.
    expect(totals(s).costNote).toBe("");
    const estimated = totals({ ...s, cost_today_estimated: true });
    expect(estimated.costToday).toBe("≈ $1.50");
    expect(estimated.costNote).toContain("estimate");
    expect(queuedTasks({ ...s, tasks: { routed: 1 } })).toBe(1);
    expect(statCards(fleetCounts([], [], new Set())).every((c) => c.value === 0)).toBe(true);
  });
  it("normalizes rejected commands into ApiErrors", () => {
    expect(toApiError({ code: "bad_config", message: "m", key: "pm.x", file: "config.json" })).toEqual({
      code: "bad_config",
      message: "m",
      key: "pm.x",
      file: "config.json",
    });
    expect(toApiError("plain failure")).toEqual({ code: "error", message: "plain failure" });
    // A refused expert profile's every problem is kept, for its editor.
    const refused = toApiError({
      code: "bad_config", message: "m", key: "max_workers",
      problems: [{ key: "cost_budget_usd", message: "expected a positive number" }, { message: "whole file" }, 7],
    });
    expect(refused.problems).toEqual([{ key: "cost_budget_usd", message: "expected a positive number" }, { message: "whole file" }]);
    expect(toApiError('{"code":"unknown_worker","message":"no such worker"}').code).toBe("unknown_worker");
    expect(describeError("kill", { code: "unknown_worker", message: "no such worker" })).toBe("kill: no such worker (unknown_worker)");
  });
});

describe("a worker's timeline and the feed's names", () => {
  it("runs the timeline to the outcome after a kill and restart", () => {
    const lines = [
      { at: iso(10), event: "kill_and_restart", worker_id: "w-1", task_id: "t-1", attempt: 1, message: "hung; killed, restart 1 of 3" },
    ];
    const live = worker({ id: "w-1", attempt: 2, state: "running" });
    expect(workerTimeline(lines, "w-1", live).map((i) => i.label)).toEqual(["kill + restart"]);
    const done = worker({ id: "w-1", attempt: 2, state: "completed", health: "completed", last_activity_at: iso(90) });
    const items = workerTimeline(lines, "w-1", done);
    expect(items.map((i) => [i.label, i.title])).toEqual([
      ["outcome", "Completed"],
      ["kill + restart", "kill + restart"],
    ]);
    expect(items[0]).toMatchObject({ at: iso(90), attempt: 2 });
  });

  it("shows an earlier attempt's end from its alert, and the last one's once, as the outcome", () => {
    const lines = [{ at: iso(20), event: "reply", worker_id: "w-1", task_id: "t-1", attempt: 1, message: "a person replied: add a line" }];
    const alerts = [
      alert({ at: iso(10), kind: "completed", severity: "info", worker_id: "w-1", attempt: 1, message: "development completed" }),
      alert({ at: iso(30), kind: "completed", severity: "info", worker_id: "w-1", attempt: 2, message: "development completed" }),
      alert({ at: iso(15), kind: "stalled", severity: "warning", worker_id: "w-2", attempt: 1, message: "another worker" }),
    ];
    const done = worker({ id: "w-1", attempt: 2, state: "completed", health: "completed", last_activity_at: iso(30) });
    expect(workerTimeline(lines, "w-1", done, alerts).map((i) => [i.label, i.attempt, i.at])).toEqual([
      ["outcome", 2, iso(30)],
      ["reply", 1, iso(20)],
      ["info", 1, iso(10)],
    ]);
    // While the second attempt runs, both completions so far are steps.
    const live = worker({ id: "w-1", attempt: 2, state: "running" });
    expect(workerTimeline(lines, "w-1", live, alerts.slice(0, 1)).map((i) => i.label)).toEqual(["reply", "info"]);
  });

  it("names the task and expert of a feed item's worker", () => {
    const ws = new Map([["w-1", worker({ id: "w-1", task_id: "t-1" })]]);
    const ts = new Map([["t-1", task({ id: "t-1", description: "Implement the login endpoint" })]]);
    expect(feedSubject({ workerId: "w-1", taskId: "t-1" }, ws, ts)).toBe("“Implement the login endpoint” · development");
    expect(feedSubject({ workerId: null, taskId: null }, ws, ts)).toBe("");
  });
});
