//! The journal's events and the state they fold into.
//!
//! The journal is the source of truth: the state of a home is exactly the
//! fold of its events, in order. Snapshots only make the fold start later.
//! `apply` is total: an event about an unknown task is ignored (and counted),
//! never a panic, so a quarantined line cannot make replay fail.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{RequestId, TaskId, WorkerId};
use crate::input::ValidSubmission;
use crate::stream::Outcome;
use crate::task::{
    fingerprint, Assignment, AssignmentStatus, Priority, RoutingSummary, Task, TaskStatus,
};
use crate::worker::{Attempt, StopIntent, Worker, WorkerStatus};
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

/// One pending assignment per expert.
fn pending_parts(experts: &[String]) -> Vec<Assignment> {
    experts
        .iter()
        .map(|e| Assignment {
            expert: e.clone(),
            status: AssignmentStatus::Pending,
            worker_id: None,
        })
        .collect()
}

/// What a submission resolves to before anything is written.
#[derive(Debug, Clone, PartialEq)]
pub enum SubmitPlan {
    /// An existing task answers this submission (same request replayed, same
    /// key, or same fingerprint while that task is live).
    Existing { task_id: TaskId, status: TaskStatus },
    /// A new task must be created.
    New { fingerprint: String },
}

/// Everything the journal knows, indexed for the questions the engine asks.
#[derive(Debug, Clone, Default)]
pub struct State {
    tasks: BTreeMap<TaskId, Task>,
    /// Fingerprint -> task, live tasks only.
    live_fingerprints: HashMap<String, TaskId>,
    /// Idempotency key -> task, kept after completion.
    keys: HashMap<String, TaskId>,
    /// Inbox request -> task, so a replayed request is answered, not redone.
    requests: HashMap<RequestId, TaskId>,
    workers: BTreeMap<WorkerId, Worker>,
    plans: BTreeMap<crate::id::PlanId, crate::plan::Plan>,
    /// Goals whose check of their plan's merged work is due or running.
    goals_to_check: std::collections::BTreeSet<TaskId>,
    pub spawning_paused: bool,
    /// Sequence number of the last applied record.
    pub last_seq: u64,
    /// Events that referred to something unknown (counted, not fatal).
    pub ignored_events: u64,
}

impl State {
    /// Rebuilds indexes from a task list (a snapshot) and its sequence number.
    pub fn from_tasks(tasks: Vec<Task>, last_seq: u64) -> Self {
        Self::from_parts(tasks, Vec::new(), Vec::new(), false, last_seq)
    }

    /// Rebuilds from snapshots of tasks and workers taken at `last_seq`.
    pub fn from_parts(
        tasks: Vec<Task>,
        workers: Vec<Worker>,
        plans: Vec<crate::plan::Plan>,
        spawning_paused: bool,
        last_seq: u64,
    ) -> Self {
        let mut s = State {
            last_seq,
            spawning_paused,
            workers: workers.into_iter().map(|w| (w.id.clone(), w)).collect(),
            plans: plans.into_iter().map(|p| (p.id.clone(), p)).collect(),
            ..State::default()
        };
        for t in tasks {
            s.index(&t);
            s.tasks.insert(t.id.clone(), t);
        }
        let goals: Vec<TaskId> = s
            .plans
            .values()
            .filter_map(|p| p.goal_task.clone())
            .collect();
        for g in goals {
            if s.goal_verdict(&g).is_some_and(|v| v.2) {
                s.goals_to_check.insert(g);
            }
        }
        s
    }

    fn index(&mut self, t: &Task) {
        if !t.status.is_terminal() {
            self.live_fingerprints
                .insert(t.fingerprint.clone(), t.id.clone());
        }
        if let Some(k) = &t.key {
            self.keys.insert(k.clone(), t.id.clone());
        }
        if let Some(r) = &t.request_id {
            self.requests.insert(r.clone(), t.id.clone());
        }
    }

