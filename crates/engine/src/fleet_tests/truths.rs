//! What every view says of a worker whatever process reads it: a stop
//! after the agent's result line, a restart held by the circuit breaker,
//! the capacity a person's restart waits for, and the time warnings of an
//! attempt across owners.
//!
//! May depend on: the harness (`super`).

use super::controls::{breaker_setup, held_by_the_breaker};
use super::pm::a_hundred_seconds;
use super::*;
use cortex_core::worker::PlaceLimit;

#[test]
fn a_stop_after_the_result_line_reads_stopping_everywhere_then_completed() {
    let mut f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    let w = f.worker_of(&task);
    let home = Home::new(f.dir.path());
    f.fake.say(pid, ASSISTANT);
    f.fake.say(pid, RESULT_OK);
    // It lingers after its result, and shrugs off the first signal.
    f.fake.ignore_term(pid);
    f.tick();
    assert_eq!(f.worker_of(&task).state, WorkerStatus::Running);
    f.advance(10);
    f.tick();
    assert_eq!(
        f.fake.process(w.id.as_str(), 1).unwrap().signals,
        vec![Signal::Term],
        "stopped after its result line"
    );
    let counted = |s: &crate::dto::StatusDto| s.workers.get("stopping").copied();
    let here = f.worker_of(&task);
    let there = read_elsewhere(&home, &w.id);
    assert_eq!(
        (
            here.state,
            there.state,
            counted(&f.engine().status()),
            counted(&crate::engine::view::status(&home).expect("status")),
        ),
        (
            WorkerStatus::Stopping,
            WorkerStatus::Stopping,
            Some(1),
            Some(1)
        ),
        "{there:?}"
    );
    // A new owner finds the stop pending and carries it out: it reads
    // stopping there too, and is settled by its result.
    f.restart_engine();
    f.tick();
    assert_eq!(f.worker_of(&task).state, WorkerStatus::Stopping);
    assert_eq!(read_elsewhere(&home, &w.id).state, WorkerStatus::Stopping);
    f.advance(5); // pm.kill_grace_secs is 5
    f.tick();
    f.tick();
    let here = f.worker_of(&task);
    let there = read_elsewhere(&home, &w.id);
    for dto in [&here, &there] {
        assert_eq!(dto.state, WorkerStatus::Completed, "{dto:?}");
        assert_eq!(dto.result.as_deref(), Some("done"), "{dto:?}");
    }
    assert_eq!(f.task_status(&task), TaskStatus::Completed);
    assert_eq!(f.fake.processes().len(), 1, "nothing restarted");
}

#[test]
fn a_tasks_story_says_its_restart_is_held_by_the_breaker_as_the_workers_list_does() {
    let mut f = Fleet::new(breaker_setup(vec![]));
    let (task, w) = held_by_the_breaker(&f);
    let home = Home::new(f.dir.path());
    let held = "; held: expert development paused by circuit breaker until";
    // Before its backoff is due, and once it is (the hold then journaled).
    for wait in [0, 61] {
        f.advance(wait);
        f.tick();
        let listed = f.worker_of(&task).reason.unwrap_or_default();
        assert!(listed.contains(held), "{listed}");
        for story in [
            f.engine().show(&task).expect("story"),
            crate::engine::view::show(&home, &task).expect("story"),
        ] {
            let s = &story.workers[0];
            assert_eq!(
                (s.id.as_str(), s.status.as_str()),
                (w.id.as_str(), "waiting")
            );
            assert_eq!(s.reason.as_deref(), Some(listed.as_str()), "after {wait}s");
        }
    }
    let _ = f.alerts();
}

/// The time-limit warnings raised so far, by the level they say.
fn time_warnings(f: &mut Fleet) -> Vec<String> {
    f.alerts()
        .into_iter()
        .filter(|a| a.kind == AlertKind::TimeoutWarning)
        .map(|a| a.message)
        .collect()
}

