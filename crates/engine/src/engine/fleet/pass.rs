//! One pass of supervision: exits first, then each live worker's new output (bounded per
//! tick and shared fairly), budgets, and what ended.
//!
//! May depend on: the runtime's types, the launcher, the PM's picture, the store.

use crate::engine::Engine;
use crate::error::EngineError;
use crate::launcher::{Poll, Signal};
use crate::runtime::{
    absorb_output_up_to, heartbeat_files_may_be_new, live_cost, Live, AFTER_RESULT_GRACE,
    AFTER_RESULT_GRACE_STREAM, MIN_READ_PER_WORKER, TICK_READ_BUDGET,
};
use cortex_core::id::WorkerId;
use cortex_core::stream::{Exit, OutcomeKind};
use cortex_core::worker::AfterStop;
use std::collections::{HashMap, HashSet};
use std::time::{Duration as StdDuration, Instant};
use tracing::{info, warn};

impl Engine {
    /// One pass of the runtime: read output, notice ends, finish stops,
    /// start due restarts and new workers.
    pub fn tick_runtime(&self) -> Result<(), EngineError> {
        self.tick_runtime_reading().map(|_| ())
    }

    /// `tick_runtime`, saying whether output is left to read (the owner's
    /// loop then ticks again at once, between requests, instead of waiting).
    pub(crate) fn tick_runtime_reading(&self) -> Result<bool, EngineError> {
        self.runtime_pass(true)
    }

    /// The pass run when the exit watcher reports an end: settles the
    /// attempts whose process ended (their output read first) and starts
    /// what is then due, leaving the other attempts' output to the next tick.
    pub(crate) fn tick_exits(&self) -> Result<bool, EngineError> {
        self.runtime_pass(false)
    }

