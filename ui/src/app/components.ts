// The Alpine components. They only bind: every decision is made in
// src/logic (tested) or in the controller. Registered with Alpine.data so
// the CSP build can run them without eval; templates use x-text only.
//
// Keeping it cheap with many busy workers:
// - every list a page shows is a derived value (derive below): it is
//   computed while its page is shown and not at all while it is hidden, and
//   the bindings reading it run again only when it really changed;
// - rows come from a RowCache: an unchanged worker keeps its row object, so
//   Alpine's keyed x-for leaves its row alone, and a changed one is updated
//   field by field, so only its changed cells are redrawn;
// - relative times in lists and tables follow the 5-second clock
//   (tableNowMs), those of the open worker's page the 1-second one: every
//   redraw of a page with charts on it costs a frame;
// - charts are drawn on the clock's tick when their series changed, and only
//   while the Overview is shown.

import type { AlpineCsp } from "@alpinejs/csp";
import { bannerView, type BannerItem } from "../logic/alerts";
import { debounce } from "../logic/async";
import { TONE_CLASSES } from "../logic/badges";
import { mergeFeed, workerTimeline, type FeedItem } from "../logic/feed";
import { formatDateTime, formatMoney, formatRelative, formatTokens, shortId } from "../logic/format";
import { freshness } from "../logic/freshness";
import { statCards, totals, type StatCard } from "../logic/overview";
import { previewView, type PreviewView } from "../logic/preview";
import { corrections, decisionRows, distribution, type CorrectionRow, type DecisionRow } from "../logic/routing";
import { configToForm, FIELDS, formToConfig, GROUPS, placeError, type FormValues } from "../logic/settings";
import { memo, patchData, RowCache, sameData, type Write } from "../logic/rows";
import { filterTasks, taskRow, type TaskFilter, type TaskRow } from "../logic/tasks";
import { transcriptView, type AttemptGroup, type EntryView } from "../logic/transcript";
import { activityLabel, filterWorkers, workerRow, type WorkerFilter, type WorkerRow } from "../logic/workers";
import type { Task, Worker } from "../types";
import { BarChart, LineChart } from "./charts";
import type { Controller, SeriesName } from "./controller";
import { NAV, type AppState, type ViewId } from "./state";

const TITLES: Record<ViewId, string> = {
  overview: "Overview",
  workers: "Workers",
  worker: "Worker",
  tasks: "Tasks",
  plans: "Plans",
  routing: "Routing",
  activity: "Activity",
  settings: "Settings",
};

/** Bound while no worker is selected, so the detail's bindings never read null. */
const EMPTY_ROW = workerRow(
  {
    id: "",
    task_id: "",
    expert: "",
    attempt: 0,
    pid: null,
    state: "starting",
    health: "starting",
    reason: null,
    session_id: null,
    cost_usd: 0,
    tokens: { input: 0, output: 0 },
    workdir: "",
    started_at: null,
    created_at: "",
    activity: null,
    last_activity_at: null,
    last_activity_source: null,
    last_text: null,
    time_limit_secs: 0,
    restarts: 0,
  },
  undefined,
  0,
);

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

/** A feed line with its relative time. */
export type FeedRow = FeedItem & { ago: string };

/** A button of a segmented filter control, selected or not. */
const segmentClass = (selected: boolean) =>
  selected ? "bg-white text-slate-900 shadow-sm" : "text-slate-500 hover:text-slate-800";

const LIVE_TASK = ["queued", "awaiting_confirmation", "routed", "running", "waiting", "blocked", "needs_attention"];
const ENDED_WORKER = ["completed", "failed", "cancelled"];

