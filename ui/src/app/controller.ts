// Wires the engine to the shared state: the first load, engine events
// (through the reducer), re-fetches after events (debounced), and every
// command a person can give. No polling: only events, user actions and the
// local one-second clock change anything.
//
// Engine events are queued and applied in batches, at most one every
// `eventBatchMs` (300 ms): with 50 busy workers the engine sends about 25
// events a second, and replacing the shared lists on each one made every
// view re-render 25 times a second. Chart series take at most one point a
// second, on the clock's tick, so a chart redraws in the same task (and the
// same frame) as the relative times the tick moves.

import type { CortexApi, Unlisten } from "../api";
import { debounce, Latest, throttle, type Debounced, type Throttled } from "../logic/async";
import { dismissAllKeys } from "../logic/alerts";
import { describeError, toApiError } from "../logic/errors";
import { activeWorkers } from "../logic/overview";
import { previewable } from "../logic/preview";
import { pushPoint, type Point } from "../logic/series";
import { applyEvents, countLiveWorkers, upsertTask, upsertWorker } from "../logic/store";
import type { ApiError, Decision, EngineEvent, SubmitAck, SubmitRequest, Task, Worker } from "../types";
import type { AppState, Toast, ViewId } from "./state";

export type SeriesName = "active" | "success";

export interface ControllerOptions {
  now?: () => number;
  statusDebounceMs?: number;
  /** Under a steady stream of events the status is still re-fetched this often. */
  statusMaxWaitMs?: number;
  transcriptDebounceMs?: number;
  transcriptMaxWaitMs?: number;
  /** Queued engine events are applied at most this often, in one batch. */
  eventBatchMs?: number;
  /** How often the tables' clock (AppState.tableNowMs) moves. */
  tableClockMs?: number;
  listDebounceMs?: number;
  activityLimit?: number;
  decisionsLimit?: number;
  toastMs?: number;
  /** Where dismissed alerts are remembered (localStorage in the app). */
  storage?: Pick<Storage, "getItem" | "setItem"> | null;
}

const DISMISSED_KEY = "cortex.dismissedAlerts";
const MAX_DISMISSED = 500;

export class Controller {
  readonly series: Record<SeriesName, Point[]> = { active: [], success: [] };
  private seriesListeners: ((name: SeriesName, points: Point[]) => void)[] = [];
  /** The latest value of each series not yet taken as a point (see record). */
  private samples: Partial<Record<SeriesName, number>> = {};
  private queue: EngineEvent[] = [];
  private readonly scheduleFlush: Throttled;
  private unlisten: Unlisten[] = [];
  private clock: ReturnType<typeof setInterval> | null = null;
  private toastSeq = 0;
  private previews = new Latest();
  private activityDirty = true;
  private decisionsDirty = true;
  private readonly now: () => number;
  private readonly opts: Required<Omit<ControllerOptions, "now" | "storage">>;
  private readonly storage: Pick<Storage, "getItem" | "setItem"> | null;

  readonly scheduleStatus: Debounced<[]>;
  readonly scheduleTranscript: Debounced<[]>;
  readonly scheduleActivity: Debounced<[]>;
  readonly scheduleDecisions: Debounced<[]>;
  readonly scheduleTasks: Debounced<[]>;

  constructor(
    private readonly api: CortexApi,
    private readonly s: AppState,
    options: ControllerOptions = {},
  ) {
    this.now = options.now ?? (() => Date.now());
    this.storage = options.storage ?? null;
    this.opts = {
      statusDebounceMs: options.statusDebounceMs ?? 400,
      statusMaxWaitMs: options.statusMaxWaitMs ?? 2000,
      transcriptDebounceMs: options.transcriptDebounceMs ?? 300,
      transcriptMaxWaitMs: options.transcriptMaxWaitMs ?? 1500,
      eventBatchMs: options.eventBatchMs ?? 300,
      tableClockMs: options.tableClockMs ?? 5000,
      listDebounceMs: options.listDebounceMs ?? 1000,
      activityLimit: options.activityLimit ?? 300,
      decisionsLimit: options.decisionsLimit ?? 300,
      toastMs: options.toastMs ?? 6000,
    };
    this.scheduleStatus = debounce(() => void this.refreshStatus(), this.opts.statusDebounceMs, this.opts.statusMaxWaitMs);
    this.scheduleTranscript = debounce(
      () => {
        if (this.s.selectedWorkerId) void this.loadTranscript(this.s.selectedWorkerId, true);
      },
      this.opts.transcriptDebounceMs,
      this.opts.transcriptMaxWaitMs,
    );
    this.scheduleFlush = throttle(() => this.flushEvents(), this.opts.eventBatchMs);

    this.scheduleActivity = debounce(() => void this.loadActivity(), this.opts.listDebounceMs);
    this.scheduleDecisions = debounce(() => void this.loadDecisions(), this.opts.listDebounceMs);
    this.scheduleTasks = debounce(() => void this.refreshTasks(), this.opts.listDebounceMs);
    this.s.dismissed = this.readDismissed();
  }

