import { describe, expect, it } from "vitest";
import { bannerView, dismissAllKeys } from "../alerts";
import { alertKey } from "../store";
import { alert, iso, worker } from "./fixtures";

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

  it("gives a summary alert its count", () => {
    const summary = alert({
      at: iso(6),
      severity: "warning",
      worker_id: undefined,
      message: "4 more workers need attention (stalled, zombie)",
      summarized: [
        alert({ kind: "stalled", worker_id: "w-1" }),
        alert({ kind: "stalled", worker_id: "w-2" }),
        alert({ kind: "zombie", worker_id: "w-3" }),
        alert({ kind: "stalled", worker_id: "w-4" }),
      ],
    });
    const [item] = bannerView([summary], new Set()).shown;
    expect(item.count).toBe(4);
    expect(item.title).toBe("4 alerts · stalled, zombie");
    expect(item.workerId).toBeNull();
    expect(bannerView([warnOld], new Set()).shown[0].count).toBe(1);
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
