//! Unit tests of the fleet (starting, settling, restarting, stopping and
//! re-adopting attempts; here) and the PM (silence, time limits, the
//! circuit breaker; `pm`) over the fake launcher and a manual clock: no
//! processes, no sleeps. Each test drives the engine's passes by hand (`tick`) and moves
//! time with the clock, as the owner's loop would.
//!
//! May depend on: the whole engine crate (it tests the facade).

use std::sync::Arc;
use std::time::Duration;

use cortex_core::alerts::Alert;
use cortex_core::health::AlertKind;
use cortex_core::input::SubmitRequest;
use cortex_core::stream::Exit;
use cortex_core::task::TaskStatus;
use cortex_core::worker::WorkerStatus;
use serde_json::{json, Value};

use crate::engine::EngineEvent;
use crate::launcher::fake::FakeLauncher;
use crate::launcher::{ManualClock, Parts, Signal};
use crate::runtime::WorkerDto;
use crate::{Engine, Home, OwnerKind};

mod cluster;
mod controls;
mod logging;
mod pm;
mod truths;
mod views;

const RESULT_OK: &str = r#"{"type":"result","subtype":"success","is_error":false,"total_cost_usd":0.01,"usage":{"input_tokens":5,"output_tokens":7},"result":"done"}"#;
const ASSISTANT: &str = r#"{"type":"assistant","message":{"id":"m1","role":"assistant","content":[{"type":"text","text":"working"}],"usage":{"input_tokens":1,"output_tokens":1}}}"#;

/// An engine owning a temporary home, over a fake launcher and a manual clock.
struct Fleet {
    dir: tempfile::TempDir,
    engine: Option<Engine>,
    fake: FakeLauncher,
    clock: ManualClock,
    events: tokio::sync::broadcast::Receiver<EngineEvent>,
}

/// Changes to the shipped `config.json` and `experts/<name>.json`.
#[derive(Default)]
struct Setup {
    config: Vec<(&'static str, Value)>,
    expert: Vec<(&'static str, &'static str, Value)>,
}

fn set(doc: &mut Value, path: &str, v: Value) {
    let mut at = doc;
    let parts: Vec<&str> = path.split('.').collect();
    for p in &parts[..parts.len() - 1] {
        at = at
            .get_mut(*p)
            .unwrap_or_else(|| panic!("no `{p}` on the way to `{path}`"));
    }
    at[parts[parts.len() - 1]] = v;
}

impl Fleet {
    fn new(setup: Setup) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home::new(dir.path());
        home.init().expect("init");
        let edit = |path: std::path::PathBuf, changes: Vec<(&str, Value)>| {
            let mut doc: Value =
                serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
            for (k, v) in changes {
                set(&mut doc, k, v);
            }
            std::fs::write(&path, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
        };
        let mut config = vec![("routing.confirm_low_confidence", json!(false))];
        config.extend(setup.config);
        edit(dir.path().join("config.json"), config);
        for (expert, k, v) in setup.expert {
            edit(
                dir.path().join("experts").join(format!("{expert}.json")),
                vec![(k, v)],
            );
        }
        let fake = FakeLauncher::new();
        let clock = ManualClock::new(crate::clock::now());
        let engine = Self::open(&home, &fake, &clock);
        let events = engine.subscribe();
        Self {
            dir,
            engine: Some(engine),
            fake,
            clock,
            events,
        }
    }

    fn open(home: &Home, fake: &FakeLauncher, clock: &ManualClock) -> Engine {
        let engine = Engine::open_with(
            home,
            OwnerKind::App,
            Parts {
                launcher: Arc::new(fake.clone()),
                clock: Arc::new(clock.clone()),
            },
        )
        .expect("open");
        engine.start_runtime().expect("start");
        engine
    }

    fn engine(&self) -> &Engine {
        self.engine.as_ref().expect("an engine")
    }

    /// Another engine takes over the home, as after a restart of Cortex;
    /// the fake's processes live on.
    fn restart_engine(&mut self) {
        drop(self.engine.take());
        let engine = Self::open(&Home::new(self.dir.path()), &self.fake, &self.clock);
        self.events = engine.subscribe();
        self.engine = Some(engine);
    }

