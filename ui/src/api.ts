// The one place that talks to the Rust side: every command through invoke,
// every event through listen. Names come from events.ts, shapes from types.ts.
// A rejected command is turned into an ApiError {code, message, file?, key?}.

import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import { COMMANDS, ENGINE_EVENT, ENGINE_MISSED_EVENT, ENGINE_READY_EVENT, ENGINE_UNAVAILABLE_EVENT, FOCUS_WORKER_EVENT } from "./events";
import { toApiError } from "./logic/errors";
import type {
  ActivityLine,
  Alert,
  Decision,
  DiffReply,
  Doctor,
  EngineEvent,
  LoggedDecision,
  MergeReply,
  MergeRequest,
  PlanAck,
  PlanSpec,
  PlanView,
  RerouteAck,
  Settings,
  Status,
  SubmitAck,
  SubmitRequest,
  Task,
  TaskStory,
  TranscriptEntry,
  UsageReport,
  Worker,
} from "./types";
import type { ExpertProfile } from "./logic/experts";
import type { Midnight } from "./logic/usage";

export type Unlisten = () => void;

/** Everything the UI can ask of the engine. */
export interface CortexApi {
  submitTask(request: SubmitRequest): Promise<SubmitAck>;
  routePreview(text: string, taskType: string | null): Promise<Decision>;
  getStatus(): Promise<Status>;
  listTasks(): Promise<Task[]>;
  listWorkers(): Promise<Worker[]>;
  getTranscript(workerId: string): Promise<TranscriptEntry[]>;
  killWorker(workerId: string): Promise<Worker>;
  restartWorker(workerId: string): Promise<Worker>;
  extendWorker(workerId: string, minutes: number): Promise<Worker>;
  nudgeWorker(workerId: string, text: string): Promise<Worker>;
  /** The task after the correction; `applied` false when it had already started or ended (only the correction is kept), `message` says which. */
  rerouteTask(taskId: string, expert: string): Promise<RerouteAck>;
  cancelTask(taskId: string): Promise<Task>;
  /** Confirms a task awaiting confirmation; `expert` null keeps the routing's choice. */
  confirmTask(taskId: string, expert: string | null): Promise<RerouteAck>;
  /** `changed` false: it was so already (the tray, another window, the CLI). */
  setPaused(paused: boolean): Promise<{ paused: boolean; changed?: boolean }>;
  getSettings(): Promise<Settings>;
  saveSettings(config: Record<string, unknown>): Promise<Record<string, unknown>>;
  recentDecisions(limit: number): Promise<LoggedDecision[]>;
  recentActivity(limit: number): Promise<ActivityLine[]>;
  /** The latest alerts the engine sent, oldest first. */
  recentAlerts(): Promise<Alert[]>;
  doctor(): Promise<Doctor>;
  openWorkerFolder(workerId: string): Promise<null>;
  /** Opens the worker's folder, or `file` (a path inside it), in the code editor. */
  openInEditor(workerId: string, file: string | null): Promise<null>;
  takeOverWorker(workerId: string): Promise<null>;
  taskDetail(taskId: string): Promise<TaskStory>;
  taskDiff(taskId: string, expert: string | null): Promise<DiffReply>;
  mergeTask(request: MergeRequest): Promise<MergeReply>;
  replyWorker(workerId: string, text: string): Promise<Worker>;
  usageByDay(days: number, utcOffsetMinutes: number, midnights: Midnight[]): Promise<UsageReport>;
  listExperts(): Promise<ExpertProfile[]>;
  checkExpert(profile: ExpertProfile): Promise<ExpertProfile>;
  saveExpert(profile: ExpertProfile): Promise<ExpertProfile>;
  onEngineEvent(handler: (ev: EngineEvent) => void): Promise<Unlisten>;
  onFocusWorker(handler: (workerId: string) => void): Promise<Unlisten>;
  /** The app opened its home after starting without it. */
  onEngineReady(handler: () => void): Promise<Unlisten>;
  /** The home is still not open, for the reason given. */
  onEngineUnavailable(handler: (message: string) => void): Promise<Unlisten>;
  /** Engine events were dropped on their way to the page: what it shows may be behind. */
  onEngineMissed(handler: (count: number) => void): Promise<Unlisten>;
  /** Plans (the Plans page); absent where there are none to show (the demo). */
  listPlans?(): Promise<PlanView[]>;
  confirmPlan?(planId: string): Promise<PlanView>;
  editPlan?(planId: string, plan: PlanSpec): Promise<PlanAck>;
}

declare global {
  interface Window {
    __TAURI_INTERNALS__?: unknown;
  }
}

/** True inside the Tauri webview (the IPC bridge is there). */
export function insideTauri(): boolean {
  return typeof window !== "undefined" && window.__TAURI_INTERNALS__ != null;
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (e) {
    throw toApiError(e);
  }
}

