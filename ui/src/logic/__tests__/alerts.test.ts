import { describe, expect, it } from "vitest";
import { bannerView, dismissAllKeys } from "../alerts";
import { alertKey } from "../store";
import { alert, iso, task, worker } from "./fixtures";

describe("alert banner", () => {
  const warnOld = alert({ at: iso(1), severity: "warning", message: "old warning" });
  const critOld = alert({ at: iso(2), severity: "critical", kind: "zombie", message: "old critical" });
  const warnNew = alert({ at: iso(3), severity: "warning", worker_id: "w-2", message: "new warning" });
  const critNew = alert({ at: iso(4), severity: "critical", kind: "failed", message: "new critical" });
  const info = alert({ at: iso(5), severity: "info", kind: "completed", message: "done" });

  it("shows critical first, then newest first, and never info", () => {
    const v = bannerView([info, warnOld, critOld, warnNew, critNew], new Set(), new Map(), 10);
    expect(v.shown.map((i) => i.message)).toEqual(["new critical", "old critical", "new warning", "old warning"]);
    expect(v.severity).toBe("critical");
  });

  it("keeps a usage limit's wait in the banner until the worker works again or ends", () => {
    const limit = alert({ kind: "usage_limit", attempt: 1, message: "the 5-hour usage limit was reached: it waits and resumes at 18:00" });
    const waiting = worker({ id: "w-1", state: "waiting", health: "waiting", attempt: 1, waiting_for: { kind: "usage_limit", until: iso(3600) } });
    const v = bannerView([limit], new Set(), new Map([["w-1", waiting]]));
    expect(v.shown.map((i) => i.title)).toEqual(["Usage limit"]);
    const resumed = worker({ id: "w-1", state: "running", health: "healthy", attempt: 2 });
    expect(bannerView([limit], new Set(), new Map([["w-1", resumed]])).visible).toBe(false);
    const killed = worker({ id: "w-1", state: "cancelled", health: "cancelled", attempt: 1 });
    expect(bannerView([limit], new Set(), new Map([["w-1", killed]])).visible).toBe(false);
  });

  it("keeps dismissed alerts hidden and counts the rest", () => {
    const alerts = [warnOld, critOld, warnNew, critNew];
    const dismissed = new Set([alertKey(critNew)]);
    const v = bannerView(alerts, dismissed, new Map(), 2);
    expect(v.shown.map((i) => i.message)).toEqual(["old critical", "new warning"]);
    expect(v.more).toBe(1);
    const all = new Set([...dismissed, ...dismissAllKeys(alerts, dismissed)]);
    expect(bannerView(alerts, all).visible).toBe(false);
    // A new alert after "dismiss all" shows again.
    const later = alert({ at: iso(9), message: "later" });
    expect(bannerView([later, ...alerts], all).shown.map((i) => i.message)).toEqual(["later"]);
  });

  it("shows a summary as its members, so its count, colour and words are theirs", () => {
    const summary = alert({
      at: iso(6),
      severity: "critical",
      kind: "zombie",
      worker_id: undefined,
      message: "3 more workers need attention (completed, stalled, zombie)",
      summarized: [
        alert({ kind: "stalled", worker_id: "w-1", message: "stalled: silent" }),
        alert({ kind: "completed", severity: "info", worker_id: "w-2", message: "done" }),
        alert({ kind: "zombie", severity: "critical", worker_id: "w-3", message: "hung; killed" }),
      ],
    });
    const v = bannerView([summary], new Set(), new Map(), 10);
    expect(v.shown.map((i) => [i.severity, i.title, i.count, i.workerId])).toEqual([
      ["critical", "Zombie", 1, "w-3"],
      ["warning", "Stalled", 1, "w-1"],
    ]);
    // Without the zombie, nothing critical is left to colour the banner.
    const calm = { ...summary, summarized: summary.summarized!.filter((a) => a.kind !== "zombie") };
    expect(bannerView([calm], new Set()).severity).toBe("warning");
    expect(bannerView([warnOld], new Set()).shown[0].count).toBe(1);
  });

  it("names the task and expert of an alert's worker, the id second", () => {
    const a = alert({ worker_id: "w-01abcdefghijklmnopqrstuvwx", kind: "stalled" });
    const ws = new Map([[a.worker_id!, worker({ id: a.worker_id!, task_id: "t-1", health: "stalled" })]]);
    const ts = new Map([["t-1", task({ id: "t-1", description: "Refactor the cache layer" })]]);
    const [item] = bannerView([a], new Set(), ws, 3, ts).shown;
    expect(item.subject).toMatch(/^“Refactor the cache layer” · development · w-/);
  });

  it("lets an alert go once a later attempt of its worker works or it completed", () => {
    const killed = alert({ at: iso(2), severity: "critical", kind: "zombie", worker_id: "w-1", attempt: 1, message: "hung; killed" });
    const failed = alert({ at: iso(3), severity: "critical", kind: "timed_out", worker_id: "w-2", attempt: 1, message: "out of time" });
    const shown = (ws: ReturnType<typeof worker>[]) => bannerView([killed, failed], new Set(), new Map(ws.map((w) => [w.id, w])), 10).shown.length;
    expect(shown([worker({ id: "w-1", attempt: 1, state: "waiting", health: "waiting" }), worker({ id: "w-2", state: "failed", health: "failed" })])).toBe(2);
    expect(shown([worker({ id: "w-1", attempt: 2, state: "running", health: "healthy" }), worker({ id: "w-2", state: "failed", health: "failed" })])).toBe(1);
    expect(shown([worker({ id: "w-1", attempt: 2, state: "completed", health: "completed" }), worker({ id: "w-2", attempt: 2, state: "completed", health: "completed" })])).toBe(0);
  });

  it("lets a time warning go once the limit it spoke of was extended", () => {
    const near = alert({ at: iso(3), kind: "timeout_warning", worker_id: "w-2", attempt: 1, message: "90% of its time limit used (3240s of 3600s)" });
    const extended = alert({ at: iso(4), severity: "info", kind: "extended", worker_id: "w-2", attempt: 1, message: "extended by 900s" });
    const running = new Map([["w-2", worker({ id: "w-2", state: "running", health: "healthy", attempt: 1 })]]);
    expect(bannerView([near], new Set(), running).shown.length).toBe(1);
    expect(bannerView([near, extended], new Set(), running).visible).toBe(false);
    // A warning about the new limit, after the extension, is shown.
    const again = alert({ at: iso(5), kind: "timeout_warning", worker_id: "w-2", attempt: 1, message: "90% of its time limit used (4050s of 4500s)" });
    expect(bannerView([near, extended, again], new Set(), running).shown.map((i) => i.message)).toEqual([again.message]);
  });

  it("lets a stall go once the worker is out of it, and keeps what the PM did", () => {
    const stalled = alert({ at: iso(1), kind: "stalled", worker_id: "w-1", message: "stalled: silent for 2s" });
    const killed = alert({ at: iso(2), severity: "critical", kind: "zombie", worker_id: "w-1", message: "hung; killed" });
    const near = alert({ at: iso(3), kind: "timeout_warning", worker_id: "w-2", message: "90% of its time" });
    const shown = (workers: ReturnType<typeof worker>[]) =>
      bannerView([stalled, killed, near], new Set(), new Map(workers.map((w) => [w.id, w])), 10).shown.map((i) => i.message);
    // Unknown workers: taken as the alerts say.
    expect(shown([])).toEqual(["hung; killed", "90% of its time", "silent for 2s"]);
    expect(shown([worker({ id: "w-1", state: "running", health: "stalled" }), worker({ id: "w-2", state: "running" })])).toEqual([
      "hung; killed",
      "90% of its time",
      "silent for 2s",
    ]);
    // Recovered, and the other one ended.
    expect(shown([worker({ id: "w-1", state: "running", health: "healthy" }), worker({ id: "w-2", state: "completed" })])).toEqual([
      "hung; killed",
    ]);
    // Killed while stalled: the stall is over, the kill stays.
    expect(shown([worker({ id: "w-1", state: "cancelled", health: "stalled" })])).toEqual(["hung; killed", "90% of its time"]);
  });

  it("keeps a summary while any alert in it holds", () => {
    const summary = alert({
      at: iso(6),
      worker_id: undefined,
      message: "2 more workers need attention (stalled)",
      summarized: [alert({ kind: "stalled", worker_id: "w-1" }), alert({ kind: "stalled", worker_id: "w-2" })],
    });
    const ws = (h1: string, h2: string) =>
      new Map([
        ["w-1", worker({ id: "w-1", state: "running", health: h1 })],
        ["w-2", worker({ id: "w-2", state: "running", health: h2 })],
      ]);
    expect(bannerView([summary], new Set(), ws("healthy", "stalled")).visible).toBe(true);
    expect(bannerView([summary], new Set(), ws("healthy", "healthy")).visible).toBe(false);
  });

  it("dismissing all covers alerts that no longer hold, so they cannot come back", () => {
    const stalled = alert({ at: iso(1), kind: "stalled", worker_id: "w-1" });
    const recovered = new Map([["w-1", worker({ id: "w-1", state: "running", health: "healthy" })]]);
    expect(bannerView([stalled], new Set(), recovered).visible).toBe(false);
    const keys = new Set(dismissAllKeys([stalled], new Set()));
    const stalledAgain = new Map([["w-1", worker({ id: "w-1", state: "running", health: "stalled" })]]);
    expect(bannerView([stalled], keys, stalledAgain).visible).toBe(false);
  });

  it("shows a worker's latest stall once when it stalled again", () => {
    const first = alert({ at: iso(1), kind: "stalled", worker_id: "w-1", message: "stalled: first" });
    const again = alert({ at: iso(5), kind: "stalled", worker_id: "w-1", message: "stalled: again" });
    const other = alert({ at: iso(3), kind: "stalled", worker_id: "w-2", message: "stalled: other" });
    const ws = new Map([
      ["w-1", worker({ id: "w-1", state: "running", health: "stalled" })],
      ["w-2", worker({ id: "w-2", state: "running", health: "stalled" })],
    ]);
    expect(bannerView([again, other, first], new Set(), ws, 10).shown.map((i) => i.message)).toEqual(["again", "other"]);
  });
});
