//! Plans, goals and dependencies in the state: a plan's tasks added (held
//! for confirmation or free to start), a task blocked until its
//! dependencies complete, a goal's status decided by its plan's tasks and
//! its own check, and the plan lookups.
//!
//! May depend on: the state (`super`), task, plan.

use chrono::{DateTime, Utc};

use crate::id::{RequestId, TaskId};
use crate::task::{AssignmentStatus, TaskStatus};

use super::{pending_parts, State};

impl State {
    /// Adds a plan's routed tasks: held for confirmation, or free to start
    /// as their dependencies allow.
    pub(super) fn insert_planned(
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
    pub(super) fn refresh_goal(&mut self, goal_id: &TaskId, at: DateTime<Utc>) {
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
    pub(super) fn goal_verdict(&self, goal_id: &TaskId) -> Option<(TaskStatus, String, bool)> {
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
                Some((false, v)) => {
                    // A check that never ran, or that a person stopped, did
                    // not fail: said as what happened.
                    let why = v.reason.as_deref().unwrap_or("failed");
                    let what = match v.ended_as() {
                        "not_run" => "the goal's check could not be run on their merged work",
                        "stopped" => "the goal's check of their merged work was stopped",
                        _ => "the goal's check failed on their merged work",
                    };
                    (
                        TaskStatus::NeedsAttention,
                        format!("all {n} tasks of plan {plan_id} completed, but {what}: {cmd} {why}"),
                        false,
                    )
                }
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
    pub(super) fn block_on_dependencies(&mut self, id: &TaskId, at: DateTime<Utc>) {
        let Some(t) = self.tasks.get(id) else {
            return;
        };
        // A task this rule put in needs_attention (its dependency ended
        // badly, it never started) is decided again: a person's reply may
        // have revived that dependency.
        let held_by_dependency = t.status == TaskStatus::NeedsAttention
            && t.assignments.iter().all(|a| a.worker_id.is_none())
            && t.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("dependency "));
        // Held for a person's confirmation: what it waits for is decided
        // when it is let go, but a dependency that ended badly means it
        // can never start, which the person is told instead.
        let awaiting = t.status == TaskStatus::AwaitingConfirmation;
        if t.after.is_empty()
            || !(matches!(t.status, TaskStatus::Routed | TaskStatus::Blocked)
                || held_by_dependency
                || awaiting)
        {
            return;
        }
        let was = t.status;
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
        if awaiting && status != TaskStatus::NeedsAttention {
            return;
        }
        let Some(t) = self.tasks.get_mut(id) else {
            return;
        };
        if t.status == status && t.reason == reason {
            return;
        }
        t.status = status;
        t.reason = reason;
        t.updated_at = at;
        if status == TaskStatus::NeedsAttention || was == TaskStatus::NeedsAttention {
            self.settle_dependents(id, at);
        }
    }

    /// Re-decides every task that depends on `id` (its status changed), and
    /// the goal of its plan.
    pub(super) fn settle_dependents(&mut self, id: &TaskId, at: DateTime<Utc>) {
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

    /// True while a plan is held for a person's confirmation and a task of
    /// it still waits for that (not once they all ended: a goal cancelled
    /// with its plan). What every view and control says of a held plan.
    pub fn plan_awaits_confirmation(&self, id: &crate::id::PlanId) -> bool {
        self.plans.get(id).is_some_and(|p| {
            p.awaiting_confirmation
                && p.tasks.iter().any(|e| {
                    self.tasks
                        .get(&e.task_id)
                        .is_some_and(|t| t.status == TaskStatus::AwaitingConfirmation)
                })
        })
    }

    /// Every plan, oldest first (plan ids are time-ordered).
    pub fn plans(&self) -> impl DoubleEndedIterator<Item = &crate::plan::Plan> {
        self.plans.values()
    }
}
