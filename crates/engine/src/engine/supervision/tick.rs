//! One PM tick: each live worker's signals into `cortex_core::health::decide`, and its
//! actions carried out (alerts, nudges, kills, time warnings).
//!
//! May depend on: the PM's types, the runtime's live summaries, the store.

use crate::engine::Engine;
use crate::error::EngineError;
use crate::pm::{busy, transcript_path, ActivityLine, Intervention, PmWorker};
use crate::runtime::AfterStop;
use chrono::{DateTime, Utc};
use cortex_core::alerts::Alert;
use cortex_core::duration;
use cortex_core::health::{self, Action, Health, Observations, WorkerView};
use cortex_core::id::{TaskId, WorkerId};
use cortex_core::state::Event;
use cortex_core::worker::WorkerStatus;
use std::collections::VecDeque;
use tracing::info;

impl Engine {
    /// One PM tick, if one is due (`pm.tick_millis`). Also releases held alerts.
    pub fn tick_pm(&self) -> Result<(), EngineError> {
        let now = self.now();
        let config = self.config();
        {
            let mut pm = self.pm();
            let released = pm.coalescer.flush(now);
            drop(pm);
            self.send_alerts(released);
        }
        let due = {
            let pm = self.pm();
            // A quarter tick of slack: the loop that calls us runs at the same
            // period, and jitter must not make every other call miss.
            let tick = config.pm.tick_millis;
            pm.last_tick
                .is_none_or(|t| now - t >= duration::millis(tick - tick / 4))
        };
        if !due {
            return Ok(());
        }
        let started = std::time::Instant::now();
        // CPU and transcript sampling: often enough for the thresholds
        // (a tenth of `late_after`), never more than once a tick, at least
        // every 5 s. Reading the whole process table is the PM's main cost.
        let sample_every = config
            .pm
            .late_after_secs
            .saturating_mul(100)
            .max(config.pm.tick_millis)
            .min(5000);
        let sample = {
            let mut pm = self.pm();
            let slack = duration::millis(sample_every - sample_every / 4);
            let due = pm.last_sample.is_none_or(|t| now - t >= slack);
            if due {
                pm.last_sample = Some(now);
            }
            due
        };
        let table = if sample {
            self.launcher().sample()
        } else {
            crate::procfs::ProcessTable::default()
        };
        let tps = self.launcher().ticks_per_second();
        let agent_home = config
            .agent
            .env
            .get("HOME")
            .map(std::path::PathBuf::from)
            .or_else(dirs::home_dir)
            .unwrap_or_default();
        let experts = self.settings().1.clone();
        let prices = cortex_core::pricing::merged(&config.pricing);
        let circuits = self.open_circuits(now);
        // Asked once a tick: a cluster that does not answer makes silence
        // mean nothing (see `Health::Unreachable`).
        let unreachable = self.launcher().unreachable();
        // Gather views and observations under the runtime lock, decide after.
        let mut batch: Vec<(WorkerView, Observations, TaskId, String)> = Vec::new();
        // Attempts seen leaving a cluster's queue, suspended or resumed
        // this tick: journaled, so every view (and the next owner) counts
        // their time and silence from then.
        let mut seen = super::sightings::Sightings::default();
        // Suspended or resumed by the cluster: what it waits for changed even
        // when its health did not (a wait for an API retry), so it is told.
        let mut suspension_moved: Vec<WorkerId> = Vec::new();
        {
            // Read in place, in the order store, runtime, PM (no worker is
            // copied: a tick costs what the watched workers need, no more).
            let store = self.store();
            let state = store.state();
            let running = |id: &WorkerId| {
                state
                    .worker(id)
                    .filter(|w| w.status == WorkerStatus::Running)
            };
            let rt = self.inner.runtime.lock().unwrap_or_else(|e| e.into_inner());
            let mut pm = self.pm();
            let mut changed = false;
            for (id, live) in &rt.live {
                let Some(w) = running(id) else {
                    continue;
                };
                // From the process table when it was read this tick; a child
                // of ours otherwise counts as alive (its end wakes the owner
                // through its pidfd and the runtime settles it); only an
                // adopted process is looked up on its own.
                let alive = live.exited.is_none()
                    && table
                        .running(live.pid)
                        .unwrap_or_else(|| live.own || self.launcher().is_running(live.pid));
                if !alive {
                    // Already gone: the runtime settles an exited process
                    // from its exit status and output.
                    continue;
                }
                // Being stopped: nothing more is decided about it, but what
                // it prints and spends until it is gone is still reported
                // (a view of another process reads it from the PM's file).
                let stopping = live.stop.is_some();
                // What the journal says of the attempt (an earlier owner's
                // sightings of its job included).
                let attempt = w.attempts.iter().find(|a| a.n == live.attempt);
                let journaled_suspension = (
                    attempt.and_then(|a| a.suspended_at),
                    attempt.and_then(|a| a.unsuspended_at),
                );
                let entry = pm.workers.entry(id.clone()).or_insert_with(|| {
                    changed = true;
                    // The warnings said of it, by this owner or an earlier one.
                    let said = w.time_warnings.clone().unwrap_or_default();
                    PmWorker {
                        task_id: w.task_id.clone(),
                        expert: w.expert.clone(),
                        attempt: live.attempt,
                        health: Health::Starting,
                        health_since: now,
                        health_reason: "started".into(),
                        last_activity_at: None,
                        last_activity_source: None,
                        restarts_used: w.restarts(),
                        time_warnings_sent: said.levels,
                        time_warnings_limit_secs: said.limit_secs,
                        budget_warned: false,
                        extensions_used: 0,
                        nudges_used: 0,
                        nudged_at: None,
                        interventions: Vec::new(),
                        live: None,
                        cpu_samples: VecDeque::new(),
                        cpu_progress_at: None,
                        transcript_len: None,
                        transcript_growth_at: None,
                        queued_at: None,
                        suspended_at: journaled_suspension.0,
                        resumed_at: journaled_suspension.1,
                    }
                });
                if entry.attempt != live.attempt {
                    changed = true;
                    // A new attempt starts fresh; time warnings carry over.
                    entry.attempt = live.attempt;
                    entry.health = Health::Starting;
                    entry.health_since = now;
                    entry.restarts_used = w.restarts();
                    entry.cpu_samples.clear();
                    entry.cpu_progress_at = None;
                    entry.queued_at = None;
                    entry.nudged_at = None;
                    (entry.suspended_at, entry.resumed_at) = journaled_suspension;
                }
                // A job in a cluster's queue is `scheduled` (the policy
                // says so); its startup budget counts from when it leaves.
                let queued =
                    live.progress.last_line_at.is_none() && self.launcher().queued(live.pid);
                if queued {
                    if entry.queued_at.is_none() {
                        changed = true;
                    }
                    entry.queued_at = Some(now);
                }
                // Suspended by the cluster: a wait, not a hang; its silence
                // counts again from when it is resumed (a job resumed while
                // no owner watched: from when it is first seen running).
                let suspended = self.launcher().suspended(live.pid);
                if suspended.is_some() != entry.suspended_at.is_some() {
                    changed = true;
                    suspension_moved.push(id.clone());
                    if entry.suspended_at.take().is_some() {
                        entry.resumed_at = Some(now);
                    } else {
                        entry.suspended_at = Some(now);
                    }
                }
                if attempt.is_some_and(|a| a.suspended_at.is_some() != suspended.is_some()) {
                    seen.suspended
                        .push((id.clone(), live.attempt, suspended.is_some()));
                }
                if let Some(ticks) = table.tree_cpu_ticks(live.pid) {
                    if busy(
                        &mut entry.cpu_samples,
                        now,
                        ticks,
                        tps,
                        config.pm.busy_cpu_percent,
                    ) {
                        entry.cpu_progress_at = Some(now);
                    }
                }
                if let (true, Some(session)) = (sample, &w.session_id) {
                    let p = transcript_path(&agent_home, &w.workdir, session);
                    if let Ok(len) = std::fs::metadata(&p).map(|m| m.len()) {
                        if entry.transcript_len.is_some_and(|prev| len > prev) {
                            entry.transcript_growth_at = Some(now);
                        }
                        entry.transcript_len = Some(len);
                    }
                }
                // A job waiting in a cluster's queue has not started: its
                // startup budget, and its time against the limit, count
                // from when it leaves it (journaled once seen).
                let journaled = attempt.and_then(|a| a.running_at);
                if !queued && entry.queued_at.is_some() && journaled.is_none() && attempt.is_some()
                {
                    seen.left_queue.push((id.clone(), live.attempt));
                }
                let ran_from = journaled.unwrap_or_else(|| {
                    entry
                        .queued_at
                        .map_or(live.started_at, |q| q.max(live.started_at))
                });
                let mut view = WorkerView {
                    worker_id: id.clone(),
                    attempt: live.attempt,
                    attempt_started_at: ran_from,
                    // The time its attempts ran, without the waits between
                    // (nor the time in a cluster's queue).
                    worker_started_at: cortex_core::duration::earlier(
                        ran_from,
                        cortex_core::duration::millis(
                            (crate::views::ended_attempts_secs(w) * 1000.0) as u64,
                        ),
                    ),
                    time_limit_secs: 3600,
                    extended_secs: w.extended_secs,
                    extensions_used: entry.extensions_used,
                    max_extensions: 0,
                    extension_secs: 0,
                    restarts_used: w.restarts(),
                    max_restarts: 0,
                    token_budget: None,
                    cost_budget_usd: None,
                    health: entry.health,
                    time_warnings_sent: entry.time_warnings_sent.clone(),
                    time_warnings_limit_secs: entry.time_warnings_limit_secs,
                    budget_warned: entry.budget_warned,
                    circuit_open: circuits.contains(&w.expert),
                    nudges_used: entry.nudges_used,
                };
                if let Some(e) = experts.get(&w.expert) {
                    view.limits_from(e);
                }
                let obs = Observations {
                    process_alive: alive,
                    last_output_at: live.progress.last_line_at,
                    last_hook_at: live.last_hook_at,
                    last_checkin_at: live.progress.last_checkin_at,
                    last_cpu_progress_at: entry.cpu_progress_at,
                    last_transcript_growth_at: entry.transcript_growth_at,
                    nudged_at: entry.nudged_at,
                    activity: live.progress.activity.clone(),
                    tokens: w.tokens.saturating_add(live.progress.tokens).in_and_out(),
                    cost_usd: w.cost_usd + crate::runtime::live_cost(live, &prices).0,
                    queued,
                    queued_reason: if queued {
                        self.launcher().queue_reason(live.pid)
                    } else {
                        None
                    },
                    suspended,
                    resumed_at: entry.resumed_at,
                    unreachable: unreachable.clone(),
                };
                // Still queued, and the scheduler now says why (or says
                // another reason); still waiting out an API retry, and the
                // agent announced another one; still unreachable, and the
                // silence it names grew: the reason shown follows it (a
                // transition alone would keep the first one's words).
                use cortex_core::health::Health as H;
                let refreshed = match entry.health {
                    H::Scheduled => queued,
                    H::Waiting | H::Unreachable => true,
                    _ => false,
                };
                if refreshed {
                    let (h, why) = health::classify_health(&config.pm, &view, &obs, now);
                    if h == entry.health && entry.health_reason != why {
                        if h == H::Scheduled {
                            let at = (id.clone(), w.task_id.clone(), live.attempt);
                            seen.wait_changed.push((at.0, at.1, at.2, why.clone()));
                        }
                        entry.health_reason = why;
                        changed = true;
                    }
                }
                let (last, source) = health::last_sign_of_life(&view, &obs);
                if entry.last_activity_at != Some(last)
                    || entry.last_activity_source.as_deref() != Some(source)
                {
                    entry.last_activity_at = Some(last);
                    entry.last_activity_source = Some(source.to_string());
                    changed = true;
                }
                // The summary is rebuilt only when the stream moved.
                let stale = entry.live.as_ref().is_none_or(|s| {
                    s.lines != live.progress.lines
                        || s.tokens != live.progress.tokens
                        || s.activity != live.progress.activity
                });
                if stale {
                    entry.live = Some(crate::pm::LiveSummary::of(live, &prices));
                    changed = true;
                }
                if stopping {
                    continue;
                }
                batch.push((view, obs, w.task_id.clone(), w.expert.clone()));
            }
            let before = pm.workers.len();
            pm.workers
                .retain(|id, _| rt.live.contains_key(id) || running(id).is_some());
            changed |= pm.workers.len() != before;
            pm.metrics.ticks += 1;
            pm.last_tick = Some(now);
            // Only what changed makes the file due (see `write_pm_state`).
            if changed {
                pm.dirty = true;
            }
        }
        self.journal_sightings(seen, now);
        for worker_id in &suspension_moved {
            self.emit_worker(worker_id);
        }
        for (view, obs, task_id, expert) in batch {
            for action in health::decide(&config.pm, &view, &obs, now) {
                self.apply_action(action, &task_id, &expert, now)?;
            }
        }
        // What the actions staged (the time warnings said), made durable once.
        if let Err(e) = self.store().sync() {
            tracing::warn!("cannot record the time warnings said: {e}");
        }
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.pm().metrics.last_tick_micros = micros;
        self.write_pm_state(now);
        Ok(())
    }

