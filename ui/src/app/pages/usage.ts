// Usage: tokens and cost per day over the last 30 days, by expert, model or
// project, from the journal (the engine's `usage_by_day`), not from what
// this window happened to see.

import { describeError } from "../../logic/errors";
import { formatMoney, formatTokens } from "../../logic/format";
import { endedAttemptsKey, usageView, type UsageDimension, type UsageView } from "../../logic/usage";
import type { UsageReport } from "../../types";
import { segmentClass } from "./filter";
import type { Kit } from "./kit";

const DIMENSIONS: { id: UsageDimension; label: string }[] = [
  { id: "expert", label: "Expert" },
  { id: "model", label: "Model" },
  { id: "project", label: "Project" },
];

/** Bar colours for the groups, in rank order (the last is "other"). */
const BAR_CLS = ["bg-indigo-500", "bg-emerald-500", "bg-amber-500", "bg-sky-500", "bg-violet-500", "bg-slate-400"];

export function registerUsage(k: Kit): void {
  const { Alpine, c, s, raw } = k;
  const ui = Alpine.reactive({ by: "expert" as UsageDimension });
  Alpine.data("usageView", () => {
    let report: UsageReport | null = null;
    const fx = k.scope();
    // Live: an attempt that ends is fetched from the journal within a second.
    const ended = fx.derive("", () => endedAttemptsKey(raw(s.workers)), k.shown("usage"));
    let seen: string | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    return {
      dimensions: DIMENSIONS,
      loading: true,
      error: "",
      view: null as UsageView | null,
      /** "2026-11-05 to 2026-12-04" (reactive: the template reads it). */
      range: "",
      async init() {
        fx.effect(() => {
          const key = ended.value;
          if (seen === null || key === seen) {
            seen = key;
            return;
          }
          seen = key;
          if (timer === undefined) {
            timer = setTimeout(() => {
              timer = undefined;
              void this.load();
            }, 1000);
          }
        });
        await this.load();
      },
      destroy() {
        if (timer !== undefined) clearTimeout(timer);
        fx.stop();
      },
      async load() {
        this.loading = true;
        const a = await c.review.usage(30);
        this.loading = false;
        if ("error" in a) {
          this.error = describeError("usage", a.error);
          return;
        }
        this.error = "";
        report = a.value;
        this.range = `${report.since} to ${report.until}`;
        this.view = usageView(report, ui.by);
      },
      setBy(by: UsageDimension) {
        ui.by = by;
        if (report) this.view = usageView(report, by);
      },
      byCls(by: string) {
        return segmentClass(ui.by === by);
      },
      get totalCost() {
        return this.view ? formatMoney(this.view.total.costUsd) + (this.view.total.estimated ? " (includes estimates)" : "") : "";
      },
      get totalTokens() {
        return this.view ? formatTokens(this.view.total.tokens) : "";
      },
      get totalAttempts() {
        return this.view ? String(this.view.total.attempts) : "";
      },
      get rows() {
        const v = this.view;
        if (!v) return [];
        const top = Math.max(...v.totals.map((t) => t.costUsd), 0) || 1;
        return v.totals.map((t, i) => ({
          group: t.group,
          cost: formatMoney(t.costUsd) + (t.estimated ? "*" : ""),
          tokens: formatTokens(t.tokens),
          attempts: String(t.attempts),
          width: { width: `${Math.max(1, Math.round((t.costUsd / top) * 100))}%` },
          bar: BAR_CLS[Math.min(i, BAR_CLS.length - 1)],
        }));
      },
      get days() {
        const v = this.view;
        if (!v) return [];
        const top = Math.max(...v.dailyCost, 0) || 1;
        return v.days.map((d, i) => ({
          day: d,
          label: d.slice(5),
          cost: formatMoney(v.dailyCost[i]),
          style: { height: `${Math.round((v.dailyCost[i] / top) * 100)}%` },
          segments: v.series
            .map((s, j) => ({ key: s.group, cls: BAR_CLS[Math.min(j, BAR_CLS.length - 1)], pct: v.dailyCost[i] ? Math.round((s.cost[i] / v.dailyCost[i]) * 100) : 0 }))
            .filter((seg) => seg.pct > 0)
            .map((seg) => ({ key: seg.key, cls: seg.cls, style: { height: `${seg.pct}%` } })),
        }));
      },
      get legend() {
        const v = this.view;
        return v ? v.series.map((s, j) => ({ group: s.group, cls: BAR_CLS[Math.min(j, BAR_CLS.length - 1)] })) : [];
      },
    };
  });
}
