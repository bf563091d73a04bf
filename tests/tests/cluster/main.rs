//! Workers as jobs of a real Slurm cluster (`launcher.kind: "slurm"`), with
//! the fake agent. They need a running cluster: `make cluster-test` starts a
//! one-node cluster on 127.0.0.1 (tests/cluster/slurm.sh), runs these with
//! `--ignored`, and stops it. `CORTEX_SLURM_CONF` names its `slurm.conf`.

#![allow(clippy::unwrap_used)]

#[path = "../e2e/util.rs"]
#[allow(unused_imports)]
mod util;

use std::process::Command;
use std::time::Duration;

use util::*;

const LIMIT: Duration = Duration::from_secs(60);
const NEEDS: &str = "needs a Slurm cluster: run `make cluster-test`";

fn slurm_conf() -> String {
    std::env::var("CORTEX_SLURM_CONF")
        .unwrap_or_else(|_| panic!("CORTEX_SLURM_CONF is not set: {NEEDS}"))
}

/// A Slurm client command against the test cluster; its stdout.
fn slurm(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("SLURM_CONF", slurm_conf())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    text(&out.stdout)
}

/// A home whose workers run on the cluster, with a PM that reacts in seconds.
struct ClusterHome {
    h: TestHome,
}

impl ClusterHome {
    fn new(max_restarts: u32) -> Self {
        let h = TestHome::new();
        h.use_fake_agent();
        h.configure(serde_json::json!({
            "launcher": {"kind": "slurm", "slurm": {"conf": slurm_conf(), "sample_secs": 1, "queue_poll_secs": 1}},
            "pm": {"startup_budget_secs": 20, "late_after_secs": 1, "stalled_after_secs": 2, "zombie_after_secs": 4, "tick_millis": 200},
            "restart": {"backoff_base_secs": 1, "backoff_max_secs": 1}
        }));
        h.edit_all_experts(serde_json::json!({"max_restarts": max_restarts}));
        Self { h }
    }

    /// This home's jobs still in the queue, as `id|name|state`.
    fn jobs(&self) -> Vec<String> {
        let prefix = format!(
            "cortex-{}-",
            cortex_engine::launcher::slurm::home_id(self.h.path())
        );
        slurm("squeue", &["--me", "-h", "-o", "%i|%j|%T"])
            .lines()
            .filter(|l| l.split('|').nth(1).is_some_and(|n| n.starts_with(&prefix)))
            .map(str::to_string)
            .collect()
    }

    /// Submits a task in the home's folder and waits for its job to run.
    fn submit_running(&self, text: &str) -> String {
        let id = self.h.submit_in(text, &self.h.workdir());
        wait_until(LIMIT, "the job running", || {
            self.jobs().iter().any(|j| j.ends_with("|RUNNING"))
        });
        id
    }

    /// With its owner, a task whose job is submitted held (`--hold`),
    /// once its worker is scheduled.
    fn held_task(&self) -> (OwnedChild, String) {
        let h = &self.h;
        h.configure(serde_json::json!({"launcher": {"slurm": {"sbatch_args": ["--hold"]}}}));
        let owner = h.start_owner();
        let id = h.submit_in("summarise the changes FAKE:normal", &h.workdir());
        wait_until(LIMIT, "the worker scheduled", || {
            worker_of(h, &id)["health"] == "scheduled"
        });
        (owner, id)
    }

    fn job_of(&self, worker: &serde_json::Value) -> String {
        worker["pid"]
            .as_u64()
            .unwrap_or_else(|| panic!("no job id for {worker}"))
            .to_string()
    }
}

impl Drop for ClusterHome {
    /// No job of this home outlives its test.
    fn drop(&mut self) {
        for line in self.jobs() {
            if let Some(id) = line.split('|').next() {
                slurm("scancel", &["--signal=KILL", "--full", id]);
                slurm("scancel", &[id]);
            }
        }
    }
}

