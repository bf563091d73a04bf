// Data shapes exchanged with the engine. They mirror the Rust DTOs
// (crates/engine: TaskDto, WorkerDto, StatusDto, Decision, Alert); keep the
// two in step.

export type TaskStatus =
  | "queued" | "awaiting_confirmation" | "routed" | "running" | "waiting" | "needs_attention"
  | "needs_input" | "blocked" | "completed" | "failed" | "cancelled";

export type WorkerState =
  | "starting" | "running" | "waiting" | "stopping" | "completed" | "failed" | "cancelled"
  | "needs_input" | "needs_attention";

/** The process manager's word, plus `verifying` (its check runs) and
 * `exited` (its process is gone and no owner has settled it yet). */
export type Health =
  | "scheduled" | "starting" | "healthy" | "late" | "stalled" | "zombie" | "waiting" | "unreachable" | "verifying" | "exited";

export type Strategy = "single_expert" | "multi_expert_parallel" | "single_expert_low_confidence";

export interface RoutingSummary {
  primary_expert: string;
  confidence: number;
  strategy: Strategy;
  method: "type" | "keywords" | "keywords_learned" | "person";
  needs_confirmation: boolean;
  explanation: string;
}

export interface Assignment {
  expert: string;
  status: "pending" | "running" | "completed" | "failed" | "cancelled";
  worker_id?: string;
}

export interface Task {
  id: string;
  status: TaskStatus;
  priority: "critical" | "high" | "medium" | "low";
  type: string | null;
  description: string;
  created_at: string;
  updated_at: string;
  workdir?: string;
  key?: string;
  reason?: string;
  /** Its own check command, if it has one. */
  verify?: string;
  /** Its workers' cost so far, running attempts' figures included where the engine knew them. */
  cost_usd: number;
  /** Part of `cost_usd` is Cortex's estimate from the tokens. */
  cost_estimated?: boolean;
  expert?: string;
  experts?: string[];
  routing?: RoutingSummary;
  assignments?: Assignment[];
  /** The git repository its work started in; none before that or outside git. */
  project?: string;
}

export type Activity =
  | { kind: "starting" }
  | { kind: "waiting_on_model"; since: string }
  | { kind: "running_tool"; tool: string; since: string }
  | { kind: "retrying_api"; until: string; status: number | null; attempt: number }
  | { kind: "finished" }
  | { kind: "working"; since: string };

export interface Worker {
  id: string;
  task_id: string;
  expert: string;
  attempt: number;
  pid: number | null;
  /** The live attempt's process named for people: "pid 1234" or "Slurm job 1234". */
  process?: string;
  state: WorkerState;
  health: string;
  reason: string | null;
  session_id: string | null;
  cost_usd: number;
  tokens: { input: number; output: number };
  workdir: string;
  started_at: string | null;
  created_at: string;
  activity: Activity | null;
  last_activity_at: string | null;
  last_activity_source: string | null;
  last_text: string | null;
  time_limit_secs: number;
  restarts: number;
  /** Why the process manager says `health`, when it watches the worker. */
  health_reason?: string | null;
  /** True while some attempt's cost is Cortex's estimate from the tokens. */
  cost_estimated?: boolean;
  /** What it waits for while not working (derived by the engine). */
  waiting_for?: WaitingFor | null;
  /** Seconds its ended attempts ran, summed; the running one is added here. */
  ended_attempts_secs?: number;
  /** When its running attempt started; none while none runs (a check of its work, a wait, ended). */
  running_since?: string | null;
  /** True while a person's reply waits to start its next attempt (an ended worker made live again). */
  replied?: boolean;
  /** The running attempt's own figures so far (also in `tokens` and `cost_usd`). */
  live_attempt?: AttemptFigures | null;
}

/** What one attempt used so far. */
export interface AttemptFigures {
  n: number;
  tokens: { input: number; output: number };
  cost_usd: number;
  cost_estimated: boolean;
}

/** How an attempt ended (the engine's OutcomeKind). */
export type OutcomeKind =
  | "success" | "api_error" | "client_error" | "rate_limited" | "max_turns" | "budget" | "killed"
  | "timed_out" | "crashed" | "spawn_failed" | "lost" | "hung" | "needs_input";

export interface WaitingFor {
  kind: "restart" | "start" | "rate_limit" | "usage_limit" | "api_retry" | "circuit" | "capacity" | "suspended";
  until?: string | null;
  after?: OutcomeKind | null;
  /** For `capacity`: the limit it waits on, the fleet's `capacity.max_workers` (no expert) or its expert's `max_workers`. */
  limit?: PlaceLimit | null;
}

/** A limit on workers running at once (the engine's PlaceLimit). */
export interface PlaceLimit {
  expert?: string | null;
  max_workers: number;
}

