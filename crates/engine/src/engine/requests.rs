//! Requests: the one function that carries out a change asked by the CLI,
//! by another process through the inbox, or by the app (`Engine::apply`
//! over `inbox::InboxOp`), and the owner's pass over the inbox
//! (`process_inbox`): requests that only journal are staged together and
//! made durable with one fsync; every other one goes through `apply`.
//!
//! May depend on: the request types (`crate::inbox`), the store, every concern it dispatches to.

use crate::engine::{ack_of, Engine, EngineEvent};
use crate::error::EngineError;
use crate::inbox::{self, InboxOp};
use cortex_core::id::TaskId;
use cortex_core::state::Event;
use tracing::debug;

impl Engine {
    /// Carries out one request, as the CLI, the inbox and the app ask it,
    /// and answers with what it returns as JSON. The owner's inbox batches
    /// the requests that only journal (one fsync for all) and hands every
    /// other one to this.
    pub fn apply(&self, op: &InboxOp) -> Result<serde_json::Value, EngineError> {
        self.allowed_here(op)?;
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
            InboxOp::PlanEdit { plan_id, plan } => self
                .edit_plan(plan_id, plan)
                .map(|p| serde_json::to_value(p).unwrap_or_default()),
            InboxOp::PlanMerge { plan_id } => self
                .merge_plan(plan_id)
                .map(|p| serde_json::to_value(p).unwrap_or_default()),
            InboxOp::Reply { worker_id, text } => self
                .reply_worker(worker_id, text)
                .map(|w| serde_json::to_value(w).unwrap_or_default()),
            InboxOp::SetPaused { paused } => self
                .set_spawning_paused(*paused)
                .map(|changed| serde_json::json!({"paused": paused, "changed": changed})),
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

    /// Handles every pending inbox request: all changes are made durable with
    /// one fsync, then each requester gets its ack. Returns how many.
    pub fn process_inbox(&self) -> Result<usize, EngineError> {
        let claimed = inbox::claim_pending(&self.inner.home);
        if claimed.is_empty() {
            return Ok(0);
        }
        let now = self.now();
        let mut acks = Vec::with_capacity(claimed.len());
        let mut events = Vec::new();
        let mut deferred = Vec::new();
        let mut cancelled: Vec<TaskId> = Vec::new();
        let mut plans_made = Vec::new();
        // The pass's routing decisions, logged in one write.
        let mut decisions = crate::engine::tasks::DecisionLog::default();
        {
            let mut store = self.store();
            for (id, path) in &claimed {
                let read = inbox::read_request(&self.inner.home, path);
                if read
                    .as_ref()
                    .is_ok_and(|req| self.allowed_here(&req.op).is_err())
                {
                    // Not this engine's to carry out (it runs on the settings
                    // last in use): left claimed for an owner on valid
                    // settings, which answers it, instead of refused and lost.
                    continue;
                }
                let outcome = match read {
                    Err(e) => Err(e),
                    Ok(req) => match &req.op {
                        InboxOp::PlanSubmit {
                            plan,
                            workdir,
                            worktree,
                        } => self
                            .stage_plan(
                                &mut store,
                                plan,
                                &crate::plans::PlanOrigin {
                                    workdir: workdir.as_deref(),
                                    worktree: *worktree,
                                    request: Some(id),
                                    ..Default::default()
                                },
                                now,
                            )
                            .map(|ack| {
                                plans_made.push(ack.plan_id.clone());
                                serde_json::to_value(ack).ok()
                            }),
                        InboxOp::PlanConfirm { .. }
                        | InboxOp::PlanEdit { .. }
                        | InboxOp::PlanMerge { .. } => {
                            // Needs the store unlocked: run it after the batch.
                            deferred.push((id.clone(), req.op.clone()));
                            continue;
                        }
                        InboxOp::SubmitBatch { items } => {
                            let (answers, created) =
                                self.stage_batch(&mut store, items, now, &mut decisions);
                            events.extend(created);
                            Ok(Some(serde_json::json!({ "results": answers })))
                        }
                        InboxOp::Submit { submit } => self
                            .stage_submit(&mut store, submit, Some(id), now, &mut decisions)
                            .map(|(ack, event)| {
                                events.extend(event);
                                serde_json::to_value(ack).ok()
                            }),
                        InboxOp::Confirm { task_id, expert } => {
                            match self.stage_confirm(&mut store, task_id, expert.as_deref(), now) {
                                Ok(ack) => {
                                    events.push(EngineEvent::TaskUpdated {
                                        task: ack.task.clone(),
                                    });
                                    Ok(serde_json::to_value(ack).ok())
                                }
                                Err(e) => Err(e),
                            }
                        }
                        InboxOp::Reroute { task_id, expert } => {
                            match self.stage_reroute(&mut store, task_id, expert, now) {
                                Ok(ack) => {
                                    events.push(EngineEvent::TaskUpdated {
                                        task: ack.task.clone(),
                                    });
                                    Ok(serde_json::to_value(ack).ok())
                                }
                                Err(e) => Err(e),
                            }
                        }
                        InboxOp::Kill { .. }
                        | InboxOp::Restart { .. }
                        | InboxOp::Extend { .. }
                        | InboxOp::Nudge { .. }
                        | InboxOp::Reply { .. } => {
                            // Worker control needs the store unlocked: run it after the batch.
                            deferred.push((id.clone(), req.op.clone()));
                            continue;
                        }
                        InboxOp::SetPaused { paused } => {
                            let changed = store.state().spawning_paused != *paused;
                            let result = if changed {
                                store
                                    .stage(Event::SpawningPaused { paused: *paused }, now)
                                    .map(|_| ())
                            } else {
                                Ok(())
                            };
                            result.map(|()| {
                                Some(serde_json::json!({"paused": paused, "changed": changed}))
                            })
                        }
                        InboxOp::CloseCircuit { .. }
                        | InboxOp::Merge { .. }
                        | InboxOp::RemoveWorktree { .. } => {
                            // Needs the store unlocked: run it after the batch.
                            deferred.push((id.clone(), req.op.clone()));
                            continue;
                        }
                        InboxOp::ResetLearning => self.reset_learning().map(|moved| {
                            Some(serde_json::json!({"reset": true, "moved_to": moved}))
                        }),
                        InboxOp::Cancel { task_id } => {
                            // A replayed cancel finds the task cancelled: answer
                            // with its state instead of an error.
                            match self.stage_cancel(&mut store, task_id, now) {
                                Ok((task, parts)) => {
                                    cancelled.push(task.id.clone());
                                    for part in parts {
                                        if let Some(t) = store.state().task(&part) {
                                            events
                                                .push(EngineEvent::TaskUpdated { task: t.into() });
                                        }
                                        cancelled.push(part);
                                    }
                                    events.push(EngineEvent::TaskUpdated { task: task.clone() });
                                    Ok(serde_json::to_value(task).ok())
                                }
                                Err(e) => Err(e),
                            }
                        }
                    },
                };
                acks.push(ack_of(id.clone(), outcome));
            }
            store.sync()?;
        }
        decisions.write(&self.inner.home);
        // A cancelled task's workers (and checks) stop, as with `cancel`.
        for task_id in &cancelled {
            self.stop_task_workers(task_id);
        }
        let had_deferred = !deferred.is_empty() || !cancelled.is_empty();
        for (id, op) in deferred {
            let result = self.apply(&op).map(Some);
            acks.push(ack_of(id, result));
        }
        if had_deferred {
            // Worker control may have staged attempt starts: durable first.
            self.store().sync()?;
        }
        for ack in &acks {
            inbox::write_ack(&self.inner.home, ack)?;
        }
        for (_, path) in &claimed {
            let _ = std::fs::remove_file(path);
        }
        debug!(count = acks.len(), "inbox requests acknowledged");
        for e in events {
            self.emit(e);
        }
        for p in &plans_made {
            self.emit_plan_tasks(p);
        }
        Ok(acks.len())
    }
}

impl Engine {
    /// Refuses a request this engine may not carry out: while it runs on
    /// the settings an owner last used (a file on disk is not valid), only
    /// one that stops or holds what runs.
    fn allowed_here(&self, op: &InboxOp) -> Result<(), EngineError> {
        match &self.inner.settings_fallback {
            Some(problem) if !stops_or_holds(op) => Err(EngineError::BadValue(format!(
                "the settings on disk are not valid ({problem}), and this request would start an agent or a check, or route a task, with the ones last in use: fix them first (`cortex config check` lists every problem); kill, cancel, pause, extend, merge and worktree removal work meanwhile"
            ))),
            _ => Ok(()),
        }
    }
}

/// A request that starts no agent or check and routes no task, and so may
/// be carried out with the settings an owner last used while a file on
/// disk is not valid: it stops or holds what runs, or reviews what ended.
fn stops_or_holds(op: &InboxOp) -> bool {
    matches!(
        op,
        InboxOp::Kill { .. }
            | InboxOp::Cancel { .. }
            | InboxOp::Extend { .. }
            | InboxOp::SetPaused { .. }
            | InboxOp::CloseCircuit { .. }
            | InboxOp::Merge { .. }
            | InboxOp::RemoveWorktree { .. }
            | InboxOp::ResetLearning
    )
}
