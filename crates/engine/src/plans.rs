//! Tasks that depend on each other, and plans: a goal split into such
//! tasks, submitted whole (one journal record) or not at all. Which task
//! may start is the state's business (`cortex_core::state`: `blocked`
//! until its dependencies completed, `needs_attention` when one can no
//! longer); this module validates, routes and journals, and shows a plan.
//! A goal's coordinator answering with a plan, and the goal's work merged
//! for its check, are `goals`.

use chrono::{DateTime, Utc};
use cortex_core::id::{PlanId, TaskId};
use cortex_core::plan::Plan;
use cortex_core::state::State;
use cortex_core::task::TaskStatus;
use serde::{Deserialize, Serialize};

use crate::dto::TaskDto;

/// What `cortex plan merge` did: the tasks merged, in dependency order, and
/// where it stopped, if it did (nothing after that was touched).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanMergeDto {
    /// The plan merged.
    pub plan_id: PlanId,
    /// The tasks merged, in the order they were merged.
    pub merged: Vec<PlanMergedTask>,
    /// The task it stopped at, and why; None when every task was merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<PlanMergeStop>,
}

/// One task of a plan that `cortex plan merge` merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanMergedTask {
    /// The task's name within the plan.
    pub name: String,
    /// What its merge did, as `cortex merge` reports it.
    pub merge: crate::review::MergeDto,
}

/// The task a plan merge stopped at; it and every task after it are untouched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanMergeStop {
    /// The task's name within the plan.
    pub name: String,
    /// The task's id.
    pub task_id: TaskId,
    /// Why it could not be merged (not completed, a conflict...).
    pub reason: String,
}

/// Where a plan comes from and how it runs.
#[derive(Debug, Default)]
pub(crate) struct PlanOrigin<'a> {
    /// Folder every task works in.
    pub(crate) workdir: Option<&'a str>,
    pub(crate) worktree: bool,
    /// The goal whose coordinator wrote the plan.
    pub(crate) goal_task: Option<TaskId>,
    /// Held for a person's confirmation.
    pub(crate) held: bool,
    /// The inbox request that submitted it.
    pub(crate) request: Option<&'a cortex_core::id::RequestId>,
    /// The goal's own check, run on the plan's merged work at the end.
    pub(crate) verify: Option<String>,
}

/// The expert that splits goals into plans.
pub const COORDINATOR: &str = "coordinator";

/// What a goal's prompt asks of the coordinator.
pub const PLAN_REQUEST: &str = "Do not do the work yourself: split this goal into a plan of tasks for other agents. \
Your final answer must be only a JSON object: {\"goal\": \"...\", \"tasks\": [{\"name\": \"short-name\", \
\"description\": \"what the agent must do\", \"expert\": \"development|security|inventory|cicd\" (optional), \
\"verify\": \"a shell command that checks the work\" (optional), \"after\": [\"names of tasks that must finish first\"]}]}. \
Names are lowercase letters, digits, - or _, and unique; at most 100 tasks; no cycles.";

/// The answer to a plan's submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanAck {
    /// The new plan's id.
    pub plan_id: PlanId,
    /// True when the plan is held until a person confirms it (`cortex plan confirm`).
    pub awaiting_confirmation: bool,
    /// The plan's tasks, in dependency order.
    pub tasks: Vec<PlanAckTask>,
}

/// One task of a submitted plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanAckTask {
    /// The task's name within the plan.
    pub name: String,
    /// The task's id.
    pub task_id: TaskId,
    /// The task's status once submitted.
    pub status: TaskStatus,
    /// The experts it was routed to.
    pub experts: Vec<String>,
}

/// A plan as `cortex plan show` and the app show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanView {
    /// The plan's id.
    pub id: PlanId,
    /// The goal the plan was made for (redacted).
    pub goal: String,
    /// The goal task whose coordinator wrote the plan; None for a plan submitted whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal_task: Option<TaskId>,
    /// The goal task's own status and why (redacted): a goal whose check of
    /// the merged work failed says so, whatever its plan's tasks say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal_status: Option<TaskStatus>,
    /// Why the goal task is where it is (redacted), when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal_reason: Option<String>,
    /// True while the plan is held until a person confirms it.
    pub awaiting_confirmation: bool,
    /// When the plan was submitted.
    pub created_at: DateTime<Utc>,
    /// Tasks in dependency order.
    pub tasks: Vec<PlanViewTask>,
    /// Counts of the tasks by status.
    pub counts: std::collections::BTreeMap<String, usize>,
    /// What its tasks cost so far, in US dollars, their running attempts
    /// included as `cortex tasks` counts them.
    pub cost_usd: f64,
    /// True when some of `cost_usd` is Cortex's estimate.
    #[serde(default)]
    pub cost_estimated: bool,
    /// From the plan's submission to now while it is not over (held for
    /// confirmation, or a task not completed, failed or cancelled: one that
    /// waits for a person counts), else to its last task's last change.
    pub elapsed_secs: i64,
}

