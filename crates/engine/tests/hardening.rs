//! A home whose files were lost, replaced or tampered with still starts, keeps
//! everything that was acknowledged, and says what it did.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use cortex_core::id::RequestId;
use cortex_core::input::SubmitRequest;
use cortex_engine::inbox::{self, InboxOp, InboxRequest};
use cortex_engine::{Engine, Home, OwnerKind};

fn home() -> (tempfile::TempDir, Home) {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().join("home"));
    home.init().unwrap();
    (dir, home)
}

fn submit_n(home: &Home, n: usize) -> BTreeSet<String> {
    submit_texts(home, (0..n).map(|i| format!("keep me {i}")))
}

fn submit_texts(home: &Home, texts: impl Iterator<Item = String>) -> BTreeSet<String> {
    let engine = Engine::open(home, OwnerKind::Cli).unwrap();
    let workdir = home.root().to_string_lossy().into_owned();
    let ids = texts
        .map(|description| {
            engine
                .submit(&SubmitRequest {
                    description,
                    task_type: None,
                    priority: None,
                    key: None,
                    workdir: Some(workdir.clone()),
                    worktree: false,
                    verify: None,
                    after: Vec::new(),
                    plan: false,
                })
                .unwrap()
                .task_id
                .to_string()
        })
        .collect();
    engine.close().unwrap();
    ids
}

fn stored(home: &Home) -> BTreeSet<String> {
    cortex_engine::engine::view::tasks(home)
        .unwrap()
        .into_iter()
        .map(|t| t.id.to_string())
        .collect()
}

fn quarantine_names(home: &Home) -> Vec<String> {
    fs::read_dir(home.quarantine())
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_lost_journal_starts_from_the_snapshot_and_keeps_it() {
    let (_d, home) = home();
    let ids = submit_n(&home, 20);
    fs::remove_file(home.journal()).unwrap();

    let engine = Engine::open(&home, OwnerKind::Cli).unwrap();
    let report = engine.load_report().clone();
    assert_eq!(report.tasks, 20, "{report:?}");
    let behind = report.journal_behind.expect("says the journal was behind");
    assert_eq!(behind.journal_last_seq, 0);
    assert!(
        report
            .quarantined
            .iter()
            .any(|q| q.what.starts_with("task-queue.json")),
        "{report:?}"
    );
    // What comes next is numbered after what the snapshot holds, and a
    // restart finds everything: the old tasks and the new one.
    let more = engine
        .submit(&SubmitRequest {
            description: "after the loss".into(),
            task_type: None,
            priority: None,
            key: None,
            workdir: Some(home.root().to_string_lossy().into_owned()),
            worktree: false,
            verify: None,
            after: Vec::new(),
            plan: false,
        })
        .unwrap();
    engine.close().unwrap();
    drop(engine);
    let mut all = ids.clone();
    all.insert(more.task_id.to_string());
    assert_eq!(stored(&home), all);
    let again = Engine::open(&home, OwnerKind::Cli).unwrap();
    assert!(again.load_report().journal_behind.is_none());
    assert!(again.load_report().quarantined.is_empty());
    assert_eq!(again.load_report().tasks, 21);
    again.close().unwrap();
    assert!(quarantine_names(&home)
        .iter()
        .any(|n| n.starts_with("task-queue.json.")));
}

#[test]
fn a_journal_cut_in_half_loses_nothing_the_snapshot_holds() {
    let (_d, home) = home();
    let ids = submit_n(&home, 20);
    let journal = fs::read(home.journal()).unwrap();
    fs::write(home.journal(), &journal[..journal.len() / 2]).unwrap();

    assert_eq!(stored(&home), ids, "a reader sees every task");
    let engine = Engine::open(&home, OwnerKind::Cli).unwrap();
    assert_eq!(engine.load_report().tasks, 20);
    assert!(engine.load_report().journal_behind.is_some());
    engine.close().unwrap();
    drop(engine);
    assert_eq!(stored(&home), ids);
}

/// The record numbers of the journal's readable lines, in order.
fn journal_seqs(home: &Home) -> Vec<u64> {
    fs::read_to_string(home.journal())
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["seq"].as_u64())
        .collect()
}

