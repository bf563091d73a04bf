//! `pm-state.json`: written by the owner's PM when its picture changed (at
//! most once a second, and at least every 30 s as a sign of life), and read
//! by views in other processes while that owner still holds the home.
//!
//! May depend on: the PM's picture (`super`), snapshot, lock.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cortex_core::health::Health;

use serde::Serialize;

use super::{PmMetrics, PmVerdict, PmWorker};

/// The verdicts in `pm-state.json`, when the PM that wrote it still owns
/// the home (worker id -> the attempt it is about and the verdict).
pub(crate) fn read_verdicts(home: &crate::Home) -> crate::pm::PmVerdicts {
    let mut out = crate::pm::PmVerdicts::new();
    let Some(owner) = crate::lock::current_owner(&home.lock_file()) else {
        return out;
    };
    let Ok(text) = std::fs::read(home.pm_snapshot()) else {
        return out;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return out;
    };
    let writer = v.pointer("/pm/pid").and_then(serde_json::Value::as_u64);
    if writer != Some(u64::from(owner.pid)) {
        return out; // written by an owner that is gone: it knows nothing now
    }
    let Some(workers) = v.get("workers").and_then(|w| w.as_object()) else {
        return out;
    };
    for (id, w) in workers {
        let health = w
            .get("health")
            .cloned()
            .and_then(|h| serde_json::from_value::<Health>(h).ok());
        let attempt = w
            .get("attempt")
            .and_then(serde_json::Value::as_u64)
            .and_then(|a| u32::try_from(a).ok());
        let (Some(health), Some(attempt)) = (health, attempt) else {
            continue;
        };
        let text = |k: &str| w.get(k).and_then(|s| s.as_str()).map(str::to_string);
        let verdict = PmVerdict {
            health,
            reason: text("health_reason").unwrap_or_default(),
            last_activity_at: w
                .get("last_activity_at")
                .cloned()
                .and_then(|t| serde_json::from_value(t).ok()),
            last_activity_source: text("last_activity_source"),
            live: w
                .get("live")
                .cloned()
                .and_then(|l| serde_json::from_value(l).ok()),
            suspended: w.get("suspended_at").is_some_and(|t| !t.is_null()),
        };
        out.insert(id.clone(), (attempt, verdict));
    }
    out
}

/// pm-state.json, as the owner writes it.
#[derive(Serialize)]
pub(crate) struct PmStateFile<'a> {
    pub(crate) metrics: &'a PmMetrics,
    pub(crate) paused_experts: &'a BTreeMap<String, DateTime<Utc>>,
    pub(crate) pm: PmOwner,
    pub(crate) schema_version: u32,
    /// Why the settings files on disk are refused, while they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) settings_refused: Option<&'a str>,
    pub(crate) updated_at: DateTime<Utc>,
    /// By worker id, in order.
    pub(crate) workers: BTreeMap<&'a str, &'a PmWorker>,
}

/// Which owner wrote pm-state.json, and how many PM ticks it had run.
#[derive(Serialize)]
pub(crate) struct PmOwner {
    pub(crate) pid: u32,
    pub(crate) ticks: u64,
}
