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
use crate::worker::{StopIntent, TimeWarnings, Worker, WorkerStatus};
use crate::SCHEMA_VERSION;

/// Something that happened, as written to `journal.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A new task was created from a submission.
    TaskSubmitted {
        /// The task as created.
        task: Box<Task>,
    },
    /// A task's status changed.
    TaskStatusChanged {
        /// The task it is about.
        task_id: TaskId,
        /// The status it changed to.
        status: TaskStatus,
        /// Why, when there is a reason to give.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The router (or a person) chose the experts; one assignment each.
    TaskRouted {
        /// The task it is about.
        task_id: TaskId,
        /// The decision, as the task keeps it.
        routing: RoutingSummary,
        /// The experts that each get an assignment.
        experts: Vec<String>,
    },
    /// A worker took an assignment (the expert's part of the task).
    WorkerCreated {
        /// The worker as created.
        worker: Box<Worker>,
    },
    /// An attempt of a worker started.
    AttemptStarted {
        /// The worker it is about.
        worker_id: WorkerId,
        /// The attempt's number (1-based).
        attempt: u32,
        /// The attempt's process id, once spawned.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
        /// The process's start time in clock ticks since boot (tells it from a
        /// recycled pid).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_ticks: Option<u64>,
        /// The agent's session id, when known at start.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_id: Option<String>,
        /// True when the attempt continues the previous one's conversation.
        #[serde(default)]
        resumed: bool,
    },
    /// An attempt that waited in a cluster's queue left it and began to run.
    AttemptRunning {
        /// The worker it is about.
        worker_id: WorkerId,
        /// The attempt's number (1-based).
        attempt: u32,
        /// When it left the queue, when that is earlier than the record (a
        /// job that ran and ended between two looks: the last time it was
        /// seen queued); else the record's time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        left_at: Option<DateTime<Utc>>,
    },
    /// The cluster suspended the attempt's job (`scontrol suspend`), or
    /// resumed it: a wait, not a hang, and its silence counts again from
    /// its resumption, for the next owner as well. A job resumed while no
    /// owner watched is said resumed when an owner first sees it run.
    AttemptSuspended {
        /// The worker it is about.
        worker_id: WorkerId,
        /// The attempt's number (1-based).
        attempt: u32,
        /// True when suspended, false when resumed.
        suspended: bool,
    },
    /// An attempt of a worker ended.
    AttemptEnded {
        /// The worker it is about.
        worker_id: WorkerId,
        /// The attempt that ended.
        attempt: u32,
        /// How it ended, with its cost and tokens.
        outcome: Outcome,
    },
    /// Between attempts: the next one may start at `not_before`.
    WorkerWaiting {
        /// The worker it is about.
        worker_id: WorkerId,
        /// When the next attempt may start.
        not_before: DateTime<Utc>,
        /// Why the worker waits.
        reason: String,
    },
    /// The worker is done; its assignment takes the same end, and the task
    /// ends when all its assignments have.
    WorkerEnded {
        /// The worker it is about.
        worker_id: WorkerId,
        /// The status it ended with.
        status: WorkerStatus,
        /// Why it ended.
        reason: String,
    },
    /// A worker's time limit was extended.
    WorkerExtended {
        /// The worker it is about.
        worker_id: WorkerId,
        /// Seconds added to its time limit.
        secs: u64,
    },
    /// A person restarted a worker that waited between attempts (a
    /// backoff, or a restart its expert's circuit breaker held): its next
    /// attempt is on request, no restart. With no free place it waits for
    /// one, no longer for the breaker; else that attempt starts at once.
    WorkerRestartAsked {
        /// The worker it is about.
        worker_id: WorkerId,
        /// Why it waits.
        reason: String,
    },
    /// The time-limit warnings said of a worker changed (a level was said,
    /// or an extension left levels unreached): the next owner says none of
    /// them again.
    TimeWarningsChanged {
        /// The worker it is about.
        worker_id: WorkerId,
        /// The levels said now, and the limit they hold for.
        warnings: TimeWarnings,
    },
    /// The check of a successful attempt started (`round` counts every
    /// check of the worker).
    VerifyStarted {
        /// The worker it is about.
        worker_id: WorkerId,
        /// The attempt whose work is checked.
        attempt: u32,
        /// The check's number among the worker's checks (1-based).
        round: u32,
        /// The command, run by `sh -c` in the workdir.
        command: String,
        /// The check's process id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
        /// The check process's start time in clock ticks since boot.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_ticks: Option<u64>,
    },
    /// The check ended; what follows (completed, a resumed attempt, needs
    /// attention) is journaled next.
    VerifyEnded {
        /// The worker it is about.
        worker_id: WorkerId,
        /// The check that ended.
        round: u32,
        /// True when the check passed.
        passed: bool,
        /// The check's exit code, if it exited.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_code: Option<i32>,
        /// The end of the check's output (redacted).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output_tail: Option<String>,
        /// Why it passed or failed, in words.
        reason: String,
    },
    /// A plan and all its tasks, routed, in one record: it exists whole or
    /// not at all.
    PlanSubmitted {
        /// The plan as the state keeps it.
        plan: crate::plan::Plan,
        /// The plan's tasks, created and routed.
        tasks: Vec<crate::plan::PlannedTask>,
    },
    /// A person let a plan held for confirmation run.
    PlanConfirmed {
        /// The plan let run.
        plan_id: crate::id::PlanId,
    },
    /// A person replaced the tasks of a plan held for confirmation with an
    /// edited plan (validated as a new one): the old tasks are cancelled,
    /// never having started, and the new ones wait for confirmation.
    PlanEdited {
        /// The plan edited.
        plan_id: crate::id::PlanId,
        /// The edited plan's goal.
        goal: String,
        /// The edited plan's tasks by local name.
        entries: Vec<crate::plan::PlanEntry>,
        /// The edited plan's tasks, created and routed.
        tasks: Vec<crate::plan::PlannedTask>,
    },
    /// A person answered an ended worker (`cortex reply`): it and its task
    /// are live again, and its next attempt resumes the conversation with
    /// the text.
    WorkerReplied {
        /// The worker answered.
        worker_id: WorkerId,
        /// The person's answer, for its next attempt.
        text: String,
    },
    /// Where the worker's work starts in git: the repository, the commit
    /// and branch checked out there, and the worktree's branch if isolated.
    /// Written once, as its first attempt starts.
    WorkerBase {
        /// The worker it is about.
        worker_id: WorkerId,
        /// The repository the task was submitted in (its top-level folder).
        repo: String,
        /// The commit checked out there.
        commit: String,
        /// The branch checked out there; none on a detached HEAD.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        branch: Option<String>,
        /// The worktree's own branch, for an isolated worker.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        worktree_branch: Option<String>,
    },
    /// A stop was asked for (a person's kill, restart or nudge, or a PM
    /// kill): journaled before it is acknowledged or carried out.
    StopRequested {
        /// The worker to stop.
        worker_id: WorkerId,
        /// Which attempt, why, and what follows.
        intent: StopIntent,
    },
    /// A person paused or resumed the starting of new workers.
    SpawningPaused {
        /// True when new workers are not started.
        paused: bool,
    },
    /// A duplicate submission asked for a more urgent priority.
    TaskPriorityChanged {
        /// The task it is about.
        task_id: TaskId,
        /// The new priority.
        priority: Priority,
    },
}

