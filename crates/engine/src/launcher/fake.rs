//! A launcher without processes, for unit tests of the fleet and the PM.
//!
//! Theory of operation: `launch` hands out made-up pids and keeps what it
//! was asked to start; the test then scripts each process: lines of output
//! (`say`), CPU time (`cpu`), its end (`exit`), whether it ignores SIGTERM
//! (`ignore_term`), or a failure to start (`fail_next_launch`). Silence is
//! simply saying nothing while a `ManualClock` moves on. A process that is
//! sent SIGTERM ends by that signal unless told to ignore it; SIGKILL and
//! sweeps always end it. `orphan` makes a process that an earlier engine
//! started, to test re-adoption.
//!
//! May depend on: the launcher trait, cortex-core (types only).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use cortex_core::stream::Exit;

use super::{Launch, Launcher, OutputSource, Poll, ProcessTable, Signal, SpawnError, Started};

/// One process the fake started (or was told an earlier engine started).
#[derive(Debug, Clone)]
pub struct FakeProcess {
    /// The made-up pid.
    pub pid: u32,
    /// The worker it runs for (its environment tag).
    pub worker_id: String,
    /// The attempt it runs for (0: a check of the worker's work).
    pub attempt: u32,
    /// What it was started with (`None` for an orphan).
    pub launch: Option<Launch>,
    /// Its start time, as `Started` gave it.
    pub start_ticks: u64,
    /// How it ended, once it did.
    pub exit: Option<Exit>,
    /// CPU ticks used so far.
    pub cpu: u64,
    /// True when SIGTERM does not end it.
    pub ignores_term: bool,
    /// True while no signal reaches it (a cluster whose controller does not
    /// answer the cancel): signals are recorded, nothing happens.
    pub out_of_reach: bool,
    /// Signals it was sent, in order.
    pub signals: Vec<Signal>,
    /// Lines written to its stdin.
    pub stdin: Vec<String>,
    stdout: Option<PathBuf>,
}