#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn a_task_runs_as_a_job_named_for_its_worker_and_completes() {
    let c = ClusterHome::new(0);
    let h = &c.h;
    let doctor = text(&h.cortex(&["doctor"]).stdout);
    assert!(
        doctor.contains("workers run:   slurm (the cluster answers"),
        "{doctor}"
    );
    let check = h.cortex(&["config", "check"]);
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(
        text(&check.stdout).contains("workers run on slurm: the cluster answers"),
        "{}",
        text(&check.stdout)
    );
    let owner = h.start_owner();
    let id = h.submit_in("summarise the changes FAKE:normal", &h.workdir());
    let mut job = String::new();
    wait_until(LIMIT, "the worker's job in the queue", || {
        let w = worker_of(h, &id);
        if let Some(pid) = w["pid"].as_u64() {
            job = pid.to_string();
            assert_eq!(
                w["process"],
                format!("Slurm job {pid}"),
                "named as what it is: {w}"
            );
        }
        !job.is_empty()
    });
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    let w = worker_of(h, &id);
    let worker = w["id"].as_str().unwrap();
    let shown = slurm("scontrol", &["show", "job", &job, "-o"]);
    assert!(
        shown.contains(&format!(
            "JobName=cortex-{}-{worker}-a1",
            cortex_engine::launcher::slurm::home_id(h.path())
        )),
        "job {job}: {shown}"
    );
    assert!(
        shown.contains("Requeue=0"),
        "Cortex alone decides retries: {shown}"
    );
    let dir = h.file(&format!("workers/{worker}/attempt-1"));
    let reports = cortex_engine::launcher::shim::read_reports(&dir.join("stdout.shim.jsonl"));
    assert!(
        matches!(
            reports.last(),
            Some(cortex_engine::launcher::shim::ShimReport::Exited { code: 0 })
        ),
        "{reports:?}"
    );
    // The job's files are as private as the rest of the home.
    use std::os::unix::fs::PermissionsExt;
    for name in ["stdout.shim.jsonl", "stdout.slurm.out", "stdout.jsonl"] {
        let mode = std::fs::metadata(dir.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{name}: {mode:o}");
    }
    let script = std::fs::read_to_string(dir.join("stdout.job.sh")).unwrap();
    assert!(
        !script.contains("summarise"),
        "the task's text never reaches a shell: {script}"
    );
    owner.stop();
}

