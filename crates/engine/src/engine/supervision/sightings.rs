//! What a PM tick saw a cluster do to an attempt's job, journaled so that
//! every view, and the next owner, knows it: a job leaving the queue, and a
//! job suspended or resumed; and, in the activity log, a queued job's wait
//! changing (a hold placed on it, or released).
//!
//! May depend on: the store, the PM's activity log.

use crate::engine::Engine;
use chrono::{DateTime, Utc};
use cortex_core::health::Health;
use cortex_core::id::{TaskId, WorkerId};
use cortex_core::state::Event;

/// What a tick saw of the cluster's jobs, to journal.
#[derive(Debug, Default)]
pub(super) struct Sightings {
    /// Attempts seen leaving a cluster's queue.
    pub(super) left_queue: Vec<(WorkerId, u32)>,
    /// Attempts seen suspended (true) or resumed (false) by the cluster.
    pub(super) suspended: Vec<(WorkerId, u32, bool)>,
    /// Queued attempts whose wait changed, with what they wait for now.
    pub(super) wait_changed: Vec<(WorkerId, TaskId, u32, String)>,
}

impl Engine {
    /// Journals what a tick saw. Said when it can be (a full disk is retried
    /// next tick); the health decisions go on either way.
    pub(super) fn journal_sightings(&self, seen: Sightings, now: DateTime<Utc>) {
        // Still scheduled, waiting for something else: said once, as the
        // move into the queue was.
        let scheduled = Some(Health::Scheduled.as_str());
        for (worker_id, task_id, attempt, reason) in &seen.wait_changed {
            self.pm_log(&crate::pm::ActivityLine {
                v: 1,
                at: now,
                event: "health",
                worker_id: Some(worker_id),
                task_id: Some(task_id),
                attempt: Some(*attempt),
                from: scheduled,
                to: scheduled,
                message: reason,
            });
        }
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
