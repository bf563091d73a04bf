//! Verification as the engine runs it: a task's check after a successful attempt, as its
//! own supervised process, re-adopted after a restart, and its verdict.
//!
//! May depend on: the check types (`crate::verify`), the launcher, the store.

use crate::engine::Engine;
use crate::error::EngineError;
use crate::launcher::{Poll, Signal};
use crate::spawner;
use crate::verify::{
    cap_log, decide, exit_file, recorded_exit, tail_of, AfterCheck, Check, LOG_CAP, LOG_KEPT,
    RECORD_EXIT,
};
use chrono::{DateTime, Utc};
use cortex_core::id::WorkerId;
use cortex_core::state::Event;
use cortex_core::worker::{Worker, WorkerStatus};
use std::path::PathBuf;
use std::time::{Duration as StdDuration, Instant};
use tracing::{info, warn};

impl Engine {
    /// The check that applies to a worker, most specific first: the task's,
    /// the expert's, the configuration's.
    pub(crate) fn check_for(&self, w: &Worker) -> Option<String> {
        let task = self
            .store()
            .state()
            .task(&w.task_id)
            .and_then(|t| t.verify.clone());
        let s = self.settings();
        task.or_else(|| s.1.get(&w.expert).and_then(|e| e.verify.clone()))
            .or_else(|| s.0.verify.command.clone())
            .filter(|c| !c.trim().is_empty())
    }

    /// An attempt of `w` succeeded: check its work, or complete it (not
    /// verified) when there is no check. A check already running (an owner
    /// restarted mid-check) is re-adopted, or run again if it is gone.
    pub(crate) fn complete_or_check(
        &self,
        w: &Worker,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let is_goal = self
            .store()
            .state()
            .task(&w.task_id)
            .is_some_and(|t| t.goal);
        if is_goal {
            return self.goal_answered(w, now);
        }
        let Some(command) = self.check_for(w) else {
            return self.end_worker(w, WorkerStatus::Completed, "completed", now);
        };
        let cwd = PathBuf::from(&w.workdir);
        if let Some(v) = w.verification.as_ref().filter(|v| v.running()) {
            if self.readopt_check(w, v) {
                return Ok(());
            }
            return self.start_check(w, &command, v.rounds, &cwd, now);
        }
        let round = w.verification.as_ref().map_or(0, |v| v.rounds) + 1;
        self.start_check(w, &command, round, &cwd, now)
    }

    /// Watches the running check `v` of `w` again (an owner restarted
    /// mid-check): true if its process is still there; else it is swept,
    /// its result unknown, for the caller to run it again.
    pub(crate) fn readopt_check(&self, w: &Worker, v: &cortex_core::worker::Verification) -> bool {
        let alive = v.pid.is_some_and(|p| {
            self.launcher()
                .is_same_process(p, v.start_ticks, w.id.as_str())
        });
        // Ended while no owner watched, its exit recorded beside its log:
        // watched again all the same, the next pass settles it by that
        // record instead of running the check a second time.
        let recorded = !alive && recorded_exit(&self.check_log(w)).is_some();
        if (alive || recorded) && self.runtime().active {
            info!(worker_id = %w.id, round = v.rounds, "re-adopted a running check");
            self.watch_check(Check {
                worker_id: w.id.clone(),
                round: v.rounds,
                command: v.command.clone(),
                pid: v.pid.unwrap_or(0),
                start_ticks: v.start_ticks,
                own: false,
                started: self.instant(),
                log: self.check_log(w),
                term_sent: None,
                stopping: None,
            });
            return true;
        }
        self.launcher().sweep(w.id.as_str(), None);
        false
    }

