//! The process manager with thresholds of seconds: hangs are detected and
//! acted on, busy or rate-limited workers are left alone, time limits warn
//! and stop unless a person extends them.

use std::time::{Duration, Instant};

use crate::claude::MockApi;
use crate::util::{
    activity, entered, entered_never_hung, tagged_pids, text, wait_until, worker_of, TestHome,
};

const LIMIT: Duration = Duration::from_secs(60);

/// A home with the fake agent and a PM that reacts in seconds.
fn fast_pm_home(resume_mode: &str) -> TestHome {
    let h = TestHome::new();
    h.use_fake_agent();
    h.configure(serde_json::json!({
        "agent": {"env": {"FAKE_AGENT_RESUME_MODE": resume_mode}},
        "pm": {"startup_budget_secs": 5, "late_after_secs": 1, "stalled_after_secs": 2, "zombie_after_secs": 3, "tick_millis": 200},
        "restart": {"backoff_base_secs": 1, "backoff_max_secs": 1},
        "notifications": {"coalesce_window_millis": 200}
    }));
    edit_all(&h, serde_json::json!({"max_restarts": 1}));
    h
}

/// `fast_pm_home` whose breaker opens on an expert's first failure and
/// stays open for ten minutes.
fn one_failure_breaker_home(resume_mode: &str) -> TestHome {
    let h = fast_pm_home(resume_mode);
    h.configure(
        serde_json::json!({"restart": {"circuit_failures": 1, "circuit_window_secs": 600}}),
    );
    h
}

fn edit_all(h: &TestHome, patch: serde_json::Value) {
    h.edit_all_experts(patch);
}

#[test]
fn a_silent_idle_worker_goes_stalled_then_zombie_is_restarted_with_resume_then_fails() {
    let h = fast_pm_home("hang");
    let owner = h.start_owner();
    let id = h.submit_in("fix the exporter FAKE:hang", &h.workdir());
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "failed", "{t}");
    let reason = t["reason"].as_str().unwrap();
    assert!(
        reason.contains("silent for") && reason.contains("no restarts left"),
        "{reason}"
    );
    let w = h.workers_of(&id)[0]["id"].as_str().unwrap().to_string();
    let states = entered(&h, &w);
    for s in ["late", "stalled", "zombie"] {
        assert!(
            states.contains(&s.to_string()),
            "{s} missing from {states:?}"
        );
    }
    let kills: Vec<_> = activity(&h, &w)
        .into_iter()
        .filter(|v| v["event"].as_str().unwrap().starts_with("kill"))
        .collect();
    assert_eq!(
        kills.len(),
        2,
        "attempt 1 killed and restarted, attempt 2 killed: {kills:?}"
    );
    assert_eq!(kills[0]["event"], "kill_and_restart");
    assert_eq!(kills[0]["attempt"], 1);
    assert_eq!(kills[1]["attempt"], 2);
    // Detection latency: from the moment a threshold passed (last output
    // of attempt 1 + late_after) to the recorded transition. Measured, not
    // asserted: it is reported in the README.
    let journal = std::fs::read_to_string(h.file("journal.jsonl")).unwrap();
    let started = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| {
            r["kind"] == "attempt_started" && r["worker_id"] == w.as_str() && r["attempt"] == 1
        })
        .and_then(|r| r["at"].as_str().map(str::to_string))
        .unwrap();
    let at = |s: &str| chrono_like_secs(s);
    for (state, threshold) in [("late", 1.0), ("stalled", 2.0)] {
        let line = activity(&h, &w)
            .into_iter()
            .find(|v| v["event"] == "health" && v["to"] == state && v["attempt"] == 1)
            .unwrap();
        let latency = at(line["at"].as_str().unwrap()) - (at(&started) + threshold);
        eprintln!(
            "detection latency for {state}: {:.0} ms after the threshold passed (tick 200 ms)",
            latency * 1000.0
        );
    }
    let starts = h.starts();
    assert_eq!(starts.len(), 2);
    assert!(starts[1]["args"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "--resume"));
    assert!(tagged_pids(&w).is_empty());
    let out = owner.stop();
    let printed = text(&out.stdout);
    assert!(
        printed.contains("ALERT") && printed.contains("stalled"),
        "alerts are printed: {printed}"
    );
    // Named as the app and the tray name it: the task's words first.
    let named = format!("“fix the exporter FAKE:hang” · development · {w}");
    assert!(
        printed
            .lines()
            .any(|l| l.starts_with("ALERT") && l.contains(&named)),
        "alerts name the task: {printed}"
    );
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(h.file("pm-state.json")).unwrap()).unwrap();
    assert!(
        state["metrics"]["detections"]["zombie"].as_u64().unwrap() >= 2,
        "{state}"
    );
    assert!(
        state["metrics"]["interventions"]["kill_and_restart"]
            .as_u64()
            .unwrap()
            >= 1,
        "{state}"
    );
}