    /// Applies one record. Records at or below `last_seq` are already in the
    /// state (a snapshot covered them) and are skipped.
    pub fn apply(&mut self, rec: &Record) {
        if rec.seq <= self.last_seq {
            return;
        }
        self.last_seq = rec.seq;
        match &rec.event {
            Event::TaskSubmitted { task } => {
                self.index(task);
                self.tasks.insert(task.id.clone(), (**task).clone());
            }
            Event::TaskStatusChanged {
                task_id,
                status,
                reason,
            } => {
                let Some(t) = self.tasks.get_mut(task_id) else {
                    self.ignored_events += 1;
                    return;
                };
                t.status = *status;
                t.updated_at = rec.at;
                // A live status says why it is so, or nothing (a task let
                // go again has no reason left); an end keeps the last reason
                // unless it gives its own.
                if reason.is_some() || !status.is_terminal() {
                    t.reason.clone_from(reason);
                }
                if status.is_terminal() {
                    for a in t.assignments.iter_mut().filter(|a| !a.status.is_terminal()) {
                        a.status = AssignmentStatus::Cancelled;
                    }
                    if self.live_fingerprints.get(&t.fingerprint) == Some(task_id) {
                        self.live_fingerprints.remove(&t.fingerprint);
                    }
                }
                let id = task_id.clone();
                if *status == TaskStatus::Routed {
                    self.block_on_dependencies(&id, rec.at);
                }
                self.settle_dependents(&id, rec.at);
            }
            Event::TaskRouted {
                task_id,
                routing,
                experts,
            } => {
                let Some(t) = self.tasks.get_mut(task_id) else {
                    self.ignored_events += 1;
                    return;
                };
                t.routing = Some(routing.clone());
                t.assignments = pending_parts(experts);
                t.updated_at = rec.at;
                if t.status == TaskStatus::Queued {
                    t.status = TaskStatus::Routed;
                    let id = task_id.clone();
                    self.block_on_dependencies(&id, rec.at);
                }
            }
            Event::WorkerCreated { worker } => {
                let Some(t) = self.tasks.get_mut(&worker.task_id) else {
                    self.ignored_events += 1;
                    return;
                };
                if let Some(a) = t
                    .assignments
                    .iter_mut()
                    .find(|a| a.expert == worker.expert && a.worker_id.is_none())
                {
                    a.worker_id = Some(worker.id.clone());
                    a.status = AssignmentStatus::Running;
                }
                if matches!(
                    t.status,
                    TaskStatus::Queued | TaskStatus::Routed | TaskStatus::Waiting
                ) {
                    t.status = TaskStatus::Running;
                    t.reason = None;
                    t.updated_at = rec.at;
                }
                self.workers.insert(worker.id.clone(), (**worker).clone());
            }
            Event::AttemptStarted {
                worker_id,
                attempt,
                pid,
                start_ticks,
                session_id,
                resumed,
            } => {
                let Some(w) = self.workers.get_mut(worker_id) else {
                    self.ignored_events += 1;
                    return;
                };
                w.attempts.push(Attempt {
                    n: *attempt,
                    started_at: rec.at,
                    pid: *pid,
                    start_ticks: *start_ticks,
                    session_id: session_id.clone(),
                    resumed: *resumed,
                    ended_at: None,
                    outcome: None,
                });
                if session_id.is_some() {
                    w.session_id.clone_from(session_id);
                }
                w.status = WorkerStatus::Running;
                w.not_before = None;
                w.stop = None;
                w.next_prompt = None;
            }
            Event::AttemptEnded {
                worker_id,
                attempt,
                outcome,
            } => {
                let Some(w) = self.workers.get_mut(worker_id) else {
                    self.ignored_events += 1;
                    return;
                };
                // Only the attempt it names: a late report about attempt 1
                // never touches attempt 2.
                let Some(a) = w
                    .attempts
                    .iter_mut()
                    .find(|a| a.n == *attempt && a.outcome.is_none())
                else {
                    self.ignored_events += 1;
                    return;
                };
                a.ended_at = Some(rec.at);
                a.outcome = Some(outcome.clone());
                w.cost_usd += outcome.cost_usd;
                w.tokens.input += outcome.tokens.input;
                w.tokens.output += outcome.tokens.output;
                w.tokens.cache_read += outcome.tokens.cache_read;
                w.tokens.cache_creation += outcome.tokens.cache_creation;
                w.reason = Some(outcome.reason.clone());
                w.cost_estimated |= outcome.cost_estimated;
                if outcome.result.is_some() {
                    w.result.clone_from(&outcome.result);
                }
                if outcome.last_text.is_some() {
                    w.last_text.clone_from(&outcome.last_text);
                }
                let (task_id, cost) = (w.task_id.clone(), outcome.cost_usd);
                if let Some(t) = self.tasks.get_mut(&task_id) {
                    t.cost_usd += cost;
                    if outcome.result.is_some() {
                        t.result.clone_from(&outcome.result);
                    }
                }
            }
            Event::WorkerWaiting {
                worker_id,
                not_before,
                reason,
            } => {
                let Some(w) = self.workers.get_mut(worker_id) else {
                    self.ignored_events += 1;
                    return;
                };
                w.status = WorkerStatus::Waiting;
                w.not_before = Some(*not_before);
                w.reason = Some(reason.clone());
                w.stop = None;
            }
            Event::WorkerEnded {
                worker_id,
                status,
                reason,
            } => self.end_worker(worker_id, *status, reason, rec.at),
            Event::WorkerExtended { worker_id, secs } => match self.workers.get_mut(worker_id) {
                Some(w) => w.extended_secs = w.extended_secs.saturating_add(*secs),
                None => self.ignored_events += 1,
            },
            Event::VerifyStarted {
                worker_id,
                round,
                command,
                pid,
                start_ticks,
                ..
            } => match self.workers.get_mut(worker_id) {
                Some(w) => {
                    w.verification = Some(crate::worker::Verification {
                        command: command.clone(),
                        rounds: *round,
                        passed: None,
                        exit_code: None,
                        output_tail: None,
                        reason: None,
                        pid: *pid,
                        start_ticks: *start_ticks,
                    });
                    let task_id = w.task_id.clone();
                    self.refresh_goal(&task_id, rec.at);
                }
                None => self.ignored_events += 1,
            },
            Event::VerifyEnded {
                worker_id,
                round,
                passed,
                exit_code,
                output_tail,
                reason,
            } => match self
                .workers
                .get_mut(worker_id)
                .and_then(|w| w.verification.as_mut())
            {
                Some(v) if v.rounds == *round => {
                    v.passed = Some(*passed);
                    v.exit_code = *exit_code;
                    v.output_tail.clone_from(output_tail);
                    v.reason = Some(reason.clone());
                    v.pid = None;
                    v.start_ticks = None;
                    // A goal's check of its plan's merged work decides the goal.
                    if let Some(task_id) = self.workers.get(worker_id).map(|w| w.task_id.clone()) {
                        self.refresh_goal(&task_id, rec.at);
                    }
                }
                _ => self.ignored_events += 1,
            },
            Event::WorkerReplied { worker_id, text } => self.reopen(worker_id, text, rec.at),
            Event::PlanSubmitted { plan, tasks } => {
                self.insert_planned(&plan.id, tasks, plan.awaiting_confirmation, rec.at);
                self.plans.insert(plan.id.clone(), plan.clone());
            }
            Event::PlanEdited {
                plan_id,
                goal,
                entries,
                tasks,
            } => {
                let Some(plan) = self.plans.get(plan_id).filter(|p| p.awaiting_confirmation) else {
                    self.ignored_events += 1;
                    return;
                };
                let old: Vec<TaskId> = plan.tasks.iter().map(|e| e.task_id.clone()).collect();
                let goal_task = plan.goal_task.clone();
                for id in old {
                    let Some(t) = self.tasks.get_mut(&id) else {
                        continue;
                    };
                    t.status = TaskStatus::Cancelled;
                    t.reason = Some(format!("replaced by an edit of plan {plan_id}"));
                    t.updated_at = rec.at;
                    if self.live_fingerprints.get(&t.fingerprint) == Some(&id) {
                        let fp = t.fingerprint.clone();
                        self.live_fingerprints.remove(&fp);
                    }
                }
                self.insert_planned(plan_id, tasks, true, rec.at);
                if let Some(plan) = self.plans.get_mut(plan_id) {
                    plan.goal.clone_from(goal);
                    plan.tasks.clone_from(entries);
                }
                if let Some(g) = goal_task {
                    self.refresh_goal(&g, rec.at);
                }
            }
            Event::PlanConfirmed { plan_id } => {
                let Some(plan) = self.plans.get_mut(plan_id) else {
                    self.ignored_events += 1;
                    return;
                };
                plan.awaiting_confirmation = false;
                let goal = plan.goal_task.clone();
                let ids: Vec<TaskId> = plan.tasks.iter().map(|e| e.task_id.clone()).collect();
                for id in ids {
                    if let Some(t) = self.tasks.get_mut(&id) {
                        if t.status == TaskStatus::AwaitingConfirmation {
                            t.status = TaskStatus::Routed;
                            t.reason = None;
                            t.updated_at = rec.at;
                        }
                    }
                    self.block_on_dependencies(&id, rec.at);
                }
                if let Some(g) = goal {
                    self.refresh_goal(&g, rec.at);
                }
            }
            Event::WorkerBase {
                worker_id,
                repo,
                commit,
                branch,
                worktree_branch,
            } => match self.workers.get_mut(worker_id) {
                Some(w) => {
                    w.base = Some(crate::worker::WorkBase {
                        repo: repo.clone(),
                        commit: commit.clone(),
                        branch: branch.clone(),
                        worktree_branch: worktree_branch.clone(),
                    });
                }
                None => self.ignored_events += 1,
            },
            Event::StopRequested { worker_id, intent } => match self.workers.get_mut(worker_id) {
                Some(w) if !w.status.is_terminal() => w.stop = Some(intent.clone()),
                _ => self.ignored_events += 1,
            },
            Event::SpawningPaused { paused } => self.spawning_paused = *paused,
            Event::TaskPriorityChanged { task_id, priority } => match self.tasks.get_mut(task_id) {
                Some(t) => {
                    t.priority = *priority;
                    t.updated_at = rec.at;
                }
                None => self.ignored_events += 1,
            },
        }
    }

