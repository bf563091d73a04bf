//! Scheduling: due restarts, queued tasks to workers within capacity and per-expert limits,
//! and workers waiting on a circuit breaker.
//!
//! May depend on: the runtime's types, the store, the PM's circuit state and activity log,
//! the views' `breaker_hold` (which workers a breaker holds).

use super::capacity::{lacks_place, Places};
use crate::clock;
use crate::engine::{Engine, EngineEvent, TaskDto};
use crate::error::EngineError;
use crate::runtime::{circuit_wait_reason, held_restart_reason, unheld, write_meta};
use crate::views::breaker_hold;
use chrono::{DateTime, Utc};
use cortex_core::config::ExpertSet;
use cortex_core::id::{TaskId, WorkerId};
use cortex_core::state::{Event, State};
use cortex_core::task::TaskStatus;
use cortex_core::worker::{PlaceLimit, Worker, WorkerStatus};
use std::collections::HashMap;

impl Engine {
    /// Starts the restarts that are due, except those of an expert whose
    /// circuit breaker is open: they wait, saying so, until it closes (its
    /// window passes or a person closes it). A person's own restart, nudge
    /// or reply is not held. A held worker gives up its place in the
    /// capacity (`schedule` does not count it), so once the breaker closes
    /// its restart waits for a free place like a new worker; so does a
    /// person's reply to a worker that ended, and a person's restart of a
    /// held one, saying so, ahead of new tasks (`capacity`).
    pub(crate) fn start_due_restarts(&self, now: DateTime<Utc>) -> Result<(), EngineError> {
        let paused = self.paused_until(now);
        let mut full = Vec::new();
        let (due, held): (Vec<Worker>, Vec<(Worker, DateTime<Utc>)>) = {
            let store = self.store();
            let state = store.state();
            // The workers are looked through again only once the state
            // changed, the earliest restart (or breaker's end) is due, or,
            // while one waits for a free place, a breaker opened or closed.
            let mut rt = self.runtime();
            if rt.next_restart.as_ref().is_some_and(|(seq, at, open)| {
                *seq == state.last_seq
                    && at.is_none_or(|t| now < t)
                    && open.as_ref().is_none_or(|o| *o == paused)
            }) {
                return Ok(());
            }
            let settings = self.settings();
            let (max_total, experts) = (settings.0.capacity.max_workers as usize, &settings.1);
            #[cfg(test)]
            {
                rt.restart_scans += 1;
            }
            let (mut due, mut held) = (Vec::new(), Vec::new());
            let mut next: Option<DateTime<Utc>> = None;
            let mut places = Places::taken(state, &paused);
            let mut no_room = false;
            for w in state
                .workers()
                .filter(|w| w.status == WorkerStatus::Waiting)
            {
                match w.not_before {
                    None => continue,
                    Some(t) if t > now => {
                        next = Some(next.map_or(t, |n| n.min(t)));
                        continue;
                    }
                    Some(_) => {}
                }
                match breaker_hold(w, paused.get(&w.expert).copied()) {
                    Some(until) => {
                        held.push((w.clone(), until));
                        next = Some(next.map_or(until, |n| n.min(until)));
                    }
                    _ if lacks_place(w, &paused) => {
                        match places.full_for(&w.expert, max_total, experts) {
                            Some(limit) => {
                                no_room = true;
                                full.push((w.clone(), limit));
                            }
                            None => {
                                places.take(&w.expert);
                                due.push(w.clone());
                            }
                        }
                    }
                    _ => due.push(w.clone()),
                }
            }
            // A worker waiting for a free place needs none of these passes
            // until something that frees one changes: the journal (a worker
            // ends), a breaker, the settings (`apply_settings` clears this).
            rt.next_restart = due
                .is_empty()
                .then(|| (state.last_seq, next, no_room.then(|| paused.clone())));
            (due, held)
        };
        for w in due {
            let reason = w.reason.as_deref().map_or("restart", unheld).to_string();
            self.start_attempt(&w, Some(reason), now)?;
        }
        for (w, until) in held {
            self.hold_restart(&w, until, now)?;
        }
        for (w, limit) in full {
            let reason = w.reason.clone().unwrap_or_else(|| "restart".into());
            self.wait_for_place(&w, &reason, &limit, false, now)?;
        }
        Ok(())
    }