/// One journal line: schema version, sequence number, time, event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The schema version the line was written with.
    pub v: u32,
    /// The line's sequence number, one more than the line before.
    pub seq: u64,
    /// When the event happened.
    pub at: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

impl Record {
    /// The largest number a record can have. Records are numbered one at a
    /// time from 1: at a million records a second a home would take 285
    /// years to get here, and a larger number is not read exactly by every
    /// JSON reader (it is JavaScript's largest exact integer). A record or
    /// snapshot that says more is damaged, and numbering past it would give
    /// records no reader takes.
    pub const MAX_SEQ: u64 = (1 << 53) - 1;

    /// The number of the `n`th record written after record `last`, when it
    /// is within `MAX_SEQ`; none when the numbers are used up.
    pub fn seq_after(last: u64, n: u64) -> Option<u64> {
        last.checked_add(n).filter(|s| *s <= Self::MAX_SEQ)
    }

    /// Why `seq` cannot be a record's number, when it cannot.
    pub fn seq_problem(seq: u64) -> Option<String> {
        (seq > Self::MAX_SEQ).then(|| {
            format!(
                "record number {seq} is past the largest a record can have ({}): the number is damaged",
                Self::MAX_SEQ
            )
        })
    }

    /// A record of the current schema version.
    pub fn new(seq: u64, at: DateTime<Utc>, event: Event) -> Self {
        Self {
            v: SCHEMA_VERSION,
            seq,
            at,
            event,
        }
    }
}
