//! Launching one attempt: the workdir (worktree), the driver's command line, the launcher,
//! and the journal record of the process.
//!
//! May depend on: the runtime's types, the launcher, the driver, worktrees, the store.

use crate::driver::{self, AttemptSpec};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::runtime::{attempt_dir, Live, Tail};
use crate::spawner;
use chrono::{DateTime, Utc};
use cortex_core::duration;
use cortex_core::state::Event;
use cortex_core::stream::{Outcome, OutcomeKind};
use cortex_core::worker::{Worker, WorkerStatus};
use std::path::Path;
use tracing::{info, warn};

impl Engine {
    /// `start_attempt` less what only people look at: the worker's update
    /// event is left to the caller, and its `meta.json` handed back to write,
    /// once the start is recorded.
    pub(crate) fn launch_attempt(
        &self,
        worker: &Worker,
        resume_reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<driver::AttemptMeta>, EngineError> {
        let (config, expert) = {
            let s = self.settings();
            (s.0.clone(), s.1.get(&worker.expert).cloned())
        };
        let Some(expert) = expert else {
            return self
                .end_worker(
                    worker,
                    WorkerStatus::Failed,
                    &format!("expert `{}` no longer exists", worker.expert),
                    now,
                )
                .map(|()| None);
        };
        let (description, source) = self
            .store()
            .state()
            .task(&worker.task_id)
            .map(|t| {
                let text = if t.goal {
                    format!("{}\n\n{}", t.description, crate::plans::PLAN_REQUEST)
                } else {
                    t.description.clone()
                };
                (text, t.workdir.clone())
            })
            .unwrap_or_default();
        // The worktree's name comes from the recorded workdir, so a worker
        // recorded with an older naming keeps its own worktree and branch.
        let prepared = match crate::worktree::name_of(&self.inner.home, Path::new(&worker.workdir))
        {
            Some(name) => {
                let start = if Path::new(&worker.workdir).join(".git").exists() {
                    Ok(None)
                } else {
                    // A dependent task starts from its dependencies' work,
                    // which must be in the repository it runs in.
                    let source_dir = Path::new(source.as_deref().unwrap_or("/"));
                    crate::review::start_point(
                        &self.dependency_work(&worker.task_id),
                        &crate::review::identity_env(&self.config().merge),
                    )
                    .and_then(|start| match start {
                        Some(c) if !crate::review::has_commit(source_dir, &c) => Err(format!(
                            "the work of the tasks it depends on is in another git repository than {}: a worktree of it cannot start from that work (submit it in the same repository, or without --after)",
                            source_dir.display()
                        )),
                        other => Ok(other),
                    })
                };
                match start {
                    Err(why) => {
                        return self
                            .end_worker(worker, WorkerStatus::NeedsAttention, &why, now)
                            .map(|()| None);
                    }
                    Ok(start) => crate::worktree::ensure_from(
                        &self.inner.home,
                        &name,
                        Path::new(source.as_deref().unwrap_or("/")),
                        start.as_deref(),
                    )
                    .map(|_| ())
                    .map_err(spawner::SpawnError),
                }
            }
            None => Ok(()),
        };
        let n = worker.current().map_or(1, |a| a.n + 1);
        if n == 1 && prepared.is_ok() && worker.base.is_none() {
            // Where its work starts in git, for `cortex diff` and `merge`.
            if let Some(event) =
                crate::review::base_event(&self.inner.home, worker, source.as_deref())
            {
                self.store().stage(event, now)?;
            }
        }
        let resume = resume_reason.as_ref().and(worker.session_id.clone());
        let nudge = self
            .runtime()
            .pending_prompts
            .remove(&worker.id)
            .or_else(|| worker.next_prompt.clone());
        let prompt = match (&resume, &resume_reason, nudge) {
            (_, _, Some(message)) if resume.is_some() => message,
            (_, _, Some(message)) => format!("{description}\n\n{message}"),
            (Some(_), Some(why), None) => driver::resume_prompt(why),
            _ => description,
        };
        let (command, heartbeat) = {
            let rt = self.runtime();
            (rt.agent_command.clone(), rt.heartbeat_command.clone())
        };
        let spec = AttemptSpec {
            home: &self.inner.home,
            agent: &config.agent,
            command: &command,
            expert: &expert,
            worker_id: worker.id.as_str(),
            attempt: n,
            workdir: Path::new(&worker.workdir),
            prompt: &prompt,
            resume: resume.as_deref(),
            heartbeat_command: &heartbeat,
            // A launcher that cannot reach the agent's stdin (a pod) gets
            // the prompt as a file: nudges are then not possible, and say so.
            stream_input: config.pm.nudge_on_stall && self.launcher().delivers_stdin(),
        };
        let mut meta = None;
        if n == 1 && prepared.is_ok() {
            // A ready folder saves creating four entries on the way to running.
            self.inner
                .spares
                .take_into(&self.inner.home.workers_dir().join(worker.id.as_str()));
        }
        let started = prepared
            .and_then(|()| driver::plan(&spec))
            .map(|mut planned| {
                // The cluster's deadline: the whole limit with its extensions
                // (counted from the worker's first start, so never before
                // Cortex's own).
                planned.launch.deadline_secs = planned
                    .launch
                    .deadline_secs
                    .map(|d| d.saturating_add(worker.extended_secs));
                planned
            })
            .and_then(|planned| {
                let retried = self
                    .runtime()
                    .maybe_submitted
                    .remove(&(worker.id.clone(), n));
                if retried {
                    // Its earlier submission may have been accepted after all.
                    let left = self.launcher().sweep(worker.id.as_str(), Some(n));
                    if left > 0 {
                        info!(worker_id = %worker.id, attempt = n, left, "cancelled the job an unanswered submission left");
                    }
                    // Not known without the queue: no second job is risked.
                    if let Some(why) = self.launcher().unreachable() {
                        return Err(spawner::SpawnError(format!(
                            "cannot tell whether its earlier submission was taken: {why}"
                        )));
                    }
                }
                match self
                    .launcher()
                    .launch(&planned.launch, worker.id.as_str(), Some(n))
                {
                    Ok(c) => Ok((planned, c)),
                    Err(e) => {
                        meta = Some(planned.meta(None));
                        Err(e)
                    }
                }
            });
        match started {
            Ok((planned, started)) => {
                let pid = started.pid;
                let meta = planned.meta(Some(pid));
                let ticks = started.start_ticks;
                {
                    // Staged: the tick (or the command that asked) syncs the
                    // journal once for every start of this pass.
                    let mut store = self.store();
                    store.stage(
                        Event::AttemptStarted {
                            worker_id: worker.id.clone(),
                            attempt: n,
                            pid: Some(pid),
                            start_ticks: ticks,
                            session_id: planned.session_id.clone(),
                            resumed: resume.is_some(),
                        },
                        now,
                    )?;
                }
                let started = self.store().state().worker(&worker.id).cloned();
                let Some(attempt) = started.as_ref().and_then(|w| w.live_attempt().cloned()) else {
                    return Ok(Some(meta));
                };
                let mut live = Live::new(
                    worker,
                    &attempt,
                    Tail::via(planned.launch.stdout.clone(), self.inner.launcher.clone()),
                    self.inner
                        .home
                        .heartbeats()
                        .join(format!("{}.jsonl", worker.id)),
                    true,
                );
                // Start the hook tail at its end: older check-ins belong to
                // earlier attempts.
                let _ = live.hooks.read_lines();
                if let (Some(fifo), Some(first)) =
                    (&planned.launch.stdin_fifo, &planned.first_message)
                {
                    if let Err(e) = self.launcher().write_stdin(fifo, first) {
                        warn!(worker_id = %worker.id, "cannot give the agent its prompt on stdin: {e}");
                    }
                    live.stdin_fifo = Some(fifo.clone());
                }
                let mut rt = self.runtime();
                live.exit_watched = rt.watch_exit(pid);
                rt.live.insert(worker.id.clone(), Box::new(live));
                Ok(Some(meta))
            }
            Err(e) if spawner::is_disk_full(&e) => {
                // Not the agent's failure: nothing is recorded, and the start
                // is tried again once there is room (a due restart, or a
                // first start found unrecorded).
                warn!(worker_id = %worker.id, attempt = n, "cannot start the agent yet: {e}");
                Err(EngineError::DiskFull {
                    what: "no room to start an attempt in",
                    path: attempt_dir(&self.inner.home, &worker.id, n),
                })
            }
            Err(e) if self.launcher().unreachable().is_some() => {
                // The cluster does not answer: no attempt ran, none is
                // counted, and the start waits until it may answer (it may
                // also have taken the job: see `maybe_submitted`).
                let why = self.launcher().unreachable().unwrap_or_default();
                warn!(worker_id = %worker.id, attempt = n, "could not start the agent, the cluster does not answer: {e}");
                self.runtime()
                    .maybe_submitted
                    .insert((worker.id.clone(), n));
                let wait = duration::secs(self.config().restart.backoff_base_secs.max(5));
                self.store().commit(
                    Event::WorkerWaiting {
                        worker_id: worker.id.clone(),
                        not_before: duration::later(now, wait),
                        reason: cortex_core::worker::unanswered_start_reason(&e.0, &why),
                    },
                    now,
                )?;
                self.emit_worker(&worker.id);
                Ok(meta)
            }
            Err(e) => {
                warn!(worker_id = %worker.id, attempt = n, "could not start the agent: {e}");
                {
                    let mut store = self.store();
                    store.stage(
                        Event::AttemptStarted {
                            worker_id: worker.id.clone(),
                            attempt: n,
                            pid: None,
                            start_ticks: None,
                            session_id: None,
                            resumed: false,
                        },
                        now,
                    )?;
                    store.stage(
                        Event::AttemptEnded {
                            worker_id: worker.id.clone(),
                            attempt: n,
                            outcome: Outcome::bare(OutcomeKind::SpawnFailed, e.0.clone()),
                        },
                        now,
                    )?;
                    store.sync()?;
                }
                let w = self.store().state().worker(&worker.id).cloned();
                if let Some(w) = w {
                    self.end_worker(&w, WorkerStatus::Failed, &e.0, now)?;
                }
                Ok(meta)
            }
        }
    }
}