/// The job id the journal recorded for a worker's first attempt.
fn job_in_journal(h: &TestHome, worker: &str) -> String {
    std::fs::read_to_string(h.file("journal.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["kind"] == "attempt_started" && r["worker_id"] == worker)
        .and_then(|r| r["pid"].as_u64())
        .unwrap_or_else(|| panic!("no attempt of {worker} in the journal"))
        .to_string()
}

/// What slurmrestd logged: each request it served is a line.
fn rest_log() -> String {
    let dir = std::path::Path::new(&slurm_conf())
        .parent()
        .unwrap()
        .to_path_buf();
    std::fs::read_to_string(dir.join("slurmrestd.log")).unwrap_or_default()
}

#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn through_slurmrestd_a_task_runs_and_a_hung_one_is_stopped() {
    let url = std::env::var("CORTEX_SLURM_REST").unwrap_or_else(|_| {
        panic!("CORTEX_SLURM_REST is not set: slurmrestd did not start with the cluster (tests/cluster/slurm.sh)")
    });
    let c = ClusterHome::new(0);
    let h = &c.h;
    h.configure(serde_json::json!({"launcher": {"slurm": {"rest": {"url": url}}}}));
    let check = h.cortex(&["config", "check"]);
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(
        text(&check.stdout).contains(&format!(
            "via slurmrestd at {}",
            url.trim_start_matches("http://")
        )),
        "{}",
        text(&check.stdout)
    );
    let submits = |log: &str| log.matches("POST /slurm/v0.0.38/job/submit").count();
    let before = submits(&rest_log());
    let owner = h.start_owner();
    let done = h.submit_in("summarise the changes FAKE:normal", &h.workdir());
    let t = h.wait_task_done(&done, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    let w = worker_of(h, &done);
    let job = job_in_journal(h, w["id"].as_str().unwrap());
    assert_eq!(
        submits(&rest_log()),
        before + 1,
        "submitted through slurmrestd"
    );
    let shown = slurm("scontrol", &["show", "job", &job, "-o"]);
    assert!(shown.contains("Requeue=0"), "{shown}");
    // A hung agent: found through the shim's report, stopped through slurmrestd.
    let hung = h.submit_in("fix the exporter FAKE:hang", &h.workdir());
    let t = h.wait_task_done(&hung, LIMIT);
    assert_eq!(t["status"], "failed", "{t}");
    let w = worker_of(h, &hung);
    assert!(entered(h, w["id"].as_str().unwrap())
        .iter()
        .any(|s| s == "zombie"));
    let job = job_in_journal(h, w["id"].as_str().unwrap());
    assert!(
        rest_log().contains(&format!("DELETE /slurm/v0.0.38/job/{job}")),
        "the stop went through slurmrestd"
    );
    wait_until(LIMIT, "no job of this home left in the queue", || {
        c.jobs().is_empty()
    });
    assert!(tagged_pids(w["id"].as_str().unwrap()).is_empty());
    owner.stop();
}

/// A job Cortex did not submit, named as attempt 1 of `worker` in this
/// home; sbatch's answer (the job id).
fn stray_job(h: &TestHome, worker: &str) -> String {
    let name = format!(
        "cortex-{}-{worker}-a1",
        cortex_engine::launcher::slurm::home_id(h.path())
    );
    slurm(
        "sbatch",
        &[
            "--parsable",
            "-J",
            &name,
            "-o",
            "/dev/null",
            "--wrap",
            "sleep 300",
        ],
    )
}

#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn a_job_of_this_home_the_journal_does_not_know_is_cancelled_by_the_next_owner() {
    let c = ClusterHome::new(0);
    let h = &c.h;
    let submitted = stray_job(h, "w-01m93yjbj9jfng99yrkpy03s00");
    assert!(!submitted.trim().is_empty(), "sbatch: {submitted}");
    wait_until(LIMIT, "the stray job in the queue", || !c.jobs().is_empty());
    let owner = h.start_owner();
    wait_until(LIMIT, "the stray job cancelled", || c.jobs().is_empty());
    owner.stop();
}

#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn a_job_whose_agent_cannot_start_on_its_node_fails_saying_why_not_as_a_crash() {
    let c = ClusterHome::new(1);
    let h = &c.h;
    // The job waits a few seconds in the queue; its folder is gone by then.
    h.configure(serde_json::json!({"launcher": {"slurm": {"sbatch_args": ["--begin=now+4"]}}}));
    let owner = h.start_owner();
    let wd = h.workdir().join("going");
    std::fs::create_dir_all(&wd).unwrap();
    let id = h.submit_in("summarise the changes FAKE:normal", &wd);
    wait_until(LIMIT, "the job pending in the queue", || {
        c.jobs().iter().any(|j| j.ends_with("|PENDING"))
    });
    std::fs::remove_dir_all(&wd).unwrap();
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "failed", "{t}");
    let w = worker_of(h, &id);
    assert_eq!(w["attempt"], 1, "not retried as a crash: {w}");
    assert!(
        w["reason"]
            .as_str()
            .is_some_and(|r| r.contains("could not start the agent where its job ran")),
        "{w}"
    );
    owner.stop();
}

#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn a_partition_the_cluster_does_not_have_is_named_not_called_unreachable() {
    let c = ClusterHome::new(0);
    let h = &c.h;
    h.configure(serde_json::json!({"launcher": {"slurm": {"partition": "nosuch"}}}));
    let doctor = h.cortex(&["doctor"]);
    assert!(!doctor.status.success());
    let said = text(&doctor.stdout);
    assert!(
        said.contains("CANNOT RUN WORKERS: the cluster answers, but has no partition `nosuch` (launcher.slurm.partition)"),
        "{said}"
    );
}

#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn a_restarted_job_that_ends_at_once_is_settled_by_what_it_wrote() {
    // The second attempt's output appears on the shared folder only once its
    // job runs; ending within a second, it must still be read, not taken
    // for a crash with no result line.
    let c = ClusterHome::new(1);
    let h = &c.h;
    h.configure(serde_json::json!({"agent": {"env": {"FAKE_AGENT_RESUME_MODE": "normal"}}}));
    let owner = h.start_owner();
    let id = h.submit_in("fix the exporter FAKE:crash", &h.workdir());
    let t = h.wait_task_done(&id, Duration::from_secs(120));
    assert_eq!(t["status"], "completed", "{t}");
    let w = worker_of(h, &id);
    assert_eq!(w["attempt"], 2, "{w}");
    owner.stop();
}

