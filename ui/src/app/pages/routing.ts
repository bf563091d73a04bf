// The Routing page: recent decisions, corrections and the distribution
// over experts.

import { RowCache } from "../../logic/rows";
import { corrections, decisionRows, distribution, type CorrectionRow, type DecisionRow, type RoutedTask } from "../../logic/routing";
import { BarChart } from "../charts";
import type { Kit } from "./kit";

export function registerRouting(k: Kit): void {
  const { Alpine, s, raw } = k;
  Alpine.data("routingView", () => {
    const fx = k.scope();
    let chart: BarChart | null = null;
    fx.onStop(() => {
      chart?.destroy();
      chart = null;
    });
    const onRouting = k.shown("routing");
    const decisionCache = new RowCache<DecisionRow>(k.patchRow);
    const correctionCache = new RowCache<CorrectionRow>(k.patchRow);
    // The rows show the tasks' text and whether they await confirmation: a
    // task's other moves (status, cost) redraw nothing here.
    const texts = fx.derive<RoutedTask[]>(
      [],
      () =>
        raw(s.tasks).map((t) => ({
          id: t.id,
          description: t.description,
          awaitingConfirmation: t.status === "awaiting_confirmation",
        })),
      onRouting,
    );
    const decisions = fx.derive<DecisionRow[]>(
      [],
      () => decisionCache.list(decisionRows(raw(s.decisions), raw(texts.value)), (r) => r.key, (r) => [r], (r) => r),
      onRouting,
    );
    const fixes = fx.derive<CorrectionRow[]>(
      [],
      () => correctionCache.list(corrections(raw(s.decisions), raw(texts.value)), (r) => r.key, (r) => [r], (r) => r),
      onRouting,
    );
    return {
      destroy() {
        fx.stop();
      },
      get decisionRows() {
        return decisions.value;
      },
      get correctionRows() {
        return fixes.value;
      },
      get decisionTotal() {
        return s.decisions.length;
      },
      mountDistribution(canvas: HTMLCanvasElement) {
        chart = new BarChart(canvas);
        this.drawDistribution();
      },
      drawDistribution() {
        const d = distribution(s.decisions, s.experts);
        chart?.set(d.labels, d.counts);
      },
    };
  });
}
