//! The worker runtime: spawning attempts within capacity, tailing their
//! output, noticing how they end, restarting with `--resume`, stopping them
//! completely, and re-adopting the ones that outlived an engine.
//!
//! Theory of operation: `tick` runs every few hundred milliseconds while an
//! engine runs (`cortex run`, the desktop app). Each live attempt has a
//! `Live` entry holding its output tail and stream state. Every transition
//! that matters (worker created, attempt started, attempt ended, waiting,
//! ended) is a journal event first; the live table is only a cache of what
//! the OS and the output files say, and is rebuilt from them on start.
//! Every stop request and every report carries worker id + attempt number,
//! so a signal about attempt 1 can never end attempt 2.

use crate::pm::{LiveSummary, PmVerdicts};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};
use cortex_core::id::{TaskId, WorkerId};
use cortex_core::pricing::ModelPrice;
use cortex_core::redact::redact;
use cortex_core::stream::{classify, Activity, Exit, OutcomeKind, Progress, Tokens};
use cortex_core::worker::{Worker, WorkerStatus};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::clock;
use crate::driver::{self};
use crate::error::EngineError;
use crate::launcher::{Launcher, LocalLauncher, OutputSource};

mod check_in;
mod observed;
mod worker_dto;

pub use check_in::{check_in_worker, record_check_in, write_heartbeat, Heartbeat};
pub(crate) use observed::{name_process, observed_dto};
pub(crate) use worker_dto::{apply_verdict, live_cost, worker_dto};
pub use worker_dto::{AttemptFigures, TokenDto, WorkerDto, ATTENTION};

/// Output bytes one runtime tick reads at most, shared by the live workers.
pub(crate) const TICK_READ_BUDGET: usize = 8 << 20;
/// What each live worker may read per tick however many there are.
pub(crate) const MIN_READ_PER_WORKER: usize = 64 << 10;

/// How long an agent may keep running after its result line before the
/// engine stops it and settles the attempt by that result.
pub(crate) const AFTER_RESULT_GRACE: StdDuration = StdDuration::from_secs(10);
/// The same for an agent reading prompts on stdin: it waits for the next
/// prompt after each result by design, so its result settles it sooner.
pub(crate) const AFTER_RESULT_GRACE_STREAM: StdDuration = StdDuration::from_secs(2);

/// A file read incrementally, line by line.
#[derive(Debug)]
pub(crate) struct Tail {
    pub(crate) path: PathBuf,
    /// Where the file is read through (the launcher that started its writer).
    pub(crate) source: Arc<dyn Launcher>,
    pub(crate) file: Option<Box<dyn OutputSource>>,
    pub(crate) offset: u64,
    pub(crate) partial: Vec<u8>,
    /// A missing file is looked for again only after this.
    pub(crate) retry_at: Option<Instant>,
}

impl Tail {
    /// A tail of a local file.
    pub(crate) fn new(path: PathBuf) -> Self {
        Self::via(path, Arc::new(LocalLauncher))
    }

    /// A tail of an output file read through `source`.
    pub(crate) fn via(path: PathBuf, source: Arc<dyn Launcher>) -> Self {
        Self {
            path,
            source,
            file: None,
            offset: 0,
            partial: Vec::new(),
            retry_at: None,
        }
    }

    /// The attempt ended: its file is looked for now, not after the wait a
    /// missing file earned (a cluster job's output appears on the shared
    /// folder only once the job starts, and a job that ends within that
    /// wait would otherwise be settled on no output at all).
    pub(crate) fn look_now(&mut self) {
        self.retry_at = None;
    }

    /// Complete new lines since the last call, all of them.
    pub(crate) fn read_lines(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        self.read_with(usize::MAX, |l, _| lines.push(l.to_string()));
        lines
    }

