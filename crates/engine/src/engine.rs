//! The Engine facade: the one API the CLI, the desktop shell and the tests
//! call. Methods return serializable DTOs; `subscribe` yields engine events.

use std::collections::BTreeMap;

use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use cortex_core::config::{Config, ExpertSet};
use cortex_core::id::{RequestId, TaskId};
use cortex_core::input::{validate_submission, SubmitRequest};
use cortex_core::learned::{Example, LearnedModel, Source};
use cortex_core::router::{Decision, Router};
use cortex_core::state::{new_task, Event, SubmitPlan};
use cortex_core::task::{Task, TaskStatus};
use tokio::sync::broadcast;
use tracing::{debug, info, warn};

use crate::clock;
use crate::error::EngineError;
use crate::home::Home;
use crate::inbox::{self, AckError, BatchAnswer, BatchItem, InboxAck, InboxOp};
use crate::learning;
use crate::lock::OwnerKind;
use crate::store::{self, LoadReport, Store};

mod dto;
pub mod view;

pub use dto::{EngineEvent, RerouteAck, StatusDto, SubmitAck, TaskDto};

/// The engine's state, shared by every handle.
///
/// Locks, and the one order they are taken in: `store`, then `runtime`,
/// then `pm` (the PM's tick holds all three, in that order, to read the
/// workers in place). Any of them may be taken alone; none is ever taken
/// while a later one in that order is held. `settings`, `router` and
/// `learned` are leaves: read (or replaced) alone or under the three, and
/// nothing is locked while one of them is held for writing. No guard is
/// held across an `.await` (the owner's loop awaits only between passes),
/// and no guard is held while a process is waited for. That is why worker
/// controls that signal processes run after a batch of journal writes
/// rather than inside it: they take `runtime` and may need `store` again.
pub(crate) struct Inner {
    pub(crate) home: Home,
    pub(crate) store: Mutex<Store>,
    pub(crate) settings: RwLock<(Config, ExpertSet)>,
    router: RwLock<Router>,
    learned: RwLock<LearnedModel>,
    events: broadcast::Sender<EngineEvent>,
    load_report: LoadReport,
    pub(crate) runtime: Mutex<crate::runtime::Runtime>,
    pub(crate) pm: Mutex<crate::pm::PmState>,
    pub(crate) spares: crate::spares::Spares,
    /// Starts and watches the processes of attempts and checks.
    pub(crate) launcher: Arc<dyn crate::launcher::Launcher>,
    /// The engine's time.
    pub(crate) clock: Arc<dyn crate::launcher::Clock>,
    /// Wakes the thread that keeps spares ready, while `run` runs.
    pub(crate) spare_keeper: std::sync::Mutex<Option<std::sync::mpsc::Sender<()>>>,
    /// Set when a write found the disk full; cleared by the owner's loop
    /// once a snapshot fits again. While set, submissions are refused and
    /// no new process is started; running workers are still supervised.
    pub(crate) disk_full: std::sync::atomic::AtomicBool,
}

/// A handle on a running engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("home", &self.inner.home)
            .finish()
    }
}

impl Engine {
    /// Becomes the owner of `home`: moves aside what stands where a file
    /// or folder of the home belongs, validates the settings (a bad config
    /// changes nothing), then takes the lock and loads the store.
    pub fn open(home: &Home, kind: OwnerKind) -> Result<Self, EngineError> {
        Self::open_with(home, kind, crate::launcher::Parts::default())
    }