    /// Journals, once, that `w`'s due restart waits for its expert's
    /// circuit breaker (until `until`), so every view says why it waits.
    /// Nothing if the worker changed meanwhile (a person cancelled it).
    fn hold_restart(
        &self,
        w: &Worker,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let reason =
            held_restart_reason(w.reason.as_deref().unwrap_or("restart"), &w.expert, until);
        {
            let mut store = self.store();
            let current = store.state().worker(&w.id);
            let unchanged = current
                .is_some_and(|c| c.reason == w.reason && breaker_hold(c, Some(until)).is_some());
            if !unchanged || w.reason.as_deref() == Some(reason.as_str()) {
                return Ok(());
            }
            store.commit(
                Event::WorkerWaiting {
                    worker_id: w.id.clone(),
                    not_before: w.not_before.unwrap_or(now),
                    reason: reason.clone(),
                },
                now,
            )?;
        }
        self.pm_log_about(now, "restart_held", w, &reason);
        self.emit_worker(&w.id);
        Ok(())
    }

    /// Starts workers for pending assignments, in queue order, within the
    /// global and per-expert capacity, unless spawning is paused.
    pub(crate) fn schedule(&self, now: DateTime<Utc>) -> Result<(), EngineError> {
        // With no assignment pending and no task waiting, a pass starts
        // nothing, and the same state again starts nothing again.
        let seq = self.store().state().last_seq;
        if self.runtime().idle_at_seq == Some(seq) {
            return Ok(());
        }
        let (max_total, experts, isolate_all) = {
            let s = self.settings();
            (
                s.0.capacity.max_workers as usize,
                s.1.clone(),
                s.0.isolation == cortex_core::config::Isolation::Worktree,
            )
        };
        let limits = self.release_waits(now, &experts)?;
        let mut waits: Vec<(TaskId, String)> = Vec::new();
        let mut no_folder: Vec<TaskId> = Vec::new();
        let new_workers: Vec<Worker> = {
            let store = self.store();
            let state = store.state();
            if state.spawning_paused {
                return Ok(());
            }
            let paused = self.paused_until(now);
            // A worker whose restart its expert's breaker holds runs nothing
            // and keeps no place (see `start_due_restarts`); one waiting for
            // a free place keeps one of the limit that holds it.
            let mut places = Places::kept(state, &paused, max_total, &experts);
            let mut out = Vec::new();
            let pending = state.pending_assignments();
            if pending.is_empty() && !state.tasks().any(|t| t.status == TaskStatus::Waiting) {
                self.runtime().idle_at_seq = Some(state.last_seq);
            }
            for (task, expert) in pending {
                if let Some(until) = paused.get(expert) {
                    // Said on the task, so nobody wonders why it does not start.
                    if task.status == TaskStatus::Routed {
                        waits.push((task.id.clone(), circuit_wait_reason(expert, *until)));
                    }
                    continue;
                }
                // The account refuses the expert's model until the limit
                // resets: a new worker would only spend a refused attempt.
                if let Some((until, by)) = limits.get(&model_of(&experts, expert)) {
                    if task.status == TaskStatus::Routed {
                        waits.push((task.id.clone(), usage_wait_reason(*until, by)));
                    }
                    continue;
                }
                let isolated = isolate_all || task.worktree == Some(true);
                if !isolated && task.workdir.is_none() {
                    // Stored by an earlier version, which ran it in `/`.
                    no_folder.push(task.id.clone());
                    continue;
                }
                match places.full_for(expert, max_total, &experts) {
                    Some(PlaceLimit { expert: None, .. }) => break,
                    Some(_) => continue,
                    None => places.take(expert),
                }
                let workdir = if isolated {
                    let name = crate::worktree::name_for(task.id.as_str(), expert);
                    crate::worktree::path_for(&self.inner.home, &name)
                        .display()
                        .to_string()
                } else {
                    task.workdir.clone().unwrap_or_else(|| "/".into())
                };
                out.push(Worker::new(
                    clock::worker_id(now),
                    task.id.clone(),
                    expert,
                    workdir,
                    now,
                ));
            }
            out
        };
        waits.retain(|(t, _)| !new_workers.iter().any(|w| &w.task_id == t));
        waits.dedup_by(|a, b| a.0 == b.0);
        no_folder.dedup();
        if !waits.is_empty() || !no_folder.is_empty() {
            let mut store = self.store();
            let held = waits.into_iter().map(|(t, r)| (t, TaskStatus::Waiting, r));
            let refused = no_folder
                .into_iter()
                .map(|t| (t, TaskStatus::NeedsAttention, NO_FOLDER.to_string()));
            for (task_id, status, reason) in held.chain(refused) {
                store.stage(
                    Event::TaskStatusChanged {
                        task_id,
                        status,
                        reason: Some(reason),
                    },
                    now,
                )?;
            }
        }
        if new_workers.is_empty() {
            return Ok(());
        }
        // Every worker is on disk before its process exists: a crash in
        // between leaves a worker without attempts, which the next start
        // sweeps and starts, never a second worker for the same assignment.
        let tasks = {
            let mut store = self.store();
            for w in &new_workers {
                store.stage(
                    Event::WorkerCreated {
                        worker: Box::new(w.clone()),
                    },
                    now,
                )?;
            }
            store.sync()?;
            let state = store.state();
            new_workers
                .iter()
                .filter_map(|w| state.task(&w.task_id).cloned())
                .collect::<Vec<_>>()
        };
        for t in &tasks {
            self.emit(EngineEvent::TaskUpdated {
                task: TaskDto::from(t),
            });
        }
        let result = self.start_all(&new_workers, now);
        self.replenish_spares();
        result
    }

