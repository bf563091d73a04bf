//! The coordination home and the CLI: dedup, concurrent submitters, an owner
//! killed mid-stream, corrupt files, bad input.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::util::{text, wait_until, TestHome};

fn descriptions(tasks: &[serde_json::Value]) -> Vec<String> {
    tasks
        .iter()
        .map(|t| t["description"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn status_names_the_owner_and_without_one_says_what_waits_unwatched() {
    let h = TestHome::new();
    h.use_fake_agent();
    let workdir = h.workdir();
    let submit = |words: &str| {
        h.cortex(&[
            "submit",
            words,
            "--type",
            "feature",
            "--workdir",
            workdir.to_str().unwrap(),
        ])
    };
    let out = submit("write the release notes FAKE:normal");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("no owner runs for this home: nothing starts until `cortex run`"),
        "{}",
        text(&out.stderr)
    );
    let id = text(&out.stdout).trim().to_string();
    // Asked for JSON, the answer on stdout is whole and the note on stderr.
    let as_json = h.cortex(&[
        "submit",
        "write the migration guide FAKE:normal",
        "--type",
        "feature",
        "--workdir",
        workdir.to_str().unwrap(),
        "--json",
    ]);
    assert!(as_json.status.success(), "{}", text(&as_json.stderr));
    assert!(serde_json::from_slice::<serde_json::Value>(&as_json.stdout).is_ok());
    assert!(
        text(&as_json.stderr).contains("no owner runs for this home"),
        "{}",
        text(&as_json.stderr)
    );
    assert!(h.json(&["status"])["owner"].is_null());
    let status = text(&h.cortex(&["status"]).stdout);
    assert!(
        status.contains(
            "owner:   none: 2 tasks wait to start; `cortex run` or the desktop app takes over"
        ),
        "{status}"
    );
    let owner = h.start_owner();
    assert_eq!(
        h.wait_task_done(&id, Duration::from_secs(60))["status"],
        "completed"
    );
    let s = h.json(&["status"]);
    assert_eq!(s["owner"]["kind"], "run", "{s}");
    assert_eq!(s["owner"]["pid"], owner.pid(), "{s}");
    let status = text(&h.cortex(&["status"]).stdout);
    assert!(
        status.contains(&format!("owner:   cortex run (pid {}, since ", owner.pid())),
        "{status}"
    );
    let out = submit("write the changelog FAKE:normal");
    assert!(
        !text(&out.stderr).contains("no owner"),
        "{}",
        text(&out.stderr)
    );
    owner.stop();
}

#[test]
fn the_same_text_twice_is_one_task_and_a_key_dedups_after_the_task_ended() {
    let h = TestHome::new();
    let a = h.json(&["submit", "Fix the login redirect"]);
    let b = h.json(&["submit", "fix   the LOGIN redirect"]);
    assert_eq!(a["deduplicated"], false);
    assert_eq!(b["deduplicated"], true);
    assert_eq!(a["task_id"], b["task_id"]);
    assert_eq!(h.tasks().len(), 1);

    // A different type or folder is different work.
    let c = h.json(&["submit", "Fix the login redirect", "--type", "bug-fix"]);
    assert_eq!(c["deduplicated"], false);

    let k1 = h.json(&[
        "submit",
        "nightly dependency report",
        "--key",
        "report-2026-11-23",
    ]);
    let id = k1["task_id"].as_str().unwrap().to_string();
    h.json(&["cancel", &id]);
    // The task has ended; the same text is new work, the same key is not.
    let same_text = h.json(&["submit", "nightly dependency report"]);
    assert_eq!(same_text["deduplicated"], false);
    let same_key = h.json(&[
        "submit",
        "another text entirely",
        "--key",
        "report-2026-11-23",
    ]);
    assert_eq!(same_key["deduplicated"], true);
    assert_eq!(same_key["task_id"], id.as_str());
    assert_eq!(same_key["status"], "cancelled");
    assert_eq!(h.tasks().len(), 4);
}

#[test]
fn four_concurrent_submitters_of_250_tasks_each_make_exactly_1000_tasks() {
    let h = Arc::new(TestHome::new());
    let owner = h.start_owner();
    let acked = Arc::new(std::sync::Mutex::new(BTreeMap::new()));
    let threads: Vec<_> = (0..4)
        .map(|p| {
            let h = Arc::clone(&h);
            let acked = Arc::clone(&acked);
            std::thread::spawn(move || {
                for i in 0..250 {
                    let desc = format!("submitter {p} task {i}: update the fixture");
                    let v = h.json(&["submit", &desc]);
                    assert_eq!(v["deduplicated"], false, "{desc}");
                    let id = v["task_id"].as_str().expect("task id").to_string();
                    assert!(acked.lock().unwrap().insert(desc, id).is_none());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("submitter thread");
    }
    let tasks = h.tasks();
    assert_eq!(tasks.len(), 1000);
    let by_desc: BTreeMap<String, String> = tasks
        .iter()
        .map(|t| {
            (
                t["description"].as_str().unwrap().to_string(),
                t["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(by_desc.len(), 1000, "descriptions must be unique");
    assert_eq!(
        *acked.lock().unwrap(),
        by_desc,
        "every acknowledged id is the stored one"
    );
    let out = owner.stop();
    assert!(out.status.success(), "owner exit: {}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(h.file("cortex.lock")).unwrap(),
        "",
        "lock released"
    );
}

#[test]
fn an_owner_killed_mid_stream_loses_no_acknowledged_submission_and_duplicates_none() {
    let h = Arc::new(TestHome::new());
    let owner = h.start_owner();
    let done = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(std::sync::Mutex::new(Vec::new()));
    let threads: Vec<_> = (0..2)
        .map(|p| {
            let (h, done, results) = (Arc::clone(&h), Arc::clone(&done), Arc::clone(&results));
            std::thread::spawn(move || {
                for i in 0..250 {
                    let desc = format!("crash run {p}-{i}");
                    let out = h.cortex(&["submit", &desc, "--json"]);
                    let id = out
                        .status
                        .success()
                        .then(|| serde_json::from_slice::<serde_json::Value>(&out.stdout).ok())
                        .flatten()
                        .and_then(|v| v["task_id"].as_str().map(String::from));
                    results.lock().unwrap().push((desc, id, text(&out.stderr)));
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    wait_until(Duration::from_secs(60), "150 submissions", || {
        done.load(Ordering::SeqCst) >= 150
    });
    owner.kill();
    let restarted = h.start_owner();
    for t in threads {
        t.join().expect("submitter");
    }
    let results = results.lock().unwrap().clone();
    assert_eq!(results.len(), 500);
    let failures: Vec<_> = results.iter().filter(|r| r.1.is_none()).collect();
    assert!(
        failures.is_empty(),
        "every submission is answered, by the owner or by taking over: {failures:?}"
    );

    let tasks = h.tasks();
    let stored: BTreeMap<String, Vec<String>> = tasks.iter().fold(BTreeMap::new(), |mut m, t| {
        m.entry(t["description"].as_str().unwrap().to_string())
            .or_default()
            .push(t["id"].as_str().unwrap().to_string());
        m
    });
    for (desc, id, _) in &results {
        let ids = stored
            .get(desc)
            .unwrap_or_else(|| panic!("acknowledged `{desc}` is missing"));
        assert_eq!(
            ids,
            &vec![id.clone().unwrap()],
            "`{desc}` must be there exactly once, with the acked id"
        );
    }
    assert_eq!(tasks.len(), 500, "nothing unacknowledged is there");
    // Every journal line is whole.
    let journal = std::fs::read_to_string(h.file("journal.jsonl")).unwrap();
    for (n, line) in journal.lines().enumerate() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("journal line {}: {e}", n + 1));
    }
    restarted.stop();
}

#[test]
fn a_stored_task_that_names_no_folder_asks_for_a_person_instead_of_running_in_the_root() {
    let h = TestHome::new();
    h.use_fake_agent();
    let id = h.submit_in(
        "written before folders were required FAKE:normal",
        &h.workdir(),
    );
    // As an earlier version stored a task from the app's form: no folder.
    let jpath = h.file("journal.jsonl");
    let journal: String = std::fs::read_to_string(&jpath)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            if let Some(task) = v.pointer_mut("/task").and_then(|t| t.as_object_mut()) {
                task.remove("workdir");
            }
            format!("{v}\n")
        })
        .collect();
    assert!(!journal.contains("\"workdir\""), "{journal}");
    std::fs::write(&jpath, journal).unwrap();
    let _ = std::fs::remove_file(h.file("task-queue.json"));
    let _ = std::fs::remove_file(h.file("worker-pool.json"));
    let owner = h.start_owner();
    let mut t = serde_json::Value::Null;
    wait_until(
        Duration::from_secs(30),
        "the task to ask for a person",
        || {
            t = h.task(&id);
            t["status"] == "needs_attention"
        },
    );
    assert!(
        t["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("no folder named"),
        "{t}"
    );
    assert!(h.starts().is_empty(), "no agent started, in / or anywhere");
    owner.stop();
}

#[test]
fn run_warns_at_start_when_the_agent_cannot_run() {
    let h = TestHome::new();
    let missing = h.path().join("no-such-agent");
    h.configure(serde_json::json!({"agent": {"command": [missing.to_str().unwrap()]}}));
    let err = text(&h.start_owner().stop().stderr);
    assert!(
        err.contains(&format!(
            "cortex: warning: the agent command: `{}` does not exist",
            missing.display()
        )),
        "{err}"
    );
    h.use_fake_agent();
    let err = text(&h.start_owner().stop().stderr);
    assert!(!err.contains("the agent cannot run"), "{err}");
}

#[test]
fn a_garbage_line_after_the_snapshot_is_named_by_its_line_in_the_file() {
    let h = TestHome::new();
    let owner = h.start_owner();
    for i in 0..5 {
        h.json(&["submit", &format!("keep me {i}")]);
    }
    owner.stop();
    // The snapshot covers the journal so far: the next start reads on from
    // its offset, and the garbage is the file's last line.
    let jpath = h.file("journal.jsonl");
    let mut journal = std::fs::read_to_string(&jpath).unwrap();
    let n = journal.lines().count();
    journal.push_str("{this is not json\n");
    std::fs::write(&jpath, journal).unwrap();
    let view = h.cortex(&["status"]);
    assert!(
        text(&view.stderr).contains(&format!("unreadable journal.jsonl line {} skipped", n + 1)),
        "{}",
        text(&view.stderr)
    );
    let out = h.start_owner().stop();
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("quarantined journal.jsonl line {}", n + 1)),
        "{err}"
    );
    assert_eq!(h.tasks().len(), 5, "every task kept");
}

#[test]
fn a_garbage_journal_line_and_a_truncated_snapshot_are_quarantined_and_every_other_task_kept() {
    let h = TestHome::new();
    let mut ids = BTreeSet::new();
    for i in 0..20 {
        let v = h.json(&["submit", &format!("keep me {i}")]);
        ids.insert(v["task_id"].as_str().unwrap().to_string());
    }
    // Garbage in the middle of the journal.
    let jpath = h.file("journal.jsonl");
    let journal = std::fs::read_to_string(&jpath).unwrap();
    let mut lines: Vec<&str> = journal.lines().collect();
    lines.insert(7, "{this is not json");
    std::fs::write(&jpath, lines.join("\n") + "\n").unwrap();
    // A snapshot cut in half.
    let spath = h.file("task-queue.json");
    let snap = std::fs::read(&spath).unwrap();
    std::fs::write(&spath, &snap[..snap.len() / 2]).unwrap();

    let owner = h.start_owner();
    let out = owner.stop();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("quarantined journal.jsonl line 8"), "{err}");
    assert!(err.contains("quarantined task-queue.json"), "{err}");
    let stored: BTreeSet<String> = h
        .tasks()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored, ids, "every task survives");
    let quarantine: Vec<String> = std::fs::read_dir(h.file("quarantine"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        quarantine.iter().any(|n| n.starts_with("journal-")),
        "{quarantine:?}"
    );
    assert!(
        quarantine.iter().any(|n| n.starts_with("task-queue.json.")),
        "{quarantine:?}"
    );
    let saved = std::fs::read_to_string(h.file(&format!(
        "quarantine/{}",
        quarantine.iter().find(|n| n.starts_with("journal-")).unwrap()
    )))
    .unwrap();
    assert_eq!(
        saved, "{this is not json\n",
        "the bad line is kept, not dropped"
    );
    // The repaired home loads cleanly the next time: nothing more to quarantine.
    let again = h.start_owner().stop();
    assert!(
        !text(&again.stderr).contains("quarantined"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn a_torn_last_journal_line_is_skipped_and_the_next_append_is_clean() {
    let h = TestHome::new();
    h.json(&["submit", "first"]);
    let jpath = h.file("journal.jsonl");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&jpath)
        .unwrap();
    f.write_all(br#"{"v":1,"seq":2,"at":"2026-11-23T10:00:00Z","kind":"task_sub"#)
        .unwrap();
    drop(f);
    h.json(&["submit", "second"]);
    assert_eq!(descriptions(&h.tasks()), vec!["first", "second"]);
    let journal = std::fs::read_to_string(&jpath).unwrap();
    // Every line is whole, numbered in order, and the torn one is gone.
    let events: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "{journal}"
    );
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "task_submitted").count(),
        2,
        "{journal}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "task_routed").count(),
        2,
        "{journal}"
    );
}

#[test]
fn bad_input_gets_a_clear_error_exit_2_and_changes_nothing() {
    let h = TestHome::new();
    h.json(&["submit", "an existing task"]);
    let journal_before = std::fs::read(h.file("journal.jsonl")).unwrap();
    let long = "x".repeat(32 * 1024 + 1);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["submit", ""], "task text is empty"),
        (vec!["submit", "   "], "task text is empty"),
        (vec!["submit", &long], "over the limit of 32768 bytes"),
        (
            vec!["submit", "ring\u{7}the bell"],
            "control character (U+0007)",
        ),
        (
            vec!["submit", "x", "--priority", "asap"],
            "unknown priority `asap`",
        ),
        (
            vec!["submit", "x", "--type", "dance"],
            "unknown task type `dance`, expected one of:",
        ),
        (
            vec!["submit", "x", "--workdir", "/does/not/exist"],
            "workdir /does/not/exist is not usable",
        ),
        (vec!["cancel", "t-nope"], "no task t-nope"),
        (
            vec!["kill", "w-0000000000000000000000000a"],
            "no worker w-0000000000000000000000000a",
        ),
        (
            vec!["extend", "w-0000000000000000000000000a", "--minutes", "5"],
            "no worker w-0000000000000000000000000a",
        ),
    ];
    for (args, needle) in cases {
        let out = h.cortex(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: `{err}` should contain `{needle}`"
        );
    }
    // JSON mode gives the same error as an object on stdout.
    let out = h.cortex(&["submit", "x", "--priority", "asap", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["bad_input"], true);
    assert_eq!(
        std::fs::read(h.file("journal.jsonl")).unwrap(),
        journal_before
    );
    assert_eq!(h.tasks().len(), 1);
}

#[test]
fn a_mistyped_config_key_is_named_with_its_file_and_nothing_runs() {
    let h = TestHome::new();
    std::fs::write(
        h.file("config.json"),
        r#"{"pm": {"stalled_after_sec": 60}}"#,
    )
    .unwrap();
    let out = h.cortex(&["config", "check"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("config.json: key `pm.stalled_after_sec`: unknown field `stalled_after_sec`"),
        "{err}"
    );
    assert!(
        err.contains("stalled_after_secs"),
        "the expected key is listed: {err}"
    );

    let expert = h.file("experts/cicd.json");
    let text_before = std::fs::read_to_string(&expert).unwrap();
    std::fs::write(&expert, text_before.replace("\"preamble\"", "\"preambel\"")).unwrap();
    let report = h.cortex(&["config", "check", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let mut files: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["file"].as_str().unwrap())
        .collect();
    files.dedup();
    assert_eq!(
        files,
        vec!["config.json", "experts/cicd.json"],
        "both files' problems in one run: {v}"
    );
    // Each problem of a file, not only its first: the renamed key, and the
    // key it should have been now missing.
    let said: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        said.iter()
            .any(|m| m.starts_with("unknown field `preambel`"))
            && said.contains(&"missing field `preamble`"),
        "{v}"
    );

    let run = h.cortex(&["run"]);
    assert_eq!(run.status.code(), Some(2), "{}", text(&run.stderr));
    assert!(
        !h.file("journal.jsonl").exists(),
        "a refused start writes nothing"
    );
}

#[test]
fn a_value_out_of_its_range_is_refused_by_check_and_by_run_instead_of_panicking() {
    let h = TestHome::new();
    let cases = [
        (r#"{"pm": {"tick_millis": 5001}}"#, "pm.tick_millis"),
        (
            r#"{"restart": {"backoff_base_secs": 10000000000000000000, "backoff_max_secs": 10000000000000000000}}"#,
            "restart.backoff_base_secs",
        ),
    ];
    for (config, key) in cases {
        std::fs::write(h.file("config.json"), config).unwrap();
        let report = h.cortex(&["config", "check", "--json"]);
        assert_eq!(report.status.code(), Some(2), "{config}");
        let v: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
        assert_eq!(v["errors"][0]["key"], key, "{v}");
        assert!(
            v["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("expected")),
            "the range is named: {v}"
        );
        let mut run = h.command();
        run.arg("run");
        let out = crate::util::OwnedChild::spawn_logged(run, h.scratch.path())
            .wait_output(Duration::from_secs(30));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "refused, not a panic: {err}");
        assert!(err.contains(key), "{err}");
    }
}

#[test]
fn config_check_reports_a_missing_fallback_expert_beside_other_problems() {
    let h = TestHome::new();
    h.cortex(&["init"]);
    std::fs::write(
        h.file("config.json"),
        r#"{"capacity": {"max_workers": 0}, "routing": {"fallback_expert": "nobody"}}"#,
    )
    .unwrap();
    let report = h.cortex(&["config", "check", "--json"]);
    assert_eq!(report.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    let keys: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["key"].as_str())
        .collect();
    assert_eq!(
        keys,
        ["capacity.max_workers", "routing.fallback_expert"],
        "{v}"
    );
}

#[test]
fn a_submit_timeout_too_long_to_represent_waits_instead_of_panicking() {
    let h = TestHome::new();
    let owner = h.start_owner();
    let wd = h.scratch.path().to_str().unwrap().to_string();
    let out = h.cortex(&[
        "submit",
        "say hello",
        "--workdir",
        &wd,
        "--timeout",
        &u64::MAX.to_string(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["task_id"].as_str().is_some(), "{v}");
    owner.stop();
}

#[test]
fn a_home_that_cannot_be_written_and_a_second_owner_are_refused_by_name() {
    let blocker = tempfile::NamedTempFile::new().unwrap();
    let bad_home = blocker.path().join("home");
    let out = std::process::Command::new(crate::util::cortex_bin())
        .args(["--home", bad_home.to_str().unwrap(), "init"])
        .output()
        .unwrap();
    // A file where a folder of the path belongs is the person's mistake:
    // named, exit 2.
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!(
            "{} is a file, not a folder",
            blocker.path().display()
        )),
        "{}",
        text(&out.stderr)
    );

    let h = TestHome::new();
    let owner = h.start_owner();
    let out = h.cortex(&["run"]);
    let err = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains(&format!("owned by pid {}", owner.pid())),
        "{err}"
    );
    owner.stop();
}

#[test]
fn the_owner_exits_cleanly_on_sigint_and_releases_the_lock() {
    let h = TestHome::new();
    let owner = h.start_owner();
    owner.signal(libc::SIGINT);
    let out = owner.wait_output(Duration::from_secs(10));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = h.json(&["submit", "after the owner left"]);
    assert_eq!(v["deduplicated"], false);
}

#[test]
fn doctor_names_the_agent_binary_that_will_run_or_says_it_is_missing() {
    let h = TestHome::new();
    h.use_fake_agent();
    let v = h.json(&["doctor"]);
    assert_eq!(
        v["agent_resolved"].as_str(),
        Some(crate::util::fake_agent_bin().to_str().unwrap())
    );
    assert_eq!(v["home"].as_str(), Some(h.path().to_str().unwrap()));
    h.configure(serde_json::json!({"agent": {"command": ["no-such-agent-binary"]}}));
    let out = h.cortex(&["doctor"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("NOT FOUND: `no-such-agent-binary` was not found on PATH"),
        "{}",
        text(&out.stdout)
    );
    // An absolute path is not looked up on PATH: the message says which file is missing.
    h.configure(serde_json::json!({"agent": {"command": ["/nonexistent/claude"]}}));
    let out = h.cortex(&["doctor"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("NOT FOUND: `/nonexistent/claude` does not exist"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        !text(&out.stdout).contains("on PATH"),
        "{}",
        text(&out.stdout)
    );
    let bad = h
        .command()
        .args(["doctor"])
        .env("CORTEX_AGENT_COMMAND", "claude")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("CORTEX_AGENT_COMMAND must be a JSON array"),
        "{}",
        text(&bad.stderr)
    );
}
