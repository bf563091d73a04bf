// The Alpine components, one module per page under pages/. They only bind:
// every decision is made in src/logic (tested) or in the controller.
// Registered with Alpine.data so the CSP build can run them without eval;
// templates use x-text only.

import type { AlpineCsp } from "@alpinejs/csp";
import type { Controller } from "./controller";
import { registerActivity } from "./pages/activity";
import { registerBoard } from "./pages/board";
import { registerExpertEditor } from "./pages/experts";
import { registerPalette } from "./pages/palette";
import { registerTaskDetail } from "./pages/task";
import { registerUsage } from "./pages/usage";
import { makeKit } from "./pages/kit";
import { registerOverview } from "./pages/overview";
import { registerRouting } from "./pages/routing";
import { registerSettings } from "./pages/settings";
import { registerShell } from "./pages/shell";
import { registerTasks } from "./pages/tasks";
import { registerWorkerDetail } from "./pages/worker";
import { registerWorkers } from "./pages/workers";
import type { AppState } from "./state";

export function registerComponents(Alpine: AlpineCsp, s: AppState, c: Controller): void {
  const k = makeKit(Alpine, s, c);
  registerShell(k);
  registerOverview(k);
  registerWorkers(k);
  registerWorkerDetail(k);
  registerTasks(k);
  registerRouting(k);
  registerActivity(k);
  registerSettings(k);
  registerTaskDetail(k);
  registerBoard(k);
  registerUsage(k);
  registerPalette(k);
  registerExpertEditor(k);
}