export function createTauriApi(): CortexApi {
  return {
    submitTask: (request) => call(COMMANDS.submit, { request }),
    routePreview: (text, taskType) => call(COMMANDS.routePreview, { text, taskType }),
    getStatus: () => call(COMMANDS.status, {}),
    listTasks: () => call(COMMANDS.tasks, {}),
    listWorkers: () => call(COMMANDS.workers, {}),
    getTranscript: (workerId) => call(COMMANDS.transcript, { workerId }),
    killWorker: (workerId) => call(COMMANDS.kill, { workerId }),
    restartWorker: (workerId) => call(COMMANDS.restart, { workerId }),
    extendWorker: (workerId, minutes) => call(COMMANDS.extend, { workerId, minutes }),
    nudgeWorker: (workerId, text) => call(COMMANDS.nudge, { workerId, text }),
    rerouteTask: (taskId, expert) => call(COMMANDS.reroute, { taskId, expert }),
    cancelTask: (taskId) => call(COMMANDS.cancel, { taskId }),
    confirmTask: (taskId, expert) => call(COMMANDS.confirm, { taskId, expert }),
    setPaused: (paused) => call(COMMANDS.setPaused, { paused }),
    getSettings: () => call(COMMANDS.settings, {}),
    saveSettings: (config) => call(COMMANDS.saveSettings, { config }),
    recentDecisions: (limit) => call(COMMANDS.decisions, { limit }),
    recentActivity: (limit) => call(COMMANDS.activity, { limit }),
    recentAlerts: () => call(COMMANDS.alerts, {}),
    doctor: () => call(COMMANDS.doctor, {}),
    openWorkerFolder: (workerId) => call(COMMANDS.openFolder, { workerId }),
    openInEditor: (workerId, file) => call(COMMANDS.openInEditor, { workerId, file }),
    takeOverWorker: (workerId) => call(COMMANDS.takeOver, { workerId }),
    taskDetail: (taskId) => call(COMMANDS.taskDetail, { taskId }),
    taskDiff: (taskId, expert) => call(COMMANDS.taskDiff, { taskId, expert }),
    mergeTask: (request) => call(COMMANDS.mergeTask, { request }),
    replyWorker: (workerId, text) => call(COMMANDS.reply, { workerId, text }),
    usageByDay: (days, utcOffsetMinutes, midnights) => call(COMMANDS.usage, { days, utcOffsetMinutes, midnights }),
    listExperts: () => call(COMMANDS.experts, {}),
    checkExpert: (profile) => call(COMMANDS.checkExpert, { profile }),
    saveExpert: (profile) => call(COMMANDS.saveExpert, { profile }),
    listPlans: () => call(COMMANDS.plans, {}),
    confirmPlan: (planId) => call(COMMANDS.confirmPlan, { planId }),
    editPlan: (planId, plan) => call(COMMANDS.editPlan, { planId, plan }),
    onEngineEvent: (handler) => listen<EngineEvent>(ENGINE_EVENT, (e) => handler(e.payload)),
    onFocusWorker: (handler) => listen<string>(FOCUS_WORKER_EVENT, (e) => handler(e.payload)),
    onEngineReady: (handler) => listen(ENGINE_READY_EVENT, () => handler()),
    onEngineUnavailable: (handler) => listen<string>(ENGINE_UNAVAILABLE_EVENT, (e) => handler(e.payload)),
    onEngineMissed: (handler) => listen<number>(ENGINE_MISSED_EVENT, (e) => handler(e.payload)),
  };
}

/**
 * Outside the Cortex app there is no engine: every call fails with
 * code "not_in_cortex". The page shows a notice instead of the views.
 */
export function createUnavailableApi(): CortexApi {
  const fail = () => Promise.reject({ code: "not_in_cortex", message: "not running inside Cortex" });
  return {
    submitTask: fail,
    routePreview: fail,
    getStatus: fail,
    listTasks: fail,
    listWorkers: fail,
    getTranscript: fail,
    killWorker: fail,
    restartWorker: fail,
    extendWorker: fail,
    nudgeWorker: fail,
    rerouteTask: fail,
    cancelTask: fail,
    confirmTask: fail,
    setPaused: fail,
    getSettings: fail,
    saveSettings: fail,
    recentDecisions: fail,
    recentActivity: fail,
    recentAlerts: fail,
    doctor: fail,
    openWorkerFolder: fail,
    openInEditor: fail,
    takeOverWorker: fail,
    taskDetail: fail,
    taskDiff: fail,
    mergeTask: fail,
    replyWorker: fail,
    usageByDay: fail,
    listExperts: fail,
    checkExpert: fail,
    saveExpert: fail,
    onEngineEvent: () => Promise.resolve(() => {}),
    onFocusWorker: () => Promise.resolve(() => {}),
    onEngineReady: () => Promise.resolve(() => {}),
    onEngineUnavailable: () => Promise.resolve(() => {}),
    onEngineMissed: () => Promise.resolve(() => {}),
  };
}