  // ---- start and stop ------------------------------------------------------

  /** Subscribes to events first (so none is missed), then loads everything. */
  async start(): Promise<void> {
    this.clock = setInterval(() => this.tick(), 1000);
    try {
      this.unlisten.push(await this.api.onEngineEvent((ev) => this.handleEvent(ev)));
      this.unlisten.push(await this.api.onFocusWorker((id) => this.focusWorker(id)));
    } catch (e) {
      this.s.loadError = describeError("listening to engine events", e);
    }
    const [status, tasks, workers, settings] = await Promise.allSettled([
      this.refreshStatus(),
      this.refreshTasks(),
      this.refreshWorkers(),
      this.loadSettings(),
    ]);
    const failed = [status, tasks, workers, settings].find((r) => r.status === "fulfilled" && r.value === false);
    if (failed && !this.s.loadError) this.s.loadError = "Some data could not be loaded; see the messages below.";
    this.s.mode = "ready";
    void this.loadActivity();
  }

  stop(): void {
    this.unlisten.forEach((u) => u());
    this.unlisten = [];
    if (this.clock) clearInterval(this.clock);
    this.clock = null;
    [this.scheduleStatus, this.scheduleTranscript, this.scheduleActivity, this.scheduleDecisions, this.scheduleTasks].forEach((d) =>
      d.cancel(),
    );
    this.scheduleFlush.cancel();
    this.queue = [];
    this.samples = {};
  }

  /**
   * The one-second clock: relative times (moved as often as their wording
   * can change: every second while the newest news is under a minute old,
   * then every 10 s, then every minute, so an idle window is not redrawn
   * every second), the tables' clock (every
   * `tableClockMs`) and the chart series' pending samples.
   */
  tick(): void {
    const t = this.now();
    if (t - this.s.nowMs >= clockStep(t - (this.s.lastUpdateMs ?? t)) || t < this.s.nowMs) this.s.nowMs = t;
    if (t - this.s.tableNowMs >= this.opts.tableClockMs || t < this.s.tableNowMs) this.s.tableNowMs = t;
    this.takeSample("active");
    this.takeSample("success");
  }

  /**
   * Something arrived. The clock is moved only when it is a second or more
   * behind: then no fresh timestamp reads as "in 1s", and a stream of events
   * does not re-render every relative time each time.
   */
  private touch(): void {
    const t = this.now();
    this.s.lastUpdateMs = t;
    if (t - this.s.nowMs >= 1000) this.s.nowMs = t;
  }

  // ---- charts ----------------------------------------------------------------

  /** Calls `listener` with each new version of a series; returns how to stop. */
  onSeries(listener: (name: SeriesName, points: Point[]) => void): () => void {
    this.seriesListeners.push(listener);
    return () => {
      this.seriesListeners = this.seriesListeners.filter((l) => l !== listener);
    };
  }

  /** Puts older points before what the chart has (the demo page's history). */
  seedSeries(name: SeriesName, history: Point[]): void {
    const first = this.series[name][0]?.t ?? Infinity;
    this.series[name] = [...history.filter((p) => p.t < first), ...this.series[name]];
    this.seriesListeners.forEach((l) => l(name, this.series[name]));
  }

  /**
   * Keeps the value as the series' next sample, taken on the next tick of
   * the clock (so at most one point a second); a series' first value is
   * taken at once.
   */
  private record(name: SeriesName, value: number | null | undefined): void {
    if (value == null || !Number.isFinite(value)) return;
    this.samples[name] = value;
    if (this.series[name].length === 0) this.takeSample(name);
  }

