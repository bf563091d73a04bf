//! The fold of one record into the state (`State::apply`): every event's
//! effect on tasks, workers and plans, and the end of a worker carried to
//! its assignment and task. Total: an event about something unknown is
//! counted, never a panic.
//!
//! May depend on: the state and its records (`super`), the plan and
//! dependency rules (`super::plans`), task, worker.

use chrono::{DateTime, Utc};

use crate::id::{TaskId, WorkerId};
use crate::task::{Assignment, AssignmentStatus, TaskStatus};
use crate::worker::{AfterStop, Attempt, WorkerStatus};

use super::{pending_parts, Event, Record, State};

impl State {
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
                // A person's reply waits as the next prompt; a restart or
                // nudge of a running attempt (a person's, or the PM's nudge)
                // is the only stop whose next attempt starts at once; a
                // person's restart of a waiting worker is asked first.
                let on_request = *attempt > 1
                    && (w.next_prompt.is_some()
                        || w.restart_asked
                        || w.stop
                            .as_ref()
                            .is_some_and(|s| s.then == Some(AfterStop::Restart))
                        // Resumed once the account's usage limit reset.
                        || w.current()
                            .and_then(|a| a.outcome.as_ref())
                            .is_some_and(|o| o.resets_at.is_some()));
                let unanswered = w.status == WorkerStatus::Waiting
                    && w.reason.as_deref().is_some_and(|r| {
                        crate::worker::unheld(r).ends_with(crate::worker::UNANSWERED_START)
                    });
                if unanswered {
                    // The start the cluster did not answer was taken now:
                    // what is still true is why the last attempt ended.
                    w.reason = w
                        .attempts
                        .iter()
                        .rev()
                        .find_map(|a| a.outcome.as_ref().map(|o| o.reason.clone()));
                }
                w.attempts.push(Attempt {
                    start_ticks: *start_ticks,
                    session_id: session_id.clone(),
                    resumed: *resumed,
                    on_request,
                    ..Attempt::started(*attempt, rec.at, *pid)
                });
                if session_id.is_some() {
                    w.session_id.clone_from(session_id);
                }
                w.status = WorkerStatus::Running;
                w.not_before = None;
                w.stop = None;
                w.next_prompt = None;
                w.restart_asked = false;
            }
            Event::AttemptRunning {
                worker_id,
                attempt,
                left_at,
            } => {
                let a = self
                    .workers
                    .get_mut(worker_id)
                    .and_then(|w| w.attempts.iter_mut().find(|a| a.n == *attempt))
                    .filter(|a| a.is_live() && a.running_at.is_none());
                match a {
                    Some(a) => {
                        let left = left_at.map_or(rec.at, |t| t.min(rec.at));
                        a.running_at = Some(left.max(a.started_at));
                    }
                    None => self.ignored_events += 1,
                }
            }
            Event::AttemptSuspended {
                worker_id,
                attempt,
                suspended,
            } => {
                let a = self
                    .workers
                    .get_mut(worker_id)
                    .and_then(|w| w.attempts.iter_mut().find(|a| a.n == *attempt))
                    .filter(|a| a.is_live() && a.suspended_at.is_some() != *suspended);
                match a {
                    Some(a) if *suspended => a.suspended_at = Some(rec.at),
                    Some(a) => {
                        a.suspended_at = None;
                        a.unsuspended_at = Some(rec.at);
                    }
                    None => self.ignored_events += 1,
                }
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
                // The end of an attempt whose start record was lost (a cut
                // journal line): its cost and tokens are still what it
                // used, so it is kept, its start taken as its end.
                if w.attempts.last().is_none_or(|a| a.n < *attempt) {
                    w.attempts
                        .push(crate::worker::Attempt::started(*attempt, rec.at, None));
                }
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
                // Found ended after no owner watched: it ran until its last
                // sign of life (never before its start nor after the record).
                a.ended_at = Some(
                    outcome
                        .last_seen_at
                        .map_or(rec.at, |t| t.min(rec.at).max(a.started_at)),
                );
                a.outcome = Some(outcome.clone());
                if outcome.never_ran {
                    // Its session was never made: the conversation to go
                    // on with is the latest one an attempt that ran had.
                    w.session_id = w
                        .attempts
                        .iter()
                        .rev()
                        .filter(|a| a.outcome.as_ref().is_none_or(|o| !o.never_ran))
                        .find_map(|a| a.session_id.clone());
                }
                w.cost_usd += outcome.cost_usd;
                w.tokens = w.tokens.saturating_add(outcome.tokens);
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
                    t.cost_estimated |= outcome.cost_estimated;
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
            Event::WorkerRestartAsked { worker_id, reason } => {
                match self.workers.get_mut(worker_id) {
                    Some(w) if w.status == WorkerStatus::Waiting => {
                        w.not_before = Some(rec.at);
                        w.reason = Some(reason.clone());
                        w.restart_asked = true;
                    }
                    _ => self.ignored_events += 1,
                }
            }
            Event::TimeWarningsChanged {
                worker_id,
                warnings,
            } => match self.workers.get_mut(worker_id) {
                Some(w) => w.time_warnings = Some(warnings.clone()),
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
        w.restart_asked = false;
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
        // The tasks that waited on it and were given up with it wait again.
        self.settle_dependents(&task_id, at);
    }
}
