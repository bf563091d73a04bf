//! Helpers: a temporary home, the `cortex` command, owned child processes
//! that are killed (by pid) when dropped, and waiting with a deadline.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The `cortex` binary next to this test's own build output.
pub fn cortex_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/e2e-<hash> -> target/<profile>/cortex
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("cortex");
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build -p cortex-cli`",
        bin.display()
    );
    bin
}

pub fn fake_agent_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fake-agent"))
}

pub fn mock_api_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mock-anthropic"))
}

/// A coordination home in a temporary folder, initialized.
pub struct TestHome {
    pub dir: tempfile::TempDir,
    /// Output files of background processes, outside the home.
    pub scratch: tempfile::TempDir,
}

impl TestHome {
    pub fn new() -> Self {
        let h = Self::empty();
        let out = h.cortex(&["init"]);
        assert!(out.status.success(), "init failed: {}", text(&out.stderr));
        h
    }

    /// An initialized home in a folder made under `parent`.
    pub fn new_in(parent: &Path) -> Self {
        let h = Self {
            dir: tempfile::Builder::new()
                .prefix("cortex-e2e-")
                .tempdir_in(parent)
                .expect("temp dir"),
            scratch: tempfile::Builder::new()
                .prefix("cortex-out-")
                .tempdir()
                .expect("temp dir"),
        };
        let out = h.cortex(&["init"]);
        assert!(out.status.success(), "init failed: {}", text(&out.stderr));
        h
    }

    /// A home folder that `cortex init` has not touched.
    pub fn empty() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("cortex-e2e-")
                .tempdir()
                .expect("temp dir"),
            scratch: tempfile::Builder::new()
                .prefix("cortex-out-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(cortex_bin());
        c.arg("--home").arg(self.path());
        c.env_remove("CORTEX_HOME").env("CORTEX_LOG", "warn");
        c
    }

    pub fn cortex(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("run cortex")
    }

    /// Runs a command that must succeed with `--json`, returning its output.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.cortex(&all);
        assert!(
            out.status.success(),
            "cortex {args:?} failed ({:?}): {}{}",
            out.status.code(),
            text(&out.stdout),
            text(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("cortex {args:?}: not JSON ({e}): {}", text(&out.stdout)))
    }

    /// Starts `cortex run` and waits until it owns the home.
    pub fn start_owner(&self) -> OwnedChild {
        self.start_owner_with(&[])
    }

    pub fn start_owner_with(&self, env: &[(&str, &str)]) -> OwnedChild {
        let mut c = self.command();
        c.arg("run").env("CORTEX_LOG", "info");
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = OwnedChild::spawn_logged(c, self.scratch.path());
        let limit = Duration::from_secs(30);
        let deadline = Instant::now() + limit;
        while !child.stderr_so_far().contains("cortex: running on") {
            if let Some(status) = child.exited() {
                panic!(
                    "cortex run exited ({status}) before owning the home; stderr: {}",
                    child.stderr_so_far()
                );
            }
            assert!(
                Instant::now() < deadline,
                "cortex run did not own the home within {limit:?}; stderr: {}",
                child.stderr_so_far()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }

    /// Edits config.json (a JSON merge of `patch` into it).
    pub fn configure(&self, patch: serde_json::Value) {
        let path = self.file("config.json");
        let mut cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        merge(&mut cfg, patch);
        std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    }

    /// Points the agent at the fake agent, with short grace and backoff so
    /// tests run in seconds; every start is recorded in `starts.jsonl`.
    /// Low-confidence routings start at once (the short texts of tests
    /// would otherwise wait for a person's confirmation).
    pub fn use_fake_agent(&self) {
        let record = self.scratch.path().join("starts.jsonl");
        self.configure(serde_json::json!({
            "agent": {"command": [fake_agent_bin()], "env": {"FAKE_AGENT_RECORD": record}},
            "capacity": {"max_workers": 8},
            "pm": {"kill_grace_secs": 1},
            "routing": {"confirm_low_confidence": false},
            "restart": {"backoff_base_secs": 1, "backoff_max_secs": 2}
        }));
        self.edit_all_experts(serde_json::json!({"max_workers": 8}));
    }

    /// The same change to every shipped expert, so what a test checks does
    /// not depend on which expert the router picks.
    pub fn edit_all_experts(&self, patch: serde_json::Value) {
        for e in [
            "development",
            "security",
            "inventory",
            "cicd",
            "coordinator",
        ] {
            self.edit_expert(e, patch.clone());
        }
    }

    pub fn edit_expert(&self, name: &str, patch: serde_json::Value) {
        let path = self.file(&format!("experts/{name}.json"));
        let mut e: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        merge(&mut e, patch);
        std::fs::write(&path, serde_json::to_string_pretty(&e).unwrap()).unwrap();
    }

    /// Agent starts recorded by the fake agent.
    pub fn starts(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.scratch.path().join("starts.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// A fresh folder for an agent to work in.
    pub fn workdir(&self) -> PathBuf {
        let d = self
            .scratch
            .path()
            .join(format!("work-{}", SPAWNED.fetch_add(1, Ordering::SeqCst)));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Submits and returns the task id.
    pub fn submit_in(&self, text: &str, workdir: &Path) -> String {
        let v = self.json(&["submit", text, "--workdir", workdir.to_str().unwrap()]);
        v["task_id"].as_str().unwrap().to_string()
    }

    pub fn task(&self, id: &str) -> serde_json::Value {
        self.tasks()
            .into_iter()
            .find(|t| t["id"] == id)
            .unwrap_or_else(|| panic!("no task {id}"))
    }

    pub fn workers(&self) -> Vec<serde_json::Value> {
        self.json(&["workers"])
            .as_array()
            .cloned()
            .expect("workers array")
    }

    pub fn workers_of(&self, task: &str) -> Vec<serde_json::Value> {
        self.workers()
            .into_iter()
            .filter(|w| w["task_id"] == task)
            .collect()
    }

    /// Waits until the task's first worker is running; returns its id.
    pub fn wait_running_worker(&self, task: &str, limit: Duration) -> String {
        let mut id = String::new();
        wait_until(limit, &format!("a running worker of {task}"), || {
            id = self
                .workers_of(task)
                .first()
                .filter(|w| w["state"] == "running")
                .and_then(|w| w["id"].as_str())
                .unwrap_or_default()
                .to_string();
            !id.is_empty()
        });
        id
    }

    /// Waits until the task reaches a terminal status; returns it.
    pub fn wait_task_done(&self, id: &str, limit: Duration) -> serde_json::Value {
        let mut last = serde_json::Value::Null;
        wait_until(limit, &format!("task {id} to end"), || {
            last = self.task(id);
            matches!(
                last["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            )
        });
        last
    }

    /// Waits until the task reaches one of `statuses`; returns it.
    pub fn wait_status(&self, id: &str, statuses: &[&str], limit: Duration) -> serde_json::Value {
        let mut last = serde_json::Value::Null;
        wait_until(
            limit,
            &format!("task {id} to be one of {statuses:?}"),
            || {
                last = self.task(id);
                statuses.iter().any(|s| last["status"] == *s)
            },
        );
        last
    }

    pub fn tasks(&self) -> Vec<serde_json::Value> {
        self.json(&["tasks"])
            .as_array()
            .cloned()
            .expect("tasks array")
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }
}

impl Drop for TestHome {
    /// Workers are detached on purpose; a test that fails midway must still
    /// end every agent it caused. They carry `CORTEX_HOME=<this home>`.
    fn drop(&mut self) {
        for pid in pids_with_env(&format!("CORTEX_HOME={}", self.path().display())) {
            // SAFETY: SIGKILL to a process started for this test home.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
}

/// A task's first worker as `cortex workers --json` shows it (null if none).
pub fn worker_of(h: &TestHome, task: &str) -> serde_json::Value {
    h.workers_of(task)
        .first()
        .cloned()
        .unwrap_or(serde_json::Value::Null)
}

/// pm-activity.jsonl lines about one worker.
pub fn activity(h: &TestHome, worker: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(h.file("pm-activity.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["worker_id"] == worker)
        .collect()
}

/// The health states a worker entered, in order, from pm-activity.jsonl.
pub fn entered(h: &TestHome, worker: &str) -> Vec<String> {
    activity(h, worker)
        .iter()
        .filter(|v| v["event"] == "health")
        .map(|v| v["to"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The health states `worker` entered, none of them a hang's (stalled or
/// zombie): a worker that waited or worked slowly, never taken for hung.
pub fn entered_never_hung(h: &TestHome, worker: &str) -> Vec<String> {
    let states = entered(h, worker);
    assert!(
        !states.iter().any(|s| s == "stalled" || s == "zombie"),
        "{states:?}"
    );
    states
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A child process that is killed (SIGKILL, by its pid) and reaped on drop.
/// Its stdout and stderr go to files (a pipe nobody reads would block it).
pub struct OwnedChild {
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
}

static SPAWNED: AtomicUsize = AtomicUsize::new(0);

impl OwnedChild {
    pub fn spawn_logged(mut c: Command, dir: &Path) -> Self {
        let n = SPAWNED.fetch_add(1, Ordering::SeqCst);
        let out = dir.join(format!("child-{n}.out"));
        let err = dir.join(format!("child-{n}.err"));
        c.stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"));
        Self {
            child: Some(c.spawn().expect("spawn child")),
            out,
            err,
        }
    }

    /// What the child wrote to stderr so far.
    pub fn stderr_so_far(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// What the child wrote to stdout so far.
    pub fn stdout_so_far(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn collect(&self, status: ExitStatus) -> Output {
        Output {
            status,
            stdout: std::fs::read(&self.out).unwrap_or_default(),
            stderr: std::fs::read(&self.err).unwrap_or_default(),
        }
    }

    /// The exit status, if the child has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn signal(&self, sig: i32) {
        let pid = libc::pid_t::try_from(self.pid()).expect("pid fits");
        // SAFETY: sending a signal to our own child by pid.
        unsafe {
            libc::kill(pid, sig);
        }
    }

    /// Waits for exit, returning the output collected so far.
    pub fn wait_output(mut self, limit: Duration) -> Output {
        let mut child = self.child.take().expect("child");
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return self.collect(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "process did not exit within {limit:?}; stderr: {}",
                    self.stderr_so_far()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(self) -> Output {
        self.signal(libc::SIGTERM);
        self.wait_output(Duration::from_secs(20))
    }

    /// SIGKILL and reap.
    pub fn kill(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnedChild {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `cond` until it holds, failing the test at the deadline.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn merge(into: &mut serde_json::Value, patch: serde_json::Value) {
    match (into, patch) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// True if a process with this pid exists and is not a zombie.
pub fn pid_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s.rsplit(')').next().and_then(|r| r.trim().chars().next());
            !matches!(state, Some('Z' | 'X'))
        }
        Err(_) => false,
    }
}

/// Pids of live processes whose environment carries `CORTEX_WORKER_ID=<id>`.
pub fn tagged_pids(worker: &str) -> Vec<u32> {
    pids_with_env(&format!("CORTEX_WORKER_ID={worker}"))
}

/// Pids of live processes whose environment holds exactly `key=value`.
pub fn pids_with_env(want: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/environ"))
                .map(|env| env.split(|&b| b == 0).any(|kv| kv == want.as_bytes()))
                .unwrap_or(false)
                && pid_running(*p)
        })
        .collect()
}

pub use cortex_engine::testfs::SmallDisk;

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(_) => out.push(p),
                Err(_) => {}
            }
        }
    }
    out
}
