//! The fleet at the owner's start: the runtime state, the agent command, the exit watcher, and
//! what each worker found in the journal needs (re-adopt, settle, start).
//!
//! May depend on: the runtime's types (`crate::runtime`), the store, the launcher.

use crate::engine::Engine;
use crate::error::EngineError;
use crate::launcher::Signal;
use crate::runtime::{absorb_output, attempt_dir, last_line, Live, Runtime, Tail};
use chrono::{DateTime, Utc};
use cortex_core::id::{TaskId, WorkerId};
use cortex_core::settle::{Next, OnStart};
use cortex_core::stream::{classify, classify_generic, Exit, Outcome, OutcomeKind};
use cortex_core::worker::{Worker, WorkerStatus};
use tracing::{info, warn};

impl Engine {
    pub(crate) fn runtime(&self) -> std::sync::MutexGuard<'_, Runtime> {
        self.inner.runtime.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The agent command attempts will run.
    pub fn agent_command(&self) -> Vec<String> {
        self.runtime().agent_command.clone()
    }

    pub(crate) fn set_agent_command_from_config(&self, command: &[String]) {
        let mut rt = self.runtime();
        if !rt.command_overridden {
            rt.agent_command = command.to_vec();
        }
    }

    /// Sets the command hooks use to report (`<exe> heartbeat`); the desktop
    /// app points it at its bundled `cortex`.
    pub fn set_heartbeat_command(&self, argv: Vec<String>) {
        self.runtime().heartbeat_command = argv;
    }

    /// Starts noticing ends of attempts as they happen (`exits`); what is
    /// notified then runs `tick_runtime`. `None` where that is not
    /// available: the tick notices them.
    pub(crate) fn start_exit_watcher(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        let watcher = self.launcher().exit_watcher()?;
        let wake = watcher.wake();
        self.runtime().exits = Some(watcher);
        Some(wake)
    }

    /// Stops the exit watcher (its thread, and the pidfds it holds).
    pub(crate) fn stop_exit_watcher(&self) {
        let watcher = self.runtime().exits.take();
        drop(watcher);
    }

    /// Every unfinished worker with what a starting owner does with it
    /// (`cortex_core::settle::on_start`).
    pub(crate) fn start_decisions(&self) -> Vec<(Worker, OnStart)> {
        let workers: Vec<Worker> = self
            .store()
            .state()
            .workers()
            .filter(|w| !w.status.is_terminal())
            .cloned()
            .collect();
        workers
            .into_iter()
            .map(|w| {
                let running = w.live_attempt().is_some_and(|a| {
                    a.pid.is_some_and(|p| {
                        self.launcher()
                            .is_same_process(p, a.start_ticks, w.id.as_str())
                    })
                });
                let d = cortex_core::settle::on_start(&w, running, self.max_restarts_of(&w.expert));
                (w, d)
            })
            .collect()
    }

    /// Settles the live attempt of a worker whose process is gone: its
    /// output decides (else `lost`), a journaled stop says what follows.
    pub(crate) fn settle_gone(
        &self,
        w: &Worker,
        now: DateTime<Utc>,
    ) -> Option<(Live, Outcome, Option<cortex_core::worker::StopIntent>)> {
        let a = w.live_attempt()?;
        let mut live = self.watch(w, a);
        absorb_output(&mut live, now);
        if let Some(r) = live.out.take_rest() {
            live.progress.apply_line(&r, now);
        }
        let pending = w.pending_stop().cloned();
        // A stop after the result line is no stop: the result decides.
        let stopped = pending
            .as_ref()
            .filter(|p| p.then.is_some())
            .map(|p| (p.kind, p.reason.as_str()));
        let mut outcome = self.settle_outcome(&live, Exit::Unknown, stopped);
        // Nobody saw it end: it ran until its last sign of life, not until
        // now (a restart would be charged the unwatched hours). Where the
        // output is the owner's copy (a pod), its time says nothing of the
        // agent: the end is then when it was found.
        if self.launcher().output_is_the_agents() {
            outcome.last_seen_at = Some(last_sign_of_life(&live).min(now));
        }
        Some((live, outcome, pending))
    }

