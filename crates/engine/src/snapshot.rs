//! Atomic snapshot files.
//!
//! A snapshot is written to a temporary file in the same folder, fsynced, and
//! renamed over the old one, then the folder is fsynced: a reader sees the
//! old file or the new one, never half of either. Snapshots are accelerators:
//! the journal alone can rebuild everything they hold.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, Utc};
use cortex_core::task::{Task, TaskStatus};
use serde::{Deserialize, Serialize};

use crate::error::EngineError;

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), EngineError> {
    write_by_rename(path, bytes, true)
}

/// Replaces a derived file (one rebuilt from the journal or the next tick)
/// by rename, so readers see the old or the new version, never a torn one,
/// without forcing it to disk.
pub fn replace(path: &Path, bytes: &[u8]) -> Result<(), EngineError> {
    write_by_rename(path, bytes, false)
}

fn write_by_rename(path: &Path, bytes: &[u8], durable: bool) -> Result<(), EngineError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // One of its own per write: two threads of one process (a command and
    // the supervision pass) may replace the same file at once.
    let tmp = dir.join(format!(".{name}.{}.tmp", crate::files::unique_suffix()));
    let io = |e| EngineError::io("cannot write", path, e);
    let written = (|| -> std::io::Result<()> {
        let mut f = crate::files::create(&tmp)?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        // Never leave a temporary behind (on a full disk it would hold the
        // space the next write needs).
        let _ = fs::remove_file(&tmp);
        return Err(io(e));
    }
    if durable {
        sync_dir(dir);
    }
    Ok(())
}

/// Makes a rename in `dir` durable. Failure is not fatal (some filesystems
/// refuse fsync on folders); the data itself was already synced.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Appends one JSON line to a log file (no fsync: logs are for people; the
/// journal holds the truth).
pub fn append_line(path: &Path, value: &serde_json::Value) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    crate::files::options()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(&bytes)
}

/// `task-queue.json`: every task, and where in the journal it was taken.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSnapshot {
    /// The state format's version; a snapshot newer than this build is not used.
    pub schema_version: u32,
    /// Last journal sequence number folded into this snapshot.
    pub journal_seq: u64,
    /// Byte offset in `journal.jsonl` just after that record.
    pub journal_offset: u64,
    /// When the snapshot was written.
    pub updated_at: DateTime<Utc>,
    /// Counts per status, for people reading the file.
    pub stats: std::collections::BTreeMap<TaskStatus, usize>,
    /// Every task, ended ones included.
    pub tasks: Vec<Task>,
    /// Every plan (its tasks are among `tasks`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<cortex_core::plan::Plan>,
}

/// `worker-pool.json`: every worker, taken at the same journal point as
/// `task-queue.json` (the loader uses both only when their points agree).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSnapshot {
    /// The state format's version, as in `TaskSnapshot`.
    pub schema_version: u32,
    /// Last journal sequence number folded into this snapshot.
    pub journal_seq: u64,
    /// When the snapshot was written.
    pub updated_at: DateTime<Utc>,
    /// True while starting new workers is paused (restarts go on).
    pub spawning_paused: bool,
    /// Every worker, live or ended.
    pub workers: Vec<cortex_core::worker::Worker>,
}
