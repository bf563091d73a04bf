// Every command a person can give: each shows busy on its target while in
// flight, applies what the engine answered, and says how it went.

import type { CortexApi } from "../api";
import { Latest } from "../logic/async";
import { describeError, toApiError } from "../logic/errors";
import { shortId } from "../logic/format";
import { previewable } from "../logic/preview";
import { upsertTask, upsertWorker } from "../logic/store";
import { firstWords, workerSubject } from "../logic/workers";
import type { ApiError, Decision, SubmitAck, SubmitRequest, Task, Worker } from "../types";
import { stopEnded, type Notices } from "./notices";
import type { AppState } from "./state";
import type { EngineSync } from "./sync";

export class Actions {
  private previews = new Latest();

  constructor(
    private readonly api: CortexApi,
    private readonly s: AppState,
    private readonly sync: EngineSync,
    private readonly notices: Notices,
  ) {}

  private toast(text: string, tone: "info" | "error" | "success"): void {
    this.notices.toast(text, tone);
  }

  private async command<T>(id: string, what: string, run: () => Promise<T>, done?: (v: T) => void): Promise<T | null> {
    this.s.busy = [...this.s.busy, id];
    try {
      const v = await run();
      done?.(v);
      this.sync.touch();
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
    this.notices.settle(this.s.workers);
    this.sync.scheduleStatus();
  };

  private applyTask = (t: Task) => {
    if (t && typeof t === "object" && "id" in t) this.s.tasks = upsertTask(this.s.tasks, t).list;
    this.sync.scheduleStatus();
  };

  /** A worker named for a toast: its task's first words and expert, the id second. */
  private named(workerId: string): string {
    const w = this.s.workers.find((x) => x.id === workerId);
    const subject = workerSubject(w, w && this.s.tasks.find((t) => t.id === w.task_id));
    return subject ? `${subject} (${shortId(workerId)})` : workerId;
  }

  /** A task named for a toast: its first words, the id second. */
  private namedTask(taskId: string): string {
    const words = firstWords(this.s.tasks.find((t) => t.id === taskId)?.description ?? "", 40);
    return words ? `“${words}” (${shortId(taskId)})` : taskId;
  }

  kill(workerId: string) {
    return this.command(workerId, "kill", () => this.api.killWorker(workerId), (w) => {
      this.applyWorker(w);
      // The engine answers once the stop is asked for; the process may take
      // its grace period to go, and the worker's row says "Stopping…" until then.
      const named = this.named(workerId);
      // Said from the list as it is now: the worker's end may have arrived
      // before this answer, which is then stale.
      const now = this.s.workers.find((x) => x.id === workerId);
      if (now?.state === "stopping") {
        this.notices.toastUntil(`Stopping ${named}…`, workerId, named);
        this.notices.settle(this.s.workers);
      } else this.toast(stopEnded(named, now?.state ?? "cancelled"), "success");
    });
  }

  restart(workerId: string) {
    return this.command(workerId, "restart", () => this.api.restartWorker(workerId), (w) => {
      this.applyWorker(w);
      this.toast(`Restarting ${this.named(workerId)}`, "success");
    });
  }

  extend(workerId: string, minutes = 15) {
    return this.command(workerId, "extend", () => this.api.extendWorker(workerId, minutes), (w) => {
      this.applyWorker(w);
      this.toast(`Gave ${this.named(workerId)} ${minutes} more minutes`, "success");
    });
  }

  nudge(workerId: string, text: string) {
    return this.command(workerId, "nudge", () => this.api.nudgeWorker(workerId, text), (w) => {
      this.applyWorker(w);
      this.toast(`Nudged ${this.named(workerId)}`, "success");
    });
  }

  openFolder(workerId: string) {
    return this.command(workerId, "open folder", () => this.api.openWorkerFolder(workerId));
  }

  /** The worker's folder, or one of the files it changed, in the code editor. */
  openInEditor(workerId: string, file: string | null = null) {
    return this.command(workerId, "open in editor", () => this.api.openInEditor(workerId, file));
  }

  takeOver(workerId: string) {
    return this.command(workerId, "take over", () => this.api.takeOverWorker(workerId), () => {
      this.toast(`Stopped ${this.named(workerId)} and opened its session for you to continue by hand`, "success");
      void this.sync.refreshWorkers();
    });
  }

  reroute(taskId: string, expert: string) {
    return this.command(taskId, "correct routing", () => this.api.rerouteTask(taskId, expert), (ack) => {
      const { applied, message, ...task } = ack;
      this.applyTask(task);
      this.sync.markDecisionsDirty();
      // A task already started or ended is not moved: say so, in the engine's words.
      if (applied) this.toast(`Routing of ${this.namedTask(taskId)} corrected to ${expert}`, "success");
      else this.toast(`Routing of ${this.namedTask(taskId)}: ${message}`, "info");
    });
  }

  cancelTask(taskId: string) {
    const name = this.namedTask(taskId);
    return this.command(taskId, "cancel", () => this.api.cancelTask(taskId), (t) => {
      this.applyTask(t);
      this.toast(`Cancelled ${name}`, "success");
    });
  }

  /** Confirms a task awaiting confirmation, with the routing's own choice. */
  confirmTask(taskId: string) {
    const name = this.namedTask(taskId);
    return this.command(taskId, "confirm", () => this.api.confirmTask(taskId, null), (ack) => {
      const { applied: _applied, message, ...task } = ack;
      this.applyTask(task);
      this.toast(`Confirmed ${name}: ${message}`, "success");
    });
  }

  async togglePause(): Promise<void> {
    const want = !(this.s.status?.paused ?? false);
    this.s.pausing = true;
    try {
      const r = await this.api.setPaused(want);
      if (this.s.status) this.s.status = { ...this.s.status, paused: r.paused };
      this.sync.touch();
      if (r.changed === false) this.toast(r.paused ? "Spawning was already paused: nothing changed" : "Spawning was not paused: nothing changed", "info");
      else this.toast(r.paused ? "Spawning paused: running workers go on, no new ones start" : "Spawning resumed", "info");
      this.sync.scheduleStatus();
    } catch (e) {
      this.toast(describeError(want ? "pause" : "resume", e), "error");
    } finally {
      this.s.pausing = false;
    }
  }

  async submit(request: SubmitRequest): Promise<{ ack: SubmitAck } | { error: ApiError }> {
    try {
      const ack = await this.api.submitTask(request);
      this.sync.touch();
      const words = firstWords(request.description, 40);
      const named = words ? `“${words}” (${shortId(ack.task_id)})` : ack.task_id;
      const kept = ack.not_applied?.length ? `; its ${ack.not_applied.join(" and ")} not applied (the task goes on as first submitted)` : "";
      this.toast(ack.deduplicated ? `Already known: ${named}, ${ack.status.replace(/_/g, " ")}${kept}` : `Submitted ${named}`, "success");
      this.sync.scheduleTasks();
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
      this.sync.touch();
      this.toast("Settings saved", "success");
      void this.sync.loadDoctor();
      // The status says whether the (new) agent command can run.
      void this.sync.refreshStatus();
      return { config: saved };
    } catch (e) {
      return { error: toApiError(e) };
    }
  }
}