export function registerComponents(Alpine: AlpineCsp, s: AppState, c: Controller): void {
  // The engine lists are replaced, never changed in place: reading `s.workers`
  // subscribes a binding to the list, and going on through raw() spares Alpine
  // a proxy (and a subscription) for every worker in it.
  const raw = <T>(v: T): T => Alpine.raw(v);
  /** The state without subscribing (e.g. the clock a row is built with). */
  const plain = Alpine.raw(s);

  /** Writes one field through Alpine, so the bindings reading it (and only those) run again. */
  const write: Write = (target, key, value) => {
    (Alpine.reactive(target) as Record<string, unknown>)[key] = value;
  };
  /** For RowCache: a changed row is updated in place, field by field. */
  const patchRow = <R>(old: R, fresh: R) => patchData(old, fresh, write);

  /**
   * A value derived from the state, like Vue's computed(): `compute` runs
   * again when something it read changes, and the bindings reading `.value`
   * run again only when the result differs (sameData; RowCache hands back the
   * same rows when nothing changed). While `when` is false (its page is
   * hidden) nothing is computed and the last value stays. With `patch`, a new
   * object of the same shape is written into the current one field by field
   * (only for values built fresh by `compute`, never for objects of the state).
   */
  function derive<T>(
    initial: T,
    compute: () => T,
    opts: { when?: () => boolean; patch?: boolean } = {},
  ): { box: { readonly value: T }; effect: unknown } {
    const box = Alpine.reactive({ value: initial });
    const plainBox = Alpine.raw(box);
    const { when, patch } = opts;
    const effect = Alpine.effect(() => {
      if (when && !when()) return;
      const next = compute();
      if (sameData(plainBox.value, next)) return;
      if (patch && patchData(plainBox.value, next, write)) return;
      box.value = next;
    });
    return { box, effect };
  }
  const shown = (view: ViewId) => ({ when: () => s.view === view });

  /**
   * What a page's component sets up (derived values, effects, charts),
   * undone when the page is closed: pages are rendered with x-if, so only
   * the open one exists, and a closed page must leave nothing running.
   */
  function scope() {
    const effects: unknown[] = [];
    const cleanups: (() => void)[] = [];
    return {
      derive<T>(initial: T, compute: () => T, opts: { when?: () => boolean; patch?: boolean } = {}) {
        const d = derive(initial, compute, opts);
        effects.push(d.effect);
        return d.box;
      },
      effect(fn: () => void) {
        effects.push(Alpine.effect(fn));
      },
      onStop(fn: () => void) {
        cleanups.push(fn);
      },
      stop() {
        effects.splice(0).forEach((e) => Alpine.release(e));
        cleanups.splice(0).forEach((f) => f());
      },
    };
  }
  /** A derived value for the whole window (the shell): never released. */
  const global = <T>(initial: T, compute: () => T, opts: { patch?: boolean } = {}) => derive(initial, compute, opts).box;

  const taskMap = memo<Map<string, Task>>();
  const taskById = () => {
    const tasks = raw(s.tasks);
    return taskMap([tasks], () => new Map(tasks.map((t) => [t.id, t])));
  };

  const liveWorkers = global(0, () => raw(s.workers).filter((w) => !ENDED_WORKER.includes(w.state)).length);
  const liveTasks = global(0, () => raw(s.tasks).filter((t) => LIVE_TASK.includes(t.status)).length);
  const fresh = global(
    { label: "", stale: true },
    () => {
      const f = freshness(s.lastUpdateMs, s.nowMs);
      return { label: f.label, stale: f.stale };
    },
    { patch: true },
  );
  const workerMap = memo<Map<string, Worker>>();
  const workerById = () => {
    const workers = raw(s.workers);
    return workerMap([workers], () => new Map(workers.map((w) => [w.id, w])));
  };
  const banner = global(
    bannerView([], new Set()),
    () => bannerView(raw(s.alerts), new Set(raw(s.dismissed)), workerById()),
    { patch: true },
  );
  const paused = global(false, () => !!s.status?.paused);
  const pausedExperts = global("", () =>
    (s.status?.paused_experts ?? [])
      .map((p) => `${p.expert} until ${new Date(p.until).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`)
      .join(", "),
  );

  // ---- the shell: nav, header, alert banner, modals, toasts ---------------------------------
  Alpine.data("shell", () => ({
    nav: NAV,
    get mode() {
      return s.mode;
    },
    get loadError() {
      return s.loadError;
    },
    get view() {
      return s.view;
    },
    get title() {
      return s.view === "worker" && s.selectedWorkerId ? `Worker ${shortId(s.selectedWorkerId)}` : TITLES[s.view];
    },
    isView(id: string) {
      return s.view === id;
    },
    navClass(id: string) {
      const active = s.view === id || (id === "workers" && s.view === "worker");
      return active ? "bg-slate-800 text-white" : "text-slate-300 hover:bg-slate-800/60 hover:text-white";
    },
    go(id: ViewId) {
      c.navigate(id);
    },
    navCount(id: string) {
      if (id === "workers") return liveWorkers.value || "";
      if (id === "tasks") return liveTasks.value || "";
      return "";
    },

    // Freshness
    get fresh() {
      return fresh.value;
    },
    get freshClass() {
      return this.fresh.stale ? "bg-amber-100 text-amber-800 ring-amber-600/30" : "bg-emerald-50 text-emerald-700 ring-emerald-600/20";
    },
    get freshDot() {
      return this.fresh.stale ? "bg-amber-500" : "bg-emerald-500";
    },

    // Pause / resume
    get paused() {
      return paused.value;
    },
    /** Experts paused by their circuit breaker ("" when none). */
    get pausedExperts() {
      return pausedExperts.value ? `Circuit breaker: ${pausedExperts.value} paused` : "";
    },
    get pausing() {
      return s.pausing;
    },
    get pauseLabel() {
      return paused.value ? "Resume spawning" : "Pause spawning";
    },
    get pauseClass() {
      return paused.value
        ? "bg-emerald-600 text-white hover:bg-emerald-500"
        : "bg-white text-slate-700 ring-1 ring-slate-300 hover:bg-slate-50";
    },
    togglePause() {
      void c.togglePause();
    },

    // Alert banner
    get banner() {
      return banner.value;
    },
    get bannerClass() {
      return this.banner.severity === "critical" ? "border-red-300 bg-red-50 text-red-900" : "border-amber-300 bg-amber-50 text-amber-900";
    },
    dismissAlert(key: string) {
      c.dismiss(key);
    },
    dismissAllAlerts() {
      c.dismissAll();
    },
    alertWhen(item: BannerItem) {
      return formatRelative(item.at, s.nowMs);
    },

    // Toasts
    get toasts() {
      return s.toasts;
    },
    toastClass(tone: string) {
      return tone === "error" ? "bg-red-700 text-white" : tone === "success" ? "bg-emerald-700 text-white" : "bg-slate-800 text-white";
    },
    closeToast(id: number) {
      c.closeToast(id);
    },

    // Worker and task actions (rows and the detail page call these)
    isBusy(id: string) {
      return s.busy.includes(id);
    },
    openWorker(id: string) {
      c.openWorker(id);
    },
    killWorker(id: string) {
      s.modal = {
        kind: "confirm",
        title: "Kill this worker?",
        body: `Worker ${id} gets SIGTERM, then SIGKILL after the grace period, and ends cancelled. Its task is not retried.`,
        confirmLabel: "Kill worker",
        action: "kill",
        targetId: id,
      };
    },
    restartWorker(id: string) {
      void c.restart(id);
    },
    extendWorker(id: string) {
      void c.extend(id, 15);
    },
    nudgeWorker(id: string) {
      s.modal = { kind: "nudge", workerId: id, text: "", error: "" };
    },
    openFolder(id: string) {
      void c.openFolder(id);
    },
    takeOver(id: string) {
      s.modal = {
        kind: "confirm",
        title: "Take over this worker?",
        body: `Cortex stops supervising ${id} and opens its session for you to continue by hand.`,
        confirmLabel: "Take over",
        action: "takeover",
        targetId: id,
      };
    },
    correctRouting(task: { id: string; fullText?: string; description?: string; experts?: string }) {
      const t = s.tasks.find((x) => x.id === task.id);
      const current = t?.routing?.primary_expert ?? t?.expert ?? "";
      s.modal = { kind: "reroute", taskId: task.id, taskText: t?.description ?? "", current, choice: current };
    },
    cancelTask(id: string) {
      s.modal = {
        kind: "confirm",
        title: "Cancel this task?",
        body: `Task ${id} is cancelled and its running workers are stopped.`,
        confirmLabel: "Cancel task",
        action: "cancel",
        targetId: id,
      };
    },

    // Modals
    get modal() {
      return s.modal;
    },
    get modalOpen() {
      return s.modal.kind !== "none";
    },
    get experts() {
      return s.experts;
    },
    closeModal() {
      s.modal = { kind: "none" };
    },
    confirmModal() {
      const m = s.modal;
      if (m.kind !== "confirm") return;
      s.modal = { kind: "none" };
      if (m.action === "kill") void c.kill(m.targetId);
      else if (m.action === "takeover") void c.takeOver(m.targetId);
      else void c.cancelTask(m.targetId);
    },
    sendNudge() {
      const m = s.modal;
      if (m.kind !== "nudge") return;
      if (!m.text.trim()) {
        m.error = "Write what the worker should do next.";
        return;
      }
      s.modal = { kind: "none" };
      void c.nudge(m.workerId, m.text.trim());
    },
    chooseExpert(expert: string) {
      if (s.modal.kind === "reroute") s.modal.choice = expert;
    },
    expertChoiceClass(expert: string) {
      const m = s.modal;
      const chosen = m.kind === "reroute" && m.choice === expert;
      return chosen ? "border-indigo-500 bg-indigo-50 text-indigo-900 ring-1 ring-indigo-500" : "border-slate-200 hover:bg-slate-50";
    },
    applyReroute() {
      const m = s.modal;
      if (m.kind !== "reroute" || !m.choice) return;
      s.modal = { kind: "none" };
      void c.reroute(m.taskId, m.choice);
    },
  }));

  // ---- Overview -------------------------------------------------------------------------------
  Alpine.data("overview", () => {
    const fx = scope();
    const onOverview = shown("overview");
    const cardCache = new RowCache<StatCard>(patchRow);
    const attentionCache = new RowCache<WorkerRow>(patchRow);
    const recentCache = new RowCache<TaskRow>(patchRow);
    const cards = fx.derive<StatCard[]>([], () => cardCache.list(statCards(raw(s.status)), (k) => k.id, (k) => [k], (k) => k), onOverview);
    const sums = fx.derive(totals(null), () => totals(raw(s.status)), { ...onOverview, patch: true });
    const attention = fx.derive<WorkerRow[]>(
      [],
      () => {
        const byId = taskById();
        const clock = s.tableNowMs;
        const now = Math.max(clock, plain.nowMs);
        const needy = raw(s.workers)
          .filter((w) => !ENDED_WORKER.includes(w.state) && !["healthy", "starting"].includes(w.health))
          .slice(0, 6);
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
        return recentCache.list(raw(s.tasks).slice(0, 6), (t) => t.id, (t) => [t, clock], (t) => taskRow(t, now));
      },
      onOverview,
    );
    /** Draws a series while the Overview is shown: on each new sample, and on coming back to it. */
    const mountChart = (chart: LineChart, name: SeriesName) => {
      let drawn: unknown = null;
      const draw = () => {
        const points = c.series[name];
        if (plain.view !== "overview" || points === drawn) return;
        drawn = points;
        chart.set(points);
      };
      const off = c.onSeries((n) => n === name && draw());
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
      get totals() {
        return sums.value;
      },
      get attention() {
        return attention.value;
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

  // ---- Workers --------------------------------------------------------------------------------
  // Kept while the page is closed (its component is not).
  const workersUi = Alpine.reactive({ filter: "all" as WorkerFilter });
  Alpine.data("workersView", () => {
    const fx = scope();
    const onWorkers = shown("workers");
    const ui = workersUi;
    const cache = new RowCache<WorkerRow>(patchRow);
    const rows = fx.derive<WorkerRow[]>(
      [],
      () => {
        const byId = taskById();
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
      get workerFilter() {
        return ui.filter;
      },
      get workerRows() {
        return rows.value;
      },
      setWorkerFilter(f: WorkerFilter) {
        ui.filter = f;
      },
      workerFilterClass(f: string) {
        return segmentClass(ui.filter === f);
      },
      get workerTotal() {
        return total.value;
      },
    };
  });

  // ---- Worker detail --------------------------------------------------------------------------
  Alpine.data("workerDetail", () => {
    const fx = scope();
    const onDetail = shown("worker");
    const current = fx.derive<Worker | null>(null, () => raw(s.workers).find((w) => w.id === s.selectedWorkerId) ?? null, onDetail);
    const task = fx.derive<Task | null>(
      null,
      () => {
        const w = raw(current.value);
        return w ? (taskById().get(w.task_id) ?? null) : null;
      },
      onDetail,
    );
    const row = fx.derive<WorkerRow>(
      { ...EMPTY_ROW }, // written into (patch): never the shared constant
      () => {
        const w = raw(current.value);
        return w ? workerRow(w, raw(task.value) ?? undefined, s.nowMs) : { ...EMPTY_ROW };
      },
      { ...onDetail, patch: true },
    );
    const factCache = new RowCache<{ label: string; value: string }>(patchRow);
    const facts = fx.derive<{ label: string; value: string }[]>(
      [],
      () => {
        const w = raw(current.value);
        if (!w) return [];
        const t = raw(task.value);
        return factCache.list([
          { label: "Worker", value: w.id },
          { label: "Task", value: w.task_id },
          { label: "Expert", value: w.expert },
          { label: "State", value: w.state },
          { label: "Attempt", value: `${w.attempt} (restarts ${w.restarts})` },
          { label: "PID", value: w.pid == null ? "—" : String(w.pid) },
          { label: "Session", value: w.session_id ?? "—" },
          { label: "Workdir", value: w.workdir },
          { label: "Created", value: formatDateTime(w.created_at) },
          { label: "Started", value: formatDateTime(w.started_at) },
          { label: "Tokens", value: `${formatTokens(w.tokens.input)} / ${formatTokens(w.tokens.output)}` },
          { label: "Cost", value: formatMoney(w.cost_usd) },
          { label: "Reason", value: w.reason ?? "—" },
          { label: "Priority", value: t?.priority ?? "—" },
        ], (f) => f.label, (f) => [f], (f) => f);
      },
      onDetail,
    );
    const doing = fx.derive("", () => {
      const w = raw(current.value);
      return w ? activityLabel(w.activity, s.nowMs) : "";
    }, onDetail);
    const entryCache = new RowCache<EntryView>(patchRow);
    const groups = fx.derive<AttemptGroup[]>(
      [],
      () => {
        if (s.transcriptFor !== s.selectedWorkerId) return [];
        const view = transcriptView(raw(s.transcript));
        // Unchanged entries keep their objects: a re-fetched transcript only adds rows.
        const entries = entryCache.list(
          view.flatMap((g) => g.entries),
          (e) => e.key,
          (e) => [e],
          (e) => e,
        );
        let i = 0;
        return view.map((g) => ({ ...g, entries: g.entries.map(() => entries[i++]) }));
      },
      onDetail,
    );
    const timelineCache = new RowCache<FeedItem>(patchRow);
    const timeline = fx.derive<FeedItem[]>(
      [],
      () => {
        const items = s.selectedWorkerId ? workerTimeline(raw(s.activity), s.selectedWorkerId) : [];
        return timelineCache.list(items, (i) => i.key, (i) => [i], (i) => i);
      },
      onDetail,
    );
    return {
      destroy() {
        fx.stop();
      },
      stickToBottom: true,
      get current() {
        return current.value;
      },
      get found() {
        return current.value !== null;
      },
      get row() {
        return row.value;
      },
      get facts() {
        return facts.value;
      },
      get taskText() {
        return task.value?.description ?? "";
      },
      get doing() {
        return doing.value;
      },
      get lastText() {
        return current.value?.last_text ?? "";
      },
      get groups() {
        return groups.value;
      },
      get transcriptCount() {
        return s.transcriptFor === s.selectedWorkerId ? s.transcript.length : 0;
      },
      get transcriptLoading() {
        return s.transcriptLoading;
      },
      get transcriptError() {
        return s.transcriptError;
      },
      get timeline(): FeedItem[] {
        return timeline.value;
      },
      backToWorkers() {
        c.navigate("workers");
      },
      reloadTranscript() {
        if (s.selectedWorkerId) void c.loadTranscript(s.selectedWorkerId);
        void c.loadActivity();
      },
      onTranscriptScroll(el: HTMLElement) {
        this.stickToBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
      },
      followTranscript(el: HTMLElement) {
        // Reading the length makes this effect run again when entries arrive.
        const n = this.transcriptCount;
        if (n >= 0 && this.stickToBottom) void Alpine.nextTick(() => el.scrollTo({ top: el.scrollHeight }));
      },
    };
  });

  // ---- Tasks ----------------------------------------------------------------------------------
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
    const fx = scope();
    let requestPreview: ((text: string, type: string) => void) | null = null;
    const onTasks = shown("tasks");
    const ui = taskForm;
    const cache = new RowCache<TaskRow>(patchRow);
    const rows = fx.derive<TaskRow[]>(
      [],
      () => {
        const clock = s.tableNowMs;
        const now = Math.max(clock, plain.nowMs);
        return cache.list(filterTasks(raw(s.tasks), ui.filter), (t) => t.id, (t) => [t, clock], (t) => taskRow(t, now));
      },
      onTasks,
    );
    const total = fx.derive(0, () => raw(s.tasks).length, onTasks);
    return {
      destroy() {
        fx.stop();
      },
      get draft() {
        return taskForm.draft;
      },
      get submitting() {
        return taskForm.submitting;
      },
      set submitting(v: boolean) {
        taskForm.submitting = v;
      },
      get submitError() {
        return taskForm.submitError;
      },
      set submitError(v: string) {
        taskForm.submitError = v;
      },
      get previewLoading() {
        return taskForm.previewLoading;
      },
      set previewLoading(v: boolean) {
        taskForm.previewLoading = v;
      },
      get previewError() {
        return taskForm.previewError;
      },
      set previewError(v: string) {
        taskForm.previewError = v;
      },
      get preview(): PreviewView | null {
        return taskForm.preview;
      },
      set preview(v: PreviewView | null) {
        taskForm.preview = v;
      },
      get taskFilter() {
        return ui.filter;
      },
      init() {
        requestPreview = debounce((text: string, type: string) => {
          this.previewLoading = true;
          void c.preview(text, type || null).then((r) => {
            if (!r) return; // a newer draft was previewed meanwhile
            this.previewLoading = false;
            this.preview = r.decision ? previewView(r.decision, s.experts) : null;
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
          void c.preview("", null); // makes any preview in flight stale
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
      get canSubmit() {
        return this.draft.text.trim().length > 0 && !this.submitting;
      },
      async submitTask() {
        if (!this.canSubmit) return;
        this.submitting = true;
        this.submitError = "";
        const d = this.draft;
        const request: { description: string; priority: string; type?: string; workdir?: string; worktree?: boolean } = {
          description: d.text,
          priority: d.priority,
        };
        if (d.type.trim()) request.type = d.type.trim();
        if (d.workdir.trim()) request.workdir = d.workdir.trim();
        if (d.worktree) request.worktree = true;
        const r = await c.submit(request);
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
      setTaskFilter(f: TaskFilter) {
        ui.filter = f;
      },
      taskFilterClass(f: string) {
        return segmentClass(ui.filter === f);
      },
    };
  });

  // ---- Routing --------------------------------------------------------------------------------
  Alpine.data("routingView", () => {
    const fx = scope();
    let chart: BarChart | null = null;
    fx.onStop(() => {
      chart?.destroy();
      chart = null;
    });
    const onRouting = shown("routing");
    const decisionCache = new RowCache<DecisionRow>(patchRow);
    const correctionCache = new RowCache<CorrectionRow>(patchRow);
    // The rows show the tasks' text only: a task's status or cost moving redraws nothing here.
    const texts = fx.derive<Pick<Task, "id" | "description">[]>(
      [],
      () => raw(s.tasks).map((t) => ({ id: t.id, description: t.description })),
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
      refreshDecisions() {
        void c.loadDecisions();
      },
    };
  });

  // ---- Activity -------------------------------------------------------------------------------
  const activityUi = Alpine.reactive({ filter: "all" });
  Alpine.data("activityView", () => {
    const fx = scope();
    const ui = activityUi;
    const cache = new RowCache<FeedRow>(patchRow);
    const feed = fx.derive<FeedRow[]>(
      [],
      () => {
        const clock = s.tableNowMs;
        const now = Math.max(clock, plain.nowMs);
        let items = mergeFeed(raw(s.alerts), raw(s.activity));
        const f = ui.filter;
        if (f === "alerts") items = items.filter((i) => i.source === "alert" || i.label === "alert");
        else if (f === "health") items = items.filter((i) => i.label === "health");
        else if (f === "interventions") items = items.filter((i) => ["kill", "kill + restart", "extend", "circuit breaker"].includes(i.label));
        return cache.list(items, (i) => i.key, (i) => [i], (i) => ({ ...i, ago: formatRelative(i.at, now) }));
      },
      shown("activity"),
    );
    return {
      destroy() {
        fx.stop();
      },
      get feedFilter() {
        return ui.filter;
      },
      get feed() {
        return feed.value;
      },
      setFeedFilter(f: string) {
        ui.filter = f;
      },
      feedFilterClass(f: string) {
        return segmentClass(ui.filter === f);
      },
      feedAgo(item: FeedItem & { ago?: string }) {
        return item.ago ?? formatRelative(item.at, s.nowMs);
      },
      refreshActivity() {
        void c.loadActivity();
      },
    };
  });

  // ---- Settings -------------------------------------------------------------------------------
  // The form, with edits not saved yet, is kept while the page is closed.
  const settingsForm = Alpine.reactive({
    values: configToForm({}) as FormValues,
    fieldErrors: {} as Record<string, string>,
    generalError: "",
    saving: false,
    dirty: false,
    loadedFrom: null as object | null,
  });
  const settingsGroups = GROUPS.map((g) => ({ ...g, fields: FIELDS.filter((f) => f.group === g.id) }));
  Alpine.data("settingsView", () => {
    const fx = scope();
    const f = settingsForm;
    return {
      destroy() {
        fx.stop();
      },
      get values() {
        return f.values;
      },
      set values(v: FormValues) {
        f.values = v;
      },
      get fieldErrors() {
        return f.fieldErrors;
      },
      set fieldErrors(v: Record<string, string>) {
        f.fieldErrors = v;
      },
      get generalError() {
        return f.generalError;
      },
      set generalError(v: string) {
        f.generalError = v;
      },
      get saving() {
        return f.saving;
      },
      set saving(v: boolean) {
        f.saving = v;
      },
      get dirty() {
        return f.dirty;
      },
      set dirty(v: boolean) {
        f.dirty = v;
      },
      get loadedFrom() {
        return f.loadedFrom;
      },
      set loadedFrom(v: object | null) {
        f.loadedFrom = v;
      },
      groups: settingsGroups,
      init() {
        fx.effect(() => {
          const settings = s.settings;
          if (settings && settings.config !== f.loadedFrom && !f.dirty) this.fillForm();
        });
      },
      fillForm() {
        const settings = s.settings;
        this.values = configToForm(settings?.config ?? {});
        this.loadedFrom = settings?.config ?? null;
        this.fieldErrors = {};
        this.generalError = "";
        this.dirty = false;
      },
      get hasSettings() {
        return s.settings !== null;
      },
      markDirty(key: string) {
        this.dirty = true;
        if (this.fieldErrors[key]) {
          const next = { ...this.fieldErrors };
          delete next[key];
          this.fieldErrors = next;
        }
      },
      fieldError(key: string) {
        return this.fieldErrors[key] ?? "";
      },
      inputClass(key: string) {
        return this.fieldErrors[key]
          ? "border-red-400 bg-red-50 focus:border-red-500 focus:ring-red-500"
          : "border-slate-300 focus:border-indigo-500 focus:ring-indigo-500";
      },
      placeholder(def: unknown) {
        return Array.isArray(def) ? JSON.stringify(def) : String(def);
      },
      async saveSettings() {
        if (this.saving) return;
        const base = (s.settings?.config ?? {}) as Record<string, unknown>;
        const { config, errors } = formToConfig(this.values, base);
        this.fieldErrors = errors;
        this.generalError = "";
        if (Object.keys(errors).length > 0) return;
        this.saving = true;
        const r = await c.saveSettings(config);
        this.saving = false;
        if ("error" in r) {
          const placed = placeError(r.error);
          this.fieldErrors = placed.fields;
          this.generalError = placed.general ?? "";
          return;
        }
        this.dirty = false;
        this.fillForm();
      },
      resetForm() {
        this.fillForm();
      },
      get doctor() {
        return s.doctor;
      },
      get doctorRows() {
        const d = s.doctor;
        if (!d) return [];
        return [
          { label: "Agent command", value: JSON.stringify(d.agent_command), cls: "" },
          { label: "Resolves to", value: d.agent_resolved ?? "not found on PATH", cls: d.agent_resolved ? "" : "text-red-700 font-medium" },
          { label: "Version", value: d.agent_version ?? "unknown", cls: d.agent_version ? "" : "text-amber-700" },
          { label: "Home", value: d.home, cls: "" },
          { label: "Notifications", value: d.notifications ?? "—", cls: "" },
        ];
      },
      get doctorError() {
        return s.doctorError;
      },
      refreshDoctor() {
        void c.loadDoctor();
      },
      toneClass(tone: keyof typeof TONE_CLASSES) {
        return TONE_CLASSES[tone];
      },
    };
  });
}
