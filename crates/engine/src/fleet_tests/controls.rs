//! A person's controls and what the views say of them.

use super::*;

#[test]
fn a_task_row_is_the_task_as_the_list_shows_it() {
    let f = Fleet::new(Setup::default());
    let task = f.submit("fix the parser", "development");
    f.tick();
    let w = f.worker_of(&task);
    f.fake.say(f.pid(&w, 1), &assistant("m1", 1000));
    f.tick();
    let id = cortex_core::id::TaskId::parse(&task).expect("id");
    let row = f.engine().task_row(&id).expect("a row");
    let listed = f
        .engine()
        .tasks()
        .into_iter()
        .find(|t| t.id == id)
        .expect("listed");
    assert!(row.cost_usd > 0.0, "the running attempt's cost: {row:?}");
    assert_eq!(
        serde_json::to_value(&row).unwrap(),
        serde_json::to_value(&listed).unwrap()
    );
    assert!(f
        .engine()
        .task_row(&cortex_core::id::TaskId::parse("t-01m93yjbj9jfng99yrkpy03s00").unwrap())
        .is_none());
}

#[test]
fn a_worker_taken_over_by_a_person_is_stopped_first_and_an_ended_one_left_as_it_is() {
    let f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    let w = f.worker_of(&task);
    let dto = f
        .engine()
        .hand_over_worker(w.id.as_str())
        .expect("take over");
    assert_eq!(dto.state, WorkerStatus::Stopping);
    f.fake.exit(pid, Exit::Signal(15));
    f.tick();
    let w = f.worker_of(&task);
    assert_eq!(w.state, WorkerStatus::Cancelled, "{w:?}");
    assert!(
        w.reason
            .as_deref()
            .unwrap_or("")
            .contains("taken over by a person"),
        "{w:?}"
    );
    // Ended already: nothing to stop, and nothing said about it changes.
    let again = f.engine().hand_over_worker(w.id.as_str()).expect("ended");
    assert_eq!((again.state, again.reason), (w.state, w.reason));
    f.advance(600);
    f.tick();
    assert_eq!(f.fake.processes().len(), 1, "nothing restarts it");
}

#[test]
fn a_second_nudge_while_the_first_still_stops_the_attempt_is_refused_not_lost() {
    let f = Fleet::new(Setup::default());
    let task = f.submit("fix the parser", "development");
    f.tick();
    let w = f.worker_of(&task);
    f.engine()
        .nudge_worker(w.id.as_str(), "msg 1")
        .expect("first");
    let second = f.engine().nudge_worker(w.id.as_str(), "msg 2");
    let why = second.expect_err("refused").to_string();
    assert!(why.contains("is being stopped already"), "{why}");
    assert!(f.engine().restart_worker(w.id.as_str()).is_err());
    // The first one's message is the one the next attempt gets.
    for _ in 0..3 {
        f.tick();
    }
    let w = f.worker_of(&task);
    assert_eq!(w.attempt, 2, "{w:?}");
    let p = f.fake.process(w.id.as_str(), 2).expect("attempt 2");
    let file = p
        .launch
        .as_ref()
        .and_then(|l| l.stdin_file.as_ref())
        .and_then(|f| std::fs::read_to_string(f).ok())
        .unwrap_or_default();
    let given = format!("{:?} {:?} {file}", p.launch, p.stdin);
    assert!(
        given.contains("msg 1") && !given.contains("msg 2"),
        "{given}"
    );
}

#[test]
fn a_new_owner_cancels_the_cluster_jobs_the_journal_does_not_know_as_running() {
    let mut f = Fleet::new(Setup::default());
    f.fake.list_as_cluster();
    let task = f.submit("fix the parser", "development");
    f.tick();
    let w = f.worker_of(&task);
    let known = f.pid(&w, 1);
    // A job under this worker's name for an attempt it never recorded (a
    // submission that got no answer), and one of a worker it never had.
    let stray = f.fake.orphan(w.id.as_str(), 2).pid;
    let foreign = f.fake.orphan("w-01m93yjbj9jfng99yrkpy03s00", 1).pid;
    f.restart_engine();
    let signals = |pid: u32| {
        f.fake
            .processes()
            .into_iter()
            .filter(|p| p.pid == pid)
            .flat_map(|p| p.signals)
            .collect::<Vec<_>>()
    };
    assert!(signals(known).is_empty(), "its live attempt is re-adopted");
    assert_eq!(signals(stray), vec![Signal::Kill]);
    assert_eq!(signals(foreign), vec![Signal::Kill]);
}