#[test]
fn a_record_numbered_past_any_count_is_set_aside_and_numbering_goes_on() {
    let (_d, home) = home();
    let ids = submit_n(&home, 3);
    // The last record's number damaged (a bit flip, a bad edit).
    let seqs = journal_seqs(&home);
    let last = *seqs.last().unwrap();
    let text = fs::read_to_string(home.journal()).unwrap();
    let at = text.rfind(&format!("\"seq\":{last},")).unwrap();
    let damaged = format!(
        "{}\"seq\":18446744073709551615,{}",
        &text[..at],
        &text[at + format!("\"seq\":{last},").len()..]
    );
    fs::write(home.journal(), damaged).unwrap();

    assert_eq!(stored(&home), ids, "a reader sees every task");
    let engine = Engine::open(&home, OwnerKind::Cli).unwrap();
    let report = engine.load_report().clone();
    engine.close().unwrap();
    drop(engine);
    let line = format!("journal.jsonl line {}", seqs.len());
    assert!(
        report
            .quarantined
            .iter()
            .any(|q| q.what == line && q.reason.contains("record number 18446744073709551615")),
        "the damaged line is named and moved aside: {report:?}"
    );
    // New work is numbered after what the snapshot holds, and a restart
    // finds every task with nothing more to set aside.
    let more = submit_texts(&home, std::iter::once("and me too".to_string()));
    let after = journal_seqs(&home);
    assert!(after.contains(&(last + 1)), "{after:?}");
    assert!(after.windows(2).all(|w| w[0] < w[1]), "{after:?}");
    let again = Engine::open(&home, OwnerKind::Cli).unwrap();
    assert!(again.load_report().quarantined.is_empty());
    again.close().unwrap();
    drop(again);
    assert_eq!(stored(&home), ids.union(&more).cloned().collect());
}

#[test]
fn a_snapshot_numbered_past_any_count_is_set_aside_and_the_journal_read() {
    let (_d, home) = home();
    let ids = submit_n(&home, 3);
    let mut snap: serde_json::Value =
        serde_json::from_slice(&fs::read(home.task_snapshot()).unwrap()).unwrap();
    snap["journal_seq"] = serde_json::json!(u64::MAX);
    fs::write(home.task_snapshot(), serde_json::to_vec(&snap).unwrap()).unwrap();

    assert_eq!(stored(&home), ids, "a reader sees every task");
    let engine = Engine::open(&home, OwnerKind::Cli).unwrap();
    let report = engine.load_report().clone();
    engine.close().unwrap();
    drop(engine);
    assert!(
        report
            .quarantined
            .iter()
            .any(|q| q.what == "task-queue.json"
                && q.reason.contains("record number 18446744073709551615")),
        "{report:?}"
    );
    let more = submit_texts(&home, std::iter::once("and me too".to_string()));
    assert_eq!(stored(&home), ids.union(&more).cloned().collect());
}

#[test]
fn folders_in_place_of_files_are_moved_aside_and_the_engine_starts() {
    let (_d, home) = home();
    let ids = submit_n(&home, 3);
    // Keep the journal's content: only the snapshots are replaced.
    for p in [home.task_snapshot(), home.lock_file(), home.config_file()] {
        let _ = fs::remove_file(&p);
        fs::create_dir(&p).unwrap();
        fs::write(p.join("inside"), "x").unwrap();
    }
    fs::write(home.worker_snapshot(), [0xde, 0xad, 0xbe, 0xef, 0, 1, 2]).unwrap();
    let profile = home.experts_dir().join("security.json");
    fs::remove_file(&profile).unwrap();
    fs::create_dir(&profile).unwrap();

    let engine = Engine::open(&home, OwnerKind::Cli).unwrap();
    let report = engine.load_report().clone();
    engine.close().unwrap();
    drop(engine);
    let what: BTreeSet<&str> = report.quarantined.iter().map(|q| q.what.as_str()).collect();
    for name in [
        "task-queue.json",
        "cortex.lock",
        "config.json",
        "worker-pool.json",
        "experts-security.json",
    ] {
        assert!(what.contains(name), "{name} in {what:?}");
    }
    assert!(profile.is_file(), "the shipped profile is back");
    let said = report
        .quarantined
        .iter()
        .find(|q| q.what == "experts-security.json")
        .map(|q| q.reason.clone());
    assert!(
        said.as_deref()
            .is_some_and(|r| r.contains("the shipped profile was written in its place")),
        "and says so: {said:?}"
    );
    assert_eq!(stored(&home), ids);
    assert!(home.task_snapshot().is_file() && home.config_file().is_file());
    let names = quarantine_names(&home);
    assert!(
        names.iter().any(|n| n.starts_with("task-queue.json.")),
        "{names:?}"
    );
    // What was moved aside is kept whole.
    let kept = names
        .iter()
        .find(|n| n.starts_with("config.json."))
        .unwrap();
    assert!(home.quarantine().join(kept).join("inside").is_file());
}

