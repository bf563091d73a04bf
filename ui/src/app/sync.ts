// Keeps the shared state in step with the engine: engine events (through
// the reducer) and the fetches they call for, debounced. No polling: only
// events, user actions and the local clock change anything.
//
// Engine events are queued and applied in batches, at most one every
// `eventBatchMs` (300 ms): with 50 busy workers the engine sends about 25
// events a second, and replacing the shared lists on each one made every
// view re-render 25 times a second.

import type { CortexApi } from "../api";
import { debounce, throttle, type Debounced, type Throttled } from "../logic/async";
import { describeError, toApiError } from "../logic/errors";
import { activeWorkers } from "../logic/overview";
import { addAlert, applyEvents, countLiveWorkers, upsertTask, upsertWorker } from "../logic/store";
import type { EngineEvent } from "../types";
import type { SeriesRecorder } from "./chartSeries";
import type { Notices } from "./notices";
import type { AppState } from "./state";

export interface SyncOptions {
  statusDebounceMs: number;
  statusMaxWaitMs: number;
  transcriptDebounceMs: number;
  transcriptMaxWaitMs: number;
  eventBatchMs: number;
  listDebounceMs: number;
  activityLimit: number;
  decisionsLimit: number;
}

export class EngineSync {
  private queue: EngineEvent[] = [];
  private readonly scheduleFlush: Throttled;
  /** The activity feed or the routing decisions moved since they were last fetched. */
  activityDirty = true;
  decisionsDirty = true;

  readonly scheduleStatus: Debounced<[]>;
  readonly scheduleTranscript: Debounced<[]>;
  readonly scheduleActivity: Debounced<[]>;
  readonly scheduleDecisions: Debounced<[]>;
  readonly scheduleTasks: Debounced<[]>;

  constructor(
    private readonly api: CortexApi,
    private readonly s: AppState,
    private readonly charts: SeriesRecorder,
    private readonly notices: Notices,
    private readonly now: () => number,
    private readonly opts: SyncOptions,
  ) {
    this.scheduleStatus = debounce(() => void this.refreshStatus(), opts.statusDebounceMs, opts.statusMaxWaitMs);
    this.scheduleTranscript = debounce(
      () => {
        if (this.s.selectedWorkerId) void this.loadTranscript(this.s.selectedWorkerId, true);
      },
      opts.transcriptDebounceMs,
      opts.transcriptMaxWaitMs,
    );
    this.scheduleFlush = throttle(() => this.flushEvents(), opts.eventBatchMs);
    this.scheduleActivity = debounce(() => void this.loadActivity(), opts.listDebounceMs);
    this.scheduleDecisions = debounce(() => void this.loadDecisions(), opts.listDebounceMs);
    this.scheduleTasks = debounce(() => void this.refreshTasks(), opts.listDebounceMs);
  }

  /** Cancels everything scheduled and drops the queued events. */
  stop(): void {
    [this.scheduleStatus, this.scheduleTranscript, this.scheduleActivity, this.scheduleDecisions, this.scheduleTasks].forEach((d) =>
      d.cancel(),
    );
    this.scheduleFlush.cancel();
    this.queue = [];
  }

  /**
   * Something arrived. The clock is moved only when it is a second or more
   * behind: then no fresh timestamp reads as "in 1s", and a stream of events
   * does not re-render every relative time each time.
   */
  touch(): void {
    const t = this.now();
    this.s.lastUpdateMs = t;
    if (t - this.s.nowMs >= 1000) this.s.nowMs = t;
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
      this.notices.settle(state.workers);
      this.charts.record("active", countLiveWorkers(state.workers));
      const selected = this.s.selectedWorkerId;
      if (selected && this.s.view === "worker" && batch.workerIds.includes(selected)) this.scheduleTranscript();
    }
    if (batch.routingMoved) this.markDecisionsDirty();
    if (batch.activityMoved) this.markActivityDirty();
    // Settings edited on disk and read by the owner: the Settings page and
    // the expert lists show what is in use.
    if (batch.settingsMoved) void this.loadSettings();
    this.scheduleStatus();
  }

  /**
   * Engine events were dropped before they reached the page: what it holds
   * may be behind, so everything events keep up to date is read again
   * (lists, status, alerts, settings) and the rest is marked stale.
   */
  async resync(): Promise<boolean> {
    this.markActivityDirty();
    this.markDecisionsDirty();
    if (this.s.selectedWorkerId) this.scheduleTranscript();
    const done = await Promise.all([
      this.refreshStatus(),
      this.refreshTasks(),
      this.refreshWorkers(),
      this.loadAlerts(),
      this.loadSettings(),
    ]);
    return done.every(Boolean);
  }

  markActivityDirty(): void {
    this.activityDirty = true;
    if (this.s.view === "activity" || this.s.view === "worker") this.scheduleActivity();
  }

  markDecisionsDirty(): void {
    this.decisionsDirty = true;
    if (this.s.view === "routing") this.scheduleDecisions();
  }

  // ---- fetches (each returns false when it failed) -----------------------------------

  private async fetch<T>(what: string, run: () => Promise<T>, apply: (v: T) => void, quiet = false): Promise<boolean> {
    try {
      const v = await run();
      apply(v);
      this.touch();
      return true;
    } catch (e) {
      const err = toApiError(e);
      if (err.code === "engine_unavailable") {
        // Said once, as the whole page (see Controller.start), not per fetch.
        this.s.unavailable = err.message;
        return false;
      }
      if (!quiet) this.notices.toast(describeError(what, e), "error");
      return false;
    }
  }

  refreshStatus(): Promise<boolean> {
    return this.fetch("status", () => this.api.getStatus(), (status) => {
      this.s.status = status;
      this.charts.record("active", activeWorkers(status));
      if (status.success_rate != null) this.charts.record("success", status.success_rate * 100);
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
      // A kill's "Stopping…" ends with the worker, whether an event or this read says so.
      this.notices.settle(this.s.workers);
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

  /**
   * The alerts sent before this page existed (a window opened or reopened
   * later): merged into the banner's list, which shows each while it still
   * holds; none is toasted again.
   */
  loadAlerts(): Promise<boolean> {
    return this.fetch("alerts", () => this.api.recentAlerts(), (alerts) => {
      let list = this.s.alerts;
      for (const a of alerts) list = addAlert(list, a).list;
      this.s.alerts = list;
    });
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
}
