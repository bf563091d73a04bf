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
    /// `code`: the owner's code for it (`refused`, `unknown_task`...).
    Failed {
        code: Option<String>,
        message: String,
        bad_input: bool,
    },
}

impl From<InboxAck> for Answer {
    fn from(ack: InboxAck) -> Self {
        match (ack.ok, ack.error) {
            (true, _) => Answer::Ok(ack.result.unwrap_or(serde_json::Value::Null)),
            (false, Some(e)) => Answer::Failed {
                code: Some(e.code),
                message: e.message,
                bad_input: e.bad_input,
            },
            (false, None) => Answer::Failed {
                code: None,
                message: "the owner refused the request without a reason".into(),
                bad_input: false,
            },
        }
    }
}

/// Runs `op` against the home, directly or through the owner.
pub fn execute(home: &Home, op: InboxOp, timeout: Duration) -> Result<Answer, EngineError> {
    if home.owner_wanted() || current_owner(&home.lock_file()).is_some() {
        // A long-running owner has the home or is about to take it: queue
        // for it (without loading the home only to find it taken).
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
    match engine.apply(op) {
        Ok(v) => Answer::Ok(v),
        Err(e) => Answer::Failed {
            code: Some(e.code().to_string()),
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