#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn a_hung_job_is_detected_through_the_shim_killed_restarted_and_fails_honestly() {
    let c = ClusterHome::new(1);
    let h = &c.h;
    h.configure(serde_json::json!({"agent": {"env": {"FAKE_AGENT_RESUME_MODE": "hang"}}}));
    let owner = h.start_owner();
    let id = h.submit_in("fix the exporter FAKE:hang", &h.workdir());
    let t = h.wait_task_done(&id, Duration::from_secs(120));
    assert_eq!(t["status"], "failed", "{t}");
    let w = worker_of(h, &id);
    assert_eq!(w["attempt"], 2, "one restart, then it gave up: {w}");
    let states = entered(h, w["id"].as_str().unwrap());
    assert!(states.iter().any(|s| s == "zombie"), "{states:?}");
    assert_eq!(h.starts().len(), 2);
    wait_until(LIMIT, "no job of this home left in the queue", || {
        c.jobs().is_empty()
    });
    assert!(tagged_pids(w["id"].as_str().unwrap()).is_empty());
    owner.stop();
}

#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn killing_a_job_ends_the_grandchild_it_hid_in_a_new_session() {
    let c = ClusterHome::new(0);
    let h = &c.h;
    // Silence while a tool runs is not a hang here: the test kills it.
    h.configure(serde_json::json!({"pm": {"stalled_after_secs": 600, "zombie_after_secs": 1200}}));
    let owner = h.start_owner();
    let id = h.submit_in("escape artist FAKE:grandchild", &h.workdir());
    let mut grandchild = 0u32;
    let mut worker = String::new();
    wait_until(LIMIT, "the grandchild started", || {
        let w = worker_of(h, &id);
        worker = w["id"].as_str().unwrap_or_default().to_string();
        let err =
            std::fs::read_to_string(h.file(&format!("workers/{worker}/attempt-1/stderr.log")))
                .unwrap_or_default();
        grandchild = err
            .split("grandchild pid ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        grandchild > 0
    });
    assert!(pid_running(grandchild));
    let out = h.cortex(&["kill", &worker]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "cancelled", "{t}");
    wait_until(LIMIT, "the grandchild gone with its job", || {
        !pid_running(grandchild)
    });
    wait_until(LIMIT, "no job of this home left in the queue", || {
        c.jobs().is_empty()
    });
    owner.stop();
}

#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn a_silent_job_burning_cpu_is_not_killed() {
    let c = ClusterHome::new(1);
    let h = &c.h;
    let owner = h.start_owner();
    let id = h.submit_in(
        "compile the world FAKE:silent_busy FAKE_SECS:8",
        &h.workdir(),
    );
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    let w = worker_of(h, &id);
    entered_never_hung(h, w["id"].as_str().unwrap());
    assert_eq!(h.starts().len(), 1);
    owner.stop();
}

#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn a_second_job_of_a_running_attempt_is_cancelled_and_the_journaled_one_kept() {
    // What an unanswered submission taken after all leaves: a job of the
    // same attempt beside the one the journal names.
    let c = ClusterHome::new(0);
    let h = &c.h;
    let owner = h.start_owner();
    let id = c.submit_running("compile the world FAKE:silent_busy FAKE_SECS:30");
    let w = worker_of(h, &id);
    let job = c.job_of(&w);
    let second = stray_job(h, w["id"].as_str().unwrap()).trim().to_string();
    assert!(!second.is_empty(), "sbatch: {second}");
    wait_until(LIMIT, "the second job cancelled", || {
        !c.jobs()
            .iter()
            .any(|j| j.starts_with(&format!("{second}|")))
    });
    assert!(
        c.jobs().iter().any(|j| j.starts_with(&format!("{job}|"))),
        "the journaled job goes on: {:?}",
        c.jobs()
    );
    let w = worker_of(h, &id);
    assert_eq!(
        (w["state"].as_str(), w["attempt"].as_u64()),
        (Some("running"), Some(1)),
        "{w}"
    );
    owner.stop();
}

#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn an_owner_killed_while_a_job_runs_re_adopts_it_and_settles_it_once() {
    let c = ClusterHome::new(1);
    let h = &c.h;
    let owner = h.start_owner();
    let id = c.submit_running("compile the world FAKE:silent_busy FAKE_SECS:10");
    let job = c.job_of(&worker_of(h, &id));
    owner.kill();
    assert!(
        c.jobs().iter().any(|j| j.starts_with(&format!("{job}|"))),
        "the job outlives its owner"
    );
    let owner = h.start_owner();
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    let w = worker_of(h, &id);
    assert_eq!(w["attempt"], 1, "re-adopted, not restarted: {w}");
    assert_eq!(h.starts().len(), 1);
    let journal = std::fs::read_to_string(h.file("journal.jsonl")).unwrap();
    let ends = journal
        .lines()
        .filter(|l| l.contains("\"attempt_ended\"") && l.contains(w["id"].as_str().unwrap()))
        .count();
    assert_eq!(ends, 1, "settled once");
    owner.stop();
}

