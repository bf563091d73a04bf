// Wires the engine to the shared state. The work is split in four parts,
// each its own module: event sync and fetches (sync.ts), the commands a
// person gives (actions.ts), toasts and dismissed alerts (notices.ts), and
// the Overview's chart series (chartSeries.ts). The controller starts and
// stops them, runs the one-second clock and navigates.

import type { CortexApi, Unlisten } from "../api";
import { Review } from "./review";
import { describeError } from "../logic/errors";
import { Actions } from "./actions";
import { SeriesRecorder } from "./chartSeries";
import { Notices } from "./notices";
import type { AppState, ViewId } from "./state";
import { EngineSync } from "./sync";

export type { SeriesName } from "./chartSeries";

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
  /** Loads the page again (once the app opened its home). */
  reload?: () => void;
}

export class Controller {
  readonly charts: SeriesRecorder;
  readonly notices: Notices;
  readonly sync: EngineSync;
  readonly actions: Actions;
  readonly review: Review;
  private unlisten: Unlisten[] = [];
  private clock: ReturnType<typeof setInterval> | null = null;
  /** The local day the clock last saw (for the status's "today"). */
  private day: string | null = null;
  private readonly now: () => number;
  private readonly tableClockMs: number;
  private readonly reload: () => void;

  constructor(
    private readonly api: CortexApi,
    private readonly s: AppState,
    options: ControllerOptions = {},
  ) {
    this.now = options.now ?? (() => Date.now());
    this.tableClockMs = options.tableClockMs ?? 5000;
    this.reload = options.reload ?? (() => window.location.reload());
    this.charts = new SeriesRecorder(this.now);
    this.notices = new Notices(s, options.storage ?? null, options.toastMs ?? 6000);
    this.sync = new EngineSync(api, s, this.charts, this.notices, this.now, {
      statusDebounceMs: options.statusDebounceMs ?? 400,
      statusMaxWaitMs: options.statusMaxWaitMs ?? 2000,
      transcriptDebounceMs: options.transcriptDebounceMs ?? 300,
      transcriptMaxWaitMs: options.transcriptMaxWaitMs ?? 1500,
      eventBatchMs: options.eventBatchMs ?? 300,
      listDebounceMs: options.listDebounceMs ?? 1000,
      activityLimit: options.activityLimit ?? 300,
      decisionsLimit: options.decisionsLimit ?? 300,
    });
    this.actions = new Actions(api, s, this.sync, this.notices);
    this.review = new Review(api, s, this.sync, this.notices);
  }

  // ---- start and stop ------------------------------------------------------

  /** Subscribes to events first (so none is missed), then loads everything. */
  async start(): Promise<void> {
    this.clock = setInterval(() => this.tick(), 1000);
    try {
      this.unlisten.push(await this.api.onEngineEvent((ev) => this.sync.handleEvent(ev)));
      this.unlisten.push(await this.api.onFocusWorker((id) => this.focusWorker(id)));
      this.unlisten.push(await this.api.onEngineReady(() => this.reload()));
      this.unlisten.push(await this.api.onEngineMissed(() => void this.sync.resync()));
      this.unlisten.push(
        await this.api.onEngineUnavailable((message) => {
          this.s.unavailable = message;
          this.s.mode = "unavailable";
        }),
      );
    } catch (e) {
      this.s.loadError = describeError("listening to engine events", e);
    }
    const sync = this.sync;
    const [status, tasks, workers, settings] = await Promise.allSettled([
      sync.refreshStatus(),
      sync.refreshTasks(),
      sync.refreshWorkers(),
      sync.loadSettings(),
    ]);
    if (this.s.unavailable) {
      // Nothing is supervised: the page says why instead of empty counts.
      this.s.mode = "unavailable";
      return;
    }
    const failed = [status, tasks, workers, settings].find((r) => r.status === "fulfilled" && r.value === false);
    if (failed && !this.s.loadError) this.s.loadError = "Some data could not be loaded; see the messages below.";
    this.s.mode = "ready";
    void sync.loadActivity();
    void sync.loadAlerts();
  }

  stop(): void {
    this.unlisten.forEach((u) => u());
    this.unlisten = [];
    if (this.clock) clearInterval(this.clock);
    this.clock = null;
    this.sync.stop();
    this.charts.clear();
  }

  /**
   * The one-second clock: relative times (moved as often as their wording
   * can change: every second while the newest news is under a minute old,
   * then every 10 s, then every minute, so an idle window is not redrawn
   * every second), the tables' clock (every `tableClockMs`) and the chart
   * series' pending samples.
   */
  tick(): void {
    const t = this.now();
    if (t - this.s.nowMs >= clockStep(t - (this.s.lastUpdateMs ?? t)) || t < this.s.nowMs) this.s.nowMs = t;
    if (t - this.s.tableNowMs >= this.tableClockMs || t < this.s.tableNowMs) this.s.tableNowMs = t;
    this.charts.tick();
    // "Today" in the status (cost, tokens) is the local day: a new day reads
    // the status again even when nothing else changed.
    const day = new Date(t).toDateString();
    if (this.day !== day) {
      if (this.day !== null) this.sync.scheduleStatus();
      this.day = day;
    }
  }

  /** The tray or a notification asks to show a worker. */
  focusWorker(workerId: string): void {
    if (!workerId) return;
    this.sync.flushEvents();
    if (!this.s.workers.some((w) => w.id === workerId)) void this.sync.refreshWorkers();
    this.openWorker(workerId);
  }

  // ---- navigation -------------------------------------------------------------

  navigate(view: ViewId): void {
    this.s.view = view;
    if (view !== "worker") this.s.selectedWorkerId = null;
    if (view !== "task") this.s.selectedTaskId = null;
    if ((view === "activity" || view === "worker") && this.sync.activityDirty) void this.sync.loadActivity();
    if (view === "routing" && this.sync.decisionsDirty) void this.sync.loadDecisions();
    if (view === "settings") {
      if (!this.s.settings) void this.sync.loadSettings();
      if (!this.s.doctor) void this.sync.loadDoctor();
    }
  }

  openTask(taskId: string): void {
    this.s.selectedTaskId = taskId;
    this.navigate("task");
  }

  openWorker(workerId: string): void {
    this.s.selectedWorkerId = workerId;
    if (this.s.transcriptFor !== workerId) this.s.transcript = [];
    this.navigate("worker");
    void this.sync.loadTranscript(workerId);
    void this.sync.loadActivity();
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
