//! What a person does to one worker (nudge, reply, kill, restart) and the worker views.
//!
//! May depend on: the runtime's types, the store, the launcher.

use crate::driver::{self};
use crate::engine::{Engine, EngineEvent, TaskDto};
use crate::error::EngineError;
use crate::launcher::Signal;
use crate::runtime::{apply_verdict, attempt_dir, ended, worker_dto, Tail, WorkerDto};
use cortex_core::id::{TaskId, WorkerId};
use cortex_core::redact::redact;
use cortex_core::state::Event;
use cortex_core::stream::{classify, Exit, OutcomeKind, Progress};
use cortex_core::worker::AfterStop;
use cortex_core::worker::{Worker, WorkerStatus};
use std::time::{Duration as StdDuration, Instant};

impl Engine {
    /// A person's message to a worker: its attempt is stopped and a new one
    /// resumes the conversation with the message as the next prompt (agents
    /// in `-p` mode read no input while they run).
    pub fn nudge_worker(&self, id: &str, text: &str) -> Result<WorkerDto, EngineError> {
        let text = cortex_core::input::validate_message("the nudge text", text)?;
        let w = self.worker_record(id)?;
        if w.status.is_terminal() {
            return Err(ended(&w, "nudge"));
        }
        let wid = w.id;
        // An agent reading stream-json on stdin gets the message as it runs.
        let fifo = self
            .runtime()
            .live
            .get(&wid)
            .and_then(|l| l.stdin_fifo.clone());
        if let Some(fifo) = fifo {
            self.launcher()
                .write_stdin(&fifo, &driver::user_message(text))
                .map_err(|e| EngineError::io("cannot write the nudge to", fifo, e))?;
            self.record_intervention(
                &wid,
                "nudge",
                &format!(
                    "nudged through stdin: {}",
                    redact(text).chars().take(200).collect::<String>()
                ),
            );
            return self
                .worker(id)
                .ok_or_else(|| EngineError::UnknownWorker(id.to_string()));
        }
        // Otherwise: resume the conversation with the message as the prompt.
        let w = self.worker_record(id)?;
        self.refuse_while_stopping(&w, "nudge")?;
        if let Some(full) = self.no_place_for(&w, self.now()) {
            // Its message could only wait in this process's memory.
            return Err(EngineError::Refused(format!(
                "{} holds no place to start in ({full}): `cortex restart {}` makes it wait for one, or nudge it once it runs",
                w.id, w.id
            )));
        }
        self.runtime()
            .pending_prompts
            .insert(wid.clone(), text.to_string());
        let dto = self.restart_because(id, "nudge", "nudged by a person")?;
        self.record_intervention(
            &wid,
            "nudge",
            &format!(
                "a person nudged the worker: {}",
                redact(text).chars().take(200).collect::<String>()
            ),
        );
        Ok(dto)
    }

    /// A person's answer to a worker that ended (completed, needs input,
    /// needs attention, failed, timed out, cancelled): a new attempt resumes
    /// its conversation with the text, in the same workdir, under the same
    /// supervision, and its task is live again.
    pub fn reply_worker(&self, id: &str, text: &str) -> Result<WorkerDto, EngineError> {
        let text = cortex_core::input::validate_message("the reply", text)?;
        let w = self.worker_record(id)?;
        if !w.status.is_terminal() {
            return Err(EngineError::BadValue(format!(
                "{} is {}: `cortex reply` continues a worker that ended; `cortex nudge` talks to a live one",
                w.id,
                w.status.as_str()
            )));
        }
        if !w.has_conversation() {
            return Err(EngineError::BadValue(format!(
                "{} never started a conversation to continue: submit the task again",
                w.id
            )));
        }
        // Its budget counts every attempt: a reply past it would be
        // stopped at its first output, its tokens spent for nothing.
        let used = self.settings().1.get(&w.expert).map_or(0.0, |e| {
            cortex_core::health::budget_used(
                e.token_budget,
                e.cost_budget_usd,
                w.tokens.in_and_out(),
                w.cost_usd,
            )
        });
        if used >= 1.0 {
            return Err(EngineError::Refused(format!(
                "{} has used {:.0}% of the token/cost budget of {}, which counts every attempt: a reply would be stopped at once; raise the expert's token_budget or cost_budget_usd first",
                w.id,
                used * 100.0,
                w.expert
            )));
        }
        let now = self.now();
        self.store().commit(
            Event::WorkerReplied {
                worker_id: w.id.clone(),
                text: text.to_string(),
            },
            now,
        )?;
        self.record_intervention(
            &w.id,
            "reply",
            &format!(
                "a person replied: {}",
                redact(text).chars().take(200).collect::<String>()
            ),
        );
        let reopened = self.worker_record(id)?;
        if let Some(full) = self.no_place_for(&reopened, now) {
            // It ended and gave up its place: its next attempt waits for a
            // free one, as any start does.
            let reason = reopened.reason.clone().unwrap_or_default();
            self.wait_for_place(&reopened, &reason, &full, false, now)?;
        } else if !self.runtime().active {
            // No owner's loop to start it: start it here, as a restart does.
            self.start_attempt(&reopened, Some("a person replied".into()), now)?;
            self.store().sync()?;
        }
        if let Some(t) = self.store().state().task(&w.task_id).map(TaskDto::from) {
            self.emit(EngineEvent::TaskUpdated { task: t });
        }
        self.emit_worker(&w.id);
        self.worker(id)
            .ok_or_else(|| EngineError::UnknownWorker(id.to_string()))
    }