    /// Reads at most about `max` new bytes and hands each complete line
    /// (not blank, without its line end) to `f`, with the file's last write
    /// time when anything was read. Linear in what it reads.
    /// Returns how many lines it handed over, and whether more is already
    /// written (the caller reads it next time).
    pub(crate) fn read_with(
        &mut self,
        max: usize,
        mut f: impl FnMut(&str, Option<std::time::SystemTime>),
    ) -> (usize, bool) {
        if self.file.is_none() {
            if self.retry_at.is_some_and(|t| Instant::now() < t) {
                return (0, false);
            }
            self.file = self.source.open_output(&self.path);
            if self.file.is_none() {
                self.retry_at = Some(Instant::now() + StdDuration::from_millis(1000));
            }
        }
        let Some(file) = self.file.as_ref() else {
            return (0, false);
        };
        // Positioned reads: with nothing new, one system call per tail,
        // into one buffer per thread (not 64 KiB zeroed per tail per tick).
        thread_local! {
            static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 64 * 1024]);
        }
        let mut read = 0usize;
        let mut more = false;
        BUF.with_borrow_mut(|buf| loop {
            if read >= max {
                more = true;
                break;
            }
            match file.read_at(buf, self.offset) {
                Ok(0) => break,
                Ok(n) => {
                    self.offset += n as u64;
                    read += n;
                    self.partial.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        });
        let written = if read > 0 { file.modified() } else { None };
        let mut start = 0;
        let mut count = 0;
        while let Some(i) = memchr::memchr(b'\n', &self.partial[start..]) {
            let raw = &self.partial[start..start + i];
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            // Valid UTF-8 (nearly every line) is checked the quick way and
            // borrowed; anything else is read with replacement characters.
            let text = match std::str::from_utf8(raw) {
                Ok(t) => std::borrow::Cow::Borrowed(t),
                Err(_) => String::from_utf8_lossy(raw),
            };
            if !text.trim().is_empty() {
                f(&text, written);
                count += 1;
            }
            start += i + 1;
        }
        self.partial.drain(..start);
        (count, more)
    }

    /// The unterminated rest, once the writer is gone.
    pub(crate) fn take_rest(&mut self) -> Option<String> {
        let rest = String::from_utf8_lossy(&std::mem::take(&mut self.partial))
            .trim()
            .to_string();
        (!rest.is_empty()).then_some(rest)
    }
}

pub(crate) use cortex_core::worker::AfterStop;

/// A stop in progress. `after` is what follows (journaled as the worker's
/// `StopIntent` before the signal was sent); `None` settles the attempt by
/// the result line it already gave (an agent that hung after it).
#[derive(Debug)]
pub(crate) struct StopRequest {
    pub(crate) kind: OutcomeKind,
    pub(crate) reason: String,
    pub(crate) after: Option<AfterStop>,
    pub(crate) term_sent: Instant,
    /// When SIGKILL was last sent (again each grace while the process stays).
    pub(crate) killed_at: Option<Instant>,
}

/// A running attempt, as the engine watches it.
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) worker_id: WorkerId,
    pub(crate) task_id: TaskId,
    pub(crate) expert: String,
    pub(crate) attempt: u32,
    pub(crate) pid: u32,
    pub(crate) start_ticks: Option<u64>,
    /// True when this engine started the process (it reaps it); false for
    /// one re-adopted from an earlier engine.
    pub(crate) own: bool,
    pub(crate) out: Tail,
    pub(crate) hooks: Tail,
    pub(crate) progress: Progress,
    pub(crate) started_at: DateTime<Utc>,
    /// Last hook event of this attempt, if any.
    pub(crate) last_hook_at: Option<DateTime<Utc>>,
    pub(crate) last_hook: Option<String>,
    pub(crate) stop: Option<StopRequest>,
    pub(crate) result_seen: Option<Instant>,
    pub(crate) last_emit: Option<Instant>,
    /// The attempt's stdin FIFO, when it reads prompts on stdin.
    pub(crate) stdin_fifo: Option<PathBuf>,
    /// How the process ended, once known while output is still being read.
    pub(crate) exited: Option<Exit>,
    /// True when the exit watcher reports this process's end: a pass then
    /// asks for its exit status only once it was reported.
    pub(crate) exit_watched: bool,
    /// Tokens and cost of the worker's earlier attempts (budgets count all).
    pub(crate) prior_tokens: u64,
    pub(crate) prior_cost_usd: f64,
}