    pub(crate) fn runtime_pass(&self, full: bool) -> Result<bool, EngineError> {
        if !self.runtime().active {
            return Ok(false);
        }
        let mut backlog = false;
        let now = self.now();
        let grace = StdDuration::from_secs(self.config().pm.kill_grace_secs);
        let mut ended: Vec<(Live, Exit)> = Vec::new();
        let mut updates = Vec::new();
        // Budgets are checked as output arrives, on the live figures, not
        // only at the PM's tick: a stop decided at 100% stops near it.
        let (budgets, prices) = {
            let s = self.settings();
            let b: HashMap<String, (Option<u64>, Option<f64>)> =
                s.1.iter()
                    .filter(|e| e.token_budget.is_some() || e.cost_budget_usd.is_some())
                    .map(|e| (e.name.clone(), (e.token_budget, e.cost_budget_usd)))
                    .collect();
            (b, cortex_core::pricing::merged(&s.0.pricing))
        };
        let mut over_budget = Vec::new();
        let mut lingering: Vec<(WorkerId, u32)> = Vec::new();
        let launcher = self.launcher();
        let instant = self.instant();
        let since = |t: Instant| instant.saturating_duration_since(t);
        {
            let mut guard = self.runtime();
            let rt = &mut *guard;
            // The ends the exit watcher saw; `None`: every process is asked.
            let reported: Option<HashSet<u32>> = rt
                .exits
                .as_ref()
                .and_then(crate::exits::ExitWatcher::take_ended)
                .map(|pids| pids.into_iter().collect());
            let look_for_hooks = full
                && heartbeat_files_may_be_new(
                    &mut rt.heartbeats_changed,
                    &self.inner.home.heartbeats(),
                );
            // Output read per tick is bounded and shared fairly: a flood from
            // some workers delays neither the others nor the requests.
            let share = (TICK_READ_BUDGET / rt.live.len().max(1)).max(MIN_READ_PER_WORKER);
            let parallel = rt.reading_backlog;
            let mut gone: Vec<(WorkerId, Exit)> = Vec::new();
            // Each attempt's exit first: output read after it is all there
            // will be. A watched process is asked only once its end was
            // reported.
            let mut work: Vec<(&WorkerId, &mut Live, Option<Exit>)> = Vec::new();
            for (id, l) in &mut rt.live {
                let ask = !l.exit_watched || reported.as_ref().is_none_or(|r| r.contains(&l.pid));
                let exit = l.exited.or_else(|| {
                    if !ask {
                        None
                    } else if l.own {
                        match launcher.poll(l.pid) {
                            Poll::Running => None,
                            Poll::Exited(e) => Some(e),
                        }
                    } else {
                        (!launcher.is_same_process(l.pid, l.start_ticks, id.as_str()))
                            .then_some(Exit::Unknown)
                    }
                });
                if !full && exit.is_none() {
                    continue;
                }
                work.push((id, &mut **l, exit));
            }
            // Then the new output. While a backlog is left (a flood), the
            // tails are read on as many threads as there are cores: each
            // attempt's output is its own, and the passes after the agents
            // end are nothing but reading.
            let read = read_outputs(&mut work, now, share, look_for_hooks, parallel);
            for ((id, l, exit), (changed, more)) in work.into_iter().zip(read) {
                backlog |= more;
                // An agent whose result line arrived has finished: its work
                // is settled by that result, never stopped as over budget
                // while it shuts down (what it spent is shown either way).
                let finished = l.progress.activity == cortex_core::stream::Activity::Finished;
                if let (true, None, Some((tokens, cost)), false) =
                    (changed, &l.stop, budgets.get(&l.expert), finished)
                {
                    let used = l
                        .prior_tokens
                        .saturating_add(l.progress.tokens.in_and_out());
                    let spent = l.prior_cost_usd + live_cost(l, &prices).0;
                    let actions = cortex_core::health::budget_actions(
                        &l.worker_id,
                        l.attempt,
                        *tokens,
                        *cost,
                        true,
                        used,
                        spent,
                    );
                    if !actions.is_empty() {
                        over_budget.push((l.task_id.clone(), l.expert.clone(), actions));
                    }
                }
                if l.progress.result.is_some() && l.result_seen.is_none() {
                    l.result_seen = Some(instant);
                }
                if let (Some(exit), true) = (exit, more) {
                    // Ended, with output still to read: settled once it is read.
                    l.exited = Some(exit);
                    continue;
                }
                if let Some(exit) = exit {
                    gone.push((id.clone(), exit));
                    continue;
                }
                if let Some(stop) = l.stop.as_mut() {
                    // SIGKILL once the grace is over, and again each grace
                    // while the process is still there: a cluster whose
                    // controller did not answer the first cancel gets it
                    // once it answers, instead of the job running on.
                    let due = match stop.killed_at {
                        None => since(stop.term_sent) >= grace,
                        Some(at) => since(at) >= grace.max(StdDuration::from_secs(5)),
                    };
                    if due {
                        if stop.killed_at.is_none() {
                            warn!(worker_id = %id, attempt = l.attempt, "did not stop after SIGTERM; sending SIGKILL");
                        } else {
                            warn!(worker_id = %id, attempt = l.attempt, "still there after SIGKILL; sending it again");
                        }
                        launcher.signal(l.pid, Signal::Kill);
                        launcher.sweep(id.as_str(), None);
                        stop.killed_at = Some(instant);
                    }
                } else if l.result_seen.is_some_and(|t| {
                    let grace = if l.stdin_fifo.is_some() {
                        AFTER_RESULT_GRACE_STREAM
                    } else {
                        AFTER_RESULT_GRACE
                    };
                    since(t) >= grace
                }) {
                    warn!(worker_id = %id, "still running after its result line; stopping it");
                    // Journaled, then signalled, once the runtime is let go.
                    lingering.push((id.clone(), l.attempt));
                }
                // Output alone is news every 2 s per worker at most; state
                // changes (start, end, health) are emitted where they happen.
                let due = l
                    .last_emit
                    .is_none_or(|t| since(t) >= StdDuration::from_secs(2));
                if changed && due {
                    l.last_emit = Some(instant);
                    updates.push(id.clone());
                }
            }
            rt.reading_backlog = backlog;
            for (id, exit) in gone {
                if let Some(mut l) = rt.live.remove(&id) {
                    if let Some(r) = l.out.take_rest() {
                        l.progress.apply_line(&r, now);
                    }
                    ended.push((*l, exit));
                }
            }
        }
        // Its result settles it; the stop is journaled all the same, so any
        // view in any process reads it as being stopped, then as it ended.
        for (id, attempt) in lingering {
            self.request_stop(
                &id,
                Some(attempt),
                OutcomeKind::Success,
                "hung after its result line",
                None,
            );
        }
        for (task_id, expert, actions) in over_budget {
            for action in actions {
                self.apply_action(action, &task_id, &expert, now)?;
            }
        }
        // An attempt stopped to end its worker (a kill, a cancel) leaves
        // nothing behind before the worker reads as ended: its processes are
        // swept first. The others are swept below, after any replacement
        // has started.
        let ends_worker = |l: &Live| {
            matches!(
                l.stop.as_ref().and_then(|s| s.after.as_ref()),
                Some(AfterStop::End(_))
            )
        };
        let attempts = |ending: bool| -> Vec<(String, u32)> {
            ended
                .iter()
                .filter(|(l, _)| ends_worker(l) == ending)
                .map(|(l, _)| (l.worker_id.to_string(), l.attempt))
                .collect()
        };
        let (ending, ended_attempts) = (attempts(true), attempts(false));
        self.sweep_ended(&ending);
        for (live, exit) in ended {
            // An agent that gave its result and exited 0 on its own while a
            // stop that ends its worker (a kill, a cancel) was on its way
            // finished its work: it completed, it was not killed.
            let finished_first = matches!(
                live.stop.as_ref().and_then(|s| s.after.as_ref()),
                Some(AfterStop::End(_))
            ) && exit == Exit::Code(0)
                && live.progress.result.as_ref().is_some_and(|r| !r.is_error);
            // A stop that settles by the result line is no stop: the result decides.
            let (stopped, after, exit) = match &live.stop {
                _ if finished_first => (None, None, exit),
                Some(s) if s.after.is_none() => (None, None, Exit::Unknown),
                Some(s) => (Some((s.kind, s.reason.clone())), s.after.clone(), exit),
                None => (None, None, exit),
            };
            let outcome =
                self.settle_outcome(&live, exit, stopped.as_ref().map(|(k, r)| (*k, r.as_str())));
            self.finish_attempt(&live, outcome, after, now)?;
        }
        for id in updates {
            self.emit_worker(&id);
        }
        self.tick_checks(now)?;
        if !self.disk_full() {
            // No process is started that could not be recorded.
            self.start_goal_checks(now)?;
            self.start_due_restarts(now)?;
            self.schedule(now)?;
        }
        // No process of an ended attempt may outlive it. Swept once any
        // replacement has started, which its own attempt number spares: a
        // sweep reads every process's environment, a few milliseconds that
        // a crashed worker's replacement does not wait for.
        self.sweep_ended(&ended_attempts);
        self.store().sync()?;
        Ok(backlog)
    }

