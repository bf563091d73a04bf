//! Tasks that depend on each other, and plans submitted whole.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use crate::util::{text, wait_until, TestHome};

const LIMIT: Duration = Duration::from_secs(60);

/// `cortex plan submit -` with the plan on stdin; (exit code, stdout).
fn submit_plan(
    h: &TestHome,
    plan: &serde_json::Value,
    workdir: &std::path::Path,
) -> (i32, serde_json::Value, String) {
    submit_plan_with(h, plan, workdir, &[])
}

/// `submit_plan` with more options (`--worktree`).
fn submit_plan_with(
    h: &TestHome,
    plan: &serde_json::Value,
    workdir: &std::path::Path,
    more: &[&str],
) -> (i32, serde_json::Value, String) {
    let mut c = h.command();
    c.args(["plan", "submit", "-", "--json", "--workdir"])
        .arg(workdir)
        .args(more)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(plan.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    let value = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code().unwrap_or(-1),
        value,
        stdout + &text(&out.stderr),
    )
}

fn task_of(ack: &serde_json::Value, name: &str) -> String {
    ack["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .and_then(|t| t["task_id"].as_str())
        .unwrap()
        .to_string()
}

fn prompts(h: &TestHome) -> Vec<String> {
    h.starts()
        .iter()
        .filter_map(|s| s["prompt"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_chain_runs_in_order_and_a_failure_stops_what_depends_on_it() {
    let h = TestHome::new();
    h.use_fake_agent();
    h.edit_all_experts(serde_json::json!({"max_restarts": 0}));
    let owner = h.start_owner();
    let wd = h.workdir();
    let plan = serde_json::json!({
        "goal": "ship the parser",
        "tasks": [
            {"name": "c", "description": "step c FAKE:normal", "after": ["b"], "expert": "development"},
            {"name": "a", "description": "step a FAKE:normal", "verify": "test -f fake-out.txt", "expert": "development"},
            {"name": "b", "description": "step b FAKE:normal", "after": ["a"], "verify": "grep -q 'step b' fake-out.txt", "expert": "development"},
        ]
    });
    let (code, ack, out) = submit_plan(&h, &plan, &wd);
    assert_eq!(code, 0, "{out}");
    let (a, b, c) = (task_of(&ack, "a"), task_of(&ack, "b"), task_of(&ack, "c"));
    assert_eq!(h.task(&c)["status"], "blocked");
    assert_eq!(
        h.wait_status(&c, &["completed", "failed", "needs_attention"], LIMIT)["status"],
        "completed"
    );
    assert_eq!(h.task(&a)["status"], "completed");
    assert_eq!(h.task(&b)["status"], "completed");
    assert_eq!(
        prompts(&h),
        [
            "step a FAKE:normal",
            "step b FAKE:normal",
            "step c FAKE:normal"
        ],
        "in dependency order"
    );
    let shown = h.json(&["plan", "show", ack["plan_id"].as_str().unwrap()]);
    assert_eq!(shown["counts"]["completed"], 3, "{shown}");
    assert_eq!(shown["tasks"][2]["after"][0], "b", "{shown}");

    // The same chain whose middle task fails: the last never starts.
    let plan = serde_json::json!({
        "goal": "ship the lexer",
        "tasks": [
            {"name": "a", "description": "lex a FAKE:normal", "expert": "development"},
            {"name": "b", "description": "lex b FAKE:crash", "after": ["a"], "expert": "development"},
            {"name": "c", "description": "lex c FAKE:normal", "after": ["b"], "expert": "development"},
        ]
    });
    let (code, ack, out) = submit_plan(&h, &plan, &h.workdir());
    assert_eq!(code, 0, "{out}");
    let (b, c) = (task_of(&ack, "b"), task_of(&ack, "c"));
    let t = h.wait_status(&c, &["completed", "failed", "needs_attention"], LIMIT);
    assert_eq!(t["status"], "needs_attention", "{t}");
    assert!(
        t["reason"].as_str().unwrap().contains(&b),
        "names the dependency: {t}"
    );
    assert_eq!(h.task(&b)["status"], "failed");
    assert!(
        !prompts(&h).iter().any(|p| p == "lex c FAKE:normal"),
        "c never started"
    );
    // Both plans are listed, newest first, with the engine's counts.
    let listed = h.json(&["plan", "list"]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0]["id"], ack["plan_id"], "newest first");
    assert_eq!(listed[0]["goal"], "ship the lexer");
    assert_eq!(listed[1]["counts"]["completed"], 3);
    let out = h.cortex(&["plan", "list"]);
    let printed = text(&out.stdout);
    let first = printed.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(ack["plan_id"].as_str().unwrap()) && first.contains("ship the lexer"),
        "{printed}"
    );
    owner.stop();
}

#[test]
fn independent_branches_run_at_once_and_after_waits_for_a_task() {
    let h = TestHome::new();
    h.use_fake_agent();
    let owner = h.start_owner();
    let plan = serde_json::json!({
        "goal": "two branches",
        "tasks": [
            {"name": "left", "description": "left FAKE:slow FAKE_SECS:1 FAKE_LINES:3", "expert": "development"},
            {"name": "right", "description": "right FAKE:slow FAKE_SECS:1 FAKE_LINES:3", "expert": "development"},
            {"name": "join", "description": "join FAKE:normal", "after": ["left", "right"], "expert": "development"},
        ]
    });
    let (code, ack, out) = submit_plan(&h, &plan, &h.workdir());
    assert_eq!(code, 0, "{out}");
    wait_until(LIMIT, "both branches running at once", || {
        h.workers()
            .iter()
            .filter(|w| w["state"] == "running")
            .count()
            == 2
    });
    let join = task_of(&ack, "join");
    assert_eq!(h.task(&join)["status"], "blocked");
    assert_eq!(
        h.wait_status(&join, &["completed", "failed", "needs_attention"], LIMIT)["status"],
        "completed"
    );
    // --after on a plain submission.
    let first = h.submit_in("first job FAKE:slow FAKE_SECS:1 FAKE_LINES:2", &h.workdir());
    let wd = h.workdir();
    let then = h.json(&[
        "submit",
        "then job FAKE:normal",
        "--workdir",
        wd.to_str().unwrap(),
        "--after",
        &first,
    ]);
    let then = then["task_id"].as_str().unwrap().to_string();
    assert_eq!(h.task(&then)["status"], "blocked");
    assert_eq!(
        h.wait_status(&then, &["completed", "failed", "needs_attention"], LIMIT)["status"],
        "completed"
    );
    assert_eq!(h.task(&first)["status"], "completed");
    owner.stop();
}

#[test]
fn parallel_branches_of_a_plan_run_at_once_within_capacity() {
    let h = TestHome::new();
    h.use_fake_agent();
    h.configure(serde_json::json!({"capacity": {"max_workers": 2}}));
    let owner = h.start_owner();
    let plan = serde_json::json!({
        "goal": "three branches, room for two",
        "tasks": [
            {"name": "a", "description": "a FAKE:slow FAKE_SECS:0.5 FAKE_LINES:3", "expert": "development"},
            {"name": "b", "description": "b FAKE:slow FAKE_SECS:0.5 FAKE_LINES:3", "expert": "development"},
            {"name": "c", "description": "c FAKE:slow FAKE_SECS:0.5 FAKE_LINES:3", "expert": "development"},
        ]
    });
    let (code, ack, out) = submit_plan(&h, &plan, &h.workdir());
    assert_eq!(code, 0, "{out}");
    for name in ["a", "b", "c"] {
        let t = task_of(&ack, name);
        assert_eq!(
            h.wait_status(&t, &["completed", "failed", "needs_attention"], LIMIT)["status"],
            "completed"
        );
    }
    // How many attempts ran at once, from the journal's order of events.
    let journal = std::fs::read_to_string(h.file("journal.jsonl")).unwrap();
    let (mut now, mut most) = (0i32, 0i32);
    for line in journal.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        match v["kind"].as_str() {
            Some("attempt_started") => now += 1,
            Some("attempt_ended") => now -= 1,
            _ => {}
        }
        most = most.max(now);
    }
    assert_eq!(most, 2, "two branches at once, never three");
    owner.stop();
}

#[test]
fn a_cycle_or_an_unknown_dependency_is_refused_at_submit() {
    let h = TestHome::new();
    h.use_fake_agent();
    let plan = serde_json::json!({
        "goal": "loop",
        "tasks": [
            {"name": "a", "description": "a", "after": ["b"]},
            {"name": "b", "description": "b", "after": ["a"]},
        ]
    });
    let (code, _, out) = submit_plan(&h, &plan, &h.workdir());
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("cycle through: a, b"), "{out}");
    let plan = serde_json::json!({"goal": "g", "tasks": [{"name": "a", "description": "a", "after": ["ghost"]}]});
    let (code, _, out) = submit_plan(&h, &plan, &h.workdir());
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("`ghost` is not a task of this plan"), "{out}");
    let wd = h.workdir();
    let out = h.cortex(&[
        "submit",
        "x",
        "--workdir",
        wd.to_str().unwrap(),
        "--after",
        "t-01m85c8stnvvhps4dd4r52czgd",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("--after: no task"),
        "{}",
        text(&out.stdout)
    );
    assert!(h.tasks().is_empty(), "nothing was stored");
}

