// Every command a person can give: each shows busy on its target while in
// flight, applies what the engine answered, and says how it went.

import type { CortexApi } from "../api";
import { Latest } from "../logic/async";
import { describeError, toApiError } from "../logic/errors";
import { previewable } from "../logic/preview";
import { upsertTask, upsertWorker } from "../logic/store";
import type { ApiError, Decision, SubmitAck, SubmitRequest, Task, Worker } from "../types";
import type { Notices } from "./notices";
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
    this.sync.scheduleStatus();
  };

  private applyTask = (t: Task) => {
    if (t && typeof t === "object" && "id" in t) this.s.tasks = upsertTask(this.s.tasks, t).list;
    this.sync.scheduleStatus();
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
      void this.sync.refreshWorkers();
    });
  }

  reroute(taskId: string, expert: string) {
    return this.command(taskId, "correct routing", () => this.api.rerouteTask(taskId, expert), (t) => {
      this.applyTask(t);
      this.sync.markDecisionsDirty();
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
      this.sync.touch();
      this.toast(r.paused ? "Spawning paused: running workers go on, no new ones start" : "Spawning resumed", "info");
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
      this.toast(ack.deduplicated ? `Already known as ${ack.task_id} (${ack.status})` : `Submitted ${ack.task_id}`, "success");
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
      return { config: saved };
    } catch (e) {
      return { error: toApiError(e) };
    }
  }
}
