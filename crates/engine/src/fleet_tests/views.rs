//! Unit tests of what the app reads while workers run, over the fake
//! launcher: its lists answer and count the running attempts' figures, and
//! figures no agent can have stop nothing and are not shown as said.
//!
//! May depend on: the harness (`super`).

use super::*;

#[test]
fn the_apps_lists_answer_while_a_worker_runs_and_count_its_figures() {
    let f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    f.fake.say(pid, ASSISTANT);
    f.tick();
    // Each list locks what it reads in turn: asked from another thread
    // with a deadline, so a lock taken twice fails here instead of hanging.
    let engine = f.engine().clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send((engine.tasks(), engine.plans(), engine.show(&task)));
    });
    let (tasks, plans, story) = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("the lists answered");
    assert!(plans.is_empty());
    let live = f
        .worker_of(&tasks[0].id.to_string())
        .live_attempt
        .expect("running");
    assert_eq!(live.tokens.input, 1);
    assert_eq!(tasks[0].cost_usd, live.cost_usd);
    assert_eq!(story.expect("its story").task.cost_usd, live.cost_usd);
    f.fake.exit(pid, Exit::Code(1));
}

/// An assistant line whose input tokens alone are more than a count holds
/// once two of them are added.
fn huge_usage(id: &str) -> String {
    format!(
        r#"{{"type":"assistant","message":{{"id":"{id}","content":[{{"type":"text","text":"step"}}],"usage":{{"input_tokens":10000000000000000000,"output_tokens":1}}}}}}"#
    )
}

#[test]
fn counts_too_large_to_add_and_a_cost_no_run_can_have_stop_nothing() {
    let f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    f.fake.say(
        pid,
        r#"{"type":"system","subtype":"init","session_id":"s-1","model":"claude-sonnet-4-5"}"#,
    );
    f.fake.say(pid, &huge_usage("m1"));
    f.fake.say(pid, &huge_usage("m2"));
    // The runtime and PM passes, the lists and the story add them up (the
    // PM's next pass is due a tick later).
    f.advance(5);
    f.tick();
    assert_eq!(f.worker_of(&task).tokens.input, u64::MAX);
    assert!(f.engine().show(&task).is_ok());
    f.fake.say(
        pid,
        r#"{"type":"result","subtype":"success","is_error":false,"total_cost_usd":1e308,"usage":{"input_tokens":18446744073709551615,"output_tokens":18446744073709551615},"result":"done"}"#,
    );
    // The agent's figure is not taken, before and after its end: Cortex's
    // estimate from the tokens stands, marked as one.
    let estimate = cortex_core::pricing::estimate(
        &cortex_core::pricing::shipped(),
        Some("claude-sonnet-4-5"),
        &cortex_core::stream::Tokens {
            input: u64::MAX,
            output: u64::MAX,
            ..Default::default()
        },
    );
    f.tick();
    let live = f.worker_of(&task).live_attempt.expect("still running");
    assert_eq!((Some(live.cost_usd), live.cost_estimated), (estimate, true));
    f.fake.exit(pid, Exit::Code(0));
    f.tick();
    let ended = f.worker_of(&task);
    assert_eq!(ended.state, WorkerStatus::Completed, "{ended:?}");
    assert_eq!(
        (Some(ended.cost_usd), ended.cost_estimated),
        (estimate, true)
    );
    // A reply weighs every attempt's tokens against the budget, and the
    // next attempt starts from them.
    f.engine()
        .reply_worker(ended.id.as_str(), "go on")
        .expect("the reply");
    f.tick();
    let again = f.worker_of(&task);
    f.fake.say(f.pid(&again, 2), &huge_usage("m3"));
    f.advance(5);
    f.tick();
    assert_eq!(f.worker_of(&task).tokens.input, u64::MAX);
    let story = f.engine().show(&task).expect("its story");
    assert_eq!(story.tokens.input, u64::MAX);
}

