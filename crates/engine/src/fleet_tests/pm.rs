//! Unit tests of the PM over the fake launcher and a manual clock: the
//! circuit breaker's window, silence climbing to a zombie, silence while the
//! cluster does not answer, CPU as a sign of life, and time-limit extension.
//!
//! May depend on: the harness (`super`).

use super::*;

#[test]
fn the_circuit_breaker_opens_within_its_window_and_closes_after_it() {
    let mut f = Fleet::new(Setup {
        config: vec![
            ("restart.circuit_failures", json!(2)),
            ("restart.circuit_window_secs", json!(60)),
        ],
        expert: vec![("development", "max_restarts", json!(0))],
    });
    // Two failures 61 s apart: never two within the window.
    let a = f.submit("fix bug a", "development");
    f.tick();
    f.fake.exit(f.pid(&f.worker_of(&a), 1), Exit::Code(1));
    f.tick();
    f.advance(61);
    let b = f.submit("fix bug b", "development");
    f.tick();
    f.fake.exit(f.pid(&f.worker_of(&b), 1), Exit::Code(1));
    f.tick();
    assert!(f.engine().paused_experts_now().is_empty());
    // A third within 60 s of the second opens it: the next task waits.
    f.advance(10);
    let c = f.submit("fix bug c", "development");
    f.tick();
    f.fake.exit(f.pid(&f.worker_of(&c), 1), Exit::Code(1));
    f.tick();
    let paused = f.engine().paused_experts_now();
    assert_eq!(paused.len(), 1, "{paused:?}");
    assert!(f
        .alerts()
        .iter()
        .any(|a| a.kind == AlertKind::CircuitBreaker));
    let d = f.submit("fix bug d", "development");
    f.tick();
    assert!(f.workers_of(&d).is_empty());
    assert_eq!(f.task_status(&d), TaskStatus::Waiting);
    // The breaker outlives its owner: the next one starts with it open,
    // and other processes' views still show it.
    f.restart_engine();
    assert_eq!(f.engine().paused_experts_now(), paused);
    let home = Home::new(f.dir.path());
    assert_eq!(
        crate::pm::paused_experts_left(&home, f.engine().now()).len(),
        1
    );
    f.tick();
    assert!(f.workers_of(&d).is_empty());
    // The window passes: it starts.
    f.advance(61);
    f.tick();
    f.tick();
    assert_eq!(f.workers_of(&d).len(), 1);
    assert!(f.engine().paused_experts_now().is_empty());
}

/// The activity lines told to subscribers since the last look, by event.
pub(super) fn told(f: &mut Fleet) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Ok(e) = f.events.try_recv() {
        if let EngineEvent::ActivityLogged { line } = e {
            let text = |k: &str| line[k].as_str().unwrap_or_default().to_string();
            out.push((text("event"), text("message")));
        }
    }
    out
}

#[test]
fn a_breaker_closing_at_its_time_and_a_pause_of_spawning_are_told_to_views() {
    // Nothing waits on the expert: no task or worker changes when its
    // breaker closes, so only this line tells a view it is not paused.
    let mut f = Fleet::new(Setup {
        config: vec![
            ("restart.circuit_failures", json!(1)),
            ("restart.circuit_window_secs", json!(60)),
        ],
        expert: vec![("development", "max_restarts", json!(0))],
    });
    let a = f.submit("fix bug a", "development");
    f.tick();
    f.fake.exit(f.pid(&f.worker_of(&a), 1), Exit::Code(1));
    f.tick();
    assert_eq!(f.engine().paused_experts_now().len(), 1);
    told(&mut f);
    f.advance(61);
    f.tick();
    assert!(f.engine().paused_experts_now().is_empty());
    let closed: Vec<_> = told(&mut f)
        .into_iter()
        .filter(|(e, _)| e == "circuit_breaker_closed")
        .collect();
    assert_eq!(closed.len(), 1, "told once: {closed:?}");
    assert!(closed[0].1.contains("development"), "{closed:?}");

    assert!(f.engine().set_spawning_paused(true).unwrap());
    assert!(!f.engine().set_spawning_paused(true).unwrap());
    assert!(f.engine().set_spawning_paused(false).unwrap());
    let events: Vec<String> = told(&mut f).into_iter().map(|(e, _)| e).collect();
    assert_eq!(events, ["spawning_paused", "spawning_resumed"]);
}