#[test]
fn a_worker_being_stopped_reads_stopping_everywhere_and_its_spending_is_still_counted() {
    let mut f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    let w = f.worker_of(&task);
    f.fake.say(pid, &assistant("m1", 1000));
    f.fake.ignore_term(pid);
    f.tick();
    let home = Home::new(f.dir.path());
    assert_eq!(
        f.engine().kill_worker(w.id.as_str()).expect("kill").state,
        WorkerStatus::Stopping
    );
    // It ignores the stop for a while and goes on spending.
    let seen = |f: &Fleet| {
        let here = f.worker_of(&task);
        let there = read_elsewhere(&home, &w.id);
        let counted = |s: &crate::dto::StatusDto| s.workers.get("stopping").copied();
        (
            (here.state, here.tokens.output),
            (there.state, there.tokens.output),
            counted(&f.engine().status()),
            counted(&crate::engine::view::status(&home).expect("status")),
        )
    };
    for (n, (id, tokens)) in [("m2", 2000), ("m3", 500)].into_iter().enumerate() {
        f.fake.say(pid, &assistant(id, tokens));
        f.advance(2);
        f.tick();
        let total = if n == 0 { 3000 } else { 3500 };
        assert_eq!(
            seen(&f),
            (
                (WorkerStatus::Stopping, total),
                (WorkerStatus::Stopping, total),
                Some(1),
                Some(1)
            ),
            "after {id}"
        );
    }
    // A new owner finds the stop pending: its figures are not dropped.
    f.restart_engine();
    f.fake.say(pid, &assistant("m4", 500));
    f.advance(2);
    f.tick();
    let there = read_elsewhere(&home, &w.id);
    assert_eq!(there.state, WorkerStatus::Stopping, "{there:?}");
    assert!(there.tokens.output >= 4000, "{there:?}");
    assert!(there.cost_usd > 0.0, "{there:?}");
}

#[test]
fn a_second_api_retry_moves_the_time_the_worker_waits_until() {
    let f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    let retry = r#"{"type":"system","subtype":"api_retry","attempt":1,"retry_delay_ms":5000,"error_status":429}"#;
    let said = |f: &Fleet| {
        let w = f.worker_of(&task);
        (w.health, w.health_reason.unwrap_or_default())
    };
    f.fake.say(pid, retry);
    f.advance(1);
    f.tick();
    let first = said(&f);
    assert_eq!(first.0, "waiting", "{first:?}");
    f.advance(3);
    f.fake.say(pid, retry);
    f.advance(1);
    f.tick();
    let second = said(&f);
    assert_eq!(second.0, "waiting", "{second:?}");
    assert_ne!(second.1, first.1, "the reason names the new retry's time");
    let until = (f.engine().now() + chrono::Duration::seconds(5))
        .format("%H:%M:%S")
        .to_string();
    assert!(second.1.ends_with(&until), "{second:?} vs {until}");
}

/// Two crashes of a development worker open its expert's breaker (two
/// failures) while its second restart waits out a 60 s backoff (a crash
/// restarts at once, the second waits): the task
/// and its worker.
pub(super) fn held_by_the_breaker(f: &Fleet) -> (String, WorkerDto) {
    let task = f.submit("fix bug a", "development");
    f.tick();
    let w = f.worker_of(&task);
    for attempt in 1..=2 {
        f.fake
            .say(f.pid(&w, attempt), &assistant(&format!("m{attempt}"), 10));
        f.tick();
        f.fake.exit(f.pid(&w, attempt), Exit::Code(1));
        f.tick();
        f.tick();
    }
    assert_eq!(f.engine().paused_experts_now().len(), 1);
    (task, w)
}

