import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { CortexApi } from "../api";
import type { ExpertProfile } from "../logic/experts";
import type { Alert, EngineEvent, Status } from "../types";
import { alert, decision, iso, task, worker } from "../logic/__tests__/fixtures";
import { clockStep, Controller } from "./controller";
import { initialState, type AppState } from "./state";

const status = (over: Partial<Status> = {}): Status => ({
  tasks: { running: 1 },
  workers: { running: 1 },
  health: { healthy: 1 },
  paused: false,
  success_rate: 0.5,
  cost_today_usd: 0,
  tokens_today: 0,
  now: iso(0),
  ...over,
});

function fakeApi() {
  let engine: (ev: EngineEvent) => void = () => {};
  let focus: (id: string) => void = () => {};
  let ready: () => void = () => {};
  let unavailable: (message: string) => void = () => {};
  let missed: (count: number) => void = () => {};
  const api = {
    submitTask: vi.fn(async () => ({ task_id: "t-9", deduplicated: false, status: "queued" as const })),
    routePreview: vi.fn(async (text: string) => decision({ explanation: text })),
    getStatus: vi.fn(async () => status()),
    listTasks: vi.fn(async () => [task({ id: "t-1" })]),
    listWorkers: vi.fn(async () => [worker({ id: "w-1" })]),
    getTranscript: vi.fn(async () => [{ attempt: 1, kind: "assistant" as const, text: "hi" }]),
    killWorker: vi.fn(async (id: string) => worker({ id, state: "cancelled", health: "cancelled" })),
    restartWorker: vi.fn(async (id: string) => worker({ id, attempt: 2 })),
    extendWorker: vi.fn(async (id: string) => worker({ id, time_limit_secs: 4500 })),
    nudgeWorker: vi.fn(async (id: string) => worker({ id })),
    rerouteTask: vi.fn(async (id: string) => ({ ...task({ id, updated_at: iso(99) }), applied: true, message: `${id} now goes to security` })),
    cancelTask: vi.fn(async (id: string) => task({ id, status: "cancelled", updated_at: iso(99) })),
    confirmTask: vi.fn(async (id: string) => ({ ...task({ id, status: "routed", updated_at: iso(99) }), message: `${id} confirmed`, applied: true })),
    setPaused: vi.fn(async (paused: boolean): Promise<{ paused: boolean; changed?: boolean }> => ({ paused })),
    getSettings: vi.fn(async () => ({ config: { pm: { stalled_after_secs: 600 } }, experts: ["security", "cicd"], notifications: {} })),
    saveSettings: vi.fn(async (config: Record<string, unknown>) => config),
    recentDecisions: vi.fn(async () => []),
    recentActivity: vi.fn(async () => []),
    recentAlerts: vi.fn(async (): Promise<Alert[]> => []),
    doctor: vi.fn(async () => ({ agent_command: ["claude"], agent_resolved: null, agent_version: null, home: "/h", notifications: "off" })),
    openWorkerFolder: vi.fn(async () => null),
    openInEditor: vi.fn(async () => null),
    takeOverWorker: vi.fn(async () => null),
    taskDetail: vi.fn(async () => Promise.reject({ code: "unknown_task", message: "no task" })),
    taskDiff: vi.fn(async () => Promise.reject({ code: "unknown_task", message: "no task" })),
    mergeTask: vi.fn(async () => Promise.reject({ code: "unknown_task", message: "no task" })),
    replyWorker: vi.fn(async () => Promise.reject({ code: "unknown_worker", message: "no worker" })),
    usageByDay: vi.fn(async () => ({ since: "2025-05-03", until: "2025-06-01", days: 30, utc_offset_minutes: 0, rows: [] })),
    listExperts: vi.fn(async () => []),
    checkExpert: vi.fn(async (p: ExpertProfile) => p),
    saveExpert: vi.fn(async (p: ExpertProfile) => p),
    onEngineEvent: vi.fn(async (h: (ev: EngineEvent) => void) => {
      engine = h;
      return () => {};
    }),
    onFocusWorker: vi.fn(async (h: (id: string) => void) => {
      focus = h;
      return () => {};
    }),
    onEngineReady: vi.fn(async (h: () => void) => {
      ready = h;
      return () => {};
    }),
    onEngineUnavailable: vi.fn(async (h: (message: string) => void) => {
      unavailable = h;
      return () => {};
    }),
    onEngineMissed: vi.fn(async (h: (count: number) => void) => {
      missed = h;
      return () => {};
    }),
  } satisfies CortexApi;
  return {
    api,
    emit: (ev: EngineEvent) => engine(ev),
    focus: (id: string) => focus(id),
    ready: () => ready(),
    unavailable: (m: string) => unavailable(m),
    missed: (n: number) => missed(n),
  };
}