#[test]
fn a_plan_cut_short_by_a_crash_is_all_there_or_not_at_all() {
    let h = TestHome::new();
    h.use_fake_agent();
    let tasks: Vec<serde_json::Value> = (0..40)
        .map(|i| serde_json::json!({"name": format!("t{i}"), "description": format!("part {i} of the migration"), "expert": "development"}))
        .collect();
    let plan = serde_json::json!({"goal": "migrate", "tasks": tasks});
    let (code, _, out) = submit_plan(&h, &plan, &h.workdir());
    assert_eq!(code, 0, "{out}");
    assert_eq!(h.tasks().len(), 40);
    // The owner dies in the middle of writing the plan's record: the line
    // is cut, and the snapshots that would hold it are not written yet.
    let path = h.file("journal.jsonl");
    let journal = std::fs::read_to_string(&path).unwrap();
    let start = journal.find("\"kind\":\"plan_submitted\"").unwrap();
    let line_start = journal[..start].rfind('\n').map_or(0, |i| i + 1);
    std::fs::write(&path, &journal[..line_start + (start - line_start) + 2000]).unwrap();
    for f in ["task-queue.json", "worker-pool.json"] {
        let _ = std::fs::remove_file(h.file(f));
    }
    assert!(h.tasks().is_empty(), "none of the plan");
    let (code, _, out) = submit_plan(&h, &plan, &h.workdir());
    assert_eq!(code, 0, "{out}");
    assert_eq!(h.tasks().len(), 40, "all of the plan");
}

