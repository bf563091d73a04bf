//! The circuit breaker of each expert: failures counted (which ones is
//! `cortex_core::settle::counts_against_expert`), the expert paused when
//! `restart::circuit_open` says so, and closed again when its window passes
//! or a person resumes it.
//!
//! May depend on: the PM's picture (`super`), cortex-core's restart policy.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::PausedExpert;

pub(crate) fn paused_list(map: BTreeMap<String, DateTime<Utc>>) -> Vec<PausedExpert> {
    map.into_iter()
        .map(|(expert, until)| PausedExpert { expert, until })
        .collect()
}

/// The experts paused by their circuit breaker, as the latest owner's
/// pm-state.json says: a breaker outlives its owner (the next one starts
/// with it, a `cortex resume EXPERT` with no owner closes it), so it is
/// shown whether an owner runs or not, until its window passes.
pub fn paused_experts_of(home: &crate::Home, now: DateTime<Utc>) -> Vec<PausedExpert> {
    paused_list(paused_experts_left(home, now))
}

/// The circuit breakers still open at `now`, by expert, with when each
/// closes by itself, from pm-state.json.
pub fn paused_experts_left(
    home: &crate::Home,
    now: DateTime<Utc>,
) -> BTreeMap<String, DateTime<Utc>> {
    let Some(v) = std::fs::read(home.pm_snapshot())
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        return BTreeMap::new();
    };
    let map: BTreeMap<String, DateTime<Utc>> =
        serde_json::from_value(v["paused_experts"].clone()).unwrap_or_default();
    map.into_iter().filter(|(_, until)| *until > now).collect()
}

/// Why the running owner refuses the settings files on disk, as its
/// pm-state.json says; none when it reads them, or no owner runs.
pub fn settings_refused_of(home: &crate::Home) -> Option<String> {
    owners_pm_state(home)?["settings_refused"]
        .as_str()
        .map(str::to_string)
}

/// pm-state.json, when the owner running now wrote it.
fn owners_pm_state(home: &crate::Home) -> Option<serde_json::Value> {
    let owner = crate::lock::current_owner(&home.lock_file())?;
    let bytes = std::fs::read(home.pm_snapshot()).ok()?;
    let v = serde_json::from_slice::<serde_json::Value>(&bytes).ok()?;
    // Written by an owner that is gone: not what is true now.
    (v["pm"]["pid"].as_u64() == Some(u64::from(owner.pid))).then_some(v)
}