    /// Runs the check of every goal whose plan's tasks all completed, on
    /// their work merged together (`Engine::plan_merged_work`), as the
    /// goal's coordinator's check: its process, log and journal events are
    /// those of any check. One already running is re-adopted after a
    /// restart. What the goal becomes is the state's fold's business.
    pub(crate) fn start_goal_checks(&self, now: DateTime<Utc>) -> Result<(), EngineError> {
        let due: Vec<(cortex_core::id::TaskId, Worker, String)> = {
            let store = self.store();
            let state = store.state();
            state
                .goals_to_check()
                .filter_map(|g| {
                    let command = state.plan_of_goal(g)?.verify.clone()?;
                    let w = state
                        .task(g)?
                        .assignments
                        .iter()
                        .filter_map(|a| a.worker_id.as_ref())
                        .find_map(|id| state.worker(id))?;
                    Some((g.clone(), w.clone(), command))
                })
                .collect()
        };
        for (goal, w, command) in due {
            if self.runtime().checks.contains_key(&w.id) {
                continue;
            }
            let round = match w.verification.as_ref() {
                Some(v) if v.running() => {
                    if self.readopt_check(&w, v) {
                        continue;
                    }
                    v.rounds
                }
                Some(v) => v.rounds + 1,
                None => 1,
            };
            info!(task_id = %goal, "every task of the goal's plan completed: checking their merged work");
            match self.plan_merged_work(&goal) {
                Ok(dir) => self.start_check(&w, &command, round, &dir, now)?,
                Err(why) => self.check_not_run(&w, &command, round, &why, now)?,
            }
            if let Some(t) = self.store().state().task(&goal) {
                self.emit(crate::engine::EngineEvent::TaskUpdated { task: t.into() });
            }
        }
        Ok(())
    }

    /// Runs a worker's check again (its last run's result is unknown): a
    /// goal's check is picked up by `start_goal_checks`, a worker's here.
    pub(crate) fn rerun_check(&self, id: &WorkerId, now: DateTime<Utc>) -> Result<(), EngineError> {
        let Some(w) = self.store().state().worker(id).cloned() else {
            return Ok(());
        };
        if w.status.is_terminal() {
            return Ok(());
        }
        self.complete_or_check(&w, now)
    }

    /// Records a check that could not be run, and what follows.
    pub(crate) fn check_not_run(
        &self,
        w: &Worker,
        command: &str,
        round: u32,
        why: &str,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        self.store().commit(
            Event::VerifyStarted {
                worker_id: w.id.clone(),
                attempt: w.current().map_or(1, |a| a.n),
                round,
                command: command.to_string(),
                pid: None,
                start_ticks: None,
            },
            now,
        )?;
        let failure = format!("could not run: {why}");
        self.check_ended(&w.id, round, command, false, None, &failure, "", now)
    }

    pub(crate) fn check_log(&self, w: &Worker) -> PathBuf {
        let n = w.current().map_or(1, |a| a.n);
        self.inner
            .home
            .workers_dir()
            .join(w.id.as_str())
            .join(format!("attempt-{n}"))
            .join("verify.log")
    }

