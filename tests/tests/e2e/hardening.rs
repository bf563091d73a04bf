//! Lost and replaced files, hostile inbox entries, and a home other users
//! cannot read.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::{text, wait_until, TestHome};

const LIMIT: Duration = Duration::from_secs(40);

fn submit_many(h: &TestHome, n: usize) -> BTreeSet<String> {
    (0..n)
        .map(|i| {
            h.json(&["submit", &format!("keep me {i}")])["task_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

fn task_ids(h: &TestHome) -> BTreeSet<String> {
    h.tasks()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

fn quarantined(h: &TestHome) -> Vec<String> {
    std::fs::read_dir(h.file("quarantine")).map_or_else(
        |_| Vec::new(),
        |rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        },
    )
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every entry under `root` that group or others can use.
fn open_entries(root: &Path) -> Vec<(PathBuf, u32)> {
    let mut open = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    if mode(root) & 0o077 != 0 {
        open.push((root.to_path_buf(), mode(root)));
    }
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let kind = e.file_type().unwrap();
            if kind.is_symlink() {
                continue;
            }
            if mode(&p) & 0o077 != 0 {
                open.push((p.clone(), mode(&p)));
            }
            if kind.is_dir() {
                stack.push(p);
            }
        }
    }
    open
}

#[test]
fn a_lost_journal_keeps_every_task_of_the_snapshot() {
    let h = TestHome::new();
    let ids = submit_many(&h, 20);
    std::fs::remove_file(h.file("journal.jsonl")).unwrap();
    assert_eq!(task_ids(&h), ids, "a reader sees every task");

    let out = h.start_owner().stop();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("starting from task-queue.json"), "{err}");
    assert_eq!(task_ids(&h), ids, "every task survives the owner");
    let more = submit_many(&h, 1);
    let again = h.start_owner().stop();
    assert!(
        !text(&again.stderr).contains("quarantined"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(task_ids(&h), ids.union(&more).cloned().collect());
    assert!(
        quarantined(&h)
            .iter()
            .any(|n| n.starts_with("task-queue.json.")),
        "the snapshot that held more is kept: {:?}",
        quarantined(&h)
    );
}

#[test]
fn a_journal_cut_in_half_keeps_every_task_of_the_snapshot() {
    let h = TestHome::new();
    let ids = submit_many(&h, 20);
    let path = h.file("journal.jsonl");
    let journal = std::fs::read(&path).unwrap();
    std::fs::write(&path, &journal[..journal.len() / 2]).unwrap();
    let out = h.start_owner().stop();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(task_ids(&h), ids);
}

#[test]
fn folders_in_place_of_files_and_a_file_in_place_of_quarantine_do_not_stop_the_engine() {
    let h = TestHome::new();
    let ids = submit_many(&h, 3);
    let folder_at = |name: &str| {
        let p = h.file(name);
        let _ = std::fs::remove_file(&p);
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("inside"), "kept").unwrap();
    };
    for name in ["task-queue.json", "config.json", "cortex.lock"] {
        folder_at(name);
    }
    std::fs::write(h.file("worker-pool.json"), [0x9f, 0x00, 0xff, 0x13, 0x37]).unwrap();
    std::fs::write(h.file("quarantine"), "not a folder").unwrap();
    let expect_moved = |out: &std::process::Output, names: &[&str]| {
        let err = text(&out.stderr);
        assert!(out.status.success(), "{err}");
        for name in names {
            assert!(
                err.contains(&format!("quarantined {name}")),
                "{name}: {err}"
            );
            assert!(
                quarantined(&h)
                    .iter()
                    .any(|n| n.starts_with(&format!("{name}."))),
                "{name} kept in {:?}",
                quarantined(&h)
            );
        }
    };
    expect_moved(
        &h.start_owner().stop(),
        &[
            "task-queue.json",
            "config.json",
            "cortex.lock",
            "worker-pool.json",
            "quarantine",
        ],
    );
    assert!(h.file("config.json").is_file());
    assert_eq!(task_ids(&h), ids, "the journal rebuilt every task");
    // Then the journal: the snapshot written meanwhile holds every task.
    folder_at("journal.jsonl");
    expect_moved(&h.start_owner().stop(), &["journal.jsonl"]);
    assert_eq!(task_ids(&h), ids);
    let more = submit_many(&h, 1);
    assert_eq!(task_ids(&h), ids.union(&more).cloned().collect());
}

#[test]
fn inbox_refuses_symlinks_folders_and_other_versions_and_quarantines_what_is_not_a_request() {
    let h = TestHome::new();
    let owner = h.start_owner();
    let secret = h.scratch.path().join("secret.json");
    std::fs::write(
        &secret,
        r#"{"v":1,"request_id":"r-01m8zjp3xmt0es7f1bfz45r9e1","op":"set_paused","paused":true}"#,
    )
    .unwrap();
    let id = |n: u32| format!("r-01m8zjp3xmt0es7f1bfz45r9e{n}");
    let inbox = h.file("inbox");
    let tmp = |n: u32| inbox.join(format!(".{}.json.test.tmp", id(n)));
    let publish = |n: u32| std::fs::rename(tmp(n), inbox.join(format!("{}.json", id(n)))).unwrap();
    std::os::unix::fs::symlink(&secret, tmp(1)).unwrap();
    std::fs::create_dir(tmp(2)).unwrap();
    std::fs::write(
        tmp(3),
        format!(
            r#"{{"v":2,"request_id":"{}","op":"set_paused","paused":true}}"#,
            id(3)
        ),
    )
    .unwrap();
    std::fs::write(inbox.join("notes.txt"), "hello").unwrap();
    for n in 1..=3 {
        publish(n);
    }
    let ack = |n: u32| -> Option<serde_json::Value> {
        let p = inbox.join("acks").join(format!("{}.json", id(n)));
        std::fs::read(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    };
    wait_until(LIMIT, "an ack for each request", || {
        (1..=3).all(|n| ack(n).is_some())
    });
    for (n, says) in [(1, "symbolic link"), (2, "folder"), (3, "version 2")] {
        let a = ack(n).unwrap();
        assert_eq!(a["ok"], false, "{a}");
        assert!(
            a["error"]["message"].as_str().unwrap().contains(says),
            "{says}: {a}"
        );
    }
    wait_until(LIMIT, "nothing left in processing/ or the inbox", || {
        std::fs::read_dir(inbox.join("processing")).unwrap().count() == 0
            && !inbox.join("notes.txt").exists()
    });
    let q = quarantined(&h);
    assert!(q.iter().any(|n| n.contains(&id(1))), "{q:?}");
    assert!(q.iter().any(|n| n.contains(&id(2))), "{q:?}");
    assert!(q.iter().any(|n| n.starts_with("inbox-notes.txt.")), "{q:?}");
    // The link was moved, not followed: the file it pointed to is untouched.
    assert!(secret.is_file());
    let out = owner.stop();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn every_file_of_the_home_is_private_after_a_worker_ran() {
    let h = TestHome::new();
    h.use_fake_agent();
    let owner = h.start_owner();
    let wd = h.workdir();
    let id = h.submit_in("write the release notes FAKE:normal", &wd);
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    let out = owner.stop();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(h.file("workers").read_dir().unwrap().count() > 1);
    let open = open_entries(h.path());
    assert!(open.is_empty(), "readable by others: {open:?}");
}

#[test]
fn an_open_home_is_tightened_on_start_and_says_so() {
    let h = TestHome::new();
    submit_many(&h, 1);
    let set = |rel: &str, m: u32| {
        std::fs::set_permissions(h.file(rel), std::fs::Permissions::from_mode(m)).unwrap();
    };
    for (rel, m) in [
        ("", 0o755),
        ("inbox", 0o755),
        ("journal.jsonl", 0o644),
        ("config.json", 0o644),
        ("task-queue.json", 0o644),
    ] {
        set(rel, m);
    }
    let out = h.cortex(&["submit", "one more"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("readable by other users"),
        "{}",
        text(&out.stderr)
    );
    let open = open_entries(h.path());
    assert!(open.is_empty(), "still readable by others: {open:?}");
}

/// The journal's lines, and the line of its first record of `kind`.
fn journal_lines(h: &TestHome, kind: &str) -> (Vec<String>, usize) {
    let text = std::fs::read_to_string(h.file("journal.jsonl")).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let at = lines
        .iter()
        .position(|l| l.contains(&format!("\"kind\":\"{kind}\"")))
        .unwrap_or_else(|| panic!("no {kind} record in {text}"));
    (lines, at)
}

fn write_lines(h: &TestHome, lines: &[String]) {
    std::fs::write(h.file("journal.jsonl"), lines.join("\n") + "\n").unwrap();
}

#[test]
fn an_unreadable_journal_line_does_not_throw_away_the_snapshot_that_holds_it() {
    let h = TestHome::new();
    h.use_fake_agent();
    let owner = h.start_owner();
    let wd = h.workdir();
    let ids: BTreeSet<String> = ["first task FAKE:normal", "second task FAKE:normal"]
        .iter()
        .map(|t| {
            let id = h.submit_in(t, &wd);
            h.wait_task_done(&id, LIMIT);
            id
        })
        .collect();
    owner.stop();
    let cost = |h: &TestHome| {
        h.tasks()
            .iter()
            .map(|t| t["cost_usd"].as_f64().unwrap())
            .sum::<f64>()
    };
    let before = cost(&h);
    assert!(before > 0.0);
    // The first task's record cut short: the snapshot still holds it whole.
    let (mut lines, at) = journal_lines(&h, "task_submitted");
    lines[at].truncate(60);
    write_lines(&h, &lines);

    assert_eq!(task_ids(&h), ids, "a reader sees every task");
    let out = h.start_owner().stop();
    let err = text(&out.stderr);
    assert!(err.contains("starting from task-queue.json"), "{err}");
    assert_eq!(task_ids(&h), ids, "every task survives the owner");
    assert!((cost(&h) - before).abs() < 1e-9, "and what it cost");
    assert!(
        quarantined(&h)
            .iter()
            .any(|n| n.starts_with("task-queue.json.")),
        "the snapshot is kept: {:?}",
        quarantined(&h)
    );
}

#[test]
fn a_journal_started_anew_and_an_unreadable_worker_snapshot_keep_every_task() {
    let h = TestHome::new();
    h.use_fake_agent();
    let wd = h.workdir();
    let run = |text: &str| {
        let owner = h.start_owner();
        let id = h.submit_in(text, &wd);
        h.wait_task_done(&id, LIMIT);
        owner.stop();
        id
    };
    let mut ids = BTreeSet::from([run("before the loss FAKE:normal")]);
    // The journal is lost; the next owner starts a new one, numbered on.
    std::fs::remove_file(h.file("journal.jsonl")).unwrap();
    let after = run("after the loss FAKE:normal");
    ids.insert(after.clone());
    std::fs::write(h.file("worker-pool.json"), "{").unwrap();

    assert_eq!(task_ids(&h), ids, "a reader sees every task");
    let out = h.start_owner().stop();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(task_ids(&h), ids, "every task survives the owner");
    // The journal still holds the worker of the task after the loss: it is
    // taken from there, with what it cost.
    let w = h.workers_of(&after);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0]["cost_usd"].as_f64().unwrap() > 0.0, "{w:?}");
}

#[test]
fn an_attempt_whose_start_record_was_lost_keeps_what_it_cost() {
    let h = TestHome::new();
    h.use_fake_agent();
    let owner = h.start_owner();
    let id = h.submit_in("costly task FAKE:normal", &h.workdir());
    h.wait_task_done(&id, LIMIT);
    owner.stop();
    let before = h.task(&id)["cost_usd"].as_f64().unwrap();
    assert!(before > 0.0);
    // Only the journal tells: without the snapshots it is read alone.
    std::fs::remove_file(h.file("task-queue.json")).unwrap();
    std::fs::remove_file(h.file("worker-pool.json")).unwrap();
    let (mut lines, at) = journal_lines(&h, "attempt_started");
    lines[at].truncate(30);
    write_lines(&h, &lines);
    let s = h.json(&["show", &id]);
    assert!(
        (s["cost_usd"].as_f64().unwrap() - before).abs() < 1e-9,
        "{s}"
    );
    assert_eq!(s["attempts"], 1, "{s}");
    assert!(s["tokens"]["output"].as_u64().unwrap() > 0, "{s}");
}

#[test]
fn an_owner_whose_lock_file_was_removed_is_still_named_as_the_owner() {
    let h = TestHome::new();
    let owner = h.start_owner();
    let pid = u64::from(owner.pid());
    std::fs::remove_file(h.file("cortex.lock")).unwrap();
    // Named again within about a second; meanwhile no view says "none" for long.
    wait_until(LIMIT, "the owner named again", || {
        h.json(&["status"])["owner"]["pid"].as_u64() == Some(pid)
    });
    assert!(h.file("cortex.lock").is_file());
    owner.stop();
    assert!(
        h.json(&["status"])["owner"].is_null(),
        "and none once it stopped"
    );
}

#[test]
fn a_settings_folder_moved_away_leaves_the_settings_in_use_for_every_command() {
    let h = TestHome::new();
    h.use_fake_agent();
    let owner = h.start_owner();
    std::fs::rename(h.file("experts"), h.scratch.path().join("experts.away")).unwrap();
    let status = h.cortex(&["status"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert!(
        text(&status.stdout).contains("cannot list"),
        "says why: {}",
        text(&status.stdout)
    );
    let id = h.submit_in("still runs FAKE:normal", &h.workdir());
    assert_eq!(h.wait_task_done(&id, LIMIT)["status"], "completed");
    let doctor = text(&h.cortex(&["doctor"]).stdout);
    assert!(
        doctor.contains("fake-agent") && doctor.contains("NOT VALID"),
        "{doctor}"
    );
    owner.stop();
}