/// One task of a plan, as `PlanView` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanViewTask {
    /// The task's name within the plan.
    pub name: String,
    /// Names of the tasks it depends on.
    pub after: Vec<String>,
    /// Of those, the ones not completed yet.
    pub blocked_on: Vec<String>,
    /// The task itself, as `cortex tasks` shows it.
    pub task: TaskDto,
}

/// The answer for a journaled plan.
pub(crate) fn ack_of(state: &State, plan: &Plan) -> PlanAck {
    PlanAck {
        plan_id: plan.id.clone(),
        awaiting_confirmation: plan.awaiting_confirmation,
        tasks: plan
            .tasks
            .iter()
            .filter_map(|e| {
                let t = state.task(&e.task_id)?;
                Some(PlanAckTask {
                    name: e.name.clone(),
                    task_id: t.id.clone(),
                    status: t.status,
                    experts: t.assignments.iter().map(|a| a.expert.clone()).collect(),
                })
            })
            .collect(),
    }
}

/// Every plan, newest first, each as `plan_view` builds it: the app's
/// Plans page and `cortex plan list`.
pub fn plan_views(
    state: &State,
    live: &crate::dto::LiveFigures,
    now: DateTime<Utc>,
) -> Vec<PlanView> {
    let costs = crate::dto::costs_so_far(state, live);
    state
        .plans()
        .rev()
        .filter_map(|p| view_of(state, &p.id, &costs, now))
        .collect()
}

/// Builds the view of a plan from the state, its tasks' costs with their
/// running attempts' figures so far (`live`).
pub fn plan_view(
    state: &State,
    id: &PlanId,
    live: &crate::dto::LiveFigures,
    now: DateTime<Utc>,
) -> Option<PlanView> {
    view_of(state, id, &crate::dto::costs_so_far(state, live), now)
}

fn view_of(
    state: &State,
    id: &PlanId,
    costs: &std::collections::BTreeMap<TaskId, crate::dto::RunningCost>,
    now: DateTime<Utc>,
) -> Option<PlanView> {
    let plan = state.plan(id)?;
    let goal = plan.goal_task.as_ref().and_then(|g| state.task(g));
    let name_of = |tid: &TaskId| {
        plan.tasks
            .iter()
            .find(|e| &e.task_id == tid)
            .map_or_else(|| tid.to_string(), |e| e.name.clone())
    };
    let mut counts = std::collections::BTreeMap::new();
    let mut cost = 0.0;
    let mut estimated = false;
    let mut last = plan.created_at;
    let tasks = plan
        .tasks
        .iter()
        .filter_map(|e| {
            let t = state.task(&e.task_id)?;
            *counts.entry(t.status.as_str().to_string()).or_default() += 1;
            let mut task = TaskDto::from(t);
            task.add_running(costs.get(&t.id));
            cost += task.cost_usd;
            estimated |= task.cost_estimated;
            last = last.max(t.updated_at);
            let blocked_on = t
                .after
                .iter()
                .filter(|d| {
                    state
                        .task(d)
                        .is_none_or(|dt| dt.status != TaskStatus::Completed)
                })
                .map(name_of)
                .collect();
            Some(PlanViewTask {
                name: e.name.clone(),
                after: t.after.iter().map(name_of).collect(),
                blocked_on,
                task,
            })
        })
        .collect();
    // Held while a task of it still waits for the confirmation (not once
    // they all ended: a goal cancelled with its plan).
    let held = state.plan_awaits_confirmation(&plan.id);
    Some(PlanView {
        id: plan.id.clone(),
        goal: cortex_core::redact::redact(&plan.goal),
        goal_task: plan.goal_task.clone(),
        goal_status: goal.map(|g| g.status),
        goal_reason: goal
            .and_then(|g| g.reason.as_deref())
            .map(cortex_core::redact::redact),
        awaiting_confirmation: held,
        created_at: plan.created_at,
        tasks,
        counts,
        cost_usd: cost,
        cost_estimated: estimated,
        // A plan still under way (held for a person, or with a task not
        // ended) is elapsing now, not at its last change.
        elapsed_secs: {
            let under_way = held
                || plan.tasks.iter().any(|e| {
                    state
                        .task(&e.task_id)
                        .is_some_and(|t| !t.status.is_terminal())
                });
            let end = if under_way { now.max(last) } else { last };
            (end - plan.created_at).num_seconds()
        },
    })
}