    /// Kills what ended attempts left running (their tag, their cgroups).
    fn sweep_ended(&self, attempts: &[(String, u32)]) {
        if attempts.is_empty() {
            return;
        }
        let swept = self.launcher().sweep_attempts(attempts);
        for ((worker_id, attempt), swept) in attempts.iter().zip(swept) {
            if swept > 0 {
                info!(worker_id = %worker_id, attempt, swept, "killed processes that outlived the attempt");
            }
        }
    }
}

/// Reads each attempt's new output (at most `share` bytes each), returning
/// per attempt whether anything changed and whether more is left. With
/// `parallel`, the attempts are split over the machine's cores (at most 4
/// threads), each thread reading its own attempts' files into their own
/// progress; otherwise on this thread.
fn read_outputs(
    work: &mut [(&WorkerId, &mut Live, Option<Exit>)],
    now: chrono::DateTime<chrono::Utc>,
    share: usize,
    look_for_hooks: bool,
    parallel: bool,
) -> Vec<(bool, bool)> {
    let read = |(_, l, exit): &mut (&WorkerId, &mut Live, Option<Exit>)| {
        if exit.is_some() {
            l.out.look_now();
            l.hooks.look_now();
        }
        absorb_output_up_to(l, now, share, look_for_hooks || exit.is_some())
    };
    // Asked once: the answer reads the cgroup's CPU quota files.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let threads = if parallel {
        *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4)))
    } else {
        1
    };
    if threads < 2 || work.len() < 2 {
        return work.iter_mut().map(read).collect();
    }
    let per = work.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let mut parts = work.chunks_mut(per);
        // The first part is read on this thread, the others beside it.
        let mine = parts.next().unwrap_or_default();
        let others: Vec<_> = parts
            .map(|part| scope.spawn(move || part.iter_mut().map(read).collect::<Vec<_>>()))
            .collect();
        let mut out: Vec<(bool, bool)> = mine.iter_mut().map(read).collect();
        for h in others {
            match h.join() {
                Ok(v) => out.extend(v),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}
