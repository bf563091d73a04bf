//! The launcher seam: how the fleet starts, watches and stops the processes
//! of attempts and checks, and where the engine's time comes from.
//!
//! Theory of operation: the fleet (`runtime`, `verify`) and the PM never
//! touch the OS's processes themselves; they go through the `Launcher` the
//! engine was opened with. `LocalLauncher` is today's local implementation
//! (detached process groups, output in files, `/proc` for liveness and CPU,
//! cgroups and environment tags for sweeping); a launcher for a batch
//! scheduler or a cluster implements the same trait. `FakeLauncher` (in
//! `fake`) scripts exits, output, silence and CPU for unit tests of the
//! fleet and PM logic without processes, with a `ManualClock` for time.
//!
//! Every process is named by the pid the launcher handed out; a launcher
//! that has no pids of its own (a job id) maps its handles onto such numbers.
//!
//! May depend on: spawner, procfs, cgroup, exits, cortex-core (types only).

#![warn(missing_docs)]

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use chrono::{DateTime, Utc};
use cortex_core::stream::Exit;

pub use crate::procfs::ProcessTable;
pub use crate::spawner::{Launch, SpawnError};

pub mod fake;
pub mod kubernetes;
pub mod shim;
pub mod slurm;

/// How a process is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Please end (SIGTERM): the agent may save its work.
    Term,
    /// End now (SIGKILL).
    Kill,
}

/// What polling a started process found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// Still running.
    Running,
    /// Ended, and this is how.
    Exited(Exit),
}

/// A started process: its pid and, when known, its start time (clock ticks
/// since boot), which together tell it from a later process with the same pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    /// The process's id.
    pub pid: u32,
    /// When it started, in clock ticks since boot, if known.
    pub start_ticks: Option<u64>,
}

/// An output file of an attempt, read from an offset as it grows.
pub trait OutputSource: Send + fmt::Debug {
    /// Reads into `buf` from `offset`; 0 at the current end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize>;
    /// When it was last written, if known.
    fn modified(&self) -> Option<SystemTime>;
}

/// Starts, watches and stops the processes of attempts (see the module doc).
/// Every method is cheap enough to call once per live attempt per tick.
pub trait Launcher: Send + Sync + fmt::Debug {
    /// Starts a process (nothing goes through a shell) for a worker: one
    /// of its attempts, contained so that `sweep` of that attempt finds all
    /// it starts, or (`None`) a check of its work, found by the worker's tag.
    fn launch(
        &self,
        launch: &Launch,
        worker_id: &str,
        attempt: Option<u32>,
    ) -> Result<Started, SpawnError>;
    /// Polls a process this launcher started (and reaps it once ended).
    fn poll(&self, pid: u32) -> Poll;
    /// True while `pid` exists and has not ended.
    fn is_running(&self, pid: u32) -> bool;
    /// True when `pid` is still the process started at `start_ticks` for
    /// the worker (a process started by an earlier engine, to re-adopt).
    fn is_same_process(&self, pid: u32, start_ticks: Option<u64>, worker_id: &str) -> bool;
    /// Sends `signal` to the process group `pid` leads.
    fn signal(&self, pid: u32, signal: Signal);
    /// The processes running for a worker (one attempt's, with `attempt`),
    /// wherever they went: what this home runs for it.
    fn running(&self, worker_id: &str, attempt: Option<u32>) -> Vec<u32>;
    /// Kills every process `running` lists (and what its containment
    /// holds); how many there were.
    fn sweep(&self, worker_id: &str, attempt: Option<u32>) -> usize;
    /// `sweep` of several ended attempts (worker, attempt) at once: how
    /// many processes each left.
    fn sweep_attempts(&self, attempts: &[(String, u32)]) -> Vec<usize> {
        attempts
            .iter()
            .map(|(w, a)| self.sweep(w, Some(*a)))
            .collect()
    }
    /// One reading of every process's liveness and CPU time, for a PM pass.
    fn sample(&self) -> ProcessTable;
    /// Clock ticks per second of the CPU times `sample` gives.
    fn ticks_per_second(&self) -> u64;
    /// Opens an output file of an attempt for reading, if it exists yet.
    fn open_output(&self, path: &Path) -> Option<Box<dyn OutputSource>>;
    /// Writes one line to an attempt's stdin FIFO (a message to the agent).
    fn write_stdin(&self, fifo: &Path, line: &str) -> std::io::Result<()>;
    /// Whether `write_stdin` can reach an agent this launcher runs.
    fn delivers_stdin(&self) -> bool {
        true
    }
    /// A worker's time limit was extended by `secs`: a launcher whose
    /// cluster holds a deadline for the process `pid` moves it.
    fn extend_deadline(&self, _pid: u32, _secs: u64) {}
    /// Something that wakes the owner when a watched process ends, where
    /// the launcher can (otherwise the tick notices ends).
    fn exit_watcher(&self) -> Option<crate::exits::ExitWatcher> {
        None
    }
    /// Every live process (job) of this home the launcher can list, as
    /// (pid or job id, worker id, attempt; none for a check): on a cluster,
    /// where jobs outlive owners, the next owner cancels those the journal
    /// does not know. None on this machine: there, tags are swept per worker.
    fn home_jobs(&self) -> Vec<(u32, String, Option<u32>)> {
        Vec::new()
    }
    /// Why the agent of this process could not be started where it runs
    /// (a cluster's node: its folder missing there, the agent not found),
    /// when the launcher was told: the attempt never ran, and says why.
    fn start_failure(&self, _pid: u32) -> Option<String> {
        None
    }
    /// Why a queued process waits, as its scheduler says it (Slurm's
    /// pending reason), when it says one.
    fn queue_reason(&self, _pid: u32) -> Option<String> {
        None
    }
    /// True while the process waits for a scheduler to start it (a cluster
    /// job still pending): the startup budget does not count meanwhile.
    fn queued(&self, _pid: u32) -> bool {
        false
    }
    /// Why the process is stopped by its scheduler, when it is (a cluster
    /// job suspended with `scontrol suspend`): it cannot run meanwhile, so
    /// its silence is no hang.
    fn suspended(&self, _pid: u32) -> Option<String> {
        None
    }
    /// True when the process is known never to have begun to run: a
    /// cluster job whose agent shim never reported a start (it ended, or
    /// was cancelled, while it waited). False when it ran or is not known.
    fn never_ran(&self, _pid: u32) -> bool {
        false
    }
    /// Why the processes this launcher runs cannot be watched now (a
    /// cluster that does not answer), if they cannot. The PM then leaves
    /// silent workers alone (`unreachable`) instead of taking them for hung.
    fn unreachable(&self) -> Option<String> {
        None
    }
    /// A process named for people ("pid 1234").
    fn process_name(&self, pid: u32) -> String {
        format!("pid {pid}")
    }
    /// Said once when supervision starts: how processes are contained.
    fn describe(&self) -> String;
    /// Tidies what earlier owners left (empty containers).
    fn prune(&self) {}
    /// True when an attempt's output files are written by the agent itself
    /// as it prints, so their times are its signs of life; false where an
    /// owner copies them from elsewhere (a pod's log), so they stop when
    /// the owner does.
    fn output_is_the_agents(&self) -> bool {
        true
    }
}

