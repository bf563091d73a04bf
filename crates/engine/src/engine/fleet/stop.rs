//! Stopping: the whole fleet when the owner stops, and one worker's process on a request
//! (signal, grace, then kill), journaled before it is carried out.
//!
//! May depend on: the runtime's types, the launcher, the store.

use crate::engine::Engine;
use crate::launcher::Signal;
use crate::runtime::StopRequest;
use cortex_core::id::WorkerId;
use cortex_core::state::Event;
use cortex_core::stream::OutcomeKind;
use cortex_core::worker::AfterStop;
use cortex_core::worker::WorkerStatus;
use std::time::{Duration as StdDuration, Instant};
use tracing::{info, warn};

impl Engine {
    /// Quits supervising; with `on_quit: stop`, stops every live attempt.
    pub fn stop_runtime(&self, stop_workers: bool) {
        if !stop_workers {
            return;
        }
        let ids: Vec<WorkerId> = self.runtime().live.keys().cloned().collect();
        for id in &ids {
            self.request_stop(
                id,
                None,
                OutcomeKind::Killed,
                "stopped because Cortex quit",
                Some(AfterStop::End(WorkerStatus::Cancelled)),
            );
        }
        let grace = StdDuration::from_secs(self.config().pm.kill_grace_secs.saturating_add(5));
        let deadline = Instant::now().checked_add(grace);
        while !self.runtime().live.is_empty() && deadline.is_none_or(|d| Instant::now() < d) {
            let _ = self.tick_runtime();
            std::thread::sleep(StdDuration::from_millis(50));
        }
    }

    /// Asks a live attempt to stop (SIGTERM to its group now; SIGKILL and a
    /// sweep after the grace period). `attempt`, when given, must match the
    /// live one: a stale request is ignored. The intent is journaled first,
    /// so a stop that was acknowledged survives the owner's death, and every
    /// view, in any process, reads the worker as being stopped. `after`
    /// `None` settles the attempt by the result line it gave (an agent that
    /// lingers after it). Returns false if nothing was live.
    pub(crate) fn request_stop(
        &self,
        worker_id: &WorkerId,
        attempt: Option<u32>,
        kind: OutcomeKind,
        reason: &str,
        after: Option<AfterStop>,
    ) -> bool {
        let live = {
            let rt = self.runtime();
            rt.live.get(worker_id).map(|l| {
                (
                    l.attempt,
                    l.stop.as_ref().map(|s| s.after.clone()),
                    rt.pending_prompts.get(worker_id).cloned(),
                )
            })
        };
        let Some((live_attempt, current, prompt)) = live else {
            return false;
        };
        if attempt.is_some_and(|a| a != live_attempt) {
            warn!(worker_id = %worker_id, stale = attempt, live = live_attempt, "ignored a stop request for an older attempt");
            return false;
        }
        // A later, stronger intent wins (restart -> end); a weaker one adds nothing.
        let changes = match &current {
            None => true,
            Some(Some(AfterStop::End(_))) => false,
            Some(_) => matches!(after, Some(AfterStop::End(_))),
        };
        if changes {
            let intent = cortex_core::worker::StopIntent {
                attempt: live_attempt,
                kind,
                reason: reason.to_string(),
                then: after.clone(),
                prompt: prompt.filter(|_| after == Some(AfterStop::Restart)),
            };
            let journaled = self.store().commit(
                Event::StopRequested {
                    worker_id: worker_id.clone(),
                    intent,
                },
                self.now(),
            );
            if let Err(e) = journaled {
                warn!(worker_id = %worker_id, "cannot journal the stop request: {e}");
            }
        }
        self.signal_stop(worker_id, kind, reason, after)
    }

    /// Sends SIGTERM to a live attempt's group and records the stop in the
    /// live table (no journal: see `request_stop`).
    pub(crate) fn signal_stop(
        &self,
        worker_id: &WorkerId,
        kind: OutcomeKind,
        reason: &str,
        after: Option<AfterStop>,
    ) -> bool {
        let mut rt = self.runtime();
        let Some(l) = rt.live.get_mut(worker_id) else {
            return false;
        };
        match l.stop.as_mut() {
            None => {
                // Hidden as written (see `end_worker_as`).
                let shown = cortex_core::redact::redact(reason);
                info!(worker_id = %worker_id, attempt = l.attempt, reason = shown.as_str(), "stopping worker");
                self.launcher().signal(l.pid, Signal::Term);
                l.stop = Some(StopRequest {
                    kind,
                    reason: reason.to_string(),
                    after,
                    term_sent: self.instant(),
                    killed_at: None,
                });
            }
            Some(s) => {
                if matches!(after, Some(AfterStop::End(_)))
                    && !matches!(s.after, Some(AfterStop::End(_)))
                {
                    s.after = after;
                    s.kind = kind;
                    s.reason = reason.to_string();
                }
            }
        }
        true
    }
}