#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn a_job_cancelled_behind_cortexs_back_is_settled_as_lost() {
    let c = ClusterHome::new(0);
    let h = &c.h;
    h.configure(serde_json::json!({"pm": {"stalled_after_secs": 600, "zombie_after_secs": 1200}}));
    let owner = h.start_owner();
    let id = h.submit_in("a long job FAKE:hang", &h.workdir());
    wait_until(LIMIT, "the job running", || {
        c.jobs().iter().any(|j| j.ends_with("|RUNNING"))
    });
    let job = c.job_of(&worker_of(h, &id));
    slurm("scancel", &["--signal=KILL", "--full", &job]);
    slurm("scancel", &[&job]);
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "failed", "{t}");
    let w = worker_of(h, &id);
    assert_ne!(w["state"], "running", "{w}");
    owner.stop();
}

#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn the_startup_budget_counts_from_when_a_queued_job_runs() {
    let c = ClusterHome::new(0);
    let h = &c.h;
    // The job waits 6 s in the queue; its startup budget is 3 s.
    h.configure(serde_json::json!({
        "launcher": {"slurm": {"sbatch_args": ["--begin=now+6"]}},
        "pm": {"startup_budget_secs": 3}
    }));
    let owner = h.start_owner();
    let id = h.submit_in("summarise the changes FAKE:normal", &h.workdir());
    wait_until(LIMIT, "the job pending in the queue", || {
        c.jobs().iter().any(|j| j.ends_with("|PENDING"))
    });
    // Scheduled, not starting, and why, in Slurm's terms.
    wait_until(
        LIMIT,
        "the worker shown scheduled until its start time",
        || {
            let w = worker_of(h, &id);
            w["health"] == "scheduled"
                && w["health_reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("queued on the cluster: held until its start time"))
                // No time of it counts while it waits.
                && w.get("running_since").is_none()
        },
    );
    let waiting = h.json(&["show", &id]);
    let a = &waiting["workers"][0]["attempts"][0];
    // It may have just left the queue; if not, it says it waits.
    if a["outcome"].is_null() && a.get("running_at").is_none() {
        assert_eq!(a["queued"], true, "{waiting}");
        assert_eq!(a["duration_secs"], 0.0, "{waiting}");
    }
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    let w = worker_of(h, &id);
    assert_eq!(w["attempt"], 1, "{w}");
    // Its time counts from when it left the queue, in every view.
    let story = h.json(&["show", &id]);
    let a = &story["workers"][0]["attempts"][0];
    let at = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(a[k].as_str().unwrap_or_else(|| panic!("{k}: {a}")))
            .unwrap()
    };
    let queued = (at("running_at") - at("started_at")).num_milliseconds() as f64 / 1000.0;
    let whole = (at("ended_at") - at("started_at")).num_milliseconds() as f64 / 1000.0;
    assert!(queued >= 4.0, "it waited about 6 s in the queue: {a}");
    let ran = a["duration_secs"].as_f64().unwrap();
    assert!((ran - (whole - queued)).abs() < 0.01, "{a}");
    assert!(
        (w["ended_attempts_secs"].as_f64().unwrap() - ran).abs() < 0.01,
        "{w}"
    );
    assert!(
        text(&h.cortex(&["show", &id]).stdout).contains("in the cluster's queue)"),
        "show says it waited"
    );
    let states = entered(h, w["id"].as_str().unwrap());
    assert!(!states.iter().any(|s| s == "zombie"), "{states:?}");
    owner.stop();
}

