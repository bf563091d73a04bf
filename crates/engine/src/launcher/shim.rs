//! The agent shim (`cortex agent-shim --spec FILE`): what a cluster job
//! runs in place of the agent. It starts the attempt exactly as the local
//! launcher would (the same `Launch`: argv without a shell, environment,
//! workdir, output files, stdin), then reports what only the node can see
//! to `shim.jsonl` beside the attempt's output: a first line when the agent
//! started, the CPU time of the agent's process tree every few seconds, and
//! how it ended. Asked to stop (SIGTERM from `scancel`), it passes the
//! signal on to the agent's process group and reports the end as usual.
//!
//! In a pod (`--stream`, the spec in `CORTEX_SHIM_SPEC`), nothing is
//! shared with the owner but the container's log: the shim first writes
//! the files the attempt needs (its prompt, the hook settings), reads the
//! API key from the mounted Secret, clones the workdir if asked, then
//! writes ONE stream on its stdout: the agent's lines as they are, and its
//! own reports (the same as in `shim.jsonl`, plus the agent's stderr and
//! its hooks' check-ins) as lines that start with a per-attempt marker the
//! agent never sees, so an agent cannot forge an end.
//!
//! The agent's own lines stay in its stdout file, untouched: the engine
//! tails, classifies and shows them as for a local worker. CPU samples are
//! kept apart from them on purpose: in the agent's stream they would count
//! as output, which the PM reads as a sign of life, while CPU alone is not.
//!
//! May depend on: spawner, procfs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use cortex_core::stream::Exit;
use serde::{Deserialize, Serialize};

use crate::spawner::{self, Launch};

/// What a job's shim is asked to run, written by the launcher as
/// `job.json` in the attempt's folder (mode 0600: the environment may hold
/// an API key).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimSpec {
    /// The attempt, as the local launcher would start it.
    pub launch: Launch,
    /// Seconds between CPU samples.
    pub sample_secs: u64,
    /// Where the reports go (`shim.jsonl`).
    pub report: PathBuf,
    /// Inside a pod: what to prepare, and the stream's marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<PodPlan>,
}

/// What the shim prepares inside a pod before the agent starts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PodPlan {
    /// Files written (mode 0600) first: the prompt, the hook settings.
    pub files: Vec<(PathBuf, String)>,
    /// Variables of the agent's environment read from files (a Secret).
    pub env_files: Vec<(String, PathBuf)>,
    /// `(url, commit)`: cloned into the workdir, at that commit.
    pub clone: Option<(String, String)>,
    /// The hooks' check-ins, forwarded as they are appended.
    pub heartbeats: Option<PathBuf>,
    /// The start of every report line on the stream.
    pub marker: String,
}

/// The variable that carries the spec into a pod.
pub const SPEC_ENV: &str = "CORTEX_SHIM_SPEC";

/// One line of `shim.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShimReport {
    /// The agent started on this node with this pid.
    Started {
        /// The agent's pid on its node.
        pid: u32,
        /// The node's name.
        node: String,
        /// Clock ticks per second of the node's CPU times.
        ticks_per_second: u64,
    },
    /// CPU time of the agent's process tree so far, in clock ticks.
    Cpu {
        /// Clock ticks since the agent started.
        ticks: u64,
    },
    /// The agent ended with this exit code.
    Exited {
        /// The exit code.
        code: i32,
    },
    /// The agent was ended by this signal.
    Killed {
        /// The signal's number.
        signal: i32,
    },
    /// The agent could not be started.
    Failed {
        /// Why, in words.
        reason: String,
    },
    /// A line the agent wrote to stderr (pods only).
    Stderr {
        /// The line, without its newline.
        line: String,
    },
    /// A line a hook appended to the worker's check-ins (pods only).
    Heartbeat {
        /// The line, without its newline.
        line: String,
    },
}

impl ShimReport {
    /// How the agent ended, when this report says it did.
    pub fn exit(&self) -> Option<Exit> {
        match self {
            ShimReport::Exited { code } => Some(Exit::Code(*code)),
            ShimReport::Killed { signal } => Some(Exit::Signal(*signal)),
            // The agent never ran: as a shell says of a missing program.
            ShimReport::Failed { .. } => Some(Exit::Code(127)),
            _ => None,
        }
    }
}

