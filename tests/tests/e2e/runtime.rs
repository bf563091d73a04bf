//! The worker runtime against the fake agent: every way a worker can end,
//! stops that leave nothing behind, re-adoption after the engine is killed.

use std::time::Duration;

use crate::util::{pid_running, tagged_pids, text, wait_until, worker_of, TestHome};

const LIMIT: Duration = Duration::from_secs(40);

fn started_home() -> (TestHome, crate::util::OwnedChild) {
    started_home_resuming_as("normal")
}

/// `mode`: how a resumed attempt behaves (the resume prompt carries no
/// mode token of its own).
fn started_home_resuming_as(mode: &str) -> (TestHome, crate::util::OwnedChild) {
    let h = TestHome::new();
    h.use_fake_agent();
    h.configure(serde_json::json!({"agent": {"env": {"FAKE_AGENT_RESUME_MODE": mode}}}));
    let owner = h.start_owner();
    (h, owner)
}

#[test]
fn a_normal_worker_completes_with_its_file_tokens_and_cost() {
    let (h, owner) = started_home();
    // The owner keeps capacity.max_workers (8 here) attempt folders ready.
    let spare = h.file("workers/.spare");
    let ready = || -> std::collections::BTreeSet<String> {
        std::fs::read_dir(&spare).map_or_else(
            |_| Default::default(),
            |d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("s-"))
                    .collect()
            },
        )
    };
    wait_until(LIMIT, "8 attempt folders ready", || ready().len() == 8);
    let before = ready();
    let wd = h.workdir();
    let id = h.submit_in("implement the login endpoint FAKE:normal", &wd);
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    assert_eq!(
        std::fs::read_to_string(wd.join("fake-out.txt")).unwrap(),
        "implement the login endpoint FAKE:normal"
    );
    let w = &h.workers_of(&id)[0];
    assert_eq!(w["state"], "completed");
    assert!(w["cost_usd"].as_f64().unwrap() > 0.0, "{w}");
    assert!(w["tokens"]["input"].as_u64().unwrap() > 0, "{w}");
    assert!(
        w["session_id"].as_str().is_some_and(|s| s.len() == 36),
        "{w}"
    );
    assert!(
        t["cost_usd"].as_f64().unwrap() > 0.0,
        "summed per task: {t}"
    );
    // The agent got the task, its tags, and the hook settings.
    let start = &h.starts()[0];
    let args: Vec<&str> = start["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    // The task reaches the agent on stdin, never in its argv.
    assert!(args.contains(&"-p"));
    assert!(
        !args.iter().any(|a| a.contains("login endpoint")),
        "{args:?}"
    );
    assert_eq!(start["prompt"], "implement the login endpoint FAKE:normal");
    assert!(args.contains(&"--settings") && args.contains(&"--append-system-prompt"));
    assert_eq!(start["env_worker"], w["id"]);
    assert_eq!(start["env_attempt"], "1");
    let logs = h.cortex(&["logs", w["id"].as_str().unwrap()]);
    assert!(
        text(&logs.stdout).contains("→ Bash"),
        "{}",
        text(&logs.stdout)
    );
    // The attempt's folder: its output, and what ran for people to read.
    let attempt = h.file(&format!("workers/{}/attempt-1", w["id"].as_str().unwrap()));
    assert!(std::fs::read_to_string(attempt.join("stdout.jsonl"))
        .unwrap()
        .contains("\"type\":\"result\""));
    assert!(attempt.join("stderr.log").is_file());
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(attempt.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["prompt"], "implement the login endpoint FAKE:normal");
    assert_eq!(meta["pid"], start["pid"], "{meta}");
    // The worker took a ready folder, and another was made in its place.
    wait_until(LIMIT, "a used attempt folder replaced", || {
        let now = ready();
        now.len() == 8 && now.difference(&before).count() == 1
    });
    owner.stop();
}