    pub(crate) fn emit_worker(&self, id: &WorkerId) {
        if let Some(dto) = self.worker(id.as_str()) {
            self.emit(EngineEvent::WorkerUpdated { worker: dto });
        }
    }

    /// One worker, with live stream state when this engine watches it, and
    /// the PM's verdict on its running attempt.
    pub fn worker(&self, id: &str) -> Option<WorkerDto> {
        let wid = WorkerId::parse(id)?;
        let w = self.store().state().worker(&wid).cloned()?;
        let (limit, prices) = {
            let s = self.settings();
            (
                s.1.get(&w.expert).map_or(3600, |e| e.time_limit_secs),
                cortex_core::pricing::merged(&s.0.pricing),
            )
        };
        let verdict = w
            .live_attempt()
            .filter(|_| w.status == WorkerStatus::Running)
            .and_then(|a| self.pm_health(&wid, a.n));
        let closes = self.paused_until(self.now()).get(&w.expert).copied();
        let rt = self.runtime();
        let mut dto = worker_dto(
            &w,
            rt.live.get(&wid).map(AsRef::as_ref),
            limit,
            None,
            &prices,
        );
        if let Some(v) = verdict {
            apply_verdict(&mut dto, v);
        }
        crate::runtime::show_circuit_hold(&mut dto, &w, closes);
        crate::runtime::name_process(&mut dto, self.launcher());
        Some(dto)
    }

    /// Every worker, newest first.
    pub fn workers(&self) -> Vec<WorkerDto> {
        let ids: Vec<String> = self
            .store()
            .state()
            .workers()
            .map(|w| w.id.to_string())
            .collect();
        let mut out: Vec<WorkerDto> = ids.iter().filter_map(|id| self.worker(id)).collect();
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        out
    }

    /// The running attempts' figures of the workers this engine watches,
    /// as their DTOs carry them (`AttemptFigures::of`), read from the
    /// runtime alone: a list of tasks or plans needs no worker's DTO.
    pub(crate) fn live_figures(&self) -> crate::dto::LiveFigures {
        let prices = cortex_core::pricing::merged(&self.settings().0.pricing);
        let rt = self.runtime();
        let pm = self.pm();
        rt.live
            .iter()
            .map(|(id, l)| {
                let mut f = crate::runtime::AttemptFigures::of(l, &prices);
                // Still in a cluster's queue, as the PM last saw it.
                f.queued = pm.workers.get(id).is_some_and(|e| {
                    e.attempt == l.attempt && e.health == cortex_core::health::Health::Scheduled
                });
                (id.clone(), f)
            })
            .collect()
    }

    /// Kills a worker: its live attempt is stopped and the worker ends.
    pub fn kill_worker(&self, id: &str) -> Result<WorkerDto, EngineError> {
        self.stop_worker(
            id,
            AfterStop::End(WorkerStatus::Cancelled),
            "killed by a person",
        )
    }

    /// A person takes a worker's session over by hand: a live worker is
    /// stopped as a kill stops it (its agent and the PM let go of the
    /// session, so two agents never resume it at once), its reason saying
    /// so; an ended one is left as it is.
    pub fn hand_over_worker(&self, id: &str) -> Result<WorkerDto, EngineError> {
        if self.worker_record(id)?.status.is_terminal() {
            return self
                .worker(id)
                .ok_or_else(|| EngineError::UnknownWorker(id.to_string()));
        }
        match self.stop_worker(
            id,
            AfterStop::End(WorkerStatus::Cancelled),
            "taken over by a person, who continues its session by hand",
        ) {
            // It ended on its own meanwhile: nothing left to stop.
            Err(_) if self.worker_record(id)?.status.is_terminal() => self
                .worker(id)
                .ok_or_else(|| EngineError::UnknownWorker(id.to_string())),
            r => r,
        }
    }

