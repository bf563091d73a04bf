//! What follows an attempt's end, and what an owner does with each worker
//! when it starts: pure decisions over the journaled worker, so that a crash
//! between any two journal records leaves nothing running without a process
//! and nothing running twice.
//!
//! The engine carries the decisions out (journal first, then processes);
//! the same `after_attempt` serves an attempt that ended under a running
//! owner and one whose end was journaled just before a crash.

use chrono::{DateTime, Utc};

use crate::health::{AlertKind, Severity};
use crate::stream::{Outcome, OutcomeKind};
use crate::worker::{AfterStop, Worker, WorkerStatus};

/// What follows an ended attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The worker completed.
    Complete,
    /// Start the next attempt now, resuming the conversation.
    RestartNow {
        /// Why the worker restarts.
        reason: String,
    },
    /// Start the next attempt after the restart delay for an attempt that
    /// ended as `ended_as` (`restart::restart_delay_secs`).
    RestartAfterBackoff {
        /// Why the worker restarts.
        reason: String,
        /// How the attempt ended, which sets the delay.
        ended_as: OutcomeKind,
    },
    /// Start the next attempt once the account's usage limit resets
    /// (`until`): a wait, not a restart, and no restart is used up.
    WaitForLimit {
        /// Why the worker waits.
        reason: String,
        /// When the limit resets.
        until: DateTime<Utc>,
    },
    /// The worker ends with this status and reason.
    End {
        /// The status the worker ends with.
        status: WorkerStatus,
        /// Why it ends.
        reason: String,
    },
}

/// Decides what follows an ended attempt: a requested stop says it, else
/// success completes, a transient failure with restarts left restarts after
/// the backoff, and anything else fails with its reason.
pub fn after_attempt(
    outcome: &Outcome,
    stop: Option<&AfterStop>,
    restarts_used: u32,
    max_restarts: u32,
) -> Next {
    let reason = outcome.reason.clone();
    match stop {
        Some(AfterStop::Restart) => Next::RestartNow { reason },
        // The PM killed a hung attempt: no crash, so it backs off from the first.
        Some(AfterStop::RestartAfterBackoff) => Next::RestartAfterBackoff {
            reason,
            ended_as: OutcomeKind::Killed,
        },
        Some(AfterStop::End(status)) => Next::End {
            status: *status,
            reason,
        },
        None if outcome.kind == OutcomeKind::Success => Next::Complete,
        None if outcome.kind == OutcomeKind::NeedsInput => Next::End {
            status: WorkerStatus::NeedsInput,
            reason,
        },
        None if outcome.kind.is_transient() && outcome.resets_at.is_some() => Next::WaitForLimit {
            reason,
            until: outcome.resets_at.unwrap_or_default(),
        },
        None if outcome.kind.is_transient() && restarts_used < max_restarts => {
            Next::RestartAfterBackoff {
                reason,
                ended_as: outcome.kind,
            }
        }
        None if outcome.kind.is_transient() => Next::End {
            status: WorkerStatus::Failed,
            reason: format!("{reason} (no restarts left)"),
        },
        None => Next::End {
            status: WorkerStatus::Failed,
            reason,
        },
    }
}

/// What a starting owner does with one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnStart {
    /// Ended: nothing.
    Nothing,
    /// Created, but its first start was never recorded: end any process it
    /// may have started (by its tag), then start it.
    StartFirst,
    /// Its live attempt's process is ours and running: watch it again, and
    /// carry out a stop that was requested and not finished.
    Readopt,
    /// Its live attempt's process is gone: settle the attempt from its
    /// output, then decide with `after_attempt`.
    SettleGone,
    /// Its last attempt ended but what follows was never journaled.
    Decide(Next),
    /// Between attempts, with a restart time: the tick starts it when due.
    Wait,
}

/// Decides what a starting owner does with `w`, given whether the process
/// of its live attempt (if any) is still the one it started.
pub fn on_start(w: &Worker, live_process_running: bool, max_restarts: u32) -> OnStart {
    if w.status.is_terminal() {
        return OnStart::Nothing;
    }
    if w.attempts.is_empty() {
        return OnStart::StartFirst;
    }
    if w.live_attempt().is_some() {
        return if live_process_running {
            OnStart::Readopt
        } else {
            OnStart::SettleGone
        };
    }
    if w.status == WorkerStatus::Waiting && w.not_before.is_some() {
        return OnStart::Wait;
    }
    let Some(outcome) = w.current().and_then(|a| a.outcome.as_ref()) else {
        return OnStart::StartFirst;
    };
    let stop = w
        .stop
        .as_ref()
        .filter(|s| w.current().is_some_and(|a| a.n == s.attempt))
        .and_then(|s| s.then.as_ref());
    OnStart::Decide(after_attempt(outcome, stop, w.restarts(), max_restarts))
}

