// The Overview: stat cards, totals, the workers that need attention, the
// latest tasks and the two charts.

import { ATTENTION_LISTED, attentionEmptyText, attentionMoreText, needsAttention } from "../../logic/fleet";
import { statCards, totals, type StatCard } from "../../logic/overview";
import { RowCache } from "../../logic/rows";
import { type TaskRow } from "../../logic/tasks";
import { workerRow, type WorkerRow } from "../../logic/workers";
import { LineChart } from "../charts";
import type { SeriesName } from "../chartSeries";
import type { Kit } from "./kit";

export function registerOverview(k: Kit): void {
  const { Alpine, s, c, raw, plain } = k;
  Alpine.data("overview", () => {
    const fx = k.scope();
    const onOverview = k.shown("overview");
    const cardCache = new RowCache<StatCard>(k.patchRow);
    const attentionCache = new RowCache<WorkerRow>(k.patchRow);
    const recentCache = new RowCache<TaskRow>(k.patchRow);
    const sums = fx.derive(totals(null), () => totals(raw(s.status)), { ...onOverview, patch: true });
    const cards = fx.derive<StatCard[]>([], () => cardCache.list(statCards(k.counts.value, sums.value.queued), (x) => x.id, (x) => [x], (x) => x), onOverview);
    const attention = fx.derive<WorkerRow[]>(
      [],
      () => {
        const byId = k.taskById();
        const clock = s.tableNowMs;
        const now = Math.max(clock, plain.nowMs);
        const needy = raw(s.workers)
          .filter(needsAttention)
          .slice(0, ATTENTION_LISTED);
        return attentionCache.list(
          needy,
          (w) => w.id,
          (w) => [w, byId.get(w.task_id)?.description, clock],
          (w) => workerRow(w, byId.get(w.task_id), now),
        );
      },
      onOverview,
    );
    const recent = fx.derive<TaskRow[]>(
      [],
      () => {
        const clock = s.tableNowMs;
        const now = Math.max(clock, plain.nowMs);
        return k.taskRows(recentCache, raw(s.tasks).slice(0, 6), clock, now);
      },
      onOverview,
    );
    /** Draws a series while the Overview is shown: on each new sample, and on coming back to it. */
    const mountChart = (chart: LineChart, name: SeriesName) => {
      let drawn: unknown = null;
      const draw = () => {
        const points = c.charts.series[name];
        if (plain.view !== "overview" || points === drawn) return;
        drawn = points;
        chart.set(points);
      };
      const off = c.charts.onSeries((n) => n === name && draw());
      fx.effect(() => {
        if (s.view === "overview") draw();
      });
      fx.onStop(() => {
        off();
        chart.destroy();
      });
    };
    return {
      destroy() {
        fx.stop();
      },
      get cards() {
        return cards.value;
      },
      /** One row of cards, seven while a cluster's workers are out of reach. */
      get cardGridClass() {
        return cards.value.length > 6 ? "xl:grid-cols-7" : "xl:grid-cols-6";
      },
      get totals() {
        return sums.value;
      },
      get attention() {
        return attention.value;
      },
      /** Workers that need a person beyond the ones listed ("" when none). */
      get attentionMore() {
        return attentionMoreText(k.counts.value);
      },
      /** What the empty "Needs attention" list says: true only when workers run. */
      get attentionEmpty() {
        return attentionEmptyText(k.counts.value);
      },
      get recentTasks() {
        return recent.value;
      },
      mountActiveChart(canvas: HTMLCanvasElement) {
        mountChart(new LineChart(canvas, { color: "#6366f1", fill: "rgba(99,102,241,0.12)", integer: true }), "active");
      },
      mountSuccessChart(canvas: HTMLCanvasElement) {
        mountChart(new LineChart(canvas, { color: "#10b981", fill: "rgba(16,185,129,0.12)", yMax: 100, suffix: "%" }), "success");
      },
    };
  });
}
