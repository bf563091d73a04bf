//! The inbox: how processes that do not own the home ask the owner to change
//! something, and learn the answer.
//!
//! A requester writes `inbox/.<id>.tmp` and renames it to `inbox/<id>.json`
//! (so the owner never sees half a file). The owner claims a request by
//! renaming it into `inbox/processing/` (so a requester that gives up can
//! withdraw it with a rename of its own, and exactly one of them wins),
//! journals the change, fsyncs, writes `inbox/acks/<id>.json`, then deletes
//! the claimed file. A crash anywhere in between leaves the request in
//! `processing/`, and the next owner handles it again: requests carry ids and
//! the store maps a request id to its task, so a second pass answers with the
//! same task instead of creating another.

use std::fs;
use std::path::{Path, PathBuf};

use cortex_core::id::RequestId;
use cortex_core::input::SubmitRequest;
use serde::{Deserialize, Serialize};

use crate::error::EngineError;
use crate::home::Home;
use crate::snapshot::write_atomic;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum InboxOp {
    Submit {
        submit: SubmitRequest,
    },
    /// Many submissions, journaled with one fsync; answered item by item.
    SubmitBatch {
        items: Vec<BatchItem>,
    },
    Cancel {
        task_id: String,
    },
    Reroute {
        task_id: String,
        expert: String,
    },
    ResetLearning,
    Kill {
        worker_id: String,
    },
    Restart {
        worker_id: String,
    },
    SetPaused {
        paused: bool,
    },
    Extend {
        worker_id: String,
        minutes: u64,
    },
    Nudge {
        worker_id: String,
        text: String,
    },
}

/// One submission of a batch, with its own request id (so that a batch
/// processed again after a crash creates nothing twice).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchItem {
    pub request_id: RequestId,
    pub submit: SubmitRequest,
}

/// The answer to one item of a batch: `{"ok": true, "result": ack}` or
/// `{"ok": false, "error": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchAnswer {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<AckError>,
}

impl BatchAnswer {
    pub fn of(outcome: Result<serde_json::Value, EngineError>) -> Self {
        match outcome {
            Ok(v) => Self {
                ok: true,
                result: Some(v),
                error: None,
            },
            Err(e) => Self {
                ok: false,
                result: None,
                error: Some(AckError::of(&e)),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxRequest {
    pub v: u32,
    pub request_id: RequestId,
    #[serde(flatten)]
    pub op: InboxOp,
}

/// The owner's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxAck {
    pub v: u32,
    pub request_id: RequestId,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<AckError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckError {
    pub code: String,
    pub message: String,
    /// True when the request was at fault (CLI exit code 2).
    pub bad_input: bool,
}

impl AckError {
    pub fn of(e: &EngineError) -> Self {
        Self {
            code: e.code().into(),
            message: e.to_string(),
            bad_input: e.is_bad_input() || matches!(e, EngineError::Protocol(_)),
        }
    }
}

/// The request id a file name stands for, if it is a request file:
/// `r-<body>.json`, not a dotfile, not a temporary.
pub fn request_id_of(path: &Path) -> Option<RequestId> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".json")?;
    RequestId::parse(stem).filter(|id| id.as_str() == stem)
}

/// Writes a request into the inbox atomically.
pub fn drop_request(home: &Home, req: &InboxRequest) -> Result<PathBuf, EngineError> {
    let bytes = serde_json::to_vec(req).map_err(|e| EngineError::Protocol(e.to_string()))?;
    let path = home.inbox().join(format!("{}.json", req.request_id));
    write_atomic(&path, &bytes)?;
    Ok(path)
}

/// Withdraws a request not yet claimed. True if it was withdrawn (the owner
/// will never act on it); false if the owner already has it.
pub fn withdraw(home: &Home, id: &RequestId) -> bool {
    fs::remove_file(home.inbox().join(format!("{id}.json"))).is_ok()
}

pub fn ack_path(home: &Home, id: &RequestId) -> PathBuf {
    home.inbox_acks().join(format!("{id}.json"))
}

/// Reads and removes an ack if it is there.
pub fn take_ack(home: &Home, id: &RequestId) -> Option<InboxAck> {
    let p = ack_path(home, id);
    let bytes = fs::read(&p).ok()?;
    let ack = serde_json::from_slice(&bytes).ok()?;
    let _ = fs::remove_file(&p);
    Some(ack)
}

pub fn write_ack(home: &Home, ack: &InboxAck) -> Result<(), EngineError> {
    let bytes = serde_json::to_vec(ack).map_err(|e| EngineError::Protocol(e.to_string()))?;
    write_atomic(&ack_path(home, &ack.request_id), &bytes)
}

/// Claims every pending request: moves new ones into `processing/` and
/// returns all claimed ones (including any a previous owner left there), in
/// request-id order, which is submission-time order.
pub fn claim_pending(home: &Home) -> Vec<(RequestId, PathBuf)> {
    let processing = home.inbox_processing();
    let list = |dir: &Path| -> Vec<(RequestId, PathBuf)> {
        fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter_map(|p| request_id_of(&p).map(|id| (id, p)))
                    .collect()
            })
            .unwrap_or_default()
    };
    for (id, path) in list(&home.inbox()) {
        // Losing this race to a withdrawing requester is fine: then it is gone.
        let _ = fs::rename(&path, processing.join(format!("{id}.json")));
    }
    let mut claimed = list(&processing);
    claimed.sort();
    claimed
}

/// True when a file-system event path concerns a request file in the inbox
/// (and not our own acks, temporaries or claimed files).
pub fn is_inbox_request_event(home: &Home, path: &Path) -> bool {
    path.parent() == Some(home.inbox().as_path()) && request_id_of(path).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_finished_request_files_count() {
        let home = Home::new("/h");
        let id = RequestId::new(1, [2; 10]);
        let ok = home.inbox().join(format!("{id}.json"));
        assert_eq!(request_id_of(&ok), Some(id.clone()));
        assert!(is_inbox_request_event(&home, &ok));
        let tmp = home.inbox().join(format!(".{id}.json.42.tmp"));
        assert!(!is_inbox_request_event(&home, &tmp));
        assert!(!is_inbox_request_event(
            &home,
            &home.inbox_acks().join(format!("{id}.json"))
        ));
        assert!(!is_inbox_request_event(
            &home,
            &home.inbox().join("notes.json")
        ));
    }

    #[test]
    fn requests_round_trip_with_their_op() {
        let r = InboxRequest {
            v: 1,
            request_id: RequestId::new(1, [1; 10]),
            op: InboxOp::Cancel {
                task_id: "t-x".into(),
            },
        };
        let s = serde_json::to_string(&r).unwrap();
        assert!(s.contains(r#""op":"cancel""#), "{s}");
        assert_eq!(serde_json::from_str::<InboxRequest>(&s).unwrap(), r);
    }

    #[test]
    fn a_withdrawn_request_is_never_claimed_and_a_claimed_one_cannot_be_withdrawn() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.init().unwrap();
        let mk = |n: u8| InboxRequest {
            v: 1,
            request_id: RequestId::new(u64::from(n), [n; 10]),
            op: InboxOp::Cancel {
                task_id: "t".into(),
            },
        };
        let (a, b) = (mk(1), mk(2));
        drop_request(&home, &a).unwrap();
        drop_request(&home, &b).unwrap();
        assert!(withdraw(&home, &a.request_id));
        let claimed = claim_pending(&home);
        assert_eq!(
            claimed.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
            vec![b.request_id.clone()]
        );
        assert!(!withdraw(&home, &b.request_id));
    }
}