    pub(crate) fn start_check(
        &self,
        w: &Worker,
        command: &str,
        round: u32,
        cwd: &std::path::Path,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let log = self.check_log(w);
        if let Some(dir) = log.parent() {
            let _ = crate::files::create_dir_all(dir);
        }
        let _ = std::fs::remove_file(exit_file(&log));
        let _ = std::fs::remove_file(crate::verify::earlier_of(&log));
        let launch = spawner::Launch {
            // The command runs exactly as written (`sh -c CMD`); the shell
            // around it records its exit status next to its log, so an owner
            // that re-adopts the check (it is not its parent, and cannot wait
            // for it) still learns how it ended.
            argv: vec![
                "sh".into(),
                "-c".into(),
                RECORD_EXIT.into(),
                command.to_string(),
                exit_file(&log).display().to_string(),
            ],
            env: vec![
                ("CORTEX_WORKER_ID".into(), w.id.to_string()),
                (
                    "CORTEX_HOME".into(),
                    self.inner.home.root().display().to_string(),
                ),
            ],
            cwd: cwd.to_path_buf(),
            stdout: log.clone(),
            stderr: log.clone(),
            stdin_fifo: None,
            stdin_file: None,
            deadline_secs: None,
        };
        let attempt = w.current().map_or(1, |a| a.n);
        let spawned = self.launcher().launch(&launch, w.id.as_str(), None);
        let (pid, start_ticks) = match &spawned {
            Ok(started) => (Some(started.pid), started.start_ticks),
            Err(_) => (None, None),
        };
        // Journaled whether or not it started: the round counts either way.
        self.store().commit(
            Event::VerifyStarted {
                worker_id: w.id.clone(),
                attempt,
                round,
                command: command.to_string(),
                pid,
                start_ticks,
            },
            now,
        )?;
        match spawned {
            Ok(started) => {
                let pid = started.pid;
                info!(worker_id = %w.id, round, pid, "checking the work");
                self.watch_check(Check {
                    worker_id: w.id.clone(),
                    round,
                    command: command.to_string(),
                    pid,
                    start_ticks,
                    own: true,
                    started: self.instant(),
                    log,
                    term_sent: None,
                    stopping: None,
                });
                self.emit_worker(&w.id);
                Ok(())
            }
            Err(e) => {
                let failure = format!("could not start: {}", e.0);
                self.check_ended(&w.id, round, command, false, None, &failure, "", now)
            }
        }
    }

    pub(crate) fn watch_check(&self, check: Check) {
        let mut rt = self.runtime();
        rt.watch_exit(check.pid);
        rt.checks.insert(check.worker_id.clone(), check);
    }

