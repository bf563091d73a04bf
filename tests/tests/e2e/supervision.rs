//! Supervision that says what happened: the generic driver's outcome, the
//! PM's verdict in every read view, workers settled whoever watches, stops
//! and ends that survive a crash of the owner, the cost of a killed worker,
//! and the worker's answer kept.

use std::time::Duration;

use crate::util::{activity, pid_running, text, wait_until, worker_of, OwnedChild, TestHome};

const LIMIT: Duration = Duration::from_secs(60);

fn send_signal(pid: u32, sig: i32) {
    // SAFETY: a signal to a process this test started, by its pid.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

#[test]
fn the_generic_driver_succeeds_on_exit_zero_and_fails_with_the_code_and_stderr() {
    let h = TestHome::new();
    h.use_fake_agent();
    let script = h.scratch.path().join("agent.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n\
         echo \"working on: $1\"\n\
         echo '{\"cortex\":\"heartbeat\",\"progress\":50,\"message\":\"half way\"}'\n\
         case \"$1\" in *BREAK*) echo 'make: *** [all] Error 2' >&2; exit 4;; esac\n\
         exit 0\n",
    )
    .unwrap();
    h.configure(serde_json::json!({
        "agent": {"driver": "generic", "command": ["sh", script], "args_template": ["{prompt}"]},
    }));
    let owner = h.start_owner();
    let ok = h.submit_in("tidy the build scripts", &h.workdir());
    let t = h.wait_task_done(&ok, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    let bad = h.submit_in("BREAK the build scripts", &h.workdir());
    let t = h.wait_task_done(&bad, LIMIT);
    assert_eq!(t["status"], "failed", "{t}");
    let reason = t["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("exited with 4: make: *** [all] Error 2"),
        "{reason}"
    );
    let w = worker_of(&h, &ok);
    assert_eq!(w["state"], "completed", "{w}");
    owner.stop();
}

#[test]
fn every_read_view_shows_the_pms_verdict_while_an_owner_runs() {
    let h = TestHome::new();
    h.use_fake_agent();
    h.configure(serde_json::json!({
        "pm": {"late_after_secs": 1, "stalled_after_secs": 2, "zombie_after_secs": 600, "tick_millis": 200},
    }));
    let owner = h.start_owner();
    let id = h.submit_in("hang on the model FAKE:hang", &h.workdir());
    let mut w = serde_json::Value::Null;
    wait_until(LIMIT, "`cortex workers` to say stalled", || {
        w = worker_of(&h, &id);
        w["health"] == "stalled"
    });
    assert!(
        w["health_reason"]
            .as_str()
            .is_some_and(|r| r.contains("silent for")),
        "{w}"
    );
    assert_eq!(w["process"], format!("pid {}", w["pid"]), "{w}");
    let s = h.json(&["status"]);
    assert_eq!(s["health"]["stalled"], 1, "{s}");
    let plain = text(&h.cortex(&["workers"]).stdout);
    assert!(
        plain.contains("stalled") && plain.contains("silent for"),
        "{plain}"
    );
    // A person reads which task the worker is on, not only its id.
    assert!(plain.contains("“hang on the model FAKE:hang”"), "{plain}");
    owner.stop();
}

#[test]
fn a_worker_that_ended_while_no_owner_ran_is_not_shown_running() {
    let h = TestHome::new();
    h.use_fake_agent();
    let owner = h.start_owner();
    // The agent prints its whole answer, then hangs; the owner leaves
    // before its after-result grace (10 s) runs out.
    let id = h.submit_in("answer then hang FAKE:exit_after_result", &h.workdir());
    let mut pid = 0;
    wait_until(LIMIT, "the worker running with its result printed", || {
        let w = worker_of(&h, &id);
        pid = w["pid"].as_u64().unwrap_or(0) as u32;
        w["state"] == "running" && w["last_text"].is_string()
    });
    owner.stop(); // on_quit: keep
    assert!(pid_running(pid));
    send_signal(pid, libc::SIGKILL);
    wait_until(LIMIT, "the agent gone", || !pid_running(pid));
    let w = worker_of(&h, &id);
    assert_eq!(w["state"], "completed", "settled from its output: {w}");
    assert!(w["pid"].is_null(), "{w}");
    assert!(w["result"].is_string(), "the answer is kept: {w}");
    let t = h.task(&id);
    assert_eq!(t["status"], "completed", "{t}");
    assert!(t["result"].is_string(), "{t}");
}

/// Keeps the journal's lines up to and including the first one for which
/// `keep_through` holds, and removes the snapshots: the state an owner
/// killed right after writing that line leaves behind.
fn cut_journal_after(h: &TestHome, keep_through: impl Fn(&serde_json::Value) -> bool) {
    let path = h.file("journal.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut kept = String::new();
    for line in text.lines() {
        kept.push_str(line);
        kept.push('\n');
        if serde_json::from_str::<serde_json::Value>(line)
            .map(|v| keep_through(&v))
            .unwrap_or(false)
        {
            break;
        }
    }
    std::fs::write(&path, kept).unwrap();
    for f in ["task-queue.json", "worker-pool.json", "pm-state.json"] {
        let _ = std::fs::remove_file(h.file(f));
    }
}

#[test]
fn an_owner_killed_between_an_attempts_end_and_what_follows_is_settled_on_start() {
    let h = TestHome::new();
    h.use_fake_agent();
    h.configure(serde_json::json!({"agent": {"env": {"FAKE_AGENT_RESUME_MODE": "normal"}}}));
    let owner = h.start_owner();
    let done = h.submit_in("finish the report FAKE:normal", &h.workdir());
    assert_eq!(h.wait_task_done(&done, LIMIT)["status"], "completed");
    owner.stop();
    cut_journal_after(&h, |v| {
        v["kind"] == "attempt_ended" && v["outcome"]["kind"] == "success"
    });
    let owner = h.start_owner();
    let t = h.wait_task_done(&done, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    assert_eq!(h.starts().len(), 1, "not run twice");
    owner.stop();

    // A crash whose `worker_waiting` was never written is retried.
    let crashed = h.submit_in("parse the logs FAKE:crash", &h.workdir());
    let owner = h.start_owner();
    wait_until(LIMIT, "the crash journaled", || {
        std::fs::read_to_string(h.file("journal.jsonl"))
            .unwrap()
            .contains("\"kind\":\"crashed\"")
    });
    owner.kill();
    cut_journal_after(&h, |v| {
        v["kind"] == "attempt_ended" && v["outcome"]["kind"] == "crashed"
    });
    let owner = h.start_owner();
    let t = h.wait_task_done(&crashed, LIMIT);
    assert_eq!(t["status"], "completed", "restarted and resumed: {t}");
    assert_eq!(worker_of(&h, &crashed)["attempt"], 2);
    owner.stop();
}

#[test]
fn a_kill_acknowledged_before_the_owner_died_is_carried_out_after_its_restart() {
    let h = TestHome::new();
    h.use_fake_agent();
    h.configure(serde_json::json!({"pm": {"kill_grace_secs": 3}}));
    let owner = h.start_owner();
    let id = h.submit_in("refuse to stop FAKE:ignore_sigterm", &h.workdir());
    let w = h.wait_running_worker(&id, LIMIT);
    let pid = worker_of(&h, &id)["pid"].as_u64().unwrap_or(0) as u32;
    // `cortex kill` answers `stopping` once the owner acknowledged the kill,
    // then waits for the end.
    let mut kill = h.command();
    kill.args(["kill", &w, "--json"]);
    let kill = OwnedChild::spawn_logged(kill, h.scratch.path());
    wait_until(LIMIT, "the kill acknowledged", || {
        kill.stdout_so_far().contains("\"stopping\"")
    });
    // The owner dies within the grace period, before its SIGKILL.
    owner.kill();
    assert!(pid > 0 && pid_running(pid), "the agent outlived the owner");
    let owner = h.start_owner();
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "cancelled", "{t}");
    assert_eq!(worker_of(&h, &id)["state"], "cancelled");
    wait_until(LIMIT, "the agent gone", || !pid_running(pid));
    let answered = kill.wait_output(LIMIT);
    assert!(
        text(&answered.stdout).contains("\"cancelled\""),
        "the kill command saw it end: {}",
        text(&answered.stdout)
    );
    owner.stop();
}

#[test]
fn a_worker_stopped_by_its_budget_records_its_tokens_and_estimated_cost() {
    let h = TestHome::new();
    h.use_fake_agent();
    h.configure(serde_json::json!({"pm": {"tick_millis": 200}}));
    // Each text line of the fake agent counts 100 input + 20 output tokens.
    h.edit_all_experts(serde_json::json!({"token_budget": 500}));
    let owner = h.start_owner();
    let id = h.submit_in(
        "write many notes FAKE:slow FAKE_SECS:0.3 FAKE_LINES:40",
        &h.workdir(),
    );
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "failed", "{t}");
    let w = worker_of(&h, &id);
    assert!(
        w["reason"].as_str().unwrap_or_default().contains("budget"),
        "{w}"
    );
    assert!(w["tokens"]["input"].as_u64().unwrap_or(0) >= 500, "{w}");
    assert!(w["cost_usd"].as_f64().unwrap_or(0.0) > 0.0, "{w}");
    assert_eq!(w["cost_estimated"], true, "{w}");
    assert!(t["cost_usd"].as_f64().unwrap_or(0.0) > 0.0, "{t}");
    // A reply would be stopped at once: refused, saying why, nothing started.
    let out = h.cortex(&["reply", w["id"].as_str().unwrap(), "please go on"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("of the token/cost budget"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(worker_of(&h, &id)["attempt"], w["attempt"]);
    owner.stop();
}

#[test]
fn an_agent_whose_result_arrived_is_settled_by_it_not_stopped_for_its_budget() {
    let h = TestHome::new();
    h.use_fake_agent();
    h.configure(serde_json::json!({"pm": {"tick_millis": 200}}));
    // The whole run's 720 tokens arrive with the result: over this budget.
    h.edit_all_experts(serde_json::json!({"token_budget": 250}));
    let owner = h.start_owner();
    // Its result line, then it lingers as the CLI sometimes does.
    let id = h.submit_in("write the summary FAKE:exit_after_result", &h.workdir());
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    let w = worker_of(&h, &id);
    assert!(
        w["tokens"]["input"].as_u64().unwrap_or(0) > 250,
        "what it used is shown: {w}"
    );
    owner.stop();
}

#[test]
fn a_running_tasks_cost_so_far_is_the_same_in_workers_tasks_and_show() {
    let h = TestHome::new();
    h.use_fake_agent();
    h.configure(serde_json::json!({"pm": {"tick_millis": 200}}));
    let owner = h.start_owner();
    // Five lines, then silent and alive: figures that stay put while read.
    let id = h.submit_in(
        "write some notes FAKE:flood_then_hang FAKE_LINES:5",
        &h.workdir(),
    );
    wait_until(LIMIT, "the running attempt's tokens counted", || {
        worker_of(&h, &id)["tokens"]["input"].as_u64() == Some(500)
    });
    let w = worker_of(&h, &id);
    assert_eq!(w["state"], "running", "{w}");
    let cost = w["cost_usd"].as_f64().unwrap();
    assert!(cost > 0.0 && w["cost_estimated"] == true, "{w}");
    assert_eq!(w["live_attempt"]["n"], 1, "{w}");

    let story = h.json(&["show", &id]);
    assert_eq!(story["cost_usd"].as_f64(), Some(cost), "{story}");
    assert_eq!(story["cost_estimated"], true, "{story}");
    assert_eq!(story["tokens"]["input"], 500, "{story}");
    let attempt = &story["workers"][0]["attempts"][0];
    assert_eq!(attempt["cost_usd"].as_f64(), Some(cost), "{attempt}");
    assert_eq!(attempt["cost_estimated"], true, "{attempt}");
    let shown = text(&h.cortex(&["show", &id]).stdout);
    assert!(
        shown.contains(&format!("cost ${cost:.4} (est.)")),
        "{shown}"
    );

    let tasks = h.json(&["tasks"]);
    let t = tasks
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert_eq!(t["cost_usd"].as_f64(), Some(cost), "{t}");
    assert_eq!(t["cost_estimated"], true, "{t}");
    assert_eq!(w["ended_attempts_secs"].to_string(), "0.0", "not -0.0: {w}");
    let killed = h.cortex(&["kill", w["id"].as_str().unwrap()]);
    assert!(killed.status.success(), "{}", text(&killed.stderr));
    owner.stop();
}

#[test]
fn a_settings_edit_the_owner_refuses_is_said_by_cortex_status_until_it_is_put_right() {
    let h = TestHome::new();
    h.use_fake_agent();
    let owner = h.start_owner();
    // Not the fallback expert, which config.json itself names.
    let id = h.submit_in(
        "audit the auth tokens for security vulnerabilities FAKE:hang",
        &h.workdir(),
    );
    let wid = h.wait_running_worker(&id, LIMIT);
    let expert = worker_of(&h, &id)["expert"].as_str().unwrap().to_string();
    assert_eq!(expert, "security");
    // Its expert's file goes while its worker runs: the owner keeps it.
    let file = h.file(&format!("experts/{expert}.json"));
    let kept = std::fs::read(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    wait_until(LIMIT, "cortex status saying the edit was refused", || {
        h.json(&["status"])["settings_refused"]
            .as_str()
            .is_some_and(|r| r.contains(&format!("expert {expert} is no longer in experts/")))
    });
    let said = text(&h.cortex(&["status"]).stdout);
    assert!(
        said.contains("settings: a file edited on disk was not read"),
        "{said}"
    );
    std::fs::write(&file, kept).unwrap();
    wait_until(LIMIT, "the refusal gone once the file is back", || {
        h.json(&["status"]).get("settings_refused").is_none()
    });
    let killed = h.cortex(&["kill", &wid]);
    assert!(killed.status.success(), "{}", text(&killed.stderr));
    owner.stop();
}

#[test]
fn a_typo_in_config_json_leaves_every_command_working_on_the_settings_in_use_and_says_so() {
    let h = TestHome::new();
    h.use_fake_agent();
    // A time limit that is not the shipped one, to tell the settings in use
    // from the defaults.
    let expert_file = h.file("experts/development.json");
    let mut expert: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&expert_file).unwrap()).unwrap();
    expert["time_limit_secs"] = 4321.into();
    std::fs::write(&expert_file, expert.to_string()).unwrap();
    let owner = h.start_owner();
    let id = h.submit_in("write a helper function FAKE:hang", &h.workdir());
    let wid = h.wait_running_worker(&id, LIMIT);
    let config = h.file("config.json");
    let good = std::fs::read_to_string(&config).unwrap();
    let mut typo: serde_json::Value = serde_json::from_str(&good).unwrap();
    typo["agent"]["bogus_key"] = 1.into();
    std::fs::write(&config, serde_json::to_string_pretty(&typo).unwrap()).unwrap();
    wait_until(LIMIT, "cortex status saying the file was not read", || {
        h.json(&["status"])["settings_refused"]
            .as_str()
            .is_some_and(|r| r.contains("agent.bogus_key"))
    });
    // What reads the home still works, with the settings the owner uses,
    // and says which.
    for args in [vec!["workers"], vec!["tasks"], vec!["show", &id]] {
        let out = h.cortex(&args);
        assert!(
            out.status.success(),
            "cortex {args:?}: {}",
            text(&out.stderr)
        );
        let said = text(&out.stderr);
        assert!(
            said.contains("the settings on disk are not valid (config.json: key `agent.bogus_key`")
                && said.contains("uses the settings an owner last read"),
            "cortex {args:?}: {said}"
        );
    }
    let w = worker_of(&h, &id);
    assert_eq!(w["state"], "running");
    assert_eq!(w["expert"], "development");
    assert_eq!(w["time_limit_secs"], 4321, "{w}");
    let doctor = h.cortex(&["doctor"]);
    assert_eq!(doctor.status.code(), Some(2), "{}", text(&doctor.stderr));
    assert!(
        text(&doctor.stdout)
            .contains("settings:      NOT VALID: config.json: key `agent.bogus_key`"),
        "{}",
        text(&doctor.stdout)
    );
    // A kill goes through and is followed to its end.
    let killed = h.cortex(&["kill", &wid]);
    assert!(killed.status.success(), "{}", text(&killed.stderr));
    assert!(
        text(&killed.stdout).contains(&format!("{wid} cancelled")),
        "{}",
        text(&killed.stdout)
    );
    owner.stop();
    // With no owner: still readable, and a short command still applies.
    let status = text(&h.cortex(&["status"]).stdout);
    assert!(
        status.contains("settings: the files on disk are not valid")
            && status.contains("no owner starts until they are fixed"),
        "{status}"
    );
    let paused = h.cortex(&["pause"]);
    assert!(paused.status.success(), "{}", text(&paused.stderr));
    // What would start an agent or route a task on those settings waits
    // for valid ones.
    for args in [
        vec!["restart", wid.as_str()],
        vec!["submit", "another task"],
    ] {
        let out = h.cortex(&args);
        assert_eq!(out.status.code(), Some(2), "cortex {args:?}");
        assert!(
            text(&out.stderr).contains("would start an agent or a check, or route a task"),
            "cortex {args:?}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(h.json(&["tasks"]).as_array().unwrap().len(), 1);
    let run = h.cortex(&["run"]);
    assert_eq!(
        run.status.code(),
        Some(2),
        "a long-running owner starts only on valid files"
    );
    std::fs::write(&config, good).unwrap();
    let status = h.json(&["status"]);
    assert!(status.get("settings_refused").is_none(), "{status}");
    assert_eq!(status["spawning_paused"], true, "{status}");
}

#[test]
fn a_worker_refused_by_the_accounts_usage_limit_waits_for_the_reset_and_resumes() {
    let h = TestHome::new();
    h.use_fake_agent();
    // No restart at all: waiting for the limit must not need one.
    h.edit_all_experts(serde_json::json!({"max_restarts": 0}));
    let owner = h.start_owner();
    let id = h.submit_in(
        "write the changelog FAKE:usage_limit FAKE_SECS:4",
        &h.workdir(),
    );
    let mut seen = serde_json::Value::Null;
    wait_until(LIMIT, "the worker waiting for the usage limit", || {
        seen = worker_of(&h, &id);
        seen["waiting_for"]["kind"] == "usage_limit"
    });
    assert_eq!(seen["state"], "waiting", "{seen}");
    assert!(seen["waiting_for"]["until"].is_string(), "{seen}");
    assert!(
        seen["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("the 5-hour usage limit was reached")),
        "{seen}"
    );
    let table = text(&h.cortex(&["workers"]).stdout);
    assert!(
        table.contains("the 5-hour usage limit was reached (API rate limited (429)); resumes at "),
        "{table}"
    );
    // What Cortex did about it is said: in the activity log and as an alert.
    let wid = seen["id"].as_str().unwrap();
    assert!(
        activity(&h, wid).iter().any(|l| l["event"] == "alert"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.contains(": it waits and resumes at "))),
        "{:?}",
        activity(&h, wid)
    );
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    let w = worker_of(&h, &id);
    assert_eq!(
        (w["attempt"].as_u64(), w["restarts"].as_u64()),
        (Some(2), Some(0)),
        "{w}"
    );
    // The account's limit is no expert's failure.
    assert_eq!(h.json(&["status"])["paused_experts"], serde_json::json!([]));
    let starts = h.starts();
    assert!(
        starts[1]["prompt"]
            .as_str()
            .is_some_and(|p| p.contains("usage limit")),
        "the resumed attempt is told why it was stopped: {starts:?}"
    );
    owner.stop();
}

#[test]
fn the_workers_answer_is_kept_on_the_worker_and_the_task() {
    let h = TestHome::new();
    h.use_fake_agent();
    let owner = h.start_owner();
    let id = h.submit_in("summarise the changes FAKE:normal", &h.workdir());
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    assert!(t["result"].as_str().is_some_and(|r| !r.is_empty()), "{t}");
    let w = worker_of(&h, &id);
    assert!(w["result"].as_str().is_some_and(|r| !r.is_empty()), "{w}");
    assert!(w["last_text"].is_string(), "{w}");
    owner.stop();
}

#[test]
fn cancelling_a_task_through_the_owner_stops_its_running_worker() {
    let h = TestHome::new();
    h.use_fake_agent();
    let owner = h.start_owner();
    let id = h.submit_in("a long job FAKE:hang", &h.workdir());
    h.wait_running_worker(&id, LIMIT);
    let pid = worker_of(&h, &id)["pid"].as_u64().unwrap_or(0) as u32;
    assert!(pid > 0 && pid_running(pid));
    let out = h.cortex(&["cancel", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_until(LIMIT, "the agent stopped", || !pid_running(pid));
    wait_until(LIMIT, "the worker cancelled", || {
        worker_of(&h, &id)["state"] == "cancelled"
    });
    assert_eq!(h.task(&id)["status"], "cancelled");
    owner.stop();
}

#[test]
fn a_check_in_by_hand_for_a_worker_or_attempt_the_home_does_not_have_is_refused_and_writes_nothing()
{
    let h = TestHome::new();
    h.use_fake_agent();
    let owner = h.start_owner();
    let id = h.submit_in("write a helper function FAKE:hang", &h.workdir());
    let wid = h.wait_running_worker(&id, LIMIT);
    let ghost = "w-00000000000000000000000000";
    let out = h.cortex(&["heartbeat", "--worker", ghost, "--attempt", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("no worker {ghost} in this home")));
    assert!(!h.file(&format!("heartbeats/{ghost}.jsonl")).exists());
    let out = h.cortex(&["heartbeat", "--worker", &wid, "--attempt", "99"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("has no attempt 99"));
    // A progress that is no percentage is not recorded as said.
    let out = h.cortex(&["heartbeat", "--worker", &wid, "--progress", "150"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("expected a percentage from 0 to 100"));
    // An agent's own check-in is never refused: recorded, its sign of life
    // counted, without the progress that is no percentage.
    let own = h
        .command()
        .args(["heartbeat", "--progress", "150", "--message", "own words"])
        .env("CORTEX_WORKER_ID", &wid)
        .output()
        .unwrap();
    assert!(own.status.success(), "{}", text(&own.stderr));
    let beats = std::fs::read_to_string(h.file(&format!("heartbeats/{wid}.jsonl"))).unwrap();
    // Its line, read as JSON: the time may hold any digits.
    let own_line: serde_json::Value = beats
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|v: &serde_json::Value| v["message"] == "own words")
        .unwrap_or_else(|| panic!("no check-in with its words: {beats}"));
    assert!(own_line.get("progress").is_none(), "{own_line}");
    // Its own worker and attempt: recorded.
    let out = h.cortex(&[
        "heartbeat",
        "--worker",
        &wid,
        "--attempt",
        "1",
        "--message",
        "by hand",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let beats = std::fs::read_to_string(h.file(&format!("heartbeats/{wid}.jsonl"))).unwrap();
    assert!(beats.contains("by hand"), "{beats}");
    let killed = h.cortex(&["kill", &wid]);
    assert!(killed.status.success(), "{}", text(&killed.stderr));
    owner.stop();
}
