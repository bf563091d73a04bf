//! What the facade answers and tells: the DTOs people and scripts see
//! (`cortex ... --json`, the app's commands) and the engine's events.
//!
//! May depend on: cortex-core's types, runtime (the worker DTO), pm (paused experts).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cortex_core::id::TaskId;
use cortex_core::redact::redact;
use cortex_core::task::{Task, TaskStatus};
use cortex_core::worker::Worker;
use serde::{Deserialize, Serialize};

/// The answer to a submission.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SubmitAck {
    /// The task created, or the existing one that answers the submission.
    pub task_id: TaskId,
    /// True when an existing task answered it: the same request, the same
    /// key, or the same work while that task is live.
    pub deduplicated: bool,
    /// The task's status after the submission.
    pub status: TaskStatus,
    /// When a duplicate asked for a more urgent priority: the task's
    /// priority before it was raised to the one asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_raised_from: Option<cortex_core::task::Priority>,
    /// The task's priority now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<cortex_core::task::Priority>,
    /// When an existing task answered: what the submission asked that the
    /// task does not have, and was not applied (`--verify`, `--worktree`,
    /// `--after`): the task keeps its own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_applied: Vec<String>,
}

/// A task as shown to people and scripts (`cortex tasks --json`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TaskDto {
    /// The task's id.
    pub id: TaskId,
    /// Where the task is in its life (queued, running, completed...).
    pub status: TaskStatus,
    /// `critical`, `high`, `medium` or `low`.
    pub priority: String,
    /// The task type it was submitted with (`--type`), if any; it steers routing.
    #[serde(rename = "type")]
    pub task_type: Option<String>,
    /// What the task asks for (redacted).
    pub description: String,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The folder it was submitted to work in, if one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Its idempotency key (`--key`), if it was submitted with one (redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Why it is in its current status (redacted): a failure's cause, who cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its own check command (`--verify`), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<String>,
    /// The final result text of its latest worker that gave one (redacted).
    #[serde(default)]
    pub result: Option<String>,
    /// The check of its work (`null`: not verified); see
    /// `review::task_verification` for a task with several experts.
    #[serde(default)]
    pub verification: Option<VerificationDto>,
    /// What its workers cost so far, in US dollars. A list (`cortex tasks`,
    /// `show`, plans) adds its running attempts' figures so far; an event
    /// (`task_updated`) carries its ended attempts' figure, since it is sent
    /// when the task changes, not as its workers print (their own events
    /// carry those figures, `WorkerDto::live_attempt`); the app forwards a
    /// task event with the task as listed (`Engine::task_row`).
    pub cost_usd: f64,
    /// True when some of `cost_usd` is Cortex's estimate from the tokens
    /// (an attempt ended or runs without the agent's own figure).
    #[serde(default)]
    pub cost_estimated: bool,
    /// The primary expert, once routed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expert: Option<String>,
    /// Every expert taking part (several for a multi-expert task).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub experts: Vec<String>,
    /// What the router decided, in short; None before it was routed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<cortex_core::task::RoutingSummary>,
    /// Where each expert's part is (pending, running, completed...), with its worker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignments: Vec<cortex_core::task::Assignment>,
    /// The git repository its work started in (from its first worker that
    /// recorded one); none before that or outside git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

/// The running attempts' figures of workers, by worker, where a view
/// knows them (`WorkerDto::live_attempt`).
pub(crate) type LiveFigures = BTreeMap<cortex_core::id::WorkerId, crate::runtime::AttemptFigures>;

/// What each task's running attempts used so far (`live`, counted only for
/// the attempt that runs now), and whether that is Cortex's estimate.
pub(crate) fn costs_so_far(
    state: &cortex_core::state::State,
    live: &LiveFigures,
) -> BTreeMap<TaskId, RunningCost> {
    let mut out: BTreeMap<TaskId, RunningCost> = BTreeMap::new();
    for w in state.workers() {
        let c = out.entry(w.task_id.clone()).or_default();
        if let Some(f) = running_figures(live, w) {
            c.usd += f.cost_usd;
            c.estimated |= f.cost_estimated;
        }
    }
    out
}

/// `w`'s figures in `live` when they are of the attempt that runs now (none
/// of an attempt that ended since they were read).
pub(crate) fn running_figures<'a>(
    live: &'a LiveFigures,
    w: &Worker,
) -> Option<&'a crate::runtime::AttemptFigures> {
    live.get(&w.id)
        .filter(|f| w.live_attempt().is_some_and(|a| a.n == f.n))
}

/// A task's running attempts' cost so far, and whether it is an estimate.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct RunningCost {
    pub(crate) usd: f64,
    pub(crate) estimated: bool,
}

impl TaskDto {
    /// Adds what its running attempts used so far (`costs_so_far`).
    pub(crate) fn add_running(&mut self, c: Option<&RunningCost>) {
        if let Some(c) = c {
            self.cost_usd += c.usd;
            self.cost_estimated |= c.estimated;
        }
    }
}

