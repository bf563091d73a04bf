// The Workers page: every worker, newest first, filtered.

import { RowCache } from "../../logic/rows";
import { filterWorkers, WORKER_FILTERS, workerRow, type WorkerFilter, type WorkerRow } from "../../logic/workers";
import { segmentedFilter } from "./filter";
import type { Kit } from "./kit";

export function registerWorkers(k: Kit): void {
  const { Alpine, s, raw, plain } = k;
  // Kept while the page is closed (its component is not).
  const ui = Alpine.reactive({ filter: "all" as WorkerFilter });
  Alpine.data("workersView", () => {
    const fx = k.scope();
    const onWorkers = k.shown("workers");
    const cache = new RowCache<WorkerRow>(k.patchRow);
    const rows = fx.derive<WorkerRow[]>(
      [],
      () => {
        const byId = k.taskById();
        const clock = s.tableNowMs;
        const now = Math.max(clock, plain.nowMs);
        return cache.list(
          filterWorkers(raw(s.workers), ui.filter),
          (w) => w.id,
          (w) => [w, byId.get(w.task_id)?.description, clock],
          (w) => workerRow(w, byId.get(w.task_id), now),
        );
      },
      onWorkers,
    );
    const total = fx.derive(0, () => raw(s.workers).length, onWorkers);
    return {
      destroy() {
        fx.stop();
      },
      filter: segmentedFilter(ui, WORKER_FILTERS),
      get workerRows() {
        return rows.value;
      },
      get workerTotal() {
        return total.value;
      },
    };
  });
}