/// The launcher for processes on this machine.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalLauncher;

/// A local output file.
#[derive(Debug)]
struct LocalFile(std::fs::File);

impl OutputSource for LocalFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(&self.0, buf, offset)
    }
    fn modified(&self) -> Option<SystemTime> {
        self.0.metadata().ok().and_then(|m| m.modified().ok())
    }
}

impl Launcher for LocalLauncher {
    fn launch(
        &self,
        launch: &Launch,
        worker_id: &str,
        attempt: Option<u32>,
    ) -> Result<Started, SpawnError> {
        let pid = crate::spawner::spawn(launch)?.id();
        if let Some(attempt) = attempt {
            crate::cgroup::adopt(worker_id, attempt, pid);
        }
        Ok(Started {
            pid,
            start_ticks: crate::procfs::start_ticks(pid),
        })
    }

    fn poll(&self, pid: u32) -> Poll {
        match crate::spawner::try_wait_pid(pid) {
            Ok(Some(status)) => Poll::Exited(exit_of(status)),
            Ok(None) => Poll::Running,
            // Reaped already, or not ours: the OS says whether it runs.
            Err(_) if crate::procfs::is_running(pid) => Poll::Running,
            Err(_) => Poll::Exited(Exit::Unknown),
        }
    }

    fn is_running(&self, pid: u32) -> bool {
        crate::procfs::is_running(pid)
    }

    fn is_same_process(&self, pid: u32, start_ticks: Option<u64>, worker_id: &str) -> bool {
        crate::procfs::is_same_process(pid, start_ticks, worker_id)
    }

    fn signal(&self, pid: u32, signal: Signal) {
        let sig = match signal {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
        };
        crate::spawner::signal_group(pid, sig);
    }

    fn running(&self, worker_id: &str, attempt: Option<u32>) -> Vec<u32> {
        match attempt {
            Some(a) => crate::procfs::tagged_attempt(worker_id, a),
            None => crate::procfs::tagged(worker_id),
        }
    }

    fn sweep(&self, worker_id: &str, attempt: Option<u32>) -> usize {
        match attempt {
            Some(a) => crate::spawner::sweep_attempt(worker_id, a),
            None => crate::spawner::sweep(worker_id),
        }
    }