/// A fleet that calls silence late at 60 s, stalled at 120 s and a zombie at
/// 240 s, with one worker that has just spoken: its task and the worker.
pub(super) fn one_healthy_worker() -> (Fleet, String, WorkerDto) {
    let f = Fleet::new(Setup {
        config: vec![
            ("pm.late_after_secs", json!(60)),
            ("pm.stalled_after_secs", json!(120)),
            ("pm.zombie_after_secs", json!(240)),
            ("pm.startup_budget_secs", json!(600)),
        ],
        ..Setup::default()
    });
    let (task, pid) = started(&f, "fix the parser");
    let w = f.worker_of(&task);
    f.fake.say(pid, ASSISTANT);
    f.advance(1);
    f.tick();
    assert_eq!(f.worker_of(&task).health, "healthy");
    (f, task, w)
}

/// Silence climbs late -> stalled -> zombie; the zombie is killed and
/// restarted after the backoff (a PM kill is no crash).
#[test]
fn silence_makes_a_worker_late_then_stalled_then_a_zombie_that_is_restarted() {
    let (f, task, w) = one_healthy_worker();
    let seen = f.worker_of(&task);
    assert_eq!((seen.bucket(), seen.needs_attention()), ("healthy", false));
    for (secs, health) in [(61, "late"), (60, "stalled")] {
        f.advance(secs);
        f.tick();
        let seen = f.worker_of(&task);
        assert_eq!(seen.health, health);
        // What the app's "Needs attention" and the tray both read.
        assert_eq!((seen.bucket(), seen.needs_attention()), (health, true));
    }
    f.advance(120);
    f.tick();
    f.tick();
    let p = f.fake.process(w.id.as_str(), 1).unwrap();
    assert_eq!(p.signals, vec![Signal::Term], "a zombie is stopped");
    let w = f.worker_of(&task);
    assert_eq!(w.state, WorkerStatus::Waiting, "{w:?}");
    assert_eq!(
        (w.bucket(), w.needs_attention()),
        ("waiting", true),
        "{w:?}"
    );
    f.advance(30);
    f.tick();
    let w = f.worker_of(&task);
    assert_eq!((w.state, w.attempt), (WorkerStatus::Running, 2), "{w:?}");
}

/// Six minutes of silence, well past `one_healthy_worker`'s zombie
/// threshold: the worker is still running, in `health`.
pub(super) fn silent_six_minutes(f: &mut Fleet, task: &str, health: &str) -> WorkerDto {
    for _ in 0..6 {
        f.advance(60);
        f.tick();
    }
    let seen = f.worker_of(task);
    assert_eq!(
        (seen.health.as_str(), seen.state),
        (health, WorkerStatus::Running),
        "{seen:?}"
    );
    seen
}

/// A worker silent while its cluster does not answer is `unreachable`, not
/// hung: nothing is stopped; once the cluster answers, its silence is judged.
#[test]
fn silence_while_the_cluster_does_not_answer_stops_nothing_until_it_answers() {
    let (mut f, task, w) = one_healthy_worker();
    f.fake.set_unreachable(Some("the controller timed out"));
    let seen = silent_six_minutes(&mut f, &task, "unreachable");
    // The silence it names is the silence now, not when it became unreachable.
    let said = seen.health_reason.unwrap_or_default();
    assert!(said.contains("silent for 360s"), "{said}");
    let p = f.fake.process(w.id.as_str(), 1).unwrap();
    assert!(p.signals.is_empty(), "nothing is stopped: {:?}", p.signals);
    assert!(
        !f.alerts().iter().any(|a| a.kind == AlertKind::Zombie),
        "no hang is reported"
    );
    // It answers again: 361 s of silence is a hang.
    f.fake.set_unreachable(None);
    f.advance(1);
    f.tick();
    f.tick();
    let p = f.fake.process(w.id.as_str(), 1).unwrap();
    assert_eq!(p.signals, vec![Signal::Term]);
    assert!(f.alerts().iter().any(|a| a.kind == AlertKind::Zombie));
}

#[test]
fn cpu_progress_keeps_a_silent_worker_from_being_called_late() {
    let f = Fleet::new(Setup {
        config: vec![("pm.late_after_secs", json!(60))],
        ..Setup::default()
    });
    let (task, pid) = started(&f, "fix the parser");
    f.fake.say(pid, ASSISTANT);
    f.tick();
    // Busy: a full core for every step of 5 s.
    for n in 1..=16u64 {
        f.fake.cpu(pid, n * 500);
        f.advance(5);
        f.tick();
    }
    assert_eq!(f.worker_of(&task).health, "healthy");
}