    fn end_worker(
        &mut self,
        worker_id: &WorkerId,
        status: WorkerStatus,
        reason: &str,
        at: DateTime<Utc>,
    ) {
        let Some(w) = self.workers.get_mut(worker_id) else {
            self.ignored_events += 1;
            return;
        };
        w.status = status;
        w.reason = Some(reason.to_string());
        w.not_before = None;
        w.stop = None;
        let task_id = w.task_id.clone();
        let Some(t) = self.tasks.get_mut(&task_id) else {
            return;
        };
        if let Some(a) = t
            .assignments
            .iter_mut()
            .find(|a| a.worker_id.as_ref() == Some(worker_id))
        {
            a.status = match status {
                WorkerStatus::Completed => AssignmentStatus::Completed,
                WorkerStatus::Cancelled => AssignmentStatus::Cancelled,
                WorkerStatus::NeedsInput => AssignmentStatus::NeedsInput,
                WorkerStatus::NeedsAttention => AssignmentStatus::NeedsAttention,
                _ => AssignmentStatus::Failed,
            };
        }
        if t.status.is_terminal() || !t.assignments.iter().all(|a| a.status.is_terminal()) {
            return;
        }
        let all_done = t
            .assignments
            .iter()
            .all(|a| a.status == AssignmentStatus::Completed);
        let any_cancelled = t
            .assignments
            .iter()
            .any(|a| a.status == AssignmentStatus::Cancelled);
        let any = |st: AssignmentStatus| t.assignments.iter().any(|a| a.status == st);
        let (status, decided_by) = if all_done {
            (TaskStatus::Completed, AssignmentStatus::Completed)
        } else if any(AssignmentStatus::Failed) {
            (TaskStatus::Failed, AssignmentStatus::Failed)
        } else if any(AssignmentStatus::NeedsAttention) {
            (TaskStatus::NeedsAttention, AssignmentStatus::NeedsAttention)
        } else if any(AssignmentStatus::NeedsInput) {
            (TaskStatus::NeedsInput, AssignmentStatus::NeedsInput)
        } else if any_cancelled
            && !t
                .assignments
                .iter()
                .any(|a| a.status == AssignmentStatus::Failed)
        {
            (TaskStatus::Cancelled, AssignmentStatus::Cancelled)
        } else {
            (TaskStatus::Failed, AssignmentStatus::Failed)
        };
        t.status = status;
        // The reason is the part that decided the end (the failed one, not
        // whichever worker happened to end last), named when there are several.
        let deciding: Vec<&Assignment> = t
            .assignments
            .iter()
            .filter(|a| a.status == decided_by)
            .collect();
        let several = t.assignments.len() > 1;
        let part_reason = |a: &Assignment| {
            let why = a
                .worker_id
                .as_ref()
                .and_then(|id| self.workers.get(id))
                .and_then(|w| w.reason.clone())
                .unwrap_or_else(|| {
                    if a.status == AssignmentStatus::Cancelled {
                        "cancelled".to_string()
                    } else {
                        "no worker took it".to_string()
                    }
                });
            if several {
                format!("{}: {why}", a.expert)
            } else {
                why
            }
        };
        t.reason = Some(if status == TaskStatus::Completed {
            reason.to_string()
        } else {
            deciding
                .iter()
                .map(|a| part_reason(a))
                .collect::<Vec<_>>()
                .join("; ")
        });
        t.updated_at = at;
        if status.is_terminal() && self.live_fingerprints.get(&t.fingerprint) == Some(&task_id) {
            self.live_fingerprints.remove(&t.fingerprint);
        }
        self.settle_dependents(&task_id, at);
        self.refresh_goal(&task_id, at);
    }

    /// Adds a plan's routed tasks: held for confirmation, or free to start
    /// as their dependencies allow.
    fn insert_planned(
        &mut self,
        plan_id: &crate::id::PlanId,
        tasks: &[crate::plan::PlannedTask],
        held: bool,
        at: DateTime<Utc>,
    ) {
        for p in tasks {
            let mut t = p.task.clone();
            t.routing = Some(p.routing.clone());
            t.assignments = pending_parts(&p.experts);
            t.plan_id = Some(plan_id.clone());
            t.status = if held {
                TaskStatus::AwaitingConfirmation
            } else {
                TaskStatus::Routed
            };
            self.index(&t);
            let id = t.id.clone();
            self.tasks.insert(id.clone(), t);
            if !held {
                self.block_on_dependencies(&id, at);
            }
        }
    }