    fn submit(&self, text: &str, expert: &str) -> String {
        let ack = self
            .engine()
            .submit(&SubmitRequest {
                description: text.into(),
                task_type: Some(expert.into()),
                workdir: Some(self.dir.path().display().to_string()),
                ..Default::default()
            })
            .expect("submit");
        ack.task_id.to_string()
    }

    /// One runtime pass and one PM pass, as the owner's loop runs them.
    fn tick(&self) {
        self.engine().tick_runtime().expect("runtime pass");
        self.engine().tick_pm().expect("pm pass");
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    fn workers_of(&self, task: &str) -> Vec<WorkerDto> {
        let mut w: Vec<WorkerDto> = self
            .engine()
            .workers()
            .into_iter()
            .filter(|w| w.task_id.as_str() == task)
            .collect();
        w.reverse();
        w
    }

    fn worker_of(&self, task: &str) -> WorkerDto {
        self.workers_of(task)
            .pop()
            .unwrap_or_else(|| panic!("no worker for {task}"))
    }

    fn task_status(&self, task: &str) -> TaskStatus {
        self.engine()
            .tasks()
            .into_iter()
            .find(|t| t.id.as_str() == task)
            .map(|t| t.status)
            .expect("task")
    }

    /// The pid of a worker's attempt.
    fn pid(&self, w: &WorkerDto, attempt: u32) -> u32 {
        self.fake
            .process(w.id.as_str(), attempt)
            .unwrap_or_else(|| panic!("attempt {attempt} of {} was not started", w.id))
            .pid
    }

    /// The alerts raised so far (held ones released first).
    fn alerts(&mut self) -> Vec<Alert> {
        self.engine().release_alerts();
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            if let EngineEvent::Alert { alert } = e {
                out.extend(alert.summarized.clone());
                out.push(alert);
            }
        }
        out
    }
}

/// What a step of a scripted sequence does.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The live attempt's process ends so.
    Ends(Exit),
    /// Time passes.
    Wait(u64),
}

