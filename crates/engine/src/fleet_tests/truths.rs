//! What every view says of a worker whatever process reads it: a stop
//! after the agent's result line, a restart held by the circuit breaker,
//! the capacity a person's restart waits for, and the time warnings of an
//! attempt across owners.
//!
//! May depend on: the harness (`super`).

use super::controls::{breaker_setup, held_by_the_breaker};
use super::pm::a_hundred_seconds;
use super::*;

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
