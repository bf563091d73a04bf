// The Plans page: every plan with its tasks as an indented list (status
// badges, what each waits on, counts, cost and time as the engine reports
// them), and Confirm / Edit for a plan awaiting confirmation. It only
// binds: the view logic is in src/logic/plans.ts (tested). It loads plans
// when the page opens and again (debounced) whenever the engine reports
// news, and keeps nothing running once the page is closed.

import type { AlpineCsp } from "@alpinejs/csp";
import type { CortexApi } from "../api";
import { debounce } from "../logic/async";
import { describeError } from "../logic/errors";
import { parsePlanSpec, planCard, planSpecText, type PlanCard } from "../logic/plans";
import { costsByTask } from "../logic/tasks";
import type { PlanView } from "../types";
import type { AppState } from "./state";

export function registerPlans(Alpine: AlpineCsp, s: AppState, api: CortexApi): void {
  Alpine.data("plansView", () => {
    let views: PlanView[] = [];
    let watcher: unknown = null;
    // Alpine's reactive proxy of the component (set in init): writes through
    // it redraw the page, writes to the plain object would not.
    let self: { load(): Promise<void> } | null = null;
    const reload = debounce(() => void self?.load(), 500, 1500);
    const component = {
      plans: [] as PlanCard[],
      loaded: false,
      error: "",
      /** The plan being edited ("" when none), its text and what is wrong with it. */
      editing: "",
      editText: "",
      editError: "",
      /** The plan a command is in flight for. */
      busy: "",

      init() {
        self = this;
        void this.load();
        // Any engine news may change a plan's tasks: load again, debounced.
        watcher = Alpine.effect(() => {
          void s.lastUpdateMs;
          reload();
        });
      },
      destroy() {
        self = null;
        reload.cancel();
        if (watcher) Alpine.release(watcher);
      },
      async load() {
        if (!api.listPlans) {
          this.error = "Plans are not available here.";
          return;
        }
        try {
          views = await api.listPlans();
          const tasks = new Map(Alpine.raw(s.tasks).map((t) => [t.id, t]));
          const costs = costsByTask(Alpine.raw(s.workers));
          this.plans = views.map((v) => planCard(v, v.goal_task ? tasks.get(v.goal_task) : undefined, costs));
          this.error = "";
        } catch (e) {
          this.error = describeError("loading the plans", e);
        }
        this.loaded = true;
      },
      get empty() {
        return this.loaded && !this.error && this.plans.length === 0;
      },
      isBusy(id: string) {
        return this.busy === id;
      },
      isEditing(id: string) {
        return this.editing === id;
      },
      async confirm(id: string) {
        if (!api.confirmPlan || this.busy) return;
        this.busy = id;
        try {
          await api.confirmPlan(id);
          await this.load();
        } catch (e) {
          this.error = describeError("confirming the plan", e);
        } finally {
          this.busy = "";
        }
      },
      startEdit(id: string) {
        const view = views.find((v) => v.id === id);
        if (!view) return;
        this.editing = id;
        this.editText = planSpecText(view);
        this.editError = "";
      },
      cancelEdit() {
        this.editing = "";
        this.editError = "";
      },
      async saveEdit() {
        if (!api.editPlan || !this.editing || this.busy) return;
        const parsed = parsePlanSpec(this.editText);
        if ("error" in parsed) {
          this.editError = parsed.error;
          return;
        }
        const id = this.editing;
        this.busy = id;
        try {
          await api.editPlan(id, parsed.spec);
          this.editing = "";
          this.editError = "";
          await this.load();
        } catch (e) {
          // The engine's check of the plan, every problem named.
          this.editError = describeError("editing the plan", e);
        } finally {
          this.busy = "";
        }
      },
    };
    return component;
  });
}
