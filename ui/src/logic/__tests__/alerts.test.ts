import { describe, expect, it } from "vitest";
import { bannerView, dismissAllKeys } from "../alerts";
import { alertKey } from "../store";
import { alert, iso } from "./fixtures";

describe("alert banner", () => {
  const warnOld = alert({ at: iso(1), severity: "warning", message: "old warning" });
  const critOld = alert({ at: iso(2), severity: "critical", kind: "zombie", message: "old critical" });
  const warnNew = alert({ at: iso(3), severity: "warning", message: "new warning" });
  const critNew = alert({ at: iso(4), severity: "critical", kind: "failed", message: "new critical" });
  const info = alert({ at: iso(5), severity: "info", kind: "completed", message: "done" });

  it("shows critical first, then newest first, and never info", () => {
    const v = bannerView([info, warnOld, critOld, warnNew, critNew], new Set(), 10);
    expect(v.shown.map((i) => i.message)).toEqual(["new critical", "old critical", "new warning", "old warning"]);
    expect(v.severity).toBe("critical");
  });

  it("keeps dismissed alerts hidden and counts the rest", () => {
    const alerts = [warnOld, critOld, warnNew, critNew];
    const dismissed = new Set([alertKey(critNew)]);
    const v = bannerView(alerts, dismissed, 2);
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
});
