//! The shipped router on our own labeled set: the targets as a guard
//! against regressions in the keyword lists (accuracy and F1, not timing);
//! and a routing a person should confirm is held until one does.

use std::time::Duration;

use crate::util::{cortex_bin, text, TestHome};

const LIMIT: Duration = Duration::from_secs(40);

#[test]
fn the_shipped_lists_meet_the_targets_on_our_labeled_set() {
    let h = TestHome::new();
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/data/routing/golden.jsonl");
    let out = h.cortex(&["eval", "--defaults", "--folds", "0", "--json", golden]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = &v[0]["keywords"];
    assert!(m["n"].as_u64().unwrap() >= 150);
    let acc = m["accuracy"].as_f64().unwrap();
    assert!(acc >= 0.92, "accuracy {acc}");
    for (expert, s) in m["per_expert"].as_object().unwrap() {
        let f1 = s["f1"].as_f64().unwrap();
        assert!(f1 >= 0.85, "{expert} F1 {f1}");
    }
    assert_eq!(
        m["per_expert"].as_object().unwrap().len(),
        5,
        "all five experts are in the set"
    );
}

#[test]
fn the_shipped_model_meets_its_figures_on_the_blind_hold_out() {
    let h = TestHome::new();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/routing");
    let blind = format!("{dir}/blind.jsonl");
    let golden = format!("{dir}/golden.jsonl");
    let out = h.cortex(&[
        "eval",
        "--defaults",
        "--folds",
        "0",
        "--json",
        "--pool",
        &blind,
        &golden,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // `--pool` measures both files as one set, after each on its own.
    assert_eq!(v.as_array().unwrap().len(), 3, "{v}");
    assert_eq!(v[2]["file"], "all 2 files together");
    let n = |i: usize| v[i]["model"]["n"].as_f64().unwrap();
    let acc = |i: usize| v[i]["model"]["accuracy"].as_f64().unwrap();
    assert_eq!(n(2), n(0) + n(1));
    let pooled = (acc(0) * n(0) + acc(1) * n(1)) / n(2);
    assert!((acc(2) - pooled).abs() < 1e-3, "{} vs {pooled}", acc(2));
    let f1 = |i: usize| v[i]["model"]["macro_f1"].as_f64().unwrap();
    assert!(f1(0) >= 0.90, "blind macro-F1 {}", f1(0));
    assert!(f1(1) >= 0.95, "golden macro-F1 {}", f1(1));
    let p = &v[0]["parallel"];
    assert!(p["two_expert"].as_u64().unwrap() >= 30, "{p}");
    assert!(
        p["second_recall"].as_f64().unwrap() >= 0.5,
        "two-expert tasks run in parallel: {p}"
    );
    let split = p["single_split"].as_f64().unwrap() / p["single"].as_f64().unwrap();
    assert!(split <= 0.05, "single-expert tasks split: {split}");
}

/// Bit for bit where the shipped weights were made: training calls the C
/// library's `expf`, which other platforms may round differently.
#[cfg(target_os = "linux")]
#[test]
fn the_shipped_model_is_what_the_training_data_in_the_repository_gives() {
    let h = TestHome::new();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = h.workdir().join("model.bin");
    let run = std::process::Command::new(cortex_bin())
        .current_dir(root)
        .args(["router", "train", "--json", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run.stderr));
    let shipped = std::fs::read(format!("{root}/crates/core/data/router-model.bin")).unwrap();
    assert!(
        std::fs::read(&out).unwrap() == shipped,
        "the shipped weights differ from a fresh training run: run `make train-router` and commit the result"
    );
}

#[test]
fn a_model_file_that_is_not_one_for_these_experts_is_refused_by_name() {
    let h = TestHome::new();
    let dir = h.workdir();
    let shipped = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/core/data/router-model.bin"
    ))
    .unwrap();
    let at = shipped.windows(4).position(|w| w == b"cicd").unwrap();
    let mut renamed = shipped.clone();
    renamed[at..at + 4].copy_from_slice(b"cicx");
    let cases: [(&str, Vec<u8>, &str); 2] = [
        ("junk.bin", b"not weights".to_vec(), "is not router weights"),
        (
            "renamed.bin",
            renamed,
            "is a model of the experts cicx, coordinator",
        ),
    ];
    for (name, bytes, says) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        for cmd in [
            vec!["route", "x"],
            vec!["eval", "--defaults", "--folds", "0"],
        ] {
            let mut args = cmd.clone();
            args.extend(["--model", path.to_str().unwrap()]);
            if cmd[0] == "eval" {
                args.push(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/data/routing/golden.jsonl"
                ));
            }
            let out = h.cortex(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            let err = text(&out.stderr);
            assert!(err.contains(name) && err.contains(says), "{args:?}: {err}");
        }
    }
    // A good file is measured, and named as what was measured.
    let good = dir.join("candidate.bin");
    std::fs::write(&good, &shipped).unwrap();
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/data/routing/golden.jsonl");
    let out = h.cortex(&[
        "eval",
        "--defaults",
        "--folds",
        "0",
        "--model",
        good.to_str().unwrap(),
        golden,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("model ({}): accuracy", good.display())),
        "{}",
        text(&out.stdout)
    );
    let out = h.cortex(&["route", "--model", "/nonexistent/model.bin", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read model /nonexistent/model.bin"));
    // A text submit refuses is not explained as if it could run.
    let out = h.cortex(&["route", "fix a\u{1}b"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("control character (U+0001)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn labeled_files_and_training_options_that_measure_nothing_true_are_refused_by_line() {
    let h = TestHome::new();
    let dir = h.workdir();
    let good = r#"{"id":"1","text":"fix the parser","label":"development"}"#;
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "label.jsonl",
            format!("{good}\n{{\"id\":\"2\",\"text\":\"x\",\"label\":\"nobody\"}}\n").into_bytes(),
            "line 2: label `nobody` is not an expert",
        ),
        (
            "utf8.jsonl",
            [good.as_bytes(), b"\n{\"id\":\"2\",\"text\":\"\xff\"}\n"].concat(),
            "line 2: not valid UTF-8",
        ),
        (
            "empty-text.jsonl",
            br#"{"id":"1","text":" ","label":"security"}"#.to_vec(),
            "line 1: the text is empty",
        ),
        ("empty.jsonl", b"\n\n".to_vec(), "holds no labeled item"),
        (
            "few.jsonl",
            format!("{good}\n").into_bytes(),
            "--folds 5 is more folds than the 1 items",
        ),
    ];
    for (name, bytes, says) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = h.cortex(&["eval", "--defaults", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = text(&out.stderr);
        assert!(err.contains(says), "{name}: {err}");
    }
    let tasks = concat!(env!("CARGO_MANIFEST_DIR"), "/data/routing/golden.jsonl");
    let out_file = dir.join("x.bin");
    for (opt, value, says) in [
        ("--rate", "NaN", "--rate NaN, expected a positive number"),
        ("--epochs", "0", "--epochs 0, expected 1 to 1000"),
    ] {
        let out = h.cortex(&[
            "router",
            "train",
            "--tasks",
            tasks,
            "--commits",
            tasks,
            "--out",
            out_file.to_str().unwrap(),
            opt,
            value,
        ]);
        assert_eq!(out.status.code(), Some(2), "{opt}");
        assert!(
            text(&out.stderr).contains(says),
            "{opt}: {}",
            text(&out.stderr)
        );
        assert!(!out_file.exists(), "nothing written");
    }
}

#[test]
fn two_jobs_in_one_request_run_in_parallel_and_one_clause_never_splits() {
    let h = TestHome::new();
    let d = h.json(&[
        "route",
        "Rotate the leaked AWS keys and then write the incident report for customers",
    ]);
    assert_eq!(d["strategy"], "multi_expert_parallel", "{d}");
    assert_eq!(
        d["parallel_experts"],
        serde_json::json!(["security", "inventory"])
    );
    // A second expert there for one clause is explained by that clause,
    // not by a threshold the whole text did not reach.
    let d = h.json(&[
        "route",
        "Pin the actions to SHAs and stop the fork workflows from getting secrets.",
    ]);
    assert_eq!(
        d["parallel_experts"],
        serde_json::json!(["security", "cicd"]),
        "{d}"
    );
    let why = d["explanation"].as_str().unwrap();
    assert!(
        why.contains(": parallel, the clause \"Pin the actions to SHAs\" is cicd's at 0.")
            && !why.contains("all reach"),
        "{why}"
    );
    // One clause: its second expert is likely, but it is one job.
    let d = h.json(&[
        "route",
        "Verify that CI runners for forks don't get access to the deploy secrets.",
    ]);
    assert!(
        d["scores"]["cicd"].as_f64().unwrap() >= cortex_core::router::MODEL_PARALLEL,
        "the example no longer has a likely second expert; pick another: {d}"
    );
    assert_eq!(d["strategy"], "single_expert", "{d}");
    assert_eq!(d["parallel_experts"], serde_json::json!(["security"]));
}

#[test]
fn keywords_that_cancel_out_still_count_as_matched() {
    // "audit" is security's, "audit log" one of its negatives: the points
    // cancel, but the text is on the lists' map, so 0.50 decides.
    let h = TestHome::new();
    let d = h.json(&["route", "Check the audit log."]);
    assert_eq!(d["keyword_scores"]["security"], 0.0, "{d}");
    assert!(d["matched"]["security"].is_array(), "{d}");
    let c = d["confidence"].as_f64().unwrap();
    assert!(
        (cortex_core::router::MODEL_MIN_CONFIDENCE
            ..cortex_core::router::MODEL_MIN_CONFIDENCE_UNMATCHED)
            .contains(&c),
        "the example no longer falls between the two minimums; pick another: {d}"
    );
    assert_eq!(d["strategy"], "single_expert", "{d}");
}

#[test]
fn a_correction_sends_the_same_text_to_the_corrected_expert_and_going_back_is_kept() {
    let h = TestHome::new();
    let text_ = "Fix the SQL injection in the search query";
    let before = h.json(&["route", text_]);
    assert_eq!(before["primary_expert"], "security", "{before}");
    let id = h.submit_in(text_, &h.workdir());
    assert!(h.cortex(&["reroute", &id, "inventory"]).status.success());
    // Keywords and all, as it is routed: the person's word wins.
    let after = h.json(&["route", text_]);
    assert_eq!(after["primary_expert"], "inventory", "{after}");
    // Corrected elsewhere, then back: each is the person's last word, kept.
    assert!(h.cortex(&["reroute", &id, "security"]).status.success());
    let back = h.json(&["reroute", &id, "inventory"]);
    assert!(
        !back["message"]
            .as_str()
            .unwrap()
            .contains("nothing changed"),
        "{back}"
    );
    let examples = std::fs::read_to_string(h.file("router-examples.jsonl")).unwrap();
    let experts: Vec<String> = examples
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["expert"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        experts,
        ["inventory", "security", "inventory"],
        "{examples}"
    );
    // The same again: nothing new.
    let again = h.json(&["reroute", &id, "inventory"]);
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("nothing changed"),
        "{again}"
    );
}

#[test]
fn usage_errors_under_json_are_error_objects_and_a_task_can_come_on_stdin() {
    let h = TestHome::new();
    for args in [
        vec!["--json", "route"],
        vec!["--json", "route", "x", "--bogus"],
    ] {
        let out = h.cortex(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim())
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&out.stdout)));
        assert_eq!(v["error"]["code"], "usage", "{v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty(), "{v}");
    }
    let wd = h.workdir();
    let mut child = std::process::Command::new(crate::util::cortex_bin())
        .args([
            "--home",
            h.path().to_str().unwrap(),
            "--json",
            "submit",
            "-",
            "--workdir",
        ])
        .arg(&wd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        b"fix the parser\nand its tests\n",
    )
    .unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let id: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = h.task(id["task_id"].as_str().unwrap());
    assert_eq!(t["description"], "fix the parser\nand its tests", "{t}");
}

#[test]
fn route_batch_answers_every_line_and_bad_lines_get_an_error_object() {
    let h = TestHome::new();
    let dir = h.workdir();
    let input = dir.join("batch.jsonl");
    let mut bytes =
        b"{\"id\":\"a\",\"text\":\"deploy the release to staging with helm\"}\n".to_vec();
    bytes.extend_from_slice(b"{\"id\":\"b\",\"text\":\"\xff\xfe broken utf-8\"}\n");
    bytes.extend_from_slice(b"{\"id\":\"c\",\"text\":\"  \"}\n");
    bytes.extend_from_slice(b"{\"id\":\"d\",\"text\":\"x\",\"type\":\"dance\"}\n");
    bytes.extend_from_slice(b"{\"id\":\"e\",\"text\":\"anything\",\"type\":\"security-audit\"}\n");
    std::fs::write(&input, bytes).unwrap();
    let out = h.cortex(&["route", "--batch", input.to_str().unwrap()]);
    // Every line answered; refused lines make it exit 2, as `submit --batch`.
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(
        (lines[0]["id"].as_str(), lines[0]["primary_expert"].as_str()),
        (Some("a"), Some("cicd"))
    );
    let said = |i: usize| lines[i]["error"]["message"].as_str().unwrap().to_string();
    assert!(said(1).contains("UTF-8"));
    assert!(said(2).contains("empty"));
    assert!(said(3).contains("unknown task type `dance`"));
    assert_eq!(
        (
            lines[3]["line"].as_u64(),
            lines[3]["id"].as_str(),
            lines[3]["error"]["code"].as_str()
        ),
        (Some(4), Some("d"), Some("bad_input"))
    );
    assert_eq!(lines[4]["primary_expert"], "security");
    assert_eq!(lines[4]["confidence"], 0.95);
    for k in [
        "strategy",
        "parallel_experts",
        "scores",
        "matched",
        "explanation",
    ] {
        assert!(!lines[0][k].is_null(), "{k} missing: {}", lines[0]);
    }
    // A dry run changes nothing.
    assert!(!h.file("routing-decisions.jsonl").exists());
}

#[test]
fn a_persons_correction_is_recorded_applied_and_learned() {
    let h = TestHome::new();
    h.json(&["pause"]);
    let id = h.json(&["submit", "tidy the flux capacitor"])["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let t = h.json(&["reroute", &id, "cicd"]);
    assert_eq!(t["expert"], "cicd");
    assert_eq!(t["routing"]["method"], "person");
    let examples = std::fs::read_to_string(h.file("router-examples.jsonl")).unwrap();
    assert!(examples.contains("\"source\":\"correction\"") && examples.contains("flux capacitor"));
    // The same correction again changes nothing and is not learned twice.
    let again = h.json(&["reroute", &id, "cicd"]);
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("already goes to cicd by a person's choice: nothing changed"),
        "{again}"
    );
    let after = std::fs::read_to_string(h.file("router-examples.jsonl")).unwrap();
    assert_eq!(after, examples);
    let bad = h.cortex(&["reroute", &id, "astrology"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("unknown expert `astrology`"),
        "{}",
        text(&bad.stderr)
    );
    let reset = h.cortex(&["router", "reset"]);
    assert!(reset.status.success(), "{}", text(&reset.stderr));
    assert!(
        !h.file("router-examples.jsonl").exists(),
        "reset moves the examples aside"
    );
}

/// A home with the fake agent that holds low-confidence routings, as the
/// shipped configuration does.
fn confirming_home() -> TestHome {
    let h = TestHome::new();
    h.use_fake_agent();
    h.configure(serde_json::json!({"routing": {"confirm_low_confidence": true}}));
    h
}

#[test]
fn the_shipped_configuration_holds_low_confidence_routings() {
    let h = TestHome::new();
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(h.file("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["routing"]["confirm_low_confidence"], true);
}

#[test]
fn a_low_confidence_task_is_held_until_a_person_confirms_it() {
    let h = confirming_home();
    let owner = h.start_owner();
    let held = h.json(&[
        "submit",
        "tidy up the attic FAKE:normal",
        "--workdir",
        h.workdir().to_str().unwrap(),
    ]);
    assert_eq!(held["status"], "awaiting_confirmation", "{held}");
    let held = held["task_id"].as_str().unwrap().to_string();
    // A sure task submitted after it runs to its end; the held one, first
    // in the queue, does not start meanwhile.
    let sure = h.json(&[
        "submit",
        "implement the export FAKE:normal",
        "--type",
        "feature",
        "--workdir",
        h.workdir().to_str().unwrap(),
    ]);
    let sure = sure["task_id"].as_str().unwrap();
    assert_eq!(h.wait_task_done(sure, LIMIT)["status"], "completed");
    let t = h.task(&held);
    assert_eq!(t["status"], "awaiting_confirmation", "{t}");
    assert!(
        t["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("cortex confirm {held}")),
        "{t}"
    );
    assert!(h.workers_of(&held).is_empty(), "nothing started");
    assert_eq!(h.json(&["status"])["tasks"]["awaiting_confirmation"], 1);
    let listed = text(&h.cortex(&["tasks"]).stdout);
    assert!(
        listed.contains("awaiting_confirmation: low-confidence routing to development"),
        "{listed}"
    );
    let ack = h.json(&["confirm", &held]);
    assert_eq!(ack["applied"], true, "{ack}");
    let t = h.wait_task_done(&held, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    assert_eq!(h.workers_of(&held)[0]["expert"], "development");
    let again = h.cortex(&["confirm", &held]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        text(&again.stderr).contains("not awaiting confirmation"),
        "{}",
        text(&again.stderr)
    );
    owner.stop();
}

#[test]
fn a_held_task_goes_to_the_expert_a_person_confirms_or_reroutes_it_to() {
    let h = confirming_home();
    let owner = h.start_owner();
    let a = h.submit_in("tidy up the attic FAKE:normal", &h.workdir());
    let b = h.submit_in("tidy up the cellar FAKE:normal", &h.workdir());
    assert_eq!(h.task(&a)["status"], "awaiting_confirmation");
    assert_eq!(h.task(&b)["status"], "awaiting_confirmation");
    let ack = h.json(&["confirm", &a, "security"]);
    assert_eq!(ack["applied"], true, "{ack}");
    let ack = h.json(&["reroute", &b, "inventory"]);
    assert_eq!(ack["applied"], true, "{ack}");
    assert_eq!(h.wait_task_done(&a, LIMIT)["status"], "completed");
    assert_eq!(h.wait_task_done(&b, LIMIT)["status"], "completed");
    assert_eq!(h.workers_of(&a)[0]["expert"], "security");
    assert_eq!(h.workers_of(&b)[0]["expert"], "inventory");
    owner.stop();
}