    /// A goal whose coordinator's part is done lives on with its plan:
    /// `running` while the plan's tasks run, `needs_attention` naming the
    /// first that ended otherwise; once all completed, `running` while its
    /// own check (if it has one) runs on their merged work, then
    /// `completed` if it passed and `needs_attention` naming it if not.
    fn refresh_goal(&mut self, goal_id: &TaskId, at: DateTime<Utc>) {
        let Some((status, reason, check_due)) = self.goal_verdict(goal_id) else {
            return;
        };
        if check_due {
            self.goals_to_check.insert(goal_id.clone());
        } else {
            self.goals_to_check.remove(goal_id);
        }
        let Some(goal) = self.tasks.get_mut(goal_id) else {
            return;
        };
        if goal.status != status || goal.reason.as_deref() != Some(reason.as_str()) {
            goal.status = status;
            goal.reason = Some(reason);
            goal.updated_at = at;
        }
        if status.is_terminal()
            && self.live_fingerprints.get(&self.tasks[goal_id].fingerprint) == Some(goal_id)
        {
            let fp = self.tasks[goal_id].fingerprint.clone();
            self.live_fingerprints.remove(&fp);
        }
    }

    /// What a goal's plan makes of it: its status, the reason, and whether
    /// its check is due (every task completed, the check not ended yet).
    /// None while the coordinator's own part decides (running, or ended
    /// otherwise than completed) or when it wrote no plan.
    fn goal_verdict(&self, goal_id: &TaskId) -> Option<(TaskStatus, String, bool)> {
        let goal = self.tasks.get(goal_id)?;
        // A goal a person cancelled stays cancelled.
        if !goal.goal
            || goal.status == TaskStatus::Cancelled
            || goal
                .assignments
                .iter()
                .any(|a| a.status != AssignmentStatus::Completed)
        {
            return None;
        }
        let plan = self.plan_of_goal(goal_id)?;
        let n = plan.tasks.len();
        let mut done = 0;
        let mut broken = None;
        for e in &plan.tasks {
            match self
                .tasks
                .get(&e.task_id)
                .map(|t| (t.status, t.reason.clone()))
            {
                Some((TaskStatus::Completed, _)) => done += 1,
                Some((
                    s @ (TaskStatus::Failed | TaskStatus::Cancelled | TaskStatus::NeedsAttention),
                    why,
                )) => {
                    broken.get_or_insert_with(|| {
                        format!(
                            "plan task {} ({}) ended {}{}",
                            e.name,
                            e.task_id,
                            s.as_str(),
                            why.map(|w| format!(": {w}")).unwrap_or_default()
                        )
                    });
                }
                _ => {}
            }
        }
        let plan_id = &plan.id;
        let check = || {
            goal.assignments
                .iter()
                .filter_map(|a| a.worker_id.as_ref())
                .filter_map(|w| self.workers.get(w))
                .find_map(|w| w.verification.as_ref())
        };
        Some(match (broken, &plan.verify) {
            (Some(why), _) => (TaskStatus::NeedsAttention, why, false),
            (None, _) if plan.awaiting_confirmation => (
                TaskStatus::Running,
                format!("plan {plan_id} awaiting confirmation: `cortex plan confirm {plan_id}`"),
                false,
            ),
            (None, _) if done < n => (
                TaskStatus::Running,
                format!("plan {plan_id}: {done} of {n} tasks completed"),
                false,
            ),
            (None, None) => (
                TaskStatus::Completed,
                format!("all {n} tasks of plan {plan_id} completed"),
                false,
            ),
            (None, Some(cmd)) => match check().and_then(|v| v.passed.map(|p| (p, v))) {
                Some((true, _)) => (
                    TaskStatus::Completed,
                    format!(
                        "all {n} tasks of plan {plan_id} completed, verified: {cmd} passed on their merged work"
                    ),
                    false,
                ),
                Some((false, v)) => (
                    TaskStatus::NeedsAttention,
                    format!(
                        "all {n} tasks of plan {plan_id} completed, but the goal's check failed on their merged work: {cmd} {}",
                        v.reason.as_deref().unwrap_or("failed")
                    ),
                    false,
                ),
                None => (
                    TaskStatus::Running,
                    format!(
                        "all {n} tasks of plan {plan_id} completed; checking their merged work: {cmd}"
                    ),
                    true,
                ),
            },
        })
    }

    /// Goals whose plan's tasks all completed and whose own check has not
    /// ended: the owner runs (or re-adopts) that check.
    pub fn goals_to_check(&self) -> impl Iterator<Item = &TaskId> {
        self.goals_to_check.iter()
    }

    /// A routed task whose dependencies have not all completed waits
    /// (`blocked`), and goes back to `routed` once they have; one whose
    /// dependency ended failed, cancelled or needing attention can never
    /// start on a sound base, so it needs a person, and so do its own
    /// dependents.
    fn block_on_dependencies(&mut self, id: &TaskId, at: DateTime<Utc>) {
        let Some(t) = self.tasks.get(id) else {
            return;
        };
        if t.after.is_empty() || !matches!(t.status, TaskStatus::Routed | TaskStatus::Blocked) {
            return;
        }
        let mut pending = Vec::new();
        let mut broken = None;
        for d in &t.after {
            match self.tasks.get(d) {
                None => broken = Some(format!("dependency {d} is unknown")),
                Some(dt) => match dt.status {
                    TaskStatus::Completed => {}
                    TaskStatus::Failed | TaskStatus::Cancelled | TaskStatus::NeedsAttention => {
                        let why = dt
                            .reason
                            .as_deref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default();
                        broken = Some(format!("dependency {d} ended {}{why}", dt.status.as_str()));
                    }
                    _ => pending.push(d.to_string()),
                },
            }
            if broken.is_some() {
                break;
            }
        }
        let (status, reason) = match (broken, pending.is_empty()) {
            (Some(why), _) => (TaskStatus::NeedsAttention, Some(why)),
            (None, false) => (
                TaskStatus::Blocked,
                Some(format!("waiting for {} to complete", pending.join(", "))),
            ),
            (None, true) => (TaskStatus::Routed, None),
        };
        let Some(t) = self.tasks.get_mut(id) else {
            return;
        };
        if t.status == status && t.reason == reason {
            return;
        }
        t.status = status;
        t.reason = reason;
        t.updated_at = at;
        if status == TaskStatus::NeedsAttention {
            self.settle_dependents(id, at);
        }
    }

