import { describe, expect, it } from "vitest";
import type { UsageReport, UsageRow } from "../../types";
import { daysBetween, endedAttemptsKey, usageView, viewerUtcOffsetMinutes } from "../usage";

const row = (day: string, expert: string, model: string | null, project: string, cost: number, input = 10, estimated = false): UsageRow => ({
  day, expert, model, project, cost_usd: cost, cost_estimated: estimated, attempts: 1,
  tokens: { input, output: 1, cache_read: 0, cache_creation: 0 },
});

const report: UsageReport = {
  since: "2026-02-27", until: "2026-03-02", days: 4, utc_offset_minutes: 0,
  rows: [
    row("2026-02-27", "development", "opus", "/src/app", 1.0),
    row("2026-03-01", "development", "haiku", "/src/app", 0.5),
    row("2026-03-01", "security", null, "/src/api", 0.25, 100, true),
    row("2026-03-02", "cicd", "opus", "/src/app", 0.1),
  ],
};

describe("usage", () => {
  it("lists every day of the window, the empty ones too, across a month end", () => {
    expect(daysBetween("2026-02-27", "2026-03-02")).toEqual(["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]);
  });

  it("makes one daily series per expert with totals largest first", () => {
    const v = usageView(report, "expert");
    expect(v.totals.map((t) => [t.group, t.costUsd])).toEqual([["development", 1.5], ["security", 0.25], ["cicd", 0.1]]);
    expect(v.series[0]).toMatchObject({ group: "development", cost: [1.0, 0, 0.5, 0] });
    expect(v.dailyCost).toEqual([1.0, 0, 0.75, 0.1]);
    expect(v.total).toMatchObject({ costUsd: 1.85, attempts: 4, estimated: true, tokens: 130 + 4 });
  });

  it("names an unreported model and groups projects by their folder name", () => {
    expect(usageView(report, "model").totals.map((t) => t.group)).toEqual(["opus", "haiku", "not reported"]);
    expect(usageView(report, "project").totals.map((t) => t.group)).toEqual(["app", "api"]);
  });

  it("sums the groups beyond the top ones as other, keeping the daily total", () => {
    const v = usageView(report, "expert", 2);
    expect(v.series.map((s) => s.group)).toEqual(["development", "other"]);
    expect(v.series[1].cost).toEqual([0, 0, 0.25, 0.1]);
  });

  it("gives the viewer's offset east of UTC", () => {
    const d = new Date();
    expect(viewerUtcOffsetMinutes(d)).toBe(-d.getTimezoneOffset());
  });
});

describe("usage by project", () => {
  it("keeps apart two repositories whose folders have the same name", () => {
    const two: UsageReport = { ...report, rows: [row("2026-03-01", "development", null, "/home/a/app", 1.5), row("2026-03-01", "development", null, "/srv/b/app", 2.25)] };
    const v = usageView(two, "project");
    expect(v.totals.map((t) => [t.group, t.costUsd])).toEqual([["b/app", 2.25], ["a/app", 1.5]]);
  });
});

describe("when the Usage page fetches again", () => {
  it("changes when an attempt ends, and not while the same attempts run", () => {
    const running = [{ id: "w-1", attempt: 1, state: "running" as const }];
    const same = [{ id: "w-1", attempt: 1, state: "running" as const }];
    expect(endedAttemptsKey(running)).toBe(endedAttemptsKey(same));
    expect(endedAttemptsKey([{ id: "w-1", attempt: 1, state: "waiting" as const }])).not.toBe(endedAttemptsKey(running));
    expect(endedAttemptsKey([{ id: "w-1", attempt: 2, state: "running" as const }])).not.toBe(endedAttemptsKey(running));
    expect(endedAttemptsKey([...running, { id: "w-2", attempt: 1, state: "completed" as const }])).not.toBe(endedAttemptsKey(running));
  });
});
