//! What the cluster's queue says: this home's jobs in `squeue`'s output,
//! which of their states still hold resources, and where a job's shim
//! reports.
//!
//! May depend on: nothing but the standard library.

use std::collections::HashMap;
use std::path::PathBuf;

/// Job states in which a job still holds (or waits for) its resources.
const LIVE_STATES: &[&str] = &[
    "PENDING",
    "CONFIGURING",
    "RUNNING",
    "COMPLETING",
    "SUSPENDED",
    "RESIZING",
    "REQUEUED",
    "STOPPED",
    "SIGNALING",
];

/// What the queue says of one job.
#[derive(Debug, Clone)]
pub(super) struct Queued {
    /// The job's name.
    pub(super) name: String,
    /// Its state as `squeue` says it (`RUNNING`, `PENDING`, ...).
    pub(super) state: String,
    /// The batch script's path.
    pub(super) command: String,
    /// Why a pending job waits, as Slurm says it (`Resources`,
    /// `BeginTime`, `PartitionDown`...); empty or `None` when it runs.
    pub(super) reason: String,
}

/// The queue's lines of this home's jobs (`%i|%j|%T|%r|%o`), by job id.
pub(super) fn parse_queue(text: &str, prefix: &str) -> HashMap<u32, Queued> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.trim().splitn(5, '|');
            let id = parts.next()?.parse().ok()?;
            let name = parts.next()?.to_string();
            let state = parts.next()?.to_string();
            let reason = parts.next().unwrap_or("").to_string();
            let command = parts.next().unwrap_or("").to_string();
            name.starts_with(prefix).then_some((
                id,
                Queued {
                    name,
                    state,
                    command,
                    reason,
                },
            ))
        })
        .collect()
}

/// The shim's report beside a batch script `<dir>/<stem>.job.sh`.
pub(super) fn report_of_script(script: &str) -> Option<PathBuf> {
    let stem = script.strip_suffix(".job.sh")?;
    Some(PathBuf::from(format!("{stem}.shim.jsonl")))
}

/// Whether a job in this state still holds (or waits for) resources.
pub(super) fn is_live(state: &str) -> bool {
    LIVE_STATES.iter().any(|s| state.starts_with(s))
}
