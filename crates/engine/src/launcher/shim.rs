//! The agent shim (`cortex agent-shim --spec FILE`): what a cluster job
//! runs in place of the agent. It starts the attempt exactly as the local
//! launcher would (the same `Launch`: argv without a shell, environment,
//! workdir, output files, stdin), then reports what only the node can see
//! to `shim.jsonl` beside the attempt's output: a first line when the agent
//! started, the CPU time of the agent's process tree every few seconds, and
//! how it ended. Asked to stop (SIGTERM from `scancel`), it passes the
//! signal on to the agent's process group and reports the end as usual.
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
}

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

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn append(report: &Path, line: &ShimReport) {
    let Ok(mut text) = serde_json::to_string(line) else {
        return;
    };
    text.push('\n');
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(report)
    {
        // One write per line: a reader never sees half of one for long.
        let _ = f.write_all(text.as_bytes());
    }
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
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_term as *const () as libc::sighandler_t);
    }
    let mut child = match spawner::spawn(&spec.launch) {
        Ok(c) => c,
        Err(e) => {
            append(
                &spec.report,
                &ShimReport::Failed {
                    reason: e.0.clone(),
                },
            );
            return Err(e.0);
        }
    };
    let pid = child.id();
    append(
        &spec.report,
        &ShimReport::Started {
            pid,
            node: node_name(),
            ticks_per_second: crate::procfs::ticks_per_second(),
        },
    );
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
                append(&spec.report, &ShimReport::Cpu { ticks });
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
                append(&spec.report, &line);
                return Ok(code);
            }
            Ok(None) => {}
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
            },
            sample_secs: 1,
            report: dir.join("shim.jsonl"),
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