    /// `open` with the launcher and clock to use (tests give a fake launcher
    /// and a manual clock).
    pub fn open_with(
        home: &Home,
        kind: OwnerKind,
        parts: crate::launcher::Parts,
    ) -> Result<Self, EngineError> {
        let prepared = crate::store::prepare_home(home)?;
        let settings = home.load_settings()?;
        let (store, load_report) = Store::open_prepared(home, kind, prepared)?;
        let (events, _) = broadcast::channel(1024);
        let router = Router::new(&settings.0.routing, &settings.1);
        let command_override = crate::driver::command_override()
            .map_err(|m| cortex_core::config::ConfigError::new("CORTEX_AGENT_COMMAND", None, m))?;
        let overridden = command_override.is_some();
        let agent_command = command_override.unwrap_or_else(|| settings.0.agent.command.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                home: home.clone(),
                store: Mutex::new(store),
                router: RwLock::new(router),
                learned: RwLock::new(learning::load(home)),
                runtime: Mutex::new(crate::runtime::Runtime::new(agent_command, overridden)),
                pm: Mutex::new(crate::pm::PmState::new(
                    settings.0.notifications.coalesce_window_millis,
                )),
                settings: RwLock::new(settings),
                events,
                load_report,
                spares: crate::spares::Spares::new(&home.workers_dir()),
                launcher: parts.launcher,
                clock: parts.clock,
                spare_keeper: std::sync::Mutex::new(None),
                disk_full: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    /// `open` for a long-running owner (`cortex run`, the app): a short CLI
    /// command may hold the home for a moment, so wait for it, with a marker
    /// that makes further commands queue in the inbox meanwhile. Another
    /// long-running owner is refused at once.
    pub fn open_waiting(
        home: &Home,
        kind: OwnerKind,
        limit: Duration,
    ) -> Result<Self, EngineError> {
        let wanted = home.owner_wanted_file();
        if home.root().is_dir() {
            let _ = crate::files::write(&wanted, std::process::id().to_string().as_bytes());
        }
        let deadline = std::time::Instant::now() + limit;
        let result = loop {
            match Self::open(home, kind) {
                Err(EngineError::Owned {
                    momentary: true, ..
                }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => break other,
            }
        };
        let _ = std::fs::remove_file(&wanted);
        result
    }

    /// The engine's time now.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// The engine's monotonic time now, for grace periods.
    pub(crate) fn instant(&self) -> std::time::Instant {
        self.inner.clock.instant()
    }

    /// Where the engine's processes run.
    pub(crate) fn launcher(&self) -> &dyn crate::launcher::Launcher {
        &*self.inner.launcher
    }

    pub fn home(&self) -> &Home {
        &self.inner.home
    }

    /// What loading the home found (quarantined files, takeover).
    pub fn load_report(&self) -> &LoadReport {
        &self.inner.load_report
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.inner.events.subscribe()
    }

    /// The experts' names, in order.
    pub fn expert_names(&self) -> Vec<String> {
        self.settings().1.names()
    }

    pub fn config(&self) -> Config {
        self.settings().0.clone()
    }

    pub(crate) fn settings(&self) -> std::sync::RwLockReadGuard<'_, (Config, ExpertSet)> {
        self.inner
            .settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.inner.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn emit(&self, event: EngineEvent) {
        // No subscriber is not an error.
        let _ = self.inner.events.send(event);
    }

    /// Plans and stages one submission (not yet durable).
    fn stage_submit(
        &self,
        store: &mut Store,
        req: &SubmitRequest,
        request: Option<&RequestId>,
        now: DateTime<Utc>,
    ) -> Result<(SubmitAck, Option<EngineEvent>), EngineError> {
        let valid = validate_submission(req, &self.settings().1.task_types())?;
        if self.disk_full() {
            return Err(EngineError::DiskFull {
                what: "no room for new tasks in",
                path: self.inner.home.root().to_path_buf(),
            });
        }
        match store.state().plan_submit(&valid, request) {
            SubmitPlan::Existing { task_id, status } => {
                let raised = store.state().priority_raise(&task_id, valid.priority);
                if let Some(from) = raised {
                    store.stage(
                        Event::TaskPriorityChanged {
                            task_id: task_id.clone(),
                            priority: valid.priority,
                        },
                        now,
                    )?;
                    info!(task_id = %task_id, from = %from, to = %valid.priority, "priority raised by a duplicate submission");
                }
                let task = store.state().task(&task_id);
                let updated = raised
                    .and(task)
                    .map(|t| EngineEvent::TaskUpdated { task: t.into() });
                Ok((
                    SubmitAck {
                        task_id: task_id.clone(),
                        deduplicated: true,
                        status,
                        priority_raised_from: raised,
                        priority: task.map(|t| t.priority),
                    },
                    updated,
                ))
            }
            SubmitPlan::New { fingerprint } => {
                let isolate_all =
                    self.settings().0.isolation == cortex_core::config::Isolation::Worktree;
                if valid.worktree || isolate_all {
                    // Refused now rather than failing when a worker starts.
                    let source = valid.workdir.as_deref().unwrap_or("/");
                    crate::worktree::check_source(std::path::Path::new(source))
                        .map_err(EngineError::BadValue)?;
                }
                let after = resolve_after(store.state(), &req.after)?;
                let mut task = new_task(
                    clock::task_id(now),
                    valid,
                    fingerprint,
                    request.cloned(),
                    now,
                );
                task.after = after;
                task.goal = req.plan;
                let task_id = task.id.clone();
                let decision = if req.plan {
                    // A goal to split goes to the coordinator.
                    if self.settings().1.get(crate::plans::COORDINATOR).is_none() {
                        return Err(EngineError::BadValue(format!(
                            "--plan needs the `{}` expert, and there is no such expert file",
                            crate::plans::COORDINATOR
                        )));
                    }
                    let mut d = Decision::by_person(crate::plans::COORDINATOR, None);
                    d.explanation = "a goal to split into a plan goes to the coordinator".into();
                    d
                } else {
                    self.decide(&task.description, task.task_type.as_deref())
                };
                // One write: a full disk leaves no task without its routing.
                store.stage_all(
                    vec![
                        Event::TaskSubmitted {
                            task: Box::new(task),
                        },
                        Event::TaskRouted {
                            task_id: task_id.clone(),
                            routing: decision.summary(),
                            experts: decision.parallel_experts.clone(),
                        },
                    ],
                    now,
                )?;
                if decision.needs_confirmation && self.settings().0.routing.confirm_low_confidence {
                    // "A person should confirm" is held to: nothing starts
                    // until one does.
                    store.stage(
                        Event::TaskStatusChanged {
                            task_id: task_id.clone(),
                            status: TaskStatus::AwaitingConfirmation,
                            reason: Some(confirmation_reason(&task_id, &decision)),
                        },
                        now,
                    )?;
                }
                self.log_decision(&task_id, &decision, now);
                let task = store
                    .state()
                    .task(&task_id)
                    .ok_or(EngineError::UnknownTask(task_id.to_string()))?;
                let ack = SubmitAck {
                    task_id: task_id.clone(),
                    deduplicated: false,
                    status: task.status,
                    priority_raised_from: None,
                    priority: Some(task.priority),
                };
                let task = TaskDto::from(task);
                info!(task_id = %task.id, priority = %task.priority, request_id = request.map(|r| r.to_string()), "task submitted");
                Ok((ack, Some(EngineEvent::TaskSubmitted { task })))
            }
        }
    }

    /// Replaces the settings of a running engine (after a validated save).
    pub(crate) fn apply_settings(&self, config: Config, experts: ExpertSet) {
        *self.inner.router.write().unwrap_or_else(|e| e.into_inner()) =
            Router::new(&config.routing, &experts);
        self.set_agent_command_from_config(&config.agent.command);
        *self
            .inner
            .settings
            .write()
            .unwrap_or_else(|e| e.into_inner()) = (config, experts);
    }

    /// The router's decision for a text, with the learned layer as it is now.
    pub(crate) fn decide(&self, text: &str, task_type: Option<&str>) -> Decision {
        let router = self.inner.router.read().unwrap_or_else(|e| e.into_inner());
        let learned = self.inner.learned.read().unwrap_or_else(|e| e.into_inner());
        router.route(text, task_type, Some(&learned))
    }

    /// Dry-run routing: changes nothing.
    pub fn route_preview(
        &self,
        text: &str,
        task_type: Option<&str>,
    ) -> Result<Decision, EngineError> {
        let req = SubmitRequest {
            description: text.to_string(),
            task_type: task_type.map(str::to_string),
            ..SubmitRequest::default()
        };
        let valid = validate_submission(&req, &self.settings().1.task_types())?;
        Ok(self.decide(&valid.description, valid.task_type.as_deref()))
    }

    /// Appends one line to routing-decisions.jsonl. A failure to log is
    /// reported but does not undo the routing, which is in the journal.
    pub(crate) fn log_decision(&self, task_id: &TaskId, d: &Decision, now: DateTime<Utc>) {
        let line = serde_json::json!({
            "v": 1, "task_id": task_id, "at": now, "strategy": d.strategy,
            "primary_expert": d.primary_expert, "confidence": d.confidence,
            "parallel_experts": d.parallel_experts, "scores": d.scores,
            "keyword_scores": d.keyword_scores, "learned_scores": d.learned_scores,
            "matched": d.matched, "method": d.method,
            "needs_confirmation": d.needs_confirmation, "explanation": d.explanation,
        });
        if let Err(e) = crate::snapshot::append_line(&self.inner.home.routing_log(), &line) {
            warn!(task_id = %task_id, "cannot log the routing decision: {e}");
        }
    }

    /// A person says `expert` should have the task: recorded as a correction
    /// for the learned layer, and applied if no worker has started yet.
    fn stage_reroute(
        &self,
        store: &mut Store,
        id: &str,
        expert: &str,
        now: DateTime<Utc>,
    ) -> Result<RerouteAck, EngineError> {
        let task = task_record(store, id)?;
        let task_id = task.id.clone();
        if self.settings().1.get(expert).is_none() {
            return Err(EngineError::UnknownExpert {
                given: expert.to_string(),
                known: self.settings().1.names(),
            });
        }
        let example = Example {
            text: task.description.clone(),
            expert: expert.to_string(),
            source: Source::Correction,
        };
        learning::append(&self.inner.home, &example, Some(task_id.as_str()), now)?;
        self.inner
            .learned
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .learn(&example);
        let previous = task.routing.as_ref().map(|r| r.primary_expert.as_str());
        let decision = Decision::by_person(expert, previous);
        let started = task.assignments.iter().any(|a| a.worker_id.is_some());
        let applied = !task.status.is_terminal() && !started;
        if applied {
            store.stage(
                Event::TaskRouted {
                    task_id: task_id.clone(),
                    routing: decision.summary(),
                    experts: vec![expert.to_string()],
                },
                now,
            )?;
            // A person chose: that is the confirmation a held task waits for.
            release_confirmation(store, &task, now)?;
        }
        self.log_decision(&task_id, &decision, now);
        info!(task_id = %task_id, expert, applied, "routing corrected by a person");
        let message = if applied {
            format!("{task_id} now goes to {expert}; the correction was recorded")
        } else if task.status.is_terminal() {
            format!(
                "{task_id} already ended ({}): it was not moved; the correction was recorded for the learned layer",
                task.status
            )
        } else {
            let experts: Vec<&str> = task.assignments.iter().map(|a| a.expert.as_str()).collect();
            format!(
                "{task_id} already started with {}: it was not moved; the correction was recorded for the learned layer (cancel it and submit it again to give it to {expert})",
                experts.join(", ")
            )
        };
        let task = store
            .state()
            .task(&task_id)
            .map(TaskDto::from)
            .ok_or(EngineError::UnknownTask(id.to_string()))?;
        Ok(RerouteAck {
            task,
            applied,
            message,
        })
    }

    /// A person confirms a held routing (`cortex confirm TASK [EXPERT]`):
    /// the task is let go to its experts, or with EXPERT, to that expert
    /// (recorded as a correction when it differs from the router's choice).
    fn stage_confirm(
        &self,
        store: &mut Store,
        id: &str,
        expert: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<RerouteAck, EngineError> {
        let task = task_record(store, id)?;
        if task.status != TaskStatus::AwaitingConfirmation {
            return Err(EngineError::BadValue(format!(
                "task {} is {}, not awaiting confirmation: nothing to confirm{}",
                task.id,
                task.status,
                if task.status.is_terminal() {
                    ""
                } else {
                    " (`cortex reroute` corrects the expert of a task that has not started)"
                }
            )));
        }
        let chosen = task.routing.as_ref().map(|r| r.primary_expert.as_str());
        if let Some(e) = expert.filter(|e| Some(*e) != chosen) {
            return self.stage_reroute(store, id, e, now);
        }
        release_confirmation(store, &task, now)?;
        info!(task_id = %task.id, "routing confirmed by a person");
        let experts: Vec<&str> = task.assignments.iter().map(|a| a.expert.as_str()).collect();
        let dto = store
            .state()
            .task(&task.id)
            .map(TaskDto::from)
            .ok_or(EngineError::UnknownTask(id.to_string()))?;
        Ok(RerouteAck {
            message: format!("{} confirmed: it goes to {}", task.id, experts.join(", ")),
            task: dto,
            applied: true,
        })
    }

    /// `cortex confirm TASK [EXPERT]`.
    pub fn confirm(&self, id: &str, expert: Option<&str>) -> Result<RerouteAck, EngineError> {
        let ack = {
            let mut store = self.store();
            let a = self.stage_confirm(&mut store, id, expert, self.now())?;
            store.sync()?;
            a
        };
        self.emit(EngineEvent::TaskUpdated {
            task: ack.task.clone(),
        });
        Ok(ack)
    }

    /// `cortex reroute TASK EXPERT`.
    pub fn reroute(&self, id: &str, expert: &str) -> Result<RerouteAck, EngineError> {
        let ack = {
            let mut store = self.store();
            let a = self.stage_reroute(&mut store, id, expert, self.now())?;
            store.sync()?;
            a
        };
        self.emit(EngineEvent::TaskUpdated {
            task: ack.task.clone(),
        });
        Ok(ack)
    }

    /// Teaches the learned layer how an expert did on a task.
    pub(crate) fn record_outcome(
        &self,
        task_id: &TaskId,
        text: &str,
        expert: &str,
        success: bool,
        now: DateTime<Utc>,
    ) {
        let example = Example {
            text: text.to_string(),
            expert: expert.to_string(),
            source: if success {
                Source::Success
            } else {
                Source::Failure
            },
        };
        if let Err(e) = learning::append(&self.inner.home, &example, Some(task_id.as_str()), now) {
            warn!(task_id = %task_id, "cannot record the outcome for the router: {e}");
        }
        self.inner
            .learned
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .learn(&example);
    }

    /// Forgets the learned layer (the examples file is moved aside).
    pub fn reset_learning(&self) -> Result<Option<std::path::PathBuf>, EngineError> {
        let moved = learning::reset(&self.inner.home, self.now())?;
        *self
            .inner
            .learned
            .write()
            .unwrap_or_else(|e| e.into_inner()) = LearnedModel::default();
        Ok(moved)
    }

    /// Submits a task; returns once it is durable.
    pub fn submit(&self, req: &SubmitRequest) -> Result<SubmitAck, EngineError> {
        let now = self.now();
        let (ack, event) = {
            let mut store = self.store();
            let out = self.stage_submit(&mut store, req, None, now)?;
            store.sync()?;
            out
        };
        if let Some(event) = event {
            self.emit(event);
        }
        Ok(ack)
    }

    /// Submits many tasks with one fsync; one answer per item, in order (a
    /// refused item does not stop the others).
    pub fn submit_batch(&self, items: &[BatchItem]) -> Result<Vec<BatchAnswer>, EngineError> {
        let now = self.now();
        let (answers, created) = {
            let mut store = self.store();
            let out = self.stage_batch(&mut store, items, now);
            store.sync()?;
            out
        };
        for event in created {
            self.emit(event);
        }
        Ok(answers)
    }

    fn stage_batch(
        &self,
        store: &mut Store,
        items: &[BatchItem],
        now: DateTime<Utc>,
    ) -> (Vec<BatchAnswer>, Vec<EngineEvent>) {
        let mut created = Vec::new();
        let answers = items
            .iter()
            .map(|item| {
                BatchAnswer::of(
                    self.stage_submit(store, &item.submit, Some(&item.request_id), now)
                        .map(|(ack, task)| {
                            created.extend(task);
                            serde_json::to_value(ack).unwrap_or_default()
                        }),
                )
            })
            .collect();
        if !created.is_empty() {
            info!(count = created.len(), "tasks submitted in a batch");
        }
        (answers, created)
    }

    fn stage_cancel(
        &self,
        store: &mut Store,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<TaskDto, EngineError> {
        let task = task_record(store, id)?;
        let task_id = task.id.clone();
        if task.status.is_terminal() {
            return Err(EngineError::AlreadyFinished {
                id: task_id.to_string(),
                status: task.status.to_string(),
            });
        }
        store.stage(
            Event::TaskStatusChanged {
                task_id: task_id.clone(),
                status: TaskStatus::Cancelled,
                reason: Some("cancelled by a person".into()),
            },
            now,
        )?;
        let task = store.state().task(&task_id).map(TaskDto::from);
        task.ok_or(EngineError::UnknownTask(id.to_string()))
    }

    /// Cancels a live task.
    pub fn cancel(&self, id: &str) -> Result<TaskDto, EngineError> {
        let task = {
            let mut store = self.store();
            let t = self.stage_cancel(&mut store, id, self.now())?;
            store.sync()?;
            t
        };
        self.stop_task_workers(&task.id);
        info!(task_id = %task.id, "task cancelled");
        self.emit(EngineEvent::TaskUpdated { task: task.clone() });
        Ok(task)
    }

    /// Every task, in queue order.
    pub fn tasks(&self) -> Vec<TaskDto> {
        tasks_of(self.store().state())
    }

    pub fn status(&self) -> StatusDto {
        let mut status = status_of(self.store().state());
        status.health = health_counts(&self.workers());
        status.paused_experts = self.paused_experts_now();
        status
    }

    /// Handles every pending inbox request: all changes are made durable with
    /// one fsync, then each requester gets its ack. Returns how many.
    pub fn process_inbox(&self) -> Result<usize, EngineError> {
        let claimed = inbox::claim_pending(&self.inner.home);
        if claimed.is_empty() {
            return Ok(0);
        }
        let now = self.now();
        let mut acks = Vec::with_capacity(claimed.len());
        let mut events = Vec::new();
        let mut deferred = Vec::new();
        let mut cancelled: Vec<TaskId> = Vec::new();
        let mut plans_made = Vec::new();
        {
            let mut store = self.store();
            for (id, path) in &claimed {
                let outcome = match inbox::read_request(&self.inner.home, path) {
                    Err(e) => Err(e),
                    Ok(req) => match &req.op {
                        InboxOp::PlanSubmit {
                            plan,
                            workdir,
                            worktree,
                        } => self
                            .stage_plan(
                                &mut store,
                                plan,
                                &crate::plans::PlanOrigin {
                                    workdir: workdir.as_deref(),
                                    worktree: *worktree,
                                    request: Some(id),
                                    ..Default::default()
                                },
                                now,
                            )
                            .map(|ack| {
                                plans_made.push(ack.plan_id.clone());
                                serde_json::to_value(ack).ok()
                            }),
                        InboxOp::PlanConfirm { .. } | InboxOp::PlanMerge { .. } => {
                            // Needs the store unlocked: run it after the batch.
                            deferred.push((id.clone(), req.op.clone()));
                            continue;
                        }
                        InboxOp::SubmitBatch { items } => {
                            let (answers, created) = self.stage_batch(&mut store, items, now);
                            events.extend(created);
                            Ok(Some(serde_json::json!({ "results": answers })))
                        }
                        InboxOp::Submit { submit } => self
                            .stage_submit(&mut store, submit, Some(id), now)
                            .map(|(ack, event)| {
                                events.extend(event);
                                serde_json::to_value(ack).ok()
                            }),
                        InboxOp::Confirm { task_id, expert } => {
                            match self.stage_confirm(&mut store, task_id, expert.as_deref(), now) {
                                Ok(ack) => {
                                    events.push(EngineEvent::TaskUpdated {
                                        task: ack.task.clone(),
                                    });
                                    Ok(serde_json::to_value(ack).ok())
                                }
                                Err(e) => Err(e),
                            }
                        }
                        InboxOp::Reroute { task_id, expert } => {
                            match self.stage_reroute(&mut store, task_id, expert, now) {
                                Ok(ack) => {
                                    events.push(EngineEvent::TaskUpdated {
                                        task: ack.task.clone(),
                                    });
                                    Ok(serde_json::to_value(ack).ok())
                                }
                                Err(e) => Err(e),
                            }
                        }
                        InboxOp::Kill { .. }
                        | InboxOp::Restart { .. }
                        | InboxOp::Extend { .. }
                        | InboxOp::Nudge { .. }
                        | InboxOp::Reply { .. } => {
                            // Worker control needs the store unlocked: run it after the batch.
                            deferred.push((id.clone(), req.op.clone()));
                            continue;
                        }
                        InboxOp::SetPaused { paused } => {
                            let result = if store.state().spawning_paused == *paused {
                                Ok(())
                            } else {
                                store
                                    .stage(Event::SpawningPaused { paused: *paused }, now)
                                    .map(|_| ())
                            };
                            result.map(|()| Some(serde_json::json!({"paused": paused})))
                        }
                        InboxOp::CloseCircuit { .. }
                        | InboxOp::Merge { .. }
                        | InboxOp::RemoveWorktree { .. } => {
                            // Needs the store unlocked: run it after the batch.
                            deferred.push((id.clone(), req.op.clone()));
                            continue;
                        }
                        InboxOp::ResetLearning => self.reset_learning().map(|moved| {
                            Some(serde_json::json!({"reset": true, "moved_to": moved}))
                        }),
                        InboxOp::Cancel { task_id } => {
                            // A replayed cancel finds the task cancelled: answer
                            // with its state instead of an error.
                            match self.stage_cancel(&mut store, task_id, now) {
                                Ok(task) => {
                                    cancelled.push(task.id.clone());
                                    events.push(EngineEvent::TaskUpdated { task: task.clone() });
                                    Ok(serde_json::to_value(task).ok())
                                }
                                Err(e) => Err(e),
                            }
                        }
                    },
                };
                acks.push(ack_of(id.clone(), outcome));
            }
            store.sync()?;
        }
        // A cancelled task's workers (and checks) stop, as with `cancel`.
        for task_id in &cancelled {
            self.stop_task_workers(task_id);
        }
        let had_deferred = !deferred.is_empty() || !cancelled.is_empty();
        for (id, op) in deferred {
            let result = self.apply(&op).map(Some);
            acks.push(ack_of(id, result));
        }
        if had_deferred {
            // Worker control may have staged attempt starts: durable first.
            self.store().sync()?;
        }
        for ack in &acks {
            inbox::write_ack(&self.inner.home, ack)?;
        }
        for (_, path) in &claimed {
            let _ = std::fs::remove_file(path);
        }
        debug!(count = acks.len(), "inbox requests acknowledged");
        for e in events {
            self.emit(e);
        }
        for p in &plans_made {
            self.emit_plan_tasks(p);
        }
        Ok(acks.len())
    }

    /// Writes a snapshot if anything changed since the last one.
    pub fn snapshot_if_due(&self) -> Result<(), EngineError> {
        let mut store = self.store();
        if store.snapshot_due() {
            store.write_snapshot(self.now())?;
        }
        Ok(())
    }

    /// Final snapshot; the lock is released when the last handle drops.
    pub fn close(&self) -> Result<(), EngineError> {
        self.snapshot_if_due()
    }
}

/// What a task held for a person's confirmation says.
fn confirmation_reason(task_id: &TaskId, d: &Decision) -> String {
    format!(
        "low-confidence routing to {} ({:.2}): {}; confirm with `cortex confirm {task_id} [EXPERT]` or `cortex reroute {task_id} EXPERT`",
        d.primary_expert, d.confidence, d.explanation
    )
}

/// Lets a held task go (to `routed`), if it was held.
fn release_confirmation(
    store: &mut Store,
    task: &Task,
    now: DateTime<Utc>,
) -> Result<(), EngineError> {
    if task.status == TaskStatus::AwaitingConfirmation {
        store.stage(
            Event::TaskStatusChanged {
                task_id: task.id.clone(),
                status: TaskStatus::Routed,
                reason: None,
            },
            now,
        )?;
    }
    Ok(())
}

/// The tasks named by `--after`: each must exist (a new task cannot be
/// depended on yet, so no cycle can form).
fn resolve_after(
    state: &cortex_core::state::State,
    given: &[String],
) -> Result<Vec<TaskId>, EngineError> {
    let mut out: Vec<TaskId> = Vec::new();
    for g in given
        .iter()
        .flat_map(|g| g.split(','))
        .map(str::trim)
        .filter(|g| !g.is_empty())
    {
        let id = TaskId::parse(g)
            .filter(|id| state.task(id).is_some())
            .ok_or_else(|| {
                EngineError::BadValue(format!(
                    "--after: no task `{g}`, expected the id of a submitted task (t-...)"
                ))
            })?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// The stored task with this id (with or without its `t-` prefix).
fn task_record(store: &Store, id: &str) -> Result<Task, EngineError> {
    TaskId::parse(id)
        .and_then(|tid| store.state().task(&tid).cloned())
        .ok_or_else(|| EngineError::UnknownTask(id.to_string()))
}

fn ack_of(
    request_id: RequestId,
    outcome: Result<Option<serde_json::Value>, EngineError>,
) -> InboxAck {
    match outcome {
        Ok(result) => InboxAck {
            v: 1,
            request_id,
            ok: true,
            result,
            error: None,
        },
        Err(e) => InboxAck {
            v: 1,
            request_id,
            ok: false,
            result: None,
            error: Some(AckError::of(&e)),
        },
    }
}

pub(crate) fn tasks_of(state: &cortex_core::state::State) -> Vec<TaskDto> {
    let mut tasks: Vec<&Task> = state.tasks().collect();
    tasks.sort_by(|a, b| cortex_core::task::queue_order(a, b));
    let mut checked: BTreeMap<&TaskId, Vec<&cortex_core::worker::Worker>> = BTreeMap::new();
    for w in state.workers().filter(|w| w.verification.is_some()) {
        checked.entry(&w.task_id).or_default().push(w);
    }
    tasks
        .into_iter()
        .map(|t| {
            let mut dto = TaskDto::from(t);
            if let Some(ws) = checked.get(&t.id) {
                dto.verification = crate::review::task_verification(ws.iter().copied());
            }
            dto
        })
        .collect()
}

pub(crate) fn status_of(state: &cortex_core::state::State) -> StatusDto {
    let mut workers = BTreeMap::new();
    for w in state.workers() {
        *workers.entry(w.status.as_str().to_string()).or_default() += 1;
    }
    StatusDto {
        tasks: state
            .counts_by_status()
            .into_iter()
            .map(|(k, v)| (k.as_str().to_string(), v))
            .collect(),
        workers,
        health: BTreeMap::new(),
        paused_experts: Vec::new(),
    }
}

/// Live workers counted by health, as every view counts them.
pub(crate) fn health_counts(workers: &[crate::runtime::WorkerDto]) -> BTreeMap<String, usize> {
    let mut health = BTreeMap::new();
    for w in workers.iter().filter(|w| !w.state.is_terminal()) {
        *health.entry(w.health.clone()).or_default() += 1;
    }
    health
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    /// Holds the home's flock the way a process does in the instant between
    /// taking it and writing its name: the lock file is empty.
    fn hold_unnamed(home: &Home) -> std::fs::File {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(home.lock_file())
            .unwrap();
        // SAFETY: flock on a descriptor this test owns.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        assert_eq!(rc, 0);
        f
    }

    #[test]
    fn a_long_running_owner_waits_out_a_holder_that_has_not_named_itself() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.init().unwrap();
        let held = hold_unnamed(&home);
        let (tx, rx) = std::sync::mpsc::channel();
        let releaser = std::thread::spawn(move || {
            // Released once the owner is seen waiting (its marker is written).
            rx.recv().unwrap();
            drop(held);
        });
        let marker = home.owner_wanted_file();
        let waiter = {
            let home = home.clone();
            std::thread::spawn(move || {
                Engine::open_waiting(&home, OwnerKind::Run, Duration::from_secs(20))
            })
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !marker.exists() && !waiter.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "the owner never waited"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        tx.send(()).unwrap();
        releaser.join().unwrap();
        let engine = waiter
            .join()
            .unwrap()
            .expect("the owner gets the home once it is free");
        assert!(
            !marker.exists(),
            "the marker is removed once the home is taken"
        );
        engine.close().unwrap();
    }

    /// An engine owning a fresh home (kept while the folder lives).
    fn owner_of_a_new_home(kind: OwnerKind) -> (tempfile::TempDir, Engine) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.init().unwrap();
        let engine = Engine::open(&home, kind).unwrap();
        (dir, engine)
    }

    #[test]
    fn a_panic_in_the_owners_loop_comes_back_as_an_error() {
        let (_dir, engine) = owner_of_a_new_home(OwnerKind::App);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        // The shutdown future is polled by the loop itself.
        let result = runtime.block_on(engine.run_guarded(async {
            panic!("broken while the loop ran");
        }));
        let err = result.expect_err("the panic is reported");
        assert!(
            matches!(&err, EngineError::Stopped(m) if m == "broken while the loop ran"),
            "{err}"
        );
        assert_eq!(err.code(), "engine_stopped");
    }

    #[test]
    fn the_pm_holds_with_values_that_validation_refuses() {
        let (_dir, engine) = owner_of_a_new_home(OwnerKind::Run);
        let (mut config, experts) = engine.settings().clone();
        config.pm.tick_millis = 5001;
        config.pm.late_after_secs = u64::MAX;
        config.pm.stalled_after_secs = u64::MAX;
        config.pm.zombie_after_secs = u64::MAX;
        config.restart.circuit_window_secs = u64::MAX / 2;
        config.restart.circuit_failures = 1;
        engine.apply_settings(config, experts);
        engine.tick_pm().unwrap();
        engine.note_failure("development", clock::now());
        assert_eq!(
            engine.open_circuits(clock::now()),
            vec!["development".to_string()]
        );
        engine.close().unwrap();
    }

    #[test]
    fn a_full_disk_refuses_a_submission_cleanly_and_takes_the_next_once_space_returns() {
        let Some(disk) = crate::testfs::SmallDisk::mount(2 * 1024 * 1024) else {
            return;
        };
        let home = Home::new(disk.path().join("home"));
        home.init().unwrap();
        // Waits out a holder of an instant (another test's child between its
        // fork and its exec).
        let engine = Engine::open_waiting(&home, OwnerKind::Run, Duration::from_secs(10)).unwrap();
        let req = |text: String| SubmitRequest {
            description: text,
            ..SubmitRequest::default()
        };
        let first = engine
            .submit(&req("write the first report".into()))
            .unwrap();
        disk.fill();
        // Bigger than any free part of a page the journal holds.
        let long = "fix the parser ".repeat(2000);
        let err = engine.submit(&req(long.clone())).expect_err("no room");
        assert!(err.is_disk_full(), "{err}");
        assert!(err.to_string().starts_with("disk full: "), "{err}");
        assert!(err.to_string().ends_with("free space and retry"), "{err}");
        assert_eq!(err.code(), "disk_full");
        assert!(engine.snapshot_if_due().is_err_and(|e| e.is_disk_full()));
        let leftovers: Vec<_> = std::fs::read_dir(home.root())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
        disk.free();
        let second = engine.submit(&req(long)).unwrap();
        engine.close().unwrap();
        drop(engine);
        // Nothing torn, nothing to quarantine: both tasks, and only them.
        let reopened =
            Engine::open_waiting(&home, OwnerKind::Cli, Duration::from_secs(10)).unwrap();
        assert!(reopened.load_report().quarantined.is_empty());
        let ids: Vec<_> = reopened.tasks().into_iter().map(|t| t.id).collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert!(ids.contains(&first.task_id) && ids.contains(&second.task_id));
        reopened.close().unwrap();
    }

    #[test]
    fn a_long_running_owner_is_refused_at_once_by_another() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.init().unwrap();
        let first = Engine::open(&home, OwnerKind::App).unwrap();
        let started = std::time::Instant::now();
        let Err(err) = Engine::open_waiting(&home, OwnerKind::Run, Duration::from_secs(30)) else {
            panic!("a second long-running owner is refused");
        };
        assert!(matches!(err, EngineError::Owned { .. }), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "refused without waiting out the limit"
        );
        first.close().unwrap();
    }
}