impl FakeProcess {
    fn new(pid: u32, worker_id: &str, attempt: u32, start_ticks: u64) -> Self {
        Self {
            pid,
            worker_id: worker_id.to_string(),
            attempt,
            launch: None,
            start_ticks,
            exit: None,
            cpu: 0,
            ignores_term: false,
            out_of_reach: false,
            signals: Vec::new(),
            stdin: Vec::new(),
            stdout: None,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    next_pid: u32,
    processes: Vec<FakeProcess>,
    outputs: HashMap<PathBuf, Vec<u8>>,
    /// When an output was last written, as a file says it (`written_at`);
    /// none: its lines are timed when they are read.
    written: HashMap<PathBuf, SystemTime>,
    fail_next: Option<String>,
    unreachable: Option<String>,
    /// Processes waiting in a (pretend) cluster queue, with the reason.
    queued: HashMap<u32, String>,
    /// Processes a (pretend) cluster suspended.
    suspended: std::collections::HashSet<u32>,
    /// Its processes are listed as a cluster's jobs are (`home_jobs`).
    cluster_like: bool,
    /// Why a process's agent could not start where it ran (`start_failure`).
    start_failures: HashMap<u32, String>,
}

/// The fake launcher; clones share their processes.
#[derive(Debug, Clone, Default)]
pub struct FakeLauncher(Arc<Mutex<State>>);

impl FakeLauncher {
    /// A launcher with no processes.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with<T>(&self, pid: u32, f: impl FnOnce(&mut FakeProcess) -> T) -> T {
        let mut s = self.state();
        let p = s
            .processes
            .iter_mut()
            .rev()
            .find(|p| p.pid == pid)
            .unwrap_or_else(|| panic!("the fake launcher started no process {pid}"));
        f(p)
    }

    /// Every process so far, oldest first.
    pub fn processes(&self) -> Vec<FakeProcess> {
        self.state().processes.clone()
    }

    /// The process of a worker's attempt, if one was started.
    pub fn process(&self, worker_id: &str, attempt: u32) -> Option<FakeProcess> {
        self.state()
            .processes
            .iter()
            .rev()
            .find(|p| p.worker_id == worker_id && p.attempt == attempt)
            .cloned()
    }

    /// The processes that have not ended.
    pub fn running_processes(&self) -> Vec<FakeProcess> {
        let s = self.state();
        s.processes
            .iter()
            .filter(|p| p.exit.is_none())
            .cloned()
            .collect()
    }

    /// Appends a line to the process's stdout.
    pub fn say(&self, pid: u32, line: &str) {
        let path = self.with(pid, |p| p.stdout.clone());
        if let Some(path) = path {
            let mut s = self.state();
            let out = s.outputs.entry(path).or_default();
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
    }

    /// The process's output was last written at `at`, as a file's time
    /// says (an owner reading it later times its lines so).
    pub fn written_at(&self, pid: u32, at: chrono::DateTime<chrono::Utc>) {
        let path = self.with(pid, |p| p.stdout.clone());
        if let Some(path) = path {
            self.state().written.insert(path, at.into());
        }
    }

    /// Ends the process.
    pub fn exit(&self, pid: u32, exit: Exit) {
        self.with(pid, |p| {
            p.exit.get_or_insert(exit);
        });
    }

    /// Signals stop reaching the process (`true`) or reach it again.
    pub fn out_of_reach(&self, pid: u32, out: bool) {
        self.with(pid, |p| p.out_of_reach = out);
    }

    /// Sets the CPU ticks the process has used.
    pub fn cpu(&self, pid: u32, ticks: u64) {
        self.with(pid, |p| p.cpu = ticks);
    }

    /// Makes the process survive SIGTERM (only SIGKILL ends it).
    pub fn ignore_term(&self, pid: u32) {
        self.with(pid, |p| p.ignores_term = true);
    }

    /// The cluster stops answering (`Some(why)`) or answers again (`None`).
    pub fn set_unreachable(&self, why: Option<&str>) {
        self.state().unreachable = why.map(str::to_string);
    }

    /// The agent of `pid` could not start where it ran, for `why`.
    pub fn set_start_failure(&self, pid: u32, why: &str) {
        self.state().start_failures.insert(pid, why.to_string());
    }

    /// Lists its processes as a cluster lists a home's jobs (`home_jobs`).
    pub fn list_as_cluster(&self) {
        self.state().cluster_like = true;
    }

    /// The process `pid` waits in the queue for `reason` (`Some`), or has
    /// left it (`None`).
    pub fn set_queued(&self, pid: u32, reason: Option<&str>) {
        let mut s = self.state();
        match reason {
            Some(r) => s.queued.insert(pid, r.to_string()),
            None => s.queued.remove(&pid),
        };
    }

    /// The process `pid` is suspended by the (pretend) cluster, or resumed.
    pub fn set_suspended(&self, pid: u32, suspended: bool) {
        let mut s = self.state();
        if suspended {
            s.suspended.insert(pid);
        } else {
            s.suspended.remove(&pid);
        }
    }

    /// The next `launch` fails with this message.
    pub fn fail_next_launch(&self, message: &str) {
        self.state().fail_next = Some(message.to_string());
    }

    /// A running process that an earlier engine started for the worker's
    /// attempt (for re-adoption); its pid and start time.
    pub fn orphan(&self, worker_id: &str, attempt: u32) -> Started {
        let mut s = self.state();
        let pid = next_pid(&mut s);
        s.processes.push(FakeProcess::new(
            pid,
            worker_id,
            attempt,
            u64::from(pid) * 7,
        ));
        Started {
            pid,
            start_ticks: Some(u64::from(pid) * 7),
        }
    }

    /// Ends the process, and starts another one (for `worker_id`) that the
    /// OS gave the same pid, with a later start time.
    pub fn reuse_pid(&self, pid: u32, worker_id: &str) {
        self.exit(pid, Exit::Unknown);
        self.state()
            .processes
            .push(FakeProcess::new(pid, worker_id, 1, u64::from(pid) * 7 + 1));
    }

    /// Gives an orphan its stdout file (where the earlier engine put it).
    pub fn set_stdout(&self, pid: u32, path: &Path) {
        let path = path.to_path_buf();
        self.with(pid, |p| p.stdout = Some(path.clone()));
        self.state().outputs.entry(path).or_default();
    }
}

fn next_pid(s: &mut State) -> u32 {
    s.next_pid += 1;
    // Far from real pids, so that a mistake never signals a real process.
    4_000_000 + s.next_pid
}

fn env_of<'a>(l: &'a Launch, key: &str) -> Option<&'a str> {
    l.env
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

impl Launcher for FakeLauncher {
    fn launch(
        &self,
        launch: &Launch,
        worker_id: &str,
        attempt: Option<u32>,
    ) -> Result<Started, SpawnError> {
        let mut s = self.state();
        if let Some(message) = s.fail_next.take() {
            return Err(SpawnError(message));
        }
        let pid = next_pid(&mut s);
        let tagged = env_of(launch, "CORTEX_WORKER_ID").unwrap_or(worker_id);
        s.outputs.insert(launch.stdout.clone(), Vec::new());
        s.processes.push(FakeProcess {
            launch: Some(launch.clone()),
            stdout: Some(launch.stdout.clone()),
            ..FakeProcess::new(pid, tagged, attempt.unwrap_or(0), u64::from(pid) * 7)
        });
        Ok(Started {
            pid,
            start_ticks: Some(u64::from(pid) * 7),
        })
    }

    fn poll(&self, pid: u32) -> Poll {
        let s = self.state();
        match s.processes.iter().rev().find(|p| p.pid == pid) {
            Some(p) => p.exit.map_or(Poll::Running, Poll::Exited),
            None => Poll::Exited(Exit::Unknown),
        }
    }