  private takeSample(name: SeriesName): void {
    const value = this.samples[name];
    delete this.samples[name];
    if (value === undefined) return;
    const prev = this.series[name];
    const next = pushPoint(prev, this.now(), value);
    if (next === prev) return;
    const a = prev[prev.length - 1];
    const b = next[next.length - 1];
    // The same value folded into the last point: nothing to redraw.
    if (next.length === prev.length && a && b && a.t === b.t && a.v === b.v) return;
    this.series[name] = next;
    this.seriesListeners.forEach((l) => l(name, next));
  }

  // ---- events ----------------------------------------------------------------

  /** Queues an engine event; the queue is applied in one batch (flushEvents) soon. */
  handleEvent(ev: EngineEvent): void {
    this.queue.push(ev);
    this.scheduleFlush();
  }

  /** Events received and not applied yet. */
  pendingEvents(): number {
    return this.queue.length;
  }

  /**
   * Applies every queued event at once: each list that changed is replaced
   * once, and the follow-ups (status, transcript, activity, decisions) are
   * asked for once per batch.
   */
  flushEvents(): void {
    if (this.queue.length === 0) return;
    const events = this.queue;
    this.queue = [];
    this.touch();
    const before = { tasks: this.s.tasks, workers: this.s.workers, alerts: this.s.alerts };
    const batch = applyEvents(before, events);
    if (batch.changes.length === 0) return;
    const { state } = batch;
    if (state.tasks !== before.tasks) this.s.tasks = state.tasks;
    if (state.alerts !== before.alerts) this.s.alerts = state.alerts;
    if (state.workers !== before.workers) {
      this.s.workers = state.workers;
      this.record("active", countLiveWorkers(state.workers));
      const selected = this.s.selectedWorkerId;
      if (selected && this.s.view === "worker" && batch.workerIds.includes(selected)) this.scheduleTranscript();
    }
    if (batch.routingMoved) this.markDecisionsDirty();
    if (batch.activityMoved) this.markActivityDirty();
    this.scheduleStatus();
  }

  private markActivityDirty(): void {
    this.activityDirty = true;
    if (this.s.view === "activity" || this.s.view === "worker") this.scheduleActivity();
  }

  private markDecisionsDirty(): void {
    this.decisionsDirty = true;
    if (this.s.view === "routing") this.scheduleDecisions();
  }

  /** The tray or a notification asks to show a worker. */
  focusWorker(workerId: string): void {
    if (!workerId) return;
    this.flushEvents();
    if (!this.s.workers.some((w) => w.id === workerId)) void this.refreshWorkers();
    this.openWorker(workerId);
  }

  // ---- navigation -------------------------------------------------------------

  navigate(view: ViewId): void {
    this.s.view = view;
    if (view !== "worker") this.s.selectedWorkerId = null;
    if ((view === "activity" || view === "worker") && this.activityDirty) void this.loadActivity();
    if (view === "routing" && this.decisionsDirty) void this.loadDecisions();
    if (view === "settings") {
      if (!this.s.settings) void this.loadSettings();
      if (!this.s.doctor) void this.loadDoctor();
    }
  }

  openWorker(workerId: string): void {
    this.s.selectedWorkerId = workerId;
    if (this.s.transcriptFor !== workerId) this.s.transcript = [];
    this.navigate("worker");
    void this.loadTranscript(workerId);
    void this.loadActivity();
  }

  // ---- fetches (each returns false when it failed) -----------------------------------

  private async fetch<T>(what: string, run: () => Promise<T>, apply: (v: T) => void, quiet = false): Promise<boolean> {
    try {
      const v = await run();
      apply(v);
      this.touch();
      return true;
    } catch (e) {
      if (!quiet) this.toast(describeError(what, e), "error");
      return false;
    }
  }

  refreshStatus(): Promise<boolean> {
    return this.fetch("status", () => this.api.getStatus(), (status) => {
      this.s.status = status;
      this.record("active", activeWorkers(status));
      if (status.success_rate != null) this.record("success", status.success_rate * 100);
    });
  }

  refreshTasks(): Promise<boolean> {
    return this.fetch("tasks", () => this.api.listTasks(), (tasks) => {
      this.s.tasks = tasks.reduce((acc, t) => upsertTask(acc, t).list, this.s.tasks);
    });
  }

