//! `pm-state.json`: written by the owner's PM when its picture changed (at
//! most once a second, and at least every 30 s as a sign of life), and read
//! by views in other processes while that owner still holds the home.
//!
//! May depend on: the PM's picture (`super`), snapshot, lock.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cortex_core::health::Health;
use tracing::warn;

use serde::Serialize;

use super::{PmMetrics, PmVerdict, PmWorker};
use crate::engine::Engine;

/// The verdicts in `pm-state.json`, when the PM that wrote it still owns
/// the home (worker id -> the attempt it is about and the verdict).
pub(crate) fn read_verdicts(home: &crate::Home) -> crate::runtime::PmVerdicts {
    let mut out = crate::runtime::PmVerdicts::new();
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
        };
        out.insert(id.clone(), (attempt, verdict));
    }
    out
}

/// pm-state.json, as the owner writes it.
#[derive(Serialize)]
struct PmStateFile<'a> {
    metrics: &'a PmMetrics,
    paused_experts: &'a BTreeMap<String, DateTime<Utc>>,
    pm: PmOwner,
    schema_version: u32,
    updated_at: DateTime<Utc>,
    /// By worker id, in order.
    workers: BTreeMap<&'a str, &'a PmWorker>,
}

/// Which owner wrote pm-state.json, and how many PM ticks it had run.
#[derive(Serialize)]
struct PmOwner {
    pid: u32,
    ticks: u64,
}

impl Engine {
    /// Writes pm-state.json (compact): when something in it changed, at
    /// most once a second, so views in other processes are at most about a
    /// second behind; and every half minute anyway as the PM's sign of life.
    /// It is derived state, rebuilt by the next tick, so it is not fsynced:
    /// an idle app does not touch the disk.
    /// `write_pm_state` at once, whenever it last wrote: for a change other
    /// processes must see now (a circuit breaker opened or closed).
    pub(super) fn write_pm_state_now(&self, now: DateTime<Utc>) {
        self.pm().last_written = None;
        self.write_pm_state(now);
    }

    pub(super) fn write_pm_state(&self, now: DateTime<Utc>) {
        const SIGN_OF_LIFE_SECS: i64 = 30;
        const MIN_GAP_MILLIS: i64 = 1000;
        let body = {
            let mut pm = self.pm();
            let since = pm.last_written.map(|t| now - t);
            let stale = since.is_none_or(|d| d >= chrono::Duration::seconds(SIGN_OF_LIFE_SECS));
            let may = since.is_none_or(|d| d >= chrono::Duration::milliseconds(MIN_GAP_MILLIS));
            if !(stale || pm.dirty && may) {
                return;
            }
            pm.dirty = false;
            pm.last_written = Some(now);
            // Serialized straight from the PM's own data (no JSON tree of a
            // few thousand nodes per worker built and freed every second).
            serde_json::to_vec(&PmStateFile {
                metrics: &pm.metrics,
                paused_experts: &pm.paused_experts,
                pm: PmOwner {
                    pid: std::process::id(),
                    ticks: pm.metrics.ticks,
                },
                schema_version: cortex_core::SCHEMA_VERSION,
                updated_at: now,
                workers: pm.workers.iter().map(|(k, v)| (k.as_str(), v)).collect(),
            })
            .unwrap_or_default()
        };
        if let Err(e) = crate::snapshot::replace(&self.inner.home.pm_snapshot(), &body) {
            warn!("cannot write pm-state.json: {e}");
        }
    }

    /// Writes pm-state.json now if anything in it is unwritten (when the
    /// owner stops: the last second of changes is not left out).
    pub(crate) fn flush_pm_state(&self) {
        {
            let mut pm = self.pm();
            if !pm.dirty {
                return;
            }
            pm.last_written = None;
        }
        self.write_pm_state(self.now());
    }
}