#[test]
fn a_crashing_worker_is_retried_with_resume_then_fails_with_the_reason() {
    let (h, owner) = started_home_resuming_as("crash");
    let id = h.submit_in("fix the parser FAKE:crash", &h.workdir());
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "failed", "{t}");
    let reason = t["reason"].as_str().unwrap();
    assert!(
        reason.contains("exited with 3") && reason.contains("no restarts left"),
        "{reason}"
    );
    let starts = h.starts();
    assert_eq!(starts.len(), 3, "1 attempt + max_restarts (2)");
    let session = |s: &serde_json::Value, flag: &str| {
        let a: Vec<String> = s["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect();
        a.iter().position(|x| x == flag).map(|i| a[i + 1].clone())
    };
    let first = session(&starts[0], "--session-id").expect("first attempt has a session id");
    assert_eq!(
        session(&starts[1], "--resume"),
        Some(first.clone()),
        "restarts resume the conversation"
    );
    assert_eq!(session(&starts[2], "--resume"), Some(first));
    assert_eq!(starts[2]["env_attempt"], "3");
    // No crashed attempt gave the agent's own cost: `show` marks each
    // attempt's figure, its worker's and the task's as Cortex's estimate, as
    // `cortex workers` does.
    let story = h.json(&["show", &id]);
    let attempts = story["workers"][0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{story}");
    assert!(
        attempts.iter().all(|a| a["cost_estimated"] == true),
        "{story}"
    );
    assert_eq!(story["workers"][0]["cost_estimated"], true, "{story}");
    assert_eq!(story["cost_estimated"], true, "{story}");
    let plain = String::from_utf8_lossy(&h.cortex(&["show", &id]).stdout).into_owned();
    assert!(plain.contains("(est.), tokens"), "{plain}");
    owner.stop();
}

#[test]
fn a_first_crash_is_restarted_at_once_and_a_second_waits_for_the_backoff() {
    let h = TestHome::new();
    h.use_fake_agent();
    // Ten minutes of backoff: within this test's limit a crashed worker
    // runs again only if its first restart does not wait for it.
    h.configure(serde_json::json!({
        "restart": {"backoff_base_secs": 600, "backoff_max_secs": 600},
        "agent": {"env": {"FAKE_AGENT_RESUME_MODE": "crash"}}
    }));
    let owner = h.start_owner();
    let id = h.submit_in("fix the parser FAKE:crash", &h.workdir());
    let mut worker = serde_json::Value::Null;
    wait_until(LIMIT, "the resumed attempt to crash too", || {
        worker = h.workers_of(&id).first().cloned().unwrap_or_default();
        worker["state"] == "waiting" && worker["attempt"] == 2
    });
    let reason = worker["reason"].as_str().unwrap_or_default();
    // The reason says which restart; when it is due is `waiting_for`, not
    // words that would be untrue a second later.
    assert!(
        reason.ends_with("restart 2 of 2"),
        "the second restart backs off: {worker}"
    );
    let until = worker["waiting_for"]["until"].as_str().unwrap_or_default();
    let until = chrono::DateTime::parse_from_rfc3339(until).expect("a due time");
    assert!(
        until.to_utc() > chrono::Utc::now() + chrono::Duration::seconds(500),
        "the second restart backs off 600 s: {worker}"
    );
    assert_eq!(h.starts().len(), 2, "no third start during the backoff");
    let journal = std::fs::read_to_string(h.file("journal.jsonl")).unwrap();
    let first_wait: serde_json::Value = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| {
            r["reason"]
                .as_str()
                .is_some_and(|t| t.ends_with("restart 1 of 2"))
        })
        .expect("the first restart's wait in the journal");
    assert_eq!(
        first_wait["not_before"], first_wait["at"],
        "the first restart was due at once: {first_wait}"
    );
    let row = |h: &TestHome| {
        text(&h.cortex(&["workers"]).stdout)
            .lines()
            .find(|l| l.contains("restart 2 of 2"))
            .unwrap_or_default()
            .to_string()
    };
    assert!(row(&h).contains("restart 2 of 2; due at "), "{}", row(&h));
    owner.stop();
    assert!(
        row(&h).contains("restart 2 of 2; starts once an owner runs"),
        "{}",
        row(&h)
    );
}