#[test]
fn the_time_limit_is_extended_once_for_a_worker_making_progress_then_it_times_out() {
    let mut f = Fleet::new(Setup {
        expert: vec![
            ("development", "time_limit_secs", json!(100)),
            ("development", "max_extensions", json!(1)),
            ("development", "extension_secs", json!(50)),
        ],
        ..Setup::default()
    });
    let (task, pid) = started(&f, "fix the parser");
    for _ in 0..10 {
        f.advance(10);
        f.fake.say(pid, ASSISTANT);
        f.tick();
    }
    let w = f.worker_of(&task);
    assert_eq!(w.state, WorkerStatus::Running);
    assert_eq!(w.time_limit_secs, 150, "extended by 50 s");
    assert!(f.alerts().iter().any(|a| a.kind == AlertKind::Extended));
    for _ in 0..5 {
        f.advance(10);
        f.fake.say(pid, ASSISTANT);
        f.tick();
    }
    f.tick();
    let w = f.worker_of(&task);
    assert_eq!(w.state, WorkerStatus::Failed, "{w:?}");
    assert!(f.alerts().iter().any(|a| a.kind == AlertKind::TimedOut));
}

/// The development expert's time limit at 100 s, and one more setting of it.
pub(super) fn a_hundred_seconds(other: (&'static str, Value)) -> Setup {
    Setup {
        expert: vec![
            ("development", "time_limit_secs", json!(100)),
            ("development", other.0, other.1),
        ],
        ..Setup::default()
    }
}

#[test]
fn a_wait_for_the_usage_limit_is_neither_a_restart_nor_time_run() {
    let mut f = Fleet::new(a_hundred_seconds(("max_restarts", json!(0))));
    let (task, pid) = started(&f, "fix the parser");
    let resets = f.engine().now().timestamp() + 3600;
    refused_by_usage_limit(&f, pid, resets);
    f.tick();
    let w = f.worker_of(&task);
    assert_eq!(w.state, WorkerStatus::Waiting, "{w:?}");
    // An hour later the limit resets: the next attempt resumes, no restart used.
    f.advance(3599);
    f.tick();
    assert_eq!(f.worker_of(&task).state, WorkerStatus::Waiting);
    f.advance(1);
    f.tick();
    let w = f.worker_of(&task);
    assert_eq!(
        (w.state, w.attempt, w.restarts),
        (WorkerStatus::Running, 2, 0),
        "{w:?}"
    );
    // The hour waited is not time run: a 100 s limit is not over after 30 s.
    let pid = f.pid(&w, 2);
    runs_within_its_limit(&mut f, &task, pid, 3);
}

#[test]
fn new_workers_wait_while_the_account_refuses_their_model_and_start_once_it_resets() {
    let mut f = Fleet::new(Setup {
        expert: vec![("security", "model", json!("claude-opus-4"))],
        ..Setup::default()
    });
    let first = f.submit("fix the parser", "development");
    f.tick();
    let pid = f.pid(&f.worker_of(&first), 1);
    let resets = f.engine().now().timestamp() + 3600;
    refused_by_usage_limit(&f, pid, resets);
    f.tick();
    assert_eq!(f.worker_of(&first).state, WorkerStatus::Waiting);
    // Another task of the same model would only spend a refused attempt:
    // it waits, saying for what; an expert on another model starts.
    let second = f.submit("fix the lexer", "development");
    let other = f.submit("audit the login form", "security");
    f.tick();
    f.tick();
    assert!(
        f.workers_of(&second).is_empty(),
        "{:?}",
        f.workers_of(&second)
    );
    let held = f
        .engine()
        .tasks()
        .into_iter()
        .find(|t| t.id.as_str() == second)
        .expect("task");
    assert_eq!(held.status, TaskStatus::Waiting, "{held:?}");
    let reason = held.reason.clone().unwrap_or_default();
    let first_worker = f.worker_of(&first).id.to_string();
    assert!(
        reason.contains("usage limit") && reason.contains(&first_worker),
        "{reason}"
    );
    assert_eq!(f.worker_of(&other).state, WorkerStatus::Running);
    // Once the limit resets, both go on.
    f.advance(3600);
    f.tick();
    f.tick();
    assert_eq!(f.worker_of(&first).attempt, 2);
    assert_eq!(
        f.workers_of(&second).len(),
        1,
        "{:?}",
        f.task_status(&second)
    );
    assert_ne!(f.task_status(&second), TaskStatus::Waiting);
    let sent = f.alerts();
    assert!(!sent.is_empty());
    // Kept for a window opened later: every alert sent, as sent.
    let kept = f.engine().recent_alerts();
    assert!(
        kept.iter().any(|a| a.kind == AlertKind::UsageLimit),
        "{kept:?}"
    );
}

/// The account's 5-hour usage limit refuses the attempt `pid` until
/// `resets` (seconds since the epoch), as Claude Code says it, and it exits.
fn refused_by_usage_limit(f: &Fleet, pid: u32, resets: i64) {
    f.fake.say(
        pid,
        &format!(
            r#"{{"type":"rate_limit_event","rate_limit_info":{{"status":"rejected","resetsAt":{resets},"rateLimitType":"five_hour"}}}}"#
        ),
    );
    f.fake.say(
        pid,
        r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"result":"You've hit your limit"}"#,
    );
    f.fake.exit(pid, Exit::Code(1));
}

