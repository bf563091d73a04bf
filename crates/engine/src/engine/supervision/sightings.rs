//! What a PM tick saw a cluster do to an attempt's job, journaled so that
//! every view, and the next owner, knows it: a job leaving the queue, and a
//! job suspended or resumed.
//!
//! May depend on: the store.

use crate::engine::Engine;
use chrono::{DateTime, Utc};
use cortex_core::id::WorkerId;
use cortex_core::state::Event;

/// What a tick saw of the cluster's jobs, to journal.
#[derive(Debug, Default)]
pub(super) struct Sightings {
    /// Attempts seen leaving a cluster's queue.
    pub(super) left_queue: Vec<(WorkerId, u32)>,
    /// Attempts seen suspended (true) or resumed (false) by the cluster.
    pub(super) suspended: Vec<(WorkerId, u32, bool)>,
}

impl Engine {
    /// Journals what a tick saw. Said when it can be (a full disk is retried
    /// next tick); the health decisions go on either way.
    pub(super) fn journal_sightings(&self, seen: Sightings, now: DateTime<Utc>) {
        if seen.left_queue.is_empty() && seen.suspended.is_empty() {
            return;
        }
        let left = seen
            .left_queue
            .into_iter()
            .map(|(worker_id, attempt)| Event::AttemptRunning {
                worker_id,
                attempt,
                left_at: None,
            });
        let suspended = seen
            .suspended
            .into_iter()
            .map(|(worker_id, attempt, suspended)| Event::AttemptSuspended {
                worker_id,
                attempt,
                suspended,
            });
        let mut store = self.store();
        let journaled = left
            .chain(suspended)
            .try_for_each(|event| store.stage(event, now).map(|_| ()));
        if let Err(e) = journaled.and_then(|()| store.sync()) {
            tracing::warn!("cannot record what the cluster did to its jobs: {e}");
        }
    }
}