#[test]
fn a_crash_restarts_at_once_then_after_the_backoff_then_gives_up() {
    use Step::{Ends, Wait};
    let mut f = Fleet::new(Setup::default());
    let task = f.submit("fix the parser", "development");
    f.tick();
    let w = f.worker_of(&task);
    assert_eq!((w.state, w.attempt), (WorkerStatus::Running, 1));
    // (the step, then one pass, the worker's state and attempt after it)
    let steps = [
        // The first crash is restarted in the same pass.
        (Ends(Exit::Code(1)), WorkerStatus::Running, 2),
        // The second waits restart.backoff_base_secs (30 s)...
        (Ends(Exit::Code(1)), WorkerStatus::Waiting, 2),
        (Wait(29), WorkerStatus::Waiting, 2),
        // ...and then starts.
        (Wait(1), WorkerStatus::Running, 3),
        // The third crash finds no restarts left (max_restarts 2).
        (Ends(Exit::Signal(9)), WorkerStatus::Failed, 3),
    ];
    for (n, (step, state, attempt)) in steps.into_iter().enumerate() {
        match step {
            Ends(exit) => {
                let w = f.worker_of(&task);
                f.fake.exit(f.pid(&w, w.attempt), exit);
            }
            Wait(secs) => f.advance(secs),
        }
        f.tick();
        let w = f.worker_of(&task);
        assert_eq!(
            (w.state, w.attempt),
            (state, attempt),
            "step {n} {step:?}: {w:?}"
        );
    }
    assert_eq!(f.task_status(&task), TaskStatus::Failed);
    let w = f.worker_of(&task);
    assert!(
        w.reason
            .as_deref()
            .unwrap_or("")
            .contains("no restarts left"),
        "{:?}",
        w.reason
    );
    let failed: Vec<Alert> = f
        .alerts()
        .into_iter()
        .filter(|a| a.kind == AlertKind::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(f.fake.running_processes().is_empty());
}

#[test]
fn a_result_line_and_exit_zero_complete_the_worker_and_the_task() {
    let f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    f.fake.say(pid, ASSISTANT);
    f.fake.say(pid, RESULT_OK);
    f.fake.exit(pid, Exit::Code(0));
    f.tick();
    let w = f.worker_of(&task);
    assert_eq!(w.state, WorkerStatus::Completed, "{w:?}");
    assert_eq!(w.result.as_deref(), Some("done"));
    assert_eq!(f.task_status(&task), TaskStatus::Completed);
}

/// Re-adoption by a new engine: (what happened to the process while no
/// engine watched, what its output says, the state then, attempts started).
#[test]
fn a_new_engine_readopts_what_is_still_ours_and_settles_the_rest() {
    type Case = (
        &'static str,
        Option<Exit>,
        Option<&'static str>,
        WorkerStatus,
        u32,
    );
    let cases: [Case; 4] = [
        ("still running", None, None, WorkerStatus::Running, 1),
        (
            "ended with a result",
            Some(Exit::Code(0)),
            Some(RESULT_OK),
            WorkerStatus::Completed,
            1,
        ),
        // Gone without a result: lost, restarted at once (first restart).
        (
            "gone without a word",
            Some(Exit::Code(1)),
            None,
            WorkerStatus::Running,
            2,
        ),
        // A process with the pid but another start time is not ours.
        ("pid reused", None, None, WorkerStatus::Running, 2),
    ];
    for (name, exit, says, state, attempts) in cases {
        let mut f = Fleet::new(Setup::default());
        let task = f.submit("fix the parser", "development");
        f.tick();
        let w = f.worker_of(&task);
        let pid = f.pid(&w, 1);
        if let Some(line) = says {
            f.fake.say(pid, line);
        }
        if let Some(e) = exit {
            f.fake.exit(pid, e);
        }
        if name == "pid reused" {
            // The recorded process ended and its pid went to another process.
            f.fake.reuse_pid(pid, "w-someone-else");
        }
        f.restart_engine();
        f.tick();
        let w = f.worker_of(&task);
        assert_eq!(w.state, state, "{name}: {w:?}");
        assert_eq!(w.attempt, attempts, "{name}: {w:?}");
        let started = f
            .fake
            .processes()
            .iter()
            .filter(|p| p.worker_id == w.id.as_str())
            .count();
        assert_eq!(started as u32, attempts, "{name}: one process per attempt");
    }
}

#[test]
fn a_kill_that_races_the_exit_ends_the_worker_once_and_starts_nothing() {
    let f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    let w = f.worker_of(&task);
    // The process crashes, and before the engine notices, a person kills it.
    f.fake.exit(pid, Exit::Code(1));
    let dto = f.engine().kill_worker(w.id.as_str()).expect("kill");
    assert_eq!(dto.state, WorkerStatus::Stopping);
    f.tick();
    let w = f.worker_of(&task);
    assert_eq!((w.state, w.attempt), (WorkerStatus::Cancelled, 1), "{w:?}");
    f.advance(600);
    f.tick();
    assert_eq!(f.fake.processes().len(), 1, "no restart after a kill");
    assert_eq!(f.task_status(&task), TaskStatus::Cancelled);
}

#[test]
fn a_restart_that_races_the_exit_starts_exactly_one_new_attempt() {
    let f = Fleet::new(Setup::default());
    let task = f.submit("fix the parser", "development");
    f.tick();
    let w = f.worker_of(&task);
    f.fake.exit(f.pid(&w, 1), Exit::Code(1));
    f.engine().restart_worker(w.id.as_str()).expect("restart");
    f.tick();
    f.tick();
    let w = f.worker_of(&task);
    assert_eq!((w.state, w.attempt), (WorkerStatus::Running, 2), "{w:?}");
    assert_eq!(f.fake.running_processes().len(), 1);
    // A stop about attempt 1 arriving now is stale: attempt 2 runs on.
    let stale = f.engine().request_stop(
        &cortex_core::id::WorkerId::parse(w.id.as_str()).unwrap(),
        Some(1),
        cortex_core::stream::OutcomeKind::Killed,
        "late",
        Some(cortex_core::worker::AfterStop::End(WorkerStatus::Cancelled)),
    );
    assert!(!stale);
    f.tick();
    assert_eq!(f.worker_of(&task).state, WorkerStatus::Running);
}

#[test]
fn an_attempt_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    let w = f.worker_of(&task);
    f.fake.ignore_term(pid);
    f.engine().kill_worker(w.id.as_str()).expect("kill");
    f.advance(4);
    f.tick();
    assert_eq!(
        f.fake.process(w.id.as_str(), 1).unwrap().signals,
        vec![Signal::Term]
    );
    f.advance(1); // pm.kill_grace_secs is 5
    f.tick();
    f.tick();
    let p = f.fake.process(w.id.as_str(), 1).unwrap();
    assert_eq!(p.signals[..2], [Signal::Term, Signal::Kill]);
    assert_eq!(f.worker_of(&task).state, WorkerStatus::Cancelled);
}

