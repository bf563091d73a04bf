import { describe, expect, it } from "vitest";
import type { TaskStatus } from "../../types";
import { BOARD_COLUMN, buildBoard, filterChoices, projectName, projectNames, projectOf } from "../board";
import { iso, task } from "./fixtures";

const ALL: TaskStatus[] = [
  "queued", "awaiting_confirmation", "routed", "running", "waiting", "needs_attention",
  "needs_input", "blocked", "completed", "failed", "cancelled",
];

describe("board", () => {
  it("puts every status in one column, with the three that need a person under Needs you", () => {
    const needsYou = ALL.filter((s) => BOARD_COLUMN[s] === "needs_you").sort();
    expect(needsYou).toEqual(["awaiting_confirmation", "needs_attention", "needs_input"]);
    expect(ALL.filter((s) => BOARD_COLUMN[s] === "done").sort()).toEqual(["cancelled", "completed", "failed"]);
    // A waiting task is held before any worker starts on it: queued, not running.
    expect(ALL.filter((s) => BOARD_COLUMN[s] === "running").sort()).toEqual(["running"]);
    // A blocked task waits for other tasks, as the Tasks page's "Needs a person" filter agrees.
    expect(ALL.filter((s) => BOARD_COLUMN[s] === "queued").sort()).toEqual(["blocked", "queued", "routed", "waiting"]);
  });

  const tasks = [
    task({ id: "t-1", status: "running", workdir: "/src/app/sub", project: "/src/app", created_at: iso(1) }),
    task({ id: "t-2", status: "needs_input", workdir: "/src/app", project: "/src/app", created_at: iso(2), expert: "security", experts: ["security"] }),
    task({ id: "t-3", status: "completed", workdir: "/srv/zeta", created_at: iso(3), description: "Write the release notes" }),
    task({ id: "t-4", status: "completed", workdir: "/src/app", project: "/src/app", created_at: iso(4) }),
    task({ id: "t-5", status: "queued", created_at: iso(5) }),
  ];

  it("groups each column by project, newest first, with true counts", () => {
    const b = buildBoard(tasks);
    expect(b.map((c) => [c.key, c.count])).toEqual([["queued", 1], ["running", 1], ["needs_you", 1], ["done", 2]]);
    const done = b[3];
    expect(done.groups.map((g) => [g.name, g.tasks.map((t) => t.id)])).toEqual([["app", ["t-4"]], ["zeta", ["t-3"]]]);
    expect(b[0].groups[0].name).toBe("(no folder)");
  });

  it("filters by words, expert and project, and caps what is shown but not the count", () => {
    expect(buildBoard(tasks, { text: "release NOTES", expert: "", project: "" })[3].count).toBe(1);
    const sec = buildBoard(tasks, { text: "", expert: "security", project: "" });
    expect(sec.map((c) => c.count)).toEqual([0, 0, 1, 0]);
    expect(buildBoard(tasks, { text: "", expert: "", project: "/srv/zeta" })[3].groups[0].tasks[0].id).toBe("t-3");
    const capped = buildBoard(tasks, undefined, 1)[3];
    expect([capped.count, capped.shown]).toEqual([2, 1]);
  });

  it("names projects by their last folder and lists the filter's choices", () => {
    expect(projectName("/home/me/code/cortex/")).toBe("cortex");
    expect(projectOf({ project: undefined, workdir: "/w" })).toBe("/w");
    const c = filterChoices(tasks);
    expect(c.experts).toEqual(["security"]);
    expect(c.projects.map((p) => p.name)).toEqual(["(no folder)", "app", "zeta"]);
  });
});

describe("project names", () => {
  it("names each project by its folder, with parents only where two share a name", () => {
    const names = projectNames(["/home/a/app", "/srv/b/app", "/src/api", "/app"]);
    expect(Object.fromEntries(names)).toEqual({ "/home/a/app": "a/app", "/srv/b/app": "b/app", "/src/api": "api", "/app": "/app" });
    expect(projectNames(["/x/same/app", "/y/same/app"]).get("/x/same/app")).toBe("x/same/app");
  });
});