/// The alert a worker's end raises, if any: its kind and severity. A
/// person's cancel raises none (they know), nor does a worker still going.
pub fn ending_alert(status: WorkerStatus) -> Option<(AlertKind, Severity)> {
    match status {
        WorkerStatus::Failed | WorkerStatus::NeedsAttention => {
            Some((AlertKind::Failed, Severity::Critical))
        }
        WorkerStatus::Completed => Some((AlertKind::Completed, Severity::Info)),
        WorkerStatus::NeedsInput => Some((AlertKind::NeedsInput, Severity::Warning)),
        _ => None,
    }
}

/// A failure seen by the engine, as its expert's circuit breaker counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure<'a> {
    /// The PM decided to stop an attempt (hung, a zombie, over a limit), and
    /// the stop was sent: counted when decided.
    PmStop(OutcomeKind),
    /// An attempt ended so, and this stop (if any) was asked for it.
    AttemptEnded {
        /// How the attempt ended.
        kind: OutcomeKind,
        /// The stop asked for the attempt, if any.
        after: Option<&'a AfterStop>,
        /// True when the account's usage limit refused it (`Outcome::resets_at`).
        usage_limit: bool,
    },
}

/// True when the failure counts against the expert's circuit breaker. Each
/// failure is counted once: a PM stop when it is decided (a limit's stop,
/// time or budget, is not the expert's failure), an attempt's end only when
/// it is the agent's own failure and not the end of such a PM stop (which
/// restarts after the backoff and was counted already).
pub fn counts_against_expert(failure: Failure<'_>) -> bool {
    match failure {
        Failure::PmStop(kind) => !matches!(kind, OutcomeKind::Budget | OutcomeKind::TimedOut),
        // The account's limit is no expert's failure.
        Failure::AttemptEnded {
            usage_limit: true, ..
        } => false,
        Failure::AttemptEnded { kind, after, .. } => {
            kind.counts_against_expert() && !matches!(after, Some(AfterStop::RestartAfterBackoff))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{TaskId, WorkerId};
    use crate::input::ValidSubmission;
    use crate::state::{new_task, Event, Record, State};
    use crate::task::Priority;
    use crate::worker::StopIntent;
    use chrono::{DateTime, Utc};

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn outcome(kind: OutcomeKind, reason: &str) -> Outcome {
        Outcome::bare(kind, reason)
    }

    #[test]
    fn a_usage_limit_is_waited_for_with_no_restart_used_and_no_expert_blamed() {
        let mut limited = outcome(
            OutcomeKind::RateLimited,
            "the 5-hour usage limit was reached",
        );
        limited.resets_at = Some(at(3600));
        // Even with no restart left.
        assert_eq!(
            after_attempt(&limited, None, 2, 2),
            Next::WaitForLimit {
                reason: "the 5-hour usage limit was reached".into(),
                until: at(3600)
            }
        );
        // A person's stop still decides.
        assert!(matches!(
            after_attempt(
                &limited,
                Some(&AfterStop::End(WorkerStatus::Cancelled)),
                0,
                2
            ),
            Next::End { .. }
        ));
        let ended = |usage_limit| Failure::AttemptEnded {
            kind: OutcomeKind::RateLimited,
            after: None,
            usage_limit,
        };
        assert!(!counts_against_expert(ended(true)));
        assert!(counts_against_expert(ended(false)));
    }

    #[test]
    fn after_an_attempt_a_stop_request_decides_else_the_outcome() {
        let crash = outcome(OutcomeKind::Crashed, "exited with 3");
        let ok = outcome(OutcomeKind::Success, "completed");
        let bad = outcome(OutcomeKind::MaxTurns, "max turns");
        assert_eq!(after_attempt(&ok, None, 0, 2), Next::Complete);
        assert!(matches!(
            after_attempt(&crash, None, 1, 2),
            Next::RestartAfterBackoff { .. }
        ));
        assert_eq!(
            after_attempt(&crash, None, 2, 2),
            Next::End {
                status: WorkerStatus::Failed,
                reason: "exited with 3 (no restarts left)".into()
            }
        );
        assert_eq!(
            after_attempt(&bad, None, 0, 2),
            Next::End {
                status: WorkerStatus::Failed,
                reason: "max turns".into()
            }
        );
        let killed = outcome(OutcomeKind::Killed, "killed by a person");
        assert_eq!(
            after_attempt(
                &killed,
                Some(&AfterStop::End(WorkerStatus::Cancelled)),
                0,
                2
            ),
            Next::End {
                status: WorkerStatus::Cancelled,
                reason: "killed by a person".into()
            }
        );
        assert!(matches!(
            after_attempt(&killed, Some(&AfterStop::Restart), 5, 2),
            Next::RestartNow { .. }
        ));
    }

    /// Attempt `n` of `w` started, resuming its session after the first.
    fn started(w: &WorkerId, n: u32) -> Event {
        Event::AttemptStarted {
            worker_id: w.clone(),
            attempt: n,
            pid: Some(100 + n),
            start_ticks: Some(7),
            session_id: Some("s".into()),
            resumed: n > 1,
        }
    }

    /// A task submitted and routed to development, as the journal has it.
    fn submitted(task_id: &TaskId) -> Vec<Event> {
        let task = new_task(
            task_id.clone(),
            ValidSubmission {
                description: "fix it".into(),
                task_type: None,
                priority: Priority::Medium,
                key: None,
                workdir: Some("/tmp".into()),
                worktree: false,
                verify: None,
            },
            "fp".into(),
            None,
            at(0),
        );
        vec![
            Event::TaskSubmitted {
                task: Box::new(task),
            },
            Event::TaskRouted {
                task_id: task_id.clone(),
                routing: crate::task::RoutingSummary {
                    primary_expert: "development".into(),
                    confidence: 0.9,
                    strategy: crate::router::Strategy::SingleExpert,
                    method: crate::router::Method::Keywords,
                    needs_confirmation: false,
                    explanation: String::new(),
                },
                experts: vec!["development".into()],
            },
        ]
    }

    #[test]
    fn a_persons_replies_and_restarts_do_not_use_up_the_restart_budget() {
        let (task, w) = (TaskId::new(1, [3; 10]), WorkerId::new(1, [4; 10]));
        let started = |n: u32| started(&w, n);
        let ended = |n: u32, kind: OutcomeKind| Event::AttemptEnded {
            worker_id: w.clone(),
            attempt: n,
            outcome: outcome(kind, "r"),
        };
        let replied = Event::WorkerReplied {
            worker_id: w.clone(),
            text: "one more thing".into(),
        };
        let events = vec![
            Event::WorkerCreated {
                worker: Box::new(Worker::new(
                    w.clone(),
                    task.clone(),
                    "development",
                    "/tmp".into(),
                    at(1),
                )),
            },
            started(1),
            ended(1, OutcomeKind::Success),
            replied.clone(),
            started(2),
            ended(2, OutcomeKind::Success),
            replied,
            started(3),
            Event::StopRequested {
                worker_id: w.clone(),
                intent: StopIntent {
                    attempt: 3,
                    kind: OutcomeKind::Killed,
                    reason: "restarted by a person".into(),
                    then: Some(AfterStop::Restart),
                    prompt: None,
                },
            },
            ended(3, OutcomeKind::Killed),
            started(4),
            ended(4, OutcomeKind::Crashed),
        ];
        let mut state = State::default();
        let head = submitted(&task);
        for (seq, e) in (1u64..).zip(head.into_iter().chain(events)) {
            state.apply(&Record::new(seq, at(seq as i64), e));
        }
        let worker = state.worker(&w).expect("worker").clone();
        // Attempts 2 and 3 were a person's replies, 4 a person's restart: the
        // crash of attempt 4 is the worker's first failure, so it restarts.
        assert_eq!(worker.restarts(), 0);
        assert!(worker.attempts[1..].iter().all(|a| a.on_request));
        assert!(matches!(
            after_attempt(
                &outcome(OutcomeKind::Crashed, "exited with 3"),
                None,
                worker.restarts(),
                2
            ),
            Next::RestartAfterBackoff { .. }
        ));
        // The restart that follows a crash counts.
        let mut state2 = state.clone();
        for (seq, e) in (100u64..).zip([
            Event::WorkerWaiting {
                worker_id: w.clone(),
                not_before: at(120),
                reason: "exited with 3; restart 1 of 2".into(),
            },
            started(5),
        ]) {
            state2.apply(&Record::new(seq, at(seq as i64), e));
        }
        let after = state2.worker(&w).expect("worker");
        assert!(!after.attempts[4].on_request);
        assert_eq!(after.restarts(), 1);
    }

    /// A worker's journal records in the order an owner writes them, for
    /// one life: crash, restart, a person's kill that ends it.
    fn life(task: &TaskId, w: &WorkerId) -> Vec<Event> {
        let worker = Worker::new(w.clone(), task.clone(), "development", "/tmp".into(), at(1));
        let started = |n: u32| started(w, n);
        vec![
            Event::WorkerCreated {
                worker: Box::new(worker),
            },
            started(1),
            Event::AttemptEnded {
                worker_id: w.clone(),
                attempt: 1,
                outcome: outcome(OutcomeKind::Crashed, "exited with 3"),
            },
            Event::WorkerWaiting {
                worker_id: w.clone(),
                not_before: at(40),
                reason: "exited with 3; restart 1 of 2".into(),
            },
            started(2),
            Event::StopRequested {
                worker_id: w.clone(),
                intent: StopIntent {
                    attempt: 2,
                    kind: OutcomeKind::Killed,
                    reason: "killed by a person".into(),
                    then: Some(AfterStop::End(WorkerStatus::Cancelled)),
                    prompt: None,
                },
            },
            Event::AttemptEnded {
                worker_id: w.clone(),
                attempt: 2,
                outcome: outcome(OutcomeKind::Killed, "killed by a person"),
            },
            Event::WorkerEnded {
                worker_id: w.clone(),
                status: WorkerStatus::Cancelled,
                reason: "killed by a person".into(),
            },
        ]
    }

    /// The same life ending in success instead.
    fn successful_life(task: &TaskId, w: &WorkerId) -> Vec<Event> {
        let mut events = life(task, w);
        events.truncate(5);
        events.push(Event::AttemptEnded {
            worker_id: w.clone(),
            attempt: 2,
            outcome: outcome(OutcomeKind::Success, "completed"),
        });
        events.push(Event::WorkerEnded {
            worker_id: w.clone(),
            status: WorkerStatus::Completed,
            reason: "completed".into(),
        });
        events
    }

    /// The records an owner writes to carry out a decision (processes are
    /// started for `StartFirst` and `RestartNow`; a settled attempt ends).
    fn carry_out(state: &State, w: &Worker, d: &OnStart, seq: &mut u64) -> Vec<Record> {
        let mut next = |event| {
            *seq += 1;
            Record::new(*seq, at(100 + *seq as i64), event)
        };
        let n = w.current().map_or(1, |a| a.n + 1);
        let start = |n| Event::AttemptStarted {
            worker_id: w.id.clone(),
            attempt: n,
            pid: Some(900 + n),
            start_ticks: Some(9),
            session_id: None,
            resumed: n > 1,
        };
        let decided = |next_: &Next| match next_ {
            Next::Complete => Event::WorkerEnded {
                worker_id: w.id.clone(),
                status: WorkerStatus::Completed,
                reason: "completed".into(),
            },
            Next::RestartNow { .. } => start(n),
            Next::RestartAfterBackoff { reason, .. } => Event::WorkerWaiting {
                worker_id: w.id.clone(),
                not_before: at(500),
                reason: reason.clone(),
            },
            Next::WaitForLimit { reason, until } => Event::WorkerWaiting {
                worker_id: w.id.clone(),
                not_before: *until,
                reason: reason.clone(),
            },
            Next::End { status, reason } => Event::WorkerEnded {
                worker_id: w.id.clone(),
                status: *status,
                reason: reason.clone(),
            },
        };
        let _ = state;
        match d {
            OnStart::Nothing | OnStart::Readopt | OnStart::Wait => vec![],
            OnStart::StartFirst => vec![next(start(n))],
            OnStart::Decide(x) => vec![next(decided(x))],
            OnStart::SettleGone => {
                let live = w.live_attempt().map_or(1, |a| a.n);
                let lost = outcome(OutcomeKind::Lost, "the process is gone");
                let stop = w.pending_stop().and_then(|s| s.then.clone());
                let x = after_attempt(&lost, stop.as_ref(), w.restarts(), 2);
                vec![
                    next(Event::AttemptEnded {
                        worker_id: w.id.clone(),
                        attempt: live,
                        outcome: lost,
                    }),
                    next(decided(&x)),
                ]
            }
        }
    }

    #[test]
    fn a_crash_after_any_record_leaves_nothing_running_without_a_process_and_nothing_twice() {
        let task_id = TaskId::parse("t-01m85c8stnvvhps4dd4r52czgd").unwrap();
        let w = WorkerId::parse("w-01m85c8stnvvhps4dd4r52czgd").unwrap();
        let head = submitted(&task_id);
        let mut cases = 0;
        for body in [life(&task_id, &w), successful_life(&task_id, &w)] {
            for cut in 0..=body.len() {
                for alive in [false, true] {
                    let mut state = State::default();
                    let mut seq = 0;
                    for e in head.iter().chain(&body[..cut]) {
                        seq += 1;
                        state.apply(&Record::new(seq, at(seq as i64), e.clone()));
                    }
                    let Some(worker) = state.worker(&w).cloned() else {
                        assert_eq!(cut, 0);
                        continue;
                    };
                    let had_live = worker.live_attempt().is_some();
                    let decision = on_start(&worker, alive, 2);
                    if had_live && alive {
                        assert_eq!(
                            decision,
                            OnStart::Readopt,
                            "cut {cut}: a running process is watched, never started again"
                        );
                    }
                    for rec in carry_out(&state, &worker, &decision, &mut seq) {
                        state.apply(&rec);
                    }
                    let after = state.worker(&w).expect("worker");
                    let running_without_process =
                        matches!(after.status, WorkerStatus::Running | WorkerStatus::Starting)
                            && after.live_attempt().is_none();
                    assert!(
                        !running_without_process,
                        "cut {cut} alive {alive}: {decision:?} left {:?} with no live attempt",
                        after.status
                    );
                    let live_attempts = after.attempts.iter().filter(|a| a.is_live()).count();
                    assert!(live_attempts <= 1, "cut {cut}: two live attempts");
                    if cut == 6 && !alive && body.len() == 8 {
                        // Killed by a person, acknowledged, owner died in the
                        // grace period: the kill is carried out, not undone.
                        assert_eq!(after.status, WorkerStatus::Cancelled, "{decision:?}");
                    }
                    if cut == 7 && body.len() == 8 {
                        assert_eq!(
                            after.status,
                            WorkerStatus::Cancelled,
                            "the journaled kill decides after the attempt ended"
                        );
                    }
                    let task = state.task(&task_id).expect("task");
                    if after.status.is_terminal() {
                        assert!(
                            task.status.is_terminal(),
                            "cut {cut}: task left {:?}",
                            task.status
                        );
                    }
                    cases += 1;
                }
            }
        }
        assert!(cases >= 30, "{cases}");
    }

    #[test]
    fn every_ending_but_a_cancel_alerts_with_its_severity() {
        use crate::health::{AlertKind as K, Severity as S};
        let cases = [
            (WorkerStatus::Failed, Some((K::Failed, S::Critical))),
            (WorkerStatus::NeedsAttention, Some((K::Failed, S::Critical))),
            (WorkerStatus::Completed, Some((K::Completed, S::Info))),
            (WorkerStatus::NeedsInput, Some((K::NeedsInput, S::Warning))),
            (WorkerStatus::Cancelled, None),
            (WorkerStatus::Running, None),
        ];
        for (status, want) in cases {
            assert_eq!(ending_alert(status), want, "{status:?}");
        }
    }

    #[test]
    fn each_failure_is_counted_once_against_its_expert() {
        use OutcomeKind::{Budget, Crashed, Killed, Lost, Success, TimedOut};
        let backoff = AfterStop::RestartAfterBackoff;
        let restart = AfterStop::Restart;
        let cases = [
            (Failure::PmStop(Lost), true),
            (Failure::PmStop(TimedOut), false),
            (Failure::PmStop(Budget), false),
            (
                Failure::AttemptEnded {
                    kind: Crashed,
                    after: None,
                    usage_limit: false,
                },
                true,
            ),
            (
                Failure::AttemptEnded {
                    kind: Crashed,
                    after: Some(&restart),
                    usage_limit: false,
                },
                true,
            ),
            // The end of the PM's own stop: counted when it was decided.
            (
                Failure::AttemptEnded {
                    kind: Crashed,
                    after: Some(&backoff),
                    usage_limit: false,
                },
                false,
            ),
            (
                Failure::AttemptEnded {
                    kind: Killed,
                    after: None,
                    usage_limit: false,
                },
                false,
            ),
            (
                Failure::AttemptEnded {
                    kind: Success,
                    after: None,
                    usage_limit: false,
                },
                false,
            ),
        ];
        for (failure, counts) in cases {
            assert_eq!(counts_against_expert(failure), counts, "{failure:?}");
        }
    }
}