#[test]
fn a_plan_submission_killed_with_sigkill_at_any_moment_is_all_there_or_not_at_all() {
    let h = TestHome::new();
    h.use_fake_agent();
    let wd = h.workdir();
    let filler = "migrate one module of the billing service to the new storage layer ".repeat(20);
    let plan_file = |n: usize| {
        let tasks: Vec<serde_json::Value> = (0..100)
            .map(|i| {
                serde_json::json!({
                    "name": format!("t{i}"),
                    "description": format!("round {n} part {i}: {filler}"),
                    "after": if i == 0 { vec![] } else { vec![format!("t{}", i - 1)] },
                })
            })
            .collect();
        let path = h.scratch.path().join(format!("plan-{n}.json"));
        std::fs::write(
            &path,
            serde_json::json!({"goal": format!("round {n}"), "tasks": tasks}).to_string(),
        )
        .unwrap();
        path
    };
    let submit = |n: usize| {
        let mut c = h.command();
        c.args(["plan", "submit", "--json", "--workdir"])
            .arg(&wd)
            .arg(plan_file(n));
        crate::util::OwnedChild::spawn_logged(c, h.scratch.path())
    };
    let of_round = |n: usize| {
        let marker = format!("round {n} part ");
        h.tasks()
            .iter()
            .filter(|t| {
                t["description"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with(&marker)
            })
            .count()
    };
    // How long a whole submission takes here: the kills are spread over it.
    let started = std::time::Instant::now();
    let out = submit(0).wait_output(LIMIT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let whole = started.elapsed();
    assert_eq!(of_round(0), 100);
    let rounds = 8;
    for n in 1..=rounds {
        let child = submit(n);
        std::thread::sleep(whole.mul_f64(n as f64 / rounds as f64));
        // The process that owns the home while it writes the plan dies at
        // once: no handler, no flush, no final snapshot.
        child.kill();
        let count = of_round(n);
        eprintln!(
            "round {n}: killed after {:?}, {count} tasks",
            whole.mul_f64(n as f64 / rounds as f64)
        );
        assert!(
            count == 0 || count == 100,
            "round {n}: {count} of the plan's 100 tasks survived a SIGKILL"
        );
    }
    // The home is sound afterwards: a plan submitted now is all there.
    let out = submit(rounds + 1).wait_output(LIMIT);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(of_round(rounds + 1), 100);
}

/// A home where the real Claude Code CLI runs against the mock API.
fn claude_home() -> (TestHome, crate::claude::MockApi) {
    let h = TestHome::new();
    h.use_fake_agent();
    let mock = crate::claude::MockApi::start(&h);
    h.configure(serde_json::json!({"agent": mock.agent_config(&h)}));
    (h, mock)
}

#[test]
fn the_coordinator_splits_a_goal_whose_plan_runs_and_completes_it() {
    let (h, _mock) = claude_home();
    h.configure(serde_json::json!({"routing": {"confirm_plans": false}}));
    let owner = h.start_owner();
    let wd = h.workdir();
    let goal = h.json(&[
        "submit",
        "Build the report pipeline MOCK:plan",
        "--plan",
        "--workdir",
        wd.to_str().unwrap(),
    ]);
    let goal = goal["task_id"].as_str().unwrap().to_string();
    let t = h.wait_status(
        &goal,
        &["completed", "failed", "needs_attention"],
        Duration::from_secs(120),
    );
    assert_eq!(t["status"], "completed", "{t}");
    assert!(
        t["reason"]
            .as_str()
            .unwrap()
            .contains("all 2 tasks of plan"),
        "{t}"
    );
    let plan_tasks: Vec<serde_json::Value> = h
        .tasks()
        .into_iter()
        .filter(|x| x["id"] != goal.as_str())
        .collect();
    assert_eq!(plan_tasks.len(), 2, "{plan_tasks:?}");
    assert!(plan_tasks.iter().all(|x| x["status"] == "completed"));
    let coordinator = h.workers_of(&goal);
    assert_eq!(coordinator[0]["expert"], "coordinator");
    owner.stop();
}

#[test]
fn an_invalid_plan_is_sent_back_once_and_a_held_plan_waits_for_a_person() {
    let (h, _mock) = claude_home();
    let owner = h.start_owner();
    let wd = h.workdir();
    let goal = h.json(&[
        "submit",
        "Build the export MOCK:badplan",
        "--plan",
        "--workdir",
        wd.to_str().unwrap(),
    ]);
    let goal = goal["task_id"].as_str().unwrap().to_string();
    let mut reason = String::new();
    let mut last = serde_json::Value::Null;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !reason.contains("awaiting confirmation") {
        assert!(
            std::time::Instant::now() < deadline,
            "the corrected plan was not submitted: {last} {:?}",
            h.workers_of(&goal)
        );
        std::thread::sleep(Duration::from_millis(50));
        last = h.task(&goal);
        reason = last["reason"].as_str().unwrap_or_default().to_string();
    }
    let w = &h.workers_of(&goal)[0];
    assert_eq!(w["attempt"], 2, "sent back once: {w}");
    let meta = h.file(&format!(
        "workers/{}/attempt-2/meta.json",
        w["id"].as_str().unwrap()
    ));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(meta).unwrap()).unwrap();
    let sent_back = meta["prompt"].as_str().unwrap_or_default();
    assert!(
        sent_back.contains("not a valid plan")
            && sent_back.contains("the dependencies form a cycle through"),
        "the agent is told what was wrong with its plan: {sent_back}"
    );
    let plan_id = reason
        .split_whitespace()
        .find(|x| x.starts_with("p-"))
        .unwrap()
        .to_string();
    let shown = h.json(&["plan", "show", &plan_id]);
    assert_eq!(shown["awaiting_confirmation"], true, "{shown}");
    assert_eq!(shown["counts"]["awaiting_confirmation"], 2, "{shown}");
    assert_eq!(
        h.task(&goal)["status"],
        "running",
        "a goal lives on with its plan"
    );
    // Its tasks wait with it: one is not let go alone, by a confirmation
    // or a correction (which is recorded, the task still held).
    let one = shown["tasks"][0]["task"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = h.cortex(&["confirm", &one]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("plan confirm"),
        "{}",
        text(&out.stderr)
    );
    let ack = h.json(&["reroute", &one, "security"]);
    assert!(
        ack["message"].as_str().unwrap().contains("once its plan"),
        "{ack}"
    );
    assert_eq!(h.task(&one)["status"], "awaiting_confirmation");
    h.json(&["plan", "confirm", &plan_id]);
    let t = h.wait_status(
        &goal,
        &["completed", "failed", "needs_attention"],
        Duration::from_secs(120),
    );
    assert_eq!(t["status"], "completed", "{t}");
    // The plan says its goal's own state too.
    let shown = text(&h.cortex(&["plan", "show", &plan_id]).stdout);
    assert!(
        shown.contains(&format!("goal task {goal}: completed")),
        "{shown}"
    );
    assert_eq!(
        h.json(&["plan", "show", &plan_id])["goal_status"],
        "completed"
    );
    owner.stop();
}

/// A plan whose tasks run in worktrees of `repo`, with an agent that writes
/// its task's text to `<first word>.txt`.
fn worktree_plan_home(h: &TestHome) {
    let script = h.scratch.path().join("writer.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nname=$(printf %s \"$1\" | cut -d' ' -f1)\nprintf '%s\\n' \"$1\" > \"$name.txt\"\n",
    )
    .unwrap();
    h.configure(serde_json::json!({
        "agent": {"driver": "generic", "command": ["sh", script], "args_template": ["{prompt}"]},
        "merge": {"author": "Cortex Merge <merge@example.invalid>"}
    }));
}

#[test]
fn dependents_starting_together_all_start_from_their_dependencys_work() {
    use crate::review::repo;
    let h = TestHome::new();
    h.use_fake_agent();
    worktree_plan_home(&h);
    let (dir, _) = repo(&h);
    let owner = h.start_owner();
    let after = |name: &str| serde_json::json!({"name": name, "description": format!("{name} part"), "expert": "development", "after": ["root"]});
    let plan = serde_json::json!({"goal": "fan out", "tasks": [
        {"name": "root", "description": "root part", "expert": "development"},
        after("one"), after("two"), after("three"), after("four"),
    ]});
    let (code, ack, said) = submit_plan_with(&h, &plan, &dir, &["--worktree"]);
    assert_eq!(code, 0, "{said}");
    // One git index per worktree: the dependency's work is committed once
    // for all of them, not raced by each.
    for t in ack["tasks"].as_array().unwrap() {
        let id = t["task_id"].as_str().unwrap();
        let done = h.wait_status(id, &["completed", "failed", "needs_attention"], LIMIT);
        assert_eq!(done["status"], "completed", "{}: {done}", t["name"]);
        if t["name"] != "root" {
            let wd = h.workers_of(id)[0]["workdir"].as_str().unwrap().to_string();
            assert_eq!(
                std::fs::read_to_string(std::path::Path::new(&wd).join("root.txt")).unwrap(),
                "root part\n"
            );
        }
    }
    owner.stop();
}

#[test]
fn a_dependent_starts_from_its_dependencys_work_and_plan_merge_stops_cleanly_at_a_conflict() {
    use crate::review::{git, repo};
    let h = TestHome::new();
    h.use_fake_agent();
    worktree_plan_home(&h);
    let (dir, _) = repo(&h);
    let owner = h.start_owner();
    let run = |plan: serde_json::Value| -> serde_json::Value {
        let mut c = h.command();
        c.args(["plan", "submit", "-", "--json", "--worktree", "--workdir"])
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(plan.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stdout));
        let ack: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for t in ack["tasks"].as_array().unwrap() {
            let id = t["task_id"].as_str().unwrap();
            assert_eq!(
                h.wait_status(id, &["completed", "failed", "needs_attention"], LIMIT)["status"],
                "completed"
            );
        }
        ack
    };
    let ack = run(serde_json::json!({"goal": "two files", "tasks": [
        {"name": "alpha", "description": "alpha part", "expert": "development"},
        {"name": "beta", "description": "beta part", "expert": "development", "after": ["alpha"]},
    ]}));
    let plan_id = ack["plan_id"].as_str().unwrap();
    let merged = h.json(&["plan", "merge", plan_id]);
    assert!(merged["stopped_at"].is_null(), "{merged}");
    assert_eq!(merged["merged"].as_array().unwrap().len(), 2, "{merged}");
    assert_eq!(git(&dir, &["show", "main:alpha.txt"]), "alpha part");
    assert_eq!(git(&dir, &["show", "main:beta.txt"]), "beta part");
    // The dependency's work, committed for its dependent, is a commit of
    // its task as a merge writes one: its text, its trailer, the author.
    let alpha_commit = git(
        &dir,
        &[
            "log",
            "--format=%an <%ae>|%s|%b",
            "-1",
            "--",
            "alpha.txt",
            "main",
        ],
    );
    assert!(
        alpha_commit.starts_with("Cortex Merge <merge@example.invalid>|alpha part|")
            && alpha_commit.contains("Cortex-Task: "),
        "{alpha_commit}"
    );
    let beta = ack["tasks"][1]["task_id"].as_str().unwrap();
    let beta_dir = h.workers_of(beta)[0]["workdir"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        std::fs::read_to_string(std::path::Path::new(&beta_dir).join("alpha.txt")).unwrap(),
        "alpha part\n",
        "the dependent task started from its dependency's work"
    );

    // Two independent tasks that write the same file: the first is merged,
    // the second conflicts, and its branch and the base stay as they were.
    let ack = run(serde_json::json!({"goal": "one file twice", "tasks": [
        {"name": "gamma", "description": "same gamma", "expert": "development"},
        {"name": "delta", "description": "same delta", "expert": "development"},
    ]}));
    let plan_id = ack["plan_id"].as_str().unwrap();
    let out = h.cortex(&["plan", "merge", plan_id, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stopped: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stopped["merged"][0]["name"], "gamma", "{stopped}");
    assert_eq!(stopped["stopped_at"]["name"], "delta", "{stopped}");
    assert!(
        stopped["stopped_at"]["reason"]
            .as_str()
            .unwrap()
            .contains("same.txt"),
        "{stopped}"
    );
    let main_after = git(&dir, &["rev-parse", "main"]);
    assert_eq!(git(&dir, &["show", "main:same.txt"]), "same gamma");
    let again = h.cortex(&["plan", "merge", plan_id, "--json"]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(
        git(&dir, &["rev-parse", "main"]),
        main_after,
        "nothing after the conflict moved"
    );

    // A task after two whose work conflicts cannot start on it.
    let plan = serde_json::json!({"goal": "join", "tasks": [
        {"name": "left", "description": "clash left", "expert": "development"},
        {"name": "right", "description": "clash right", "expert": "development"},
        {"name": "both", "description": "both sides", "expert": "development", "after": ["left", "right"]},
    ]});
    let mut c = h.command();
    c.args(["plan", "submit", "-", "--json", "--worktree", "--workdir"])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(plan.to_string().as_bytes())
        .unwrap();
    let ack: serde_json::Value =
        serde_json::from_slice(&child.wait_with_output().unwrap().stdout).unwrap();
    let both = task_of(&ack, "both");
    let t = h.wait_status(&both, &["completed", "failed", "needs_attention"], LIMIT);
    assert_eq!(t["status"], "needs_attention", "{t}");
    assert!(
        t["reason"]
            .as_str()
            .unwrap()
            .contains("conflicts in clash.txt"),
        "{t}"
    );
    owner.stop();
}

#[test]
fn a_dependent_of_a_task_whose_worktree_was_removed_starts_from_its_kept_branch() {
    use crate::review::{git, repo};
    let h = TestHome::new();
    h.use_fake_agent();
    worktree_plan_home(&h);
    let (dir, _) = repo(&h);
    let owner = h.start_owner();
    let workdir = dir.to_str().unwrap();
    let submit = |text: &str, after: Option<&str>| -> String {
        let mut args = vec!["submit", text, "--worktree", "--workdir", workdir];
        if let Some(a) = after {
            args.extend(["--after", a]);
        }
        let id = h.json(&args)["task_id"].as_str().unwrap().to_string();
        let t = h.wait_status(&id, &["completed", "failed", "needs_attention"], LIMIT);
        assert_eq!(t["status"], "completed", "{t}");
        id
    };
    let alpha = submit("alpha part", None);
    let wt = std::path::PathBuf::from(h.workers_of(&alpha)[0]["workdir"].as_str().unwrap());
    // A person commits the work on the task's branch and removes the
    // worktree, which keeps the branch.
    git(&wt, &["add", "-A"]);
    git(&wt, &["commit", "-q", "-m", "alpha's work"]);
    let removed = h.json(&["worktree", "remove", &alpha]);
    assert_eq!(removed["changed"], true, "{removed}");
    assert!(!wt.exists());

    let beta = submit("beta part", Some(&alpha));
    let beta_dir = std::path::PathBuf::from(h.workers_of(&beta)[0]["workdir"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(beta_dir.join("alpha.txt")).unwrap(),
        "alpha part\n",
        "the dependent started from the kept branch's work"
    );
    assert_eq!(
        std::fs::read_to_string(beta_dir.join("beta.txt")).unwrap(),
        "beta part\n"
    );
    owner.stop();
}

/// A goal split by a coordinator (the fake agent answering with the plan
/// in `plan`) into tasks that run in worktrees of `dir`, with the goal's
/// own check `verify`; its id.
fn submit_goal(
    h: &TestHome,
    dir: &std::path::Path,
    name: &str,
    plan: &serde_json::Value,
    verify: &str,
) -> String {
    let answer = h.scratch.path().join(format!("{name}.json"));
    std::fs::write(&answer, plan.to_string()).unwrap();
    let text = format!("{name} FAKE:answer FAKE_ANSWER:{}", answer.display());
    let ack = h.json(&[
        "submit",
        &text,
        "--plan",
        "--worktree",
        "--workdir",
        dir.to_str().unwrap(),
        "--verify",
        verify,
    ]);
    ack["task_id"].as_str().unwrap().to_string()
}

#[test]
fn a_goal_completes_only_when_its_check_passes_on_its_tasks_merged_work() {
    use crate::review::{git, repo};
    let h = TestHome::new();
    h.use_fake_agent();
    h.edit_all_experts(serde_json::json!({"max_restarts": 0}));
    h.configure(serde_json::json!({"routing": {"confirm_plans": false}}));
    let (dir, start) = repo(&h);
    let owner = h.start_owner();
    let task = |name: &str, file: &str| serde_json::json!({"name": name, "description": format!("{name} part FAKE:normal FAKE_OUT:{file}"), "expert": "development"});
    // Two independent tasks: neither sees the other's file, only their
    // merged work holds both.
    let both = serde_json::json!({"goal": "two files", "tasks": [task("alpha", "alpha.txt"), task("beta", "beta.txt")]});
    let passing = submit_goal(
        &h,
        &dir,
        "passing",
        &both,
        "test -f alpha.txt && test -f beta.txt",
    );
    let failing = submit_goal(&h, &dir, "failing", &both, "test -f gamma.txt");
    let clash = serde_json::json!({"goal": "one file twice", "tasks": [task("one", "same.txt"), task("two", "same.txt")]});
    let conflicting = submit_goal(&h, &dir, "conflicting", &clash, "true");
    let broken = serde_json::json!({"goal": "a crash", "tasks": [
        task("fine", "fine.txt"),
        {"name": "bad", "description": "bad part FAKE:crash", "expert": "development", "after": ["fine"]},
    ]});
    let crashing = submit_goal(&h, &dir, "crashing", &broken, "true");
    let done = ["completed", "failed", "needs_attention", "cancelled"];
    let limit = Duration::from_secs(120);

    let t = h.wait_status(&passing, &done, limit);
    assert_eq!(t["status"], "completed", "{t}");
    let reason = t["reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "verified: test -f alpha.txt && test -f beta.txt passed on their merged work"
        ),
        "{t}"
    );
    let merged = h.path().join("worktrees").join(format!("{passing}-plan"));
    for f in ["alpha.txt", "beta.txt"] {
        assert!(merged.join(f).exists(), "{f} in the merged work");
    }
    let shown = h.json(&["show", &passing]);
    assert_eq!(shown["verification"]["passed"], true, "{shown}");

    let t = h.wait_status(&failing, &done, limit);
    assert_eq!(t["status"], "needs_attention", "{t}");
    assert!(
        t["reason"]
            .as_str()
            .unwrap()
            .contains("the goal's check failed on their merged work: test -f gamma.txt exited 1"),
        "names the check: {t}"
    );

    let t = h.wait_status(&conflicting, &done, limit);
    assert_eq!(t["status"], "needs_attention", "{t}");
    let reason = t["reason"].as_str().unwrap();
    assert!(
        reason.contains("could not run: the work of plan task two")
            && reason.contains("conflicts with the work merged before it in same.txt"),
        "names the task and the file: {t}"
    );

    let t = h.wait_status(&crashing, &done, limit);
    assert_eq!(t["status"], "needs_attention", "{t}");
    let reason = t["reason"].as_str().unwrap();
    assert!(
        reason.contains("plan task bad (") && reason.contains("ended failed"),
        "{t}"
    );
    let shown = h.json(&["show", &crashing]);
    assert!(
        shown["verification"].is_null(),
        "no check runs on a broken plan: {shown}"
    );
    assert_eq!(
        git(&dir, &["rev-parse", "main"]),
        start,
        "checking a goal merges nothing into its base"
    );
    owner.stop();
}

#[test]
fn a_waiting_plan_is_edited_by_the_rules_of_a_new_one_and_then_confirmed() {
    let h = TestHome::new();
    h.use_fake_agent();
    let wd = h.workdir();
    let answer = h.scratch.path().join("answer.json");
    std::fs::write(
        &answer,
        serde_json::json!({"goal": "first draft", "tasks": [
            {"name": "draft", "description": "draft part FAKE:normal", "expert": "development"}
        ]})
        .to_string(),
    )
    .unwrap();
    let owner = h.start_owner();
    let goal_text = format!("edit me FAKE:answer FAKE_ANSWER:{}", answer.display());
    let goal = h.json(&[
        "submit",
        &goal_text,
        "--plan",
        "--workdir",
        wd.to_str().unwrap(),
    ]);
    let goal = goal["task_id"].as_str().unwrap().to_string();
    let mut plan_id = String::new();
    wait_until(LIMIT, "the coordinator's plan waits for a person", || {
        let reason = h.task(&goal)["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(p) = reason.split_whitespace().find(|w| w.starts_with("p-")) {
            plan_id = p.trim_end_matches(':').to_string();
        }
        reason.contains("awaiting confirmation")
    });
    let shown = h.json(&["plan", "show", &plan_id]);
    let old = shown["tasks"][0]["task"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let edit = |plan: serde_json::Value| {
        let mut c = h.command();
        c.args(["plan", "edit", &plan_id, "-", "--json"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(plan.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code(), text(&out.stdout) + &text(&out.stderr))
    };
    // An edit with a cycle is refused as a submission would be, and
    // nothing changes.
    let (code, out) = edit(serde_json::json!({"goal": "g", "tasks": [
        {"name": "a", "description": "a", "after": ["b"]},
        {"name": "b", "description": "b", "after": ["a"]},
    ]}));
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("cycle through: a, b"), "{out}");
    // An edit made from a view that hid a secret would store the mark.
    let (code, out) = edit(serde_json::json!({"goal": "hidden", "tasks": [
        {"name": "a", "description": "log in with password=[redacted] FAKE:normal"},
    ]}));
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("contains `[redacted]`"), "{out}");
    assert_eq!(h.task(&old)["status"], "awaiting_confirmation");

    let (code, out) = edit(serde_json::json!({"goal": "second draft", "tasks": [
        {"name": "first", "description": "first part FAKE:normal", "expert": "development"},
        {"name": "second", "description": "second part FAKE:normal", "expert": "development", "after": ["first"]},
    ]}));
    assert_eq!(code, Some(0), "{out}");
    let old_task = h.task(&old);
    assert_eq!(old_task["status"], "cancelled", "{old_task}");
    assert!(
        old_task["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("replaced by an edit of plan {plan_id}")),
        "{old_task}"
    );
    let shown = h.json(&["plan", "show", &plan_id]);
    assert_eq!(shown["goal"], "second draft", "{shown}");
    assert_eq!(shown["awaiting_confirmation"], true, "{shown}");
    assert_eq!(shown["counts"]["awaiting_confirmation"], 2, "{shown}");
    // Held for a person, its time goes on (it is not "0s" until it runs).
    wait_until(LIMIT, "a held plan's elapsed time to move", || {
        h.json(&["plan", "show", &plan_id])["elapsed_secs"]
            .as_i64()
            .is_some_and(|s| s >= 1)
    });
    assert_eq!(shown["tasks"][1]["name"], "second", "{shown}");
    assert!(
        h.starts()
            .iter()
            .all(|s| s["prompt"] != "draft part FAKE:normal"),
        "the replaced task never ran"
    );

    h.json(&["plan", "confirm", &plan_id]);
    let t = h.wait_status(&goal, &["completed", "failed", "needs_attention"], LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    assert!(t["reason"].as_str().unwrap().contains("all 2 tasks"), "{t}");
    let (code, out) = edit(serde_json::json!({"goal": "late", "tasks": [
        {"name": "late", "description": "late"},
    ]}));
    assert_eq!(code, Some(2), "a plan that ran cannot be edited: {out}");
    assert!(out.contains("not awaiting confirmation"), "{out}");
    // Nor confirmed again: a second confirm says nothing was waiting.
    let again = h.cortex(&["plan", "confirm", &plan_id]);
    assert_eq!(again.status.code(), Some(2), "{}", text(&again.stdout));
    assert!(
        text(&again.stderr).contains("is not awaiting confirmation (it was confirmed already)"),
        "{}",
        text(&again.stderr)
    );
    owner.stop();
}

#[test]
fn a_goals_check_outlives_its_owner_and_is_re_adopted_by_the_next() {
    use crate::review::repo;
    let h = TestHome::new();
    h.use_fake_agent();
    h.configure(serde_json::json!({"routing": {"confirm_plans": false}}));
    let (dir, _) = repo(&h);
    let owner = h.start_owner();
    let marker = h.scratch.path().join("check-runs.txt");
    let plan = serde_json::json!({"goal": "two files", "tasks": [
        {"name": "alpha", "description": "alpha part FAKE:normal FAKE_OUT:alpha.txt", "expert": "development"},
        {"name": "beta", "description": "beta part FAKE:normal FAKE_OUT:beta.txt", "expert": "development"},
    ]});
    // The check counts its runs, then takes long enough to outlive the owner.
    let check = format!(
        "echo run >> {} && sleep 2 && test -f alpha.txt && test -f beta.txt",
        marker.display()
    );
    let goal = submit_goal(&h, &dir, "outliving", &plan, &check);
    wait_until(LIMIT, "the goal's check running", || {
        h.task(&goal)["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("checking their merged work")
            && marker.exists()
    });
    owner.kill();
    assert_eq!(h.task(&goal)["status"], "running");
    let owner = h.start_owner();
    let t = h.wait_status(
        &goal,
        &["completed", "failed", "needs_attention", "cancelled"],
        LIMIT,
    );
    assert_eq!(t["status"], "completed", "{t}");
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().lines().count(),
        1,
        "the running check was re-adopted, not run again"
    );
    let shown = h.json(&["show", &goal]);
    assert_eq!(shown["verification"]["rounds"], 1, "{shown}");
    owner.stop();
}

#[test]
fn cancelling_a_goal_cancels_its_plans_tasks_held_or_running() {
    let h = TestHome::new();
    h.use_fake_agent();
    let dir = h.workdir();
    let owner = h.start_owner();
    let plan = |name: &str| {
        serde_json::json!({"goal": name, "tasks": [
            {"name": "long", "description": "long part FAKE:hang", "expert": "development"},
            {"name": "next", "description": "next part FAKE:normal", "expert": "development", "after": ["long"]},
        ]})
    };
    let goal_of = |name: &str| {
        let answer = h.scratch.path().join(format!("{name}.json"));
        std::fs::write(&answer, plan(name).to_string()).unwrap();
        let text = format!("{name} FAKE:answer FAKE_ANSWER:{}", answer.display());
        let ack = h.json(&[
            "submit",
            &text,
            "--plan",
            "--workdir",
            dir.to_str().unwrap(),
        ]);
        ack["task_id"].as_str().unwrap().to_string()
    };
    let plan_of = |goal: &str| {
        let mut id = String::new();
        wait_until(LIMIT, "the goal's plan", || {
            let reason = h.task(goal)["reason"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            id = reason
                .split_whitespace()
                .find(|x| x.starts_with("p-"))
                .unwrap_or_default()
                .to_string();
            !id.is_empty()
        });
        id
    };
    let statuses = |plan: &str| -> Vec<String> {
        h.json(&["plan", "show", plan])["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["task"]["status"].as_str().unwrap().to_string())
            .collect()
    };
    // Held for confirmation: cancelled with its goal, and no longer held.
    let held = goal_of("held-goal");
    let p = plan_of(&held);
    assert_eq!(
        statuses(&p),
        ["awaiting_confirmation", "awaiting_confirmation"]
    );
    h.json(&["cancel", &held]);
    assert_eq!(statuses(&p), ["cancelled", "cancelled"]);
    assert_eq!(
        h.json(&["plan", "show", &p])["awaiting_confirmation"],
        false
    );
    let out = h.cortex(&["plan", "confirm", &p]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stdout));
    // Running: its worker is stopped too.
    let running = goal_of("running-goal");
    let p = plan_of(&running);
    h.json(&["plan", "confirm", &p]);
    let long = h.json(&["plan", "show", &p])["tasks"][0]["task"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let w = h.wait_running_worker(&long, LIMIT);
    h.json(&["cancel", &running]);
    wait_until(LIMIT, "the plan's worker stopped", || {
        h.workers()
            .iter()
            .any(|x| x["id"] == w.as_str() && x["state"] == "cancelled")
    });
    assert_eq!(statuses(&p), ["cancelled", "cancelled"]);
    owner.stop();
}

#[test]
fn a_held_task_whose_dependency_ended_badly_needs_attention_not_a_confirmation() {
    let h = TestHome::new();
    h.use_fake_agent();
    h.configure(serde_json::json!({"routing": {"confirm_low_confidence": true}}));
    let owner = h.start_owner();
    let wd = h.workdir();
    let first = h.json(&[
        "submit",
        "long job FAKE:hang",
        "--type",
        "feature",
        "--workdir",
        wd.to_str().unwrap(),
    ]);
    let first = first["task_id"].as_str().unwrap().to_string();
    let held = h.json(&[
        "submit",
        "hmm four",
        "--after",
        &first,
        "--workdir",
        wd.to_str().unwrap(),
    ]);
    let held = held["task_id"].as_str().unwrap().to_string();
    assert_eq!(h.task(&held)["status"], "awaiting_confirmation");
    h.json(&["cancel", &first]);
    let t = h.wait_status(&held, &["needs_attention"], LIMIT);
    assert!(
        t["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("dependency {first} ended cancelled")),
        "{t}"
    );
    owner.stop();
}
