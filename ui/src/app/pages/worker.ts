// The page of one worker: its row, facts, what it is doing, the transcript
// grouped by attempt and its health timeline.

import { workerTimeline, type FeedItem } from "../../logic/feed";
import { formatDateTime, formatMoney, formatTokens } from "../../logic/format";
import { RowCache } from "../../logic/rows";
import { transcriptView, type AttemptGroup, type EntryView } from "../../logic/transcript";
import { activityLabel, workerRow, type WorkerRow } from "../../logic/workers";
import type { Task, Worker } from "../../types";
import type { Kit } from "./kit";

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

export function registerWorkerDetail(k: Kit): void {
  const { Alpine, s, c, raw } = k;
  Alpine.data("workerDetail", () => {
    const fx = k.scope();
    const onDetail = k.shown("worker");
    const current = fx.derive<Worker | null>(null, () => raw(s.workers).find((w) => w.id === s.selectedWorkerId) ?? null, onDetail);
    const task = fx.derive<Task | null>(
      null,
      () => {
        const w = raw(current.value);
        return w ? (k.taskById().get(w.task_id) ?? null) : null;
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
    const factCache = new RowCache<{ label: string; value: string }>(k.patchRow);
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
    const entryCache = new RowCache<EntryView>(k.patchRow);
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
    const timelineCache = new RowCache<FeedItem>(k.patchRow);
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
        if (s.selectedWorkerId) void c.sync.loadTranscript(s.selectedWorkerId);
        void c.sync.loadActivity();
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
}
