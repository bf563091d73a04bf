//! Unit tests of what the app reads while workers run, over the fake
//! launcher: its lists answer and count the running attempts' figures.
//!
//! May depend on: the harness (`super`).

use super::*;

#[test]
fn the_apps_lists_answer_while_a_worker_runs_and_count_its_figures() {
    let f = Fleet::new(Setup::default());
    let task = f.submit("fix the parser", "development");
    f.tick();
    let w = f.worker_of(&task);
    let pid = f.pid(&w, 1);
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