/// Runs without a cluster (in `make unit` too): a cluster that cannot be
/// reached is said to be unreachable, with Slurm's own words, and the
/// commands that check it fail; nothing claims it answers.
#[test]
fn a_cluster_that_does_not_answer_is_reported_by_config_check_and_doctor() {
    let h = TestHome::new();
    h.use_fake_agent();
    let missing = h.scratch.path().join("no-such-slurm.conf");
    h.configure(serde_json::json!({
        "launcher": {"kind": "slurm", "slurm": {"conf": missing}}
    }));
    let check = h.cortex(&["config", "check", "--json"]);
    assert!(!check.status.success());
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(
        report["ok"], true,
        "the configuration itself is valid: {report}"
    );
    assert_eq!(report["launcher_check"]["reachable"], false, "{report}");
    assert!(
        report["launcher_check"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("launcher.slurm.conf") && d.contains("no-such-slurm.conf")),
        "the detail names the key and the path: {report}"
    );
    let doctor = h.cortex(&["doctor"]);
    assert!(!doctor.status.success());
    assert!(
        text(&doctor.stdout).contains("CANNOT RUN WORKERS"),
        "{}",
        text(&doctor.stdout)
    );
}

/// Seconds since a worker's last sign of life, as the PM says it.
fn silent_secs(w: &serde_json::Value) -> i64 {
    w["last_activity_at"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(0, |t| {
            (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds()
        })
}

/// An owner, and a busy silent task whose job the cluster suspended: the
/// worker waits, silent well past the zombie threshold (4 s), said to be
/// suspended by the cluster, not taken for hung.
fn suspended_past_the_threshold(c: &ClusterHome) -> (OwnedChild, String, String) {
    let h = &c.h;
    let owner = h.start_owner();
    let id = c.submit_running("compile the world FAKE:silent_busy FAKE_SECS:20");
    wait_until(LIMIT, "the agent's first output", || {
        worker_of(h, &id)["health"] == "healthy"
    });
    let job = c.job_of(&worker_of(h, &id));
    slurm("scontrol", &["suspend", &job]);
    wait_until(
        LIMIT,
        "the worker waiting, suspended, past the threshold",
        || {
            let w = worker_of(h, &id);
            w["health"] == "waiting"
                && w["health_reason"].as_str().is_some_and(|r| {
                    r.starts_with("suspended by the cluster (Slurm job state SUSPENDED")
                })
                && silent_secs(&w) >= 8
        },
    );
    (owner, id, job)
}

#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn a_job_the_cluster_suspends_waits_unharmed_and_is_watched_again_once_resumed() {
    let c = ClusterHome::new(1);
    let h = &c.h;
    let (owner, id, job) = suspended_past_the_threshold(&c);
    assert!(
        c.jobs().iter().any(|j| *j
            == format!(
                "{job}|{}|SUSPENDED",
                j.split('|').nth(1).unwrap_or_default()
            )),
        "the job is left suspended: {:?}",
        c.jobs()
    );
    let listed = text(&h.cortex(&["workers"]).stdout);
    assert!(
        listed.contains("waiting") && listed.contains("suspended by the cluster"),
        "{listed}"
    );
    slurm("scontrol", &["resume", &job]);
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    let w = worker_of(h, &id);
    assert_eq!(w["attempt"], 1, "never killed nor restarted: {w}");
    let states = entered_never_hung(h, w["id"].as_str().unwrap());
    assert!(states.iter().any(|s| s == "waiting"), "{states:?}");
    assert_eq!(h.starts().len(), 1);
    owner.stop();
}

/// A job resumed just before its owner restarts: the next owner knows of
/// the suspension and judges its silence from the resumption, not from the
/// agent's last output before it; nothing is killed.
#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn a_job_resumed_before_its_owner_restarts_is_not_taken_for_hung_by_the_next_owner() {
    let c = ClusterHome::new(1);
    let h = &c.h;
    let (owner, id, job) = suspended_past_the_threshold(&c);
    slurm("scontrol", &["resume", &job]);
    wait_until(LIMIT, "the resumption seen", || {
        worker_of(h, &id)["health"] != "waiting"
    });
    owner.stop();
    let owner = h.start_owner();
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    let w = worker_of(h, &id);
    assert_eq!(w["attempt"], 1, "never killed nor restarted: {w}");
    entered_never_hung(h, w["id"].as_str().unwrap());
    owner.stop();
}

