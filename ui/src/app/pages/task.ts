// A task's detail page: the task as the main object. Its summary, routing,
// verification and result; every worker side by side with its attempts;
// and the Changes tab (files, the coloured diff, Merge with the conflict
// report). Reply continues an ended worker; Folder opens a worker's folder.
// The story is the engine's (`task_detail`), loaded again when the task or
// one of its workers changes.

import { debounce } from "../../logic/async";
import { describeError } from "../../logic/errors";
import { lineClass, lineMark, parseUnifiedDiff } from "../../logic/diff";
import { sameData } from "../../logic/rows";
import { canMerge, capDiff, changesNote, liveStory, storySignature, storyView, type ShownDiff, type StoryView } from "../../logic/story";
import type { Changes, TaskStory } from "../../types";
import type { Kit } from "./kit";

const EMPTY_VIEW: StoryView = {
  id: "",
  description: "",
  badge: { key: "", label: "", tone: "grey", cls: "" },
  column: "",
  reason: "",
  result: "",
  verification: { label: "", tone: "grey", detail: "" },
  routing: "",
  explanation: "",
  project: "",
  cost: "",
  tokens: "",
  duration: "",
  attempts: "",
  workers: [],
  changeExperts: [],
};

const VERIFY_CLS: Record<string, string> = {
  green: "bg-emerald-100 text-emerald-800 ring-emerald-600/30",
  red: "bg-red-100 text-red-800 ring-red-600/30",
  blue: "bg-sky-100 text-sky-800 ring-sky-600/30",
  grey: "bg-slate-100 text-slate-600 ring-slate-500/30",
};

