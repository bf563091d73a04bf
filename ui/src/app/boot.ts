// Starts the UI on an API: registers the shared state and the components,
// starts Alpine, then the controller (which loads data and listens).

import Alpine from "@alpinejs/csp";
import { createUnavailableApi, type CortexApi } from "../api";
import { Controller } from "./controller";
import { registerComponents } from "./components";
import { startTheme } from "./pages/palette";
import { registerPlans } from "./plans";
import { initialState, type AppState, type ViewId } from "./state";

export interface BootOptions {
  /** Open this view first (the demo page uses ?view=...). */
  view?: ViewId;
  workerId?: string;
}

function safeStorage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/** `api` null: not inside Cortex; the page says so and calls nothing. */
export async function boot(api: CortexApi | null, options: BootOptions = {}): Promise<{ state: AppState; controller: Controller }> {
  Alpine.store("cortex", initialState());
  const state = Alpine.store<AppState>("cortex");
  const controller = new Controller(api ?? createUnavailableApi(), state, { storage: safeStorage() });
  registerComponents(Alpine, state, controller);
  startTheme(state);
  registerPlans(Alpine, state, api ?? createUnavailableApi());
  if (!api) state.mode = "outside";
  Alpine.start();
  if (api) {
    await controller.start();
    if (options.workerId) controller.openWorker(options.workerId);
    else if (options.view) controller.navigate(options.view);
  }
  return { state, controller };
}
