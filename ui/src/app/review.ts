// The commands of a task's detail, the board's data, Usage and the expert
// editor: each asks the engine and hands back the answer or the error, so
// a page shows what the engine said and nothing else.

import type { CortexApi } from "../api";
import { Latest } from "../logic/async";
import { describeError, toApiError } from "../logic/errors";
import type { ExpertProfile } from "../logic/experts";
import { upsertWorker } from "../logic/store";
import { viewerMidnights, viewerUtcOffsetMinutes } from "../logic/usage";
import type { ApiError, DiffReply, MergeReply, TaskStory, UsageReport, Worker } from "../types";
import type { Notices } from "./notices";
import type { AppState } from "./state";
import type { EngineSync } from "./sync";

export type Answer<T> = { value: T } | { error: ApiError };

export class Review {
  private stories = new Latest();
  private diffs = new Latest();

  constructor(
    private readonly api: CortexApi,
    private readonly s: AppState,
    private readonly sync: EngineSync,
    private readonly notices: Notices,
  ) {}

  private async ask<T>(run: () => Promise<T>): Promise<Answer<T>> {
    try {
      return { value: await run() };
    } catch (e) {
      return { error: toApiError(e) };
    }
  }

  /** A task's whole story; undefined when a newer request for a story was made meanwhile. */
  async story(taskId: string): Promise<Answer<TaskStory> | undefined> {
    const ticket = this.stories.next();
    const a = await this.ask(() => this.api.taskDetail(taskId));
    return this.stories.isCurrent(ticket) ? a : undefined;
  }

  async diff(taskId: string, expert: string | null): Promise<Answer<DiffReply> | undefined> {
    const ticket = this.diffs.next();
    const a = await this.ask(() => this.api.taskDiff(taskId, expert));
    return this.diffs.isCurrent(ticket) ? a : undefined;
  }

  async merge(taskId: string, expert: string | null): Promise<Answer<MergeReply>> {
    this.s.busy = [...this.s.busy, taskId];
    const a = await this.ask(() => this.api.mergeTask({ task_id: taskId, expert: expert ?? undefined, squash: false }));
    this.s.busy = this.s.busy.filter((b) => b !== taskId);
    if ("value" in a) {
      const m = a.value;
      this.notices.toast(m.already_merged ? `${m.into} already had ${m.branch}` : `Merged ${m.branch} into ${m.into}`, "success");
    }
    return a;
  }

  async reply(workerId: string, text: string): Promise<Answer<Worker>> {
    this.s.busy = [...this.s.busy, workerId];
    const a = await this.ask(() => this.api.replyWorker(workerId, text));
    this.s.busy = this.s.busy.filter((b) => b !== workerId);
    if ("value" in a) {
      this.s.workers = upsertWorker(this.s.workers, a.value).list;
      this.sync.scheduleStatus();
      void this.sync.refreshTasks();
      this.notices.toast(`Replied to ${workerId}: a new attempt continues its conversation`, "success");
    } else {
      this.notices.toast(describeError("reply", a.error), "error");
    }
    return a;
  }

  usage(days = 30): Promise<Answer<UsageReport>> {
    const now = new Date();
    return this.ask(() => this.api.usageByDay(days, viewerUtcOffsetMinutes(now), viewerMidnights(now, days)));
  }

  experts(): Promise<Answer<ExpertProfile[]>> {
    return this.ask(() => this.api.listExperts());
  }

  checkExpert(p: ExpertProfile): Promise<Answer<ExpertProfile>> {
    return this.ask(() => this.api.checkExpert(p));
  }

  async saveExpert(p: ExpertProfile): Promise<Answer<ExpertProfile>> {
    const a = await this.ask(() => this.api.saveExpert(p));
    if ("value" in a) {
      this.notices.toast(`Saved experts/${a.value.name}.json`, "success");
      void this.sync.loadSettings();
    }
    return a;
  }
}