#[test]
fn workers_start_within_the_global_and_the_per_expert_capacity() {
    let f = Fleet::new(Setup {
        config: vec![("capacity.max_workers", json!(3))],
        expert: vec![("development", "max_workers", json!(2))],
    });
    // A second apart, so that the queue's order is the order of submission.
    let submit = |text: String, expert: &str| {
        f.advance(1);
        f.submit(&text, expert)
    };
    let dev: Vec<String> = (0..3)
        .map(|n| submit(format!("fix bug number {n}"), "development"))
        .collect();
    let sec: Vec<String> = (0..2)
        .map(|n| submit(format!("audit the tokens {n}"), "security"))
        .collect();
    f.tick();
    let running = |tasks: &[String]| tasks.iter().filter(|t| !f.workers_of(t).is_empty()).count();
    assert_eq!((running(&dev), running(&sec)), (2, 1));
    // One development worker completes: the third development task starts.
    assert!(f.workers_of(&dev[2]).is_empty(), "the third waits");
    let first = f.worker_of(&dev[0]);
    let pid = f.pid(&first, 1);
    f.fake.say(pid, RESULT_OK);
    f.fake.exit(pid, Exit::Code(0));
    f.tick();
    assert_eq!((running(&dev), running(&sec)), (3, 1));
    assert_eq!(f.fake.running_processes().len(), 3);
}

#[test]
fn a_failure_to_start_fails_the_worker_with_the_reason() {
    let f = Fleet::new(Setup::default());
    f.fake
        .fail_next_launch("agent command `claude` was not found");
    let task = f.submit("fix the parser", "development");
    f.tick();
    let w = f.worker_of(&task);
    assert_eq!(w.state, WorkerStatus::Failed);
    assert!(w.reason.unwrap_or_default().contains("was not found"));
    assert!(f.fake.processes().is_empty());
}

/// A worker as a view in another process reads it (the CLI's `workers`).
fn read_elsewhere(home: &Home, id: &cortex_core::id::WorkerId) -> WorkerDto {
    crate::engine::view::workers(home)
        .expect("workers")
        .into_iter()
        .find(|x| &x.id == id)
        .expect("listed")
}

/// A task of the development expert, its worker started: its id and the
/// pid of its first attempt.
fn started(f: &Fleet, text: &str) -> (String, u32) {
    let task = f.submit(text, "development");
    f.tick();
    let pid = f.pid(&f.worker_of(&task), 1);
    (task, pid)
}

/// An assistant line of its own message id, with these output tokens.
fn assistant(id: &str, output_tokens: u64) -> String {
    json!({"type": "assistant", "message": {"id": id, "role": "assistant",
        "content": [{"type": "text", "text": "working"}],
        "usage": {"input_tokens": 0, "output_tokens": output_tokens}}})
    .to_string()
}