    /// The journaled worker with this id (with or without its `w-` prefix).
    pub(crate) fn worker_record(&self, id: &str) -> Result<Worker, EngineError> {
        WorkerId::parse(id)
            .and_then(|wid| self.store().state().worker(&wid).cloned())
            .ok_or_else(|| EngineError::UnknownWorker(id.to_string()))
    }

    /// Restarts a worker: its live attempt (if any) is stopped and a new one
    /// resumes the conversation.
    pub fn restart_worker(&self, id: &str) -> Result<WorkerDto, EngineError> {
        self.restart_because(id, "restart", "restarted by a person")
    }

    /// A restart or nudge while an earlier stop of the same attempt is still
    /// under way is refused: its message would replace the earlier one's, or
    /// be lost, while both were said to be taken.
    fn refuse_while_stopping(&self, w: &Worker, action: &str) -> Result<(), EngineError> {
        let stopping = self
            .runtime()
            .live
            .get(&w.id)
            .is_some_and(|l| l.stop.is_some());
        if stopping {
            return Err(EngineError::BadValue(format!(
                "{} is being stopped already (for an earlier restart, nudge or kill): {action} it again once its next attempt runs",
                w.id
            )));
        }
        Ok(())
    }

    /// Stops the live attempt (if any) and starts the next, which resumes
    /// the conversation; `why` is what the stopped attempt and the worker
    /// say about it.
    fn restart_because(
        &self,
        id: &str,
        action: &'static str,
        why: &str,
    ) -> Result<WorkerDto, EngineError> {
        let w = self.worker_record(id)?;
        let wid = w.id.clone();
        if w.status.is_terminal() {
            return Err(ended(&w, action));
        }
        self.refuse_while_stopping(&w, action)?;
        if self.runtime().live.contains_key(&wid) {
            return self.stop_worker(id, AfterStop::Restart, why);
        }
        if let Some(full) = self.no_place_for(&w, self.now()) {
            // Its breaker held it and its place went to another worker: it
            // waits for a free place, no longer for the breaker.
            self.wait_for_place(&w, why, &full, true, self.now())?;
            return self
                .worker(id)
                .ok_or_else(|| EngineError::UnknownWorker(id.to_string()));
        }
        let w = if self.runtime().active || w.live_attempt().is_none() {
            w
        } else {
            // No owner watches it, yet its attempt is recorded running: that
            // process is stopped first, so two agents never resume one
            // conversation at once.
            self.stop_unsupervised(&w, why, AfterStop::Restart)?;
            self.worker_record(id)?
        };
        let w = if w.status == WorkerStatus::Waiting {
            // Journaled first, so its attempt starts as asked for, not as an
            // automatic restart (one the budget would count), also when the
            // owner dies before it starts: the next owner starts it.
            let mut store = self.store();
            store.commit(
                Event::WorkerRestartAsked {
                    worker_id: wid.clone(),
                    reason: why.to_string(),
                },
                self.now(),
            )?;
            store.state().worker(&wid).cloned().unwrap_or(w)
        } else {
            w
        };
        self.start_attempt(&w, Some(why.into()), self.now())?;
        self.store().sync()?;
        self.worker(id)
            .ok_or_else(|| EngineError::UnknownWorker(id.to_string()))
    }

    pub(crate) fn stop_worker(
        &self,
        id: &str,
        after: AfterStop,
        reason: &str,
    ) -> Result<WorkerDto, EngineError> {
        let w = self.worker_record(id)?;
        let wid = w.id.clone();
        if w.status.is_terminal() {
            let action = match after {
                AfterStop::Restart | AfterStop::RestartAfterBackoff => "restart",
                _ => "kill",
            };
            return Err(ended(&w, action));
        }
        let active = self.runtime().active;
        if self.stop_check(&wid, reason) {
            // Its work was being checked: the check is stopped with it.
            if let AfterStop::End(status) = after {
                self.end_worker(&w, status, reason, self.now())?;
            } else {
                self.start_attempt(&w, Some(reason.to_string()), self.now())?;
            }
        } else if !active {
            // No engine is supervising: do the whole stop here and now.
            self.kill_unsupervised(&w, reason)?;
        } else if !self.request_stop(&wid, None, OutcomeKind::Killed, reason, Some(after.clone())) {
            // Waiting between attempts: nothing to signal.
            if let AfterStop::End(status) = after {
                self.end_worker(&w, status, reason, self.now())?;
            }
        }
        self.worker(id)
            .ok_or_else(|| EngineError::UnknownWorker(id.to_string()))
    }