    /// Starts the first attempt of each new worker. Many at once are started
    /// from a few threads: most of a start is waiting (for the file system,
    /// and for the kernel until the agent has exec'd), so the starts overlap.
    pub(crate) fn start_all(
        &self,
        workers: &[Worker],
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        const STARTERS: usize = 8;
        if workers.len() < 2 {
            return workers
                .iter()
                .try_for_each(|w| self.start_attempt(w, None, now));
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let first_error: std::sync::Mutex<Option<EngineError>> = std::sync::Mutex::new(None);
        let starters = STARTERS.min(workers.len());
        // Every start of the pass is recorded before any update event is
        // sent or `meta.json` written: those are for people and would only
        // delay the last start.
        let all_started = std::sync::Barrier::new(starters);
        std::thread::scope(|scope| {
            for _ in 0..starters {
                scope.spawn(|| {
                    let mut metas = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(w) = workers.get(i) else { break };
                        match self.launch_attempt(w, None, now) {
                            Ok(meta) => metas.push((w, meta)),
                            Err(e) => {
                                let mut slot =
                                    first_error.lock().unwrap_or_else(|e| e.into_inner());
                                slot.get_or_insert(e);
                                // Let the others see the error and stop too.
                                next.store(workers.len(), std::sync::atomic::Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                    all_started.wait();
                    for (w, meta) in metas {
                        self.emit_worker(&w.id);
                        write_meta(w, meta.as_ref());
                    }
                });
            }
        });
        match first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Tasks waiting on a circuit breaker that has closed, or on an account
    /// usage limit that has reset, go back to the queue (`routed`), their
    /// reason cleared.
    pub(crate) fn release_circuit_waits(&self, now: DateTime<Utc>) -> Result<(), EngineError> {
        let experts = self.settings().1.clone();
        self.release_waits(now, &experts).map(|_| ())
    }

    /// `release_circuit_waits` with the experts in force; gives back the
    /// usage limits that hold (`usage_holds`), for a scheduling pass to use.
    fn release_waits(
        &self,
        now: DateTime<Utc>,
        experts: &ExpertSet,
    ) -> Result<UsageHolds, EngineError> {
        let paused = self.paused_until(now);
        let mut store = self.store();
        let limits = usage_holds(store.state(), experts, now);
        let free: Vec<TaskId> = store
            .state()
            .tasks()
            .filter(|t| t.status == TaskStatus::Waiting)
            .filter(|t| {
                !t.assignments.iter().any(|a| {
                    a.worker_id.is_none()
                        && !a.status.is_terminal()
                        && (paused.contains_key(&a.expert)
                            || limits.contains_key(&model_of(experts, &a.expert)))
                })
            })
            .map(|t| t.id.clone())
            .collect();
        for task_id in free {
            store.stage(
                Event::TaskStatusChanged {
                    task_id,
                    status: TaskStatus::Routed,
                    reason: None,
                },
                now,
            )?;
        }
        Ok(limits)
    }
}

/// The model an expert's agent runs: its own, or (`None`) the agent's default.
fn model_of(experts: &ExpertSet, expert: &str) -> Option<String> {
    experts.get(expert).and_then(|e| e.model.clone())
}

/// Usage limits that hold, by model: when each resets, and a worker it refused.
type UsageHolds = HashMap<Option<String>, (DateTime<Utc>, WorkerId)>;

/// The account usage limits that refused a waiting worker and have not
/// reset, by the model its expert runs (a limit may be one model's, so
/// experts running another model are not held): the latest reset of each,
/// and a worker it refused.
fn usage_holds(state: &State, experts: &ExpertSet, now: DateTime<Utc>) -> UsageHolds {
    let mut out = UsageHolds::new();
    for w in state.workers() {
        let Some(until) = w.usage_limited_until(now) else {
            continue;
        };
        let held = out
            .entry(model_of(experts, &w.expert))
            .or_insert_with(|| (until, w.id.clone()));
        if until > held.0 {
            *held = (until, w.id.clone());
        }
    }
    out
}

/// What a task held by an account usage limit says.
fn usage_wait_reason(until: DateTime<Utc>, refused: &WorkerId) -> String {
    format!(
        "the account's usage limit refused worker {refused}: new workers start once it resets at {}",
        until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// What a task that names no folder says instead of running its agent in `/`.
const NO_FOLDER: &str =
    "no folder named for its agent to work in: cancel it and submit it again with one";
