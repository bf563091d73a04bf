//! The journal's records: `Event` (something that happened) and `Record`
//! (one journal line: schema version, sequence number, time, event), as
//! written to and read from `journal.jsonl`.
//!
//! May depend on: the domain types the events carry (id, task, worker,
//! stream, plan), serde, chrono (types only).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{TaskId, WorkerId};
use crate::stream::Outcome;
use crate::task::{Priority, RoutingSummary, Task, TaskStatus};
use crate::worker::{StopIntent, Worker, WorkerStatus};
use crate::SCHEMA_VERSION;

/// Something that happened, as written to `journal.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    TaskSubmitted {
        task: Box<Task>,
    },
    TaskStatusChanged {
        task_id: TaskId,
        status: TaskStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The router (or a person) chose the experts; one assignment each.
    TaskRouted {
        task_id: TaskId,
        routing: RoutingSummary,
        experts: Vec<String>,
    },
    /// A worker took an assignment (the expert's part of the task).
    WorkerCreated {
        worker: Box<Worker>,
    },
    AttemptStarted {
        worker_id: WorkerId,
        attempt: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_ticks: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
        #[serde(default)]
        resumed: bool,
    },
    AttemptEnded {
        worker_id: WorkerId,
        attempt: u32,
        outcome: Outcome,
    },
    /// Between attempts: the next one may start at `not_before`.
    WorkerWaiting {
        worker_id: WorkerId,
        not_before: DateTime<Utc>,
        reason: String,
    },
    /// The worker is done; its assignment takes the same end, and the task
    /// ends when all its assignments have.
    WorkerEnded {
        worker_id: WorkerId,
        status: WorkerStatus,
        reason: String,
    },
    WorkerExtended {
        worker_id: WorkerId,
        secs: u64,
    },
    /// The check of a successful attempt started (`round` counts every
    /// check of the worker).
    VerifyStarted {
        worker_id: WorkerId,
        attempt: u32,
        round: u32,
        command: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_ticks: Option<u64>,
    },
    /// The check ended; what follows (completed, a resumed attempt, needs
    /// attention) is journaled next.
    VerifyEnded {
        worker_id: WorkerId,
        round: u32,
        passed: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output_tail: Option<String>,
        reason: String,
    },
    /// A plan and all its tasks, routed, in one record: it exists whole or
    /// not at all.
    PlanSubmitted {
        plan: crate::plan::Plan,
        tasks: Vec<crate::plan::PlannedTask>,
    },
    /// A person let a plan held for confirmation run.
    PlanConfirmed {
        plan_id: crate::id::PlanId,
    },
    /// A person replaced the tasks of a plan held for confirmation with an
    /// edited plan (validated as a new one): the old tasks are cancelled,
    /// never having started, and the new ones wait for confirmation.
    PlanEdited {
        plan_id: crate::id::PlanId,
        goal: String,
        entries: Vec<crate::plan::PlanEntry>,
        tasks: Vec<crate::plan::PlannedTask>,
    },
    /// A person answered an ended worker (`cortex reply`): it and its task
    /// are live again, and its next attempt resumes the conversation with
    /// the text.
    WorkerReplied {
        worker_id: WorkerId,
        text: String,
    },
    /// Where the worker's work starts in git: the repository, the commit
    /// and branch checked out there, and the worktree's branch if isolated.
    /// Written once, as its first attempt starts.
    WorkerBase {
        worker_id: WorkerId,
        repo: String,
        commit: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worktree_branch: Option<String>,
    },
    /// A stop was asked for (a person's kill, restart or nudge, or a PM
    /// kill): journaled before it is acknowledged or carried out.
    StopRequested {
        worker_id: WorkerId,
        intent: StopIntent,
    },
    SpawningPaused {
        paused: bool,
    },
    /// A duplicate submission asked for a more urgent priority.
    TaskPriorityChanged {
        task_id: TaskId,
        priority: Priority,
    },
}

/// One journal line: schema version, sequence number, time, event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub v: u32,
    pub seq: u64,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub event: Event,
}

impl Record {
    pub fn new(seq: u64, at: DateTime<Utc>, event: Event) -> Self {
        Self {
            v: SCHEMA_VERSION,
            seq,
            at,
            event,
        }
    }
}
