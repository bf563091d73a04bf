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
//!
//! What is not a request is never followed or left lying around: a request
//! file is opened with `O_NOFOLLOW` and must be a regular file of at most
//! `MAX_REQUEST_BYTES`; anything else under a request's name, and anything
//! in the inbox that is not named like a request, is moved to `quarantine/`
//! (a request id gets an error ack). A request of another version is refused
//! with an error ack. Acks not collected within `STALE_AFTER` are deleted,
//! and so are temporaries abandoned that long.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cortex_core::id::RequestId;
use cortex_core::input::SubmitRequest;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::error::EngineError;
use crate::home::Home;
use crate::snapshot::write_atomic;

/// The request version this build understands.
pub const REQUEST_VERSION: u32 = 1;
/// How long an ack waits to be collected, and a temporary file for its
/// rename, before the owner deletes it. A waiting requester takes its ack
/// within milliseconds; the rest is margin for a suspended one.
pub const STALE_AFTER: Duration = Duration::from_secs(10 * 60);
/// The largest request file read (a description is at most 32 KiB).
pub const MAX_REQUEST_BYTES: u64 = 1024 * 1024;
/// How often a running owner looks for stale acks.
const SWEEP_EVERY_SECS: u64 = 60;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum InboxOp {
    /// Submit one task (`cortex submit`).
    Submit {
        /// The task asked for.
        submit: SubmitRequest,
    },
    /// Many submissions, journaled with one fsync; answered item by item.
    SubmitBatch {
        /// The submissions, each with its own request id.
        items: Vec<BatchItem>,
    },
    /// Cancel a live task and stop its workers (`cortex cancel`).
    Cancel {
        /// The task's id, with or without its prefix.
        task_id: String,
    },
    /// Send a task to another expert (`cortex reroute`); the correction is learned.
    Reroute {
        /// The task's id, with or without its prefix.
        task_id: String,
        /// The expert it should go to.
        expert: String,
    },
    /// Let a task held for confirmation go (to EXPERT, when given).
    Confirm {
        /// The task's id, with or without its prefix.
        task_id: String,
        /// The expert to send it to; None keeps the router's choice.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expert: Option<String>,
    },
    /// Forget the router's learned layer (`router-examples.jsonl` is moved aside).
    ResetLearning,
    /// Stop a worker's live attempt and end the worker as cancelled (`cortex kill`).
    Kill {
        /// The worker's id, with or without its prefix.
        worker_id: String,
    },
    /// Stop a worker's live attempt, if any, and start one that resumes the conversation.
    Restart {
        /// The worker's id, with or without its prefix.
        worker_id: String,
    },
    /// Pause or resume starting new workers (restarts go on).
    SetPaused {
        /// True to pause, false to resume.
        paused: bool,
    },
    /// Extend a worker's time limit (`cortex extend`).
    Extend {
        /// The worker's id, with or without its prefix.
        worker_id: String,
        /// Minutes to add, 1 to 1440.
        minutes: u64,
    },
    /// Send a running worker a message: its attempt is stopped and the next resumes with it.
    Nudge {
        /// The worker's id, with or without its prefix.
        worker_id: String,
        /// The message, the next attempt's prompt.
        text: String,
    },
    /// Submit a plan (`cortex plan submit`): all of it or nothing.
    PlanSubmit {
        /// The plan: its goal and its named tasks.
        plan: cortex_core::plan::PlanSpec,
        /// The folder every task works in (absolute); None runs them in `/`.
        #[serde(default)]
        workdir: Option<String>,
        /// True to run each task in its own git worktree.
        #[serde(default)]
        worktree: bool,
    },
    /// Let a plan held for confirmation run (`cortex plan confirm`).
    PlanConfirm {
        /// The plan's id, with or without its prefix.
        plan_id: String,
    },
    /// Replace a waiting plan's tasks with an edited plan (`cortex plan edit`).
    PlanEdit {
        /// The plan's id, with or without its prefix.
        plan_id: String,
        /// The edited plan.
        plan: cortex_core::plan::PlanSpec,
    },
    /// Merge a plan's tasks in dependency order (`cortex plan merge`).
    PlanMerge {
        /// The plan's id, with or without its prefix.
        plan_id: String,
    },
    /// Continue an ended worker with a person's text (`cortex reply`).
    Reply {
        /// The worker's id, with or without its prefix.
        worker_id: String,
        /// The person's answer, the next attempt's prompt.
        text: String,
    },
    /// Close an expert's circuit breaker (`cortex resume EXPERT`).
    CloseCircuit {
        /// The expert whose breaker to close.
        expert: String,
    },
    /// Merge a worktree task's branch into its base (`cortex merge`).
    Merge {
        /// What to merge, and into where.
        merge: crate::review::MergeRequest,
    },
    /// Remove a task's worktree (`cortex worktree remove`).
    RemoveWorktree {
        /// The task's id, with or without its prefix.
        task_id: String,
        /// The expert whose part's worktree to remove; needed when the task has several.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expert: Option<String>,
        /// Remove it even with uncommitted changes, which are lost.
        #[serde(default)]
        force: bool,
    },
}