#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn a_held_job_is_said_held_by_the_cluster_from_the_first_word() {
    let c = ClusterHome::new(0);
    let h = &c.h;
    let (owner, id) = c.held_task();
    let w = worker_of(h, &id);
    let said: Vec<String> = activity(h, w["id"].as_str().unwrap())
        .iter()
        .filter(|v| v["event"] == "health" && v["to"] == "scheduled")
        .map(|v| v["message"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        !said.is_empty()
            && said
                .iter()
                .all(|m| m.contains("held by its owner (JobHeldUser)")),
        "{said:?}"
    );
    let reason = w["health_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("held by its owner (JobHeldUser)"), "{w}");
    // Released, it runs and completes.
    slurm("scontrol", &["release", &c.job_of(&w)]);
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    owner.stop();
}

/// A hold placed on a job already waiting in the queue changes what it
/// waits for: said once in the activity log, as its first wait was.
#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn a_hold_placed_on_a_queued_job_is_said_once_in_the_activity_log() {
    let c = ClusterHome::new(0);
    let h = &c.h;
    h.configure(serde_json::json!({"launcher": {"slurm": {"sbatch_args": ["--begin=now+600"]}}}));
    let owner = h.start_owner();
    let id = h.submit_in("summarise the changes FAKE:normal", &h.workdir());
    let waits = |h: &TestHome, worker: &str| -> Vec<String> {
        activity(h, worker)
            .iter()
            .filter(|v| v["event"] == "health" && v["to"] == "scheduled")
            .map(|v| v["message"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    wait_until(LIMIT, "the worker waiting for its start time", || {
        let w = worker_of(h, &id);
        w["health"] == "scheduled"
            && w["health_reason"]
                .as_str()
                .is_some_and(|r| r.contains("start time"))
    });
    let w = worker_of(h, &id);
    let (wid, job) = (w["id"].as_str().unwrap().to_string(), c.job_of(&w));
    slurm("scontrol", &["hold", &job]);
    wait_until(LIMIT, "the hold said in the activity log", || {
        waits(h, &wid).iter().any(|m| m.contains("(JobHeld"))
    });
    wait_until(LIMIT, "the worker's reason the line's", || {
        worker_of(h, &id)["health_reason"].as_str() == waits(h, &wid).last().map(String::as_str)
    });
    // Released and let start: it runs and completes; the hold was said once.
    slurm("scontrol", &["release", &job]);
    slurm(
        "scontrol",
        &["update", &format!("JobId={job}"), "StartTime=now"],
    );
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    let held: Vec<String> = waits(h, &wid)
        .into_iter()
        .filter(|m| m.contains("(JobHeld"))
        .collect();
    assert_eq!(held.len(), 1, "{:?}", waits(h, &wid));
    owner.stop();
}

#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn killing_a_job_no_owner_watches_says_no_failure_to_cancel_it_once_it_ended() {
    let c = ClusterHome::new(0);
    let h = &c.h;
    let owner = h.start_owner();
    let id = c.submit_running("compile the world FAKE:silent_busy FAKE_SECS:30");
    let w = worker_of(h, &id);
    owner.kill();
    // Stopped by SIGTERM, the job has left the queue when SIGKILL follows.
    let out = h
        .command()
        .args(["kill", w["id"].as_str().unwrap()])
        .env("CORTEX_LOG", "info")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        !err.contains("scancel failed") && !err.contains("Invalid job id"),
        "{err}"
    );
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "cancelled", "{t}");
    wait_until(LIMIT, "no job of this home left in the queue", || {
        c.jobs().is_empty()
    });
}

#[test]
#[ignore = "needs a Slurm cluster: run `make cluster-test`"]
fn a_restart_of_a_job_cancelled_in_the_queue_starts_a_new_conversation() {
    let c = ClusterHome::new(0);
    let h = &c.h;
    let (owner, id) = c.held_task();
    let w = worker_of(h, &id);
    let out = h.cortex(&["restart", w["id"].as_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Its first job was cancelled while held: its agent never ran.
    let mut second = String::new();
    wait_until(LIMIT, "the second attempt's job in the queue", || {
        let w = worker_of(h, &id);
        second = w["pid"].as_u64().map_or(String::new(), |p| p.to_string());
        w["attempt"] == 2
            && !second.is_empty()
            && c.jobs()
                .iter()
                .any(|j| j.starts_with(&format!("{second}|")))
    });
    slurm("scontrol", &["release", &second]);
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "{t}");
    let starts = h.starts();
    assert_eq!(starts.len(), 1, "{starts:?}");
    let args: Vec<&str> = starts[0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(
        args.contains(&"--session-id") && !args.contains(&"--resume"),
        "a new conversation, not one that was never made: {args:?}"
    );
    owner.stop();
}
