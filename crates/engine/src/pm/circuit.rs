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

/// The experts paused by a live owner, as its pm-state.json says; none when
/// no owner is running (a circuit breaker lives in its owner's memory).
pub fn paused_experts_of(home: &crate::Home, now: DateTime<Utc>) -> Vec<PausedExpert> {
    let Some(owner) = crate::lock::current_owner(&home.lock_file()) else {
        return Vec::new();
    };
    let Ok(bytes) = std::fs::read(home.pm_snapshot()) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Vec::new();
    };
    if v["pm"]["pid"].as_u64() != Some(u64::from(owner.pid)) {
        return Vec::new(); // written by an owner that is gone
    }
    let map: BTreeMap<String, DateTime<Utc>> =
        serde_json::from_value(v["paused_experts"].clone()).unwrap_or_default();
    paused_list(map.into_iter().filter(|(_, until)| *until > now).collect())
}