    /// Stops a worker's process tree synchronously when no runtime runs
    /// (a CLI command owning the home briefly).
    pub(crate) fn kill_unsupervised(&self, w: &Worker, reason: &str) -> Result<(), EngineError> {
        self.stop_unsupervised(w, reason, AfterStop::End(WorkerStatus::Cancelled))?;
        self.end_worker(w, WorkerStatus::Cancelled, reason, self.now())
    }

    /// Stops `w`'s live attempt here and now, no owner watching it: the stop
    /// journaled first (`then` is what follows, should this command die in
    /// the grace period), the process ended, the attempt settled from its
    /// output. What follows is the caller's.
    fn stop_unsupervised(
        &self,
        w: &Worker,
        reason: &str,
        then: AfterStop,
    ) -> Result<(), EngineError> {
        let grace = StdDuration::from_secs(self.config().pm.kill_grace_secs);
        if let Some(a) = w.live_attempt() {
            // Journaled first: should this command die in the grace period,
            // the next owner carries the kill out.
            self.store().commit(
                Event::StopRequested {
                    worker_id: w.id.clone(),
                    intent: cortex_core::worker::StopIntent {
                        attempt: a.n,
                        kind: OutcomeKind::Killed,
                        reason: reason.to_string(),
                        then: Some(then),
                        prompt: None,
                    },
                },
                self.now(),
            )?;
            if let Some(pid) = a.pid.filter(|p| {
                self.launcher()
                    .is_same_process(*p, a.start_ticks, w.id.as_str())
            }) {
                self.launcher().signal(pid, Signal::Term);
                let deadline = Instant::now() + grace;
                while self.launcher().is_running(pid) && Instant::now() < deadline {
                    std::thread::sleep(StdDuration::from_millis(50));
                }
                self.launcher().signal(pid, Signal::Kill);
            }
            self.launcher().sweep(w.id.as_str(), None);
            let mut progress = Progress::default();
            let now = self.now();
            let mut tail = Tail::via(
                attempt_dir(&self.inner.home, &w.id, a.n).join("stdout.jsonl"),
                self.inner.launcher.clone(),
            );
            for line in tail.read_lines() {
                progress.apply_line(&line, now);
            }
            let prices = cortex_core::pricing::merged(&self.config().pricing);
            let outcome = classify(
                &progress,
                Exit::Unknown,
                Some((OutcomeKind::Killed, reason)),
            )
            .with_estimate(
                progress.agent_cost().is_some(),
                cortex_core::pricing::estimate(
                    &prices,
                    progress.model.as_deref(),
                    &progress.tokens,
                ),
            );
            let mut store = self.store();
            store.commit(
                Event::AttemptEnded {
                    worker_id: w.id.clone(),
                    attempt: a.n,
                    outcome,
                },
                now,
            )?;
        }
        Ok(())
    }

    /// Pauses or resumes starting new workers (restarts go on).
    /// True when it changed (false: it was already so).
    pub fn set_spawning_paused(&self, paused: bool) -> Result<bool, EngineError> {
        let mut store = self.store();
        if store.state().spawning_paused == paused {
            return Ok(false);
        }
        let now = self.now();
        store.commit(Event::SpawningPaused { paused }, now)?;
        drop(store);
        // No task or worker changes with it: the line tells views (which
        // read the status again) and the activity log.
        let (event, message) = if paused {
            ("spawning_paused", "a person paused starting new workers")
        } else {
            ("spawning_resumed", "a person resumed starting new workers")
        };
        self.pm_log_general(now, event, message);
        Ok(true)
    }

    /// Stops the live workers of a task (used by cancel).
    pub(crate) fn stop_task_workers(&self, task_id: &TaskId) {
        let (ids, ended): (Vec<WorkerId>, Vec<WorkerId>) = {
            let store = self.store();
            let (live, ended): (Vec<&Worker>, Vec<&Worker>) = store
                .state()
                .workers()
                .filter(|w| &w.task_id == task_id)
                .partition(|w| !w.status.is_terminal());
            (
                live.iter().map(|w| w.id.clone()).collect(),
                ended.iter().map(|w| w.id.clone()).collect(),
            )
        };
        // A goal's check of its plan's merged work runs under its ended
        // coordinator: it goes with the goal.
        for id in ended {
            self.stop_check(&id, "task cancelled by a person");
        }
        for id in ids {
            let _ = self.stop_worker(
                id.as_str(),
                AfterStop::End(WorkerStatus::Cancelled),
                "task cancelled by a person",
            );
        }
    }
}