#[test]
fn slow_start_flood_rate_limit_and_error_results_end_honestly() {
    let (h, owner) = started_home();
    let cases = [
        ("warm up slowly FAKE:slow_start FAKE_SECS:2", "completed"),
        ("print a lot FAKE:flood FAKE_LINES:20000", "completed"),
        (
            "call a busy API FAKE:rate_limited FAKE_SECS:0.3",
            "completed",
        ),
        ("loop forever FAKE:max_turns", "failed"),
    ];
    let ids: Vec<(String, &str)> = cases
        .iter()
        .map(|(t, want)| (h.submit_in(t, &h.workdir()), *want))
        .collect();
    for (id, want) in &ids {
        let t = h.wait_task_done(id, LIMIT);
        assert_eq!(t["status"], *want, "{t}");
    }
    let flood = &h.workers_of(&ids[1].0)[0];
    assert_eq!(
        flood["tokens"]["input"].as_u64(),
        Some(100 * 20_000),
        "every one of the 20,000 messages counted: {flood}"
    );
    let turns = h.task(&ids[3].0);
    assert!(
        turns["reason"]
            .as_str()
            .unwrap()
            .contains("maximum number of turns"),
        "{turns}"
    );
    assert_eq!(
        h.workers_of(&ids[3].0)[0]["restarts"],
        0,
        "max turns is not retried"
    );
    owner.stop();
}

#[test]
fn an_api_error_is_retried_and_a_recovered_retry_completes() {
    let (h, owner) = started_home_resuming_as("error_result");
    let id = h.submit_in("hit a bad API FAKE:error_result", &h.workdir());
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "failed", "{t}");
    assert!(
        t["reason"].as_str().unwrap().contains("API error 500"),
        "{t}"
    );
    assert_eq!(h.starts().len(), 3, "transient: retried up to max_restarts");
    owner.stop();

    // The same failure that clears up on the retry ends well.
    let (h, owner) = started_home_resuming_as("normal");
    let id = h.submit_in("hit a flaky API FAKE:error_result", &h.workdir());
    assert_eq!(h.wait_task_done(&id, LIMIT)["status"], "completed");
    let w = &h.workers_of(&id)[0];
    assert_eq!(w["attempt"], 2, "{w}");
    owner.stop();
}

#[test]
fn killing_a_worker_that_ignores_sigterm_and_hides_a_grandchild_leaves_no_process() {
    let (h, owner) = started_home();
    let a = h.submit_in("stubborn FAKE:ignore_sigterm", &h.workdir());
    let b = h.submit_in("escape artist FAKE:grandchild", &h.workdir());
    let mut grandchild = 0u32;
    wait_until(
        LIMIT,
        "both workers running, the grandchild started",
        || {
            let ws = h.workers();
            let running = ws.iter().filter(|w| w["state"] == "running").count() == 2;
            if let Some(w) = ws.iter().find(|w| w["task_id"] == b.as_str()) {
                let err = std::fs::read_to_string(h.file(&format!(
                    "workers/{}/attempt-1/stderr.log",
                    w["id"].as_str().unwrap()
                )))
                .unwrap_or_default();
                if let Some(pid) = err
                    .split("grandchild pid ")
                    .nth(1)
                    .and_then(|s| s.split_whitespace().next())
                {
                    grandchild = pid.parse().unwrap_or(0);
                }
            }
            running && grandchild > 0
        },
    );
    assert!(pid_running(grandchild));
    for task in [&a, &b] {
        let w = h.workers_of(task)[0]["id"].as_str().unwrap().to_string();
        assert!(!tagged_pids(&w).is_empty());
        let out = h.cortex(&["kill", &w]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let t = h.wait_task_done(task, LIMIT);
        assert_eq!(t["status"], "cancelled", "{t}");
        assert!(
            tagged_pids(&w).is_empty(),
            "no process with the tag of {w} may survive"
        );
    }
    assert!(
        !pid_running(grandchild),
        "the grandchild in its own session was swept"
    );
    owner.stop();
}

#[test]
fn a_missing_agent_binary_fails_the_attempt_at_once_with_a_clear_reason() {
    let (h, owner) = started_home();
    h.configure(serde_json::json!({"agent": {"command": ["/nonexistent/claude"]}}));
    owner.stop();
    let owner = h.start_owner();
    let id = h.submit_in("anything", &h.workdir());
    let started = std::time::Instant::now();
    let t = h.wait_task_done(&id, Duration::from_secs(5));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "failed within a second or so, never stuck pending"
    );
    assert_eq!(t["status"], "failed");
    let reason = t["reason"].as_str().unwrap();
    assert!(
        reason.contains("`/nonexistent/claude` does not exist"),
        "{reason}"
    );
    // Its empty transcript says why, and its story claims no changes.
    let w = h.workers_of(&id)[0]["id"].as_str().unwrap().to_string();
    let logs = text(&h.cortex(&["logs", &w]).stdout);
    assert!(
        logs.starts_with(
            "── no output: failed: agent command: `/nonexistent/claude` does not exist"
        ),
        "{logs}"
    );
    let story = h.json(&["show", &id]);
    assert_eq!(
        story["workers"][0]["changes"]["message"], "its agent never started, so it changed nothing",
        "{story}"
    );
    owner.stop();
}