    /// Re-decides every task that depends on `id` (its status changed), and
    /// the goal of its plan.
    fn settle_dependents(&mut self, id: &TaskId, at: DateTime<Utc>) {
        let goal = self
            .tasks
            .get(id)
            .and_then(|t| t.plan_id.as_ref())
            .and_then(|p| self.plans.get(p))
            .and_then(|p| p.goal_task.clone());
        if let Some(g) = goal {
            self.refresh_goal(&g, at);
        }
        let dependents: Vec<TaskId> = self
            .tasks
            .values()
            .filter(|t| t.after.contains(id))
            .map(|t| t.id.clone())
            .collect();
        for d in dependents {
            self.block_on_dependencies(&d, at);
        }
    }

    /// The plan an inbox request submitted, if any.
    pub fn plan_for_request(&self, r: &RequestId) -> Option<&crate::plan::Plan> {
        self.plans
            .values()
            .find(|p| p.request_id.as_ref() == Some(r))
    }

    /// The plan a goal's coordinator wrote.
    pub fn plan_of_goal(&self, goal: &TaskId) -> Option<&crate::plan::Plan> {
        self.plans
            .values()
            .find(|p| p.goal_task.as_ref() == Some(goal))
    }

    /// The plan with this id.
    pub fn plan(&self, id: &crate::id::PlanId) -> Option<&crate::plan::Plan> {
        self.plans.get(id)
    }

    /// Every plan, oldest first (plan ids are time-ordered).
    pub fn plans(&self) -> impl DoubleEndedIterator<Item = &crate::plan::Plan> {
        self.plans.values()
    }

    /// A person answered an ended worker: it waits for its next attempt
    /// (due now), and its part and its task are live again.
    fn reopen(&mut self, worker_id: &WorkerId, text: &str, at: DateTime<Utc>) {
        let Some(w) = self.workers.get_mut(worker_id) else {
            self.ignored_events += 1;
            return;
        };
        w.status = WorkerStatus::Waiting;
        w.not_before = Some(at);
        w.reason = Some("a person replied; resuming the conversation".into());
        w.next_prompt = Some(text.to_string());
        w.stop = None;
        let task_id = w.task_id.clone();
        let Some(t) = self.tasks.get_mut(&task_id) else {
            return;
        };
        if let Some(a) = t
            .assignments
            .iter_mut()
            .find(|a| a.worker_id.as_ref() == Some(worker_id))
        {
            a.status = AssignmentStatus::Running;
        }
        t.status = TaskStatus::Running;
        t.reason = None;
        t.updated_at = at;
        self.live_fingerprints
            .entry(t.fingerprint.clone())
            .or_insert_with(|| task_id.clone());
    }

    pub fn worker(&self, id: &WorkerId) -> Option<&Worker> {
        self.workers.get(id)
    }

    pub fn workers(&self) -> impl Iterator<Item = &Worker> {
        self.workers.values()
    }

    /// Live tasks with an assignment no worker has taken yet, queue order.
    pub fn pending_assignments(&self) -> Vec<(&Task, &str)> {
        let mut tasks: Vec<&Task> = self
            .tasks
            .values()
            .filter(|t| {
                matches!(
                    t.status,
                    TaskStatus::Routed | TaskStatus::Running | TaskStatus::Waiting
                )
            })
            .collect();
        tasks.sort_by(|a, b| crate::task::queue_order(a, b));
        tasks
            .into_iter()
            .flat_map(|t| {
                t.assignments
                    .iter()
                    .filter(|a| a.worker_id.is_none() && a.status == AssignmentStatus::Pending)
                    .map(move |a| (t, a.expert.as_str()))
            })
            .collect()
    }

    /// The priority to raise a live task from when a duplicate submission
    /// asks for a more urgent one (`None`: nothing to change). A priority
    /// is never lowered this way, and an ended task keeps its own.
    pub fn priority_raise(&self, id: &TaskId, wanted: Priority) -> Option<Priority> {
        let t = self.tasks.get(id)?;
        (!t.status.is_terminal() && wanted < t.priority).then_some(t.priority)
    }

    /// Decides whether a submission creates a task or is answered by one.
    pub fn plan_submit(&self, sub: &ValidSubmission, request: Option<&RequestId>) -> SubmitPlan {
        let existing = |id: &TaskId| {
            self.tasks.get(id).map(|t| SubmitPlan::Existing {
                task_id: id.clone(),
                status: t.status,
            })
        };
        if let Some(plan) = request
            .and_then(|r| self.requests.get(r))
            .and_then(existing)
        {
            return plan;
        }
        if let Some(plan) = sub
            .key
            .as_ref()
            .and_then(|k| self.keys.get(k))
            .and_then(existing)
        {
            return plan;
        }
        let fp = fingerprint(
            &sub.description,
            sub.task_type.as_deref(),
            sub.workdir.as_deref(),
        );
        match self.live_fingerprints.get(&fp).and_then(existing) {
            Some(plan) => plan,
            None => SubmitPlan::New { fingerprint: fp },
        }
    }

    pub fn task(&self, id: &TaskId) -> Option<&Task> {
        self.tasks.get(id)
    }

    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.values()
    }

    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// Task count per status, every status present (zero included).
    pub fn counts_by_status(&self) -> BTreeMap<TaskStatus, usize> {
        let mut m: BTreeMap<TaskStatus, usize> = TaskStatus::ALL.iter().map(|s| (*s, 0)).collect();
        for t in self.tasks.values() {
            *m.entry(t.status).or_default() += 1;
        }
        m
    }
}