#[test]
fn a_folder_in_place_of_the_journal_keeps_the_tasks_and_a_file_named_quarantine_is_kept() {
    let (_d, home) = home();
    let ids = submit_n(&home, 3);
    let journal = fs::read(home.journal()).unwrap();
    fs::remove_file(home.journal()).unwrap();
    fs::create_dir(home.journal()).unwrap();
    fs::write(home.journal().join("journal.jsonl"), &journal).unwrap();
    fs::write(home.quarantine(), "someone's notes").unwrap();

    let engine = Engine::open(&home, OwnerKind::Cli).unwrap();
    assert_eq!(engine.load_report().tasks, 3);
    engine.close().unwrap();
    drop(engine);
    assert_eq!(stored(&home), ids);
    assert!(home.journal().is_file());
    let names = quarantine_names(&home);
    let notes = names.iter().find(|n| n.starts_with("quarantine.")).unwrap();
    assert_eq!(
        fs::read_to_string(home.quarantine().join(notes)).unwrap(),
        "someone's notes"
    );
    let old = names
        .iter()
        .find(|n| n.starts_with("journal.jsonl."))
        .unwrap();
    assert_eq!(
        fs::read(home.quarantine().join(old).join("journal.jsonl")).unwrap(),
        journal
    );
}

fn request(n: u64) -> InboxRequest {
    InboxRequest {
        v: 1,
        request_id: RequestId::new(n, [7; 10]),
        op: InboxOp::SetPaused { paused: true },
    }
}

fn ack_of(home: &Home, id: &RequestId) -> inbox::InboxAck {
    serde_json::from_slice(&fs::read(inbox::ack_path(home, id)).unwrap()).unwrap()
}

