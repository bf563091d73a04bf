//! The classification half of the health policy: the latest sign of life,
//! and the health it gives.
//!
//! May depend on: the policy's types (`super`), durations.

use chrono::{DateTime, Utc};

use super::{Health, Observations, WorkerView};
use crate::config::PmConfig;
use crate::duration::secs;
use crate::stream::Activity;

/// The latest sign of life and which signal gave it.
pub fn last_sign_of_life(view: &WorkerView, obs: &Observations) -> (DateTime<Utc>, &'static str) {
    let mut best = (view.attempt_started_at, "start");
    let own = [obs.last_output_at, obs.last_hook_at, obs.last_checkin_at];
    let silent_since_nudge = obs
        .nudged_at
        .filter(|n| !own.iter().flatten().any(|t| t > n));
    for (t, src) in [
        (obs.last_output_at, "output"),
        (obs.last_hook_at, "hook"),
        (obs.last_checkin_at, "check-in"),
        (obs.last_cpu_progress_at, "cpu"),
        (obs.last_transcript_growth_at, "transcript"),
        (obs.resumed_at, "resumed by the cluster"),
    ] {
        let caused_by_nudge = matches!(src, "cpu" | "transcript")
            && silent_since_nudge.is_some_and(|n| t.is_some_and(|t| t >= n));
        if caused_by_nudge {
            continue;
        }
        if let Some(t) = t {
            if t > best.0 {
                best = (t, src);
            }
        }
    }
    best
}

/// The health a worker is in, and why.
pub fn classify_health(
    pm: &PmConfig,
    view: &WorkerView,
    obs: &Observations,
    now: DateTime<Utc>,
) -> (Health, String) {
    let (health, reason) = classify_reachable(pm, view, obs, now);
    match (&obs.unreachable, health) {
        // Silence, or a process not seen, while the cluster does not answer
        // says nothing about the agent: it may be working on a node Cortex
        // cannot reach.
        (Some(why), Health::Late | Health::Stalled | Health::Zombie) => (
            Health::Unreachable,
            format!(
                "{reason}, and the cluster does not answer ({why}): a lost connection cannot be told from a hang, so nothing is stopped until it answers"
            ),
        ),
        _ => (health, reason),
    }
}

/// `classify_health` as if the cluster answered.
fn classify_reachable(
    pm: &PmConfig,
    view: &WorkerView,
    obs: &Observations,
    now: DateTime<Utc>,
) -> (Health, String) {
    if !obs.process_alive {
        return (
            Health::Zombie,
            "the process is gone while the worker is recorded as running".into(),
        );
    }
    // Its result arrived: the agent is done, and the runtime settles the
    // attempt by that result once its process ends (or stops it soon
    // after). Silence now is no hang, whatever the thresholds.
    if obs.activity == Activity::Finished {
        return (
            Health::Healthy,
            "its result arrived: waiting for its process to end".into(),
        );
    }
    if let Some(why) = &obs.suspended {
        // Stopped by the cluster: silent because it may not run, not hung
        // (whatever it was doing when it was stopped).
        return (Health::Waiting, why.clone());
    }
    if let Activity::RetryingApi { until, status, .. } = &obs.activity {
        // A retry that should have happened long ago is no longer a wait.
        if now <= crate::duration::later(*until, secs(pm.late_after_secs)) {
            let what = status.map_or("an API error".to_string(), |s| format!("API status {s}"));
            return (
                Health::Waiting,
                format!("retrying after {what} until {}", until.format("%H:%M:%S")),
            );
        }
    }
    if obs.queued && obs.last_output_at.is_none() {
        return (
            Health::Scheduled,
            queued_words(obs.queued_reason.as_deref()),
        );
    }
    let (last, source) = last_sign_of_life(view, obs);
    let silent = now - last;
    let no_output_yet = obs.last_output_at.is_none();
    // Resumed by the cluster before its first output: its startup budget
    // counts again from then.
    if no_output_yet && matches!(source, "start" | "resumed by the cluster") {
        if silent >= secs(pm.startup_budget_secs) {
            return (
                Health::Zombie,
                format!(
                    "no output within the startup budget of {}s",
                    pm.startup_budget_secs
                ),
            );
        }
        return (Health::Starting, "waiting for first output".into());
    }
    let health = if silent >= secs(pm.zombie_after_secs) {
        Health::Zombie
    } else if silent >= secs(pm.stalled_after_secs) {
        Health::Stalled
    } else if silent >= secs(pm.late_after_secs) {
        Health::Late
    } else {
        Health::Healthy
    };
    let reason = silence_reason(health, source, silent.num_seconds()).unwrap_or_default();
    (health, reason)
}

/// How a worker's health reads after `silent_secs` of silence since its
/// last sign of life (`source`): the words `classify_health` gives when it
/// decides, and those a view gives later with the silence measured again,
/// so "silent for 300s" does not stay on a worker silent for ten minutes.
/// None for a health these words do not describe.
pub fn silence_reason(health: Health, source: &str, silent_secs: i64) -> Option<String> {
    let s = silent_secs.max(0);
    match health {
        Health::Zombie | Health::Stalled => Some(format!(
            "silent for {s}s with no CPU progress (last sign of life: {source})"
        )),
        Health::Late => Some(format!("silent for {s}s (last sign of life: {source})")),
        Health::Healthy => Some(format!("last sign of life: {source}, {s}s ago")),
        _ => None,
    }
}

/// Why a job waits in a cluster's queue, in words, from the scheduler's
/// reason; those that never end by themselves say what would end them.
pub fn queued_words(reason: Option<&str>) -> String {
    let why = match reason {
        // Not said yet (just submitted, not yet seen by the scheduler).
        None => "waiting to be scheduled".to_string(),
        Some("Resources") => "waiting for resources".to_string(),
        Some("Priority") => "waiting behind jobs of higher priority".to_string(),
        Some("BeginTime") => "held until its start time (--begin)".to_string(),
        // A hold is a person's: the job's owner (or `sbatch --hold`), or an
        // administrator (an operator, or root).
        Some("JobHeldUser") => {
            "held by its owner (JobHeldUser): it starts only once released (`scontrol release`)"
                .to_string()
        }
        Some("JobHeldAdmin") => "held by a cluster administrator (JobHeldAdmin): it starts only once an administrator releases it (`scontrol release`)".to_string(),
        Some(r) if r.starts_with("JobHeld") => {
            format!("held ({r}): it starts only once released (`scontrol release`)")
        }
        Some("PartitionDown") => {
            "its partition is down: it starts only once the partition is up".to_string()
        }
        Some(r) if r.starts_with("ReqNodeNotAvail") || r.starts_with("Nodes required") => {
            format!("the nodes it needs are not available ({r})")
        }
        Some(r) => format!("Slurm says: {r}"),
    };
    format!("queued on the cluster: {why}")
}
