//! Requests: the one function that carries out a change asked by the CLI,
//! by another process through the inbox, or by the app (`Engine::apply`
//! over `inbox::InboxOp`).
//!
//! May depend on: engine (the facade's methods), inbox (the request type).

#![warn(missing_docs)]

use crate::engine::Engine;
use crate::error::EngineError;
use crate::inbox::InboxOp;

impl Engine {
    /// Carries out one request, as the CLI, the inbox and the app ask it,
    /// and answers with what it returns as JSON. The owner's inbox batches
    /// the requests that only journal (one fsync for all) and hands every
    /// other one to this.
    pub fn apply(&self, op: &InboxOp) -> Result<serde_json::Value, EngineError> {
        match op {
            InboxOp::Submit { submit } => self
                .submit(submit)
                .map(|a| serde_json::to_value(a).unwrap_or_default()),
            InboxOp::SubmitBatch { items } => self
                .submit_batch(items)
                .map(|answers| serde_json::json!({ "results": answers })),
            InboxOp::Cancel { task_id } => self
                .cancel(task_id)
                .map(|t| serde_json::to_value(t).unwrap_or_default()),
            InboxOp::Confirm { task_id, expert } => self
                .confirm(task_id, expert.as_deref())
                .map(|t| serde_json::to_value(t).unwrap_or_default()),
            InboxOp::Reroute { task_id, expert } => self
                .reroute(task_id, expert)
                .map(|t| serde_json::to_value(t).unwrap_or_default()),
            InboxOp::Kill { worker_id } => self
                .kill_worker(worker_id)
                .map(|w| serde_json::to_value(w).unwrap_or_default()),
            InboxOp::Restart { worker_id } => self
                .restart_worker(worker_id)
                .map(|w| serde_json::to_value(w).unwrap_or_default()),
            InboxOp::Extend { worker_id, minutes } => self
                .extend_worker(worker_id, *minutes)
                .map(|w| serde_json::to_value(w).unwrap_or_default()),
            InboxOp::Nudge { worker_id, text } => self
                .nudge_worker(worker_id, text)
                .map(|w| serde_json::to_value(w).unwrap_or_default()),
            InboxOp::PlanSubmit {
                plan,
                workdir,
                worktree,
            } => self
                .submit_plan(plan, workdir.as_deref(), *worktree)
                .map(|a| serde_json::to_value(a).unwrap_or_default()),
            InboxOp::PlanConfirm { plan_id } => self
                .confirm_plan(plan_id)
                .map(|p| serde_json::to_value(p).unwrap_or_default()),
            InboxOp::PlanMerge { plan_id } => self
                .merge_plan(plan_id)
                .map(|p| serde_json::to_value(p).unwrap_or_default()),
            InboxOp::Reply { worker_id, text } => self
                .reply_worker(worker_id, text)
                .map(|w| serde_json::to_value(w).unwrap_or_default()),
            InboxOp::SetPaused { paused } => self
                .set_spawning_paused(*paused)
                .map(|()| serde_json::json!({"paused": paused})),
            InboxOp::CloseCircuit { expert } => self
                .close_circuit(expert)
                .map(|a| serde_json::to_value(a).unwrap_or_default()),
            InboxOp::Merge { merge } => self
                .merge(merge)
                .map(|a| serde_json::to_value(a).unwrap_or_default()),
            InboxOp::RemoveWorktree {
                task_id,
                expert,
                force,
            } => self
                .remove_worktree(task_id, expert.as_deref(), *force)
                .map(|a| serde_json::to_value(a).unwrap_or_default()),
            InboxOp::ResetLearning => self
                .reset_learning()
                .map(|moved| serde_json::json!({"reset": true, "moved_to": moved})),
        }
    }
}