#[test]
fn an_engine_killed_with_three_running_workers_re_adopts_them_and_records_each_once() {
    let (h, owner) = started_home();
    let ids: Vec<String> = (0..3)
        .map(|i| {
            h.submit_in(
                &format!("slow job {i} FAKE:slow FAKE_SECS:1 FAKE_LINES:4"),
                &h.workdir(),
            )
        })
        .collect();
    wait_until(LIMIT, "three workers running", || {
        h.workers()
            .iter()
            .filter(|w| w["state"] == "running")
            .count()
            == 3
    });
    owner.kill();
    let owner = h.start_owner();
    for id in &ids {
        let t = h.wait_task_done(id, LIMIT);
        assert_eq!(t["status"], "completed", "{t}");
        let ws = h.workers_of(id);
        assert_eq!(ws.len(), 1, "one worker per task");
        assert_eq!(ws[0]["attempt"], 1, "not started twice");
        assert!(
            ws[0]["cost_usd"].as_f64().unwrap() > 0.0,
            "result recorded: {}",
            ws[0]
        );
    }
    assert_eq!(h.starts().len(), 3, "no agent started twice");
    let out = owner.stop();
    assert!(
        text(&out.stderr).contains("re-adopted a running worker"),
        "{}",
        text(&out.stderr)
    );
}

/// A task whose agent is killed after its owner was: its id and worker.
fn died_unwatched(
    h: &TestHome,
    owner: crate::util::OwnedChild,
    text: &str,
) -> (String, serde_json::Value) {
    let id = h.submit_in(text, &h.workdir());
    wait_until(LIMIT, "worker running", || {
        h.workers().iter().any(|w| w["state"] == "running")
    });
    owner.kill();
    let w = h.workers_of(&id)[0].clone();
    let pid = w["pid"].as_u64().unwrap() as u32;
    // SAFETY: killing the test's own agent process by pid.
    unsafe {
        libc::kill(pid as i32, libc::SIGKILL);
    }
    wait_until(LIMIT, "agent gone", || !pid_running(pid));
    (id, w)
}