impl From<&Task> for TaskDto {
    fn from(t: &Task) -> Self {
        Self {
            id: t.id.clone(),
            status: t.status,
            priority: t.priority.to_string(),
            task_type: t.task_type.clone(),
            description: redact(&t.description),
            created_at: t.created_at,
            updated_at: t.updated_at,
            workdir: t.workdir.clone(),
            key: t.key.as_deref().map(redact),
            reason: t.reason.as_deref().map(redact),
            verify: t.verify.as_deref().map(redact),
            result: t.result.as_deref().map(redact),
            verification: None,
            cost_usd: t.cost_usd,
            cost_estimated: t.cost_estimated,
            expert: t.routing.as_ref().map(|r| r.primary_expert.clone()),
            experts: t.assignments.iter().map(|a| a.expert.clone()).collect(),
            routing: t.routing.clone(),
            assignments: t.assignments.clone(),
            project: None,
        }
    }
}

/// The answer to a reroute: the task, and whether it moved.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RerouteAck {
    /// The task after the reroute, its fields at the top level of the JSON.
    #[serde(flatten)]
    pub task: TaskDto,
    /// True when the task now goes to the expert; false when a worker had
    /// already started on it or it had ended (only the correction is kept),
    /// or the same correction was made before (nothing changed).
    pub applied: bool,
    /// What happened, in words.
    pub message: String,
}

/// Counts for `cortex status` and the tray.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct StatusDto {
    /// Tasks by status.
    pub tasks: BTreeMap<String, usize>,
    /// Workers by lifecycle state, ended ones included.
    pub workers: BTreeMap<String, usize>,
    /// Live workers by the PM's health (starting, healthy, late, stalled,
    /// zombie, waiting; `exited` for a process gone and not yet settled).
    #[serde(default)]
    pub health: BTreeMap<String, usize>,
    /// Experts whose circuit breaker is open (their tasks wait), and until when.
    #[serde(default)]
    pub paused_experts: Vec<crate::pm::PausedExpert>,
    /// True while a person has paused spawning (`cortex pause`, the app's
    /// Pause): no new worker starts; running ones and restarts go on.
    #[serde(default)]
    pub spawning_paused: bool,
    /// Why the owner refuses the settings files on disk (an edit it did not
    /// read: the settings in use are older), while it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings_refused: Option<String>,
    /// The process that supervises the home (`cortex run` or the desktop
    /// app); none means nobody starts tasks or watches workers until one runs.
    #[serde(default)]
    pub owner: Option<crate::lock::OwnerInfo>,
}

/// What the engine tells its subscribers, as it happens.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EngineEvent {
    /// A task was submitted.
    TaskSubmitted {
        /// The new task.
        task: TaskDto,
    },
    /// A task changed (status, routing, cost...).
    TaskUpdated {
        /// The task as it is now.
        task: TaskDto,
    },
    /// A worker changed (state, health, activity...).
    WorkerUpdated {
        /// The worker as it is now.
        worker: crate::runtime::WorkerDto,
    },
    /// Something a person should know (stalled, zombie, timeout, failure...).
    Alert {
        /// What happened, how severe, and the worker or task it is about.
        alert: cortex_core::alerts::Alert,
    },
    /// The PM wrote a line to its activity log (`pm-activity.jsonl`): a
    /// health transition, an intervention, a nudge, a reply.
    ActivityLogged {
        /// The line, as written.
        line: serde_json::Value,
    },
}

/// A worker's check, as views show it. `null` in place of the whole object
/// means the task was not verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationDto {
    /// The check's command, run by `sh -c` in the worker's folder.
    pub command: String,
    /// None while the check runs.
    pub passed: Option<bool>,
    /// The latest check's exit code; None while it runs or when it ended without one.
    pub exit_code: Option<i32>,
    /// Checks started so far, over every attempt.
    pub rounds: u32,
    /// The end of the latest check's output (redacted).
    pub output_tail: Option<String>,
    /// How the latest check ended, in one word: `running`, `passed`,
    /// `failed` (it ran and did not pass: an exit code, a timeout),
    /// `stopped` (a person cancelled or stopped it: it did not fail) or
    /// `not_run` (it could not be run or started).
    #[serde(default)]
    pub outcome: String,
    /// Why the latest check did not pass, in words (redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<&cortex_core::worker::Verification> for VerificationDto {
    fn from(v: &cortex_core::worker::Verification) -> Self {
        Self {
            command: redact(&v.command),
            passed: v.passed,
            exit_code: v.exit_code,
            rounds: v.rounds,
            output_tail: v.output_tail.as_deref().map(redact),
            outcome: v.ended_as().to_string(),
            reason: v.reason.as_deref().map(redact),
        }
    }
}

/// A task's verification from its workers' checks. With several experts,
/// the part that decides is shown: the first whose check failed, else one
/// whose check still runs, else the latest that passed.
pub fn task_verification<'a>(workers: impl Iterator<Item = &'a Worker>) -> Option<VerificationDto> {
    let checks: Vec<&cortex_core::worker::Verification> =
        workers.filter_map(|w| w.verification.as_ref()).collect();
    checks
        .iter()
        .find(|v| v.passed == Some(false))
        .or_else(|| checks.iter().find(|v| v.passed.is_none()))
        .or_else(|| checks.last())
        .map(|v| VerificationDto::from(*v))
}