export interface Status {
  tasks: Record<string, number>;
  workers: Record<string, number>;
  /** Counts of live workers by PM health. */
  health: Record<string, number>;
  paused: boolean;
  /** Experts paused by their circuit breaker, and until when. */
  paused_experts?: { expert: string; until: string }[];
  /** Why the engine's agent cannot run (every task would fail to start), when it cannot. */
  agent_problem?: string | null;
  /** Why the settings files edited on disk were not read (the ones in use are older), while they are not. */
  settings_refused?: string | null;
  success_rate: number | null;
  cost_today_usd: number;
  /** True when part of today's cost is Cortex's estimate (an attempt ended without the agent's figure). */
  cost_today_estimated?: boolean;
  tokens_today: number;
  now: string;
  /** The latest failure, when under ten minutes old. */
  recent_failure_at?: string | null;
}

export interface Decision {
  primary_expert: string;
  confidence: number;
  strategy: Strategy;
  parallel_experts: string[];
  scores: Record<string, number>;
  keyword_scores: Record<string, number>;
  learned_scores?: Record<string, number>;
  matched: Record<string, string[]>;
  method: RoutingSummary["method"];
  needs_confirmation: boolean;
  explanation: string;
}

export interface LoggedDecision extends Decision {
  task_id: string;
  at: string;
}

export type Severity = "info" | "warning" | "critical";
export type AlertKind =
  | "stalled" | "zombie" | "timeout_warning" | "timed_out" | "budget" | "failed"
  | "circuit_breaker" | "completed" | "extended" | "needs_input" | "usage_limit";

export interface Alert {
  at: string;
  severity: Severity;
  kind: AlertKind;
  worker_id?: string;
  task_id?: string;
  attempt?: number;
  message: string;
  summarized?: Alert[];
}

/** One line of pm-activity.jsonl. */
export interface ActivityLine {
  at: string;
  event: string;
  worker_id: string | null;
  task_id: string | null;
  attempt: number | null;
  from?: string;
  to?: string;
  message: string;
}

/** A rendered transcript entry of a worker. */
export interface TranscriptEntry {
  attempt: number;
  kind: "session" | "assistant" | "tool_call" | "tool_result" | "tool_error" | "api_retry" | "result" | "check_in" | "other" | "left_out";
  text: string;
}

export interface SubmitRequest {
  description: string;
  type?: string;
  priority?: string;
  key?: string;
  workdir?: string;
  worktree?: boolean;
}

/** The answer to a routing correction or a confirmation. */
/** A reroute's or confirmation's answer: the task after it, its fields at
 * the top level (as the engine writes it), and what happened. */
export type RerouteAck = Task & {
  /** False when the task had already started or ended: only the correction is kept. */
  applied: boolean;
  message: string;
};

export interface SubmitAck {
  task_id: string;
  deduplicated: boolean;
  status: TaskStatus;
  /** An existing task answered: what the submission asked that it does not have. */
  not_applied?: string[];
}

/** Errors cross the IPC boundary as {code, message}. */
export interface ApiError {
  code: string;
  message: string;
  /** For settings: the file and key the error is about. */
  file?: string;
  key?: string;
  /** Further problems of the same file, each at its key (an expert profile's rules are all checked). */
  problems?: { key?: string; message: string }[];
}

export interface Settings {
  config: Record<string, unknown>;
  experts: string[];
  notifications: Record<string, boolean | number>;
}

export interface Doctor {
  agent_command: string[];
  agent_resolved: string | null;
  agent_version: string | null;
  /** Why the agent cannot run, when it was not found. */
  agent_problem?: string | null;
  home: string;
  notifications: string;
  /** This build of Cortex. */
  version?: string;
  /** Where workers run (`launcher.kind`): "local", "slurm" or "kubernetes". */
  launcher?: string;
  /** For a cluster: whether it answered, and what it said or why not. */
  launcher_check?: { reachable: boolean; detail: string };
}

export type EngineEvent =
  | { type: "task_submitted"; task: Task }
  | { type: "task_updated"; task: Task }
  | { type: "worker_updated"; worker: Worker }
  | { type: "alert"; alert: Alert }
  | { type: "activity_logged"; line: ActivityLine };

/** Token counts as the engine keeps them. */
export interface Tokens {
  input: number;
  output: number;
  cache_read: number;
  cache_creation: number;
}

export interface Verification {
  command: string;
  /** null while the check runs. */
  passed: boolean | null;
  exit_code: number | null;
  rounds: number;
  output_tail: string | null;
  /** How the latest check ended: a check a person stopped did not fail. */
  outcome?: "running" | "passed" | "failed" | "stopped" | "not_run";
  /** Why the latest check did not pass (redacted). */
  reason?: string | null;
}

