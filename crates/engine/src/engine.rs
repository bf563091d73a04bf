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
use tracing::{info, warn};

use crate::clock;
use crate::error::EngineError;
use crate::home::Home;
use crate::inbox::{AckError, BatchAnswer, BatchItem, InboxAck};
use crate::learning;
use crate::lock::OwnerKind;
use crate::store::{self, LoadReport, Store};

mod fleet;
mod outcomes;
mod owner;
mod planning;
mod reads;
mod requests;
mod settings_watch;
mod supervision;
pub use owner::OwnerLoop;
mod experts;
mod tasks;
pub mod view;

pub(crate) use crate::dto::LiveFigures;
pub use crate::dto::{EngineEvent, RerouteAck, StatusDto, SubmitAck, TaskDto};

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
    /// The settings files as last looked at (`settings_watch`).
    pub(crate) settings_look: std::sync::Mutex<settings_watch::Seen>,
    /// Held while settings are read, written and applied (a save from the
    /// app, an edit on disk read again), so one cannot undo the other.
    pub(crate) settings_write: std::sync::Mutex<()>,
    /// The configuration this engine opened with: what it read only then
    /// (where workers run, the loop's period, the alerts' window) stays as
    /// it says, whatever an edit says later (`settings_watch`).
    pub(crate) started_with: Config,
    /// Set when this engine (a CLI command's, for its own length) opened on
    /// the settings an owner last used because a file on disk is not
    /// valid: why. It then only stops and holds things, never starts an
    /// agent or routes a task with those settings (`requests`).
    pub(crate) settings_fallback: Option<String>,
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
        // A configuration that cannot be read yet (a folder in its place,
        // moved aside by `open_with`) is reported there, with its defaults;
        // a launcher that cannot be made for a good one is an error, never
        // a silent run on this machine.
        let parts = match Self::settings_to_open(home, kind) {
            Ok((s, _)) => crate::launcher::Parts::for_config(home, &s.0)?,
            Err(_) => crate::launcher::Parts::default(),
        };
        Self::open_with(home, kind, parts)
    }

    /// The settings an owner of `kind` opens with: the files on disk, valid.
    /// A CLI command, which holds the home only for its own length, may
    /// instead use the ones an owner last used while a file is not valid
    /// (its report says so), so a typo does not stop a kill or a cancel; a
    /// long-running owner never starts on anything but valid files.
    #[allow(clippy::type_complexity)]
    fn settings_to_open(
        home: &Home,
        kind: OwnerKind,
    ) -> Result<((Config, ExpertSet), Option<String>), EngineError> {
        if kind == OwnerKind::Cli {
            let s = home.settings_for_reading()?;
            return Ok(((s.config, s.experts), s.not_read.map(|n| n.problem)));
        }
        Ok((home.load_settings()?, None))
    }

    /// `open` with the launcher and clock to use (tests give a fake launcher
    /// and a manual clock).
    pub fn open_with(
        home: &Home,
        kind: OwnerKind,
        parts: crate::launcher::Parts,
    ) -> Result<Self, EngineError> {
        let prepared = crate::store::prepare_home(home)?;
        // Looked at before reading: an edit while the engine opens is read
        // at the owner's next look.
        let seen = settings_watch::Seen::now(home);
        let (settings, settings_fallback) = Self::settings_to_open(home, kind)?;
        let started_with = settings.0.clone();
        let (store, load_report) = Store::open_prepared(home, kind, prepared)?;
        // Acks nobody collected in time, from requests to earlier owners.
        crate::inbox::expire_stale(home, std::time::SystemTime::now());
        let (events, _) = broadcast::channel(1024);
        let router = Router::new(&settings.0.routing, &settings.1);
        let command_override = crate::driver::command_override()
            .map_err(|m| cortex_core::config::ConfigError::new("CORTEX_AGENT_COMMAND", None, m))?;
        let overridden = command_override.is_some();
        let agent_command = command_override.unwrap_or_else(|| settings.0.agent.command.clone());
        if settings_fallback.is_none() {
            if let Err(e) = home.record_settings_in_use(&settings, kind != OwnerKind::Cli) {
                tracing::warn!("cannot record the settings in use for other views: {e}");
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                home: home.clone(),
                store: Mutex::new(store),
                router: RwLock::new(router),
                learned: RwLock::new(learning::load(home)),
                runtime: Mutex::new(crate::runtime::Runtime::new(agent_command, overridden)),
                pm: Mutex::new(crate::pm::PmState::new(
                    settings.0.notifications.coalesce_window_millis,
                    crate::pm::paused_experts_left(home, parts.clock.now()),
                )),
                settings: RwLock::new(settings),
                events,
                load_report,
                spares: crate::spares::Spares::new(&home.workers_dir()),
                launcher: parts.launcher,
                clock: parts.clock,
                spare_keeper: std::sync::Mutex::new(None),
                disk_full: std::sync::atomic::AtomicBool::new(false),
                settings_look: std::sync::Mutex::new(seen),
                settings_write: std::sync::Mutex::new(()),
                started_with,
                settings_fallback,
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

    /// The coordination home this engine owns.
    pub fn home(&self) -> &Home {
        &self.inner.home
    }

    /// What loading the home found (quarantined files, takeover).
    pub fn load_report(&self) -> &LoadReport {
        &self.inner.load_report
    }

    /// A receiver of the engine's events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.inner.events.subscribe()
    }

    /// The experts' names, in order.
    pub fn expert_names(&self) -> Vec<String> {
        self.settings().1.names()
    }

    /// The settings in force (`config.json`), as last loaded or saved.
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

    /// True when this engine's workers run on this machine.
    pub(crate) fn runs_locally(&self) -> bool {
        self.inner.started_with.launcher.kind == cortex_core::config::LauncherKind::Local
    }

    /// Replaces the settings of a running engine (after a validated save).
    pub(crate) fn apply_settings(&self, config: Config, experts: ExpertSet) {
        *self.inner.router.write().unwrap_or_else(|e| e.into_inner()) =
            Router::new(&config.routing, &experts);
        self.set_agent_command_from_config(&config.agent.command);
        let settings = (config, experts);
        if let Err(e) = self.home().record_settings_in_use(&settings, true) {
            tracing::warn!("cannot record the settings in use for other views: {e}");
        }
        *self
            .inner
            .settings
            .write()
            .unwrap_or_else(|e| e.into_inner()) = settings;
        // Restarts waiting for a free place are looked at again: a limit
        // may have been raised.
        self.runtime().next_restart = None;
    }

    /// Every task, in queue order.
    pub fn tasks(&self) -> Vec<TaskDto> {
        // Before the store is locked: the figures lock it themselves.
        let live = self.live_figures();
        tasks_of(self.store().state(), &live)
    }

    /// One task as `tasks` lists it (what the app shows for a task event,
    /// so an event never shows less than the list did); none if unknown.
    pub fn task_row(&self, id: &TaskId) -> Option<TaskDto> {
        // Before the store is locked: the figures lock it themselves.
        let live = self.live_figures();
        let store = self.store();
        let state = store.state();
        let t = state.task(id)?;
        let workers: Vec<&cortex_core::worker::Worker> =
            state.workers().filter(|w| &w.task_id == id).collect();
        // Its own running attempts' figures, not every task's.
        let mut running = crate::dto::RunningCost::default();
        for f in workers
            .iter()
            .filter_map(|w| crate::dto::running_figures(&live, w))
        {
            running.usd += f.cost_usd;
            running.estimated |= f.cost_estimated;
        }
        Some(row_of(t, &workers, Some(&running)))
    }

    /// Counts of tasks and workers by status, live workers by health, and paused experts.
    pub fn status(&self) -> StatusDto {
        let mut status = status_of(self.store().state());
        let workers = self.workers();
        status.workers = state_counts(&workers);
        status.health = health_counts(&workers);
        status.paused_experts = self.paused_experts_now();
        status.settings_refused = self.settings_refused();
        status.owner = crate::lock::supervising_owner(&self.inner.home.lock_file());
        status
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

pub(crate) fn ack_of(
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

/// Every task, in queue order, its cost with its running attempts' figures
/// so far (`live`).
pub(crate) fn tasks_of(state: &cortex_core::state::State, live: &LiveFigures) -> Vec<TaskDto> {
    let mut tasks: Vec<&Task> = state.tasks().collect();
    tasks.sort_by(|a, b| cortex_core::task::queue_order(a, b));
    let mut workers: BTreeMap<&TaskId, Vec<&cortex_core::worker::Worker>> = BTreeMap::new();
    for w in state.workers() {
        workers.entry(&w.task_id).or_default().push(w);
    }
    let costs = crate::dto::costs_so_far(state, live);
    tasks
        .into_iter()
        .map(|t| {
            let ws = workers.get(&t.id).map_or(&[][..], Vec::as_slice);
            row_of(t, ws, costs.get(&t.id))
        })
        .collect()
}

/// A task as every list and event shows it: its check's outcome over its
/// workers, its project (the repository its first worker that recorded one
/// started in), and its running attempts' cost so far.
pub(crate) fn row_of(
    t: &Task,
    workers: &[&cortex_core::worker::Worker],
    running: Option<&crate::dto::RunningCost>,
) -> TaskDto {
    let mut dto = TaskDto::from(t);
    if workers.iter().any(|w| w.verification.is_some()) {
        dto.verification = crate::review::task_verification(
            workers.iter().copied().filter(|w| w.verification.is_some()),
        );
    }
    dto.project = workers
        .iter()
        .find_map(|w| w.base.as_ref().map(|b| b.repo.clone()));
    dto.add_running(running);
    dto
}

/// The status's task counts and pause; its worker counts are the list's
/// (`state_counts`, `health_counts`), filled in by the caller that lists them.
pub(crate) fn status_of(state: &cortex_core::state::State) -> StatusDto {
    StatusDto {
        tasks: state
            .counts_by_status()
            .into_iter()
            .map(|(k, v)| (k.as_str().to_string(), v))
            .collect(),
        workers: BTreeMap::new(),
        health: BTreeMap::new(),
        paused_experts: Vec::new(),
        spawning_paused: state.spawning_paused,
        settings_refused: None,
        owner: None,
    }
}

/// Workers counted by state as the list shows each (`WorkerDto::state`: a
/// worker being stopped is `stopping`, not the journal's `running`).
pub(crate) fn state_counts(workers: &[crate::runtime::WorkerDto]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for w in workers {
        *out.entry(w.state.as_str().to_string()).or_default() += 1;
    }
    out
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

    /// Submits through `submit` with no folder, a missing one, then this
    /// one: the first two are refused, naming the folder, and store nothing.
    fn refuses_no_folder_and_a_missing_one<T: std::fmt::Debug>(
        submit: impl Fn(&Engine, Option<String>) -> Result<T, EngineError>,
    ) {
        let (dir, engine) = owner_of_a_new_home(OwnerKind::App);
        let none = submit(&engine, None).expect_err("no folder");
        assert!(
            none.to_string()
                .starts_with("a task needs a folder to work in"),
            "{none}"
        );
        let missing = dir.path().join("nowhere").display().to_string();
        let err = submit(&engine, Some(missing.clone())).expect_err("missing");
        assert_eq!(
            err.to_string(),
            format!("workdir `{missing}` is not a folder on this machine")
        );
        assert!(engine.tasks().is_empty(), "nothing stored");
        let here = dir.path().display().to_string();
        assert!(submit(&engine, Some(here)).is_ok());
        engine.close().unwrap();
    }

    #[test]
    fn a_folder_refused_for_a_worktree_names_what_asked_for_one() {
        let (dir, engine) = owner_of_a_new_home(OwnerKind::App);
        let plain = dir.path().display().to_string();
        let submit = |worktree: bool| {
            engine
                .submit(&SubmitRequest {
                    description: "write the report".into(),
                    workdir: Some(plain.clone()),
                    worktree,
                    ..SubmitRequest::default()
                })
                .expect_err("not a repository")
                .to_string()
        };
        assert!(submit(true).contains("asks for a worktree (`--worktree`)"));
        engine.save_config(r#"{"isolation": "worktree"}"#).unwrap();
        let err = submit(false);
        assert!(
            err.starts_with("isolation \"worktree\" in config.json") && !err.contains("--worktree"),
            "{err}"
        );
        assert!(engine.tasks().is_empty(), "nothing stored");
        engine.close().unwrap();
    }

    #[test]
    fn a_task_without_a_folder_or_with_a_missing_one_is_refused_and_nothing_is_stored() {
        refuses_no_folder_and_a_missing_one(|engine, workdir| {
            engine.submit(&SubmitRequest {
                description: "write the report".into(),
                workdir,
                ..SubmitRequest::default()
            })
        });
    }

    #[test]
    fn a_plan_without_a_folder_or_with_a_missing_one_is_refused_and_nothing_is_stored() {
        let spec: cortex_core::plan::PlanSpec = serde_json::from_str(
            r#"{"goal":"ship it","tasks":[{"name":"build","description":"build the release"}]}"#,
        )
        .unwrap();
        refuses_no_folder_and_a_missing_one(|engine, workdir| {
            engine.submit_plan(&spec, workdir.as_deref(), false)
        });
    }

    #[test]
    fn the_overview_says_when_the_agent_cannot_run_in_the_doctors_words() {
        let (dir, engine) = owner_of_a_new_home(OwnerKind::App);
        let missing = dir.path().join("no-agent").display().to_string();
        engine.set_agent_command_from_config(std::slice::from_ref(&missing));
        let problem = engine.overview().agent_problem.expect("a problem");
        assert_eq!(
            problem,
            format!("`{missing}` does not exist: fix agent.command in config.json")
        );
        assert_eq!(
            engine.doctor().agent_problem.as_deref(),
            Some(problem.as_str())
        );
        // There, but not a program: said so, not "missing".
        crate::files::write(std::path::Path::new(&missing), b"#!/bin/sh\n").unwrap();
        let problem = engine.overview().agent_problem.expect("a problem");
        assert!(problem.contains("is not executable (mode 600"), "{problem}");
        // A relative path is each task's folder's: said before any worker fails.
        engine.set_agent_command_from_config(&["bin/agent".to_string()]);
        let problem = engine.overview().agent_problem.expect("a problem");
        assert!(problem.contains("is a relative path"), "{problem}");
        engine.set_agent_command_from_config(&["sh".to_string()]);
        assert_eq!(engine.overview().agent_problem, None, "found on PATH");
        engine.close().unwrap();
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
            workdir: Some(disk.path().display().to_string()),
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