#[test]
fn a_time_warning_raised_once_is_not_raised_again_by_the_next_owner() {
    let mut f = Fleet::new(a_hundred_seconds(("max_extensions", json!(0))));
    let (task, pid) = started(&f, "fix the parser");
    let mut said = Vec::new();
    for _ in 0..8 {
        f.advance(10);
        f.fake.say(pid, ASSISTANT);
        f.tick();
        said.extend(time_warnings(&mut f));
    }
    assert_eq!(said.len(), 2, "50% and 75%: {said:?}");
    // Owners come and go; the attempt runs on, no level is said twice.
    for _ in 0..2 {
        f.restart_engine();
        f.advance(1);
        f.fake.say(pid, ASSISTANT);
        f.tick();
        said.extend(time_warnings(&mut f));
    }
    assert_eq!(said.len(), 2, "{said:?}");
    assert_eq!(f.worker_of(&task).state, WorkerStatus::Running);
    // The next level is still said once it is reached (90 s of 100).
    f.advance(8);
    f.fake.say(pid, ASSISTANT);
    f.tick();
    said.extend(time_warnings(&mut f));
    assert_eq!(said.len(), 3, "and 90%: {said:?}");
}

/// Ends a worker's attempt with its result, as a completed run does.
fn completes(f: &Fleet, task: &str, attempt: u32) {
    let pid = f.pid(&f.worker_of(task), attempt);
    f.fake.say(pid, RESULT_OK);
    f.fake.exit(pid, Exit::Code(0));
    f.tick();
}

/// Another expert's task takes the one place; then a person's `act` on
/// the worker of `task` (which holds none) leaves it waiting for a free
/// place, saying so in every view, and its attempt `attempt` not started;
/// once the other task completes, it starts first.
fn waits_for_a_place_then_starts(
    f: &Fleet,
    task: &str,
    attempt: u32,
    act: impl FnOnce(&Engine) -> WorkerDto,
) {
    let other = f.submit("audit the login form", "security");
    f.tick();
    assert_eq!(f.fake.running_processes().len(), 1);
    let dto = act(f.engine());
    assert_eq!(dto.state, WorkerStatus::Waiting, "{dto:?}");
    f.tick();
    let home = Home::new(f.dir.path());
    let here = f.worker_of(task);
    let there = read_elsewhere(&home, &here.id);
    let story = f.engine().show(task).expect("story");
    for (state, reason) in [
        (here.state, here.reason.clone()),
        (there.state, there.reason.clone()),
    ] {
        assert_eq!(state, WorkerStatus::Waiting, "{here:?}");
        let reason = reason.unwrap_or_default();
        assert!(
            reason.contains("held: waits for a free place (capacity.max_workers is 1"),
            "{reason}"
        );
    }
    assert_eq!(story.workers.last().unwrap().reason, here.reason);
    for dto in [&here, &there] {
        let wait = dto.waiting_for.as_ref().map(|w| (w.kind, w.limit.clone()));
        let fleets = PlaceLimit {
            expert: None,
            max_workers: 1,
        };
        assert_eq!(
            wait,
            Some((crate::views::WaitKind::Capacity, Some(fleets))),
            "{dto:?}"
        );
    }
    assert!(
        f.fake.process(here.id.as_str(), attempt).is_none(),
        "attempt {attempt} waits"
    );
    assert_eq!(f.fake.running_processes().len(), 1, "never over capacity");
    completes(f, &other, 1);
    f.tick();
    let w = f.worker_of(task);
    assert_eq!(
        (w.state, w.attempt),
        (WorkerStatus::Running, attempt),
        "{w:?}"
    );
    assert!(
        !w.reason.unwrap_or_default().contains("held"),
        "its own reason"
    );
}

#[test]
fn a_persons_restart_of_a_worker_the_breaker_holds_waits_for_a_free_place() {
    let f = Fleet::new(breaker_setup(vec![("capacity.max_workers", json!(1))]));
    // The held worker gave up its place.
    let (task, w) = held_by_the_breaker(&f);
    waits_for_a_place_then_starts(&f, &task, 3, |e| {
        e.restart_worker(w.id.as_str()).expect("restart")
    });
    // It went first, the breaker still open.
    assert_eq!(f.engine().paused_experts_now().len(), 1);
}

#[test]
fn a_persons_reply_waits_for_a_free_place_when_the_fleet_is_full() {
    let f = Fleet::new(breaker_setup(vec![("capacity.max_workers", json!(1))]));
    let first = f.submit("fix the parser", "development");
    f.tick();
    completes(&f, &first, 1);
    let done = f.worker_of(&first);
    assert_eq!(done.state, WorkerStatus::Completed);
    // Its expert's breaker opens; a reply is not held by it.
    let (held, _) = held_by_the_breaker(&f);
    waits_for_a_place_then_starts(&f, &first, 2, |e| {
        e.reply_worker(done.id.as_str(), "one more thing")
            .expect("reply")
    });
    assert_eq!(
        f.worker_of(&held).state,
        WorkerStatus::Waiting,
        "still held"
    );
}