export interface FileChange {
  path: string;
  /** null for a binary file. */
  added: number | null;
  removed: number | null;
}

/** What one worker's part of a task changed (crates/engine review::Changes). */
export interface Changes {
  kind: "worktree" | "in_place" | "none";
  expert: string;
  worker_id: string;
  branch: string | null;
  base: string | null;
  base_branch: string | null;
  repo: string | null;
  workdir: string;
  files: FileChange[];
  may_include_others: boolean;
  /** The branch that already holds every change here (read from git when asked). */
  merged_into?: string | null;
  /** Other branches that hold all of this work (one merged into with --into). */
  merged_elsewhere?: string[];
  /** The worktree was removed; these are the changes on its kept branch. */
  worktree_removed?: boolean;
  /** Git failed to read the changes (`message` says how): no files does not mean nothing changed. */
  unreadable?: boolean;
  message?: string;
}

export interface DiffReply extends Changes {
  task_id: string;
  patch?: string;
}

export interface AttemptStory {
  n: number;
  started_at: string;
  /** When it left a cluster's queue and began to run (its duration counts from here). */
  running_at?: string | null;
  /** Its job still waits in a cluster's queue: no time of it counts yet. */
  queued?: boolean;
  ended_at: string | null;
  resumed: boolean;
  outcome: string | null;
  reason: string | null;
  exit_code: number | null;
  cost_usd: number;
  /** The cost is Cortex's estimate: the attempt ended without the agent's own figure. */
  cost_estimated: boolean;
  tokens: Tokens;
  duration_secs: number;
}

export interface WorkerStory {
  id: string;
  expert: string;
  status: string;
  reason: string | null;
  workdir: string;
  result: string | null;
  verification: Verification | null;
  tokens: Tokens;
  cost_usd: number;
  /** Part of the cost is Cortex's estimate. */
  cost_estimated: boolean;
  duration_secs: number;
  attempts: AttemptStory[];
  base: { repo: string; commit: string; branch?: string; worktree_branch?: string } | null;
  changes: Changes;
}

/** A task's whole story (`cortex show`). */
export interface TaskStory extends Task {
  result?: string | null;
  verification?: Verification | null;
  tokens: Tokens;
  /** Part of the task's cost is Cortex's estimate. */
  cost_estimated: boolean;
  duration_secs: number;
  attempts: number;
  workers: WorkerStory[];
  changes: Changes | null;
}

export interface MergeRequest {
  task_id: string;
  expert?: string;
  into?: string;
  squash: boolean;
}

export interface MergeReply {
  task_id: string;
  expert: string;
  branch: string;
  into: string;
  commit: string;
  committed_changes: string | null;
  fast_forward: boolean;
  squash: boolean;
  already_merged: boolean;
  checked_out_in: string | null;
  files: FileChange[];
}

export interface UsageRow {
  day: string;
  expert: string;
  /** null when the agent did not say which model it used. */
  model: string | null;
  project: string;
  tokens: Tokens;
  cost_usd: number;
  cost_estimated: boolean;
  attempts: number;
}

export interface UsageReport {
  since: string;
  until: string;
  days: number;
  utc_offset_minutes: number;
  rows: UsageRow[];
}

/** One task of a plan as the engine shows it (crates/engine plans.rs PlanViewTask). */
export interface PlanViewTask {
  name: string;
  /** Names of the tasks it depends on. */
  after: string[];
  /** Of those, the ones not completed yet. */
  blocked_on: string[];
  task: Task;
}

/** A plan as `cortex plan show` and the app show it (PlanView). */
export interface PlanView {
  id: string;
  goal: string;
  goal_task?: string;
  /** The goal task's own status and why. */
  goal_status?: TaskStatus;
  goal_reason?: string;
  awaiting_confirmation: boolean;
  created_at: string;
  /** Tasks in dependency order. */
  tasks: PlanViewTask[];
  /** Counts of the tasks by status. */
  counts: Record<string, number>;
  cost_usd: number;
  /** Part of `cost_usd` is Cortex's estimate. */
  cost_estimated?: boolean;
  elapsed_secs: number;
}

/** A plan as a person writes it (PlanSpec). */
export interface PlanSpec {
  goal: string;
  tasks: {
    name: string;
    description: string;
    expert?: string;
    type?: string;
    priority?: string;
    verify?: string;
    after?: string[];
  }[];
}

/** The answer to a plan's submission or edit (PlanAck). */
export interface PlanAck {
  plan_id: string;
  awaiting_confirmation: boolean;
  tasks: { name: string; task_id: string; status: TaskStatus; experts: string[] }[];
}