  refreshWorkers(): Promise<boolean> {
    return this.fetch("workers", () => this.api.listWorkers(), (workers) => {
      this.s.workers = workers.reduce((acc, w) => upsertWorker(acc, w).list, this.s.workers);
    });
  }

  loadSettings(): Promise<boolean> {
    return this.fetch("settings", () => this.api.getSettings(), (settings) => {
      this.s.settings = settings;
      this.s.experts = [...settings.experts].sort();
    });
  }

  async loadDoctor(): Promise<boolean> {
    this.s.doctorError = "";
    const ok = await this.fetch("doctor", () => this.api.doctor(), (d) => (this.s.doctor = d), true);
    if (!ok) this.s.doctorError = "The doctor check failed.";
    return ok;
  }

  loadActivity(): Promise<boolean> {
    this.activityDirty = false;
    return this.fetch("activity", () => this.api.recentActivity(this.opts.activityLimit), (lines) => (this.s.activity = lines));
  }

  loadDecisions(): Promise<boolean> {
    this.decisionsDirty = false;
    return this.fetch("routing decisions", () => this.api.recentDecisions(this.opts.decisionsLimit), (d) => (this.s.decisions = d));
  }

  async loadTranscript(workerId: string, quiet = false): Promise<void> {
    if (!quiet) this.s.transcriptLoading = true;
    try {
      const entries = await this.api.getTranscript(workerId);
      if (this.s.selectedWorkerId !== workerId) return;
      this.s.transcript = entries;
      this.s.transcriptFor = workerId;
      this.s.transcriptError = "";
      this.touch();
    } catch (e) {
      if (this.s.selectedWorkerId === workerId) this.s.transcriptError = toApiError(e).message;
    } finally {
      this.s.transcriptLoading = false;
    }
  }

  // ---- commands ----------------------------------------------------------------

  private async command<T>(id: string, what: string, run: () => Promise<T>, done?: (v: T) => void): Promise<T | null> {
    this.s.busy = [...this.s.busy, id];
    try {
      const v = await run();
      done?.(v);
      this.touch();
      return v;
    } catch (e) {
      this.toast(describeError(what, e), "error");
      return null;
    } finally {
      const i = this.s.busy.indexOf(id);
      if (i >= 0) this.s.busy = [...this.s.busy.slice(0, i), ...this.s.busy.slice(i + 1)];
    }
  }

  private applyWorker = (w: Worker) => {
    if (w && typeof w === "object" && "id" in w) this.s.workers = upsertWorker(this.s.workers, w).list;
    this.scheduleStatus();
  };

  private applyTask = (t: Task) => {
    if (t && typeof t === "object" && "id" in t) this.s.tasks = upsertTask(this.s.tasks, t).list;
    this.scheduleStatus();
  };

  kill(workerId: string) {
    return this.command(workerId, "kill", () => this.api.killWorker(workerId), (w) => {
      this.applyWorker(w);
      this.toast(`Killed ${workerId}`, "success");
    });
  }

  restart(workerId: string) {
    return this.command(workerId, "restart", () => this.api.restartWorker(workerId), (w) => {
      this.applyWorker(w);
      this.toast(`Restarting ${workerId}`, "success");
    });
  }

  extend(workerId: string, minutes = 15) {
    return this.command(workerId, "extend", () => this.api.extendWorker(workerId, minutes), (w) => {
      this.applyWorker(w);
      this.toast(`Gave ${workerId} ${minutes} more minutes`, "success");
    });
  }

  nudge(workerId: string, text: string) {
    return this.command(workerId, "nudge", () => this.api.nudgeWorker(workerId, text), (w) => {
      this.applyWorker(w);
      this.toast(`Nudged ${workerId}`, "success");
    });
  }

  openFolder(workerId: string) {
    return this.command(workerId, "open folder", () => this.api.openWorkerFolder(workerId));
  }

  takeOver(workerId: string) {
    return this.command(workerId, "take over", () => this.api.takeOverWorker(workerId), () => {
      this.toast(`Opened ${workerId} for you to take over`, "success");
      void this.refreshWorkers();
    });
  }

  reroute(taskId: string, expert: string) {
    return this.command(taskId, "correct routing", () => this.api.rerouteTask(taskId, expert), (t) => {
      this.applyTask(t);
      this.markDecisionsDirty();
      this.toast(`Routing of ${taskId} corrected to ${expert}`, "success");
    });
  }

