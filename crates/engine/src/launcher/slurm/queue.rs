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

/// Live jobs that repeat another live job's name (one attempt, or one
/// check, of one worker) where that other job is one this launcher knows
/// (`known`: it submitted or adopted it): a submission that went
/// unanswered and was taken after all, or one made by an owner that died
/// waiting for it. Two agents on one attempt write into one output; the
/// job the journal names is the one kept.
pub(super) fn duplicates(queue: &HashMap<u32, Queued>, known: impl Fn(u32) -> bool) -> Vec<u32> {
    let mut by_name: HashMap<&str, Vec<u32>> = HashMap::new();
    for (id, q) in queue.iter().filter(|(_, q)| is_live(&q.state)) {
        by_name.entry(q.name.as_str()).or_default().push(*id);
    }
    let mut out: Vec<u32> = by_name
        .into_values()
        .filter(|ids| ids.len() > 1 && ids.iter().any(|id| known(*id)))
        .flat_map(|ids| ids.into_iter().filter(|id| !known(*id)).collect::<Vec<_>>())
        .collect();
    out.sort_unstable();
    out
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

/// Whether a job in this state was suspended by the cluster
/// (`scontrol suspend`, or preemption by suspension) or stopped by it with
/// SIGSTOP (`STOPPED`, its resources kept): halted, not hung.
pub(super) fn is_suspended(state: &str) -> bool {
    state.starts_with("SUSPENDED") || state.starts_with("STOPPED")
}

/// A suspended (or stopped) job's state in words, with Slurm's reason when
/// it gives one, and what makes it go on.
pub(super) fn suspended_words(state: &str, reason: &str) -> String {
    let reason = reason.trim();
    let why = if reason.is_empty() || reason == "None" {
        format!("job state {state}")
    } else {
        format!("job state {state}, reason {reason}")
    };
    let until = if state.starts_with("STOPPED") {
        "it is sent SIGCONT (`scancel --signal=CONT`)"
    } else {
        "the cluster resumes it (`scontrol resume`)"
    };
    format!("suspended by the cluster (Slurm {why}): it cannot run until {until}")
}

/// Whether Slurm refused to cancel or signal a job because it has already
/// left the queue (ended, or forgotten since): nothing is left to stop, so
/// it is no failure.
pub(super) fn already_gone(error: &str) -> bool {
    error.contains("Invalid job id specified")
        || error.contains("Job/step already completing or completed")
}
