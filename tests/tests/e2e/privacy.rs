//! What a task says stays with its owner: secrets are redacted in every
//! output, the task text is in no process's argv, and text a person sends
//! is checked the same way everywhere.

use std::time::Duration;

use crate::util::{text, wait_until, TestHome};

const LIMIT: Duration = Duration::from_secs(60);
const KEY: &str = "sk-ant-api03-Zq8vN3kLmP2xR7tY9wB4cD6fG1hJ5sA0eU";

/// Every process's argv, joined, for processes we can read.
fn all_command_lines() -> Vec<(u32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            Some((pid, String::from_utf8_lossy(&raw).replace('\0', " ")))
        })
        .collect()
}

#[test]
fn no_output_shows_a_secret_and_no_argv_holds_the_task() {
    let h = TestHome::new();
    h.use_fake_agent();
    let owner = h.start_owner();
    let task_text = format!("deploy with the key {KEY} quietly FAKE:hang");
    let id = h.submit_in(&task_text, &h.workdir());
    let w = h.wait_running_worker(&id, LIMIT);
    for (pid, line) in all_command_lines() {
        assert!(
            !line.contains("quietly FAKE:hang") && !line.contains(KEY),
            "process {pid} shows the task in its argv: {line}"
        );
    }
    for args in [
        vec!["tasks"],
        vec!["tasks", "--json"],
        vec!["workers"],
        vec!["workers", "--json"],
        vec!["status", "--json"],
        vec!["logs", w.as_str()],
    ] {
        let out = h.cortex(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            !all.contains(KEY),
            "`cortex {}` shows the key: {all}",
            args.join(" ")
        );
    }
    let shown = h.task(&id);
    assert!(
        shown["description"]
            .as_str()
            .is_some_and(|d| d.contains("[redacted]") && d.contains("quietly")),
        "{shown}"
    );
    // The agent itself got the whole task.
    assert_eq!(h.starts()[0]["prompt"], task_text.as_str());
    owner.stop();
}

#[test]
fn secrets_in_words_urls_keys_and_checks_reach_no_view_no_record_and_no_log() {
    let h = TestHome::new();
    h.use_fake_agent();
    let owner = h.start_owner();
    let wd = h.workdir();
    let wd = wd.to_str().unwrap();
    let secrets = [
        "p@ss!w0rd#2024",
        "Hunter2SuperSecret",
        "AIzaSyA1234567890abcdefghijklmnopqrstu",
        "abcdef123456zz",
        "hunter2hunter2",
        "Hunter2Verify99",
    ];
    let ids: Vec<String> = [
        (
            "Deploy with password=p@ss!w0rd#2024 to prod FAKE:normal",
            None,
        ),
        (
            "Connect to postgres://admin:Hunter2SuperSecret@db.example.com/prod and fix the migration FAKE:normal",
            Some("API_KEY=abcdef123456zz sh -c 'exit 0'"),
        ),
        (
            "google key AIzaSyA1234567890abcdefghijklmnopqrstu in the frontend FAKE:normal",
            None,
        ),
        // A check that fails, so its command is quoted in an alert.
        (
            "Fix the verify bug FAKE:normal",
            Some("PGPASSWORD='p@ss!w0rd#2024' true; echo the db password=Hunter2Verify99; exit 1"),
        ),
    ]
    .iter()
    .map(|(task, check)| {
        let mut args = vec!["submit", task, "--workdir", wd];
        if task.starts_with("Deploy") {
            args.extend(["--key", "password=hunter2hunter2"]);
        }
        if let Some(c) = check {
            args.extend(["--verify", c]);
        }
        h.json(&args)["task_id"].as_str().unwrap().to_string()
    })
    .collect();
    for id in &ids {
        // Confirmed, if the router held it: either way it runs.
        let _ = h.cortex(&["confirm", id]);
        h.wait_status(id, &["completed", "failed", "needs_attention"], LIMIT);
    }
    let mut seen = String::new();
    for args in [
        vec!["tasks", "--json"],
        vec!["tasks"],
        vec!["workers", "--json"],
    ] {
        let out = h.cortex(&args);
        seen.push_str(&text(&out.stdout));
        seen.push_str(&text(&out.stderr));
    }
    for id in &ids {
        seen.push_str(&text(&h.cortex(&["show", id]).stdout));
        let shown = h.task(id)["description"].as_str().unwrap().to_string();
        seen.push_str(&text(&h.cortex(&["route", &shown]).stdout));
    }
    // What the owner printed (its events, alerts among them).
    // Its alert is raised just after the task's end is recorded, alone
    // or in a summary with others.
    wait_until(LIMIT, "the failed check's alert", || {
        owner.stdout_so_far().lines().any(|l| {
            (l.starts_with("ALERT") || l.starts_with("  - [")) && l.contains("verification failed")
        })
    });
    seen.push_str(&owner.stdout_so_far());
    owner.stop();
    // What Cortex keeps for people: decisions, examples, logs, activity.
    for dir in ["", "logs"] {
        for entry in std::fs::read_dir(h.path().join(dir)).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let kept = name.starts_with("routing-decisions")
                || name.starts_with("router-examples")
                || name.starts_with("pm-activity")
                || name.starts_with("cortex.");
            if kept && entry.path().is_file() {
                seen.push_str(&String::from_utf8_lossy(
                    &std::fs::read(entry.path()).unwrap(),
                ));
            }
        }
    }
    assert!(seen.contains("[redacted]"), "{seen}");
    // Text hidden once and shown again (an event printed by `cortex run`)
    // is not changed a second time.
    assert!(!seen.contains("[redacted]]"), "{seen}");
    for secret in secrets {
        assert!(
            !seen.to_lowercase().contains(&secret.to_lowercase()),
            "{secret} shown: {seen}"
        );
    }
}

#[test]
fn text_a_person_sends_is_checked_the_same_way_everywhere() {
    let h = TestHome::new();
    h.use_fake_agent();
    let out = h.cortex(&["submit", "rename \u{202E}txt.exe files", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("U+202E"),
        "{}",
        text(&out.stdout)
    );
    let owner = h.start_owner();
    let id = h.submit_in("long job FAKE:hang", &h.workdir());
    let w = h.wait_running_worker(&id, LIMIT);
    for bad in ["go on \u{7}", "go on \u{2067}"] {
        let out = h.cortex(&["nudge", &w, bad]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out.stderr));
    }
    owner.stop();
}
