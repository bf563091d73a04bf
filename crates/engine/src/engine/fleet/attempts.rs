//! What follows an attempt's end (decided by `cortex_core::settle`, carried out here):
//! verify, retry after a backoff, give up, end the worker; and starting an attempt.
//!
//! May depend on: the runtime's types, the store, verification.

use crate::engine::{Engine, EngineEvent, TaskDto};
use crate::error::EngineError;
use crate::runtime::{write_meta, Live};
use chrono::{DateTime, Utc};
use cortex_core::duration;
use cortex_core::restart::restart_delay_secs;
use cortex_core::settle::Next;
use cortex_core::state::Event;
use cortex_core::stream::{Outcome, OutcomeKind};
use cortex_core::worker::AfterStop;
use cortex_core::worker::{Worker, WorkerStatus};
use tracing::info;

impl Engine {
    /// Journals the end of an attempt and decides what follows.
    pub(crate) fn finish_attempt(
        &self,
        live: &Live,
        mut outcome: Outcome,
        after: Option<AfterStop>,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let max_restarts = self.max_restarts_of(&live.expert);
        // A cluster job seen queued that ran and ended between two looks:
        // its time counts from the last time it was seen in the queue.
        let seen_queued = self
            .pm()
            .workers
            .get(&live.worker_id)
            .filter(|e| e.attempt == live.attempt)
            .and_then(|e| e.queued_at);
        // Asked before the store is held: a launcher may read its files.
        // An agent that never began to run made no session: journaled, so
        // the next attempt (of this owner or the next) starts afresh. One
        // whose output was read ran, whatever its launcher's report lacks.
        let never_ran = live.progress.lines == 0 && self.launcher().never_ran(live.pid);
        outcome.never_ran |= never_ran;
        let worker = {
            let mut store = self.store();
            let unsaid = store
                .state()
                .worker(&live.worker_id)
                .and_then(|w| w.attempts.iter().find(|a| a.n == live.attempt))
                .is_some_and(|a| a.running_at.is_none());
            if let (Some(at), true) = (seen_queued, unsaid) {
                // Ended with no start reported (cancelled, or killed, while it
                // waited in the queue): it never ran, and none of its time is
                // run time.
                let left_at = if never_ran { now } else { at };
                store.stage(
                    Event::AttemptRunning {
                        worker_id: live.worker_id.clone(),
                        attempt: live.attempt,
                        left_at: Some(left_at),
                    },
                    now,
                )?;
            }
            store.stage(
                Event::AttemptEnded {
                    worker_id: live.worker_id.clone(),
                    attempt: live.attempt,
                    outcome: outcome.clone(),
                },
                now,
            )?;
            store.state().worker(&live.worker_id).cloned()
        };
        let Some(worker) = worker else {
            return self.store().sync();
        };
        info!(
            worker_id = %live.worker_id, task_id = %live.task_id, attempt = live.attempt,
            outcome = outcome.kind.as_str(), reason = %outcome.reason, "attempt ended"
        );
        if cortex_core::settle::counts_against_expert(cortex_core::settle::Failure::AttemptEnded {
            kind: outcome.kind,
            after: after.as_ref(),
            usage_limit: outcome.resets_at.is_some(),
        }) {
            self.note_failure(&live.expert, now);
        }
        let next = cortex_core::settle::after_attempt(
            &outcome,
            after.as_ref(),
            worker.restarts(),
            max_restarts,
        );
        self.carry_out(&worker, next, now)
    }

    /// Carries out what follows an ended attempt (journal first).
    pub(crate) fn carry_out(
        &self,
        worker: &Worker,
        next: Next,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let max_restarts = self.max_restarts_of(&worker.expert);
        match next {
            Next::Complete => self.complete_or_check(worker, now),
            Next::RestartNow { reason } => {
                // The end is durable before a replacement process exists.
                self.store().sync()?;
                self.start_attempt(worker, Some(reason), now)
            }
            Next::RestartAfterBackoff { reason, ended_as } => {
                self.schedule_restart(worker, &reason, max_restarts, ended_as, now)
            }
            Next::WaitForLimit { reason, until } => {
                // The next attempt resumes the conversation once the
                // account may ask again (never sooner than a restart's
                // first backoff: a service that keeps saying "in a second"
                // is not asked in a tight loop); the tick starts it when due.
                let soonest =
                    duration::later(now, duration::secs(self.config().restart.backoff_base_secs));
                let resumes = until.max(soonest);
                self.store().commit(
                    Event::WorkerWaiting {
                        worker_id: worker.id.clone(),
                        not_before: resumes,
                        reason: reason.clone(),
                    },
                    now,
                )?;
                // What Cortex did about it, said once per worker (a burst of
                // workers refused together is coalesced into one summary),
                // and kept in the activity log as the PM's alerts are.
                let message = format!(
                    "{reason}: it waits and resumes at {}",
                    crate::views::local_when(resumes, now)
                );
                self.pm_log_about(now, "alert", worker, &message);
                self.raise_alert(cortex_core::alerts::Alert::about_worker(
                    now,
                    cortex_core::health::AlertKind::UsageLimit,
                    cortex_core::health::Severity::Warning,
                    (
                        worker.id.clone(),
                        worker.task_id.clone(),
                        worker.current().map(|a| a.n),
                    ),
                    message,
                ));
                self.emit_worker(&worker.id);
                Ok(())
            }
            Next::End { status, reason } => self.end_worker(worker, status, &reason, now),
        }
    }