/// The shim's reports so far, read from `shim.jsonl`; torn or unknown
/// lines are skipped.
pub fn read_reports(path: &Path) -> Vec<ShimReport> {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// What a launcher has read of one attempt's `shim.jsonl`.
#[derive(Debug, Default)]
pub struct ReportState {
    /// `shim.jsonl` of the attempt (or check).
    pub report: PathBuf,
    /// How far `report` was read.
    offset: u64,
    /// CPU time of the agent's process tree, clock ticks.
    pub cpu_ticks: u64,
    /// The shim reported the agent's start.
    pub started: bool,
    /// How the agent ended, once reported.
    pub ended: Option<Exit>,
    /// Why the shim could not start the agent, when it reported so.
    pub failed: Option<String>,
    /// When the end was first read.
    pub ended_seen: Option<Instant>,
}

impl ReportState {
    /// A reader of `report` from its start.
    pub fn new(report: PathBuf) -> Self {
        Self {
            report,
            ..Self::default()
        }
    }

    /// Reads what the shim reported since the last reading.
    pub fn read(&mut self, ticks_per_second: &mut Option<u64>) {
        let job = self;
        let Ok(mut f) = std::fs::File::open(&job.report) else {
            return;
        };
        use std::io::Seek;
        if f.seek(std::io::SeekFrom::Start(job.offset)).is_err() {
            return;
        }
        let mut text = String::new();
        if std::io::Read::read_to_string(&mut f, &mut text).is_err() {
            return;
        }
        // Only whole lines; a torn last line is read again next time.
        let Some(end) = text.rfind('\n') else {
            return;
        };
        job.offset += end as u64 + 1;
        for line in text[..end].lines() {
            match serde_json::from_str::<ShimReport>(line) {
                Ok(ShimReport::Started {
                    ticks_per_second: t,
                    ..
                }) => {
                    job.started = true;
                    *ticks_per_second = Some(t);
                }
                Ok(ShimReport::Cpu { ticks }) => job.cpu_ticks = ticks,
                Ok(ShimReport::Failed { reason }) => {
                    job.ended = Some(Exit::Code(127));
                    job.failed = Some(reason);
                }
                Ok(r) => job.ended = r.exit().or(job.ended),
                Err(_) => {}
            }
        }
        if job.ended.is_some() && job.ended_seen.is_none() {
            job.ended_seen = Some(Instant::now());
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Where reports go: `shim.jsonl`, or the pod's one stream.
enum Sink {
    File(PathBuf),
    Stream(String),
}

impl Sink {
    fn report(&self, line: &ShimReport) {
        let Ok(json) = serde_json::to_string(line) else {
            return;
        };
        match self {
            Sink::File(report) => {
                // Private, as every file of the home, whatever the umask.
                if let Ok(mut f) = crate::files::options()
                    .create(true)
                    .append(true)
                    .open(report)
                {
                    // One write per line: a reader never sees half of one for long.
                    let _ = f.write_all(format!("{json}\n").as_bytes());
                }
            }
            Sink::Stream(marker) => emit(format!("{marker}{json}\n").as_bytes()),
        }
    }
}

/// Writes whole lines to stdout at once.
fn emit(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

/// A file read as it grows, line by line (pods only).
struct Tail {
    path: PathBuf,
    offset: u64,
    /// A last line still without its newline.
    partial: Vec<u8>,
}

impl Tail {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// The whole lines added since the last call (all that is left, the
    /// last one completed, when `last`).
    fn lines(&mut self, last: bool) -> Vec<Vec<u8>> {
        use std::io::{Read, Seek};
        if let Ok(mut f) = std::fs::File::open(&self.path) {
            if f.seek(std::io::SeekFrom::Start(self.offset)).is_ok() {
                let mut buf = Vec::new();
                if let Ok(n) = f.read_to_end(&mut buf) {
                    self.offset += n as u64;
                    self.partial.extend_from_slice(&buf);
                }
            }
        }
        let mut out = Vec::new();
        while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
            let rest = self.partial.split_off(i + 1);
            out.push(std::mem::replace(&mut self.partial, rest));
        }
        if last && !self.partial.is_empty() {
            let mut line = std::mem::take(&mut self.partial);
            line.push(b'\n');
            out.push(line);
        }
        out
    }
}

/// What a pod's shim forwards from files onto its stream.
struct Forward {
    stdout: Tail,
    stderr: Tail,
    heartbeats: Option<Tail>,
}

impl Forward {
    fn pump(&mut self, sink: &Sink, last: bool) {
        for line in self.stdout.lines(last) {
            emit(&line);
        }
        let text = |l: Vec<u8>| {
            String::from_utf8_lossy(&l)
                .trim_end_matches('\n')
                .to_string()
        };
        for line in self.stderr.lines(last) {
            sink.report(&ShimReport::Stderr { line: text(line) });
        }
        if let Some(h) = &mut self.heartbeats {
            for line in h.lines(last) {
                sink.report(&ShimReport::Heartbeat { line: text(line) });
            }
        }
    }
}

/// Prepares a pod for the attempt: files, secrets, the clone.
fn prepare(plan: &PodPlan, launch: &mut Launch) -> Result<(), String> {
    for (path, body) in &plan.files {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        super::write_private(path, body.as_bytes(), 0o600).map_err(|e| e.0)?;
    }
    for (name, path) in &plan.env_files {
        let value = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the secret {}: {e}", path.display()))?;
        launch
            .env
            .push((name.clone(), value.trim_end().to_string()));
    }
    if let Some((url, commit)) = &plan.clone {
        let git = |args: &[&str]| -> Result<(), String> {
            let out = std::process::Command::new("git")
                .args(args)
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|e| format!("cannot run git: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "git {} failed: {}",
                    args.first().copied().unwrap_or_default(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        let cwd = launch.cwd.display().to_string();
        git(&["clone", "--no-checkout", "--", url, &cwd])?;
        git(&["-C", &cwd, "checkout", "--detach", commit])?;
    }
    for p in [
        Some(&launch.stdout),
        Some(&launch.stderr),
        plan.heartbeats.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
    }
    Ok(())
}

fn node_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Runs the attempt `spec_path` describes and reports on it; returns the
/// exit code the shim ends with (the agent's, or 128 + its signal).
pub fn run(spec_path: &Path) -> Result<i32, String> {
    let text = std::fs::read_to_string(spec_path)
        .map_err(|e| format!("cannot read {}: {e}", spec_path.display()))?;
    let spec: ShimSpec = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a shim spec: {e}", spec_path.display()))?;
    supervise(spec)
}

/// Runs the attempt the spec in `CORTEX_SHIM_SPEC` describes inside a pod,
/// everything on one stream (stdout).
pub fn run_stream() -> Result<i32, String> {
    let text = std::env::var(SPEC_ENV).map_err(|_| format!("{SPEC_ENV} is not set"))?;
    // SAFETY: nothing else runs yet in this process; the agent must not
    // inherit the spec (it holds the marker).
    unsafe { std::env::remove_var(SPEC_ENV) };
    let spec: ShimSpec =
        serde_json::from_str(&text).map_err(|e| format!("{SPEC_ENV} is not a shim spec: {e}"))?;
    if spec.pod.is_none() {
        return Err(format!("{SPEC_ENV} has no pod plan"));
    }
    supervise(spec)
}

fn supervise(mut spec: ShimSpec) -> Result<i32, String> {
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_term as *const () as libc::sighandler_t);
    }
    let (sink, mut forward) = match &spec.pod {
        Some(plan) => (
            Sink::Stream(plan.marker.clone()),
            Some(Forward {
                stdout: Tail::new(spec.launch.stdout.clone()),
                stderr: Tail::new(spec.launch.stderr.clone()),
                heartbeats: plan.heartbeats.clone().map(Tail::new),
            }),
        ),
        None => (Sink::File(spec.report.clone()), None),
    };
    let prepared = match spec.pod.clone() {
        Some(plan) => prepare(&plan, &mut spec.launch),
        None => Ok(()),
    };
    let spawned = prepared.and_then(|()| spawner::spawn(&spec.launch).map_err(|e| e.0));
    let mut child = match spawned {
        Ok(c) => c,
        Err(reason) => {
            sink.report(&ShimReport::Failed {
                reason: reason.clone(),
            });
            return Err(reason);
        }
    };
    let pid = child.id();
    sink.report(&ShimReport::Started {
        pid,
        node: node_name(),
        ticks_per_second: crate::procfs::ticks_per_second(),
    });
    let every = Duration::from_secs(spec.sample_secs.max(1));
    let mut next_sample = Instant::now();
    let mut passed_on = false;
    loop {
        if STOP.load(Ordering::SeqCst) && !passed_on {
            spawner::signal_group(pid, libc::SIGTERM);
            passed_on = true;
        }
        if Instant::now() >= next_sample {
            if let Some(ticks) = crate::procfs::tree_cpu_ticks(pid) {
                sink.report(&ShimReport::Cpu { ticks });
            }
            next_sample = Instant::now() + every;
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                use std::os::unix::process::ExitStatusExt;
                let (line, code) = match (status.code(), status.signal()) {
                    (Some(c), _) => (ShimReport::Exited { code: c }, c),
                    (None, Some(s)) => (ShimReport::Killed { signal: s }, 128 + s),
                    _ => (ShimReport::Exited { code: -1 }, 1),
                };
                // What the agent's group left behind goes with it.
                spawner::signal_group(pid, libc::SIGKILL);
                if let Some(f) = &mut forward {
                    f.pump(&sink, true);
                }
                sink.report(&line);
                return Ok(code);
            }
            Ok(None) => {
                if let Some(f) = &mut forward {
                    f.pump(&sink, false);
                }
            }
            Err(e) => return Err(format!("cannot wait for the agent (pid {pid}): {e}")),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &Path, argv: &[&str]) -> PathBuf {
        let s = ShimSpec {
            launch: Launch {
                argv: argv.iter().map(|s| s.to_string()).collect(),
                env: vec![],
                cwd: dir.to_path_buf(),
                stdout: dir.join("stdout"),
                stderr: dir.join("stderr"),
                stdin_fifo: None,
                stdin_file: None,
                deadline_secs: None,
            },
            sample_secs: 1,
            report: dir.join("shim.jsonl"),
            pod: None,
        };
        let p = dir.join("job.json");
        std::fs::write(&p, serde_json::to_string(&s).unwrap()).unwrap();
        p
    }

    #[test]
    fn the_shim_runs_the_agent_and_reports_its_start_cpu_and_end() {
        let d = tempfile::tempdir().unwrap();
        let p = spec(d.path(), &["sh", "-c", "echo out; echo err >&2; exit 3"]);
        assert_eq!(run(&p), Ok(3));
        assert_eq!(
            std::fs::read_to_string(d.path().join("stdout")).unwrap(),
            "out\n"
        );
        assert_eq!(
            std::fs::read_to_string(d.path().join("stderr")).unwrap(),
            "err\n"
        );
        let reports = read_reports(&d.path().join("shim.jsonl"));
        assert!(
            matches!(reports.first(), Some(ShimReport::Started { .. })),
            "{reports:?}"
        );
        assert_eq!(reports.last(), Some(&ShimReport::Exited { code: 3 }));
    }

    #[test]
    fn a_missing_agent_is_reported_as_a_failed_start() {
        let d = tempfile::tempdir().unwrap();
        let p = spec(d.path(), &["/nonexistent/agent"]);
        let e = run(&p).unwrap_err();
        assert!(e.contains("/nonexistent/agent"), "{e}");
        let reports = read_reports(&d.path().join("shim.jsonl"));
        assert!(
            matches!(reports.as_slice(), [ShimReport::Failed { .. }]),
            "{reports:?}"
        );
        // A launcher reading the report knows why, not only an exit code.
        let mut state = ReportState::new(d.path().join("shim.jsonl"));
        state.read(&mut None);
        assert_eq!(state.ended, Some(Exit::Code(127)));
        assert!(
            state
                .failed
                .as_deref()
                .is_some_and(|f| f.contains("/nonexistent/agent")),
            "{state:?}"
        );
    }

    #[test]
    fn a_spec_that_is_not_one_is_named_in_the_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("job.json");
        std::fs::write(&p, "{\"launch\": 1}").unwrap();
        let e = run(&p).unwrap_err();
        assert!(
            e.contains("job.json") && e.contains("not a shim spec"),
            "{e}"
        );
    }
}