    /// Starts supervising: re-adopts attempts that are still ours, carries
    /// out stops that were acknowledged but not finished, and settles every
    /// other worker from what its journal and output say. Called once by
    /// `run`.
    pub fn start_runtime(&self) -> Result<(), EngineError> {
        {
            let mut rt = self.runtime();
            if rt.active {
                return Ok(());
            }
            rt.active = true;
        }
        info!(
            "an attempt's processes are found by {}",
            self.launcher().describe()
        );
        self.launcher().prune();
        let now = self.now();
        for (w, decision) in self.start_decisions() {
            if matches!(decision, OnStart::Wait | OnStart::Decide(_)) {
                // Its last attempt's end is journaled; the next one may have
                // been started by the last owner and never recorded (killed
                // between the start and its journal's sync): that process
                // goes, or the next start would run a second agent beside it.
                let next = w.attempts.last().map_or(1, |a| a.n + 1);
                let swept = self.launcher().sweep(w.id.as_str(), Some(next));
                if swept > 0 {
                    info!(worker_id = %w.id, attempt = next, swept, "killed an unrecorded start of the worker's next attempt");
                }
            }
            match decision {
                OnStart::Nothing | OnStart::Wait => {}
                OnStart::StartFirst => {
                    // Created, but the engine stopped before its first attempt
                    // was recorded: end any process it may have started, then
                    // start it properly.
                    let swept = self.launcher().sweep(w.id.as_str(), None);
                    info!(worker_id = %w.id, swept, "starting a worker whose first start was not recorded");
                    self.start_attempt(&w, None, now)?;
                }
                OnStart::Readopt => {
                    let Some(a) = w.live_attempt().cloned() else {
                        continue;
                    };
                    let mut live = self.watch(&w, &a);
                    absorb_output(&mut live, now);
                    info!(worker_id = %w.id, attempt = a.n, pid = a.pid, "re-adopted a running worker");
                    let pending = w.pending_stop().cloned();
                    {
                        let mut rt = self.runtime();
                        // Checked again once watched: a pid reused in between
                        // would otherwise be watched in its place.
                        live.exit_watched = rt.watch_exit(live.pid)
                            && self.launcher().is_same_process(
                                live.pid,
                                live.start_ticks,
                                w.id.as_str(),
                            );
                        rt.live.insert(w.id.clone(), Box::new(live));
                    }
                    if let Some(stop) = pending {
                        // Acknowledged before the last owner died: carry it out.
                        info!(worker_id = %w.id, attempt = a.n, reason = %stop.reason, "carrying out a stop requested before the restart");
                        if let Some(p) = stop.prompt.clone() {
                            self.runtime().pending_prompts.insert(w.id.clone(), p);
                        }
                        self.signal_stop(&w.id, stop.kind, &stop.reason, stop.then);
                    }
                }
                OnStart::SettleGone => {
                    // A process still carrying the worker's tag was started
                    // after it but never recorded: it goes too.
                    let swept = self.launcher().sweep(w.id.as_str(), None);
                    if swept > 0 {
                        info!(worker_id = %w.id, swept, "killed unrecorded processes of a worker whose attempt ended");
                    }
                    let Some((live, outcome, pending)) = self.settle_gone(&w, now) else {
                        continue;
                    };
                    info!(worker_id = %w.id, attempt = live.attempt, outcome = outcome.kind.as_str(), "settled a worker that ended while no engine watched");
                    if let Some(p) = pending.as_ref().and_then(|p| p.prompt.clone()) {
                        self.runtime().pending_prompts.insert(w.id.clone(), p);
                    }
                    self.finish_attempt(&live, outcome, pending.and_then(|p| p.then), now)?;
                }
                OnStart::Decide(next) => {
                    // The attempt's end is journaled, what follows is not.
                    info!(worker_id = %w.id, next = ?next, "settling a worker whose attempt ended before the last owner stopped");
                    if let Some(p) = w.stop.as_ref().and_then(|p| p.prompt.clone()) {
                        self.runtime().pending_prompts.insert(w.id.clone(), p);
                    }
                    self.carry_out(&w, next, now)?;
                }
            }
        }
        self.cancel_unknown_jobs();
        self.store().sync()
    }