    fn is_running(&self, pid: u32) -> bool {
        self.poll(pid) == Poll::Running
    }

    fn is_same_process(&self, pid: u32, start_ticks: Option<u64>, worker_id: &str) -> bool {
        let s = self.state();
        s.processes.iter().any(|p| {
            p.pid == pid
                && p.exit.is_none()
                && p.worker_id == worker_id
                && start_ticks.is_none_or(|t| t == p.start_ticks)
        })
    }

    fn signal(&self, pid: u32, signal: Signal) {
        let mut s = self.state();
        if let Some(p) = s.processes.iter_mut().rev().find(|p| p.pid == pid) {
            p.signals.push(signal);
            if p.exit.is_none() && !p.out_of_reach {
                match signal {
                    Signal::Term if !p.ignores_term => p.exit = Some(Exit::Signal(libc::SIGTERM)),
                    Signal::Term => {}
                    Signal::Kill => p.exit = Some(Exit::Signal(libc::SIGKILL)),
                }
            }
        }
    }

    fn running(&self, worker_id: &str, attempt: Option<u32>) -> Vec<u32> {
        let s = self.state();
        s.processes
            .iter()
            .filter(|p| {
                p.exit.is_none()
                    && p.worker_id == worker_id
                    && attempt.is_none_or(|a| a == p.attempt)
            })
            .map(|p| p.pid)
            .collect()
    }

    fn sweep(&self, worker_id: &str, attempt: Option<u32>) -> usize {
        let pids = self.running(worker_id, attempt);
        for &pid in &pids {
            self.signal(pid, Signal::Kill);
        }
        pids.len()
    }

    fn sample(&self) -> ProcessTable {
        let s = self.state();
        ProcessTable::of(s.processes.iter().map(|p| (p.pid, p.cpu, p.exit.is_none())))
    }

    fn ticks_per_second(&self) -> u64 {
        100
    }

    fn open_output(&self, path: &Path) -> Option<Box<dyn OutputSource>> {
        self.state().outputs.contains_key(path).then(|| {
            Box::new(FakeOutput {
                launcher: self.clone(),
                path: path.to_path_buf(),
            }) as Box<dyn OutputSource>
        })
    }

    fn write_stdin(&self, fifo: &Path, line: &str) -> std::io::Result<()> {
        let mut s = self.state();
        let p = s.processes.iter_mut().rev().find(|p| {
            p.exit.is_none()
                && p.launch
                    .as_ref()
                    .and_then(|l| l.stdin_fifo.as_deref())
                    .is_some_and(|f| f == fifo)
        });
        match p {
            Some(p) => {
                p.stdin.push(line.to_string());
                Ok(())
            }
            None => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no running process reads {}", fifo.display()),
            )),
        }
    }

    fn unreachable(&self) -> Option<String> {
        self.state().unreachable.clone()
    }

    fn home_jobs(&self) -> Vec<(u32, String, Option<u32>)> {
        let s = self.state();
        s.processes
            .iter()
            .filter(|p| p.exit.is_none() && s.cluster_like)
            .map(|p| (p.pid, p.worker_id.clone(), Some(p.attempt)))
            .collect()
    }

    fn start_failure(&self, pid: u32) -> Option<String> {
        self.state().start_failures.get(&pid).cloned()
    }

    fn queued(&self, pid: u32) -> bool {
        // As a cluster's queue: an ended job is no longer listed as pending.
        let s = self.state();
        s.queued.contains_key(&pid)
            && s.processes
                .iter()
                .rev()
                .find(|p| p.pid == pid)
                .is_none_or(|p| p.exit.is_none())
    }

    fn suspended(&self, pid: u32) -> Option<String> {
        self.state()
            .suspended
            .contains(&pid)
            .then(|| "suspended by the cluster".to_string())
    }

    fn never_ran(&self, pid: u32) -> bool {
        // Still marked queued: it never left the queue.
        self.state().queued.contains_key(&pid)
    }

    fn queue_reason(&self, pid: u32) -> Option<String> {
        self.state().queued.get(&pid).cloned()
    }

    fn describe(&self) -> String {
        "the fake launcher's records".into()
    }
}

/// A scripted stdout.
#[derive(Debug)]
struct FakeOutput {
    launcher: FakeLauncher,
    path: PathBuf,
}

impl OutputSource for FakeOutput {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        let s = self.launcher.state();
        let Some(out) = s.outputs.get(&self.path) else {
            return Ok(0);
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(out.len());
        let n = buf.len().min(out.len() - start);
        buf[..n].copy_from_slice(&out[start..start + n]);
        Ok(n)
    }

    fn modified(&self) -> Option<SystemTime> {
        // Else lines are timed by the engine's (manual) clock.
        self.launcher.state().written.get(&self.path).copied()
    }
}
