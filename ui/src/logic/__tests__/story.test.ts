import { describe, expect, it } from "vitest";
import type { Changes, TaskStory, Worker, WorkerStory } from "../../types";
import { parseUnifiedDiff } from "../diff";
import { canMerge, capDiff, changesNote, liveStory, mergedWhere, storySignature, storyView, verificationBadge } from "../story";
import { iso, task, worker as liveWorker } from "./fixtures";

const tok = (input: number, output: number) => ({ input, output, cache_read: 0, cache_creation: 0 });
const changes = (over: Partial<Changes> = {}): Changes => ({
  kind: "worktree", expert: "development", worker_id: "w-1", branch: "cortex/t-1-development", base: "abc", base_branch: "main",
  repo: "/src/app", workdir: "/home/.cortex/worktrees/x", files: [{ path: "fake-out.txt", added: 1, removed: 0 }],
  may_include_others: false, ...over,
});
const worker = (over: Partial<WorkerStory> = {}): WorkerStory => ({
  id: "w-1", expert: "development", status: "completed", reason: "success", workdir: "/w", result: "done", verification: null,
  tokens: tok(1000, 50), cost_usd: 0.25, cost_estimated: true, duration_secs: 90,
  attempts: [
    { n: 1, started_at: iso(0), ended_at: iso(30), resumed: false, outcome: "crashed", reason: "exit 3", exit_code: 3, cost_usd: 0.1, cost_estimated: true, tokens: tok(0, 0), duration_secs: 30 },
    { n: 2, started_at: iso(40), ended_at: iso(100), resumed: true, outcome: "success", reason: null, exit_code: 0, cost_usd: 0.15, cost_estimated: false, tokens: tok(0, 0), duration_secs: 60 },
  ],
  base: null, changes: changes(), ...over,
});
const story = (over: Partial<TaskStory> = {}): TaskStory => ({
  ...task({ id: "t-1", status: "completed", cost_usd: 0.4, project: "/src/app", routing: { primary_expert: "development", confidence: 0.85, strategy: "multi_expert_parallel", method: "keywords", needs_confirmation: false, explanation: "matched login" } }),
  tokens: tok(3000, 80), cost_estimated: true, duration_secs: 150, attempts: 3,
  workers: [worker(), worker({ id: "w-2", expert: "security", status: "running", attempts: [], changes: changes({ kind: "none", message: "outside git", files: [] }) })],
  changes: changes(), ...over,
});

describe("what a worker's changes say", () => {
  it("says git could not read them, not that nothing changed, and keeps a worktree's note", () => {
    expect(changesNote(changes({ files: [], unreadable: true, message: "fatal: not a git repository" }))).toBe(
      "The changes cannot be read: fatal: not a git repository",
    );
    expect(changesNote(changes({ message: "its worktree is on a detached HEAD at abc1234, not on the task's branch" }))).toContain(
      "; its worktree is on a detached HEAD",
    );
  });
});