    /// Journals the wait before the next attempt, which depends on how the
    /// last one ended (`restart_delay_secs`): after a first crash it is due
    /// at once, and the tick that noticed the crash starts it.
    pub(crate) fn schedule_restart(
        &self,
        worker: &Worker,
        reason: &str,
        max_restarts: u32,
        ended_as: OutcomeKind,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let restart = self.config().restart;
        let n = worker.restarts().saturating_add(1);
        let wait = restart_delay_secs(
            restart.backoff_base_secs,
            restart.backoff_max_secs,
            n,
            ended_as,
        );
        let not_before = duration::later(now, duration::secs(wait));
        // When it is due is `not_before`: words saying "in 20s" would be
        // untrue a second later.
        let waiting = Event::WorkerWaiting {
            worker_id: worker.id.clone(),
            not_before,
            reason: format!("{reason}; restart {n} of {max_restarts}"),
        };
        if wait == 0 {
            // Started by this pass and synced with its start at the end of
            // it: no fsync between a crash and its replacement. Should the
            // engine die before that sync, the next start finds the crashed
            // attempt recorded as running and gone, sweeps the worker's
            // tagged processes (the unrecorded replacement among them) and
            // settles it again.
            self.store().stage(waiting, now)?;
        } else {
            self.store().commit(waiting, now)?;
        }
        self.emit_worker(&worker.id);
        Ok(())
    }

    pub(crate) fn end_worker(
        &self,
        worker: &Worker,
        status: WorkerStatus,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        self.end_worker_as(worker, status, reason, None, now)
    }

    /// `end_worker`, for an end its work's check decided (`Some(passed)`):
    /// only such an end teaches the router how the expert did.
    pub(crate) fn end_worker_as(
        &self,
        worker: &Worker,
        status: WorkerStatus,
        reason: &str,
        checked: Option<bool>,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        // A job an unanswered submission may have left runs nothing for an
        // ended worker.
        let left: Vec<u32> = {
            let mut rt = self.runtime();
            let marked: Vec<u32> = rt
                .maybe_submitted
                .iter()
                .filter(|(w, _)| *w == worker.id)
                .map(|(_, n)| *n)
                .collect();
            for n in &marked {
                rt.maybe_submitted.remove(&(worker.id.clone(), *n));
            }
            marked
        };
        for n in left {
            self.launcher().sweep(worker.id.as_str(), Some(n));
        }
        let task = {
            let mut store = self.store();
            store.commit(
                Event::WorkerEnded {
                    worker_id: worker.id.clone(),
                    status,
                    reason: reason.to_string(),
                },
                now,
            )?;
            store.state().task(&worker.task_id).cloned()
        };
        // Hidden here, as written: logged as a field, its quotes are
        // escaped, and the writer of the log file sees only the escaped text.
        let shown = cortex_core::redact::redact(reason);
        info!(worker_id = %worker.id, task_id = %worker.task_id, status = status.as_str(), reason = shown.as_str(), "worker ended");
        self.pm_worker_ended(&worker.id, status);
        if let Some((kind, severity)) = cortex_core::settle::ending_alert(status) {
            self.raise_alert(cortex_core::alerts::Alert::about_worker(
                now,
                kind,
                severity,
                (
                    worker.id.clone(),
                    worker.task_id.clone(),
                    worker.current().map(|a| a.n),
                ),
                ending_words(&worker.expert, status, reason),
            ));
        }
        if let Some(t) = &task {
            // Only a checked outcome teaches the router: an agent's own word
            // that it is done, or a crash, says nothing of the routing.
            if let (Some(passed), false) = (checked, status == WorkerStatus::Cancelled) {
                self.record_outcome(&t.id, &t.description, &worker.expert, passed, now);
            }
            self.emit(EngineEvent::TaskUpdated {
                task: TaskDto::from(t),
            });
            if let Some(plan) = &t.plan_id {
                self.emit_plan_updates(plan);
            }
        }
        self.emit_worker(&worker.id);
        Ok(())
    }

    /// Starts the next attempt of a worker (the first, or a restart).
    pub(crate) fn start_attempt(
        &self,
        worker: &Worker,
        resume_reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let meta = self.launch_attempt(worker, resume_reason, now)?;
        self.emit_worker(&worker.id);
        write_meta(worker, meta.as_ref());
        Ok(())
    }
}

/// How an ending alert says it: "development failed: reached the maximum
/// number of turns", or "development completed" when the reason only says
/// the state again.
fn ending_words(expert: &str, status: WorkerStatus, reason: &str) -> String {
    let state = status.as_str().replace('_', " ");
    format!(
        "{expert} {}",
        cortex_core::worker::state_and_reason(&state, Some(reason))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ending_says_its_reason_only_when_it_adds_something() {
        assert_eq!(
            ending_words("development", WorkerStatus::Completed, "completed"),
            "development completed"
        );
        assert_eq!(
            ending_words(
                "development",
                WorkerStatus::Completed,
                "completed, verified: make test passed"
            ),
            "development completed, verified: make test passed"
        );
        assert_eq!(
            ending_words(
                "inventory",
                WorkerStatus::NeedsInput,
                "a tool was denied: Bash"
            ),
            "inventory needs input: a tool was denied: Bash"
        );
    }
}