describe("controller, when the app could not open its home", () => {
  afterEach(() => vi.useRealTimers());

  it("shows why as the whole page, with no toasts or empty counts, and loads again once the home opens", async () => {
    vi.useFakeTimers();
    const s = initialState(Date.parse(iso(0)));
    const f = fakeApi();
    const why = "Cortex could not open its home: config.json: key `agent.bogus`: unknown field. Nothing is supervised until the file is fixed.";
    for (const call of [f.api.getStatus, f.api.listTasks, f.api.listWorkers, f.api.getSettings]) {
      call.mockImplementation(async () => Promise.reject({ code: "engine_unavailable", message: why }));
    }
    const reload = vi.fn();
    const c = new Controller(f.api, s, { reload });
    await c.start();
    expect(s.mode).toBe("unavailable");
    expect(s.unavailable).toBe(why);
    expect(s.toasts).toEqual([]);
    expect(s.loadError).toBe("");
    expect(f.api.recentActivity).not.toHaveBeenCalled();
    expect(reload).not.toHaveBeenCalled();
    // Another problem now (one key fixed, another broken): the page says it.
    f.unavailable("Cortex could not open its home: experts/cicd.json: key `boosterz`: unknown field.");
    expect(s.unavailable).toContain("experts/cicd.json");
    f.ready();
    expect(reload).toHaveBeenCalledOnce();
    c.stop();
  });
});

