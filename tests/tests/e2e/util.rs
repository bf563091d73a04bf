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
        let child = OwnedChild::spawn_logged(c, self.scratch.path());
        let pid = child.pid();
        let lock = self.path().join("cortex.lock");
        wait_until(Duration::from_secs(15), "cortex run owns the home", || {
            std::fs::read_to_string(&lock).is_ok_and(|s| s.contains(&format!("\"pid\":{pid}")))
        });
        child
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