describe("a story's figures as its workers are now", () => {
  it("moves a running attempt's time with the clock between reads, and only a running one's", () => {
    const running = worker({
      id: "w-2", expert: "security", status: "running", duration_secs: 10, tokens: tok(0, 0),
      attempts: [{ n: 1, started_at: iso(0), ended_at: null, resumed: false, outcome: null, reason: null, exit_code: null, cost_usd: 0, cost_estimated: false, tokens: tok(0, 0), duration_secs: 10 }],
    });
    const s = story({ workers: [worker(), running], duration_secs: 70 });
    const later = liveStory(s, new Map(), Date.parse(iso(0)) + 1_800_000);
    expect(later.workers[1].attempts[0].duration_secs).toBe(1800);
    expect(later.workers[1].duration_secs).toBe(1800);
    expect(later.duration_secs).toBe(70 + 1790);
    // The ended worker's time stays what it was.
    expect(later.workers[0].duration_secs).toBe(s.workers[0].duration_secs);
  });

  it("counts a running attempt's time from when it left a cluster's queue, not from its start", () => {
    // Submitted at 0, out of the queue at 600 s, read at 610 s (10 s run).
    const running = worker({
      id: "w-2", expert: "security", status: "running", duration_secs: 10, tokens: tok(0, 0),
      attempts: [{ n: 1, started_at: iso(0), running_at: iso(600), ended_at: null, resumed: false, outcome: null, reason: null, exit_code: null, cost_usd: 0, cost_estimated: false, tokens: tok(0, 0), duration_secs: 10 }],
    });
    const s = story({ workers: [worker(), running], duration_secs: 70 });
    const later = liveStory(s, new Map(), Date.parse(iso(0)) + 640_000);
    expect(later.workers[1].attempts[0].duration_secs).toBe(40);
    expect(later.duration_secs).toBe(70 + 30);
    // Still in the queue: none of its time counts, however long it waits.
    const queued = worker({
      id: "w-2", expert: "security", status: "running", duration_secs: 0, tokens: tok(0, 0),
      attempts: [{ n: 1, started_at: iso(0), queued: true, ended_at: null, resumed: false, outcome: null, reason: null, exit_code: null, cost_usd: 0, cost_estimated: false, tokens: tok(0, 0), duration_secs: 0 }],
    });
    const waiting = liveStory(story({ workers: [worker(), queued], duration_secs: 60 }), new Map(), Date.parse(iso(0)) + 640_000);
    expect(waiting.workers[1].attempts[0].duration_secs).toBe(0);
  });

  it("takes a running attempt's cost and tokens from the worker, and sums them into the task", () => {
    const running = worker({
      id: "w-2", expert: "security", status: "running", cost_usd: 0, cost_estimated: false, tokens: tok(0, 0),
      attempts: [{ n: 1, started_at: iso(0), ended_at: null, resumed: false, outcome: null, reason: null, exit_code: null, cost_usd: 0, cost_estimated: false, tokens: tok(0, 0), duration_secs: 10 }],
    });
    const s = story({ workers: [worker(), running], cost_usd: 0.25, tokens: tok(1000, 50) });
    const live = liveWorker({
      id: "w-2", cost_usd: 0.004, cost_estimated: true, tokens: { input: 600, output: 40 },
      live_attempt: { n: 1, cost_usd: 0.004, cost_estimated: true, tokens: { input: 600, output: 40 } },
    });
    const v = storyView(liveStory(s, new Map([["w-2", live]])));
    expect(v.workers[1].cost).toBe("≈ $0.0040 (estimate)");
    expect(v.workers[1].attempts[0].cost).toBe("≈ $0.0040 (estimate)");
    expect(v.cost).toBe("≈ $0.2540 (estimate)");
    expect(v.tokens).toBe("1.6k in / 90 out");
    // Counted as every view counts them; the cache's tokens named apart.
    expect(storyView({ ...s, tokens: { input: 1000, output: 200, cache_read: 50_000, cache_creation: 0 } }).tokens).toBe("1.0k in / 200 out (+ 50.0k cache)");
    // A worker the page does not know keeps the story's figures.
    expect(liveStory(s, new Map())).toBe(s);
  });
});