#[test]
fn a_start_the_cluster_did_not_answer_waits_and_starts_once_it_answers() {
    let f = Fleet::new(Setup {
        expert: vec![("development", "max_restarts", json!(0))],
        ..Setup::default()
    });
    f.fake.set_unreachable(Some("the controller timed out"));
    f.fake
        .fail_next_launch("`sbatch` did not answer within 10 s");
    let task = f.submit("fix the parser", "development");
    f.tick();
    // Nothing ran, nothing is counted, and it says why it waits.
    let w = f.worker_of(&task);
    assert_eq!((w.state, w.attempt), (WorkerStatus::Waiting, 0), "{w:?}");
    // It waits to start, not to restart.
    assert_eq!(
        w.waiting_for.as_ref().map(|x| x.kind),
        Some(crate::views::WaitKind::Start)
    );
    let reason = w.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("did not answer") && reason.contains("starts when the cluster answers"),
        "{reason}"
    );
    assert_ne!(f.task_status(&task), TaskStatus::Failed);
    // It answers again: the start goes on, as the first attempt, and it can
    // complete although no restart was allowed.
    f.fake.set_unreachable(None);
    f.advance(30);
    f.tick();
    let w = f.worker_of(&task);
    assert_eq!(
        (w.state, w.attempt, w.restarts),
        (WorkerStatus::Running, 1, 0),
        "{w:?}"
    );
    let pid = f.pid(&w, 1);
    f.fake.say(pid, RESULT_OK);
    f.fake.exit(pid, Exit::Code(0));
    f.tick();
    assert_eq!(f.task_status(&task), TaskStatus::Completed);
}

#[test]
fn time_in_a_cluster_queue_is_neither_run_time_nor_startup_and_its_reason_is_said() {
    let mut f = Fleet::new(a_hundred_seconds(("max_extensions", json!(0))));
    let (task, pid) = started(&f, "fix the parser");
    f.fake.set_queued(pid, Some("BeginTime"));
    // Five minutes in the queue: no time-out, no zombie, and why it waits.
    for _ in 0..30 {
        f.advance(10);
        f.tick();
    }
    let w = f.worker_of(&task);
    assert_eq!(
        (w.state, w.health.as_str()),
        (WorkerStatus::Running, "scheduled"),
        "{w:?}"
    );
    assert!(
        w.health_reason
            .as_deref()
            .unwrap_or("")
            .contains("held until its start time"),
        "{w:?}"
    );
    // Its story counts none of it (another process's view, through the
    // owner's verdict, is checked on a real cluster).
    let story = f.engine().show(&task).expect("show");
    let a = &story.workers[0].attempts[0];
    assert!(a.queued && a.duration_secs == 0.0, "{a:?}");
    assert_eq!(story.duration_secs, 0.0);
    // It runs: its limit counts from now.
    f.fake.set_queued(pid, None);
    runs_within_its_limit(&mut f, &task, pid, 5);
}