#[test]
fn inbox_refuses_symlinks_folders_other_versions_and_quarantines_strangers() {
    let (dir, home) = home();
    let engine = Engine::open(&home, OwnerKind::Cli).unwrap();
    // A symlink to a secret, a folder, a newer version, garbage, and a
    // file not named like a request.
    let secret = dir.path().join("secret");
    fs::write(
        &secret,
        r#"{"v":1,"request_id":"x","op":"set_paused","paused":true}"#,
    )
    .unwrap();
    let (link, folder, newer, garbage, good) =
        (request(1), request(2), request(3), request(4), request(5));
    let at = |r: &InboxRequest| home.inbox().join(format!("{}.json", r.request_id));
    std::os::unix::fs::symlink(&secret, at(&link)).unwrap();
    fs::create_dir(at(&folder)).unwrap();
    fs::write(
        at(&newer),
        format!(
            r#"{{"v":2,"request_id":"{}","op":"teleport"}}"#,
            newer.request_id
        ),
    )
    .unwrap();
    fs::write(at(&garbage), "{not json").unwrap();
    let linked = request(6);
    fs::hard_link(&secret, at(&linked)).unwrap();
    fs::write(home.inbox().join("notes.txt"), "hello").unwrap();
    inbox::drop_request(&home, &good).unwrap();

    assert_eq!(engine.process_inbox().unwrap(), 6);
    for (r, says) in [
        (&link, "symbolic link"),
        (&folder, "folder"),
        (&newer, "version 2"),
        (&garbage, "unreadable"),
        (&linked, "other links"),
    ] {
        let ack = ack_of(&home, &r.request_id);
        assert!(!ack.ok, "{ack:?}");
        let e = ack.error.unwrap();
        assert!(e.message.contains(says), "{says}: {}", e.message);
        assert!(e.bad_input);
    }
    let ok = ack_of(&home, &good.request_id);
    assert!(ok.ok, "{ok:?}");
    assert_eq!(
        ok.result,
        Some(serde_json::json!({"paused": true, "changed": true}))
    );
    // Nothing is left to be looked at again, and nothing was deleted.
    let left: Vec<_> = fs::read_dir(home.inbox_processing()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(!home.inbox().join("notes.txt").exists());
    let names = quarantine_names(&home);
    for r in [&link, &folder, &garbage] {
        assert!(
            names
                .iter()
                .any(|n| n.contains(&format!("{}.json", r.request_id))),
            "{} in {names:?}",
            r.request_id
        );
    }
    assert!(names.iter().any(|n| n.starts_with("inbox-notes.txt.")));
    assert_eq!(engine.process_inbox().unwrap(), 0);
    engine.close().unwrap();
    // The secret was never read: its target is untouched and still there.
    assert!(secret.is_file());
}

#[test]
fn uncollected_acks_expire() {
    let (_d, home) = home();
    let engine = Engine::open(&home, OwnerKind::Cli).unwrap();
    let (old, fresh) = (request(1), request(2));
    inbox::drop_request(&home, &old).unwrap();
    inbox::drop_request(&home, &fresh).unwrap();
    engine.process_inbox().unwrap();
    let aged = SystemTime::now() - inbox::STALE_AFTER - Duration::from_secs(1);
    fs::File::options()
        .write(true)
        .open(inbox::ack_path(&home, &old.request_id))
        .unwrap()
        .set_modified(aged)
        .unwrap();
    engine.close().unwrap();
    drop(engine);
    // The next owner deletes what nobody collected in time, and only that.
    Engine::open(&home, OwnerKind::Cli)
        .unwrap()
        .close()
        .unwrap();
    assert!(!inbox::ack_path(&home, &old.request_id).exists());
    assert!(inbox::take_ack(&home, &fresh.request_id).is_some());
}

#[test]
fn the_home_is_private_and_an_open_one_is_tightened_on_start() {
    let (_d, home) = home();
    submit_n(&home, 1);
    assert_eq!(mode(home.root()), 0o700);
    for p in [
        home.journal(),
        home.task_snapshot(),
        home.worker_snapshot(),
        home.config_file(),
        home.lock_file(),
    ] {
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    for p in [home.inbox(), home.workers_dir(), home.experts_dir()] {
        assert_eq!(mode(&p), 0o700, "{}", p.display());
    }
    // A home made before: everything readable by all.
    for p in [home.root().to_path_buf(), home.inbox(), home.workers_dir()] {
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }
    for p in [home.journal(), home.config_file()] {
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
    }
    let engine = Engine::open(&home, OwnerKind::Cli).unwrap();
    assert!(engine.load_report().tightened >= 5);
    engine.close().unwrap();
    assert_eq!(mode(home.root()), 0o700);
    assert_eq!(mode(&home.inbox()), 0o700);
    assert_eq!(mode(&home.journal()), 0o600);
    assert_eq!(mode(&home.config_file()), 0o600);
}

#[test]
fn a_journal_deleted_or_cut_while_the_owner_runs_loses_nothing_acknowledged() {
    for cut in [false, true] {
        let (_d, home) = home();
        let engine = Engine::open(&home, OwnerKind::Cli).unwrap();
        let submit = |text: &str| {
            engine
                .submit(&SubmitRequest {
                    description: text.into(),
                    task_type: None,
                    priority: None,
                    key: None,
                    workdir: Some(home.root().to_string_lossy().into_owned()),
                    worktree: false,
                    verify: None,
                    after: Vec::new(),
                    plan: false,
                })
                .unwrap()
                .task_id
                .to_string()
        };
        let mut ids: BTreeSet<String> = (0..5).map(|i| submit(&format!("before {i}"))).collect();
        engine.snapshot_if_due().unwrap();
        ids.insert(submit("after the snapshot"));
        if cut {
            let j = fs::read(home.journal()).unwrap();
            fs::write(home.journal(), &j[..j.len() / 3]).unwrap();
        } else {
            fs::remove_file(home.journal()).unwrap();
        }
        // A folder takes the worker snapshot's place too.
        fs::remove_file(home.worker_snapshot()).unwrap();
        fs::create_dir(home.worker_snapshot()).unwrap();
        ids.insert(submit("after the loss"));
        ids.insert(submit("and one more"));
        // As if the owner died now: no final snapshot.
        drop(engine);
        assert_eq!(stored(&home), ids, "cut: {cut}");
        let again = Engine::open(&home, OwnerKind::Cli).unwrap();
        assert_eq!(again.load_report().tasks, ids.len(), "cut: {cut}");
        again.close().unwrap();
    }
}

#[test]
fn a_home_with_experts_of_its_own_gets_no_shipped_expert_added() {
    let dir = tempfile::tempdir().unwrap();
    let home = Home::new(dir.path().join("home"));
    // Made by hand: a config, one expert of its own, none of the folders.
    fs::create_dir_all(home.experts_dir()).unwrap();
    fs::write(
        home.config_file(),
        r#"{"routing": {"fallback_expert": "alpha"}}"#,
    )
    .unwrap();
    let alpha = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../coordination/experts/development.json"),
    )
    .unwrap()
    .replace("\"development\"", "\"alpha\"");
    fs::write(home.experts_dir().join("alpha.json"), alpha).unwrap();
    let engine = Engine::open(&home, OwnerKind::Cli).unwrap();
    engine.close().unwrap();
    drop(engine);
    let names: Vec<String> = fs::read_dir(home.experts_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["alpha.json"]);
    assert!(home.inbox().is_dir(), "the folders it lacked were made");
    // An empty experts folder is a new home's: it gets the shipped ones.
    let (_d, fresh) = home_without_experts();
    Engine::open(&fresh, OwnerKind::Cli)
        .unwrap()
        .close()
        .unwrap();
    assert!(fresh.experts_dir().join("development.json").is_file());
}

fn home_without_experts() -> (tempfile::TempDir, Home) {
    let (d, home) = home();
    for e in fs::read_dir(home.experts_dir()).unwrap() {
        fs::remove_file(e.unwrap().path()).unwrap();
    }
    fs::remove_dir_all(home.inbox()).unwrap();
    (d, home)
}
