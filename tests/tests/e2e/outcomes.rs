//! Outcomes Cortex has checked: a task's check decides `completed`, a
//! failing check goes back to the agent and then to a person, a run that
//! waits for a person says so, and a person's reply continues a worker.

use std::time::Duration;

use crate::claude::MockApi;
use crate::util::{tagged_pids, text, wait_until, OwnedChild, TestHome};

const LIMIT: Duration = Duration::from_secs(60);

fn submit_verified(h: &TestHome, text: &str, check: &str) -> String {
    let wd = h.workdir();
    let v = h.json(&[
        "submit",
        text,
        "--workdir",
        wd.to_str().unwrap(),
        "--verify",
        check,
    ]);
    v["task_id"].as_str().unwrap().to_string()
}

#[test]
fn a_passing_check_makes_a_task_completed_and_verified_and_no_check_says_not_verified() {
    let h = TestHome::new();
    h.use_fake_agent();
    let owner = h.start_owner();
    let id = submit_verified(&h, "write the notes FAKE:normal", "test -f fake-out.txt");
    let t = h.wait_status(&id, &["completed", "failed", "needs_attention"], LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    let w = &h.workers_of(&id)[0];
    assert_eq!(w["verification"]["passed"], true, "{w}");
    assert_eq!(w["verification"]["command"], "test -f fake-out.txt");
    assert_eq!(w["verification"]["rounds"], 1);
    assert!(w["reason"].as_str().unwrap().contains("verified"), "{w}");
    // Every line a person reads says the state once, the reason beside it.
    let said = "verified: test -f fake-out.txt passed";
    let shown = text(&h.cortex(&["show", &id]).stdout);
    assert!(shown.contains(&format!("reason: {said}")), "{shown}");
    assert!(shown.contains(&format!(" completed, {said}")), "{shown}");
    let table = text(&h.cortex(&["workers"]).stdout);
    assert!(
        table.trim_end().ends_with(&format!("  {said}")) && !table.contains("completed, verified"),
        "{table}"
    );
    let plain = h.submit_in("write other notes FAKE:normal", &h.workdir());
    let t = h.wait_task_done(&plain, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    assert!(h.workers_of(&plain)[0]["verification"].is_null());
    owner.stop();
    // Only the checked outcome teaches the router: the agent's own word
    // that it is done is no evidence its expert was the right one.
    let examples = std::fs::read_to_string(h.file("router-examples.jsonl")).unwrap_or_default();
    let learned: Vec<serde_json::Value> = examples
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(learned.len(), 1, "{examples}");
    assert_eq!(
        (
            learned[0]["task_id"].as_str(),
            learned[0]["source"].as_str()
        ),
        (Some(id.as_str()), Some("success")),
        "{examples}"
    );
}

#[test]
fn a_failing_check_goes_back_to_the_agent_max_rounds_times_then_needs_attention() {
    let h = TestHome::new();
    h.use_fake_agent();
    h.configure(serde_json::json!({"verify": {"max_rounds": 2}}));
    let owner = h.start_owner();
    let id = submit_verified(
        &h,
        "fix the parser FAKE:normal",
        "echo 'parser.rs:12: expected ;' ; exit 3",
    );
    let t = h.wait_status(&id, &["completed", "failed", "needs_attention"], LIMIT);
    assert_eq!(t["status"], "needs_attention", "never completed: {t}");
    assert!(
        t["reason"]
            .as_str()
            .unwrap()
            .contains("verification failed: echo 'parser.rs:12: expected ;' ; exit 3 exited 3"),
        "{t}"
    );
    let starts = h.starts();
    assert_eq!(
        starts.len(),
        3,
        "the first run and two rounds back to the agent"
    );
    for resumed in &starts[1..] {
        let prompt = resumed["prompt"].as_str().unwrap();
        assert!(
            prompt.contains("did not pass its check")
                && prompt.contains("parser.rs:12: expected ;"),
            "the failure is in the next prompt: {prompt}"
        );
        let args: Vec<&str> = resumed["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(args.contains(&"--resume"), "the same session: {args:?}");
    }
    let w = &h.workers_of(&id)[0];
    assert_eq!(w["state"], "needs_attention");
    assert_eq!(w["verification"]["rounds"], 3);
    assert_eq!(w["verification"]["exit_code"], 3);
    assert!(w["verification"]["output_tail"]
        .as_str()
        .unwrap()
        .contains("expected ;"));
    let log = h.file(&format!(
        "workers/{}/attempt-3/verify.log",
        w["id"].as_str().unwrap()
    ));
    assert!(std::fs::read_to_string(log).unwrap().contains("expected ;"));
    owner.stop();
}

#[test]
fn a_check_that_hangs_is_stopped_at_its_timeout_and_leaves_no_process() {
    let h = TestHome::new();
    h.use_fake_agent();
    h.configure(serde_json::json!({"verify": {"timeout_secs": 1, "max_rounds": 0}}));
    let owner = h.start_owner();
    let id = submit_verified(&h, "build it FAKE:normal", "sleep 600");
    let t = h.wait_status(&id, &["completed", "failed", "needs_attention"], LIMIT);
    assert_eq!(t["status"], "needs_attention", "{t}");
    assert!(
        t["reason"].as_str().unwrap().contains("timed out after 1s"),
        "{t}"
    );
    let w = h.workers_of(&id)[0]["id"].as_str().unwrap().to_string();
    wait_until(LIMIT, "no process of the check left", || {
        tagged_pids(&w).is_empty()
    });
    owner.stop();
}

#[test]
fn a_check_that_floods_its_output_keeps_its_log_under_the_cap_and_its_last_lines() {
    let h = TestHome::new();
    h.use_fake_agent();
    h.configure(serde_json::json!({"verify": {"timeout_secs": 60, "max_rounds": 0}}));
    let owner = h.start_owner();
    // 30 MB of output, then it waits (up to 20 s) for the owner to cap its
    // log while it runs, and says how long that took.
    let check = concat!(
        r#"head -c 30000000 /dev/zero | tr '\0' x; echo; "#,
        r#"l="$CORTEX_HOME/workers/$CORTEX_WORKER_ID/attempt-1/verify.log"; i=0; "#,
        r#"while [ "$(wc -c < "$l")" -gt 9000000 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; "#,
        r#"echo "waited $i tenths for the cap"; echo the-last-line; exit 3"#
    );
    let id = submit_verified(&h, "build it FAKE:normal", check);
    let t = h.wait_status(&id, &["completed", "failed", "needs_attention"], LIMIT);
    assert_eq!(t["status"], "needs_attention", "{t}");
    let w = &h.workers_of(&id)[0];
    let tail = w["verification"]["output_tail"]
        .as_str()
        .unwrap_or_default();
    assert!(tail.contains("the-last-line"), "{w}");
    let waited: u32 = tail
        .split("waited ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no wait in the tail: {tail}"));
    assert!(
        waited < 200,
        "the log was not capped while the check ran: {tail}"
    );
    let attempt = h
        .path()
        .join("workers")
        .join(w["id"].as_str().unwrap())
        .join("attempt-1");
    let size = |name: &str| std::fs::metadata(attempt.join(name)).map_or(0, |m| m.len());
    assert!(size("verify.log") < 9_000_000, "{}", size("verify.log"));
    assert!(
        (1..=256 * 1024).contains(&size("verify.log.earlier")),
        "{}",
        size("verify.log.earlier")
    );
    owner.stop();
}

#[test]
fn killing_a_task_while_its_work_is_checked_stops_the_check() {
    let h = TestHome::new();
    h.use_fake_agent();
    let owner = h.start_owner();
    let id = submit_verified(&h, "build it FAKE:normal", "sleep 600");
    let mut w = String::new();
    wait_until(LIMIT, "the check running", || {
        let ws = h.workers_of(&id);
        w = ws
            .first()
            .and_then(|w| w["id"].as_str())
            .unwrap_or_default()
            .to_string();
        ws.first().is_some_and(|w| w["health"] == "verifying")
    });
    assert!(
        !tagged_pids(&w).is_empty(),
        "the check runs with the worker's tag"
    );
    let out = h.cortex(&["cancel", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_until(LIMIT, "the check stopped", || tagged_pids(&w).is_empty());
    assert_eq!(h.task(&id)["status"], "cancelled");
    // It did not fail: it was stopped, and says by whom.
    let shown = text(&h.cortex(&["show", &id]).stdout);
    assert!(
        shown.contains("verification: stopped `sleep 600` (exit -, 1 round): stopped: task cancelled by a person"),
        "{shown}"
    );
    owner.stop();
}

#[test]
fn a_reply_continues_an_ended_worker_in_the_same_session() {
    let h = TestHome::new();
    h.use_fake_agent();
    let owner = h.start_owner();
    let wd = h.workdir();
    let id = h.submit_in("draft the release notes FAKE:normal", &wd);
    assert_eq!(h.wait_task_done(&id, LIMIT)["status"], "completed");
    let w = h.workers_of(&id)[0]["id"].as_str().unwrap().to_string();
    let out = h.cortex(&["reply", &w, "now add a section on upgrades"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("unwatched"),
        "{}",
        text(&out.stderr)
    );
    wait_until(LIMIT, "the worker's second attempt ends", || {
        let w = &h.workers_of(&id)[0];
        w["attempt"] == 2 && w["state"] == "completed"
    });
    assert_eq!(h.task(&id)["status"], "completed");
    let starts = h.starts();
    assert_eq!(starts.len(), 2);
    assert_eq!(starts[1]["prompt"], "now add a section on upgrades");
    let args: Vec<&str> = starts[1]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let session = h.workers_of(&id)[0]["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        args.windows(2).any(|p| p == ["--resume", session.as_str()]),
        "{args:?}"
    );
    assert_eq!(
        std::fs::read_to_string(wd.join("fake-out.txt")).unwrap(),
        "now add a section on upgrades",
        "in the same workdir"
    );
    // A live worker is nudged, not replied to.
    let live = h.submit_in("long job FAKE:hang", &h.workdir());
    let lw = h.wait_running_worker(&live, LIMIT);
    let out = h.cortex(&["reply", &lw, "hello"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    h.cortex(&["kill", &lw]);
    owner.stop();
    // With no owner, the command starts the attempt itself, and says that
    // nobody watches it.
    let out = h.cortex(&["reply", &w, "one more thing"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("runs unwatched"),
        "{}",
        text(&out.stderr)
    );
    wait_until(LIMIT, "the unwatched attempt ends", || {
        h.workers_of(&id)[0]["attempt"] == 3 && h.workers_of(&id)[0]["state"] == "completed"
    });
}

#[test]
fn a_reply_is_not_a_restart_so_a_crash_after_it_is_still_restarted() {
    let h = TestHome::new();
    h.use_fake_agent();
    // One automatic restart allowed: a reply must not have used it up.
    h.edit_all_experts(serde_json::json!({"max_restarts": 1}));
    let owner = h.start_owner();
    let id = h.submit_in("draft the release notes FAKE:normal", &h.workdir());
    assert_eq!(h.wait_task_done(&id, LIMIT)["status"], "completed");
    let w = h.workers_of(&id)[0]["id"].as_str().unwrap().to_string();
    let out = h.cortex(&["reply", &w, "now add a section on upgrades FAKE:crash"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Attempt 2 (the reply) crashes; attempt 3 is the worker's first
    // automatic restart, not "no restarts left".
    let mut third = serde_json::Value::Null;
    wait_until(
        LIMIT,
        "an automatic restart after the reply's crash",
        || {
            third = h.workers_of(&id)[0].clone();
            third["attempt"] == 3 || third["state"] == "failed"
        },
    );
    assert_eq!(third["attempt"], 3, "{third}");
    assert_eq!(third["restarts"], 1, "{third}");
    owner.stop();
}

#[test]
fn the_real_cli_with_a_denied_tool_needs_a_person_and_says_so() {
    let h = TestHome::new();
    h.use_fake_agent();
    let mock = MockApi::start(&h);
    h.configure(serde_json::json!({"agent": mock.agent_config(&h)}));
    // No expert may run Bash: the CLI denies the call the model makes.
    h.edit_all_experts(serde_json::json!({"permissions": {"allowed_tools": ["Read"]}}));
    let mut c = h.command();
    c.args(["run", "--json"]);
    let owner = OwnedChild::spawn_logged(c, h.scratch.path());
    wait_until(LIMIT, "the owner runs", || {
        owner.stderr_so_far().contains("cortex: running on")
    });
    let id = h.submit_in("Create out.txt with a greeting. MOCK:tool", &h.workdir());
    let t = h.wait_status(&id, &["completed", "failed", "needs_input"], LIMIT);
    assert_eq!(t["status"], "needs_input", "{t}");
    assert!(t["reason"].as_str().unwrap().contains("Bash"), "{t}");
    wait_until(LIMIT, "a needs-you alert", || {
        owner
            .stdout_so_far()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|e| e["type"] == "alert" && e["alert"]["kind"] == "needs_input")
    });
    owner.stop();
}

#[test]
fn a_check_asked_for_is_never_dropped_without_a_word() {
    let h = TestHome::new();
    let dir = h.workdir();
    let dir = dir.to_str().unwrap();
    // An empty check is refused, not taken as "no check".
    let out = h.cortex(&[
        "submit",
        "add the parser",
        "--workdir",
        dir,
        "--verify",
        " ",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("the verify command (--verify, `verify`) is empty"),
        "{}",
        text(&out.stderr)
    );
    // A duplicate's check and worktree are not applied to the task that
    // answers it: the answer says so.
    let first = h.json(&["submit", "add the parser", "--workdir", dir]);
    let with_check = [
        "submit",
        "add the parser",
        "--workdir",
        dir,
        "--verify",
        "make test",
    ];
    let again = h.cortex(&with_check);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(text(&again.stdout).contains(&format!(
        "{} (already submitted",
        first["task_id"].as_str().unwrap()
    )));
    assert!(
        text(&again.stderr).contains("its --verify was not applied"),
        "{}",
        text(&again.stderr)
    );
    let ack = h.json(&with_check);
    assert_eq!(ack["not_applied"], serde_json::json!(["--verify"]), "{ack}");
    // Nor is a goal asked of a plain task: it stays a task.
    let ack = h.json(&["submit", "add the parser", "--workdir", dir, "--plan"]);
    assert_eq!(ack["not_applied"], serde_json::json!(["--plan"]), "{ack}");
    // A batch takes no key or goal for all its lines: refused, not dropped.
    for flag in [vec!["--key", "k1"], vec!["--plan"]] {
        let mut args = vec!["submit", "--batch", "-"];
        args.extend(flag);
        let out = h.cortex(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out.stderr).contains("cannot be used with"),
            "{}",
            text(&out.stderr)
        );
    }
    // An unknown dependency is refused for a duplicate as for a new task.
    let out = h.cortex(&[
        "submit",
        "add the parser",
        "--workdir",
        dir,
        "--after",
        "t-01m93yjbj9jfng99yrkpy03s00",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // So is one that names nothing (an empty variable in a script).
    for empty in ["", ","] {
        let out = h.cortex(&["submit", "a new part", "--workdir", dir, "--after", empty]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("--after: empty"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn a_check_that_ended_while_no_owner_ran_is_settled_by_its_record_not_run_again() {
    let h = TestHome::new();
    h.use_fake_agent();
    let owner = h.start_owner();
    let runs = h.workdir().join("runs.txt");
    let check = format!("echo run >> {}; sleep 2; exit 0", runs.display());
    let id = submit_verified(&h, "write the notes FAKE:normal", &check);
    wait_until(LIMIT, "the check running", || runs.exists());
    owner.kill();
    let w = h.workers_of(&id)[0]["id"].as_str().unwrap().to_string();
    let exit = h.file(&format!("workers/{w}/attempt-1/verify.exit"));
    wait_until(LIMIT, "the check's exit recorded", || exit.exists());
    // Until an owner runs, the views say it ended, not that it is being checked.
    let shown = &h.workers_of(&id)[0];
    assert_eq!(shown["health"], "exited", "{shown}");
    assert!(
        shown["reason"]
            .as_str()
            .is_some_and(|r| r.contains("its check ended (exit 0) while no owner ran")),
        "{shown}"
    );
    let owner = h.start_owner();
    let t = h.wait_status(&id, &["completed", "failed", "needs_attention"], LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    assert_eq!(
        std::fs::read_to_string(&runs).unwrap(),
        "run\n",
        "the check ran once"
    );
    owner.stop();
}