#[test]
fn counts_too_large_to_add_are_over_any_token_budget() {
    let f = Fleet::new(Setup {
        config: vec![],
        expert: vec![("development", "token_budget", json!(1_000_000_000_000u64))],
    });
    let task = f.submit("fix the parser", "development");
    f.tick();
    let pid = f.pid(&f.worker_of(&task), 1);
    f.fake.say(pid, &huge_usage("m1"));
    f.fake.say(pid, &huge_usage("m2"));
    f.tick(); // over budget: stopped (SIGTERM ends the fake)
    f.tick();
    let w = f.worker_of(&task);
    assert_eq!(w.state, WorkerStatus::Failed, "{w:?}");
    assert!(
        w.reason.as_deref().is_some_and(|r| r.contains("budget")),
        "{w:?}"
    );
}

#[test]
fn a_kill_with_no_owner_estimates_a_cost_no_run_can_have() {
    let mut f = Fleet::new(Setup::default());
    let (task, pid) = started(&f, "fix the parser");
    let w = f.worker_of(&task);
    f.fake.say(
        pid,
        r#"{"type":"system","subtype":"init","session_id":"s-1","model":"claude-sonnet-4-5"}"#,
    );
    f.fake.say(
        pid,
        r#"{"type":"result","subtype":"success","is_error":false,"total_cost_usd":-3,"usage":{"input_tokens":1000000,"output_tokens":0},"result":"done"}"#,
    );
    // The owner is gone; a command kills the worker itself.
    drop(f.engine.take());
    let cli = Engine::open_with(
        &Home::new(f.dir.path()),
        OwnerKind::Cli,
        Parts {
            launcher: Arc::new(f.fake.clone()),
            clock: Arc::new(f.clock.clone()),
        },
    )
    .expect("open");
    let killed = cli.kill_worker(w.id.as_str()).expect("killed");
    assert_eq!(
        (killed.cost_usd, killed.cost_estimated),
        (3.0, true),
        "a million input tokens of Sonnet, estimated"
    );
}

#[test]
fn the_transcript_of_a_flood_is_its_end_and_says_how_much_was_left_out() {
    use cortex_core::transcript::EntryKind;
    let f = Fleet::new(Setup::default());
    let (task, _) = started(&f, "fix the parser");
    let w = f.worker_of(&task);
    let out = Home::new(f.dir.path())
        .workers_dir()
        .join(w.id.as_str())
        .join("attempt-1");
    std::fs::create_dir_all(&out).expect("attempt folder");
    let line = |n: usize| {
        format!(
            r#"{{"type":"assistant","message":{{"id":"m{n}","role":"assistant","content":[{{"type":"text","text":"flood line {n}"}}]}}}}"#
        )
    };
    let mut text = String::new();
    let mut n = 0;
    let mut write_until = |size: usize, text: &mut String| {
        while text.len() < size {
            n += 1;
            text.push_str(&line(n));
            text.push('\n');
        }
        std::fs::write(out.join("stdout.jsonl"), &*text).expect("output");
        n
    };
    // An output of a normal size is shown whole.
    let last = write_until(100_000, &mut text);
    let t = f.engine().transcript(w.id.as_str()).expect("transcript");
    assert_eq!(t.len(), last);
    assert_eq!(t[0].text, "flood line 1");
    // 50 MB of it: its last lines, whole, after what says how much is not.
    let last = write_until(50_000_000, &mut text);
    let t = f.engine().transcript(w.id.as_str()).expect("transcript");
    assert_eq!(t[0].kind, EntryKind::LeftOut, "{:?}", t[0]);
    assert!(
        t[0].text
            .contains(" MB of attempt 1's output before this is left out"),
        "{}",
        t[0].text
    );
    let shown = &t[1..];
    assert_eq!(shown[shown.len() - 1].text, format!("flood line {last}"));
    let first = last + 1 - shown.len();
    assert_eq!(shown[0].text, format!("flood line {first}"), "whole lines");
    let read: usize = (first..=last).map(|k| line(k).len() + 1).sum();
    assert!(
        read <= 8_000_000 && first > 1,
        "{read} bytes of {}",
        text.len()
    );
}