    fn sweep_attempts(&self, attempts: &[(String, u32)]) -> Vec<usize> {
        crate::spawner::sweep_attempts(attempts)
    }

    fn sample(&self) -> ProcessTable {
        ProcessTable::read()
    }

    fn ticks_per_second(&self) -> u64 {
        crate::procfs::ticks_per_second()
    }

    fn open_output(&self, path: &Path) -> Option<Box<dyn OutputSource>> {
        open_to_tail(path).map(|f| Box::new(LocalFile(f)) as Box<dyn OutputSource>)
    }

    fn write_stdin(&self, fifo: &Path, line: &str) -> std::io::Result<()> {
        crate::spawner::write_fifo_line(fifo, line)
    }

    fn exit_watcher(&self) -> Option<crate::exits::ExitWatcher> {
        crate::exits::ExitWatcher::start()
    }

    fn describe(&self) -> String {
        crate::cgroup::mode()
    }

    fn prune(&self) {
        crate::cgroup::prune();
    }
}

/// How a local process's wait status reads as an attempt's exit.
pub(crate) fn exit_of(status: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => Exit::Code(c),
        (None, Some(s)) => Exit::Signal(s),
        _ => Exit::Unknown,
    }
}

/// The engine's time: the wall clock for what is recorded and compared
/// with recorded times, a monotonic instant for grace periods.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The time now.
    fn now(&self) -> DateTime<Utc>;
    /// A monotonic instant, for measuring waits.
    fn instant(&self) -> Instant;
}

/// The system's clocks.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        crate::clock::now()
    }
    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told (`advance`), for tests.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<std::sync::Mutex<(DateTime<Utc>, Instant)>>);

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Arc::new(std::sync::Mutex::new((at, Instant::now()))))
    }

    /// Moves both clocks on by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        t.0 += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero());
        t.1 += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).0
    }
    fn instant(&self) -> Instant {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).1
    }
}

/// What an engine is opened with: where its processes run and its time
/// comes from (`Engine::open_with`).
#[derive(Debug, Clone)]
pub struct Parts {
    /// Starts and watches the processes.
    pub launcher: Arc<dyn Launcher>,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

impl Default for Parts {
    fn default() -> Self {
        Self {
            launcher: Arc::new(LocalLauncher),
            clock: Arc::new(SystemClock),
        }
    }
}

impl Parts {
    /// The launcher `settings.launcher` asks for, with the system clock.
    pub fn for_config(
        home: &crate::Home,
        settings: &cortex_core::config::Config,
    ) -> Result<Self, crate::error::EngineError> {
        use cortex_core::config::LauncherKind;
        let config = settings.launcher.clone();
        Ok(match config.kind {
            LauncherKind::Local => Self::default(),
            LauncherKind::Kubernetes => Self {
                launcher: Arc::new(
                    kubernetes::KubeLauncher::new(
                        home.root(),
                        config.kubernetes,
                        settings.pm.kill_grace_secs,
                    )
                    .map_err(crate::error::EngineError::System)?,
                ),
                clock: Arc::new(SystemClock),
            },
            LauncherKind::Slurm => Self {
                launcher: Arc::new(slurm::SlurmLauncher::new(
                    home.root(),
                    config.slurm,
                    slurm::default_shim_program(),
                )),
                clock: Arc::new(SystemClock),
            },
        })
    }
}

/// The common start of an attempt's output files (`<folder>/stdout`),
/// which a cluster launcher's own files share.
pub(crate) fn output_base(launch: &Launch) -> Result<std::path::PathBuf, SpawnError> {
    let dir = launch
        .stdout
        .parent()
        .ok_or_else(|| SpawnError("the attempt's output has no folder".into()))?;
    let stem = launch
        .stdout
        .file_stem()
        .and_then(|n| n.to_str())
        .unwrap_or("stdout");
    Ok(dir.join(stem))
}

/// Writes a file only its owner may read (`mode`), whole.
pub(crate) fn write_private(path: &Path, body: &[u8], mode: u32) -> Result<(), SpawnError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(body))
        .map_err(|e| SpawnError(format!("cannot write {}: {e}", path.display())))
}

/// Opens a file to read as it grows. On Linux without access-time updates
/// where the file is ours: a tail is read several times a second, and each
/// read would otherwise check whether the access time is due.
fn open_to_tail(path: &Path) -> Option<std::fs::File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOATIME)
            .open(path)
        {
            Ok(f) => return Some(f),
            // Refused for another user's file: opened as usual below.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
            Err(_) => return None,
        }
    }
    std::fs::File::open(path).ok()
}
