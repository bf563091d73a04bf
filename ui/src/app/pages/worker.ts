// The page of one worker: its row, facts, what it is doing, the transcript
// grouped by attempt and its health timeline.

import { workerTimeline, type FeedItem } from "../../logic/feed";
import { formatDateTime, formatTokens } from "../../logic/format";
import { RowCache } from "../../logic/rows";
import { compactTranscript, emptyTranscript, matchKeys, matchLabel, type CompactLine } from "../../logic/transcript";
import { activityLabel, costLabel, waitingLabel, workerRow, type WorkerRow } from "../../logic/workers";
import type { Task, Worker } from "../../types";
import type { Kit } from "./kit";

/** Transcript lines drawn at first (the newest), and added per "show earlier". */
const TRANSCRIPT_PAGE = 500;

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
          // Restarts after a crash or a hang; replies, restarts and nudges on request are not among them.
          { label: "Attempt", value: `${w.attempt} (${w.restarts} automatic restart${w.restarts === 1 ? "" : "s"})` },
          { label: "Process", value: w.process ?? (w.pid == null ? "—" : `pid ${w.pid}`) },
          { label: "Session", value: w.session_id ?? "—" },
          { label: "Workdir", value: w.workdir },
          { label: "Created", value: formatDateTime(w.created_at) },
          { label: "Started", value: formatDateTime(w.started_at) },
          { label: "Tokens", value: `${formatTokens(w.tokens.input)} / ${formatTokens(w.tokens.output)}` },
          { label: "Cost", value: costLabel(w) },
          { label: "Reason", value: w.reason ?? "—" },
          { label: "Priority", value: t?.priority ?? "—" },
        ], (f) => f.label, (f) => [f], (f) => f);
      },
      onDetail,
    );
    const doing = fx.derive("", () => {
      const w = raw(current.value);
      return w ? waitingLabel(w, s.nowMs) || activityLabel(w.activity, s.nowMs) : "";
    }, onDetail);
    // Compact lines (a tool call folds in its result), searched by `query`.
    // The newest lines are drawn; earlier ones on request, 500 at a time.
    const search = Alpine.reactive({ query: "", limit: TRANSCRIPT_PAGE, total: 0 });
    const lineCache = new RowCache<CompactLine & { attemptStart: boolean }>(k.patchRow);
    const lines = fx.derive<(CompactLine & { attemptStart: boolean })[]>(
      [],
      () => {
        if (s.transcriptFor !== s.selectedWorkerId) return [];
        const all = compactTranscript(raw(s.transcript), search.query);
        search.total = all.length;
        const from = Math.max(0, all.length - search.limit);
        const compact = all.slice(from);
        const marked = compact.map((l, i) => ({ ...l, attemptStart: i === 0 || compact[i - 1].attempt !== l.attempt }));
        return lineCache.list(marked, (l) => l.key, (l) => [l], (l) => l);
      },
      onDetail,
    );
    const timelineCache = new RowCache<FeedItem>(k.patchRow);
    const timeline = fx.derive<FeedItem[]>(
      [],
      () => {
        const items = s.selectedWorkerId ? workerTimeline(raw(s.activity), s.selectedWorkerId, raw(current.value) ?? undefined, raw(s.alerts)) : [];
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
      search,
      expanded: {} as Record<string, boolean>,
      matchAt: -1,
      get lines() {
        return lines.value;
      },
      get matchCount() {
        return search.query.trim() ? matchKeys(lines.value).length : 0;
      },
      get matchLabel() {
        return matchLabel(search.query, this.matchCount, this.matchAt);
      },
      onSearch() {
        this.matchAt = -1;
        // Every match is drawn while searching.
        if (search.query.trim()) search.limit = Math.max(search.limit, search.total);
        this.stickToBottom = !search.query.trim();
      },
      get hiddenLines() {
        return Math.max(0, search.total - lines.value.length);
      },
      showEarlier() {
        this.stickToBottom = false;
        search.limit += TRANSCRIPT_PAGE;
      },
      nextMatch() {
        const keys = matchKeys(lines.value);
        if (!keys.length) return;
        this.matchAt = (this.matchAt + 1) % keys.length;
        this.expanded[keys[this.matchAt]] = true;
        this.stickToBottom = false;
        const key = keys[this.matchAt];
        void Alpine.nextTick(() => document.querySelector(`[data-line-key="${CSS.escape(key)}"]`)?.scrollIntoView({ block: "center" }));
      },
      isOpen(key: string) {
        return !!this.expanded[key];
      },
      toggleLine(key: string) {
        this.expanded[key] = !this.expanded[key];
      },
      lineClass(l: CompactLine) {
        return l.match ? "ring-2 ring-amber-500" : "";
      },
      get transcriptCount() {
        return s.transcriptFor === s.selectedWorkerId ? s.transcript.length : 0;
      },
      get transcriptLoading() {
        return s.transcriptLoading;
      },
      get emptyText() {
        // A transcript that could not be read says nothing of its output
        // (the error is shown instead).
        const read = s.transcriptFor === s.selectedWorkerId && !s.transcriptError;
        return emptyTranscript(current.value, s.transcriptLoading, read);
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
