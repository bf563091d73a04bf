// Names of the events and commands shared with the Rust side
// (src-tauri/src/events.rs and commands.rs). One place, both directions.

/** Engine events, forwarded as they happen. Payload: EngineEvent. */
export const ENGINE_EVENT = "cortex://engine";
/** The tray or a notification asks the window to show a worker. Payload: worker id. */
export const FOCUS_WORKER_EVENT = "cortex://focus-worker";
/** The home opened after the app started without it (its settings files were fixed). No payload. */
export const ENGINE_READY_EVENT = "cortex://engine-ready";
/** The home is still not open, for another reason. Payload: the message. */
export const ENGINE_UNAVAILABLE_EVENT = "cortex://engine-unavailable";
/** Engine events were dropped before they reached the page (it fell behind). Payload: how many. */
export const ENGINE_MISSED_EVENT = "cortex://engine-missed";

export const COMMANDS = {
  submit: "submit_task",
  routePreview: "route_preview",
  status: "get_status",
  tasks: "list_tasks",
  workers: "list_workers",
  transcript: "get_transcript",
  kill: "kill_worker",
  restart: "restart_worker",
  extend: "extend_worker",
  nudge: "nudge_worker",
  reroute: "reroute_task",
  cancel: "cancel_task",
  setPaused: "set_paused",
  settings: "get_settings",
  saveSettings: "save_settings",
  decisions: "recent_decisions",
  activity: "recent_activity",
  alerts: "recent_alerts",
  doctor: "doctor",
  openFolder: "open_worker_folder",
  openInEditor: "open_in_editor",
  takeOver: "take_over_worker",
  taskDetail: "task_detail",
  taskDiff: "task_diff",
  mergeTask: "merge_task",
  reply: "reply_worker",
  usage: "usage_by_day",
  experts: "list_experts",
  checkExpert: "check_expert",
  saveExpert: "save_expert",
  plans: "list_plans",
  confirmPlan: "confirm_plan",
  editPlan: "edit_plan",
  confirm: "confirm_task",
} as const;
