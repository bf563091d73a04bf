//! Writing `pm-state.json` from the PM's picture (the reading side is `crate::pm::state_file`).
//!
//! May depend on: the PM's types, snapshot.

use crate::engine::Engine;
use crate::pm::state_file::{PmOwner, PmStateFile};
use chrono::{DateTime, Utc};
use tracing::warn;

impl Engine {
    /// Writes pm-state.json (compact): when something in it changed, at
    /// most once a second, so views in other processes are at most about a
    /// second behind; and every half minute anyway as the PM's sign of life.
    /// It is derived state, rebuilt by the next tick, so it is not fsynced:
    /// an idle app does not touch the disk.
    /// `write_pm_state` at once, whenever it last wrote: for a change other
    /// processes must see now (a circuit breaker opened or closed).
    pub(crate) fn write_pm_state_now(&self, now: DateTime<Utc>) {
        self.pm().last_written = None;
        self.write_pm_state(now);
    }

    pub(crate) fn write_pm_state(&self, now: DateTime<Utc>) {
        const SIGN_OF_LIFE_SECS: i64 = 30;
        const MIN_GAP_MILLIS: i64 = 1000;
        let refused = self.settings_refused();
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
                settings_refused: refused.as_deref(),
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