impl Live {
    /// A live entry for an attempt; `own` when this engine started it.
    pub(crate) fn new(
        w: &Worker,
        attempt: &cortex_core::worker::Attempt,
        out: Tail,
        heartbeats: PathBuf,
        own: bool,
    ) -> Self {
        Self {
            worker_id: w.id.clone(),
            task_id: w.task_id.clone(),
            expert: w.expert.clone(),
            attempt: attempt.n,
            pid: attempt.pid.unwrap_or(0),
            start_ticks: attempt.start_ticks,
            own,
            out,
            hooks: Tail::new(heartbeats),
            progress: Progress::default(),
            started_at: attempt.started_at,
            last_hook_at: None,
            last_hook: None,
            stop: None,
            result_seen: None,
            last_emit: None,
            stdin_fifo: None,
            exited: None,
            exit_watched: false,
            prior_tokens: w.tokens.in_and_out(),
            prior_cost_usd: w.cost_usd,
        }
    }
}

/// The runtime's table of live attempts.
#[derive(Debug)]
pub struct Runtime {
    /// Boxed: a `Live` is large, and the table keeps room for more
    /// entries than it holds (at 1,000 workers, 2,048 entries' room).
    pub(crate) live: HashMap<WorkerId, Box<Live>>,
    /// True once this engine supervises workers (`run`, the app).
    pub(crate) active: bool,
    pub(crate) agent_command: Vec<String>,
    pub(crate) heartbeat_command: Vec<String>,
    /// A person's message for a worker's next attempt (`cortex nudge`).
    pub(crate) pending_prompts: HashMap<WorkerId, String>,
    /// Attempts whose start failed while the cluster did not answer: their
    /// job may have been accepted all the same, so one left under their
    /// name is cancelled before they are started again.
    pub(crate) maybe_submitted: std::collections::HashSet<(WorkerId, u32)>,
    /// True when `CORTEX_AGENT_COMMAND` chose the command (config edits
    /// then do not change it).
    pub(crate) command_overridden: bool,
    /// Wakes `run` when a live attempt's process ends (where available).
    pub(crate) exits: Option<crate::exits::ExitWatcher>,
    /// Running checks of workers' work (`verify`).
    pub(crate) checks: HashMap<WorkerId, crate::verify::Check>,
    /// The heartbeat folder's modification time when a pass last looked
    /// (see `heartbeat_files_may_be_new`).
    pub(crate) heartbeats_changed: Option<std::time::SystemTime>,
    /// The journal record at which `schedule` last found nothing to start
    /// and no task waiting: until another record, it is not run again.
    pub(crate) idle_at_seq: Option<u64>,
    /// The journal record at which `start_due_restarts` last found no
    /// restart due, with the earliest one it holds and, while a worker
    /// waits for a free place, the breakers open then (one that opens or
    /// closes moves places): until another record, that time or another
    /// breaker, it is not run again (new settings clear it).
    pub(crate) next_restart: Option<RestartScan>,
    /// True when the last pass left output unread: the next reads its
    /// tails on several threads.
    pub(crate) reading_backlog: bool,
    /// How many times `start_due_restarts` looked through the workers.
    #[cfg(test)]
    pub(crate) restart_scans: usize,
}

/// What `start_due_restarts` last found (`Runtime::next_restart`).
pub(crate) type RestartScan = (
    u64,
    Option<DateTime<Utc>>,
    Option<std::collections::BTreeMap<String, DateTime<Utc>>>,
);

impl Runtime {
    /// Has the exit watcher, if any, report when `pid` ends; false when
    /// nothing will report it (the passes then poll it).
    pub(crate) fn watch_exit(&self, pid: u32) -> bool {
        self.exits.as_ref().is_some_and(|w| w.watch(pid))
    }