describe("task story", () => {
  it("is read again when an attempt ends into its check or a job leaves the queue", () => {
    const t = task({ id: "t-1", status: "running" });
    const w = liveWorker({ id: "w-1", task_id: "t-1", state: "running", health: "healthy", attempt: 1 });
    const before = storySignature("t-1", t, [w]);
    expect(storySignature("t-1", t, [{ ...w, health: "verifying" }])).not.toBe(before);
    expect(storySignature("t-1", t, [{ ...w, health: "scheduled" }])).not.toBe(before);
    // Another task's workers leave it alone.
    expect(storySignature("t-1", t, [w, { ...w, id: "w-9", task_id: "t-9" }])).toBe(before);
  });

  it("shows a live worker's badge as every view shows it, and a queued attempt as queued", () => {
    const attempt = { n: 1, started_at: iso(0), ended_at: null, resumed: false, outcome: null, reason: null, exit_code: null, cost_usd: 0, cost_estimated: false, tokens: tok(0, 0), duration_secs: 0 };
    const s = story({ workers: [worker({ status: "running", attempts: [attempt] })] });
    const seen = (health: string, state = "running") =>
      storyView(s, new Map([["w-1", liveWorker({ id: "w-1", state: state as Worker["state"], health })]])).workers[0].badge.label;
    expect(seen("stalled")).toBe("Stalled");
    expect(seen("zombie")).toBe("Zombie");
    expect(seen("verifying")).toBe("Verifying");
    expect(seen("healthy", "stopping")).toBe("Stopping…");
    // A worker the page does not know keeps the story's word.
    expect(storyView(s).workers[0].badge.label).toBe("Running");
    expect(storyView(s).workers[0].attempts[0].outcome).toBe("running");
    const queued = story({ workers: [worker({ status: "running", attempts: [{ ...attempt, queued: true }] })] });
    expect(storyView(queued).workers[0].attempts[0].outcome).toBe("queued on the cluster, not begun to run");
  });

  it("sums and labels the whole task, and lays every worker out with its attempts", () => {
    const v = storyView(story());
    // A crashed attempt's cost is Cortex's estimate: its worker's and the task's sums say so.
    expect([v.cost, v.duration, v.attempts, v.column, v.project]).toEqual(["≈ $0.4000 (estimate)", "2m 30s", "3 attempts", "done", "/src/app"]);
    expect(v.workers[0].cost).toBe("≈ $0.2500 (estimate)");
    expect(v.workers[0].attempts.map((a) => a.cost)).toEqual(["≈ $0.1000 (estimate)", "$0.1500"]);
    expect(storyView(story({ cost_estimated: false })).cost).toBe("$0.4000");
    expect(v.routing).toContain("development · 85%");
    expect(v.workers.map((w) => [w.expert, w.attempts.length, w.canReply])).toEqual([["development", 2, true], ["security", 0, false]]);
    expect(v.workers[0].attempts[1]).toMatchObject({ label: "Attempt 2 (resumed)", outcome: "success" });
    expect(v.changeExperts).toEqual(["development"]);
    // A reason that repeats the status is not shown; a real one is.
    expect(storyView(story({ reason: "completed" })).reason).toBe("");
    expect(storyView(story({ status: "failed", reason: "exited with 3" })).reason).toBe("exited with 3");
  });

  it("says what was verified, and that an unchecked task was not", () => {
    expect(verificationBadge(null).label).toBe("Not verified");
    expect(verificationBadge({ command: "make test", passed: null, exit_code: null, rounds: 1, output_tail: null }).label).toBe("Verifying");
    expect(verificationBadge({ command: "make test", passed: false, exit_code: 2, rounds: 2, output_tail: null })).toMatchObject({ label: "Check failed", detail: "make test exited 2 after 2 rounds" });
    expect(verificationBadge({ command: "make test", passed: true, exit_code: 0, rounds: 1, output_tail: null }).tone).toBe("green");
    // A check a person stopped did not fail; one that could not run says why.
    const stopped = { command: "make test", passed: false, exit_code: null, rounds: 1, output_tail: null, outcome: "stopped" as const, reason: "stopped: task cancelled by a person" };
    expect(verificationBadge(stopped)).toMatchObject({ label: "Check stopped", tone: "grey" });
    const notRun = { ...stopped, outcome: "not_run" as const, reason: "could not run: the work conflicts in k.txt" };
    expect(verificationBadge(notRun)).toMatchObject({ label: "Check not run", detail: "make test: could not run: the work conflicts in k.txt" });
  });

  it("offers Merge only for a worktree branch with changes, and says why there is nothing", () => {
    const ended = story();
    expect(canMerge(changes(), ended)).toBe(true);
    // The engine refuses a merge while the worker that made the work runs.
    const live = story({ workers: [worker({ status: "running" })] });
    expect(canMerge(changes(), live)).toBe(false);
    expect(canMerge(changes(), null)).toBe(false);
    expect(canMerge(changes({ files: [] }), ended)).toBe(false);
    expect(canMerge(changes({ kind: "in_place" }), ended)).toBe(false);
    expect(changesNote(changes())).toBe("1 file changed on cortex/t-1-development (a worktree)");
    // Work its base branch already holds is said to be merged and offers no Merge.
    expect(changesNote(changes({ merged_into: "main" }))).toBe(
      "1 file changed on cortex/t-1-development (a worktree); merged into main",
    );
    expect(canMerge(changes({ merged_into: "main" }), ended)).toBe(false);
    // Merged into another branch (--into): said, and Merge into the base stays.
    expect(changesNote(changes({ base_branch: "main", merged_elsewhere: ["release"] }))).toBe(
      "1 file changed on cortex/t-1-development (a worktree); merged into release, not into main",
    );
    expect(canMerge(changes({ base_branch: "main", merged_elsewhere: ["release"] }), ended)).toBe(true);
    expect(mergedWhere(changes({ merged_into: "main", merged_elsewhere: ["release", "next"] }))).toBe(
      "merged into main, release and next",
    );
    // A removed worktree's kept branch still shows its changes.
    expect(changesNote(changes({ worktree_removed: true }))).toBe(
      "1 file changed on cortex/t-1-development (its worktree was removed, the branch is kept)",
    );
    expect(changesNote(changes({ kind: "none", message: "its agent never started, so it changed nothing" }))).toBe("its agent never started, so it changed nothing");
    expect(changesNote(null)).toBe("No worker has started yet.");
  });

  it("caps the diff's lines and counts the rest", () => {
    const patch = ["diff --git a/a b/a", "--- a/a", "+++ b/a", "@@ -1,3 +1,3 @@", "-x", "+y", " z", ""].join("\n");
    const files = parseUnifiedDiff(patch + patch.replace(/a\b/g, "b"));
    const shown = capDiff(files, 4);
    expect(shown.files.map((f) => f.hunks[0].lines.length)).toEqual([3, 1]);
    expect(shown.hiddenLines).toBe(2);
  });
});
