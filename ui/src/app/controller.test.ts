import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { CortexApi } from "../api";
import type { EngineEvent, Status } from "../types";
import { alert, decision, iso, task, worker } from "../logic/__tests__/fixtures";
import { Controller } from "./controller";
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
    rerouteTask: vi.fn(async (id: string) => task({ id, updated_at: iso(99) })),
    cancelTask: vi.fn(async (id: string) => task({ id, status: "cancelled", updated_at: iso(99) })),
    setPaused: vi.fn(async (paused: boolean) => ({ paused })),
    getSettings: vi.fn(async () => ({ config: { pm: { stalled_after_secs: 600 } }, experts: ["security", "cicd"], notifications: {} })),
    saveSettings: vi.fn(async (config: Record<string, unknown>) => config),
    recentDecisions: vi.fn(async () => []),
    recentActivity: vi.fn(async () => []),
    doctor: vi.fn(async () => ({ agent_command: ["claude"], agent_resolved: null, agent_version: null, home: "/h", notifications: "off" })),
    openWorkerFolder: vi.fn(async () => null),
    takeOverWorker: vi.fn(async () => null),
    onEngineEvent: vi.fn(async (h: (ev: EngineEvent) => void) => {
      engine = h;
      return () => {};
    }),
    onFocusWorker: vi.fn(async (h: (id: string) => void) => {
      focus = h;
      return () => {};
    }),
  } satisfies CortexApi;
  return { api, emit: (ev: EngineEvent) => engine(ev), focus: (id: string) => focus(id) };
}

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
    expect(c.series.active.map((p) => p.v)).toEqual([1]);
    expect(c.series.success.map((p) => p.v)).toEqual([50]);
  });

  it("applies events and re-fetches the status once for a burst", async () => {
    f.api.getStatus.mockClear();
    now += 5_000;
    f.emit({ type: "worker_updated", worker: worker({ id: "w-2", created_at: iso(10) }) });
    f.emit({ type: "task_submitted", task: task({ id: "t-2", created_at: iso(10), updated_at: iso(10) }) });
    f.emit({ type: "alert", alert: alert({ severity: "critical" }) });
    expect(s.workers.map((w) => w.id)).toEqual(["w-2", "w-1"]);
    expect(s.tasks[0].id).toBe("t-2");
    expect(s.alerts).toHaveLength(1);
    expect(s.lastUpdateMs).toBe(now);
    expect(f.api.getStatus).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(500);
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

  it("opens the worker the tray asks for", async () => {
    f.focus("w-7");
    expect(s.view).toBe("worker");
    expect(s.selectedWorkerId).toBe("w-7");
    expect(f.api.listWorkers).toHaveBeenCalledTimes(2); // unknown worker: fetched
  });

  it("applies a command's answer and reports failures as toasts", async () => {
    await c.kill("w-1");
    expect(f.api.killWorker).toHaveBeenCalledWith("w-1");
    expect(s.workers[0].state).toBe("cancelled");
    expect(s.busy).toEqual([]);
    f.api.restartWorker.mockRejectedValueOnce({ code: "unknown_worker", message: "no such worker" });
    await c.restart("w-1");
    expect(s.toasts.at(-1)).toMatchObject({ tone: "error", text: "restart: no such worker (unknown_worker)" });
  });

  it("toggles pause from the engine's answer", async () => {
    await c.togglePause();
    expect(f.api.setPaused).toHaveBeenCalledWith(true);
    expect(s.status?.paused).toBe(true);
  });

  it("drops a routing preview that a newer draft overtook", async () => {
    let release: () => void = () => {};
    f.api.routePreview.mockImplementationOnce(
      (text: string) => new Promise((r) => (release = () => r(decision({ explanation: text })))),
    );
    const slow = c.preview("first draft", null);
    const fast = await c.preview("second draft", "security-audit");
    release();
    expect(await slow).toBeUndefined();
    expect(fast?.decision?.explanation).toBe("second draft");
    expect(f.api.routePreview).toHaveBeenLastCalledWith("second draft", "security-audit");
    expect(await c.preview("   ", null)).toEqual({ decision: null });
  });

  it("returns a refused save with its key, and keeps the saved config", async () => {
    f.api.saveSettings.mockRejectedValueOnce({ code: "bad_config", file: "config.json", key: "pm.stalled_after_secs", message: "too small" });
    const bad = await c.saveSettings({ pm: { stalled_after_secs: 1 } });
    expect(bad).toEqual({ error: { code: "bad_config", file: "config.json", key: "pm.stalled_after_secs", message: "too small" } });
    const good = await c.saveSettings({ pm: { stalled_after_secs: 900 } });
    expect(good).toEqual({ config: { pm: { stalled_after_secs: 900 } } });
    expect(s.settings?.config).toEqual({ pm: { stalled_after_secs: 900 } });
  });

  it("remembers dismissed alerts in storage", () => {
    const store = new Map<string, string>();
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
    const s2 = initialState(now);
    const c2 = new Controller(f.api, s2, { storage });
    c2.dismiss("k1");
    const s3 = initialState(now);
    new Controller(f.api, s3, { storage });
    expect(s3.dismissed).toEqual(["k1"]);
  });
});
