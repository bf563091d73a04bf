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

/// The largest a check's log grows on disk: past it, its last `LOG_KEPT`
/// bytes are kept beside it (`earlier_of`) and it starts again empty, so a
/// check that floods its output does not fill the disk, and its end is
/// always there to read.
pub(crate) const LOG_CAP: u64 = 8 << 20;
/// The bytes of a capped log kept beside it.
pub(crate) const LOG_KEPT: usize = 256 << 10;

/// Where the end of a check's log is kept once the log went over its cap.
pub(crate) fn earlier_of(log: &std::path::Path) -> PathBuf {
    log.with_extension("log.earlier")
}

/// The last `n` bytes of a file (fewer if it is shorter; none if missing).
fn last_bytes(path: &std::path::Path, n: usize) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut bytes = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let len = f.metadata().map_or(0, |m| m.len());
        let from = len.saturating_sub(n as u64);
        if f.seek(SeekFrom::Start(from)).is_ok() {
            let _ = f.take(n as u64).read_to_end(&mut bytes);
        }
    }
    bytes
}

/// Keeps a running check's log under `cap` bytes: once over it, its last
/// `kept` bytes replace what was kept beside it (`earlier_of`) and the log
/// is emptied (its writer appends, so it goes on from the start). True
/// when it did so.
pub(crate) fn cap_log(log: &std::path::Path, cap: u64, kept: usize) -> std::io::Result<bool> {
    let len = std::fs::metadata(log)?.len();
    if len <= cap {
        return Ok(false);
    }
    let end = last_bytes(log, kept);
    let earlier = earlier_of(log);
    let tmp = earlier.with_extension("earlier.tmp");
    crate::files::write(&tmp, &end)?;
    std::fs::rename(&tmp, &earlier)?;
    // What was written between the read and here is lost from the log, a
    // moment of a flood.
    crate::files::options().write(true).open(log)?.set_len(0)?;
    Ok(true)
}

/// The last `TAIL_BYTES` of a check's output, redacted, on a character
/// boundary: from its log, and from what was kept of it beside the log
/// once it went over its cap.
pub(crate) fn tail_of(path: &std::path::Path) -> String {
    // Only the end is read: a check may print gigabytes.
    let mut bytes = last_bytes(path, TAIL_BYTES);
    let earlier = earlier_of(path);
    if bytes.len() < TAIL_BYTES && earlier.exists() {
        let mut before = last_bytes(&earlier, TAIL_BYTES - bytes.len());
        before.extend_from_slice(&bytes);
        bytes = before;
    }
    let text = String::from_utf8_lossy(&bytes);
    cortex_core::redact::redact(text.trim_start_matches('\u{FFFD}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_over_its_cap_keeps_its_end_beside_it_and_its_writer_goes_on_from_the_start() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("verify.log");
        let mut writer = crate::files::create_appending(&log).unwrap();
        writer.write_all(&[b'a'; 900]).unwrap();
        writer.write_all(b"\nend of the first part\n").unwrap();
        assert!(!cap_log(&log, 2000, 100).unwrap(), "under its cap");
        assert!(cap_log(&log, 500, 100).unwrap());
        assert_eq!(std::fs::metadata(&log).unwrap().len(), 0);
        let kept = std::fs::read(earlier_of(&log)).unwrap();
        assert_eq!(kept.len(), 100);
        assert!(kept.ends_with(b"end of the first part\n"));
        // The writer appends: no hole where the emptied output was.
        writer.write_all(b"the last line\n").unwrap();
        assert_eq!(std::fs::read(&log).unwrap(), b"the last line\n");
        let tail = tail_of(&log);
        assert!(
            tail.ends_with("end of the first part\nthe last line\n"),
            "{tail:?}"
        );
        assert!(tail.len() <= TAIL_BYTES);
        // A missing log is an error for the owner to name, not a panic.
        assert!(cap_log(&dir.path().join("gone.log"), 1, 1).is_err());
    }

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