#[test]
fn a_worker_that_died_while_no_engine_watched_is_settled_as_lost() {
    // The restart hangs, so that only settling attempt 1 can sweep.
    let (h, owner) = started_home_resuming_as("hang");
    let (_, w) = died_unwatched(&h, owner, "will be orphaned FAKE:hang");
    // A replacement the dead owner started but never recorded: the worker's
    // tag is how the next owner knows it.
    let mut unrecorded = std::process::Command::new("sleep")
        .arg("600")
        .env("CORTEX_WORKER_ID", w["id"].as_str().unwrap())
        .env("CORTEX_HOME", h.path())
        .spawn()
        .unwrap();
    let owner = h.start_owner();
    wait_until(LIMIT, "the unrecorded process swept", || {
        unrecorded.try_wait().unwrap().is_some()
    });
    // Settled as lost; its first restart is immediate, so the worker may
    // already be running (or done) again: the journal says how attempt 1 ended.
    let lost = || {
        std::fs::read_to_string(h.file("journal.jsonl"))
            .unwrap_or_default()
            .lines()
            .find(|l| l.contains(r#""kind":"attempt_ended""#) && l.contains(r#""attempt":1,"#))
            .map(str::to_string)
    };
    wait_until(LIMIT, "attempt 1 settled", || lost().is_some());
    let line = lost().unwrap_or_default();
    assert!(
        line.contains(r#""kind":"lost""#) && line.contains("no result line"),
        "{line}"
    );
    owner.stop();
}

#[test]
fn an_attempt_that_died_unwatched_counts_until_its_last_sign_of_life_not_until_found() {
    // The restart takes about 5 s of an 8 s limit.
    let (h, owner) = started_home_resuming_as("slow");
    h.edit_all_experts(serde_json::json!({"time_limit_secs": 8, "max_extensions": 0}));
    let (id, _) = died_unwatched(&h, owner, "will die unwatched FAKE:hang");
    // Nobody watches while the worker's time limit passes.
    let passed = std::time::Instant::now() + Duration::from_secs(9);
    wait_until(LIMIT, "its time limit passed", || {
        std::time::Instant::now() >= passed
    });
    let owner = h.start_owner();
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(
        t["status"], "completed",
        "the restart was not charged the unwatched time: {t}"
    );
    let s = h.json(&["show", &id]);
    let first = &s["workers"][0]["attempts"][0];
    assert_eq!(first["outcome"], "lost", "{s}");
    assert!(first["duration_secs"].as_f64().unwrap() < 3.0, "{first}");
    owner.stop();
}

#[test]
fn a_live_worker_no_owner_watches_reads_unwatched_not_the_last_owners_verdict() {
    let (h, owner) = started_home_resuming_as("hang");
    let id = h.submit_in("left alone FAKE:hang", &h.workdir());
    wait_until(LIMIT, "the owner's verdict on the running worker", || {
        let w = worker_of(&h, &id);
        w["state"] == "running" && w["health"] == "healthy"
    });
    owner.kill();
    // pm-state.json still says "healthy": that was the dead owner's word.
    let w = worker_of(&h, &id);
    assert_eq!(w["health"], "unwatched", "{w}");
    let reason = w["health_reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("no owner watches it: nothing judges its health")
            && reason.contains("last sign of life:"),
        "{w}"
    );
    let status = h.json(&["status"]);
    assert_eq!(status["health"]["unwatched"], 1, "{status}");
    assert!(status["owner"].is_null(), "{status}");
    let owner = h.start_owner();
    wait_until(LIMIT, "the next owner to judge it again", || {
        let w = worker_of(&h, &id);
        w["state"] == "running" && w["health"] != "unwatched"
    });
    owner.stop();
}

#[test]
fn pause_stops_new_workers_and_resume_starts_them() {
    let (h, owner) = started_home();
    assert_eq!(text(&h.cortex(&["pause"]).stdout).trim(), "spawning paused");
    // Twice: the second says it changed nothing.
    assert_eq!(
        text(&h.cortex(&["pause"]).stdout).trim(),
        "spawning was already paused: nothing changed"
    );
    let id = h.submit_in("wait for resume FAKE:normal", &h.workdir());
    std::thread::sleep(Duration::from_millis(600));
    assert!(h.workers_of(&id).is_empty(), "no worker while paused");
    // `cortex status` says why nothing starts, as the app's badge does.
    assert_eq!(h.json(&["status"])["spawning_paused"], true);
    let said = text(&h.cortex(&["status"]).stdout);
    assert!(
        said.contains("paused:  spawning, by a person: no new worker starts until `cortex resume`"),
        "{said}"
    );
    assert!(h.cortex(&["resume"]).status.success());
    assert_eq!(h.wait_task_done(&id, LIMIT)["status"], "completed");
    assert_eq!(h.json(&["status"])["spawning_paused"], false);
    owner.stop();
}

#[test]
fn a_multi_expert_task_runs_one_worker_per_expert_under_one_task() {
    let (h, owner) = started_home();
    let id = h.submit_in(
        "security audit of the new payment flow and document the findings",
        &h.workdir(),
    );
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["routing"]["strategy"], "multi_expert_parallel", "{t}");
    assert_eq!(t["status"], "completed", "{t}");
    let mut experts: Vec<String> = h
        .workers_of(&id)
        .iter()
        .map(|w| w["expert"].as_str().unwrap().to_string())
        .collect();
    experts.sort();
    assert_eq!(experts, vec!["inventory", "security"]);
    assert_eq!(h.starts().len(), 2);
    let decisions = std::fs::read_to_string(h.file("routing-decisions.jsonl")).unwrap();
    assert!(
        decisions.contains("\"multi_expert_parallel\""),
        "{decisions}"
    );
    owner.stop();
}

/// A git repository with one commit, in a fresh folder.
fn git_repo(h: &TestHome) -> (std::path::PathBuf, impl Fn(&[&str]) -> String) {
    let repo = h.workdir();
    let dir = repo.clone();
    let git = move |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&dir)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    git(&["init", "-q"]);
    git(&[
        "-c",
        "user.email=t@example.invalid",
        "-c",
        "user.name=t",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "start",
    ]);
    (repo, git)
}

#[test]
fn a_worktree_task_runs_on_its_own_branch_and_the_worktree_is_kept() {
    let (h, owner) = started_home();
    let (repo, git) = git_repo(&h);
    let v = h.json(&[
        "submit",
        "implement it in isolation FAKE:normal",
        "--workdir",
        repo.to_str().unwrap(),
        "--worktree",
    ]);
    let id = v["task_id"].as_str().unwrap().to_string();
    assert_eq!(h.wait_task_done(&id, LIMIT)["status"], "completed");
    let w = &h.workers_of(&id)[0];
    let name = format!("{id}-{}", w["expert"].as_str().unwrap());
    let wt = h.file(&format!("worktrees/{name}"));
    assert!(
        wt.join("fake-out.txt").exists(),
        "the agent worked in the worktree"
    );
    assert!(
        !repo.join("fake-out.txt").exists(),
        "not in the original checkout"
    );
    assert!(
        git(&["branch", "--list", &format!("cortex/{name}")]).contains(&format!("cortex/{name}"))
    );
    assert_eq!(w["workdir"], wt.display().to_string());
    owner.stop();
}

#[test]
fn worktree_on_a_folder_that_is_not_a_repository_is_refused_at_submit() {
    let (h, owner) = started_home();
    let plain = h.workdir();
    let out = h.cortex(&[
        "submit",
        "no repo here FAKE:normal",
        "--workdir",
        plain.to_str().unwrap(),
        "--worktree",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("needs a git repository")
            && text(&out.stderr).contains("is not a git repository"),
        "{}",
        text(&out.stderr)
    );
    // A repository with no commit yet is said to be one.
    let empty = h.workdir();
    let init = std::process::Command::new("git")
        .arg("-C")
        .arg(&empty)
        .args(["init", "-q"])
        .status()
        .unwrap();
    assert!(init.success());
    let out = h.cortex(&[
        "submit",
        "empty repo FAKE:normal",
        "--workdir",
        empty.to_str().unwrap(),
        "--worktree",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("is a git repository whose checked-out branch has no commit yet"),
        "{}",
        text(&out.stderr)
    );
    assert!(h.tasks().is_empty(), "nothing was queued");
    owner.stop();
}

#[test]
fn two_experts_on_one_worktree_task_get_a_worktree_and_branch_each() {
    let (h, owner) = started_home();
    let (repo, git) = git_repo(&h);
    let v = h.json(&[
        "submit",
        "security audit of the new payment flow and document the findings",
        "--workdir",
        repo.to_str().unwrap(),
        "--worktree",
    ]);
    let id = v["task_id"].as_str().unwrap().to_string();
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["routing"]["strategy"], "multi_expert_parallel", "{t}");
    assert_eq!(t["status"], "completed", "{t}");
    let branches = git(&["branch", "--list", "cortex/*"]);
    for expert in ["inventory", "security"] {
        let name = format!("{id}-{expert}");
        assert!(branches.contains(&format!("cortex/{name}")), "{branches}");
        assert!(
            h.file(&format!("worktrees/{name}"))
                .join("fake-out.txt")
                .exists(),
            "{expert} worked in its own worktree"
        );
    }
    owner.stop();
}

#[test]
fn kill_answers_stopping_then_the_final_state_and_an_ended_worker_says_what_is_possible() {
    let (h, owner) = started_home();
    let id = h.submit_in("implement the login endpoint FAKE:hang", &h.workdir());
    let w = h.wait_running_worker(&id, LIMIT);
    let out = h.cortex(&["kill", &w, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", text(&out.stdout));
    assert_eq!(lines[0]["state"], "stopping", "{}", lines[0]);
    assert_eq!(lines[1]["state"], "cancelled", "{}", lines[1]);
    for (args, action) in [
        (vec!["restart", w.as_str()], "restart"),
        (vec!["extend", w.as_str(), "--minutes", "5"], "extend"),
        (vec!["nudge", w.as_str(), "go on"], "nudge"),
        (vec!["kill", w.as_str()], "kill"),
    ] {
        let out = h.cortex(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!(
                "worker {w} already ended (cancelled): there is nothing to {action}"
            )) && err.contains("cortex logs")
                && err.contains(&format!(
                    "`cortex reply {w} TEXT` goes on with its conversation"
                )),
            "{args:?}: {err}"
        );
    }
    // What it points to works: the reply goes on with the conversation.
    let out = h.cortex(&["reply", &w, "go on FAKE:normal"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    owner.stop();
}

#[test]
fn reroute_of_a_started_task_says_it_was_not_moved() {
    let (h, owner) = started_home();
    let id = h.submit_in("implement the login endpoint FAKE:hang", &h.workdir());
    let w = h.wait_running_worker(&id, LIMIT);
    let v = h.json(&["reroute", &id, "security"]);
    assert_eq!(v["applied"], false, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("already started"),
        "{v}"
    );
    // The same correction again: said as changing nothing, not learned twice.
    let examples = std::fs::read_to_string(h.file("router-examples.jsonl")).unwrap();
    let out = h.cortex(&["reroute", &id, "security"]);
    assert!(
        text(&out.stdout).contains("was corrected to security already: nothing changed"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(
        std::fs::read_to_string(h.file("router-examples.jsonl")).unwrap(),
        examples
    );
    assert!(h.cortex(&["kill", &w]).status.success());
    owner.stop();
}

#[test]
fn a_duplicate_with_a_more_urgent_priority_raises_it_and_says_so() {
    let h = TestHome::new();
    let wd = h.workdir();
    let dir = wd.to_str().unwrap();
    let text_of = "implement the export endpoint";
    let first = h.json(&["submit", text_of, "--workdir", dir, "--priority", "low"]);
    let id = first["task_id"].as_str().unwrap();
    let again = h.json(&["submit", text_of, "--workdir", dir, "--priority", "high"]);
    assert_eq!(again["task_id"], id);
    assert_eq!(again["deduplicated"], true);
    assert_eq!(again["priority_raised_from"], "low", "{again}");
    assert_eq!(again["priority"], "high", "{again}");
    assert_eq!(h.task(id)["priority"], "high");
    let out = h.cortex(&[
        "submit",
        text_of,
        "--workdir",
        dir,
        "--priority",
        "critical",
    ]);
    assert!(
        text(&out.stdout).contains("priority raised from high to critical"),
        "{}",
        text(&out.stdout)
    );
    let lower = h.json(&["submit", text_of, "--workdir", dir, "--priority", "low"]);
    assert!(lower.get("priority_raised_from").is_none(), "{lower}");
    assert_eq!(h.task(id)["priority"], "critical", "never lowered");
}

#[test]
fn a_daemon_that_double_forked_and_cleared_its_environment_is_killed_with_its_attempt() {
    let (h, owner) = started_home();
    wait_until(LIMIT, "the owner to say how it finds processes", || {
        owner.stderr_so_far().contains("processes are found by")
    });
    if !owner.stderr_so_far().contains("found by cgroup") {
        eprintln!(
            "SKIPPED: no writable cgroup here, only the tag sweep (which cannot find such a daemon): {}",
            owner.stderr_so_far()
        );
        return;
    }
    let task = h.submit_in("start the server FAKE:daemon", &h.workdir());
    let w = h.wait_running_worker(&task, LIMIT);
    let mut daemon = 0u32;
    wait_until(LIMIT, "the daemon started", || {
        let err = std::fs::read_to_string(h.file(&format!("workers/{w}/attempt-1/stderr.log")))
            .unwrap_or_default();
        daemon = err
            .split("daemon pid ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        daemon > 0
    });
    assert!(pid_running(daemon));
    assert!(
        !tagged_pids(&w).contains(&daemon),
        "the daemon carries no tag"
    );
    let out = h.cortex(&["kill", &w]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(h.wait_task_done(&task, LIMIT)["status"], "cancelled");
    wait_until(LIMIT, "the daemon killed with its attempt", || {
        !pid_running(daemon)
    });
    owner.stop();
}

#[test]
fn logs_follow_heads_the_first_attempt_when_a_second_comes_later() {
    let (h, owner) = started_home_resuming_as("normal");
    // Attempt 1 hangs until killed by a restart; attempt 2 completes.
    let id = h.submit_in("fix the exporter FAKE:hang", &h.workdir());
    let w = h.wait_running_worker(&id, LIMIT);
    let mut follow = h.command();
    follow.args(["logs", &w, "--follow"]);
    let following = crate::util::OwnedChild::spawn_logged(follow, h.scratch.path());
    assert!(h.cortex(&["restart", &w]).status.success());
    h.wait_task_done(&id, LIMIT);
    let out = following.wait_output(LIMIT);
    let said = text(&out.stdout);
    assert!(said.starts_with("── attempt 1"), "{said}");
    assert!(said.contains("── attempt 2"), "{said}");
    owner.stop();
}

#[test]
fn a_restart_or_nudge_with_no_owner_stops_the_running_attempt_first() {
    let (h, owner) = started_home_resuming_as("hang");
    let id = h.submit_in("refactor the exporter FAKE:hang", &h.workdir());
    let w = h.wait_running_worker(&id, LIMIT);
    let first = crate::util::pids_with_env("CORTEX_ATTEMPT=1")
        .into_iter()
        .filter(|p| crate::util::tagged_pids(&w).contains(p))
        .collect::<Vec<_>>();
    assert!(!first.is_empty(), "attempt 1 runs");
    // The owner dies; its worker's agent runs on, watched by nobody.
    owner.kill();
    for (args, attempt) in [
        (vec!["restart", &w], "2"),
        (vec!["nudge", &w, "go on FAKE:hang"], "3"),
    ] {
        let out = h.cortex(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        // One agent of this worker, the new attempt's: the one before is gone.
        wait_until(LIMIT, "only the new attempt runs", || {
            let mine = crate::util::tagged_pids(&w);
            let newest = crate::util::pids_with_env(&format!("CORTEX_ATTEMPT={attempt}"));
            !mine.is_empty() && mine.iter().all(|p| newest.contains(p))
        });
    }
    assert!(h.cortex(&["kill", &w]).status.success());
    wait_until(LIMIT, "no process of the worker left", || {
        crate::util::tagged_pids(&w).is_empty()
    });
}

#[test]
fn logs_of_a_flood_of_output_print_all_of_it_without_holding_it() {
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    let (h, owner) = started_home();
    let id = h.submit_in("implement the login endpoint FAKE:normal", &h.workdir());
    assert_eq!(h.wait_task_done(&id, LIMIT)["status"], "completed");
    owner.stop();
    let w = h.workers_of(&id)[0]["id"].as_str().unwrap().to_string();
    // 60 MB more output than the heap `cortex logs` may use (48 MB).
    let out = h.file(&format!("workers/{w}/attempt-1/stdout.jsonl"));
    let mut file =
        std::io::BufWriter::new(std::fs::OpenOptions::new().append(true).open(&out).unwrap());
    let (mut n, mut written) = (0, 0);
    while written < 60_000_000 {
        n += 1;
        let line = format!(
            r#"{{"type":"assistant","message":{{"id":"f{n}","role":"assistant","content":[{{"type":"text","text":"flood line {n}"}}]}}}}"#
        );
        writeln!(file, "{line}").unwrap();
        written += line.len() + 1;
    }
    file.flush().unwrap();
    let mut logs = h.command();
    logs.args(["logs", &w]);
    // SAFETY: setrlimit only, between fork and exec.
    unsafe {
        logs.pre_exec(|| {
            let heap = libc::rlimit {
                rlim_cur: 48 << 20,
                rlim_max: 48 << 20,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &heap) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let logs = logs.output().expect("run cortex");
    assert!(logs.status.success(), "{}", text(&logs.stderr));
    let printed = text(&logs.stdout);
    let floods = printed
        .lines()
        .filter(|l| l.contains("flood line "))
        .count();
    assert_eq!(floods, n, "every line printed");
    assert!(printed.contains(&format!("flood line {n}\n")));
}
