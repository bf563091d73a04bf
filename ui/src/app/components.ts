// The Alpine components. They only bind: every decision is made in
// src/logic (tested) or in the controller. Registered with Alpine.data so
// the CSP build can run them without eval; templates use x-text only.

import type { AlpineCsp } from "@alpinejs/csp";
import { bannerView, type BannerItem } from "../logic/alerts";
import { debounce } from "../logic/async";
import { TONE_CLASSES } from "../logic/badges";
import { mergeFeed, workerTimeline, type FeedItem } from "../logic/feed";
import { formatDateTime, formatMoney, formatRelative, formatTokens, shortId } from "../logic/format";
import { freshness } from "../logic/freshness";
import { statCards, totals } from "../logic/overview";
import { previewView, type PreviewView } from "../logic/preview";
import { corrections, decisionRows, distribution } from "../logic/routing";
import { configToForm, FIELDS, formToConfig, GROUPS, placeError, type FormValues } from "../logic/settings";
import { filterTasks, taskRow, type TaskFilter } from "../logic/tasks";
import { transcriptView } from "../logic/transcript";
import { activityLabel, filterWorkers, workerRow, type WorkerFilter } from "../logic/workers";
import type { Task } from "../types";
import { BarChart, LineChart } from "./charts";
import type { Controller } from "./controller";
import { NAV, type AppState, type ViewId } from "./state";