describe("controller", () => {
  let s: AppState;
  let f: ReturnType<typeof fakeApi>;
  let c: Controller;
  let now: number;

  beforeEach(async () => {
    vi.useFakeTimers();
    now = Date.parse(iso(0));
    s = initialState(now);
    f = fakeApi();
    c = new Controller(f.api, s, { now: () => now });
    await c.start();
  });
  afterEach(() => {
    c.stop();
    vi.useRealTimers();
  });

  it("loads everything after subscribing, then is ready and fresh", () => {
    expect(f.api.onEngineEvent).toHaveBeenCalledBefore(f.api.getStatus);
    expect(s.mode).toBe("ready");
    expect(s.tasks.map((t) => t.id)).toEqual(["t-1"]);
    expect(s.workers.map((w) => w.id)).toEqual(["w-1"]);
    expect(s.experts).toEqual(["cicd", "security"]);
    expect(s.lastUpdateMs).toBe(now);
    expect(c.charts.series.active.map((p) => p.v)).toEqual([1]);
    expect(c.charts.series.success.map((p) => p.v)).toEqual([50]);
  });

  it("moves relative times every second while news is fresh, then less often", async () => {
    const start = now;
    now += 1000;
    c.tick();
    expect(s.nowMs).toBe(start + 1000);
    now = start + 70_000; // the newest news is over a minute old
    c.tick();
    expect(s.nowMs).toBe(start + 70_000);
    now += 1000;
    c.tick();
    expect(s.nowMs).toBe(start + 70_000); // "1m ago" cannot have changed
    now += 9000;
    c.tick();
    expect(s.nowMs).toBe(start + 80_000);
    f.emit({ type: "alert", alert: alert({ severity: "warning" }) });
    await vi.advanceTimersByTimeAsync(0);
    now += 1000;
    c.tick();
    expect(s.nowMs).toBe(now); // fresh news: back to every second
    expect(clockStep(0)).toBe(1000);
    expect(clockStep(59_999)).toBe(1000);
    expect(clockStep(60_000)).toBe(10_000);
    expect(clockStep(3_600_000)).toBe(60_000);
  });

  it("applies events and re-fetches the status once for a burst", async () => {
    f.api.getStatus.mockClear();
    now += 5_000;
    f.emit({ type: "worker_updated", worker: worker({ id: "w-2", created_at: iso(10) }) });
    f.emit({ type: "task_submitted", task: task({ id: "t-2", created_at: iso(10), updated_at: iso(10) }) });
    f.emit({ type: "alert", alert: alert({ severity: "critical" }) });
    expect(c.sync.pendingEvents()).toBe(3); // queued: applied together once the current task ends
    expect(s.workers.map((w) => w.id)).toEqual(["w-1"]);
    await vi.advanceTimersByTimeAsync(0);
    expect(c.sync.pendingEvents()).toBe(0);
    expect(s.workers.map((w) => w.id)).toEqual(["w-2", "w-1"]);
    expect(s.tasks[0].id).toBe("t-2");
    expect(s.alerts).toHaveLength(1);
    expect(s.lastUpdateMs).toBe(now);
    expect(f.api.getStatus).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(500);
    expect(f.api.getStatus).toHaveBeenCalledTimes(1);
  });

  it("starts its banner from the alerts sent before the window opened, without toasting them again", async () => {
    const f2 = fakeApi();
    const earlier = alert({ severity: "warning", at: iso(-30) });
    f2.api.recentAlerts.mockResolvedValueOnce([earlier]);
    const s2 = initialState(now);
    const c2 = new Controller(f2.api, s2, { now: () => now });
    await c2.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(s2.alerts).toHaveLength(1);
    expect(s2.toasts).toEqual([]);
    // The same alert as an event changes nothing.
    f2.emit({ type: "alert", alert: earlier });
    await vi.advanceTimersByTimeAsync(400);
    expect(s2.alerts).toHaveLength(1);
    c2.stop();
  });

  it("reads everything events keep up to date again when events were dropped on the way", async () => {
    // The worker ended and an alert was sent while the page fell behind:
    // neither event arrived, so only reading again can show them.
    f.api.listWorkers.mockResolvedValueOnce([worker({ id: "w-1", state: "completed", health: "completed", last_activity_at: iso(90) })]);
    const missedAlert = alert({ severity: "critical", at: iso(20) });
    f.api.recentAlerts.mockResolvedValueOnce([missedAlert]);
    f.api.getStatus.mockClear();
    f.api.listTasks.mockClear();
    expect(s.workers[0].state).toBe("running");
    f.missed(12);
    await vi.advanceTimersByTimeAsync(0);
    expect(s.workers[0].state).toBe("completed");
    expect(s.alerts.map((a) => a.at)).toEqual([iso(20)]);
    expect(f.api.getStatus).toHaveBeenCalledTimes(1);
    expect(f.api.listTasks).toHaveBeenCalledTimes(1);
    expect(c.sync.activityDirty).toBe(true);
  });

  it("reads the status again when the local day changes, so today's cost is today's", async () => {
    await vi.advanceTimersByTimeAsync(2_000);
    f.api.getStatus.mockClear();
    // Nothing happens for a while: no new read.
    now += 60_000;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(f.api.getStatus).not.toHaveBeenCalled();
    // Past the next local midnight, with no event at all.
    const midnight = new Date(now);
    midnight.setHours(24, 0, 30, 0);
    now = midnight.getTime();
    await vi.advanceTimersByTimeAsync(2_000);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(f.api.getStatus).toHaveBeenCalledTimes(1);
  });

  it("re-fetches the open worker's transcript when that worker changes", async () => {
    c.openWorker("w-1");
    await vi.advanceTimersByTimeAsync(0);
    expect(s.view).toBe("worker");
    expect(s.transcript).toHaveLength(1);
    f.api.getTranscript.mockClear();
    f.emit({ type: "worker_updated", worker: worker({ id: "w-9", created_at: iso(5) }) });
    await vi.advanceTimersByTimeAsync(400);
    expect(f.api.getTranscript).not.toHaveBeenCalled();
    f.emit({ type: "worker_updated", worker: worker({ id: "w-1", last_activity_at: iso(120) }) });
    await vi.advanceTimersByTimeAsync(400);
    expect(f.api.getTranscript).toHaveBeenCalledWith("w-1");
  });

  it("follows the activity log live: a line the engine wrote is fetched with no Reload", async () => {
    c.navigate("activity");
    await vi.advanceTimersByTimeAsync(1000);
    f.api.recentActivity.mockClear();
    // A PM nudge changes no worker; the engine says it wrote the line.
    f.emit({
      type: "activity_logged",
      line: { at: iso(70), event: "nudge", worker_id: "w-1", task_id: "t-1", attempt: 1, message: "nudged a stalled worker" },
    });
    await vi.advanceTimersByTimeAsync(1000);
    expect(f.api.recentActivity).toHaveBeenCalledTimes(1);
    // Output alone writes no line: nothing is fetched.
    f.emit({ type: "worker_updated", worker: worker({ id: "w-1", last_activity_at: iso(75) }) });
    await vi.advanceTimersByTimeAsync(1000);
    expect(f.api.recentActivity).toHaveBeenCalledTimes(1);
  });

  it("reads the settings again when the owner says it read edited files", async () => {
    await vi.advanceTimersByTimeAsync(1000);
    f.api.getSettings.mockClear();
    f.emit({ type: "activity_logged", line: { at: iso(70), event: "settings_refused", worker_id: null, task_id: null, attempt: null, message: "not valid" } });
    await vi.advanceTimersByTimeAsync(1000);
    expect(f.api.getSettings).not.toHaveBeenCalled();
    f.emit({ type: "activity_logged", line: { at: iso(71), event: "settings_applied", worker_id: null, task_id: null, attempt: null, message: "read again" } });
    await vi.advanceTimersByTimeAsync(1000);
    expect(f.api.getSettings).toHaveBeenCalledTimes(1);
  });

  it("opens the worker the tray asks for", async () => {
    f.focus("w-7");
    expect(s.view).toBe("worker");
    expect(s.selectedWorkerId).toBe("w-7");
    expect(f.api.listWorkers).toHaveBeenCalledTimes(2); // unknown worker: fetched
  });

  it("applies a command's answer and reports failures as toasts", async () => {
    await c.actions.kill("w-1");
    expect(f.api.killWorker).toHaveBeenCalledWith("w-1");
    expect(s.workers[0].state).toBe("cancelled");
    expect(s.busy).toEqual([]);
    f.api.restartWorker.mockRejectedValueOnce({ code: "unknown_worker", message: "no such worker" });
    await c.actions.restart("w-1");
    expect(s.toasts.at(-1)).toMatchObject({ tone: "error", text: "restart: no such worker (unknown_worker)" });
  });

  it("says stopping, not killed, while the process is still going, and names the task", async () => {
    s.tasks = [task({ id: "t-01aaaaaaaaaaaaaaaaaaaaaaaa", description: "Implement the login endpoint" })];
    f.api.killWorker.mockResolvedValueOnce(worker({ id: "w-1", state: "stopping", health: "healthy" }));
    await c.actions.kill("w-1");
    expect(s.workers[0].state).toBe("stopping");
    expect(s.toasts.at(-1)?.text).toBe("Stopping “Implement the login endpoint” · development (w-1)…");
    await c.actions.kill("w-1");
    expect(s.toasts.at(-1)?.text).toMatch(/^Killed “Implement the login endpoint” · development/);
  });

  it("keeps a stopping toast while the process goes, then says it was killed, never both at once", async () => {
    s.tasks = [task({ id: "t-01aaaaaaaaaaaaaaaaaaaaaaaa", description: "Implement the login endpoint" })];
    f.api.killWorker.mockResolvedValueOnce(worker({ id: "w-1", state: "stopping", health: "healthy" }));
    await c.actions.kill("w-1");
    const stopping = () => s.toasts.filter((t) => t.text.startsWith("Stopping"));
    expect(stopping()).toHaveLength(1);
    // Past a toast's usual life, still stopping: the toast stays and says so.
    await vi.advanceTimersByTimeAsync(7000);
    f.emit({ type: "worker_updated", worker: worker({ id: "w-1", state: "stopping", last_activity_at: iso(61) }) });
    await vi.advanceTimersByTimeAsync(400);
    expect(stopping()).toHaveLength(1);
    // The process is gone: the same toast now says it was killed, then closes.
    f.emit({ type: "worker_updated", worker: worker({ id: "w-1", state: "cancelled", last_activity_at: iso(62) }) });
    await vi.advanceTimersByTimeAsync(400);
    expect(stopping()).toHaveLength(0);
    expect(s.toasts.filter((t) => t.text.startsWith("Killed “Implement the login endpoint”"))).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(6000);
    expect(s.toasts).toHaveLength(0);
  });

  it("ends a stopping toast when the worker's end is read after dropped events", async () => {
    s.tasks = [task({ id: "t-01aaaaaaaaaaaaaaaaaaaaaaaa", description: "Implement the login endpoint" })];
    f.api.killWorker.mockResolvedValueOnce(worker({ id: "w-1", state: "stopping", health: "healthy" }));
    await c.actions.kill("w-1");
    expect(s.toasts.filter((t) => t.text.startsWith("Stopping"))).toHaveLength(1);
    // The end's event was among the dropped ones: only the read again says it.
    f.api.listWorkers.mockResolvedValueOnce([worker({ id: "w-1", state: "cancelled", health: "cancelled", last_activity_at: iso(62) })]);
    f.missed(3);
    await vi.advanceTimersByTimeAsync(0);
    expect(s.workers[0].state).toBe("cancelled");
    expect(s.toasts.some((t) => t.text.startsWith("Stopping"))).toBe(false);
    expect(s.toasts.at(-1)?.text).toMatch(/^Killed “Implement the login endpoint”/);
  });

  it("says a worker that finished before the stop took effect completed, not that it was killed", async () => {
    s.tasks = [task({ id: "t-01aaaaaaaaaaaaaaaaaaaaaaaa", description: "Implement the login endpoint" })];
    f.api.killWorker.mockResolvedValueOnce(worker({ id: "w-1", state: "stopping", health: "healthy" }));
    await c.actions.kill("w-1");
    f.emit({ type: "worker_updated", worker: worker({ id: "w-1", state: "completed", last_activity_at: iso(62) }) });
    await vi.advanceTimersByTimeAsync(400);
    expect(s.toasts.some((t) => t.text.startsWith("Killed"))).toBe(false);
    expect(s.toasts.at(-1)?.text).toMatch(/“Implement the login endpoint”.* completed before the stop took effect$/);
  });

  it("says killed when the worker's end arrived before the kill's answer", async () => {
    s.tasks = [task({ id: "t-01aaaaaaaaaaaaaaaaaaaaaaaa", description: "Implement the login endpoint" })];
    let answer: (w: ReturnType<typeof worker>) => void = () => {};
    f.api.killWorker.mockImplementationOnce(() => new Promise((r) => (answer = r)));
    const kill = c.actions.kill("w-1");
    // The end comes first, as an event; the answer (stopping) after it.
    f.emit({ type: "worker_updated", worker: worker({ id: "w-1", state: "cancelled", last_activity_at: iso(62) }) });
    await vi.advanceTimersByTimeAsync(400);
    answer(worker({ id: "w-1", state: "stopping", health: "healthy" }));
    await kill;
    expect(s.workers[0].state).toBe("cancelled");
    expect(s.toasts.some((t) => t.text.startsWith("Stopping"))).toBe(false);
    expect(s.toasts.at(-1)?.text).toMatch(/^Killed “Implement the login endpoint”/);
  });

  it("opens a worker's folder or a changed file in the editor, and says why it could not", async () => {
    await c.actions.openInEditor("w-1");
    expect(f.api.openInEditor).toHaveBeenLastCalledWith("w-1", null);
    await c.actions.openInEditor("w-1", "src/login.rs");
    expect(f.api.openInEditor).toHaveBeenLastCalledWith("w-1", "src/login.rs");
    f.api.openInEditor.mockRejectedValueOnce({
      code: "no_editor",
      message: "no editor found on PATH (looked for code, cursor, zed, subl, codium): set editor.command in config.json",
      key: "editor.command",
    });
    await c.actions.openInEditor("w-1");
    expect(s.toasts.at(-1)).toMatchObject({ tone: "error" });
    expect(s.toasts.at(-1)?.text).toContain("set editor.command in config.json");
    expect(s.busy).toEqual([]);
  });

  it("names a submitted task by its first words, the id second", async () => {
    await c.actions.submit({ description: "Implement the login endpoint with rate limiting and tests", priority: "medium" });
    expect(s.toasts.at(-1)?.text).toMatch(/^Submitted “Implement the login endpoint with rate…” \(t-/);
  });

  it("confirms a task awaiting confirmation with the routing's choice", async () => {
    s.tasks = [task({ id: "t-5", status: "awaiting_confirmation", description: "Rotate the keys" })];
    await c.actions.confirmTask("t-5");
    expect(f.api.confirmTask).toHaveBeenCalledWith("t-5", null);
    expect(s.tasks[0].status).toBe("routed");
    expect(s.toasts.at(-1)?.text).toMatch(/^Confirmed “Rotate the keys”/);
  });

  it("says a correction of a task already started was kept but did not move it", async () => {
    s.tasks = [task({ id: "t-7", status: "running", description: "Patch the login" })];
    f.api.rerouteTask.mockResolvedValueOnce({
      ...task({ id: "t-7", status: "running", description: "Patch the login", updated_at: iso(99) }),
      applied: false,
      message: "t-7 already started with development: it was not moved; the correction was recorded for the learned layer",
    });
    await c.actions.reroute("t-7", "security");
    expect(s.toasts.at(-1)).toMatchObject({ tone: "info" });
    expect(s.toasts.at(-1)?.text).toContain("it was not moved");
    expect(s.toasts.at(-1)?.text).not.toContain("corrected to");
    // The task is stored as a task: the answer's own fields are not kept on it.
    expect(s.tasks[0]).not.toHaveProperty("applied");
    expect(s.tasks[0].updated_at).toBe(iso(99));
    await c.actions.reroute("t-7", "security");
    expect(s.toasts.at(-1)).toMatchObject({ tone: "success" });
    expect(s.toasts.at(-1)?.text).toContain("corrected to security");
  });

  it("toggles pause from the engine's answer", async () => {
    await c.actions.togglePause();
    expect(f.api.setPaused).toHaveBeenCalledWith(true);
    expect(s.status?.paused).toBe(true);
    expect(s.toasts.at(-1)?.text).toMatch(/^Spawning paused/);
    // Paused meanwhile elsewhere (the tray, the CLI): said, not claimed.
    s.status = { ...s.status!, paused: false };
    f.api.setPaused.mockResolvedValueOnce({ paused: true, changed: false });
    await c.actions.togglePause();
    expect(s.toasts.at(-1)?.text).toBe("Spawning was already paused: nothing changed");
  });

  it("drops a routing preview that a newer draft overtook", async () => {
    let release: () => void = () => {};
    f.api.routePreview.mockImplementationOnce(
      (text: string) => new Promise((r) => (release = () => r(decision({ explanation: text })))),
    );
    const slow = c.actions.preview("first draft", null);
    const fast = await c.actions.preview("second draft", "security-audit");
    release();
    expect(await slow).toBeUndefined();
    expect(fast?.decision?.explanation).toBe("second draft");
    expect(f.api.routePreview).toHaveBeenLastCalledWith("second draft", "security-audit");
    expect(await c.actions.preview("   ", null)).toEqual({ decision: null });
  });

  it("returns a refused save with its key, and keeps the saved config", async () => {
    f.api.saveSettings.mockRejectedValueOnce({ code: "bad_config", file: "config.json", key: "pm.stalled_after_secs", message: "too small" });
    const bad = await c.actions.saveSettings({ pm: { stalled_after_secs: 1 } });
    expect(bad).toEqual({ error: { code: "bad_config", file: "config.json", key: "pm.stalled_after_secs", message: "too small" } });
    const good = await c.actions.saveSettings({ pm: { stalled_after_secs: 900 } });
    expect(good).toEqual({ config: { pm: { stalled_after_secs: 900 } } });
    expect(s.settings?.config).toEqual({ pm: { stalled_after_secs: 900 } });
  });

  it("remembers dismissed alerts in storage", () => {
    const store = new Map<string, string>();
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
    const s2 = initialState(now);
    const c2 = new Controller(f.api, s2, { storage });
    c2.notices.dismiss("k1");
    const s3 = initialState(now);
    new Controller(f.api, s3, { storage });
    expect(s3.dismissed).toEqual(["k1"]);
  });
  describe("under a stream of events", () => {
    /** Counts assignments to the state's fields (one per re-render trigger). */
    function countWrites(state: AppState) {
      const writes = new Map<string, number>();
      const proxy = new Proxy(state, {
        set(target, key, value) {
          writes.set(String(key), (writes.get(String(key)) ?? 0) + 1);
          return Reflect.set(target, key, value);
        },
      });
      return { proxy, writes: (k: keyof AppState) => writes.get(k) ?? 0 };
    }

    /** 25 events a second for `secs` seconds, each worker printing a line a second. */
    async function stream(emit: (ev: EngineEvent) => void, secs: number, workers = 50) {
      for (let i = 0; i < secs * 25; i++) {
        now += 40;
        const n = i % workers;
        emit({
          type: "worker_updated",
          worker: worker({ id: `w-${100 + n}`, created_at: iso(n), last_activity_at: iso(100 + i), health: "healthy" }),
        });
        await vi.advanceTimersByTimeAsync(40);
      }
    }

    let c2: Controller;
    afterEach(() => c2?.stop());

    it("replaces the worker list at most once per 300 ms batch, and loses no event", async () => {
      const counted = countWrites(initialState(now));
      c2 = new Controller(f.api, counted.proxy, { now: () => now });
      await c2.start();
      const before = counted.writes("workers");
      await stream(f.emit, 4);
      await vi.advanceTimersByTimeAsync(300);
      // 100 events in 4 s: one batch per 300 ms window, not one state change per event.
      const batches = counted.writes("workers") - before;
      expect(batches).toBeGreaterThanOrEqual(12);
      expect(batches).toBeLessThanOrEqual(15);
      expect(counted.proxy.workers).toHaveLength(51);
      expect(counted.proxy.workers.find((w) => w.id === "w-149")?.last_activity_at).toBe(iso(199));
      expect(c2.sync.pendingEvents()).toBe(0);
    });

    it("applies a lone event at once, then waits out the 300 ms before the next batch", async () => {
      f.emit({ type: "worker_updated", worker: worker({ id: "w-2", created_at: iso(10) }) });
      await vi.advanceTimersByTimeAsync(0);
      expect(s.workers).toHaveLength(2);
      f.emit({ type: "worker_updated", worker: worker({ id: "w-3", created_at: iso(11) }) });
      await vi.advanceTimersByTimeAsync(250);
      expect(s.workers).toHaveLength(2);
      await vi.advanceTimersByTimeAsync(50);
      expect(s.workers.map((w) => w.id)).toEqual(["w-3", "w-2", "w-1"]);
    });

    it("ignores a stale event within a batch", async () => {
      f.emit({ type: "worker_updated", worker: worker({ id: "w-1", last_activity_at: iso(90), health: "late" }) });
      f.emit({ type: "worker_updated", worker: worker({ id: "w-1", last_activity_at: iso(80), health: "healthy" }) });
      await vi.advanceTimersByTimeAsync(0);
      expect(s.workers[0]).toMatchObject({ last_activity_at: iso(90), health: "late" });
    });

    it("samples the active-workers chart at most once a second", async () => {
      const drawn: number[] = [];
      c.charts.onSeries((name) => name === "active" && drawn.push(Date.now()));
      await stream(f.emit, 5);
      await vi.advanceTimersByTimeAsync(1000);
      expect(drawn.length).toBeGreaterThanOrEqual(4);
      expect(drawn.length).toBeLessThanOrEqual(6);
      for (let i = 1; i < drawn.length; i++) expect(drawn[i] - drawn[i - 1]).toBeGreaterThanOrEqual(1000);
      expect(c.charts.series.active.some((p) => p.v === 51)).toBe(true); // the workers counted from events
    });

    it("takes chart points on the clock's tick, and redraws nothing for an unchanged value", async () => {
      const drawn: number[] = [];
      c.charts.onSeries((name, points) => name === "active" && drawn.push(points.at(-1)!.v));
      // w-1 again: still one live worker, folded into the last point: no redraw.
      f.emit({ type: "worker_updated", worker: worker({ id: "w-1", last_activity_at: iso(99) }) });
      now += 1000;
      await vi.advanceTimersByTimeAsync(1000);
      expect(drawn).toEqual([]);
      // A second worker: taken on the next tick, not before.
      f.api.getStatus.mockResolvedValue(status({ workers: { running: 2 } })); // agrees with the events
      f.emit({ type: "worker_updated", worker: worker({ id: "w-2", created_at: iso(10) }) });
      await vi.advanceTimersByTimeAsync(900);
      expect(drawn).toEqual([]);
      now += 1000;
      await vi.advanceTimersByTimeAsync(100);
      expect(drawn).toEqual([2]);
    });

    it("still re-fetches the status while events never stop", async () => {
      f.api.getStatus.mockClear();
      await stream(f.emit, 5);
      // A 400 ms debounce alone would wait for a pause that never comes.
      expect(f.api.getStatus.mock.calls.length).toBeGreaterThanOrEqual(2);
      expect(f.api.getStatus.mock.calls.length).toBeLessThanOrEqual(3);
    });

    it("moves the tables' clock every 5 s and the page clock every second", async () => {
      const t0 = s.tableNowMs;
      for (let i = 0; i < 4; i++) {
        now += 1000;
        await vi.advanceTimersByTimeAsync(1000);
      }
      expect(s.nowMs).toBe(t0 + 4000);
      expect(s.tableNowMs).toBe(t0);
      now += 1000;
      await vi.advanceTimersByTimeAsync(1000);
      expect(s.tableNowMs).toBe(t0 + 5000);
    });

    it("flushes queued events before opening a worker the tray asks for", () => {
      f.emit({ type: "worker_updated", worker: worker({ id: "w-7", created_at: iso(10) }) });
      f.focus("w-7");
      expect(s.selectedWorkerId).toBe("w-7");
      expect(f.api.listWorkers).toHaveBeenCalledTimes(1); // known from the queued event: no fetch
    });
  });
});

describe("controller, the Usage page across a daylight-saving change", () => {
  const zone = process.env.TZ;
  afterEach(() => {
    vi.useRealTimers();
    if (zone === undefined) delete process.env.TZ;
    else process.env.TZ = zone;
  });

  it("asks for every day cut at its own local midnight", async () => {
    // Berlin: UTC+1 until 2026-03-29 01:00Z, UTC+2 after.
    process.env.TZ = "Europe/Berlin";
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-04-10T10:00:00Z"));
    const f = fakeApi();
    const c = new Controller(f.api, initialState(Date.now()));
    await c.review.usage(30);
    expect(f.api.usageByDay).toHaveBeenCalledTimes(1);
    const [days, offset, midnights] = f.api.usageByDay.mock.calls[0] as unknown as [
      number,
      number,
      { at_ms: number; offset_minutes: number }[] | undefined,
    ];
    expect(days).toBe(30);
    expect(offset).toBe(120);
    // One midnight a day shown and the next one, each a local midnight.
    expect(midnights).toHaveLength(31);
    for (const m of midnights ?? []) expect(new Date(m.at_ms).getHours()).toBe(0);
    // The day an instant falls on as the engine reads the request: the
    // offset in effect at the last midnight at or before it, read at that
    // midnight (a day does not end early when the clocks go back).
    const dayOf = (iso: string): string => {
      const t = Date.parse(iso);
      let last: { at_ms: number; offset_minutes: number } | undefined;
      for (const m of midnights ?? []) if (m.at_ms <= t) last = m;
      const from = last && t - last.at_ms < 25 * 3600_000 ? last.at_ms : t;
      const minutes = last?.offset_minutes ?? midnights?.[0]?.offset_minutes ?? offset;
      return new Date(from + minutes * 60_000).toISOString().slice(0, 10);
    };
    // 23:30 on 20 March in Berlin (UTC+1), and 00:30 on 21 March.
    expect(dayOf("2026-03-20T22:30:00Z")).toBe("2026-03-20");
    expect(dayOf("2026-03-20T23:30:00Z")).toBe("2026-03-21");
    // 23:30 on 5 April (UTC+2), and 00:30 on 6 April.
    expect(dayOf("2026-04-05T21:30:00Z")).toBe("2026-04-05");
    expect(dayOf("2026-04-05T22:30:00Z")).toBe("2026-04-06");
    // The change itself: 01:30 and 03:30 on 29 March are one day.
    expect(dayOf("2026-03-29T00:30:00Z")).toBe("2026-03-29");
    expect(dayOf("2026-03-29T01:30:00Z")).toBe("2026-03-29");
    expect(dayOf("2026-03-28T22:59:00Z")).toBe("2026-03-28");
    expect(dayOf("2026-03-29T21:59:00Z")).toBe("2026-03-29");
    expect(dayOf("2026-03-29T22:00:00Z")).toBe("2026-03-30");
  });
});