#[test]
fn a_silent_worker_burning_cpu_stays_healthy() {
    let h = fast_pm_home("normal");
    let owner = h.start_owner();
    let id = h.submit_in(
        "compile the world FAKE:silent_busy FAKE_SECS:6",
        &h.workdir(),
    );
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    let w = h.workers_of(&id)[0]["id"].as_str().unwrap().to_string();
    entered_never_hung(&h, &w);
    assert_eq!(h.starts().len(), 1);
    owner.stop();
}

#[test]
fn a_worker_in_api_backoff_is_waiting_not_stalled() {
    let h = fast_pm_home("normal");
    let owner = h.start_owner();
    let id = h.submit_in(
        "call the API FAKE:rate_limited FAKE_SECS:2.5 FAKE_LINES:3",
        &h.workdir(),
    );
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    let w = h.workers_of(&id)[0]["id"].as_str().unwrap().to_string();
    let states = entered_never_hung(&h, &w);
    assert!(states.contains(&"waiting".to_string()), "{states:?}");
    owner.stop();
}

#[test]
fn a_worker_over_its_time_limit_is_warned_three_times_and_stopped_unless_extended() {
    let h = fast_pm_home("normal");
    edit_all(
        &h,
        serde_json::json!({"time_limit_secs": 4, "max_extensions": 0}),
    );
    let owner = h.start_owner();
    let slow = "long job FAKE:slow FAKE_SECS:0.5 FAKE_LINES:16";
    let a = h.submit_in(slow, &h.workdir());
    let b = h.submit_in(&format!("{slow} (extended)"), &h.workdir());
    let mut wb = String::new();
    wait_until(LIMIT, "b's worker", || {
        wb = h
            .workers_of(&b)
            .first()
            .map(|w| w["id"].as_str().unwrap().to_string())
            .unwrap_or_default();
        !wb.is_empty()
    });
    let out = h.cortex(&["extend", &wb, "1m"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ta = h.wait_task_done(&a, LIMIT);
    assert_eq!(ta["status"], "failed", "{ta}");
    assert!(
        ta["reason"].as_str().unwrap().contains("time limit"),
        "{ta}"
    );
    let wa = h.workers_of(&a)[0]["id"].as_str().unwrap().to_string();
    let alerts: Vec<String> = activity(&h, &wa)
        .iter()
        .filter(|v| v["event"] == "alert")
        .map(|v| v["message"].as_str().unwrap().to_string())
        .collect();
    for level in ["50%", "75%", "90%"] {
        assert!(
            alerts.iter().any(|m| m.starts_with(level)),
            "{level} warning missing: {alerts:?}"
        );
    }
    assert!(
        alerts.iter().any(|m| m.starts_with("timed out")),
        "{alerts:?}"
    );
    assert_eq!(
        h.wait_task_done(&b, LIMIT)["status"],
        "completed",
        "the extended one finishes"
    );
    owner.stop();
}

#[test]
fn a_worker_whose_process_dies_without_a_result_is_settled_within_a_tick() {
    let h = fast_pm_home("hang");
    edit_all(&h, serde_json::json!({"max_restarts": 0}));
    let owner = h.start_owner();
    let id = h.submit_in("will die FAKE:hang", &h.workdir());
    let mut pid = 0u32;
    wait_until(LIMIT, "worker running", || {
        pid = h
            .workers_of(&id)
            .first()
            .and_then(|w| w["pid"].as_u64())
            .unwrap_or(0) as u32;
        pid > 0
    });
    let killed_at = Instant::now();
    // SAFETY: killing the agent this test started, by pid.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    let t = h.wait_task_done(&id, Duration::from_secs(5));
    let settled = killed_at.elapsed();
    assert_eq!(t["status"], "failed", "{t}");
    assert!(t["reason"].as_str().unwrap().contains("signal 9"), "{t}");
    eprintln!("settled {settled:?} after the process died (tick 200 ms, plus the CLI's own start)");
    owner.stop();
}

#[test]
fn the_real_claude_cli_hanging_on_the_api_is_detected_killed_and_leaves_nothing() {
    let h = fast_pm_home("normal");
    let mock = MockApi::start(&h);
    h.configure(serde_json::json!({"agent": mock.agent_config(&h)}));
    edit_all(&h, serde_json::json!({"max_restarts": 0}));
    let owner = h.start_owner();
    let started = Instant::now();
    let id = h.submit_in("Refactor the cache. MOCK:hang", &h.workdir());
    let t = h.wait_task_done(&id, LIMIT);
    eprintln!("hang detected and settled after {:?}", started.elapsed());
    assert_eq!(t["status"], "failed", "{t}");
    let w = h.workers_of(&id)[0]["id"].as_str().unwrap().to_string();
    let states = entered(&h, &w);
    assert!(states.contains(&"zombie".to_string()), "{states:?}");
    assert!(
        t["reason"].as_str().unwrap().contains("no restarts left"),
        "{t}"
    );
    assert!(
        tagged_pids(&w).is_empty(),
        "no process with the tag survives"
    );
    owner.stop();
}

/// Seconds since the epoch of an RFC 3339 UTC time as written by Cortex
/// (`2026-11-23T23:55:56.549042297Z`), for measuring intervals.
fn chrono_like_secs(s: &str) -> f64 {
    let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    // Days from civil (proleptic Gregorian), enough for intervals within a run.
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + d[2];
    let frac: f64 = format!("0.{frac}").parse().unwrap();
    (days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]) as f64 + frac
}

#[test]
fn repeated_failures_of_one_expert_open_its_circuit_and_pause_it() {
    let h = fast_pm_home("crash");
    h.configure(serde_json::json!({"restart": {"circuit_failures": 2, "circuit_window_secs": 60}}));
    edit_all(&h, serde_json::json!({"max_restarts": 0}));
    let owner = h.start_owner();
    let crash = |n: u32| {
        h.json(&[
            "submit",
            &format!("crash {n} FAKE:crash"),
            "--type",
            "feature",
            "--workdir",
            h.workdir().to_str().unwrap(),
        ])
    };
    for n in 0..2 {
        let id = crash(n)["task_id"].as_str().unwrap().to_string();
        assert_eq!(h.wait_task_done(&id, LIMIT)["status"], "failed");
    }
    let held = crash(9)["task_id"].as_str().unwrap().to_string();
    let other = submit_typed(&h, "audit it FAKE:normal", "security-audit");
    assert_eq!(
        h.wait_task_done(&other, LIMIT)["status"],
        "completed",
        "other experts go on"
    );
    assert!(
        h.workers_of(&held).is_empty(),
        "development is paused: no worker for its next task"
    );
    let activity = std::fs::read_to_string(h.file("pm-activity.jsonl")).unwrap();
    assert!(activity.contains("circuit_breaker_opened"), "{activity}");
    let out = owner.stop();
    assert!(
        text(&out.stdout).contains("development is paused"),
        "{}",
        text(&out.stdout)
    );
}

/// Submits a `feature` task (development, by type) in a fresh folder.
fn submit_feature(h: &TestHome, text: &str) -> String {
    submit_typed(h, text, "feature")
}

/// Submits `text` as a task of `task_type` in the home's workdir: its id.
fn submit_typed(h: &TestHome, text: &str, task_type: &str) -> String {
    let v = h.json(&[
        "submit",
        text,
        "--type",
        task_type,
        "--workdir",
        h.workdir().to_str().unwrap(),
    ]);
    v["task_id"].as_str().unwrap().to_string()
}

#[test]
fn a_client_error_is_not_retried_and_does_not_count_against_the_expert() {
    let h = one_failure_breaker_home("normal");
    let owner = h.start_owner();
    let bad = submit_feature(&h, "a request the API refuses FAKE:client_error");
    let t = h.wait_task_done(&bad, LIMIT);
    assert_eq!(t["status"], "failed", "{t}");
    assert!(
        t["reason"].as_str().unwrap().contains("API error 400"),
        "{t}"
    );
    assert_eq!(h.starts().len(), 1, "a client error is not retried");
    let next = submit_feature(&h, "the next feature FAKE:normal");
    assert_eq!(
        h.wait_task_done(&next, LIMIT)["status"],
        "completed",
        "a client error does not open the breaker"
    );
    let status = h.json(&["status"]);
    assert_eq!(status["paused_experts"], serde_json::json!([]), "{status}");
    owner.stop();
}

/// A running owner whose development breaker a first crash opened (one
/// failure opens it, no restarts): the home, the owner, the crashed task.
fn breaker_opened_by_a_crash(resume_mode: &str) -> (TestHome, crate::util::OwnedChild, String) {
    let h = one_failure_breaker_home(resume_mode);
    edit_all(&h, serde_json::json!({"max_restarts": 0}));
    let owner = h.start_owner();
    let crash = submit_feature(&h, "a crash FAKE:crash");
    assert_eq!(h.wait_task_done(&crash, LIMIT)["status"], "failed");
    (h, owner, crash)
}

#[test]
fn an_open_circuit_breaker_is_shown_on_the_waiting_task_and_in_status_and_resume_closes_it() {
    let (h, owner, _) = breaker_opened_by_a_crash("crash");
    let held = submit_feature(&h, "held by the breaker FAKE:normal");
    let mut t = serde_json::Value::Null;
    wait_until(LIMIT, "the held task to say why it waits", || {
        t = h.task(&held);
        t["status"] == "waiting"
    });
    assert!(
        t["reason"]
            .as_str()
            .unwrap()
            .starts_with("expert development paused by circuit breaker until "),
        "{t}"
    );
    let status = h.json(&["status"]);
    assert_eq!(
        status["paused_experts"][0]["expert"], "development",
        "{status}"
    );
    let out = h.cortex(&["status"]);
    assert!(
        text(&out.stdout).contains("paused:  development by its circuit breaker until"),
        "{}",
        text(&out.stdout)
    );
    let tasks = text(&h.cortex(&["tasks"]).stdout);
    assert!(
        tasks.contains("waiting: expert development paused"),
        "{tasks}"
    );
    let closed = h.json(&["resume", "development"]);
    assert_eq!(closed["was_open"], true, "{closed}");
    let t = h.wait_task_done(&held, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    assert_eq!(h.json(&["status"])["paused_experts"], serde_json::json!([]));
    let again = h.json(&["resume", "development"]);
    assert_eq!(again["was_open"], false, "{again}");
    let unknown = h.cortex(&["resume", "nobody"]);
    assert_eq!(unknown.status.code(), Some(2));
    let activity = std::fs::read_to_string(h.file("pm-activity.jsonl")).unwrap();
    assert!(activity.contains("circuit_breaker_closed"), "{activity}");
    owner.stop();
}

#[test]
fn a_restart_due_while_the_experts_circuit_breaker_is_open_waits_until_it_closes() {
    // The first crash opens the breaker; the restart that follows it (due
    // at once after a first crash) must not start while development is
    // paused, and must say so wherever the worker is shown.
    let h = one_failure_breaker_home("normal");
    let owner = h.start_owner();
    let id = submit_feature(&h, "a crash, then a resume FAKE:crash");
    let mut w = serde_json::Value::Null;
    wait_until(
        LIMIT,
        "the restart to be held by the circuit breaker",
        || {
            w = h.workers_of(&id).first().cloned().unwrap_or_default();
            w["waiting_for"]["kind"] == "circuit"
        },
    );
    assert_eq!(w["state"], "waiting", "{w}");
    assert!(w["waiting_for"]["until"].is_string(), "{w}");
    let reason = w["reason"].as_str().unwrap();
    assert!(
        reason.contains("restart 1 of 1; held: expert development paused by circuit breaker until"),
        "{reason}"
    );
    assert_eq!(
        h.starts().len(),
        1,
        "no second attempt while the breaker is open"
    );
    let table = text(&h.cortex(&["workers"]).stdout);
    assert!(table.contains("held: expert development paused"), "{table}");
    let closed = h.json(&["resume", "development"]);
    assert_eq!(closed["was_open"], true, "{closed}");
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    assert_eq!(
        h.starts().len(),
        2,
        "the held restart ran once the breaker closed"
    );
    let told = h.starts()[1]["prompt"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        !told.contains("held") && !told.contains("cortex resume"),
        "the agent is told why it restarts, not about the breaker: {told}"
    );
    owner.stop();
}

#[test]
fn a_restart_held_by_the_breaker_keeps_no_place_in_the_capacity() {
    let h = one_failure_breaker_home("normal");
    h.configure(serde_json::json!({"capacity": {"max_workers": 1}}));
    let owner = h.start_owner();
    let crashed = submit_feature(&h, "a crash, then a resume FAKE:crash");
    wait_until(LIMIT, "the restart held by the breaker", || {
        worker_of(&h, &crashed)["waiting_for"]["kind"] == "circuit"
    });
    // The one place is free: another expert's task runs meanwhile.
    let audit = submit_typed(&h, "audit it FAKE:normal", "security-audit");
    let t = h.wait_task_done(&audit, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    owner.stop();
}

#[test]
fn a_persons_reply_to_a_worker_of_a_paused_expert_is_not_held() {
    let (h, owner, id) = breaker_opened_by_a_crash("normal");
    assert_eq!(
        h.json(&["status"])["paused_experts"][0]["expert"],
        "development"
    );
    let w = worker_of(&h, &id)["id"].as_str().unwrap().to_string();
    let out = h.cortex(&["reply", &w, "go on FAKE:normal"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    assert_eq!(h.starts().len(), 2);
    owner.stop();
}

#[test]
fn a_nudge_resumes_the_conversation_with_the_message_and_is_recorded() {
    let h = fast_pm_home("normal");
    edit_all(&h, serde_json::json!({"time_limit_secs": 600}));
    h.configure(serde_json::json!({"pm": {"late_after_secs": 30, "stalled_after_secs": 60, "zombie_after_secs": 90}}));
    let owner = h.start_owner();
    let id = h.submit_in("long task FAKE:hang", &h.workdir());
    let w = h.wait_running_worker(&id, LIMIT);
    let out = h.cortex(&["nudge", &w, "please finish with a summary"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(h.wait_task_done(&id, LIMIT)["status"], "completed");
    let starts = h.starts();
    let args: Vec<String> = starts[1]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(starts[1]["prompt"], "please finish with a summary");
    assert!(!args.iter().any(|a| a.contains("finish with a summary")));
    assert!(args.contains(&"--resume".to_string()));
    assert!(
        activity(&h, &w).iter().any(|v| v["event"] == "nudge"),
        "recorded"
    );
    // The stopped attempt says a person nudged it, not that one restarted it.
    let shown = text(&h.cortex(&["show", &id]).stdout);
    assert!(
        shown.contains("attempt 1 killed (nudged by a person)"),
        "{shown}"
    );
    // The transcript heads each attempt and says how each ended.
    let logs = text(&h.cortex(&["logs", &w]).stdout);
    let marks: Vec<&str> = logs
        .lines()
        .filter(|l| l.starts_with("── attempt"))
        .collect();
    assert_eq!(
        marks,
        vec![
            "── attempt 1",
            "── attempt 1 ended: killed (nudged by a person)",
            "── attempt 2",
            "── attempt 2 ended: success",
        ],
        "{logs}"
    );
    owner.stop();
}

#[test]
fn a_stalled_worker_reading_stdin_is_nudged_through_it_and_recovers_without_a_restart() {
    let h = fast_pm_home("normal");
    h.configure(serde_json::json!({
        "agent": {"env": {"FAKE_AGENT_MODE": "stdin_echo"}},
        "pm": {"nudge_on_stall": true, "zombie_after_secs": 30}
    }));
    let owner = h.start_owner();
    let id = h.submit_in("investigate the slow query FAKE:stall", &h.workdir());
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    let w = h.workers_of(&id)[0]["id"].as_str().unwrap().to_string();
    let states = entered(&h, &w);
    assert!(states.contains(&"stalled".to_string()), "{states:?}");
    assert!(
        activity(&h, &w).iter().any(|v| v["event"] == "nudge"),
        "the nudge is recorded"
    );
    let starts = h.starts();
    assert_eq!(starts.len(), 1, "nudged, not restarted");
    let args: Vec<&str> = starts[0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.windows(2)
            .any(|p| p == ["--input-format", "stream-json"]),
        "{args:?}"
    );
    assert!(
        !args.contains(&"investigate the slow query FAKE:stall"),
        "the prompt goes through stdin, not argv"
    );
    let logs = text(&h.cortex(&["logs", &w]).stdout);
    assert!(
        logs.contains("nudged: investigate the slow query"),
        "the prompt arrived on stdin: {logs}"
    );
    assert!(
        logs.contains("nudged: You seem to be stuck"),
        "the PM's nudge arrived on stdin: {logs}"
    );
    owner.stop();
}

#[test]
fn a_person_nudges_a_running_stdin_worker_without_restarting_it() {
    let h = fast_pm_home("normal");
    h.configure(serde_json::json!({
        "agent": {"env": {"FAKE_AGENT_MODE": "stdin_echo"}},
        "pm": {"nudge_on_stall": true, "late_after_secs": 30, "stalled_after_secs": 60, "zombie_after_secs": 90}
    }));
    let owner = h.start_owner();
    let id = h.submit_in("wait for me FAKE:stall", &h.workdir());
    let w = h.wait_running_worker(&id, LIMIT);
    let out = h.cortex(&["nudge", &w, "here is the missing detail"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(h.wait_task_done(&id, LIMIT)["status"], "completed");
    assert_eq!(h.starts().len(), 1);
    let logs = text(&h.cortex(&["logs", &w]).stdout);
    assert!(
        logs.contains("nudged: here is the missing detail"),
        "{logs}"
    );
    owner.stop();
}