const TITLES: Record<ViewId, string> = {
  overview: "Overview",
  workers: "Workers",
  worker: "Worker",
  tasks: "Tasks",
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

export function registerComponents(Alpine: AlpineCsp, s: AppState, c: Controller): void {
  const taskById = () => new Map(s.tasks.map((t) => [t.id, t]));

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
      if (id === "workers") return s.workers.filter((w) => !["completed", "failed", "cancelled"].includes(w.state)).length || "";
      if (id === "tasks") return s.tasks.filter((t) => ["queued", "routed", "running", "waiting", "needs_attention"].includes(t.status)).length || "";
      return "";
    },

    // Freshness
    get fresh() {
      return freshness(s.lastUpdateMs, s.nowMs);
    },
    get freshClass() {
      return this.fresh.stale ? "bg-amber-100 text-amber-800 ring-amber-600/30" : "bg-emerald-50 text-emerald-700 ring-emerald-600/20";
    },
    get freshDot() {
      return this.fresh.stale ? "bg-amber-500" : "bg-emerald-500";
    },

    // Pause / resume
    get paused() {
      return !!s.status?.paused;
    },
    get pausing() {
      return s.pausing;
    },
    get pauseLabel() {
      return s.status?.paused ? "Resume spawning" : "Pause spawning";
    },
    get pauseClass() {
      return s.status?.paused
        ? "bg-emerald-600 text-white hover:bg-emerald-500"
        : "bg-white text-slate-700 ring-1 ring-slate-300 hover:bg-slate-50";
    },
    togglePause() {
      void c.togglePause();
    },

    // Alert banner
    get banner() {
      return bannerView(s.alerts, new Set(s.dismissed));
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
  Alpine.data("overview", () => ({
    get cards() {
      return statCards(s.status);
    },
    get totals() {
      return totals(s.status);
    },
    get attention() {
      const byId = taskById();
      return s.workers
        .filter((w) => !["completed", "failed", "cancelled"].includes(w.state) && !["healthy", "starting"].includes(w.health))
        .slice(0, 6)
        .map((w) => workerRow(w, byId.get(w.task_id), s.nowMs));
    },
    get recentTasks() {
      return s.tasks.slice(0, 6).map((t) => taskRow(t, s.nowMs));
    },
    mountActiveChart(canvas: HTMLCanvasElement) {
      const chart = new LineChart(canvas, { color: "#6366f1", fill: "rgba(99,102,241,0.12)", integer: true });
      chart.set(c.series.active);
      c.onSeries((name, points) => name === "active" && chart.set(points));
    },
    mountSuccessChart(canvas: HTMLCanvasElement) {
      const chart = new LineChart(canvas, { color: "#10b981", fill: "rgba(16,185,129,0.12)", yMax: 100, suffix: "%" });
      chart.set(c.series.success);
      c.onSeries((name, points) => name === "success" && chart.set(points));
    },
  }));

  // ---- Workers --------------------------------------------------------------------------------
  Alpine.data("workersView", () => ({
    workerFilter: "all" as WorkerFilter,
    get workerRows() {
      const byId = taskById();
      return filterWorkers(s.workers, this.workerFilter).map((w) => workerRow(w, byId.get(w.task_id), s.nowMs));
    },
    setWorkerFilter(f: WorkerFilter) {
      this.workerFilter = f;
    },
    workerFilterClass(f: string) {
      return this.workerFilter === f ? "bg-white text-slate-900 shadow-sm" : "text-slate-500 hover:text-slate-800";
    },
    get workerTotal() {
      return s.workers.length;
    },
  }));

  // ---- Worker detail --------------------------------------------------------------------------
  Alpine.data("workerDetail", () => ({
    stickToBottom: true,
    get current() {
      return s.workers.find((w) => w.id === s.selectedWorkerId) ?? null;
    },
    get found() {
      return this.current !== null;
    },
    get row() {
      const w = this.current;
      if (!w) return EMPTY_ROW;
      return workerRow(w, taskById().get(w.task_id), s.nowMs);
    },
    get facts() {
      const w = this.current;
      if (!w) return [];
      const t = taskById().get(w.task_id);
      return [
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
      ];
    },
    get taskText() {
      const w = this.current;
      return w ? (taskById().get(w.task_id)?.description ?? "") : "";
    },
    get doing() {
      const w = this.current;
      return w ? activityLabel(w.activity, s.nowMs) : "";
    },
    get lastText() {
      return this.current?.last_text ?? "";
    },
    get groups() {
      if (s.transcriptFor !== s.selectedWorkerId) return [];
      return transcriptView(s.transcript);
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
      return s.selectedWorkerId ? workerTimeline(s.activity, s.selectedWorkerId) : [];
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
  }));

  // ---- Tasks ----------------------------------------------------------------------------------
  Alpine.data("tasksView", () => {
    let requestPreview: ((text: string, type: string) => void) | null = null;
    return {
      draft: { text: "", type: "", priority: "medium", workdir: "", worktree: false },
      submitting: false,
      submitError: "",
      previewLoading: false,
      previewError: "",
      preview: null as PreviewView | null,
      taskFilter: "all" as TaskFilter,
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
        return filterTasks(s.tasks, this.taskFilter).map((t: Task) => taskRow(t, s.nowMs));
      },
      get taskTotal() {
        return s.tasks.length;
      },
      setTaskFilter(f: TaskFilter) {
        this.taskFilter = f;
      },
      taskFilterClass(f: string) {
        return this.taskFilter === f ? "bg-white text-slate-900 shadow-sm" : "text-slate-500 hover:text-slate-800";
      },
    };
  });

  // ---- Routing --------------------------------------------------------------------------------
  Alpine.data("routingView", () => {
    let chart: BarChart | null = null;
    return {
      get decisionRows() {
        return decisionRows(s.decisions, s.tasks);
      },
      get correctionRows() {
        return corrections(s.decisions, s.tasks);
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
  Alpine.data("activityView", () => ({
    feedFilter: "all",
    get feed() {
      const items = mergeFeed(s.alerts, s.activity);
      if (this.feedFilter === "alerts") return items.filter((i) => i.source === "alert" || i.label === "alert");
      if (this.feedFilter === "health") return items.filter((i) => i.label === "health");
      if (this.feedFilter === "interventions") return items.filter((i) => ["kill", "kill + restart", "extend", "circuit breaker"].includes(i.label));
      return items;
    },
    setFeedFilter(f: string) {
      this.feedFilter = f;
    },
    feedFilterClass(f: string) {
      return this.feedFilter === f ? "bg-white text-slate-900 shadow-sm" : "text-slate-500 hover:text-slate-800";
    },
    feedAgo(item: FeedItem) {
      return formatRelative(item.at, s.nowMs);
    },
    refreshActivity() {
      void c.loadActivity();
    },
  }));

  // ---- Settings -------------------------------------------------------------------------------
  Alpine.data("settingsView", () => ({
    values: configToForm({}) as FormValues,
    fieldErrors: {} as Record<string, string>,
    generalError: "",
    saving: false,
    dirty: false,
    loadedFrom: null as object | null,
    groups: GROUPS.map((g) => ({ ...g, fields: FIELDS.filter((f) => f.group === g.id) })),
    init() {
      Alpine.effect(() => {
        const settings = s.settings;
        if (settings && settings.config !== this.loadedFrom && !this.dirty) this.fillForm();
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
  }));
}