    /// One pass over running checks: ends, timeouts, stops.
    pub(crate) fn tick_checks(&self, now: DateTime<Utc>) -> Result<(), EngineError> {
        let (timeout, grace) = {
            let c = self.config();
            (
                StdDuration::from_secs(c.verify.timeout_secs),
                StdDuration::from_secs(c.pm.kill_grace_secs),
            )
        };
        let mut ended = Vec::new();
        let local = self.runs_locally();
        let launcher = self.launcher();
        let instant = self.instant();
        {
            let mut rt = self.runtime();
            let ids: Vec<WorkerId> = rt.checks.keys().cloned().collect();
            for id in ids {
                let Some(c) = rt.checks.get_mut(&id) else {
                    continue;
                };
                // Only a log written on this machine: another appends to a
                // shared one from where it runs (a cluster's node).
                let capped = if local {
                    cap_log(&c.log, LOG_CAP, LOG_KEPT)
                } else {
                    Ok(false)
                };
                if let Err(e) = capped {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        warn!(worker_id = %id, "cannot keep the check's log under its cap: {e}");
                    }
                }
                let exit = if c.own {
                    match launcher.poll(c.pid) {
                        Poll::Running => None,
                        Poll::Exited(cortex_core::stream::Exit::Code(code)) => Some(Some(code)),
                        Poll::Exited(_) => Some(None),
                    }
                } else {
                    (!launcher.is_same_process(c.pid, c.start_ticks, id.as_str())).then_some(None)
                };
                if let Some(code) = exit {
                    if let Some(c) = rt.checks.remove(&id) {
                        ended.push((c, code));
                    }
                    continue;
                }
                let since = |t: Instant| instant.saturating_duration_since(t);
                if c.term_sent.is_none() && since(c.started) >= timeout {
                    warn!(worker_id = %id, round = c.round, "the check ran out of time; stopping it");
                    c.stopping = Some(format!("timed out after {}s", timeout.as_secs()));
                    c.term_sent = Some(instant);
                    launcher.signal(c.pid, Signal::Term);
                } else if c.term_sent.is_some_and(|t| since(t) >= grace) {
                    launcher.signal(c.pid, Signal::Kill);
                    launcher.sweep(id.as_str(), None);
                }
            }
        }
        for (c, code) in ended {
            launcher.sweep(c.worker_id.as_str(), None);
            let code = code.or_else(|| (!c.own).then(|| recorded_exit(&c.log)).flatten());
            if !c.own && code.is_none() && c.stopping.is_none() {
                // A re-adopted check that ended without recording how: its
                // result is unknown, so it runs again (same round).
                warn!(worker_id = %c.worker_id, round = c.round, "a re-adopted check ended without a recorded status; running it again");
                self.rerun_check(&c.worker_id, now)?;
                continue;
            }
            // What stays on disk is capped too, a flood at its end included.
            if self.runs_locally() {
                let _ = cap_log(&c.log, LOG_CAP, LOG_KEPT);
            }
            let tail = tail_of(&c.log);
            let (passed, failure) = match (&c.stopping, code) {
                (Some(why), _) => (false, why.clone()),
                (None, Some(0)) => (true, "passed".to_string()),
                (None, Some(n)) => (false, format!("exited {n}")),
                (None, None) => (false, "ended by a signal".to_string()),
            };
            let code = if c.stopping.is_some() { None } else { code };
            self.check_ended(
                &c.worker_id,
                c.round,
                &c.command,
                passed,
                code,
                &failure,
                &tail,
                now,
            )?;
        }
        Ok(())
    }

    /// Journals a check's end and carries out what follows.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn check_ended(
        &self,
        id: &WorkerId,
        round: u32,
        command: &str,
        passed: bool,
        exit_code: Option<i32>,
        failure: &str,
        tail: &str,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        self.store().commit(
            Event::VerifyEnded {
                worker_id: id.clone(),
                round,
                passed,
                exit_code,
                output_tail: (!tail.is_empty()).then(|| tail.to_string()),
                reason: failure.to_string(),
            },
            now,
        )?;
        info!(worker_id = %id, round, passed, "{command}: {failure}");
        let Some(w) = self.store().state().worker(id).cloned() else {
            return Ok(());
        };
        if w.status.is_terminal() {
            // A goal's check (its coordinator's part ended long ago) decided
            // the goal in the fold; or a person stopped the worker meanwhile.
            if let Some(t) = self.store().state().task(&w.task_id) {
                self.emit(crate::engine::EngineEvent::TaskUpdated { task: t.into() });
            }
            return Ok(());
        }
        let max_rounds = self.config().verify.max_rounds;
        match decide(command, round, max_rounds, passed, failure, tail) {
            AfterCheck::Complete => self.end_worker_as(
                &w,
                WorkerStatus::Completed,
                &format!("completed, verified: {command} passed"),
                Some(true),
                now,
            ),
            AfterCheck::Resume { prompt } => {
                self.runtime().pending_prompts.insert(w.id.clone(), prompt);
                self.store().sync()?;
                self.start_attempt(
                    &w,
                    Some(format!("verification failed: {command} {failure}")),
                    now,
                )
            }
            AfterCheck::NeedsAttention { reason } => {
                // The check ran and failed: how the expert did. One that
                // could not run says nothing of it (the one reading of a
                // check's end, `Verification::ended_as`).
                let failed = self
                    .store()
                    .state()
                    .worker(&w.id)
                    .and_then(|x| x.verification.as_ref())
                    .is_some_and(|v| v.ended_as() == "failed");
                let checked = failed.then_some(false);
                self.end_worker_as(&w, WorkerStatus::NeedsAttention, &reason, checked, now)
            }
        }
    }

    /// Stops a worker's running check, if it has one (a person's kill or
    /// cancel): true if there was one. The worker's end is the caller's.
    pub(crate) fn stop_check(&self, id: &WorkerId, why: &str) -> bool {
        let check = self.runtime().checks.remove(id);
        let Some(c) = check else {
            return false;
        };
        self.launcher().signal(c.pid, Signal::Kill);
        self.launcher().sweep(id.as_str(), None);
        let tail = tail_of(&c.log);
        let _ = self.store().commit(
            Event::VerifyEnded {
                worker_id: id.clone(),
                round: c.round,
                passed: false,
                exit_code: None,
                output_tail: (!tail.is_empty()).then_some(tail),
                reason: format!("stopped: {why}"),
            },
            chrono::Utc::now(),
        );
        true
    }
}