    /// On a cluster, where jobs outlive owners: cancels this home's jobs
    /// that the journal does not know as running (of a worker it has not,
    /// one that ended, an attempt that is not its live one, a check that
    /// does not run), such as a job a submission that got no answer left
    /// before an owner restarted. Nothing on this machine.
    fn cancel_unknown_jobs(&self) {
        let jobs = self.launcher().home_jobs();
        if jobs.is_empty() {
            return;
        }
        let unknown: Vec<(u32, String)> = {
            let store = self.store();
            let state = store.state();
            jobs.into_iter()
                .filter(|(_, worker, attempt)| {
                    let w = WorkerId::parse(worker).and_then(|id| state.worker(&id));
                    let known =
                        w.filter(|w| !w.status.is_terminal())
                            .is_some_and(|w| match attempt {
                                Some(n) => w.live_attempt().is_some_and(|a| a.n == *n),
                                None => w.verification.as_ref().is_some_and(|v| v.running()),
                            });
                    !known
                })
                .map(|(id, worker, _)| (id, worker))
                .collect()
        };
        for (id, worker) in unknown {
            info!(job = id, worker_id = %worker, "cancelled a job of this home that the journal does not know as running");
            self.launcher().signal(id, Signal::Kill);
        }
    }

    /// Settles the workers whose process ended while no owner watched, as
    /// `start_runtime` would, but starts no process: a read command that
    /// found the home free leaves restarts to the next owner.
    pub(crate) fn settle_unwatched(&self) -> Result<(), EngineError> {
        let now = self.now();
        for (w, decision) in self.start_decisions() {
            match decision {
                OnStart::SettleGone => {
                    let Some((live, outcome, pending)) = self.settle_gone(&w, now) else {
                        continue;
                    };
                    let then = pending.and_then(|p| p.then);
                    let next = cortex_core::settle::after_attempt(
                        &outcome,
                        then.as_ref(),
                        w.restarts(),
                        self.max_restarts_of(&w.expert),
                    );
                    if !self.starts_a_process(&w, &next) {
                        info!(worker_id = %w.id, attempt = live.attempt, outcome = outcome.kind.as_str(), "settled a worker that ended while no owner ran");
                        self.finish_attempt(&live, outcome, then, now)?;
                    }
                }
                OnStart::Decide(next) if !self.starts_a_process(&w, &next) => {
                    self.carry_out(&w, next, now)?;
                }
                _ => {}
            }
        }
        self.store().sync()
    }

    /// True when carrying out `next` would start a process (an attempt, or a
    /// check of the work): a read command leaves that to an owner.
    pub(crate) fn starts_a_process(&self, w: &Worker, next: &Next) -> bool {
        match next {
            Next::RestartNow { .. } => true,
            Next::Complete => self.check_for(w).is_some(),
            _ => false,
        }
    }

