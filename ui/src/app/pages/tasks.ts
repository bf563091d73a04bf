// The Tasks page: the submit form with its live routing preview, and every
// task, filtered.

import { debounce } from "../../logic/async";
import { previewView, type PreviewView } from "../../logic/preview";
import { asksConfirmation, worktreeBox } from "../../logic/settings";
import { RowCache } from "../../logic/rows";
import { filterTasks, lastWorkdir, TASK_FILTERS, type TaskFilter, type TaskRow } from "../../logic/tasks";
import { segmentedFilter } from "./filter";
import { withKept, type Kit } from "./kit";

const EMPTY_PREVIEW: PreviewView = {
  primary: "",
  confidence: 0,
  confidenceLabel: "",
  strategyLabel: "",
  methodLabel: "",
  needsConfirmation: false,
  explanation: "",
  parallel: [],
  rows: [],
};

export function registerTasks(k: Kit): void {
  const { Alpine, s, c, raw, plain } = k;
  // The draft, its preview and the filter are kept while the page is closed.
  const taskForm = Alpine.reactive({
    draft: { text: "", type: "", priority: "medium", workdir: "", worktree: false },
    submitting: false,
    submitError: "",
    previewLoading: false,
    previewError: "",
    preview: null as PreviewView | null,
    filter: "all" as TaskFilter,
  });
  Alpine.data("tasksView", () => {
    const fx = k.scope();
    let requestPreview: ((text: string, type: string) => void) | null = null;
    const onTasks = k.shown("tasks");
    const ui = taskForm;
    const cache = new RowCache<TaskRow>(k.patchRow);
    const rows = fx.derive<TaskRow[]>(
      [],
      () => {
        const clock = s.tableNowMs;
        const now = Math.max(clock, plain.nowMs);
        return k.taskRows(cache, filterTasks(raw(s.tasks), ui.filter), clock, now);
      },
      onTasks,
    );
    const total = fx.derive(0, () => raw(s.tasks).length, onTasks);
    const kept = ["draft", "submitting", "submitError", "previewLoading", "previewError", "preview"] as const;
    return withKept(taskForm, kept, {
      destroy() {
        fx.stop();
      },
      filter: segmentedFilter(ui, TASK_FILTERS),
      init() {
        // The newest task's folder, once the tasks are there (the app may
        // open on this page before they arrive); a person's own is kept.
        let settled = !!ui.draft.workdir;
        fx.effect(() => {
          if (settled) return;
          const dir = lastWorkdir(raw(s.tasks));
          if (!dir) return;
          settled = true;
          if (!ui.draft.workdir) ui.draft.workdir = dir;
        });
        requestPreview = debounce((text: string, type: string) => {
          this.previewLoading = true;
          void c.actions.preview(text, type || null).then((r) => {
            if (!r) return; // a newer draft was previewed meanwhile
            this.previewLoading = false;
            // The draft changed since (submitted and cleared, or edited): a
            // preview of text no longer there would be untrue.
            if (this.draft.text !== text || this.draft.type !== type) return;
            this.preview = r.decision ? previewView(r.decision, s.experts, asksConfirmation(s.settings?.config)) : null;
            this.previewError = r.error ?? "";
          });
        }, 250);
      },
      onDraftInput() {
        this.submitError = "";
        if (!this.draft.text.trim()) {
          this.preview = null;
          this.previewError = "";
          this.previewLoading = false;
          void c.actions.preview("", null); // makes any preview in flight stale
          return;
        }
        requestPreview?.(this.draft.text, this.draft.type);
      },
      get hasPreview() {
        return this.preview !== null;
      },
      get pv(): PreviewView {
        return this.preview ?? EMPTY_PREVIEW;
      },
      /** The other experts that would run in parallel, "cicd, security". */
      get pvAlso(): string {
        const pv = this.preview ?? EMPTY_PREVIEW;
        return pv.parallel.filter((e) => e !== pv.primary).join(", ");
      },
      get worktree() {
        return worktreeBox(this.draft.worktree, s.settings?.config);
      },
      toggleWorktree(ev: Event) {
        this.draft.worktree = (ev.target as HTMLInputElement).checked;
      },
      get canSubmit() {
        return this.draft.text.trim().length > 0 && this.draft.workdir.trim().length > 0 && !this.submitting;
      },
      async submitTask() {
        if (!this.canSubmit) return;
        this.submitting = true;
        this.submitError = "";
        const d = this.draft;
        const request: { description: string; priority: string; type?: string; workdir: string; worktree?: boolean } = {
          description: d.text,
          priority: d.priority,
          workdir: d.workdir.trim(),
        };
        if (d.type.trim()) request.type = d.type.trim();
        if (d.worktree) request.worktree = true;
        const r = await c.actions.submit(request);
        this.submitting = false;
        if ("error" in r) {
          this.submitError = r.error.message;
          return;
        }
        this.draft.text = "";
        this.preview = null;
        this.previewError = "";
      },
      get taskRows() {
        return rows.value;
      },
      get taskTotal() {
        return total.value;
      },
    });
  });
}