#[test]
fn a_worker_over_its_token_budget_is_stopped_and_its_expert_not_blamed() {
    let mut f = Fleet::new(Setup {
        config: vec![("restart.circuit_failures", json!(1))],
        expert: vec![("development", "token_budget", json!(100))],
    });
    let (task, pid) = started(&f, "fix the parser");
    f.fake.say(pid, &assistant("m1", 60));
    f.tick();
    assert_eq!(f.worker_of(&task).state, WorkerStatus::Running, "60 of 100");
    // The same message again is not counted twice.
    f.fake.say(pid, &assistant("m1", 60));
    f.tick();
    assert_eq!(f.worker_of(&task).state, WorkerStatus::Running);
    f.fake.say(pid, &assistant("m2", 40));
    f.tick(); // 100 of 100: stopped (SIGTERM ends the fake)
    f.tick();
    let w = f.worker_of(&task);
    assert_eq!(w.state, WorkerStatus::Failed, "{w:?}");
    assert_eq!(
        f.fake.process(w.id.as_str(), 1).unwrap().signals,
        vec![Signal::Term]
    );
    assert!(f.alerts().iter().any(|a| a.kind == AlertKind::Budget));
    // A limit's stop is not the expert's failure: its circuit stays closed.
    assert!(f.engine().paused_experts_now().is_empty());
    assert_eq!(
        f.fake.processes().len(),
        1,
        "no restart after a budget stop"
    );
}

#[test]
fn every_line_of_the_activity_log_is_told_to_subscribers() {
    let mut f = Fleet::new(Setup {
        config: vec![("pm.late_after_secs", json!(60))],
        expert: vec![],
    });
    let task = f.submit("fix the parser", "development");
    f.tick();
    let w = f.worker_of(&task);
    f.fake.say(f.pid(&w, 1), &assistant("m1", 1));
    f.tick();
    f.advance(61);
    f.tick();
    assert_eq!(f.worker_of(&task).health, "late");
    let written: Vec<Value> = std::fs::read_to_string(f.engine().home().pm_activity())
        .expect("the activity log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let mut told = Vec::new();
    while let Ok(e) = f.events.try_recv() {
        if let EngineEvent::ActivityLogged { line } = e {
            told.push(line);
        }
    }
    assert!(
        written
            .iter()
            .any(|l| l["event"] == "health" && l["to"] == "late"),
        "{written:?}"
    );
    assert_eq!(told, written, "each line written, told once, in order");
}

#[test]
fn an_expert_file_taken_away_while_its_worker_runs_is_refused_and_kept() {
    let f = Fleet::new(Setup::default());
    let task = f.submit("audit the login flow", "security");
    f.tick();
    let w = f.worker_of(&task);
    assert!(!w.state.is_terminal(), "{w:?}");
    let file = f.engine().home().experts_dir().join("security.json");
    let kept = std::fs::read_to_string(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    // Two looks: an edit is read once it stayed the same for both.
    f.engine().reload_settings_if_edited();
    f.engine().reload_settings_if_edited();
    assert!(
        f.engine().settings().1.get("security").is_some(),
        "the expert in use is kept"
    );
    let last = f.engine().recent_activity(1).pop().unwrap();
    assert_eq!(last["event"], "settings_refused", "{last}");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("expert security is no longer in experts/, and 1 of its workers runs"),
        "{last}"
    );
    assert!(f.engine().settings_refused().is_some());
    // Its worker ends: the same files are read again without another edit,
    // and the expert goes.
    let pid = f.pid(&w, 1);
    f.fake.say(pid, ASSISTANT);
    f.fake.say(pid, RESULT_OK);
    f.fake.exit(pid, Exit::Code(0));
    f.tick();
    assert!(f.worker_of(&task).state.is_terminal());
    f.engine().reload_settings_if_edited();
    assert_eq!(f.engine().settings_refused(), None);
    assert!(f.engine().settings().1.get("security").is_none());
    let last = f.engine().recent_activity(1).pop().unwrap();
    assert_eq!(last["event"], "settings_applied", "{last}");
    std::fs::write(&file, kept).unwrap();
}