export function registerTaskDetail(k: Kit): void {
  const { Alpine, s, c, raw } = k;
  Alpine.data("taskDetail", () => {
    const fx = k.scope();
    let story: TaskStory | null = null;
    return {
      /** The shown expert's changes (reactive: the template reads it). */
      changes: null as Changes | null,
      view: EMPTY_VIEW,
      loading: false,
      error: "",
      tab: "summary" as "summary" | "changes",
      diffExpert: "",
      diff: { files: [], hiddenLines: 0 } as ShownDiff,
      diffNote: "",
      diffLoading: false,
      diffError: "",
      mergeable: false,
      mergeReport: "",
      mergeError: "",
      replyTo: "",
      replyText: "",
      replyError: "",
      init() {
        const reload = debounce(() => void this.load(), 300, 1500);
        fx.onStop(() => reload.cancel());
        // The task or one of its workers changed: the story is read again
        // (another task's events leave it alone).
        let seen = "";
        fx.effect(() => {
          const id = s.selectedTaskId;
          if (s.view !== "task" || !id) return;
          const sig = storySignature(id, k.taskById().get(id), raw(s.workers));
          if (sig === seen) return;
          const first = seen === "";
          seen = sig;
          if (!first) queueMicrotask(() => reload());
        });
        // Its workers' figures move between reads of the story.
        // Its running attempts' times move with the table's clock.
        fx.effect(() => {
          const workers = k.workerById();
          const now = s.tableNowMs;
          if (!story || story.id !== s.selectedTaskId) return;
          const next = storyView(liveStory(story, workers, now), workers);
          if (!sameData(next, this.view)) this.view = next;
        });
        void this.load();
      },
      destroy() {
        fx.stop();
      },
      async load() {
        const id = s.selectedTaskId;
        if (!id) return;
        this.loading = story === null;
        const a = await c.review.story(id);
        if (!a || s.selectedTaskId !== id) return;
        this.loading = false;
        if ("error" in a) {
          this.error = describeError("task", a.error);
          return;
        }
        this.error = "";
        story = a.value;
        this.view = storyView(liveStory(story, k.workerById(), s.tableNowMs), k.workerById());
        if (!this.diffExpert || !story.workers.some((w) => w.expert === this.diffExpert)) {
          this.diffExpert = story.changes?.expert ?? story.workers[0]?.expert ?? "";
        }
        if (this.tab === "changes") void this.loadDiff();
      },
      get verifyCls() {
        return VERIFY_CLS[this.view.verification.tone] ?? VERIFY_CLS.grey;
      },
      workerVerifyCls(tone: string) {
        return VERIFY_CLS[tone] ?? VERIFY_CLS.grey;
      },
      setTab(tab: "summary" | "changes") {
        this.tab = tab;
        if (tab === "changes") void this.loadDiff();
      },
      tabClass(tab: string) {
        return this.tab === tab ? "border-indigo-500 text-indigo-700" : "border-transparent text-slate-500 hover:text-slate-800";
      },
      chooseDiffExpert(expert: string) {
        this.diffExpert = expert;
        void this.loadDiff();
      },
      diffExpertClass(expert: string) {
        return this.diffExpert === expert ? "bg-indigo-50 text-indigo-700 ring-indigo-500" : "text-slate-600 ring-slate-200";
      },
      async loadDiff() {
        const id = s.selectedTaskId;
        if (!id) return;
        this.diffLoading = true;
        const a = await c.review.diff(id, this.diffExpert || null);
        if (!a || s.selectedTaskId !== id) return;
        this.diffLoading = false;
        if ("error" in a) {
          this.diffError = describeError("changes", a.error);
          return;
        }
        this.diffError = "";
        this.changes = a.value;
        this.diffNote = changesNote(a.value);
        this.mergeable = canMerge(a.value, story);
        this.diff = capDiff(parseUnifiedDiff(a.value.patch ?? ""));
      },
      get fileCount() {
        return this.changes?.files.length ?? 0;
      },
      get changedFiles() {
        return (this.changes?.files ?? []).map((f) => ({
          path: f.path,
          stat: f.added == null ? "binary" : `+${f.added} −${f.removed ?? 0}`,
        }));
      },
      /** The files are in a folder to open; a removed worktree's are only on its branch. */
      get canOpenFiles() {
        return !this.changes?.worktree_removed;
      },
      get mergeTarget() {
        return this.changes?.base_branch ?? "its base branch";
      },
      lineCls: lineClass,
      lineMark,
      lineNo(n: number | null) {
        return n == null ? "" : String(n);
      },
      get merging() {
        return s.busy.includes(s.selectedTaskId ?? "");
      },
      async merge() {
        const id = s.selectedTaskId;
        if (!id) return;
        this.mergeError = "";
        this.mergeReport = "";
        const a = await c.review.merge(id, this.diffExpert || null);
        if ("error" in a) {
          // The engine names the conflicting files and says nothing was changed.
          this.mergeError = a.error.message;
          return;
        }
        const m = a.value;
        this.mergeReport = m.already_merged
          ? `${m.into} already has everything on ${m.branch}: nothing to merge.`
          : `Merged ${m.branch} into ${m.into} (${m.fast_forward ? "fast-forward" : "merge commit"} ${m.commit.slice(0, 10)}), ${m.files.length} file${m.files.length === 1 ? "" : "s"}.`;
        void this.load();
      },
      startReply(workerId: string) {
        this.replyTo = workerId;
        this.replyText = "";
        this.replyError = "";
      },
      cancelReply() {
        this.replyTo = "";
      },
      isReplying(workerId: string) {
        return this.replyTo === workerId;
      },
      async sendReply() {
        if (!this.replyText.trim()) {
          this.replyError = "Write what the worker should do next.";
          return;
        }
        const a = await c.review.reply(this.replyTo, this.replyText.trim());
        if ("error" in a) {
          this.replyError = a.error.message;
          return;
        }
        this.replyTo = "";
        void this.load();
      },
      isBusy(id: string) {
        return s.busy.includes(id);
      },
      openWorker(id: string) {
        c.openWorker(id);
      },
      openFolder(id: string) {
        void c.actions.openFolder(id);
      },
      openInEditor(id: string) {
        void c.actions.openInEditor(id);
      },
      /** A changed file of the shown changes, in the editor. */
      openFileInEditor(path: string) {
        const w = this.changes?.worker_id;
        if (w) void c.actions.openInEditor(w, path);
      },
      back() {
        c.navigate("board");
      },
    };
  });
}
