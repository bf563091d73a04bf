//! Goals as the engine runs them: a goal's check on the merged work, and its state.
//!
//! May depend on: the plan types (`crate::plans`), verification, the store.

use crate::engine::Engine;
use crate::error::EngineError;
use crate::plans::PlanOrigin;
use chrono::{DateTime, Utc};
use cortex_core::id::TaskId;
use std::path::PathBuf;
use tracing::info;

impl Engine {
    /// A goal's coordinator finished: its answer must be a plan. A valid
    /// one is submitted as the goal's tasks (held for a person with
    /// `routing.confirm_plans`); an invalid one is sent back once with what
    /// is wrong, and then the goal needs a person.
    pub(crate) fn goal_answered(
        &self,
        w: &cortex_core::worker::Worker,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        use cortex_core::worker::WorkerStatus;
        let task = self.store().state().task(&w.task_id).cloned();
        let Some(task) = task else {
            return self.end_worker(w, WorkerStatus::Failed, "its task is gone", now);
        };
        let answer = w.result.clone().unwrap_or_default();
        let held = self.config().routing.confirm_plans;
        let verify = self.check_for(w);
        let submitted = cortex_core::plan::plan_in_text(&answer)
            .map_err(EngineError::BadValue)
            .and_then(|spec| {
                let mut store = self.store();
                let origin = PlanOrigin {
                    workdir: task.workdir.as_deref(),
                    worktree: task.worktree == Some(true),
                    goal_task: Some(task.id.clone()),
                    held,
                    request: None,
                    verify: verify.clone(),
                };
                let ack = self.stage_plan(&mut store, &spec, &origin, now)?;
                store.sync()?;
                Ok(ack)
            });
        match submitted {
            Ok(ack) => {
                info!(task_id = %task.id, plan_id = %ack.plan_id, tasks = ack.tasks.len(), "the coordinator's plan was submitted");
                self.emit_plan_tasks(&ack.plan_id);
                // What the worker did, which stays true: whether its plan
                // waits for a person, or was edited, is the plan's to say
                // (`cortex plan show`), as it is now.
                self.end_worker(
                    w,
                    WorkerStatus::Completed,
                    &format!(
                        "wrote plan {} ({} tasks as written)",
                        ack.plan_id,
                        ack.tasks.len()
                    ),
                    now,
                )
            }
            Err(e) => {
                let answered_before = w
                    .attempts
                    .iter()
                    .filter(|a| {
                        a.outcome
                            .as_ref()
                            .is_some_and(|o| o.kind == cortex_core::stream::OutcomeKind::Success)
                    })
                    .count();
                let why = e.to_string();
                if answered_before <= 1 {
                    let prompt = format!(
                        "Your answer was not a valid plan: {why}. Answer again with the corrected plan, as the JSON object only."
                    );
                    self.runtime().pending_prompts.insert(w.id.clone(), prompt);
                    self.store().sync()?;
                    self.start_attempt(w, Some("the plan was not valid".into()), now)
                } else {
                    self.end_worker(
                        w,
                        WorkerStatus::NeedsAttention,
                        &format!("the coordinator's plan is not valid: {why}"),
                        now,
                    )
                }
            }
        }
    }

    /// Where a goal's check runs: the work of its plan's tasks merged in
    /// dependency order onto their base branch (as `plan merge` would
    /// merge it), in a worktree of its own, `<goal>-plan` on branch
    /// `cortex/<goal>-plan`; the goal's own folder when its tasks ran in
    /// place (their work is all there). An error naming the task whose
    /// work cannot be merged.
    pub(crate) fn plan_merged_work(&self, goal_id: &TaskId) -> Result<PathBuf, String> {
        let home = &self.inner.home;
        let (parts, base, workdir) = {
            let store = self.store();
            let state = store.state();
            let goal = state
                .task(goal_id)
                .ok_or_else(|| format!("the goal {goal_id} is gone"))?;
            let plan = state
                .plan_of_goal(goal_id)
                .ok_or_else(|| format!("the goal {goal_id} has no plan"))?;
            let mut parts = Vec::new();
            let mut base = None;
            for e in &plan.tasks {
                let done = state.workers().filter(|w| {
                    w.task_id == e.task_id
                        && w.status == cortex_core::worker::WorkerStatus::Completed
                });
                for w in done {
                    let dir = PathBuf::from(&w.workdir);
                    if crate::worktree::name_of(home, &dir).is_none() {
                        continue;
                    }
                    // A removed worktree's work is on the branch Cortex kept.
                    let Some(work) = crate::review::work_of(home, w) else {
                        return Err(format!(
                            "the worktree of plan task {} ({}) is not there, nor its branch: {}",
                            e.name,
                            e.task_id,
                            dir.display()
                        ));
                    };
                    if base.is_none() {
                        base = w.base.clone();
                    }
                    parts.push((format!("plan task {} ({})", e.name, e.task_id), work));
                }
            }
            (parts, base, goal.workdir.clone())
        };
        if parts.is_empty() {
            return Ok(PathBuf::from(workdir.unwrap_or_else(|| "/".into())));
        }
        let base = base.ok_or("no base commit was recorded for the plan's work")?;
        let name = crate::worktree::name_for(goal_id.as_str(), "plan");
        let path = crate::worktree::path_for(home, &name);
        if path.join(".git").exists() {
            return Ok(path); // merged before the owner restarted
        }
        let repo = PathBuf::from(&base.repo);
        let start = base
            .branch
            .as_deref()
            .and_then(|b| crate::review::branch_tip(&repo, b))
            .unwrap_or(base.commit);
        let merged = crate::review::merged_work(&repo, &start, &parts)?;
        crate::worktree::ensure_from(home, &name, &repo, Some(&merged))
    }
}
