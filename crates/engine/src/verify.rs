//! Checking a worker's work: after an attempt succeeds, the check (the
//! task's `--verify`, else its expert's `verify`, else `verify.command`)
//! runs in the worker's workdir as its own supervised process (`sh -c` as
//! the person wrote it, its own process group, the worker's tag, output to
//! `attempt-N/verify.log`, `verify.timeout_secs`). It passing completes the
//! worker, verified; failing resumes the same session with what failed, up
//! to `verify.max_rounds` times, and then the worker needs a person.
//!
//! Every step is a journal event (`verify_started`, `verify_ended`), so an
//! owner that restarts mid-check re-adopts the check's process, or runs the
//! check again if it is gone. Nothing here decides by text: what follows a
//! check is `cortex_core::settle`'s business for attempts, and `decide`
//! below for checks.

use std::path::PathBuf;
use std::time::Instant;

use cortex_core::id::WorkerId;

/// The bytes of a check's output kept as its tail.
pub(crate) const TAIL_BYTES: usize = 2000;

/// A running check, as the owner watches it.
#[derive(Debug)]
pub(crate) struct Check {
    pub(crate) worker_id: WorkerId,
    pub(crate) round: u32,
    pub(crate) command: String,
    pub(crate) pid: u32,
    pub(crate) start_ticks: Option<u64>,
    /// True when this engine started it (it reaps it).
    pub(crate) own: bool,
    pub(crate) started: Instant,
    pub(crate) log: PathBuf,
    /// When SIGTERM went out (timeout or a person's kill).
    pub(crate) term_sent: Option<Instant>,
    /// Why it is being stopped, once it is.
    pub(crate) stopping: Option<String>,
}

/// What follows a check that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterCheck {
    /// Passed: the worker completed, verified.
    Complete,
    /// Failed with rounds left: resume the session with this prompt.
    Resume {
        /// The next attempt's prompt: what failed and the end of the check's output.
        prompt: String,
    },
    /// Failed with no rounds left: the worker needs a person.
    NeedsAttention {
        /// Why the worker needs attention, in words.
        reason: String,
    },
}

/// What follows check number `round` (1-based) that passed or failed.
/// Every failure up to `max_rounds` sends the work back to the agent.
pub fn decide(
    command: &str,
    round: u32,
    max_rounds: u32,
    passed: bool,
    failure: &str,
    tail: &str,
) -> AfterCheck {
    if passed {
        return AfterCheck::Complete;
    }
    if round <= max_rounds {
        let shown = if tail.trim().is_empty() {
            "(it printed nothing)".to_string()
        } else {
            format!("The end of its output:\n```\n{}\n```", tail.trim_end())
        };
        return AfterCheck::Resume {
            prompt: format!(
                "Your work did not pass its check: `{command}` {failure}. {shown}\nFix what it reports, then finish the task."
            ),
        };
    }
    AfterCheck::NeedsAttention {
        reason: format!("verification failed: {command} {failure}"),
    }
}

/// Runs `$0` with `sh -c` and writes its exit status to the file `$1`
/// (tmp + rename: a reader never sees half of it; mode 0600 as every file
/// of the home), exiting with it.
pub(crate) const RECORD_EXIT: &str = r#"sh -c "$0"; code=$?; umask 077; printf '%s' "$code" > "$1.tmp" && mv "$1.tmp" "$1"; exit "$code""#;

/// Where a check's exit status is recorded, next to its log.
pub(crate) fn exit_file(log: &std::path::Path) -> PathBuf {
    log.with_extension("exit")
}

/// The exit status a check recorded, if it got that far.
pub(crate) fn recorded_exit(log: &std::path::Path) -> Option<i32> {
    std::fs::read_to_string(exit_file(log))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// The last `TAIL_BYTES` of a file, redacted, on a character boundary.
pub(crate) fn tail_of(path: &std::path::Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    // Only the end is read: a check may print gigabytes.
    let mut bytes = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let len = f.metadata().map_or(0, |m| m.len());
        let from = len.saturating_sub(TAIL_BYTES as u64);
        if f.seek(SeekFrom::Start(from)).is_ok() {
            let _ = f.take(TAIL_BYTES as u64).read_to_end(&mut bytes);
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    cortex_core::redact::redact(text.trim_start_matches('\u{FFFD}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_goes_back_to_the_agent_max_rounds_times_then_to_a_person() {
        let cmd = "cargo test";
        assert_eq!(decide(cmd, 1, 2, true, "passed", ""), AfterCheck::Complete);
        let AfterCheck::Resume { prompt } = decide(cmd, 1, 2, false, "exited 101", "1 failed\n")
        else {
            panic!("the first failure resumes")
        };
        assert!(
            prompt.contains("`cargo test` exited 101") && prompt.contains("1 failed"),
            "{prompt}"
        );
        assert!(matches!(
            decide(cmd, 2, 2, false, "exited 101", ""),
            AfterCheck::Resume { .. }
        ));
        assert_eq!(
            decide(cmd, 3, 2, false, "exited 101", ""),
            AfterCheck::NeedsAttention {
                reason: "verification failed: cargo test exited 101".into()
            }
        );
        assert!(matches!(
            decide(cmd, 1, 0, false, "timed out after 600s", ""),
            AfterCheck::NeedsAttention { .. }
        ));
    }
}
