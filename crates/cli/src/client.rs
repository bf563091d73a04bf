//! Write commands from a process that may or may not own the home.
//!
//! If nobody owns the home, the command becomes the owner for its length
//! (and answers any requests other processes left in the inbox). If an
//! owner is running, the request goes through the inbox and we wait for the
//! owner's ack; should the owner die meanwhile, we take over and answer our
//! own request.

use std::time::{Duration, Instant};

use cortex_engine::inbox::{self, InboxAck, InboxOp, InboxRequest};
use cortex_engine::lock::{current_owner, OwnerKind};
use cortex_engine::{clock, Engine, EngineError, Home};

/// How often a waiting requester looks for its ack.
const POLL: Duration = Duration::from_millis(3);

/// Outcome of a write command: the ack's result, or an error with its kind.
pub enum Answer {
    Ok(serde_json::Value),
    Failed { message: String, bad_input: bool },
}

impl From<InboxAck> for Answer {
    fn from(ack: InboxAck) -> Self {
        match (ack.ok, ack.error) {
            (true, _) => Answer::Ok(ack.result.unwrap_or(serde_json::Value::Null)),
            (false, Some(e)) => Answer::Failed {
                message: e.message,
                bad_input: e.bad_input,
            },
            (false, None) => Answer::Failed {
                message: "the owner refused the request without a reason".into(),
                bad_input: false,
            },
        }
    }
}

/// Runs `op` against the home, directly or through the owner.
pub fn execute(home: &Home, op: InboxOp, timeout: Duration) -> Result<Answer, EngineError> {
    if home.owner_wanted() {
        // A long-running owner is about to take the home: queue for it.
        return through_inbox(home, op, timeout);
    }
    match Engine::open(home, OwnerKind::Cli) {
        Ok(engine) => {
            engine.process_inbox()?;
            let answer = direct(&engine, &op);
            engine.close()?;
            Ok(answer)
        }
        Err(EngineError::Owned { .. }) => through_inbox(home, op, timeout),
        Err(e) => Err(e),
    }
}

fn direct(engine: &Engine, op: &InboxOp) -> Answer {
    let result = match op {
        InboxOp::Submit { submit } => engine
            .submit(submit)
            .map(|a| serde_json::to_value(a).unwrap_or_default()),
        InboxOp::SubmitBatch { items } => engine
            .submit_batch(items)
            .map(|answers| serde_json::json!({ "results": answers })),
        InboxOp::Cancel { task_id } => engine
            .cancel(task_id)
            .map(|t| serde_json::to_value(t).unwrap_or_default()),
        InboxOp::Confirm { task_id, expert } => engine
            .confirm(task_id, expert.as_deref())
            .map(|t| serde_json::to_value(t).unwrap_or_default()),
        InboxOp::Reroute { task_id, expert } => engine
            .reroute(task_id, expert)
            .map(|t| serde_json::to_value(t).unwrap_or_default()),
        InboxOp::Kill { worker_id } => engine
            .kill_worker(worker_id)
            .map(|w| serde_json::to_value(w).unwrap_or_default()),
        InboxOp::Restart { worker_id } => engine
            .restart_worker(worker_id)
            .map(|w| serde_json::to_value(w).unwrap_or_default()),
        InboxOp::Extend { worker_id, minutes } => engine
            .extend_worker(worker_id, *minutes)
            .map(|w| serde_json::to_value(w).unwrap_or_default()),
        InboxOp::Nudge { worker_id, text } => engine
            .nudge_worker(worker_id, text)
            .map(|w| serde_json::to_value(w).unwrap_or_default()),
        InboxOp::PlanSubmit {
            plan,
            workdir,
            worktree,
        } => engine
            .submit_plan(plan, workdir.as_deref(), *worktree)
            .map(|a| serde_json::to_value(a).unwrap_or_default()),
        InboxOp::PlanConfirm { plan_id } => engine
            .confirm_plan(plan_id)
            .map(|p| serde_json::to_value(p).unwrap_or_default()),
        InboxOp::PlanMerge { plan_id } => engine
            .merge_plan(plan_id)
            .map(|p| serde_json::to_value(p).unwrap_or_default()),
        InboxOp::Reply { worker_id, text } => engine
            .reply_worker(worker_id, text)
            .map(|w| serde_json::to_value(w).unwrap_or_default()),
        InboxOp::SetPaused { paused } => engine
            .set_spawning_paused(*paused)
            .map(|()| serde_json::json!({"paused": paused})),
        InboxOp::CloseCircuit { expert } => engine
            .close_circuit(expert)
            .map(|a| serde_json::to_value(a).unwrap_or_default()),
        InboxOp::Merge { merge } => engine
            .merge(merge)
            .map(|a| serde_json::to_value(a).unwrap_or_default()),
        InboxOp::RemoveWorktree {
            task_id,
            expert,
            force,
        } => engine
            .remove_worktree(task_id, expert.as_deref(), *force)
            .map(|a| serde_json::to_value(a).unwrap_or_default()),
        InboxOp::ResetLearning => engine
            .reset_learning()
            .map(|moved| serde_json::json!({"reset": true, "moved_to": moved})),
    };
    match result {
        Ok(v) => Answer::Ok(v),
        Err(e) => Answer::Failed {
            message: e.to_string(),
            bad_input: e.is_bad_input(),
        },
    }
}

fn through_inbox(home: &Home, op: InboxOp, timeout: Duration) -> Result<Answer, EngineError> {
    let req = InboxRequest {
        v: 1,
        request_id: clock::request_id(clock::now()),
        op,
    };
    inbox::drop_request(home, &req)?;
    let id = &req.request_id;
    // A timeout too long to represent is no deadline at all.
    let mut deadline = Instant::now().checked_add(timeout);
    let mut extended = false;
    loop {
        if let Some(ack) = inbox::take_ack(home, id) {
            return Ok(ack.into());
        }
        if current_owner(&home.lock_file()).is_none() && !home.owner_wanted() {
            // The owner is gone: answer our own request (and any others).
            match Engine::open(home, OwnerKind::Cli) {
                Ok(engine) => {
                    engine.process_inbox()?;
                    engine.close()?;
                    drop(engine);
                    if let Some(ack) = inbox::take_ack(home, id) {
                        return Ok(ack.into());
                    }
                }
                Err(EngineError::Owned { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            if inbox::withdraw(home, id) {
                let owner = current_owner(&home.lock_file()).map_or_else(
                    || "the owner".to_string(),
                    |o| format!("the owner (pid {})", o.pid),
                );
                return Err(EngineError::Unanswered(format!(
                    "{owner} did not pick up the request within {}s; it was withdrawn and nothing changed",
                    timeout.as_secs()
                )));
            }
            if extended {
                return Err(EngineError::Unanswered(format!(
                    "the owner took request {id} but did not acknowledge it; check `cortex tasks` before retrying"
                )));
            }
            // The owner has claimed it: the answer is coming.
            extended = true;
            deadline = Some(Instant::now() + Duration::from_secs(10));
        }
        std::thread::sleep(POLL);
    }
}