#[test]
fn a_job_that_left_the_queue_and_ended_between_two_looks_counts_from_its_last_queued_look() {
    let f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    f.fake.set_queued(pid, Some("Resources"));
    f.tick();
    let seen_queued = crate::launcher::Clock::now(&f.clock);
    // Ten minutes in the queue, looked at every 10 s.
    for _ in 0..60 {
        f.advance(10);
        f.tick();
    }
    let last_look = crate::launcher::Clock::now(&f.clock);
    // Out of the queue, ran 5 s and ended, before any look saw it running.
    f.fake.set_queued(pid, None);
    f.advance(5);
    f.fake.say(pid, RESULT_OK);
    f.fake.exit(pid, Exit::Code(0));
    f.tick();
    assert_eq!(f.task_status(&task), TaskStatus::Completed);
    let story = crate::engine::view::show(&Home::new(f.dir.path()), &task).expect("show");
    let a = &story.workers[0].attempts[0];
    assert_eq!(a.running_at, Some(last_look), "{a:?}");
    assert!(a.running_at > Some(seen_queued));
    assert!(
        a.duration_secs <= 5.5,
        "the queue's ten minutes are left out: {a:?}"
    );
}

#[test]
fn a_job_killed_while_it_waits_in_the_queue_ran_for_no_time() {
    let f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    f.fake.set_queued(pid, Some("JobHeldUser"));
    f.tick();
    for _ in 0..6 {
        f.advance(10);
        f.tick();
    }
    // Still queued when it is killed, 8 s after the last look: it never ran.
    let w = f.worker_of(&task);
    f.advance(8);
    f.engine().kill_worker(w.id.as_str()).expect("kill");
    f.tick();
    f.tick();
    let story = crate::engine::view::show(&Home::new(f.dir.path()), &task).expect("show");
    let a = &story.workers[0].attempts[0];
    assert!(a.ended_at.is_some(), "{a:?}");
    assert!(
        a.duration_secs < 0.5,
        "its time in the queue is not run time: {a:?}"
    );
}

/// The attempt `pid` of `task` prints a line every 10 s for `steps` steps,
/// and is still running at the end, no time-out said; then it exits.
fn runs_within_its_limit(f: &mut Fleet, task: &str, pid: u32, steps: usize) {
    for _ in 0..steps {
        f.advance(10);
        f.fake.say(pid, ASSISTANT);
        f.tick();
    }
    let w = f.worker_of(task);
    assert_eq!(w.state, WorkerStatus::Running, "{w:?}");
    assert!(!f.alerts().iter().any(|a| a.kind == AlertKind::TimedOut));
    f.fake.exit(pid, Exit::Code(1));
}

#[test]
fn an_agent_that_hangs_after_its_result_is_stopped_and_settled_by_the_result() {
    // Silence thresholds shorter than the wait after a result: its silence
    // then is no hang (before, it was killed as hung and run again).
    let f = Fleet::new(Setup {
        config: vec![
            ("pm.late_after_secs", json!(3)),
            ("pm.stalled_after_secs", json!(5)),
            ("pm.zombie_after_secs", json!(8)),
        ],
        ..Setup::default()
    });
    let (task, pid) = started(&f, "fix the parser");
    f.fake.say(pid, RESULT_OK);
    f.tick();
    for _ in 0..9 {
        f.advance(1);
        f.tick();
    }
    assert_eq!(f.worker_of(&task).health, "healthy");
    assert!(f
        .fake
        .process(f.worker_of(&task).id.as_str(), 1)
        .unwrap()
        .signals
        .is_empty());
    f.advance(1);
    f.tick(); // SIGTERM; the fake ends by it
    f.tick();
    let w = f.worker_of(&task);
    assert_eq!((w.state, w.attempt), (WorkerStatus::Completed, 1), "{w:?}");
}

#[test]
fn an_agent_that_could_not_start_where_its_job_ran_fails_saying_why_and_is_not_retried() {
    let f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    f.fake
        .set_start_failure(pid, "the workdir /srv/gone does not exist");
    f.fake.exit(pid, Exit::Code(127));
    f.tick();
    f.advance(60);
    f.tick();
    let w = f.worker_of(&task);
    assert_eq!((w.state, w.attempt), (WorkerStatus::Failed, 1), "{w:?}");
    let reason = w.reason.clone().unwrap_or_default();
    assert!(
        reason.contains(
            "could not start the agent where its job ran: the workdir /srv/gone does not exist"
        ),
        "{reason}"
    );
}