  cancelTask(taskId: string) {
    return this.command(taskId, "cancel", () => this.api.cancelTask(taskId), (t) => {
      this.applyTask(t);
      this.toast(`Cancelled ${taskId}`, "success");
    });
  }

  async togglePause(): Promise<void> {
    const want = !(this.s.status?.paused ?? false);
    this.s.pausing = true;
    try {
      const r = await this.api.setPaused(want);
      if (this.s.status) this.s.status = { ...this.s.status, paused: r.paused };
      this.touch();
      this.toast(r.paused ? "Spawning paused: running workers go on, no new ones start" : "Spawning resumed", "info");
      this.scheduleStatus();
    } catch (e) {
      this.toast(describeError(want ? "pause" : "resume", e), "error");
    } finally {
      this.s.pausing = false;
    }
  }

  async submit(request: SubmitRequest): Promise<{ ack: SubmitAck } | { error: ApiError }> {
    try {
      const ack = await this.api.submitTask(request);
      this.touch();
      this.toast(ack.deduplicated ? `Already known as ${ack.task_id} (${ack.status})` : `Submitted ${ack.task_id}`, "success");
      this.scheduleTasks();
      return { ack };
    } catch (e) {
      return { error: toApiError(e) };
    }
  }

  /**
   * Dry-run routing for a draft. Resolves to undefined when a newer preview
   * was asked for meanwhile (the answer is stale and must be dropped).
   */
  async preview(text: string, taskType: string | null): Promise<{ decision: Decision | null; error?: string } | undefined> {
    const ticket = this.previews.next();
    if (!previewable(text)) return { decision: null };
    try {
      const decision = await this.api.routePreview(text, taskType && taskType.trim() ? taskType.trim() : null);
      return this.previews.isCurrent(ticket) ? { decision } : undefined;
    } catch (e) {
      return this.previews.isCurrent(ticket) ? { decision: null, error: toApiError(e).message } : undefined;
    }
  }

  async saveSettings(config: Record<string, unknown>): Promise<{ config: Record<string, unknown> } | { error: ApiError }> {
    try {
      const saved = await this.api.saveSettings(config);
      const current = this.s.settings;
      const notifications = (saved.notifications ?? current?.notifications ?? {}) as Record<string, boolean | number>;
      this.s.settings = { config: saved, experts: current?.experts ?? this.s.experts, notifications };
      this.touch();
      this.toast("Settings saved", "success");
      void this.loadDoctor();
      return { config: saved };
    } catch (e) {
      return { error: toApiError(e) };
    }
  }

  // ---- alerts and toasts -----------------------------------------------------------

  dismiss(key: string): void {
    if (this.s.dismissed.includes(key)) return;
    this.s.dismissed = [...this.s.dismissed, key].slice(-MAX_DISMISSED);
    this.writeDismissed();
  }

  dismissAll(): void {
    const keys = dismissAllKeys(this.s.alerts, new Set(this.s.dismissed));
    this.s.dismissed = [...this.s.dismissed, ...keys].slice(-MAX_DISMISSED);
    this.writeDismissed();
  }

  private readDismissed(): string[] {
    try {
      const raw = this.storage?.getItem(DISMISSED_KEY);
      const v = raw ? (JSON.parse(raw) as unknown) : [];
      return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
    } catch {
      return [];
    }
  }

  private writeDismissed(): void {
    try {
      this.storage?.setItem(DISMISSED_KEY, JSON.stringify(this.s.dismissed));
    } catch {
      /* storage full or unavailable: dismissals last for this session */
    }
  }

  toast(text: string, tone: Toast["tone"] = "info"): void {
    const id = ++this.toastSeq;
    this.s.toasts = [...this.s.toasts.slice(-4), { id, text, tone }];
    setTimeout(() => this.closeToast(id), tone === "error" ? this.opts.toastMs * 2 : this.opts.toastMs);
  }

  closeToast(id: number): void {
    this.s.toasts = this.s.toasts.filter((t) => t.id !== id);
  }
}

/**
 * How often relative times need moving when the newest thing shown is `ageMs`
 * old: "12s ago" changes every second; "3m ago" is late by at most 10 s.
 */
export function clockStep(ageMs: number): number {
  if (ageMs < 60_000) return 1000;
  if (ageMs < 3_600_000) return 10_000;
  return 60_000;
}