    /// The work of the tasks this task depends on, in its `after` order:
    /// their worktrees, or the branches kept for removed ones.
    pub(crate) fn dependency_work(&self, task_id: &TaskId) -> Vec<(crate::review::Work, String)> {
        let store = self.store();
        let state = store.state();
        let Some(task) = state.task(task_id) else {
            return Vec::new();
        };
        task.after
            .iter()
            .filter_map(|d| state.task(d))
            .flat_map(|dep| {
                state
                    .workers()
                    .filter(move |w| w.task_id == dep.id && w.status == WorkerStatus::Completed)
                    // A removed worktree's work is on the branch Cortex kept.
                    .filter_map(|w| {
                        let work = crate::review::work_of(&self.inner.home, w)?;
                        Some((work, crate::review::message_for(dep, &w.expert)))
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// After a full disk: settles the workers whose end could not be
    /// journaled (their process is gone and nothing watches them any more),
    /// and starts those whose first start was not recorded, as a start does.
    pub(crate) fn settle_unrecorded(&self) -> Result<(), EngineError> {
        let now = self.now();
        for (w, decision) in self.start_decisions() {
            if self.runtime().live.contains_key(&w.id) {
                continue;
            }
            match decision {
                OnStart::SettleGone => {
                    let Some((live, outcome, pending)) = self.settle_gone(&w, now) else {
                        continue;
                    };
                    info!(worker_id = %w.id, attempt = live.attempt, outcome = outcome.kind.as_str(), "settled a worker whose end could not be recorded on a full disk");
                    if let Some(p) = pending.as_ref().and_then(|p| p.prompt.clone()) {
                        self.runtime().pending_prompts.insert(w.id.clone(), p);
                    }
                    self.finish_attempt(&live, outcome, pending.and_then(|p| p.then), now)?;
                }
                OnStart::Decide(next) => self.carry_out(&w, next, now)?,
                OnStart::StartFirst => {
                    let swept = self.launcher().sweep(w.id.as_str(), None);
                    info!(worker_id = %w.id, swept, "starting a worker whose first start could not be recorded on a full disk");
                    self.start_attempt(&w, None, now)?;
                }
                OnStart::Readopt | OnStart::Nothing | OnStart::Wait => {}
            }
        }
        self.store().sync()
    }

    /// A live entry for a journaled attempt this engine did not start.
    pub(crate) fn watch(&self, w: &Worker, a: &cortex_core::worker::Attempt) -> Live {
        let dir = attempt_dir(&self.inner.home, &w.id, a.n);
        let mut live = Live::new(
            w,
            a,
            Tail::via(dir.join("stdout.jsonl"), self.inner.launcher.clone()),
            self.inner.home.heartbeats().join(format!("{}.jsonl", w.id)),
            false,
        );
        let fifo = dir.join("stdin.fifo");
        if fifo.exists() {
            live.stdin_fifo = Some(fifo);
        }
        live
    }

    pub(crate) fn max_restarts_of(&self, expert: &str) -> u32 {
        self.settings().1.get(expert).map_or(0, |e| e.max_restarts)
    }

    /// How an attempt ended, by the driver's rule: Claude Code's result
    /// line, or the generic driver's exit code (with its last stderr line).
    /// Without the agent's own cost, the cost is estimated from the tokens.
    pub(crate) fn settle_outcome(
        &self,
        live: &Live,
        exit: Exit,
        stopped: Option<(OutcomeKind, &str)>,
    ) -> Outcome {
        let (driver, prices) = {
            let s = self.settings();
            (s.0.agent.driver, cortex_core::pricing::merged(&s.0.pricing))
        };
        let outcome = match driver {
            cortex_core::config::Driver::Generic => {
                let stderr =
                    attempt_dir(&self.inner.home, &live.worker_id, live.attempt).join("stderr.log");
                classify_generic(&live.progress, exit, stopped, last_line(&stderr).as_deref())
            }
            cortex_core::config::Driver::Claude => classify(&live.progress, exit, stopped),
        };
        // The agent never started where its job ran: no crash to retry, a
        // start that failed, and why.
        if let Some(why) = self.launcher().start_failure(live.pid) {
            return Outcome::bare(
                OutcomeKind::SpawnFailed,
                format!("could not start the agent where its job ran: {why}"),
            );
        }
        let p = &live.progress;
        if let (Some(r), None) = (&p.result, p.agent_cost()) {
            warn!(worker_id = %live.worker_id, attempt = live.attempt,
                "the agent reported a cost of {:e} US dollars, which no run can cost: estimated from its tokens instead",
                r.total_cost_usd);
        }
        outcome.with_estimate(
            p.agent_cost().is_some(),
            cortex_core::pricing::estimate(&prices, p.model.as_deref(), &p.tokens),
        )
    }
}

/// The latest time an attempt was seen alive from its files: its output
/// and error files written, a check-in or a hook, else its start.
fn last_sign_of_life(live: &Live) -> DateTime<Utc> {
    let written = |p: &std::path::Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .map(DateTime::<Utc>::from)
    };
    let dir = live.out.path.parent();
    [
        written(&live.out.path),
        dir.and_then(|d| written(&d.join("stderr.log"))),
        live.last_hook_at,
        live.progress.last_checkin_at,
    ]
    .into_iter()
    .flatten()
    .fold(live.started_at, DateTime::max)
}