/// One submission of a batch, with its own request id (so that a batch
/// processed again after a crash creates nothing twice).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchItem {
    /// This item's own request id.
    pub request_id: RequestId,
    /// The task asked for.
    pub submit: SubmitRequest,
}

/// The answer to one item of a batch: `{"ok": true, "result": ack}` or
/// `{"ok": false, "error": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchAnswer {
    /// True when the item was carried out.
    pub ok: bool,
    /// What the item's submission answered (a `SubmitAck`), when `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Why it failed, when not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<AckError>,
}

impl BatchAnswer {
    /// The answer for one item's outcome.
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

/// A request as written to `inbox/<id>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxRequest {
    /// The request format's version (`REQUEST_VERSION`); another is refused.
    pub v: u32,
    /// The request's id, also its file's name.
    pub request_id: RequestId,
    /// What it asks for.
    #[serde(flatten)]
    pub op: InboxOp,
}

/// The owner's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxAck {
    /// The answer format's version.
    pub v: u32,
    /// The request answered.
    pub request_id: RequestId,
    /// True when the request was carried out and is durable.
    pub ok: bool,
    /// What the change answered, as JSON (a `SubmitAck` for a submission), when `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Why it failed, when not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<AckError>,
}

/// Why a request failed, as an ack carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckError {
    /// A stable code for scripts (`bad_input`, `unknown_task`, `refused`...).
    pub code: String,
    /// What went wrong, in words.
    pub message: String,
    /// True when the request was at fault (CLI exit code 2).
    pub bad_input: bool,
}