/// A breaker that opens after two failures, restarts after 60 s.
pub(super) fn breaker_setup(config: Vec<(&'static str, Value)>) -> Setup {
    let mut all = vec![
        ("restart.circuit_failures", json!(2)),
        ("restart.backoff_base_secs", json!(60)),
    ];
    all.extend(config);
    Setup {
        config: all,
        expert: vec![("development", "max_restarts", json!(3))],
    }
}

#[test]
fn a_restart_held_by_the_circuit_breaker_says_so_from_the_moment_it_opens() {
    let mut f = Fleet::new(breaker_setup(vec![]));
    let (task, w) = held_by_the_breaker(&f);
    let home = Home::new(f.dir.path());
    let here = f.worker_of(&task);
    let there = read_elsewhere(&home, &w.id);
    for dto in [&here, &there] {
        assert_eq!(dto.state, WorkerStatus::Waiting, "{dto:?}");
        let reason = dto.reason.clone().unwrap_or_default();
        assert!(
            reason.contains("; held: expert development paused by circuit breaker until"),
            "{reason}"
        );
    }
    let _ = f.alerts();
}

#[test]
fn a_kill_that_did_not_reach_the_process_is_sent_again_until_it_is_gone() {
    let f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    let w = f.worker_of(&task);
    // The cluster's controller does not answer: no cancel arrives.
    f.fake.out_of_reach(pid, true);
    f.engine().kill_worker(w.id.as_str()).expect("kill");
    let kills = || {
        f.fake
            .process(w.id.as_str(), 1)
            .unwrap()
            .signals
            .iter()
            .filter(|s| **s == Signal::Kill)
            .count()
    };
    f.advance(5); // pm.kill_grace_secs is 5
    f.tick();
    let first = kills();
    assert!(first > 0);
    f.advance(5);
    f.tick();
    assert!(kills() > first, "sent again while the process is there");
    assert_eq!(f.worker_of(&task).state, WorkerStatus::Stopping);
    // It answers again: the next SIGKILL ends it.
    f.fake.out_of_reach(pid, false);
    f.advance(5);
    f.tick();
    f.tick();
    assert_eq!(f.worker_of(&task).state, WorkerStatus::Cancelled);
}

#[test]
fn a_restart_the_last_owner_started_but_never_recorded_is_not_run_twice() {
    let mut f = Fleet::new(Setup {
        config: vec![("restart.backoff_base_secs", json!(30))],
        expert: vec![("development", "max_restarts", json!(3))],
    });
    let task = f.submit("fix the parser", "development");
    f.tick();
    let w = f.worker_of(&task);
    // Two crashes: the second restart waits out its backoff.
    for attempt in 1..=2 {
        f.fake.exit(f.pid(&w, attempt), Exit::Code(1));
        f.tick();
        f.tick();
    }
    assert_eq!(f.worker_of(&task).state, WorkerStatus::Waiting);
    // The last owner started attempt 3 and died before its journal said so.
    let unrecorded = f.fake.orphan(w.id.as_str(), 3).pid;
    f.restart_engine();
    let orphan = f
        .fake
        .processes()
        .into_iter()
        .find(|p| p.pid == unrecorded)
        .expect("the orphan");
    assert_eq!(orphan.signals, vec![Signal::Kill], "swept at the start");
    f.advance(60);
    f.tick();
    f.tick();
    let running: Vec<u32> = f
        .fake
        .running_processes()
        .into_iter()
        .filter(|p| p.worker_id == w.id.as_str())
        .map(|p| p.attempt)
        .collect();
    assert_eq!(running, vec![3], "one agent for attempt 3");
}

#[test]
fn an_agent_that_finished_while_its_kill_was_on_the_way_completed() {
    let f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    let w = f.worker_of(&task);
    f.fake.ignore_term(pid);
    f.engine().kill_worker(w.id.as_str()).expect("kill");
    // Its result and a clean exit of its own came before the signal did.
    f.fake.say(pid, RESULT_OK);
    f.fake.exit(pid, Exit::Code(0));
    f.tick();
    f.tick();
    let w = f.worker_of(&task);
    assert_eq!(w.state, WorkerStatus::Completed, "{w:?}");
    assert_eq!(f.task_status(&task), TaskStatus::Completed);
    // One that did not finish is killed, as asked.
    let other = f.submit("fix the lexer", "development");
    f.tick();
    let o = f.worker_of(&other);
    let opid = f.pid(&o, 1);
    f.fake.ignore_term(opid);
    f.engine().kill_worker(o.id.as_str()).expect("kill");
    f.fake.exit(opid, Exit::Code(0));
    f.tick();
    f.tick();
    assert_eq!(f.worker_of(&other).state, WorkerStatus::Cancelled);
}

#[test]
fn a_restart_after_a_job_that_never_left_the_queue_starts_a_new_conversation() {
    let f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    f.fake.set_queued(pid, Some("JobHeldUser"));
    f.advance(1);
    f.tick();
    let w = restarted(&f, &task);
    let argv = |n: u32| argv_of(&f, &w, n);
    // Its first attempt never ran: no conversation exists to resume.
    assert!(argv(1).iter().any(|a| a == "--session-id"), "{:?}", argv(1));
    let second = argv(2);
    assert!(
        !second.iter().any(|a| a == "--resume") && second.iter().any(|a| a == "--session-id"),
        "{second:?}"
    );
    let story = crate::engine::view::show(&Home::new(f.dir.path()), &task).expect("show");
    let attempts = &story.workers[0].attempts;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(!attempts[1].resumed, "{:?}", attempts[1]);
}

#[test]
fn an_attempt_whose_agent_wrote_output_ran_whatever_its_launcher_reports() {
    // A launcher whose report lacks the start (a pod whose log pump failed
    // after the agent ran): the agent's own output says it ran, so its
    // conversation is resumed.
    let f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    f.fake.say(pid, ASSISTANT);
    f.advance(1);
    f.tick();
    f.fake.set_queued(pid, Some("no start in its report"));
    let w = restarted(&f, &task);
    let second = argv_of(&f, &w, 2);
    assert!(second.iter().any(|a| a == "--resume"), "{second:?}");
}

/// `task`'s worker restarted by a person, its second attempt started.
fn restarted(f: &Fleet, task: &str) -> WorkerDto {
    let w = f.worker_of(task);
    f.engine().restart_worker(w.id.as_str()).expect("restart");
    for _ in 0..5 {
        f.advance(1);
        f.tick();
    }
    let w = f.worker_of(task);
    assert_eq!(w.attempt, 2, "{w:?}");
    w
}

/// The arguments attempt `n` of `w` was started with.
fn argv_of(f: &Fleet, w: &WorkerDto, n: u32) -> Vec<String> {
    f.fake
        .process(w.id.as_str(), n)
        .and_then(|p| p.launch)
        .map(|l| l.argv)
        .unwrap_or_default()
}

#[test]
fn a_start_the_cluster_did_not_answer_is_no_longer_said_once_a_later_one_was_taken() {
    let f = Fleet::new(Setup::default());
    f.fake.set_unreachable(Some("the controller timed out"));
    f.fake
        .fail_next_launch("`sbatch` did not answer within 10 s");
    let task = f.submit("fix the parser", "development");
    f.tick();
    let said = |f: &Fleet| {
        let w = f.worker_of(&task);
        let row = f
            .engine()
            .tasks()
            .into_iter()
            .find(|t| t.id.as_str() == task)
            .expect("task");
        format!("{:?} {:?} {:?}", w.reason, w.health_reason, row.reason)
    };
    assert!(said(&f).contains("did not answer"), "{}", said(&f));
    f.fake.set_unreachable(None);
    f.advance(30);
    f.tick();
    let w = f.worker_of(&task);
    assert_eq!((w.state, w.attempt), (WorkerStatus::Running, 1), "{w:?}");
    assert!(!said(&f).contains("did not answer"), "{}", said(&f));
}

#[test]
fn a_persons_restart_of_a_worker_waiting_out_its_backoff_spends_no_automatic_restart() {
    // max_restarts 2, restart.backoff_base_secs 30.
    let f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    let w = f.worker_of(&task);
    // The first crash restarts at once (restart 1); the second waits 30 s.
    f.fake.exit(pid, Exit::Code(1));
    f.advance(1);
    f.tick();
    f.fake.exit(f.pid(&w, 2), Exit::Code(1));
    f.advance(1);
    f.tick();
    assert_eq!(f.worker_of(&task).state, WorkerStatus::Waiting);
    f.engine().restart_worker(w.id.as_str()).expect("restart");
    let home = Home::new(f.dir.path());
    for dto in [f.worker_of(&task), read_elsewhere(&home, &w.id)] {
        assert_eq!(
            (dto.state, dto.attempt, dto.restarts),
            (WorkerStatus::Running, 3, 1),
            "only the automatic restart counts: {dto:?}"
        );
    }
    // Its second restart is still there: the next crash waits it out
    // (30 s, as restart 2) and starts it, rather than ending the worker.
    f.fake.exit(f.pid(&w, 3), Exit::Code(1));
    f.advance(1);
    f.tick();
    let dto = f.worker_of(&task);
    assert_eq!(
        (dto.state, dto.restarts),
        (WorkerStatus::Waiting, 1),
        "{dto:?}"
    );
    f.advance(30);
    f.tick();
    let dto = f.worker_of(&task);
    assert_eq!(
        (dto.state, dto.attempt, dto.restarts),
        (WorkerStatus::Running, 4, 2),
        "{dto:?}"
    );
}