    pub(crate) fn apply_action(
        &self,
        action: Action,
        task_id: &TaskId,
        expert: &str,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        // Every action changes what pm-state.json says.
        self.pm().dirty = true;
        let note = |engine: &Engine, w: &WorkerId, attempt: u32, kind: &str, message: &str| {
            let mut pm = engine.pm();
            *pm.metrics
                .interventions
                .entry(kind.to_string())
                .or_default() += 1;
            if let Some(pw) = pm.workers.get_mut(w) {
                pw.interventions.push(Intervention {
                    at: now,
                    attempt,
                    kind: kind.to_string(),
                    message: message.to_string(),
                });
            }
        };
        match action {
            Action::Transition {
                worker_id,
                attempt,
                from,
                to,
                reason,
            } => {
                {
                    let mut pm = self.pm();
                    *pm.metrics.detections.entry(to.as_str().into()).or_default() += 1;
                    if let Some(pw) = pm.workers.get_mut(&worker_id) {
                        pw.health = to;
                        pw.health_since = now;
                        pw.health_reason.clone_from(&reason);
                    }
                }
                info!(worker_id = %worker_id, attempt, from = from.as_str(), to = to.as_str(), "{reason}");
                self.pm_log(&ActivityLine {
                    v: 1,
                    at: now,
                    event: "health",
                    worker_id: Some(&worker_id),
                    task_id: Some(task_id),
                    attempt: Some(attempt),
                    from: Some(from.as_str()),
                    to: Some(to.as_str()),
                    message: &reason,
                });
                self.emit_worker(&worker_id);
            }
            Action::Alert {
                worker_id,
                attempt,
                kind,
                severity,
                message,
            } => {
                self.pm_log(&ActivityLine {
                    v: 1,
                    at: now,
                    event: "alert",
                    worker_id: Some(&worker_id),
                    task_id: Some(task_id),
                    attempt: Some(attempt),
                    from: None,
                    to: None,
                    message: &message,
                });
                self.raise_alert(Alert::about_worker(
                    now,
                    kind,
                    severity,
                    (worker_id, task_id.clone(), Some(attempt)),
                    message,
                ));
            }
            Action::Nudge { worker_id, attempt } => {
                note(self, &worker_id, attempt, "nudge", "nudged after stalling");
                if let Some(pw) = self.pm().workers.get_mut(&worker_id) {
                    pw.nudges_used += 1;
                    pw.nudged_at = Some(now);
                }
                self.nudge_worker(
                    worker_id.as_str(),
                    "You seem to be stuck. Say what you are waiting for, or continue the task.",
                )?;
            }
            Action::Kill {
                worker_id,
                attempt,
                kind,
                reason,
                restart,
            } => {
                let what = if restart { "kill_and_restart" } else { "kill" };
                note(self, &worker_id, attempt, what, &reason);
                self.pm_log(&ActivityLine {
                    v: 1,
                    at: now,
                    event: what,
                    worker_id: Some(&worker_id),
                    task_id: Some(task_id),
                    attempt: Some(attempt),
                    from: None,
                    to: None,
                    message: &reason,
                });
                let after = if restart {
                    AfterStop::RestartAfterBackoff
                } else {
                    AfterStop::End(WorkerStatus::Failed)
                };
                let stopped =
                    self.request_stop(&worker_id, Some(attempt), kind, &reason, Some(after));
                if stopped
                    && cortex_core::settle::counts_against_expert(
                        cortex_core::settle::Failure::PmStop(kind),
                    )
                {
                    self.note_failure(expert, now);
                }
            }
            Action::Extend {
                worker_id,
                attempt,
                secs,
            } => {
                note(
                    self,
                    &worker_id,
                    attempt,
                    "extend",
                    &format!("extended by {secs}s"),
                );
                if let Some(pw) = self.pm().workers.get_mut(&worker_id) {
                    pw.extensions_used += 1;
                }
                self.store().commit(
                    Event::WorkerExtended {
                        worker_id: worker_id.clone(),
                        secs,
                    },
                    now,
                )?;
                self.pm_log(&ActivityLine {
                    v: 1,
                    at: now,
                    event: "extend",
                    worker_id: Some(&worker_id),
                    task_id: Some(task_id),
                    attempt: Some(attempt),
                    from: None,
                    to: None,
                    message: &format!("extended by {secs}s while making progress"),
                });
            }
            Action::TimeWarningSent {
                worker_id,
                level,
                limit_secs,
                ..
            } => self.change_time_warnings(&worker_id, now, |pw| {
                if !pw.time_warnings_sent.contains(&level) {
                    pw.time_warnings_sent.push(level);
                }
                pw.time_warnings_limit_secs = limit_secs;
            }),
            Action::TimeWarningsForgotten {
                worker_id,
                levels,
                limit_secs,
                ..
            } => self.change_time_warnings(&worker_id, now, |pw| {
                pw.time_warnings_sent.retain(|l| !levels.contains(l));
                pw.time_warnings_limit_secs = limit_secs;
            }),
            Action::BudgetWarningSent { worker_id, .. } => {
                if let Some(pw) = self.pm().workers.get_mut(&worker_id) {
                    pw.budget_warned = true;
                }
            }
        }
        Ok(())
    }

    /// Changes the time-limit warnings said of a worker (`change`), and
    /// journals them, so that the next owner says none of them again.
    fn change_time_warnings(
        &self,
        worker_id: &WorkerId,
        now: DateTime<Utc>,
        change: impl FnOnce(&mut PmWorker),
    ) {
        let warnings = {
            let mut pm = self.pm();
            let Some(pw) = pm.workers.get_mut(worker_id) else {
                return;
            };
            change(pw);
            cortex_core::worker::TimeWarnings {
                levels: pw.time_warnings_sent.clone(),
                limit_secs: pw.time_warnings_limit_secs,
            }
        };
        let mut store = self.store();
        let known = store
            .state()
            .worker(worker_id)
            .and_then(|w| w.time_warnings.as_ref());
        if known == Some(&warnings) {
            return;
        }
        // Staged: the tick makes them durable once, after all its actions
        // (a batch started together crosses its levels in the same tick).
        let journaled = store.stage(
            Event::TimeWarningsChanged {
                worker_id: worker_id.clone(),
                warnings,
            },
            now,
        );
        if let Err(e) = journaled {
            // Said all the same; a next owner may say it once more.
            tracing::warn!(worker_id = %worker_id, "cannot record the time warnings said: {e}");
        }
    }
}
