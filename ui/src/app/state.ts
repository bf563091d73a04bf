// The shared, reactive picture the views bind to (registered as
// Alpine.store("cortex")). The controller is the only writer of engine data.

import type { ActivityLine, Alert, Doctor, LoggedDecision, Settings, Status, Task, TranscriptEntry, Worker } from "../types";

export type ViewId = "overview" | "workers" | "worker" | "tasks" | "task" | "board" | "plans" | "usage" | "routing" | "activity" | "settings";

export const NAV: { id: ViewId; label: string; icon: string }[] = [
  { id: "overview", label: "Overview", icon: "◫" },
  { id: "workers", label: "Workers", icon: "⚙" },
  { id: "tasks", label: "Tasks", icon: "☰" },
  { id: "board", label: "Board", icon: "▦" },
  { id: "plans", label: "Plans", icon: "⋔" },
  { id: "usage", label: "Usage", icon: "∑" },
  { id: "routing", label: "Routing", icon: "⇄" },
  { id: "activity", label: "Activity", icon: "≋" },
  { id: "settings", label: "Settings", icon: "✎" },
];

export interface Toast {
  id: number;
  text: string;
  tone: "info" | "error" | "success";
  /** Says what is under way for this worker; `done` replaces the text once it is over. */
  /** A stop under way: the toast says how it ended once the worker has (`stopEnded`). */
  pending?: { workerId: string; named: string };
}

export type Modal =
  | { kind: "none" }
  | { kind: "nudge"; workerId: string; text: string; error: string }
  | { kind: "reply"; workerId: string; text: string; error: string }
  | { kind: "confirm"; title: string; body: string; confirmLabel: string; action: "kill" | "cancel" | "takeover"; targetId: string }
  | { kind: "reroute"; taskId: string; taskText: string; current: string; choice: string };

export interface AppState {
  /**
   * "outside": the page is not running inside the Cortex app (no Tauri IPC);
   * "unavailable": the app could not open its home (`unavailable` says why).
   */
  mode: "loading" | "ready" | "outside" | "unavailable";
  loadError: string;
  /** Why the app could not open its home, and what happens next ("" when it did). */
  unavailable: string;
  view: ViewId;
  selectedWorkerId: string | null;
  /** The task whose detail page is open. */
  selectedTaskId: string | null;
  /** The theme shown (the choice is kept in localStorage; see logic/theme). */
  theme: "light" | "dark";
  /**
   * Local clock, advanced every second (and by an event when it is a second
   * behind); freshness and the relative times of the open worker's page use it.
   */
  nowMs: number;
  /** The same clock advanced every 5 s: the relative times in lists and tables. */
  tableNowMs: number;
  /** The last event or successful fetch (freshness). */
  lastUpdateMs: number | null;
  status: Status | null;
  tasks: Task[];
  workers: Worker[];
  alerts: Alert[];
  /** Keys of dismissed alerts (logic/store alertKey). */
  dismissed: string[];
  experts: string[];
  settings: Settings | null;
  doctor: Doctor | null;
  doctorError: string;
  activity: ActivityLine[];
  decisions: LoggedDecision[];
  transcript: TranscriptEntry[];
  transcriptFor: string | null;
  transcriptLoading: boolean;
  transcriptError: string;
  /** A command is in flight for these ids (buttons show busy). */
  busy: string[];
  pausing: boolean;
  toasts: Toast[];
  modal: Modal;
}

export function initialState(now = Date.now()): AppState {
  return {
    mode: "loading",
    loadError: "",
    unavailable: "",
    view: "overview",
    selectedWorkerId: null,
    selectedTaskId: null,
    theme: "light",
    nowMs: now,
    tableNowMs: now,
    lastUpdateMs: null,
    status: null,
    tasks: [],
    workers: [],
    alerts: [],
    dismissed: [],
    experts: [],
    settings: null,
    doctor: null,
    doctorError: "",
    activity: [],
    decisions: [],
    transcript: [],
    transcriptFor: null,
    transcriptLoading: false,
    transcriptError: "",
    busy: [],
    pausing: false,
    toasts: [],
    modal: { kind: "none" },
  };
}