impl AckError {
    /// The error's code, message and fault.
    pub fn of(e: &EngineError) -> Self {
        Self {
            code: e.code().into(),
            message: e.to_string(),
            bad_input: e.is_bad_input(),
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
    let bytes = serde_json::to_vec(req).map_err(|e| EngineError::encode("an inbox request", &e))?;
    let path = home.inbox().join(format!("{}.json", req.request_id));
    write_atomic(&path, &bytes)?;
    Ok(path)
}

/// Withdraws a request not yet claimed. True if it was withdrawn (the owner
/// will never act on it); false if the owner already has it.
pub fn withdraw(home: &Home, id: &RequestId) -> bool {
    fs::remove_file(home.inbox().join(format!("{id}.json"))).is_ok()
}

/// Where the answer to request `id` is written: `inbox/acks/<id>.json`.
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

/// Writes an answer atomically for its requester to take.
pub fn write_ack(home: &Home, ack: &InboxAck) -> Result<(), EngineError> {
    let bytes = serde_json::to_vec(ack).map_err(|e| EngineError::encode("an inbox answer", &e))?;
    write_atomic(&ack_path(home, &ack.request_id), &bytes)
}

/// Claims every pending request: moves new ones into `processing/` and
/// returns all claimed ones (including any a previous owner left there), in
/// request-id order, which is submission-time order. Whatever is not named
/// like a request is moved to `quarantine/`.
pub fn claim_pending(home: &Home) -> Vec<(RequestId, PathBuf)> {
    sweep_if_due(home);
    let processing = home.inbox_processing();
    let list = |dir: &Path| -> Vec<(RequestId, PathBuf)> {
        let Ok(rd) = fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for path in rd.filter_map(|e| e.ok().map(|e| e.path())) {
            if let Some(id) = request_id_of(&path) {
                found.push((id, path));
                continue;
            }
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let ours = name.is_none_or(|n| n.starts_with('.'))
                || path == home.inbox_processing()
                || path == home.inbox_acks();
            if !ours {
                quarantine(
                    home,
                    &path,
                    "not a request: a request is named r-<id>.json, its id 26 characters of Crockford base32 in lowercase (r-01m93tkfgxfwnk3q2j7stbr5k9.json), as `cortex` names them",
                );
            }
        }
        found
    };
    for (id, path) in list(&home.inbox()) {
        // Losing this race to a withdrawing requester is fine: then it is gone.
        // What is not a regular file is refused when it is read.
        let _ = fs::rename(&path, processing.join(format!("{id}.json")));
    }
    let mut claimed = list(&processing);
    claimed.sort();
    claimed
}

/// Moves something from the inbox to `quarantine/`, saying so.
fn quarantine(home: &Home, path: &Path, why: &str) {
    let stamp = crate::clock::file_stamp(crate::clock::now());
    match crate::store::set_aside(
        home,
        path,
        &stamp,
        why.to_string(),
        crate::store::Aside::Move,
    ) {
        Ok(q) => {
            warn!(moved_to = %q.moved_to.display(), "inbox: quarantined {}: {why}", path.display())
        }
        Err(e) => warn!("inbox: {why}: {e}"),
    }
}

/// Reads a claimed request. Symlinks, folders and other non-regular files,
/// oversized and unparsable requests are refused and moved to
/// `quarantine/`; a request of another version is refused. The error is
/// what the requester's ack says.
pub fn read_request(home: &Home, path: &Path) -> Result<InboxRequest, EngineError> {
    let refuse = |why: String| {
        quarantine(home, path, &why);
        Err(EngineError::RequestRefused(format!(
            "request refused: {why}"
        )))
    };
    let mut file = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return refuse("a symbolic link; requests must be regular files".into())
        }
        Err(e) => return refuse(format!("cannot be read: {e}")),
    };
    match file.metadata() {
        Ok(m) if m.is_file() && m.nlink() > 1 => {
            return refuse("a file with other links; requests must be files of their own".into())
        }
        Ok(m) if m.is_file() && m.len() <= MAX_REQUEST_BYTES => {}
        Ok(m) if m.is_file() => {
            return refuse(format!(
                "{} bytes, more than the {MAX_REQUEST_BYTES} a request may have",
                m.len()
            ))
        }
        Ok(m) if m.is_dir() => return refuse("a folder; requests must be regular files".into()),
        Ok(_) => return refuse("not a regular file".into()),
        Err(e) => return refuse(format!("cannot be read: {e}")),
    }
    let mut bytes = Vec::new();
    if let Err(e) = (&mut file)
        .take(MAX_REQUEST_BYTES + 1)
        .read_to_end(&mut bytes)
    {
        return refuse(format!("cannot be read: {e}"));
    }
    #[derive(Deserialize)]
    struct Versioned {
        v: u32,
    }
    match serde_json::from_slice::<Versioned>(&bytes) {
        Ok(Versioned { v }) if v == REQUEST_VERSION => {}
        Ok(Versioned { v }) => {
            warn!(path = %path.display(), "inbox: request version {v} refused");
            return Err(EngineError::RequestRefused(format!(
                "request refused: version {v} is not understood by this owner, which reads version {REQUEST_VERSION}"
            )));
        }
        Err(e) => return refuse(format!("unreadable: {e}")),
    }
    match serde_json::from_slice::<InboxRequest>(&bytes) {
        Ok(r) => Ok(r),
        Err(e) => refuse(format!("unreadable: {e}")),
    }
}

/// Deletes acks nobody collected within `STALE_AFTER`, and temporaries
/// abandoned as long. Returns how many.
pub fn expire_stale(home: &Home, now: SystemTime) -> usize {
    let Some(cutoff) = now.checked_sub(STALE_AFTER) else {
        return 0;
    };
    let mut removed = 0;
    for dir in [home.inbox_acks(), home.inbox()] {
        let Ok(rd) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in rd.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let temporary = name.starts_with('.') && name.ends_with(".tmp");
            let ack = dir == home.inbox_acks() && request_id_of(&path).is_some();
            if !(temporary || ack) {
                continue;
            }
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < cutoff);
            let is_file = entry.file_type().is_ok_and(|t| !t.is_dir());
            if old && is_file && fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
    }
    if removed > 0 {
        info!(
            removed,
            "inbox: deleted acks and temporaries older than {} minutes",
            STALE_AFTER.as_secs() / 60
        );
    }
    removed
}

/// `expire_stale` about once a minute.
fn sweep_if_due(home: &Home) {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let last = LAST.load(Ordering::Relaxed);
    if secs.saturating_sub(last) >= SWEEP_EVERY_SECS
        && LAST
            .compare_exchange(last, secs, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        expire_stale(home, now);
    }
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