/// Builds a new task from a validated submission.
pub fn new_task(
    id: TaskId,
    sub: ValidSubmission,
    fingerprint: String,
    request_id: Option<RequestId>,
    now: DateTime<Utc>,
) -> Task {
    Task {
        id,
        description: sub.description,
        task_type: sub.task_type,
        priority: sub.priority,
        status: TaskStatus::Queued,
        workdir: sub.workdir,
        fingerprint,
        key: sub.key,
        request_id,
        created_at: now,
        updated_at: now,
        worktree: sub.worktree.then_some(true),
        reason: None,
        result: None,
        verify: sub.verify,
        after: Vec::new(),
        plan_id: None,
        goal: false,
        cost_usd: 0.0,
        routing: None,
        assignments: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn sub(text: &str, key: Option<&str>) -> ValidSubmission {
        ValidSubmission {
            description: text.into(),
            task_type: None,
            priority: Priority::Medium,
            key: key.map(Into::into),
            workdir: None,
            worktree: false,
            verify: None,
        }
    }

    fn submit(
        state: &mut State,
        n: u8,
        text: &str,
        key: Option<&str>,
        req: Option<RequestId>,
    ) -> SubmitPlan {
        let plan = state.plan_submit(&sub(text, key), req.as_ref());
        if let SubmitPlan::New { fingerprint } = &plan {
            let task = new_task(
                TaskId::new(u64::from(n), [n; 10]),
                sub(text, key),
                fingerprint.clone(),
                req,
                at(n.into()),
            );
            let seq = state.last_seq + 1;
            state.apply(&Record::new(
                seq,
                at(n.into()),
                Event::TaskSubmitted {
                    task: Box::new(task),
                },
            ));
        }
        plan
    }

    fn finish(state: &mut State, id: &TaskId, status: TaskStatus) {
        let seq = state.last_seq + 1;
        state.apply(&Record::new(
            seq,
            at(100),
            Event::TaskStatusChanged {
                task_id: id.clone(),
                status,
                reason: None,
            },
        ));
    }

    #[test]
    fn same_text_while_live_is_one_task_and_a_new_one_after_it_ends() {
        let mut s = State::default();
        assert!(matches!(
            submit(&mut s, 1, "fix login", None, None),
            SubmitPlan::New { .. }
        ));
        let again = submit(&mut s, 2, "Fix  LOGIN", None, None);
        let SubmitPlan::Existing { task_id, .. } = again else {
            panic!("expected dedup, got {again:?}")
        };
        assert_eq!(s.task_count(), 1);
        finish(&mut s, &task_id, TaskStatus::Completed);
        assert!(matches!(
            submit(&mut s, 3, "fix login", None, None),
            SubmitPlan::New { .. }
        ));
        assert_eq!(s.task_count(), 2);
    }

    #[test]
    fn a_key_dedups_even_after_completion_and_across_texts() {
        let mut s = State::default();
        submit(&mut s, 1, "nightly report", Some("k1"), None);
        let id = s.tasks().next().unwrap().id.clone();
        finish(&mut s, &id, TaskStatus::Completed);
        let plan = submit(&mut s, 2, "a different text", Some("k1"), None);
        assert_eq!(
            plan,
            SubmitPlan::Existing {
                task_id: id,
                status: TaskStatus::Completed
            }
        );
    }

    #[test]
    fn a_replayed_request_maps_to_its_task() {
        let mut s = State::default();
        let r = RequestId::new(9, [9; 10]);
        submit(&mut s, 1, "one", None, Some(r.clone()));
        let id = s.tasks().next().unwrap().id.clone();
        finish(&mut s, &id, TaskStatus::Cancelled);
        let plan = submit(&mut s, 2, "one", None, Some(r));
        assert!(matches!(plan, SubmitPlan::Existing { task_id, .. } if task_id == id));
        assert_eq!(s.task_count(), 1);
    }

    #[test]
    fn records_already_covered_are_skipped_and_unknown_tasks_counted() {
        let mut s = State::from_tasks(vec![], 10);
        let stale = Record::new(
            5,
            at(0),
            Event::TaskStatusChanged {
                task_id: TaskId::new(1, [1; 10]),
                status: TaskStatus::Failed,
                reason: None,
            },
        );
        s.apply(&stale);
        assert_eq!((s.last_seq, s.ignored_events), (10, 0));
        let unknown = Record { seq: 11, ..stale };
        s.apply(&unknown);
        assert_eq!((s.last_seq, s.ignored_events), (11, 1));
    }

    /// Applies an event as the next record.
    fn push(state: &mut State, event: Event) {
        let seq = state.last_seq + 1;
        state.apply(&Record::new(seq, at(i64::try_from(seq).unwrap()), event));
    }

    fn routed(state: &mut State, experts: &[&str]) -> TaskId {
        submit(state, 1, "audit and document", None, None);
        let id = state.tasks().next().unwrap().id.clone();
        push(
            state,
            Event::TaskRouted {
                task_id: id.clone(),
                routing: RoutingSummary {
                    primary_expert: experts[0].into(),
                    confidence: 0.9,
                    strategy: crate::router::Strategy::MultiExpertParallel,
                    method: crate::router::Method::Keywords,
                    needs_confirmation: false,
                    explanation: String::new(),
                },
                experts: experts.iter().map(|e| (*e).to_string()).collect(),
            },
        );
        id
    }

    fn worker(state: &mut State, task: &TaskId, n: u8, expert: &str) -> WorkerId {
        let id = WorkerId::new(u64::from(n), [n; 10]);
        push(
            state,
            Event::WorkerCreated {
                worker: Box::new(Worker::new(
                    id.clone(),
                    task.clone(),
                    expert,
                    "/w".into(),
                    at(0),
                )),
            },
        );
        id
    }

    fn end(state: &mut State, w: &WorkerId, status: WorkerStatus, reason: &str) {
        push(
            state,
            Event::WorkerEnded {
                worker_id: w.clone(),
                status,
                reason: reason.into(),
            },
        );
    }

    #[test]
    fn a_failed_task_gives_the_reason_of_its_failed_part_not_of_the_last_to_end() {
        let mut s = State::default();
        let id = routed(&mut s, &["security", "inventory"]);
        let a = worker(&mut s, &id, 10, "security");
        let b = worker(&mut s, &id, 11, "inventory");
        end(&mut s, &a, WorkerStatus::Failed, "cannot lock ref");
        end(&mut s, &b, WorkerStatus::Completed, "completed");
        let t = s.task(&id).unwrap();
        assert_eq!(t.status, TaskStatus::Failed);
        assert_eq!(t.reason.as_deref(), Some("security: cannot lock ref"));
    }

    #[test]
    fn a_single_part_keeps_its_own_reason_and_a_success_says_completed() {
        let mut s = State::default();
        let id = routed(&mut s, &["development"]);
        let a = worker(&mut s, &id, 10, "development");
        end(&mut s, &a, WorkerStatus::Failed, "crashed (exit 3)");
        assert_eq!(
            s.task(&id).unwrap().reason.as_deref(),
            Some("crashed (exit 3)")
        );
        let mut s = State::default();
        let id = routed(&mut s, &["security", "inventory"]);
        let a = worker(&mut s, &id, 10, "security");
        let b = worker(&mut s, &id, 11, "inventory");
        end(&mut s, &b, WorkerStatus::Completed, "completed");
        end(&mut s, &a, WorkerStatus::Completed, "completed");
        let t = s.task(&id).unwrap();
        assert_eq!(
            (t.status, t.reason.as_deref()),
            (TaskStatus::Completed, Some("completed"))
        );
    }

    fn set_status(state: &mut State, id: &TaskId, status: TaskStatus, reason: Option<&str>) {
        push(
            state,
            Event::TaskStatusChanged {
                task_id: id.clone(),
                status,
                reason: reason.map(Into::into),
            },
        );
    }

    #[test]
    fn a_workers_git_base_is_recorded_and_round_trips() {
        let mut s = State::default();
        let id = routed(&mut s, &["development"]);
        let w = worker(&mut s, &id, 10, "development");
        let event = Event::WorkerBase {
            worker_id: w.clone(),
            repo: "/r".into(),
            commit: "abc".into(),
            branch: Some("main".into()),
            worktree_branch: None,
        };
        let line = serde_json::to_string(&Record::new(99, at(0), event.clone())).unwrap();
        assert!(line.contains(r#""kind":"worker_base""#), "{line}");
        assert!(!line.contains("worktree_branch"), "{line}");
        push(&mut s, event);
        let base = s.worker(&w).unwrap().base.clone().unwrap();
        assert_eq!(
            (base.commit.as_str(), base.branch.as_deref()),
            ("abc", Some("main"))
        );
    }

    #[test]
    fn a_held_task_is_not_scheduled_until_let_go_and_then_says_no_stale_reason() {
        let mut s = State::default();
        let id = routed(&mut s, &["development"]);
        set_status(
            &mut s,
            &id,
            TaskStatus::AwaitingConfirmation,
            Some("unsure"),
        );
        assert!(s.pending_assignments().is_empty(), "held");
        assert_eq!(s.task(&id).unwrap().reason.as_deref(), Some("unsure"));
        set_status(&mut s, &id, TaskStatus::Routed, None);
        assert_eq!(s.pending_assignments().len(), 1);
        assert_eq!(s.task(&id).unwrap().reason, None);
        // A task waiting on its expert's circuit breaker is still scheduled
        // (the engine skips it while the expert is paused).
        set_status(&mut s, &id, TaskStatus::Waiting, Some("paused"));
        assert_eq!(s.pending_assignments().len(), 1);
        worker(&mut s, &id, 10, "development");
        let t = s.task(&id).unwrap();
        assert_eq!((t.status, t.reason.as_deref()), (TaskStatus::Running, None));
        assert_eq!(
            serde_json::to_string(&TaskStatus::AwaitingConfirmation).unwrap(),
            "\"awaiting_confirmation\""
        );
    }

    #[test]
    fn a_duplicate_raises_a_live_tasks_priority_but_never_lowers_it() {
        let mut s = State::default();
        submit(&mut s, 1, "fix login", None, None);
        let id = s.tasks().next().unwrap().id.clone();
        assert_eq!(s.priority_raise(&id, Priority::Low), None);
        assert_eq!(s.priority_raise(&id, Priority::Medium), None);
        assert_eq!(
            s.priority_raise(&id, Priority::High),
            Some(Priority::Medium)
        );
        push(
            &mut s,
            Event::TaskPriorityChanged {
                task_id: id.clone(),
                priority: Priority::High,
            },
        );
        assert_eq!(s.task(&id).unwrap().priority, Priority::High);
        finish(&mut s, &id, TaskStatus::Completed);
        assert_eq!(
            s.priority_raise(&id, Priority::Critical),
            None,
            "an ended task keeps its priority"
        );
    }

    #[test]
    fn records_round_trip_through_json_with_a_version() {
        let r = Record::new(
            3,
            at(1),
            Event::TaskStatusChanged {
                task_id: TaskId::new(1, [1; 10]),
                status: TaskStatus::Cancelled,
                reason: Some("by person".into()),
            },
        );
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.starts_with(r#"{"v":1,"seq":3,"#), "{line}");
        assert!(line.contains(r#""kind":"task_status_changed""#));
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), r);
    }

    /// A plan of tasks `a -> b -> c` (and `d` after `a`), all for `development`.
    fn chain(state: &mut State) -> Vec<TaskId> {
        chain_of(state, None, None)
    }

    /// Four tasks, a -> b -> c and a -> d, as a plan (of `goal`, with the
    /// goal's check `verify`).
    fn chain_of(state: &mut State, goal: Option<TaskId>, verify: Option<&str>) -> Vec<TaskId> {
        let ids: Vec<TaskId> = (10u8..14)
            .map(|n| TaskId::new(u64::from(n), [n; 10]))
            .collect();
        let after = [vec![], vec![0], vec![1], vec![0]];
        let tasks = ids
            .iter()
            .zip(after)
            .enumerate()
            .map(|(i, (id, deps))| {
                let mut t = new_task(
                    id.clone(),
                    sub(&format!("step {i}"), None),
                    format!("fp{i}"),
                    None,
                    at(0),
                );
                t.after = deps.iter().map(|d: &usize| ids[*d].clone()).collect();
                crate::plan::PlannedTask {
                    task: t,
                    routing: RoutingSummary {
                        primary_expert: "development".into(),
                        confidence: 1.0,
                        strategy: crate::router::Strategy::SingleExpert,
                        method: crate::router::Method::Person,
                        needs_confirmation: false,
                        explanation: String::new(),
                    },
                    experts: vec!["development".into()],
                }
            })
            .collect();
        let plan = crate::plan::Plan {
            id: crate::id::PlanId::new(1, [1; 10]),
            goal: "g".into(),
            goal_task: goal,
            created_at: at(0),
            tasks: ids
                .iter()
                .enumerate()
                .map(|(i, id)| crate::plan::PlanEntry {
                    name: format!("s{i}"),
                    task_id: id.clone(),
                })
                .collect(),
            awaiting_confirmation: false,
            request_id: None,
            verify: verify.map(str::to_string),
        };
        push(state, Event::PlanSubmitted { plan, tasks });
        ids
    }

    fn status_of(state: &State, id: &TaskId) -> TaskStatus {
        state.task(id).unwrap().status
    }

    #[test]
    fn a_dependent_waits_for_its_dependency_and_starts_when_it_completes() {
        let mut s = State::default();
        let ids = chain(&mut s);
        assert_eq!(
            ids.iter().map(|i| status_of(&s, i)).collect::<Vec<_>>(),
            [
                TaskStatus::Routed,
                TaskStatus::Blocked,
                TaskStatus::Blocked,
                TaskStatus::Blocked
            ]
        );
        let pending: Vec<&str> = s
            .pending_assignments()
            .iter()
            .map(|(t, _)| t.description.as_str())
            .collect();
        assert_eq!(pending, ["step 0"], "only the free task may start");
        let w = worker(&mut s, &ids[0], 1, "development");
        end(&mut s, &w, WorkerStatus::Completed, "completed");
        assert_eq!(status_of(&s, &ids[1]), TaskStatus::Routed);
        assert_eq!(status_of(&s, &ids[3]), TaskStatus::Routed);
        assert_eq!(status_of(&s, &ids[2]), TaskStatus::Blocked, "still after b");
        assert!(s
            .task(&ids[2])
            .unwrap()
            .reason
            .as_deref()
            .unwrap()
            .contains(ids[1].as_str()));
    }

    #[test]
    fn a_failed_dependency_puts_every_task_behind_it_in_needs_attention() {
        let mut s = State::default();
        let ids = chain(&mut s);
        let w = worker(&mut s, &ids[0], 1, "development");
        end(&mut s, &w, WorkerStatus::Completed, "completed");
        let w = worker(&mut s, &ids[1], 2, "development");
        end(&mut s, &w, WorkerStatus::Failed, "exited with 3");
        let c = s.task(&ids[2]).unwrap();
        assert_eq!(c.status, TaskStatus::NeedsAttention);
        let why = c.reason.as_deref().unwrap();
        assert!(
            why.contains(ids[1].as_str())
                && why.contains("failed")
                && why.contains("exited with 3"),
            "{why}"
        );
        assert!(
            s.pending_assignments().iter().all(|(t, _)| t.id != ids[2]),
            "never starts"
        );
        assert_eq!(
            status_of(&s, &ids[3]),
            TaskStatus::Routed,
            "other branches go on"
        );
    }

    /// A goal whose coordinator wrote a plan (`chain_of`) with the goal's
    /// check `make test`: the state, the goal, its coordinator, the tasks.
    fn goal_with_plan() -> (State, TaskId, WorkerId, Vec<TaskId>) {
        let mut s = State::default();
        let goal = routed(&mut s, &["coordinator"]);
        s.tasks.get_mut(&goal).unwrap().goal = true;
        let coordinator = worker(&mut s, &goal, 50, "coordinator");
        // As the engine does: the plan first, then the coordinator's end.
        let ids = chain_of(&mut s, Some(goal.clone()), Some("make test"));
        end(
            &mut s,
            &coordinator,
            WorkerStatus::Completed,
            "plan submitted",
        );
        (s, goal, coordinator, ids)
    }

    #[test]
    fn a_goal_with_a_check_completes_only_when_it_passes_on_the_merged_work() {
        let (mut s, goal, coordinator, ids) = goal_with_plan();
        assert_eq!(status_of(&s, &goal), TaskStatus::Running);
        for (n, id) in (60u8..).zip(&ids) {
            let w = worker(&mut s, id, n, "development");
            end(&mut s, &w, WorkerStatus::Completed, "completed");
        }
        let g = s.task(&goal).unwrap();
        assert_eq!(g.status, TaskStatus::Running, "its check is due");
        assert!(
            g.reason
                .as_deref()
                .unwrap()
                .contains("checking their merged work: make test"),
            "{g:?}"
        );
        assert_eq!(s.goals_to_check().collect::<Vec<_>>(), [&goal]);
        // A state rebuilt from snapshots knows the check is due too.
        let rebuilt = State::from_parts(
            s.tasks().cloned().collect(),
            s.workers().cloned().collect(),
            s.plans.values().cloned().collect(),
            false,
            s.last_seq,
        );
        assert_eq!(rebuilt.goals_to_check().collect::<Vec<_>>(), [&goal]);
        let check = |passed: bool, reason: &str| {
            let mut s = s.clone();
            push(
                &mut s,
                Event::VerifyStarted {
                    worker_id: coordinator.clone(),
                    attempt: 1,
                    round: 1,
                    command: "make test".into(),
                    pid: Some(7),
                    start_ticks: None,
                },
            );
            assert_eq!(status_of(&s, &goal), TaskStatus::Running);
            push(
                &mut s,
                Event::VerifyEnded {
                    worker_id: coordinator.clone(),
                    round: 1,
                    passed,
                    exit_code: Some(i32::from(!passed)),
                    output_tail: None,
                    reason: reason.into(),
                },
            );
            assert_eq!(s.goals_to_check().count(), 0, "no longer due");
            s.task(&goal).unwrap().clone()
        };
        let g = check(true, "passed");
        assert_eq!(g.status, TaskStatus::Completed);
        assert!(g
            .reason
            .as_deref()
            .unwrap()
            .contains("verified: make test passed"));
        let g = check(false, "exited 1");
        assert_eq!(g.status, TaskStatus::NeedsAttention);
        assert!(
            g.reason
                .as_deref()
                .unwrap()
                .contains("the goal's check failed on their merged work: make test exited 1"),
            "{g:?}"
        );
    }

    #[test]
    fn a_goal_names_the_plan_task_that_failed_and_runs_no_check() {
        let (mut s, goal, _, ids) = goal_with_plan();
        let w = worker(&mut s, &ids[0], 60, "development");
        end(&mut s, &w, WorkerStatus::Failed, "exited with 3");
        let g = s.task(&goal).unwrap();
        assert_eq!(g.status, TaskStatus::NeedsAttention);
        let why = g.reason.as_deref().unwrap();
        assert!(
            why.contains("plan task s0") && why.contains("exited with 3"),
            "{why}"
        );
        assert_eq!(s.goals_to_check().count(), 0);
    }
}