#[test]
fn a_reply_waiting_on_its_experts_limit_leaves_the_fleets_free_place_to_another_expert() {
    let f = Fleet::new(Setup {
        config: vec![("capacity.max_workers", json!(2))],
        expert: vec![("development", "max_workers", json!(1))],
    });
    let first = f.submit("fix the parser", "development");
    f.tick();
    completes(&f, &first, 1);
    let done = f.worker_of(&first);
    assert_eq!(done.state, WorkerStatus::Completed);
    let busy = f.submit("fix the lexer", "development");
    f.tick();
    assert_eq!(f.fake.running_processes().len(), 1);
    // Its expert's one place is taken: the reply waits for it, not for
    // the fleet's second place.
    let dto = f
        .engine()
        .reply_worker(done.id.as_str(), "one more thing")
        .expect("reply");
    assert_eq!(dto.state, WorkerStatus::Waiting, "{dto:?}");
    f.advance(1);
    f.tick();
    let here = f.worker_of(&first);
    let there = read_elsewhere(&Home::new(f.dir.path()), &here.id);
    for dto in [&here, &there] {
        let reason = dto.reason.clone().unwrap_or_default();
        assert!(
            reason.contains("held: waits for a free place (expert development's max_workers is 1"),
            "{reason}"
        );
        // Which limit, as the reason says it, for the app's row.
        let limit = dto.waiting_for.as_ref().and_then(|w| w.limit.clone());
        let experts = PlaceLimit {
            expert: Some("development".into()),
            max_workers: 1,
        };
        assert_eq!(limit, Some(experts), "{dto:?}");
    }
    let audit = f.submit("audit the login form", "security");
    f.advance(1);
    f.tick();
    assert_eq!(
        f.workers_of(&audit).len(),
        1,
        "the fleet's second place is free for another expert"
    );
    assert_eq!(f.worker_of(&audit).state, WorkerStatus::Running);
    assert_eq!(f.fake.running_processes().len(), 2, "never over capacity");
    // Once its expert's place frees, the reply goes first.
    let other = f.submit("fix the tokenizer", "development");
    completes(&f, &busy, 1);
    f.tick();
    let w = f.worker_of(&first);
    assert_eq!((w.state, w.attempt), (WorkerStatus::Running, 2), "{w:?}");
    assert!(f.workers_of(&other).is_empty(), "the new task waits");
}

#[test]
fn a_worker_waiting_for_a_free_place_is_looked_at_again_only_once_one_may_have_freed() {
    let f = Fleet::new(Setup {
        config: vec![("capacity.max_workers", json!(1))],
        ..Setup::default()
    });
    let first = f.submit("fix the parser", "development");
    f.tick();
    completes(&f, &first, 1);
    let done = f.worker_of(&first);
    let other = f.submit("audit the login form", "security");
    f.tick();
    f.engine()
        .reply_worker(done.id.as_str(), "one more thing")
        .expect("reply");
    for _ in 0..2 {
        f.advance(1);
        f.tick();
    }
    let reason = f.worker_of(&first).reason.unwrap_or_default();
    assert!(reason.contains("held: waits for a free place"), "{reason}");
    let scans = || f.engine().runtime().restart_scans;
    let before = scans();
    for _ in 0..5 {
        f.advance(1);
        f.tick();
    }
    assert_eq!(scans(), before, "nothing that frees a place changed");
    // A person raises the fleet's limit: the reply takes the new place.
    let mut config = serde_json::to_value(f.engine().config()).expect("json");
    set(&mut config, "capacity.max_workers", json!(2));
    f.engine()
        .save_config(&config.to_string())
        .expect("save the config");
    f.advance(1);
    f.tick();
    let w = f.worker_of(&first);
    assert_eq!((w.state, w.attempt), (WorkerStatus::Running, 2), "{w:?}");
    assert_eq!(f.worker_of(&other).state, WorkerStatus::Running);
}