    pub(crate) fn new(agent_command: Vec<String>, command_overridden: bool) -> Self {
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "cortex".into());
        Self {
            live: HashMap::new(),
            active: false,
            agent_command,
            heartbeat_command: vec![exe, "heartbeat".into()],
            pending_prompts: HashMap::new(),
            maybe_submitted: std::collections::HashSet::new(),
            command_overridden,
            exits: None,
            checks: HashMap::new(),
            heartbeats_changed: None,
            idle_at_seq: None,
            next_restart: None,
            reading_backlog: false,
            #[cfg(test)]
            restart_scans: 0,
        }
    }
}

/// The last non-empty line of a file (its last 4 KiB are read).
pub(crate) fn last_line(path: &Path) -> Option<String> {
    let f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let start = len.saturating_sub(4096);
    let mut buf = vec![0u8; usize::try_from(len - start).ok()?];
    f.read_exact_at(&mut buf, start).ok()?;
    String::from_utf8_lossy(&buf)
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

/// Writes an attempt's `meta.json`; a failure is logged, as nothing depends on it.
pub(crate) fn write_meta(worker: &Worker, meta: Option<&driver::AttemptMeta>) {
    let Some(meta) = meta else { return };
    // Logged here, after the start is recorded: in a pass that starts
    // many, formatting log lines would otherwise delay the later starts.
    if let Some((attempt, pid)) = meta.started() {
        info!(worker_id = %worker.id, task_id = %worker.task_id, attempt, pid, resumed = meta.resumed(), "attempt started");
    }
    if let Err(e) = meta.write() {
        warn!(worker_id = %worker.id, "{}", e.0);
    }
}

pub(crate) fn attempt_dir(home: &crate::Home, worker: &WorkerId, attempt: u32) -> PathBuf {
    home.workers_dir()
        .join(worker.as_str())
        .join(format!("attempt-{attempt}"))
}

/// The error for a control asked of a worker that already ended.
pub(crate) fn ended(w: &Worker, action: &'static str) -> EngineError {
    EngineError::WorkerEnded {
        id: w.id.to_string(),
        status: w.status.as_str().into(),
        action,
        next: if w.has_conversation() {
            format!("`cortex reply {} TEXT` goes on with its conversation", w.id)
        } else {
            "it never started a conversation: submitting the task again starts a new worker".into()
        },
    }
}

/// What a task waiting on an expert's circuit breaker says.
pub(crate) fn circuit_wait_reason(expert: &str, until: DateTime<Utc>) -> String {
    format!(
        "expert {expert} paused by circuit breaker until {} (`cortex resume {expert}` closes it)",
        until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// What a worker whose restart is held by its expert's circuit breaker
/// says: why it waits for a restart, without the backoff's "in 3s" or
/// "now" (no longer so) or an earlier hold, then the breaker.
pub(crate) fn held_restart_reason(reason: &str, expert: &str, until: DateTime<Utc>) -> String {
    let base = cortex_core::worker::without_wait_time(unheld(reason));
    format!("{base}; held: {}", circuit_wait_reason(expert, until))
}

pub(crate) use cortex_core::worker::unheld;

/// Applies a hold by the expert's circuit breaker to a worker's view: what
/// it waits for (`held_by_circuit`), and its reason says the hold from the
/// moment the breaker opened, not only once its own backoff was due (when
/// the scheduler journals it).
pub(crate) fn show_circuit_hold(
    dto: &mut WorkerDto,
    w: &cortex_core::worker::Worker,
    closes_at: Option<DateTime<Utc>>,
) {
    (dto.waiting_for, dto.reason) =
        with_circuit_hold(w, dto.waiting_for.take(), dto.reason.take(), closes_at);
}

/// What `w` waits for and why (`waiting`, `reason`, as a view derived
/// them), with a hold of its restart by its expert's circuit breaker (which
/// closes at `closes_at`): the one derivation the workers list and a task's
/// story share.
pub(crate) fn with_circuit_hold(
    w: &cortex_core::worker::Worker,
    waiting: Option<crate::views::WaitingFor>,
    reason: Option<String>,
    closes_at: Option<DateTime<Utc>>,
) -> (Option<crate::views::WaitingFor>, Option<String>) {
    let waiting = crate::views::held_by_circuit(waiting, crate::views::breaker_hold(w, closes_at));
    let until = waiting
        .as_ref()
        .filter(|f| f.kind == crate::views::WaitKind::Circuit)
        .and_then(|f| f.until);
    let reason = match (until, reason) {
        (Some(until), Some(r)) if unheld(&r).len() == r.len() => {
            Some(held_restart_reason(&r, &w.expert, until))
        }
        (_, r) => r,
    };
    (waiting, reason)
}

/// Reads new output and hook lines into the live state. True if anything came.
pub(crate) fn absorb_output(l: &mut Live, now: DateTime<Utc>) -> bool {
    absorb_output_up_to(l, now, usize::MAX, true).0
}

/// True when a check-in file that was missing may exist now: the heartbeat
/// folder changed since `seen` (which it updates), or changed so recently
/// that a file made within the same step of the file system's clock would
/// not have moved its time. One `stat` per pass instead of an `open` per
/// worker without check-ins.
pub(crate) fn heartbeat_files_may_be_new(
    seen: &mut Option<std::time::SystemTime>,
    dir: &Path,
) -> bool {
    const RECENT: StdDuration = StdDuration::from_secs(2);
    let Ok(changed) = std::fs::metadata(dir).and_then(|m| m.modified()) else {
        return true;
    };
    let moved = *seen != Some(changed);
    *seen = Some(changed);
    // A time ahead of the clock counts as recent too.
    let recent = std::time::SystemTime::now()
        .duration_since(changed)
        .map_or(true, |age| age < RECENT);
    moved || recent
}

/// `absorb_output` reading at most about `max` bytes of output; the second
/// value is true when more is already written. A check-in file not found
/// before is looked for again only when `look_for_hooks`.
pub(crate) fn absorb_output_up_to(
    l: &mut Live,
    now: DateTime<Utc>,
    max: usize,
    look_for_hooks: bool,
) -> (bool, bool) {
    // Lines are timed by the file's last write, not by when we read them
    // (up to a tick later): silence is measured from when the agent spoke.
    let progress = &mut l.progress;
    // Every line of one read has the same last write time: converted once.
    let mut at = None;
    let (lines, more) = l.out.read_with(max, |line, written| {
        let at = *at.get_or_insert_with(|| {
            written
                .map(DateTime::<Utc>::from)
                .map_or(now, |t| t.min(now))
        });
        progress.apply_line(line, at);
    });
    let mut changed = lines > 0;
    if !look_for_hooks && l.hooks.file.is_none() {
        return (changed, more);
    }
    for line in l.hooks.read_lines() {
        if let Ok(hb) = serde_json::from_str::<Heartbeat>(&line) {
            // A check-in about another attempt is not this attempt's sign of life.
            if hb.attempt.is_some_and(|a| a != l.attempt) {
                continue;
            }
            l.last_hook_at = Some(hb.at.min(now));
            l.last_hook = hb.hook.clone().or(Some("check-in".into()));
            if hb.hook.is_none() {
                l.progress.last_checkin_at = Some(hb.at.min(now));
                l.progress.checkin_progress = hb.progress;
                l.progress.checkin_message = hb.message;
            }
            changed = true;
        }
    }
    (changed, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ended_worker_points_to_a_reply_only_when_it_had_a_conversation() {
        let now = crate::clock::now();
        let mut w = Worker::new(
            crate::clock::worker_id(now),
            crate::clock::task_id(now),
            "development",
            "/w".into(),
            now,
        );
        w.status = cortex_core::worker::WorkerStatus::Failed;
        let said = ended(&w, "restart").to_string();
        assert!(
            said.contains("never started a conversation: submitting the task again")
                && !said.contains("cortex reply"),
            "{said}"
        );
        w.session_id = Some("s-1".into());
        let said = ended(&w, "restart").to_string();
        assert!(
            said.contains(&format!("`cortex reply {} TEXT`", w.id)),
            "{said}"
        );
    }

    #[test]
    fn a_held_restart_says_the_breaker_instead_of_the_backoff() {
        let until = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let held = |r: &str| held_restart_reason(r, "development", until);
        let want = "exited with 2; restart 1 of 2; held: expert development paused by circuit breaker until 2027-01-15T08:00:00Z (`cortex resume development` closes it)";
        assert_eq!(held("exited with 2; restart 1 of 2"), want);
        assert_eq!(held("exited with 2; restart 1 of 2 now"), want);
        assert_eq!(held("exited with 2; restart 1 of 2 in 30s"), want);
        assert_eq!(held(want), want, "held once, not twice");
        assert_eq!(
            held("API error 500; restart 2 of 2 in a while"),
            "API error 500; restart 2 of 2 in a while; held: expert development paused by circuit breaker until 2027-01-15T08:00:00Z (`cortex resume development` closes it)"
        );
    }

    #[test]
    fn a_missing_check_in_file_is_looked_for_once_its_folder_changed() {
        let dir = tempfile::tempdir().unwrap();
        let age = |secs| {
            let t = std::time::SystemTime::now() - StdDuration::from_secs(secs);
            File::open(dir.path()).unwrap().set_modified(t).unwrap();
        };
        let mut seen = None;
        age(60);
        assert!(
            heartbeat_files_may_be_new(&mut seen, dir.path()),
            "first look"
        );
        assert!(
            !heartbeat_files_may_be_new(&mut seen, dir.path()),
            "unchanged"
        );
        std::fs::write(dir.path().join("w-1.jsonl"), "{}\n").unwrap();
        assert!(
            heartbeat_files_may_be_new(&mut seen, dir.path()),
            "a file was made"
        );
        // Changed moments ago: looked for again, even with the same time.
        assert!(heartbeat_files_may_be_new(&mut seen, dir.path()), "recent");
        age(60);
        assert!(
            heartbeat_files_may_be_new(&mut seen, dir.path()),
            "its time moved"
        );
        assert!(
            !heartbeat_files_may_be_new(&mut seen, dir.path()),
            "quiet again"
        );
        assert!(
            heartbeat_files_may_be_new(&mut seen, &dir.path().join("gone")),
            "a folder that cannot be read is no reason to stop looking"
        );
    }

    #[test]
    fn a_tail_reads_in_bounded_steps_and_keeps_every_line_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut text = String::new();
        for n in 0..5000 {
            text.push_str(&format!("line {n} {}\r\n", "x".repeat(n % 200)));
        }
        text.push_str("unterminated");
        std::fs::write(&path, &text).unwrap();
        let mut tail = Tail::new(path);
        let mut seen = Vec::new();
        let mut steps = 0;
        loop {
            steps += 1;
            let (_, more) = tail.read_with(64 * 1024, |l, written| {
                assert!(written.is_some());
                seen.push(l.to_string());
            });
            if !more {
                break;
            }
        }
        assert!(steps > 5, "{steps} steps");
        assert_eq!(seen.len(), 5000);
        for (n, l) in seen.iter().enumerate() {
            assert_eq!(*l, format!("line {n} {}", "x".repeat(n % 200)));
        }
        assert_eq!(tail.take_rest().as_deref(), Some("unterminated"));
        assert_eq!(tail.read_with(1024, |_, _| {}), (0, false));
    }

    #[test]
    fn an_ended_attempt_s_output_that_appeared_late_is_read_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stdout.jsonl");
        let mut tail = Tail::new(path.clone());
        // Not there yet: the next look waits a second.
        assert!(tail.read_lines().is_empty());
        std::fs::write(&path, "{\"type\":\"result\"}\n").unwrap();
        assert!(tail.read_lines().is_empty(), "within the wait");
        // The attempt ended: what it wrote is read now.
        tail.look_now();
        assert_eq!(tail.read_lines(), vec!["{\"type\":\"result\"}".to_string()]);
    }
}
