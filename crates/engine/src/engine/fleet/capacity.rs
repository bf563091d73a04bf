//! Places in the capacity (`capacity.max_workers`, each expert's
//! `max_workers`): which workers take one, and a worker that holds none (a
//! person's reply, a person's restart of a worker its expert's breaker held)
//! waiting for a free one, saying so, before any new task starts.
//!
//! May depend on: the store, the PM's circuit state and activity log, the
//! views' `breaker_hold`.

use crate::engine::Engine;
use crate::error::EngineError;
use crate::runtime::unheld;
use crate::views::breaker_hold;
use chrono::{DateTime, Utc};
use cortex_core::config::ExpertSet;
use cortex_core::state::{Event, State};
use cortex_core::worker::{PlaceLimit, Worker, WorkerStatus};
use std::collections::{BTreeMap, HashMap};

/// The places taken, in all and by expert.
#[derive(Debug, Default)]
pub(crate) struct Places {
    total: usize,
    by_expert: HashMap<String, usize>,
}

impl Places {
    /// The places taken in `state`: workers starting or running, and
    /// workers between attempts that keep theirs (a backoff, a usage
    /// limit), not those that hold none (`lacks_place`).
    pub(crate) fn taken(state: &State, paused: &BTreeMap<String, DateTime<Utc>>) -> Self {
        let mut out = Self::default();
        for w in state.workers() {
            let takes = match w.status {
                WorkerStatus::Starting | WorkerStatus::Running => true,
                WorkerStatus::Waiting => !lacks_place(w, paused),
                _ => false,
            };
            if takes {
                out.take(&w.expert);
            }
        }
        out
    }

    /// Counts one more worker of `expert`.
    pub(crate) fn take(&mut self, expert: &str) {
        self.total += 1;
        *self.by_expert.entry(expert.to_string()).or_default() += 1;
    }

    /// The places taken (`taken`), and those kept for the workers that
    /// wait for a free place (holding none, no breaker holding them), in
    /// the order they get one: each counts only against the limit that
    /// holds it (the fleet's, or its expert's), so a worker waiting on its
    /// expert's limit keeps no place of the fleet's from other experts.
    pub(crate) fn kept(
        state: &State,
        paused: &BTreeMap<String, DateTime<Utc>>,
        max_total: usize,
        experts: &ExpertSet,
    ) -> Self {
        let mut out = Self::taken(state, paused);
        let waiting = state.workers().filter(|w| {
            lacks_place(w, paused) && breaker_hold(w, paused.get(&w.expert).copied()).is_none()
        });
        for w in waiting {
            match out.full_for(&w.expert, max_total, experts) {
                Some(PlaceLimit { expert: None, .. }) => out.total += 1,
                Some(_) => *out.by_expert.entry(w.expert.clone()).or_default() += 1,
                None => out.take(&w.expert),
            }
        }
        out
    }

    /// Which limit one more worker of `expert` would go over; none when
    /// there is a free place for it.
    pub(crate) fn full_for(
        &self,
        expert: &str,
        max_total: usize,
        experts: &ExpertSet,
    ) -> Option<PlaceLimit> {
        let limit = |expert: Option<&str>, n: usize| PlaceLimit {
            expert: expert.map(str::to_string),
            max_workers: u32::try_from(n).unwrap_or(u32::MAX),
        };
        if self.total >= max_total {
            return Some(limit(None, max_total));
        }
        let cap = experts.get(expert).map_or(1, |e| e.max_workers as usize);
        let used = self.by_expert.get(expert).copied().unwrap_or(0);
        (used >= cap).then(|| limit(Some(expert), cap))
    }
}

/// A worker whose last wait was a hold (by its expert's circuit breaker, or
/// for a free place): it gave up its place.
pub(crate) fn was_held(w: &Worker) -> bool {
    w.reason
        .as_deref()
        .is_some_and(|r| unheld(r).len() < r.len())
}

/// True when `w`, waiting, holds no place in the capacity: its expert's
/// breaker holds its restart (now, or did), or a person's reply reopened
/// it after it ended. Its next start needs a free place, as a new worker's.
pub(crate) fn lacks_place(w: &Worker, paused: &BTreeMap<String, DateTime<Utc>>) -> bool {
    w.status == WorkerStatus::Waiting
        && (breaker_hold(w, paused.get(&w.expert).copied()).is_some()
            || was_held(w)
            || w.next_prompt.is_some())
}

/// What a worker waiting for a free place says: why it waits (`reason`,
/// without an earlier hold or a wait's time), then which limit is full.
fn place_wait_reason(reason: &str, full: &PlaceLimit) -> String {
    let base = cortex_core::worker::without_wait_time(unheld(reason));
    format!(
        "{base}{} ({full}; it starts before new tasks once one frees)",
        cortex_core::worker::PLACE_WAIT
    )
}

impl Engine {
    /// Which limit is full for `w`, waiting and holding no place
    /// (`lacks_place`); none when it holds a place or one is free.
    pub(crate) fn no_place_for(&self, w: &Worker, now: DateTime<Utc>) -> Option<PlaceLimit> {
        let paused = self.paused_until(now);
        let (max_total, experts) = {
            let s = self.settings();
            (s.0.capacity.max_workers as usize, s.1.clone())
        };
        let store = self.store();
        let w = store.state().worker(&w.id)?;
        if !lacks_place(w, &paused) {
            return None;
        }
        Places::taken(store.state(), &paused).full_for(&w.expert, max_total, &experts)
    }

    /// Journals, once, that `w` waits for a free place (`full`: which limit
    /// is full), its reason `reason` with that wait, so every view says why
    /// it does not start. `asked`: a person restarted it (no breaker holds
    /// it any more).
    pub(crate) fn wait_for_place(
        &self,
        w: &Worker,
        reason: &str,
        full: &PlaceLimit,
        asked: bool,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let reason = place_wait_reason(reason, full);
        {
            let mut store = self.store();
            let Some(current) = store.state().worker(&w.id) else {
                return Ok(());
            };
            let said = current.reason.as_deref() == Some(reason.as_str());
            if current.status != WorkerStatus::Waiting || (said && current.restart_asked >= asked) {
                return Ok(());
            }
            let event = if asked {
                Event::WorkerRestartAsked {
                    worker_id: w.id.clone(),
                    reason: reason.clone(),
                }
            } else {
                Event::WorkerWaiting {
                    worker_id: w.id.clone(),
                    not_before: current.not_before.unwrap_or(now),
                    reason: reason.clone(),
                }
            };
            store.commit(event, now)?;
        }
        self.pm_log_about(now, "waits_for_place", w, &reason);
        self.emit_worker(&w.id);
        Ok(())
    }
}
