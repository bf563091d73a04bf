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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};
use cortex_core::duration;
use cortex_core::id::{TaskId, WorkerId};
use cortex_core::pricing::ModelPrice;
use cortex_core::redact::redact;
use cortex_core::restart::restart_delay_secs;
use cortex_core::settle::{Next, OnStart};
use cortex_core::state::Event;
use cortex_core::stream::{
    classify, classify_generic, Activity, Exit, Outcome, OutcomeKind, Progress, Tokens,
};
use cortex_core::task::TaskStatus;
use cortex_core::worker::{Worker, WorkerStatus};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::clock;
use crate::driver::{self, AttemptSpec};
use crate::engine::{Engine, EngineEvent, TaskDto};
use crate::error::EngineError;
use crate::launcher::{Launcher, LocalLauncher, OutputSource, Poll, Signal};
use crate::spawner;

/// Output bytes one runtime tick reads at most, shared by the live workers.
const TICK_READ_BUDGET: usize = 8 << 20;
/// What each live worker may read per tick however many there are.
const MIN_READ_PER_WORKER: usize = 64 << 10;

/// How long an agent may keep running after its result line before the
/// engine stops it and settles the attempt by that result.
const AFTER_RESULT_GRACE: StdDuration = StdDuration::from_secs(10);
/// The same for an agent reading prompts on stdin: it waits for the next
/// prompt after each result by design, so its result settles it sooner.
const AFTER_RESULT_GRACE_STREAM: StdDuration = StdDuration::from_secs(2);

/// A file read incrementally, line by line.
#[derive(Debug)]
pub(crate) struct Tail {
    path: PathBuf,
    /// Where the file is read through (the launcher that started its writer).
    source: Arc<dyn Launcher>,
    file: Option<Box<dyn OutputSource>>,
    offset: u64,
    partial: Vec<u8>,
    /// A missing file is looked for again only after this.
    retry_at: Option<Instant>,
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
        while let Some(i) = self.partial[start..].iter().position(|&b| b == b'\n') {
            let raw = &self.partial[start..start + i];
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let text = String::from_utf8_lossy(raw);
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
    fn take_rest(&mut self) -> Option<String> {
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
    term_sent: Instant,
    killed: bool,
}

/// A running attempt, as the engine watches it.
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) worker_id: WorkerId,
    pub(crate) task_id: TaskId,
    pub(crate) expert: String,
    pub(crate) attempt: u32,
    pub(crate) pid: u32,
    start_ticks: Option<u64>,
    /// True when this engine started the process (it reaps it); false for
    /// one re-adopted from an earlier engine.
    pub(crate) own: bool,
    out: Tail,
    hooks: Tail,
    pub(crate) progress: Progress,
    pub(crate) started_at: DateTime<Utc>,
    /// Last hook event of this attempt, if any.
    pub(crate) last_hook_at: Option<DateTime<Utc>>,
    pub(crate) last_hook: Option<String>,
    pub(crate) stop: Option<StopRequest>,
    result_seen: Option<Instant>,
    last_emit: Option<Instant>,
    /// The attempt's stdin FIFO, when it reads prompts on stdin.
    pub(crate) stdin_fifo: Option<PathBuf>,
    /// How the process ended, once known while output is still being read.
    pub(crate) exited: Option<Exit>,
    /// True when the exit watcher reports this process's end: a pass then
    /// asks for its exit status only once it was reported.
    exit_watched: bool,
    /// Tokens and cost of the worker's earlier attempts (budgets count all).
    prior_tokens: u64,
    prior_cost_usd: f64,
}

impl Live {
    /// A live entry for an attempt; `own` when this engine started it.
    fn new(
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
            prior_tokens: w.tokens.input + w.tokens.output,
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
    agent_command: Vec<String>,
    heartbeat_command: Vec<String>,
    /// A person's message for a worker's next attempt (`cortex nudge`).
    pub(crate) pending_prompts: HashMap<WorkerId, String>,
    /// True when `CORTEX_AGENT_COMMAND` chose the command (config edits
    /// then do not change it).
    command_overridden: bool,
    /// Wakes `run` when a live attempt's process ends (where available).
    exits: Option<crate::exits::ExitWatcher>,
    /// Running checks of workers' work (`verify`).
    pub(crate) checks: HashMap<WorkerId, crate::verify::Check>,
    /// The heartbeat folder's modification time when a pass last looked
    /// (see `heartbeat_files_may_be_new`).
    heartbeats_changed: Option<std::time::SystemTime>,
    /// The journal record at which `schedule` last found nothing to start
    /// and no task waiting: until another record, it is not run again.
    idle_at_seq: Option<u64>,
    /// The journal record at which `start_due_restarts` last found no
    /// restart due, with the earliest one it holds: until another record or
    /// that time, it is not run again.
    next_restart: Option<(u64, Option<DateTime<Utc>>)>,
}

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
            command_overridden,
            exits: None,
            checks: HashMap::new(),
            heartbeats_changed: None,
            idle_at_seq: None,
            next_restart: None,
        }
    }
}

/// A worker as shown to people and scripts (`cortex workers --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerDto {
    pub id: WorkerId,
    pub task_id: TaskId,
    pub expert: String,
    pub attempt: u32,
    pub pid: Option<u32>,
    /// The worker's lifecycle state.
    pub state: WorkerStatus,
    /// The process manager's view (starting, healthy, late, stalled, zombie, waiting).
    pub health: String,
    pub reason: Option<String>,
    /// Why the process manager says `health` (silent for how long, what
    /// it waits for), when it watches the worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_reason: Option<String>,
    pub session_id: Option<String>,
    /// Every attempt's cost: the agent's own figures, else Cortex's estimate
    /// from the tokens (then `cost_estimated` is true).
    pub cost_usd: f64,
    #[serde(default)]
    pub cost_estimated: bool,
    pub tokens: TokenDto,
    pub workdir: String,
    pub started_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// What the stream says it is doing.
    pub activity: Option<Activity>,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub last_activity_source: Option<String>,
    pub last_text: Option<String>,
    /// The agent's final result text (redacted), once an attempt gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The check of its work, once one ran or runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<cortex_core::worker::Verification>,
    pub time_limit_secs: u64,
    pub restarts: u32,
    /// What it waits for while it is not working (see `views::waiting_for`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<crate::views::WaitingFor>,
    /// Seconds its ended attempts ran, summed; a view adds the running one.
    #[serde(default)]
    pub ended_attempts_secs: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenDto {
    pub input: u64,
    pub output: u64,
}

impl From<Tokens> for TokenDto {
    fn from(t: Tokens) -> Self {
        Self {
            input: t.input,
            output: t.output,
        }
    }
}

/// Builds the DTO from the journaled worker and, if live, its stream state.
pub(crate) fn worker_dto(
    w: &Worker,
    live: Option<&Live>,
    time_limit_secs: u64,
    health: Option<String>,
    prices: &BTreeMap<String, ModelPrice>,
) -> WorkerDto {
    let current = w.current();
    let (tokens, activity, last_at, source, text) = match live {
        Some(l) => {
            let mut t = w.tokens;
            t.input += l.progress.tokens.input;
            t.output += l.progress.tokens.output;
            let (at, src) = last_activity(l);
            (
                t,
                Some(l.progress.activity.clone()),
                at,
                src,
                l.progress.last_text.clone(),
            )
        }
        None => (
            w.tokens,
            None,
            current.and_then(|a| a.ended_at),
            None,
            w.last_text.clone(),
        ),
    };
    let (cost_live, live_estimated) = live.map_or((0.0, false), |l| live_cost(l, prices));
    WorkerDto {
        id: w.id.clone(),
        task_id: w.task_id.clone(),
        expert: w.expert.clone(),
        attempt: current.map_or(0, |a| a.n),
        pid: w.live_attempt().and_then(|a| a.pid),
        state: match live {
            Some(l) if l.stop.is_some() && !w.status.is_terminal() => WorkerStatus::Stopping,
            _ => w.status,
        },
        health: health.unwrap_or_else(|| match (w.status, live) {
            (WorkerStatus::Running, None)
                if w.verification.as_ref().is_some_and(|v| v.running()) =>
            {
                "verifying".into()
            }
            (WorkerStatus::Running, Some(l)) if l.progress.lines == 0 => "starting".into(),
            (WorkerStatus::Running, _) => "healthy".into(),
            (WorkerStatus::Waiting, _) => "waiting".into(),
            (s, _) => s.as_str().into(),
        }),
        reason: w.reason.as_deref().map(redact),
        health_reason: None,
        session_id: w.session_id.clone(),
        cost_usd: w.cost_usd + cost_live,
        cost_estimated: w.cost_estimated || live_estimated,
        tokens: tokens.into(),
        workdir: w.workdir.clone(),
        started_at: current.map(|a| a.started_at),
        created_at: w.created_at,
        activity,
        last_activity_at: last_at,
        last_activity_source: source,
        last_text: text.or_else(|| w.last_text.clone()).as_deref().map(redact),
        result: w.result.as_deref().map(redact),
        verification: w.verification.clone(),
        time_limit_secs: time_limit_secs.saturating_add(w.extended_secs),
        restarts: w.restarts(),
        waiting_for: crate::views::waiting_for(w, live.map(|l| &l.progress.activity)),
        ended_attempts_secs: crate::views::ended_attempts_secs(w),
    }
}

/// What a live attempt's stream says so far, as the owner publishes it in
/// `pm-state.json` for views in other processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveSummary {
    pub lines: u64,
    pub tokens: Tokens,
    pub cost_usd: f64,
    pub cost_estimated: bool,
    pub activity: Activity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_text: Option<String>,
}

impl LiveSummary {
    pub(crate) fn of(l: &Live, prices: &BTreeMap<String, ModelPrice>) -> Self {
        let (cost_usd, cost_estimated) = live_cost(l, prices);
        Self {
            lines: l.progress.lines,
            tokens: l.progress.tokens,
            cost_usd,
            cost_estimated,
            activity: l.progress.activity.clone(),
            last_text: l.progress.last_text.clone(),
        }
    }
}

/// Puts the PM's verdict on a worker's DTO.
pub(crate) fn apply_verdict(dto: &mut WorkerDto, v: crate::pm::PmVerdict) {
    dto.health = v.health.as_str().to_string();
    dto.health_reason = Some(redact(&v.reason));
    if v.last_activity_at.is_some() {
        dto.last_activity_at = v.last_activity_at;
        dto.last_activity_source = v.last_activity_source;
    }
}

/// What a live attempt has cost so far: the agent's own figure once its
/// result line arrived, else Cortex's estimate from the stream's tokens
/// (true in the second place).
pub(crate) fn live_cost(l: &Live, prices: &BTreeMap<String, ModelPrice>) -> (f64, bool) {
    match &l.progress.result {
        Some(r) => (r.total_cost_usd, false),
        None => {
            cortex_core::pricing::estimate(prices, l.progress.model.as_deref(), &l.progress.tokens)
                .map_or((0.0, false), |c| (c, true))
        }
    }
}

/// The latest sign of life and where it came from.
pub(crate) fn last_activity(l: &Live) -> (Option<DateTime<Utc>>, Option<String>) {
    let mut best: (Option<DateTime<Utc>>, Option<String>) =
        (Some(l.started_at), Some("start".into()));
    if let Some(t) = l.progress.last_line_at {
        if best.0 < Some(t) {
            best = (Some(t), Some("output".into()));
        }
    }
    if let Some(t) = l.last_hook_at {
        if best.0 < Some(t) {
            best = (
                Some(t),
                Some(format!("hook {}", l.last_hook.clone().unwrap_or_default())),
            );
        }
    }
    if let Some(t) = l.progress.last_checkin_at {
        if best.0 < Some(t) {
            best = (Some(t), Some("check-in".into()));
        }
    }
    best
}

/// A check-in written by `cortex heartbeat` (hooks and scripts).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    pub v: u32,
    pub at: DateTime<Utc>,
    pub attempt: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The worker a check-in is about: the given id, else the
/// `CORTEX_WORKER_ID` the agent (and so its hooks) inherited.
pub fn check_in_worker(given: Option<&str>) -> Result<WorkerId, EngineError> {
    let id = given
        .map(str::to_string)
        .or_else(|| std::env::var("CORTEX_WORKER_ID").ok())
        .ok_or_else(|| {
            EngineError::BadValue(
                "no worker: pass --worker ID, or run it from a worker's hook (CORTEX_WORKER_ID)"
                    .into(),
            )
        })?;
    WorkerId::parse(&id)
        .ok_or_else(|| EngineError::BadValue(format!("`{id}` is not a worker id (w-...)")))
}

/// Records a check-in as `cortex heartbeat` and the app's heartbeat mode
/// receive it: for a hook, the hook's JSON payload on stdin gives the tool
/// name (nothing else of it is kept); the attempt defaults to the
/// `CORTEX_ATTEMPT` the agent (and so its hooks) inherited.
pub fn record_check_in(
    home: &crate::Home,
    worker: &WorkerId,
    attempt: Option<u32>,
    hook: Option<String>,
    progress: Option<f64>,
    message: Option<String>,
) -> Result<(), EngineError> {
    use std::io::Read;
    let mut tool = None;
    if hook.is_some() {
        let mut buf = String::new();
        let _ = std::io::stdin().take(1 << 20).read_to_string(&mut buf);
        tool = serde_json::from_str::<serde_json::Value>(&buf)
            .ok()
            .and_then(|v| {
                v.get("tool_name")
                    .and_then(|t| t.as_str())
                    .map(str::to_string)
            });
    }
    let hb = Heartbeat {
        v: 1,
        at: clock::now(),
        attempt: attempt.or_else(|| {
            std::env::var("CORTEX_ATTEMPT")
                .ok()
                .and_then(|s| s.parse().ok())
        }),
        hook,
        tool,
        progress,
        message: message.map(|m| m.chars().take(500).collect()),
    };
    write_heartbeat(home, worker, &hb)
}

/// Appends a check-in to `heartbeats/<worker>.jsonl` (no lock needed: one
/// `write` of a short line to an append-only file).
pub fn write_heartbeat(
    home: &crate::Home,
    worker: &WorkerId,
    hb: &Heartbeat,
) -> Result<(), EngineError> {
    let path = home.heartbeats().join(format!("{worker}.jsonl"));
    let value = serde_json::to_value(hb).map_err(|e| EngineError::encode("a check-in", &e))?;
    crate::snapshot::append_line(&path, &value)
        .map_err(|e| EngineError::io("cannot write", path, e))
}

/// The last non-empty line of a file (its last 4 KiB are read).
fn last_line(path: &Path) -> Option<String> {
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
fn write_meta(worker: &Worker, meta: Option<&driver::AttemptMeta>) {
    if let Some(Err(e)) = meta.map(driver::AttemptMeta::write) {
        warn!(worker_id = %worker.id, "{}", e.0);
    }
}

fn attempt_dir(home: &crate::Home, worker: &WorkerId, attempt: u32) -> PathBuf {
    home.workers_dir()
        .join(worker.as_str())
        .join(format!("attempt-{attempt}"))
}

impl Engine {
    pub(crate) fn runtime(&self) -> std::sync::MutexGuard<'_, Runtime> {
        self.inner.runtime.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The agent command attempts will run.
    pub fn agent_command(&self) -> Vec<String> {
        self.runtime().agent_command.clone()
    }

    pub(crate) fn set_agent_command_from_config(&self, command: &[String]) {
        let mut rt = self.runtime();
        if !rt.command_overridden {
            rt.agent_command = command.to_vec();
        }
    }

    /// Sets the command hooks use to report (`<exe> heartbeat`); the desktop
    /// app points it at its bundled `cortex`.
    pub fn set_heartbeat_command(&self, argv: Vec<String>) {
        self.runtime().heartbeat_command = argv;
    }

    /// Starts noticing ends of attempts as they happen (`exits`); what is
    /// notified then runs `tick_runtime`. `None` where that is not
    /// available: the tick notices them.
    pub(crate) fn start_exit_watcher(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        let watcher = self.launcher().exit_watcher()?;
        let wake = watcher.wake();
        self.runtime().exits = Some(watcher);
        Some(wake)
    }

    /// Stops the exit watcher (its thread, and the pidfds it holds).
    pub(crate) fn stop_exit_watcher(&self) {
        let watcher = self.runtime().exits.take();
        drop(watcher);
    }

    /// Every unfinished worker with what a starting owner does with it
    /// (`cortex_core::settle::on_start`).
    fn start_decisions(&self) -> Vec<(Worker, OnStart)> {
        let workers: Vec<Worker> = self
            .store()
            .state()
            .workers()
            .filter(|w| !w.status.is_terminal())
            .cloned()
            .collect();
        workers
            .into_iter()
            .map(|w| {
                let running = w.live_attempt().is_some_and(|a| {
                    a.pid.is_some_and(|p| {
                        self.launcher()
                            .is_same_process(p, a.start_ticks, w.id.as_str())
                    })
                });
                let d = cortex_core::settle::on_start(&w, running, self.max_restarts_of(&w.expert));
                (w, d)
            })
            .collect()
    }

    /// Settles the live attempt of a worker whose process is gone: its
    /// output decides (else `lost`), a journaled stop says what follows.
    fn settle_gone(
        &self,
        w: &Worker,
        now: DateTime<Utc>,
    ) -> Option<(Live, Outcome, Option<cortex_core::worker::StopIntent>)> {
        let a = w.live_attempt()?;
        let mut live = self.watch(w, a);
        absorb_output(&mut live, now);
        if let Some(r) = live.out.take_rest() {
            live.progress.apply_line(&r, now);
        }
        let pending = w.pending_stop().cloned();
        let stopped = pending.as_ref().map(|p| (p.kind, p.reason.as_str()));
        let outcome = self.settle_outcome(&live, Exit::Unknown, stopped);
        Some((live, outcome, pending))
    }

    /// Starts supervising: re-adopts attempts that are still ours, carries
    /// out stops that were acknowledged but not finished, and settles every
    /// other worker from what its journal and output say. Called once by
    /// `run`.
    pub fn start_runtime(&self) -> Result<(), EngineError> {
        {
            let mut rt = self.runtime();
            if rt.active {
                return Ok(());
            }
            rt.active = true;
        }
        info!(
            "an attempt's processes are found by {}",
            self.launcher().describe()
        );
        self.launcher().prune();
        let now = self.now();
        for (w, decision) in self.start_decisions() {
            match decision {
                OnStart::Nothing | OnStart::Wait => {}
                OnStart::StartFirst => {
                    // Created, but the engine stopped before its first attempt
                    // was recorded: end any process it may have started, then
                    // start it properly.
                    let swept = self.launcher().sweep(w.id.as_str(), None);
                    info!(worker_id = %w.id, swept, "starting a worker whose first start was not recorded");
                    self.start_attempt(&w, None, now)?;
                }
                OnStart::Readopt => {
                    let Some(a) = w.live_attempt().cloned() else {
                        continue;
                    };
                    let mut live = self.watch(&w, &a);
                    absorb_output(&mut live, now);
                    info!(worker_id = %w.id, attempt = a.n, pid = a.pid, "re-adopted a running worker");
                    let pending = w.pending_stop().cloned();
                    {
                        let mut rt = self.runtime();
                        // Checked again once watched: a pid reused in between
                        // would otherwise be watched in its place.
                        live.exit_watched = rt.watch_exit(live.pid)
                            && self.launcher().is_same_process(
                                live.pid,
                                live.start_ticks,
                                w.id.as_str(),
                            );
                        rt.live.insert(w.id.clone(), Box::new(live));
                    }
                    if let Some(stop) = pending {
                        // Acknowledged before the last owner died: carry it out.
                        info!(worker_id = %w.id, attempt = a.n, reason = %stop.reason, "carrying out a stop requested before the restart");
                        if let Some(p) = stop.prompt.clone() {
                            self.runtime().pending_prompts.insert(w.id.clone(), p);
                        }
                        self.signal_stop(&w.id, stop.kind, &stop.reason, Some(stop.then));
                    }
                }
                OnStart::SettleGone => {
                    // A process still carrying the worker's tag was started
                    // after it but never recorded: it goes too.
                    let swept = self.launcher().sweep(w.id.as_str(), None);
                    if swept > 0 {
                        info!(worker_id = %w.id, swept, "killed unrecorded processes of a worker whose attempt ended");
                    }
                    let Some((live, outcome, pending)) = self.settle_gone(&w, now) else {
                        continue;
                    };
                    info!(worker_id = %w.id, attempt = live.attempt, outcome = outcome.kind.as_str(), "settled a worker that ended while no engine watched");
                    if let Some(p) = pending.as_ref().and_then(|p| p.prompt.clone()) {
                        self.runtime().pending_prompts.insert(w.id.clone(), p);
                    }
                    self.finish_attempt(&live, outcome, pending.map(|p| p.then), now)?;
                }
                OnStart::Decide(next) => {
                    // The attempt's end is journaled, what follows is not.
                    info!(worker_id = %w.id, next = ?next, "settling a worker whose attempt ended before the last owner stopped");
                    if let Some(p) = w.stop.as_ref().and_then(|p| p.prompt.clone()) {
                        self.runtime().pending_prompts.insert(w.id.clone(), p);
                    }
                    self.carry_out(&w, next, now)?;
                }
            }
        }
        self.store().sync()
    }

    /// Settles the workers whose process ended while no owner watched, as
    /// `start_runtime` would, but starts no process: a read command that
    /// found the home free leaves restarts to the next owner.
    pub(crate) fn settle_unwatched(&self) -> Result<(), EngineError> {
        let now = self.now();
        for (w, decision) in self.start_decisions() {
            match decision {
                OnStart::SettleGone => {
                    let Some((live, outcome, pending)) = self.settle_gone(&w, now) else {
                        continue;
                    };
                    let then = pending.map(|p| p.then);
                    let next = cortex_core::settle::after_attempt(
                        &outcome,
                        then.as_ref(),
                        w.restarts(),
                        self.max_restarts_of(&w.expert),
                    );
                    if !self.starts_a_process(&w, &next) {
                        info!(worker_id = %w.id, attempt = live.attempt, outcome = outcome.kind.as_str(), "settled a worker that ended while no owner ran");
                        self.finish_attempt(&live, outcome, then, now)?;
                    }
                }
                OnStart::Decide(next) if !self.starts_a_process(&w, &next) => {
                    self.carry_out(&w, next, now)?;
                }
                _ => {}
            }
        }
        self.store().sync()
    }

    /// True when carrying out `next` would start a process (an attempt, or a
    /// check of the work): a read command leaves that to an owner.
    fn starts_a_process(&self, w: &Worker, next: &Next) -> bool {
        match next {
            Next::RestartNow { .. } => true,
            Next::Complete => self.check_for(w).is_some(),
            _ => false,
        }
    }

    /// The worktrees of the tasks this task depends on, in its `after` order.
    fn dependency_worktrees(&self, task_id: &TaskId) -> Vec<PathBuf> {
        let store = self.store();
        let state = store.state();
        let Some(task) = state.task(task_id) else {
            return Vec::new();
        };
        task.after
            .iter()
            .flat_map(|d| {
                state
                    .workers()
                    .filter(move |w| &w.task_id == d && w.status == WorkerStatus::Completed)
                    .map(|w| PathBuf::from(&w.workdir))
                    .filter(|p| {
                        crate::worktree::name_of(&self.inner.home, p).is_some()
                            && p.join(".git").exists()
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// After a full disk: settles the workers whose end could not be
    /// journaled (their process is gone and nothing watches them any more),
    /// and starts those whose first start was not recorded, as a start does.
    pub(crate) fn settle_unrecorded(&self) -> Result<(), EngineError> {
        let now = self.now();
        for (w, decision) in self.start_decisions() {
            if self.runtime().live.contains_key(&w.id) {
                continue;
            }
            match decision {
                OnStart::SettleGone => {
                    let Some((live, outcome, pending)) = self.settle_gone(&w, now) else {
                        continue;
                    };
                    info!(worker_id = %w.id, attempt = live.attempt, outcome = outcome.kind.as_str(), "settled a worker whose end could not be recorded on a full disk");
                    if let Some(p) = pending.as_ref().and_then(|p| p.prompt.clone()) {
                        self.runtime().pending_prompts.insert(w.id.clone(), p);
                    }
                    self.finish_attempt(&live, outcome, pending.map(|p| p.then), now)?;
                }
                OnStart::Decide(next) => self.carry_out(&w, next, now)?,
                OnStart::StartFirst => {
                    let swept = self.launcher().sweep(w.id.as_str(), None);
                    info!(worker_id = %w.id, swept, "starting a worker whose first start could not be recorded on a full disk");
                    self.start_attempt(&w, None, now)?;
                }
                OnStart::Readopt | OnStart::Nothing | OnStart::Wait => {}
            }
        }
        self.store().sync()
    }

    /// A live entry for a journaled attempt this engine did not start.
    fn watch(&self, w: &Worker, a: &cortex_core::worker::Attempt) -> Live {
        let dir = attempt_dir(&self.inner.home, &w.id, a.n);
        let mut live = Live::new(
            w,
            a,
            Tail::via(dir.join("stdout.jsonl"), self.inner.launcher.clone()),
            self.inner.home.heartbeats().join(format!("{}.jsonl", w.id)),
            false,
        );
        let fifo = dir.join("stdin.fifo");
        if fifo.exists() {
            live.stdin_fifo = Some(fifo);
        }
        live
    }

    fn max_restarts_of(&self, expert: &str) -> u32 {
        self.settings().1.get(expert).map_or(0, |e| e.max_restarts)
    }

    /// How an attempt ended, by the driver's rule: Claude Code's result
    /// line, or the generic driver's exit code (with its last stderr line).
    /// Without the agent's own cost, the cost is estimated from the tokens.
    pub(crate) fn settle_outcome(
        &self,
        live: &Live,
        exit: Exit,
        stopped: Option<(OutcomeKind, &str)>,
    ) -> Outcome {
        let (driver, prices) = {
            let s = self.settings();
            (s.0.agent.driver, cortex_core::pricing::merged(&s.0.pricing))
        };
        let outcome = match driver {
            cortex_core::config::Driver::Generic => {
                let stderr =
                    attempt_dir(&self.inner.home, &live.worker_id, live.attempt).join("stderr.log");
                classify_generic(&live.progress, exit, stopped, last_line(&stderr).as_deref())
            }
            cortex_core::config::Driver::Claude => classify(&live.progress, exit, stopped),
        };
        let p = &live.progress;
        outcome.with_estimate(
            p.result.is_some(),
            cortex_core::pricing::estimate(&prices, p.model.as_deref(), &p.tokens),
        )
    }

    /// Quits supervising; with `on_quit: stop`, stops every live attempt.
    pub fn stop_runtime(&self, stop_workers: bool) {
        if !stop_workers {
            return;
        }
        let ids: Vec<WorkerId> = self.runtime().live.keys().cloned().collect();
        for id in &ids {
            self.request_stop(
                id,
                None,
                OutcomeKind::Killed,
                "stopped because Cortex quit",
                AfterStop::End(WorkerStatus::Cancelled),
            );
        }
        let grace = StdDuration::from_secs(self.config().pm.kill_grace_secs.saturating_add(5));
        let deadline = Instant::now().checked_add(grace);
        while !self.runtime().live.is_empty() && deadline.is_none_or(|d| Instant::now() < d) {
            let _ = self.tick_runtime();
            std::thread::sleep(StdDuration::from_millis(50));
        }
    }

    /// Asks a live attempt to stop (SIGTERM to its group now; SIGKILL and a
    /// sweep after the grace period). `attempt`, when given, must match the
    /// live one: a stale request is ignored. The intent is journaled first,
    /// so a stop that was acknowledged survives the owner's death. Returns
    /// false if nothing was live.
    pub(crate) fn request_stop(
        &self,
        worker_id: &WorkerId,
        attempt: Option<u32>,
        kind: OutcomeKind,
        reason: &str,
        after: AfterStop,
    ) -> bool {
        let live = {
            let rt = self.runtime();
            rt.live.get(worker_id).map(|l| {
                (
                    l.attempt,
                    l.stop.as_ref().map(|s| s.after.clone()),
                    rt.pending_prompts.get(worker_id).cloned(),
                )
            })
        };
        let Some((live_attempt, current, prompt)) = live else {
            return false;
        };
        if attempt.is_some_and(|a| a != live_attempt) {
            warn!(worker_id = %worker_id, stale = attempt, live = live_attempt, "ignored a stop request for an older attempt");
            return false;
        }
        // A later, stronger intent wins (restart -> end); a weaker one adds nothing.
        let changes = match &current {
            None => true,
            Some(Some(AfterStop::End(_))) => false,
            Some(_) => matches!(after, AfterStop::End(_)),
        };
        if changes {
            let intent = cortex_core::worker::StopIntent {
                attempt: live_attempt,
                kind,
                reason: reason.to_string(),
                then: after.clone(),
                prompt: prompt.filter(|_| after == AfterStop::Restart),
            };
            let journaled = self.store().commit(
                Event::StopRequested {
                    worker_id: worker_id.clone(),
                    intent,
                },
                self.now(),
            );
            if let Err(e) = journaled {
                warn!(worker_id = %worker_id, "cannot journal the stop request: {e}");
            }
        }
        self.signal_stop(worker_id, kind, reason, Some(after))
    }

    /// Sends SIGTERM to a live attempt's group and records the stop in the
    /// live table (no journal: see `request_stop`).
    fn signal_stop(
        &self,
        worker_id: &WorkerId,
        kind: OutcomeKind,
        reason: &str,
        after: Option<AfterStop>,
    ) -> bool {
        let mut rt = self.runtime();
        let Some(l) = rt.live.get_mut(worker_id) else {
            return false;
        };
        match l.stop.as_mut() {
            None => {
                info!(worker_id = %worker_id, attempt = l.attempt, reason, "stopping worker");
                self.launcher().signal(l.pid, Signal::Term);
                l.stop = Some(StopRequest {
                    kind,
                    reason: reason.to_string(),
                    after,
                    term_sent: self.instant(),
                    killed: false,
                });
            }
            Some(s) => {
                if matches!(after, Some(AfterStop::End(_)))
                    && !matches!(s.after, Some(AfterStop::End(_)))
                {
                    s.after = after;
                    s.kind = kind;
                    s.reason = reason.to_string();
                }
            }
        }
        true
    }

    /// One pass of the runtime: read output, notice ends, finish stops,
    /// start due restarts and new workers.
    pub fn tick_runtime(&self) -> Result<(), EngineError> {
        self.tick_runtime_reading().map(|_| ())
    }

    /// `tick_runtime`, saying whether output is left to read (the owner's
    /// loop then ticks again at once, between requests, instead of waiting).
    pub(crate) fn tick_runtime_reading(&self) -> Result<bool, EngineError> {
        self.runtime_pass(true)
    }

    /// The pass run when the exit watcher reports an end: settles the
    /// attempts whose process ended (their output read first) and starts
    /// what is then due, leaving the other attempts' output to the next tick.
    pub(crate) fn tick_exits(&self) -> Result<bool, EngineError> {
        self.runtime_pass(false)
    }

    fn runtime_pass(&self, full: bool) -> Result<bool, EngineError> {
        if !self.runtime().active {
            return Ok(false);
        }
        let mut backlog = false;
        let now = self.now();
        let grace = StdDuration::from_secs(self.config().pm.kill_grace_secs);
        let mut ended: Vec<(Live, Exit)> = Vec::new();
        let mut updates = Vec::new();
        // Budgets are checked as output arrives, on the live figures, not
        // only at the PM's tick: a stop decided at 100% stops near it.
        let (budgets, prices) = {
            let s = self.settings();
            let b: HashMap<String, (Option<u64>, Option<f64>)> =
                s.1.iter()
                    .filter(|e| e.token_budget.is_some() || e.cost_budget_usd.is_some())
                    .map(|e| (e.name.clone(), (e.token_budget, e.cost_budget_usd)))
                    .collect();
            (b, cortex_core::pricing::merged(&s.0.pricing))
        };
        let mut over_budget = Vec::new();
        let launcher = self.launcher();
        let instant = self.instant();
        let since = |t: Instant| instant.saturating_duration_since(t);
        {
            let mut guard = self.runtime();
            let rt = &mut *guard;
            // The ends the exit watcher saw; `None`: every process is asked.
            let reported: Option<HashSet<u32>> = rt
                .exits
                .as_ref()
                .and_then(crate::exits::ExitWatcher::take_ended)
                .map(|pids| pids.into_iter().collect());
            let look_for_hooks = full
                && heartbeat_files_may_be_new(
                    &mut rt.heartbeats_changed,
                    &self.inner.home.heartbeats(),
                );
            // Output read per tick is bounded and shared fairly: a flood from
            // some workers delays neither the others nor the requests.
            let share = (TICK_READ_BUDGET / rt.live.len().max(1)).max(MIN_READ_PER_WORKER);
            let mut gone: Vec<(WorkerId, Exit)> = Vec::new();
            for (id, l) in &mut rt.live {
                // The exit first: output read after it is all there will be.
                // A watched process is asked only once its end was reported.
                let ask = !l.exit_watched || reported.as_ref().is_none_or(|r| r.contains(&l.pid));
                let exit = l.exited.or_else(|| {
                    if !ask {
                        None
                    } else if l.own {
                        match launcher.poll(l.pid) {
                            Poll::Running => None,
                            Poll::Exited(e) => Some(e),
                        }
                    } else {
                        (!launcher.is_same_process(l.pid, l.start_ticks, id.as_str()))
                            .then_some(Exit::Unknown)
                    }
                });
                if !full && exit.is_none() {
                    continue;
                }
                let (changed, more) =
                    absorb_output_up_to(l, now, share, look_for_hooks || exit.is_some());
                backlog |= more;
                if let (true, None, Some((tokens, cost))) =
                    (changed, &l.stop, budgets.get(&l.expert))
                {
                    let used = l.prior_tokens + l.progress.tokens.input + l.progress.tokens.output;
                    let spent = l.prior_cost_usd + live_cost(l, &prices).0;
                    let actions = cortex_core::health::budget_actions(
                        &l.worker_id,
                        l.attempt,
                        *tokens,
                        *cost,
                        true,
                        used,
                        spent,
                    );
                    if !actions.is_empty() {
                        over_budget.push((l.task_id.clone(), l.expert.clone(), actions));
                    }
                }
                if l.progress.result.is_some() && l.result_seen.is_none() {
                    l.result_seen = Some(instant);
                }
                if let (Some(exit), true) = (exit, more) {
                    // Ended, with output still to read: settled once it is read.
                    l.exited = Some(exit);
                    continue;
                }
                if let Some(exit) = exit {
                    gone.push((id.clone(), exit));
                    continue;
                }
                if let Some(stop) = l.stop.as_mut() {
                    if !stop.killed && since(stop.term_sent) >= grace {
                        warn!(worker_id = %id, attempt = l.attempt, "did not stop after SIGTERM; sending SIGKILL");
                        launcher.signal(l.pid, Signal::Kill);
                        launcher.sweep(id.as_str(), None);
                        stop.killed = true;
                    }
                } else if l.result_seen.is_some_and(|t| {
                    let grace = if l.stdin_fifo.is_some() {
                        AFTER_RESULT_GRACE_STREAM
                    } else {
                        AFTER_RESULT_GRACE
                    };
                    since(t) >= grace
                }) {
                    warn!(worker_id = %id, "still running after its result line; stopping it");
                    launcher.signal(l.pid, Signal::Term);
                    l.stop = Some(StopRequest {
                        kind: OutcomeKind::Success,
                        reason: "hung after its result line".into(),
                        after: None,
                        term_sent: instant,
                        killed: false,
                    });
                }
                // Output alone is news every 2 s per worker at most; state
                // changes (start, end, health) are emitted where they happen.
                let due = l
                    .last_emit
                    .is_none_or(|t| since(t) >= StdDuration::from_secs(2));
                if changed && due {
                    l.last_emit = Some(instant);
                    updates.push(id.clone());
                }
            }
            for (id, exit) in gone {
                if let Some(mut l) = rt.live.remove(&id) {
                    if let Some(r) = l.out.take_rest() {
                        l.progress.apply_line(&r, now);
                    }
                    ended.push((*l, exit));
                }
            }
        }
        for (task_id, expert, actions) in over_budget {
            for action in actions {
                self.apply_action(action, &task_id, &expert, now)?;
            }
        }
        let ended_attempts: Vec<(WorkerId, u32)> = ended
            .iter()
            .map(|(l, _)| (l.worker_id.clone(), l.attempt))
            .collect();
        for (live, exit) in ended {
            // A stop that settles by the result line is no stop: the result decides.
            let (stopped, after, exit) = match &live.stop {
                Some(s) if s.after.is_none() => (None, None, Exit::Unknown),
                Some(s) => (Some((s.kind, s.reason.clone())), s.after.clone(), exit),
                None => (None, None, exit),
            };
            let outcome =
                self.settle_outcome(&live, exit, stopped.as_ref().map(|(k, r)| (*k, r.as_str())));
            self.finish_attempt(&live, outcome, after, now)?;
        }
        for id in updates {
            self.emit_worker(&id);
        }
        self.tick_checks(now)?;
        if !self.disk_full() {
            // No process is started that could not be recorded.
            self.start_goal_checks(now)?;
            self.start_due_restarts(now)?;
            self.schedule(now)?;
        }
        // No process of an ended attempt may outlive it. Swept once any
        // replacement has started, which its own attempt number spares: a
        // sweep reads every process's environment, a few milliseconds that
        // a crashed worker's replacement does not wait for.
        for (worker_id, attempt) in ended_attempts {
            let swept = self.launcher().sweep(worker_id.as_str(), Some(attempt));
            if swept > 0 {
                info!(worker_id = %worker_id, attempt, swept, "killed processes that outlived the attempt");
            }
        }
        self.store().sync()?;
        Ok(backlog)
    }

    /// Journals the end of an attempt and decides what follows.
    fn finish_attempt(
        &self,
        live: &Live,
        outcome: Outcome,
        after: Option<AfterStop>,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let max_restarts = self.max_restarts_of(&live.expert);
        let worker = {
            let mut store = self.store();
            store.stage(
                Event::AttemptEnded {
                    worker_id: live.worker_id.clone(),
                    attempt: live.attempt,
                    outcome: outcome.clone(),
                },
                now,
            )?;
            store.state().worker(&live.worker_id).cloned()
        };
        let Some(worker) = worker else {
            return self.store().sync();
        };
        info!(
            worker_id = %live.worker_id, task_id = %live.task_id, attempt = live.attempt,
            outcome = outcome.kind.as_str(), reason = %outcome.reason, "attempt ended"
        );
        if cortex_core::settle::counts_against_expert(cortex_core::settle::Failure::AttemptEnded {
            kind: outcome.kind,
            after: after.as_ref(),
        }) {
            self.note_failure(&live.expert, now);
        }
        let next = cortex_core::settle::after_attempt(
            &outcome,
            after.as_ref(),
            worker.restarts(),
            max_restarts,
        );
        self.carry_out(&worker, next, now)
    }

    /// Carries out what follows an ended attempt (journal first).
    fn carry_out(
        &self,
        worker: &Worker,
        next: Next,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let max_restarts = self.max_restarts_of(&worker.expert);
        match next {
            Next::Complete => self.complete_or_check(worker, now),
            Next::RestartNow { reason } => {
                // The end is durable before a replacement process exists.
                self.store().sync()?;
                self.start_attempt(worker, Some(reason), now)
            }
            Next::RestartAfterBackoff { reason, ended_as } => {
                self.schedule_restart(worker, &reason, max_restarts, ended_as, now)
            }
            Next::End { status, reason } => self.end_worker(worker, status, &reason, now),
        }
    }

    /// Journals the wait before the next attempt, which depends on how the
    /// last one ended (`restart_delay_secs`): after a first crash it is due
    /// at once, and the tick that noticed the crash starts it.
    fn schedule_restart(
        &self,
        worker: &Worker,
        reason: &str,
        max_restarts: u32,
        ended_as: OutcomeKind,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let restart = self.config().restart;
        let n = worker.restarts().saturating_add(1);
        let wait = restart_delay_secs(
            restart.backoff_base_secs,
            restart.backoff_max_secs,
            n,
            ended_as,
        );
        let not_before = duration::later(now, duration::secs(wait));
        let when = if wait == 0 {
            "now".to_string()
        } else {
            format!("in {wait}s")
        };
        let waiting = Event::WorkerWaiting {
            worker_id: worker.id.clone(),
            not_before,
            reason: format!("{reason}; restart {n} of {max_restarts} {when}"),
        };
        if wait == 0 {
            // Started by this pass and synced with its start at the end of
            // it: no fsync between a crash and its replacement. Should the
            // engine die before that sync, the next start finds the crashed
            // attempt recorded as running and gone, sweeps the worker's
            // tagged processes (the unrecorded replacement among them) and
            // settles it again.
            self.store().stage(waiting, now)?;
        } else {
            self.store().commit(waiting, now)?;
        }
        self.emit_worker(&worker.id);
        Ok(())
    }

    pub(crate) fn end_worker(
        &self,
        worker: &Worker,
        status: WorkerStatus,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let task = {
            let mut store = self.store();
            store.commit(
                Event::WorkerEnded {
                    worker_id: worker.id.clone(),
                    status,
                    reason: reason.to_string(),
                },
                now,
            )?;
            store.state().task(&worker.task_id).cloned()
        };
        info!(worker_id = %worker.id, task_id = %worker.task_id, status = status.as_str(), reason, "worker ended");
        self.pm_worker_ended(&worker.id, status);
        if let Some((kind, severity)) = cortex_core::settle::ending_alert(status) {
            self.raise_alert(cortex_core::alerts::Alert::about_worker(
                now,
                kind,
                severity,
                (
                    worker.id.clone(),
                    worker.task_id.clone(),
                    worker.current().map(|a| a.n),
                ),
                format!("{} {}: {reason}", worker.expert, status.as_str()),
            ));
        }
        if let Some(t) = &task {
            if status != WorkerStatus::Cancelled {
                self.record_outcome(
                    &t.id,
                    &t.description,
                    &worker.expert,
                    status == WorkerStatus::Completed,
                    now,
                );
            }
            self.emit(EngineEvent::TaskUpdated {
                task: TaskDto::from(t),
            });
            if let Some(plan) = &t.plan_id {
                self.emit_plan_updates(plan);
            }
        }
        self.emit_worker(&worker.id);
        Ok(())
    }

    /// Starts the next attempt of a worker (the first, or a restart).
    pub(crate) fn start_attempt(
        &self,
        worker: &Worker,
        resume_reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let meta = self.launch_attempt(worker, resume_reason, now)?;
        self.emit_worker(&worker.id);
        write_meta(worker, meta.as_ref());
        Ok(())
    }

    /// `start_attempt` less what only people look at: the worker's update
    /// event is left to the caller, and its `meta.json` handed back to write,
    /// once the start is recorded.
    fn launch_attempt(
        &self,
        worker: &Worker,
        resume_reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<driver::AttemptMeta>, EngineError> {
        let (config, expert) = {
            let s = self.settings();
            (s.0.clone(), s.1.get(&worker.expert).cloned())
        };
        let Some(expert) = expert else {
            return self
                .end_worker(
                    worker,
                    WorkerStatus::Failed,
                    &format!("expert `{}` no longer exists", worker.expert),
                    now,
                )
                .map(|()| None);
        };
        let (description, source) = self
            .store()
            .state()
            .task(&worker.task_id)
            .map(|t| {
                let text = if t.goal {
                    format!("{}\n\n{}", t.description, crate::plans::PLAN_REQUEST)
                } else {
                    t.description.clone()
                };
                (text, t.workdir.clone())
            })
            .unwrap_or_default();
        // The worktree's name comes from the recorded workdir, so a worker
        // recorded with an older naming keeps its own worktree and branch.
        let prepared = match crate::worktree::name_of(&self.inner.home, Path::new(&worker.workdir))
        {
            Some(name) => {
                let start = if Path::new(&worker.workdir).join(".git").exists() {
                    Ok(None)
                } else {
                    // A dependent task starts from its dependencies' work.
                    crate::review::start_point(&self.dependency_worktrees(&worker.task_id))
                };
                match start {
                    Err(why) => {
                        return self
                            .end_worker(worker, WorkerStatus::NeedsAttention, &why, now)
                            .map(|()| None);
                    }
                    Ok(start) => crate::worktree::ensure_from(
                        &self.inner.home,
                        &name,
                        Path::new(source.as_deref().unwrap_or("/")),
                        start.as_deref(),
                    )
                    .map(|_| ())
                    .map_err(spawner::SpawnError),
                }
            }
            None => Ok(()),
        };
        let n = worker.current().map_or(1, |a| a.n + 1);
        if n == 1 && prepared.is_ok() && worker.base.is_none() {
            // Where its work starts in git, for `cortex diff` and `merge`.
            if let Some(event) =
                crate::review::base_event(&self.inner.home, worker, source.as_deref())
            {
                self.store().stage(event, now)?;
            }
        }
        let resume = resume_reason.as_ref().and(worker.session_id.clone());
        let nudge = self
            .runtime()
            .pending_prompts
            .remove(&worker.id)
            .or_else(|| worker.next_prompt.clone());
        let prompt = match (&resume, &resume_reason, nudge) {
            (_, _, Some(message)) if resume.is_some() => message,
            (_, _, Some(message)) => format!("{description}\n\n{message}"),
            (Some(_), Some(why), None) => driver::resume_prompt(why),
            _ => description,
        };
        let (command, heartbeat) = {
            let rt = self.runtime();
            (rt.agent_command.clone(), rt.heartbeat_command.clone())
        };
        let spec = AttemptSpec {
            home: &self.inner.home,
            agent: &config.agent,
            command: &command,
            expert: &expert,
            worker_id: worker.id.as_str(),
            attempt: n,
            workdir: Path::new(&worker.workdir),
            prompt: &prompt,
            resume: resume.as_deref(),
            heartbeat_command: &heartbeat,
            stream_input: config.pm.nudge_on_stall,
        };
        let mut meta = None;
        if n == 1 && prepared.is_ok() {
            // A ready folder saves creating four entries on the way to running.
            self.inner
                .spares
                .take_into(&self.inner.home.workers_dir().join(worker.id.as_str()));
        }
        let started = prepared
            .and_then(|()| driver::plan(&spec))
            .and_then(|planned| {
                match self
                    .launcher()
                    .launch(&planned.launch, worker.id.as_str(), Some(n))
                {
                    Ok(c) => Ok((planned, c)),
                    Err(e) => {
                        meta = Some(planned.meta(None));
                        Err(e)
                    }
                }
            });
        match started {
            Ok((planned, started)) => {
                let pid = started.pid;
                let meta = planned.meta(Some(pid));
                let ticks = started.start_ticks;
                {
                    // Staged: the tick (or the command that asked) syncs the
                    // journal once for every start of this pass.
                    let mut store = self.store();
                    store.stage(
                        Event::AttemptStarted {
                            worker_id: worker.id.clone(),
                            attempt: n,
                            pid: Some(pid),
                            start_ticks: ticks,
                            session_id: planned.session_id.clone(),
                            resumed: resume.is_some(),
                        },
                        now,
                    )?;
                }
                info!(worker_id = %worker.id, task_id = %worker.task_id, attempt = n, pid, resumed = resume.is_some(), "attempt started");
                let started = self.store().state().worker(&worker.id).cloned();
                let Some(attempt) = started.as_ref().and_then(|w| w.live_attempt().cloned()) else {
                    return Ok(Some(meta));
                };
                let mut live = Live::new(
                    worker,
                    &attempt,
                    Tail::via(planned.launch.stdout.clone(), self.inner.launcher.clone()),
                    self.inner
                        .home
                        .heartbeats()
                        .join(format!("{}.jsonl", worker.id)),
                    true,
                );
                // Start the hook tail at its end: older check-ins belong to
                // earlier attempts.
                let _ = live.hooks.read_lines();
                if let (Some(fifo), Some(first)) =
                    (&planned.launch.stdin_fifo, &planned.first_message)
                {
                    if let Err(e) = self.launcher().write_stdin(fifo, first) {
                        warn!(worker_id = %worker.id, "cannot give the agent its prompt on stdin: {e}");
                    }
                    live.stdin_fifo = Some(fifo.clone());
                }
                let mut rt = self.runtime();
                live.exit_watched = rt.watch_exit(pid);
                rt.live.insert(worker.id.clone(), Box::new(live));
                Ok(Some(meta))
            }
            Err(e) if spawner::is_disk_full(&e) => {
                // Not the agent's failure: nothing is recorded, and the start
                // is tried again once there is room (a due restart, or a
                // first start found unrecorded).
                warn!(worker_id = %worker.id, attempt = n, "cannot start the agent yet: {e}");
                Err(EngineError::DiskFull {
                    what: "no room to start an attempt in",
                    path: attempt_dir(&self.inner.home, &worker.id, n),
                })
            }
            Err(e) => {
                warn!(worker_id = %worker.id, attempt = n, "could not start the agent: {e}");
                {
                    let mut store = self.store();
                    store.stage(
                        Event::AttemptStarted {
                            worker_id: worker.id.clone(),
                            attempt: n,
                            pid: None,
                            start_ticks: None,
                            session_id: None,
                            resumed: false,
                        },
                        now,
                    )?;
                    store.stage(
                        Event::AttemptEnded {
                            worker_id: worker.id.clone(),
                            attempt: n,
                            outcome: Outcome::bare(OutcomeKind::SpawnFailed, e.0.clone()),
                        },
                        now,
                    )?;
                    store.sync()?;
                }
                let w = self.store().state().worker(&worker.id).cloned();
                if let Some(w) = w {
                    self.end_worker(&w, WorkerStatus::Failed, &e.0, now)?;
                }
                Ok(meta)
            }
        }
    }

    fn start_due_restarts(&self, now: DateTime<Utc>) -> Result<(), EngineError> {
        let due: Vec<Worker> = {
            let store = self.store();
            let state = store.state();
            // The workers are looked through again only once the state
            // changed or the earliest restart it holds is due.
            let mut rt = self.runtime();
            if rt
                .next_restart
                .is_some_and(|(seq, at)| seq == state.last_seq && at.is_none_or(|t| now < t))
            {
                return Ok(());
            }
            let mut due = Vec::new();
            let mut next: Option<DateTime<Utc>> = None;
            for w in state
                .workers()
                .filter(|w| w.status == WorkerStatus::Waiting)
            {
                match w.not_before {
                    Some(t) if t <= now => due.push(w.clone()),
                    Some(t) => next = Some(next.map_or(t, |n| n.min(t))),
                    None => {}
                }
            }
            rt.next_restart = due.is_empty().then_some((state.last_seq, next));
            due
        };
        for w in due {
            let reason = w.reason.clone().unwrap_or_else(|| "restart".into());
            self.start_attempt(&w, Some(reason), now)?;
        }
        Ok(())
    }

    /// Starts workers for pending assignments, in queue order, within the
    /// global and per-expert capacity, unless spawning is paused.
    fn schedule(&self, now: DateTime<Utc>) -> Result<(), EngineError> {
        // With no assignment pending and no task waiting, a pass starts
        // nothing, and the same state again starts nothing again.
        let seq = self.store().state().last_seq;
        if self.runtime().idle_at_seq == Some(seq) {
            return Ok(());
        }
        let (max_total, experts, isolate_all) = {
            let s = self.settings();
            (
                s.0.capacity.max_workers as usize,
                s.1.clone(),
                s.0.isolation == cortex_core::config::Isolation::Worktree,
            )
        };
        self.release_circuit_waits(now)?;
        let mut waits: Vec<(TaskId, String)> = Vec::new();
        let new_workers: Vec<Worker> = {
            let store = self.store();
            let state = store.state();
            if state.spawning_paused {
                return Ok(());
            }
            let busy = |w: &&Worker| {
                matches!(
                    w.status,
                    WorkerStatus::Starting | WorkerStatus::Running | WorkerStatus::Waiting
                )
            };
            let mut total = state.workers().filter(busy).count();
            let mut per_expert: HashMap<String, usize> = HashMap::new();
            for w in state.workers().filter(busy) {
                *per_expert.entry(w.expert.clone()).or_default() += 1;
            }
            let paused = self.paused_until(now);
            let mut out = Vec::new();
            let pending = state.pending_assignments();
            if pending.is_empty() && !state.tasks().any(|t| t.status == TaskStatus::Waiting) {
                self.runtime().idle_at_seq = Some(state.last_seq);
            }
            for (task, expert) in pending {
                if let Some(until) = paused.get(expert) {
                    // Said on the task, so nobody wonders why it does not start.
                    if task.status == TaskStatus::Routed {
                        waits.push((task.id.clone(), circuit_wait_reason(expert, *until)));
                    }
                    continue;
                }
                if total >= max_total {
                    break;
                }
                let cap = experts.get(expert).map_or(1, |e| e.max_workers as usize);
                let used = per_expert.entry(expert.to_string()).or_default();
                if *used >= cap {
                    continue;
                }
                *used += 1;
                total += 1;
                let workdir = if isolate_all || task.worktree == Some(true) {
                    let name = crate::worktree::name_for(task.id.as_str(), expert);
                    crate::worktree::path_for(&self.inner.home, &name)
                        .display()
                        .to_string()
                } else {
                    task.workdir.clone().unwrap_or_else(|| "/".into())
                };
                out.push(Worker::new(
                    clock::worker_id(now),
                    task.id.clone(),
                    expert,
                    workdir,
                    now,
                ));
            }
            out
        };
        waits.retain(|(t, _)| !new_workers.iter().any(|w| &w.task_id == t));
        waits.dedup_by(|a, b| a.0 == b.0);
        if !waits.is_empty() {
            let mut store = self.store();
            for (task_id, reason) in waits {
                store.stage(
                    Event::TaskStatusChanged {
                        task_id,
                        status: TaskStatus::Waiting,
                        reason: Some(reason),
                    },
                    now,
                )?;
            }
        }
        if new_workers.is_empty() {
            return Ok(());
        }
        // Every worker is on disk before its process exists: a crash in
        // between leaves a worker without attempts, which the next start
        // sweeps and starts, never a second worker for the same assignment.
        let tasks = {
            let mut store = self.store();
            for w in &new_workers {
                store.stage(
                    Event::WorkerCreated {
                        worker: Box::new(w.clone()),
                    },
                    now,
                )?;
            }
            store.sync()?;
            let state = store.state();
            new_workers
                .iter()
                .filter_map(|w| state.task(&w.task_id).cloned())
                .collect::<Vec<_>>()
        };
        for t in &tasks {
            self.emit(EngineEvent::TaskUpdated {
                task: TaskDto::from(t),
            });
        }
        let result = self.start_all(&new_workers, now);
        self.replenish_spares();
        result
    }

    /// Starts the first attempt of each new worker. Many at once are started
    /// from a few threads: most of a start is waiting (for the file system,
    /// and for the kernel until the agent has exec'd), so the starts overlap.
    fn start_all(&self, workers: &[Worker], now: DateTime<Utc>) -> Result<(), EngineError> {
        const STARTERS: usize = 8;
        if workers.len() < 2 {
            return workers
                .iter()
                .try_for_each(|w| self.start_attempt(w, None, now));
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let first_error: std::sync::Mutex<Option<EngineError>> = std::sync::Mutex::new(None);
        let starters = STARTERS.min(workers.len());
        // Every start of the pass is recorded before any update event is
        // sent or `meta.json` written: those are for people and would only
        // delay the last start.
        let all_started = std::sync::Barrier::new(starters);
        std::thread::scope(|scope| {
            for _ in 0..starters {
                scope.spawn(|| {
                    let mut metas = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(w) = workers.get(i) else { break };
                        match self.launch_attempt(w, None, now) {
                            Ok(meta) => metas.push((w, meta)),
                            Err(e) => {
                                let mut slot =
                                    first_error.lock().unwrap_or_else(|e| e.into_inner());
                                slot.get_or_insert(e);
                                // Let the others see the error and stop too.
                                next.store(workers.len(), std::sync::atomic::Ordering::Relaxed);
                                break;
                            }
                        }
                    }
                    all_started.wait();
                    for (w, meta) in metas {
                        self.emit_worker(&w.id);
                        write_meta(w, meta.as_ref());
                    }
                });
            }
        });
        match first_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Tasks waiting on a circuit breaker that has closed go back to the
    /// queue (`routed`), their reason cleared.
    pub(crate) fn release_circuit_waits(&self, now: DateTime<Utc>) -> Result<(), EngineError> {
        let paused = self.paused_until(now);
        let mut store = self.store();
        let free: Vec<TaskId> = store
            .state()
            .tasks()
            .filter(|t| t.status == TaskStatus::Waiting)
            .filter(|t| {
                !t.assignments.iter().any(|a| {
                    a.worker_id.is_none()
                        && !a.status.is_terminal()
                        && paused.contains_key(&a.expert)
                })
            })
            .map(|t| t.id.clone())
            .collect();
        for task_id in free {
            store.stage(
                Event::TaskStatusChanged {
                    task_id,
                    status: TaskStatus::Routed,
                    reason: None,
                },
                now,
            )?;
        }
        Ok(())
    }

    /// A person's message to a worker: its attempt is stopped and a new one
    /// resumes the conversation with the message as the next prompt (agents
    /// in `-p` mode read no input while they run).
    pub fn nudge_worker(&self, id: &str, text: &str) -> Result<WorkerDto, EngineError> {
        let text = cortex_core::input::validate_message("the nudge text", text)?;
        let w = self.worker_record(id)?;
        if w.status.is_terminal() {
            return Err(ended(&w, "nudge"));
        }
        let wid = w.id;
        // An agent reading stream-json on stdin gets the message as it runs.
        let fifo = self
            .runtime()
            .live
            .get(&wid)
            .and_then(|l| l.stdin_fifo.clone());
        if let Some(fifo) = fifo {
            self.launcher()
                .write_stdin(&fifo, &driver::user_message(text))
                .map_err(|e| EngineError::io("cannot write the nudge to", fifo, e))?;
            self.record_intervention(
                &wid,
                "nudge",
                &format!(
                    "nudged through stdin: {}",
                    text.chars().take(200).collect::<String>()
                ),
            );
            return self
                .worker(id)
                .ok_or_else(|| EngineError::UnknownWorker(id.to_string()));
        }
        // Otherwise: resume the conversation with the message as the prompt.
        self.runtime()
            .pending_prompts
            .insert(wid.clone(), text.to_string());
        let dto = self.restart_worker(id)?;
        self.record_intervention(
            &wid,
            "nudge",
            &format!(
                "a person nudged the worker: {}",
                text.chars().take(200).collect::<String>()
            ),
        );
        Ok(dto)
    }

    /// A person's answer to a worker that ended (completed, needs input,
    /// needs attention, failed, timed out, cancelled): a new attempt resumes
    /// its conversation with the text, in the same workdir, under the same
    /// supervision, and its task is live again.
    pub fn reply_worker(&self, id: &str, text: &str) -> Result<WorkerDto, EngineError> {
        let text = cortex_core::input::validate_message("the reply", text)?;
        let w = self.worker_record(id)?;
        if !w.status.is_terminal() {
            return Err(EngineError::BadValue(format!(
                "{} is {}: `cortex reply` continues a worker that ended; `cortex nudge` talks to a live one",
                w.id,
                w.status.as_str()
            )));
        }
        if w.session_id.is_none() {
            return Err(EngineError::BadValue(format!(
                "{} never started a conversation to continue: submit the task again",
                w.id
            )));
        }
        let now = self.now();
        self.store().commit(
            Event::WorkerReplied {
                worker_id: w.id.clone(),
                text: text.to_string(),
            },
            now,
        )?;
        self.record_intervention(
            &w.id,
            "reply",
            &format!(
                "a person replied: {}",
                redact(&text.chars().take(200).collect::<String>())
            ),
        );
        if !self.runtime().active {
            // No owner's loop to start it: start it here, as a restart does.
            let reopened = self.worker_record(id)?;
            self.start_attempt(&reopened, Some("a person replied".into()), now)?;
            self.store().sync()?;
        }
        if let Some(t) = self.store().state().task(&w.task_id).map(TaskDto::from) {
            self.emit(EngineEvent::TaskUpdated { task: t });
        }
        self.emit_worker(&w.id);
        self.worker(id)
            .ok_or_else(|| EngineError::UnknownWorker(id.to_string()))
    }

    pub(crate) fn emit_worker(&self, id: &WorkerId) {
        if let Some(dto) = self.worker(id.as_str()) {
            self.emit(EngineEvent::WorkerUpdated { worker: dto });
        }
    }

    /// One worker, with live stream state when this engine watches it, and
    /// the PM's verdict on its running attempt.
    pub fn worker(&self, id: &str) -> Option<WorkerDto> {
        let wid = WorkerId::parse(id)?;
        let w = self.store().state().worker(&wid).cloned()?;
        let (limit, prices) = {
            let s = self.settings();
            (
                s.1.get(&w.expert).map_or(3600, |e| e.time_limit_secs),
                cortex_core::pricing::merged(&s.0.pricing),
            )
        };
        let verdict = w
            .live_attempt()
            .filter(|_| w.status == WorkerStatus::Running)
            .and_then(|a| self.pm_health(&wid, a.n));
        let rt = self.runtime();
        let mut dto = worker_dto(
            &w,
            rt.live.get(&wid).map(AsRef::as_ref),
            limit,
            None,
            &prices,
        );
        if let Some(v) = verdict {
            apply_verdict(&mut dto, v);
        }
        Some(dto)
    }

    /// Every worker, newest first.
    pub fn workers(&self) -> Vec<WorkerDto> {
        let ids: Vec<String> = self
            .store()
            .state()
            .workers()
            .map(|w| w.id.to_string())
            .collect();
        let mut out: Vec<WorkerDto> = ids.iter().filter_map(|id| self.worker(id)).collect();
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        out
    }

    /// Kills a worker: its live attempt is stopped and the worker ends.
    pub fn kill_worker(&self, id: &str) -> Result<WorkerDto, EngineError> {
        self.stop_worker(
            id,
            AfterStop::End(WorkerStatus::Cancelled),
            "killed by a person",
        )
    }

    /// The journaled worker with this id (with or without its `w-` prefix).
    pub(crate) fn worker_record(&self, id: &str) -> Result<Worker, EngineError> {
        WorkerId::parse(id)
            .and_then(|wid| self.store().state().worker(&wid).cloned())
            .ok_or_else(|| EngineError::UnknownWorker(id.to_string()))
    }

    /// Restarts a worker: its live attempt (if any) is stopped and a new one
    /// resumes the conversation.
    pub fn restart_worker(&self, id: &str) -> Result<WorkerDto, EngineError> {
        let w = self.worker_record(id)?;
        let wid = w.id.clone();
        if w.status.is_terminal() {
            return Err(ended(&w, "restart"));
        }
        if self.runtime().live.contains_key(&wid) {
            return self.stop_worker(id, AfterStop::Restart, "restarted by a person");
        }
        self.start_attempt(&w, Some("restarted by a person".into()), self.now())?;
        self.store().sync()?;
        self.worker(id)
            .ok_or_else(|| EngineError::UnknownWorker(id.to_string()))
    }

    fn stop_worker(
        &self,
        id: &str,
        after: AfterStop,
        reason: &str,
    ) -> Result<WorkerDto, EngineError> {
        let w = self.worker_record(id)?;
        let wid = w.id.clone();
        if w.status.is_terminal() {
            let action = match after {
                AfterStop::Restart | AfterStop::RestartAfterBackoff => "restart",
                _ => "kill",
            };
            return Err(ended(&w, action));
        }
        let active = self.runtime().active;
        if self.stop_check(&wid, reason) {
            // Its work was being checked: the check is stopped with it.
            if let AfterStop::End(status) = after {
                self.end_worker(&w, status, reason, self.now())?;
            } else {
                self.start_attempt(&w, Some(reason.to_string()), self.now())?;
            }
        } else if !active {
            // No engine is supervising: do the whole stop here and now.
            self.kill_unsupervised(&w, reason)?;
        } else if !self.request_stop(&wid, None, OutcomeKind::Killed, reason, after.clone()) {
            // Waiting between attempts: nothing to signal.
            if let AfterStop::End(status) = after {
                self.end_worker(&w, status, reason, self.now())?;
            }
        }
        self.worker(id)
            .ok_or_else(|| EngineError::UnknownWorker(id.to_string()))
    }

    /// Stops a worker's process tree synchronously when no runtime runs
    /// (a CLI command owning the home briefly).
    fn kill_unsupervised(&self, w: &Worker, reason: &str) -> Result<(), EngineError> {
        let grace = StdDuration::from_secs(self.config().pm.kill_grace_secs);
        if let Some(a) = w.live_attempt() {
            // Journaled first: should this command die in the grace period,
            // the next owner carries the kill out.
            self.store().commit(
                Event::StopRequested {
                    worker_id: w.id.clone(),
                    intent: cortex_core::worker::StopIntent {
                        attempt: a.n,
                        kind: OutcomeKind::Killed,
                        reason: reason.to_string(),
                        then: AfterStop::End(WorkerStatus::Cancelled),
                        prompt: None,
                    },
                },
                self.now(),
            )?;
            if let Some(pid) = a.pid.filter(|p| {
                self.launcher()
                    .is_same_process(*p, a.start_ticks, w.id.as_str())
            }) {
                self.launcher().signal(pid, Signal::Term);
                let deadline = Instant::now() + grace;
                while self.launcher().is_running(pid) && Instant::now() < deadline {
                    std::thread::sleep(StdDuration::from_millis(50));
                }
                self.launcher().signal(pid, Signal::Kill);
            }
            self.launcher().sweep(w.id.as_str(), None);
            let mut progress = Progress::default();
            let now = self.now();
            let mut tail = Tail::via(
                attempt_dir(&self.inner.home, &w.id, a.n).join("stdout.jsonl"),
                self.inner.launcher.clone(),
            );
            for line in tail.read_lines() {
                progress.apply_line(&line, now);
            }
            let prices = cortex_core::pricing::merged(&self.config().pricing);
            let outcome = classify(
                &progress,
                Exit::Unknown,
                Some((OutcomeKind::Killed, reason)),
            )
            .with_estimate(
                progress.result.is_some(),
                cortex_core::pricing::estimate(
                    &prices,
                    progress.model.as_deref(),
                    &progress.tokens,
                ),
            );
            let mut store = self.store();
            store.commit(
                Event::AttemptEnded {
                    worker_id: w.id.clone(),
                    attempt: a.n,
                    outcome,
                },
                now,
            )?;
        }
        self.end_worker(w, WorkerStatus::Cancelled, reason, self.now())
    }

    /// Pauses or resumes starting new workers (restarts go on).
    pub fn set_spawning_paused(&self, paused: bool) -> Result<(), EngineError> {
        let mut store = self.store();
        if store.state().spawning_paused != paused {
            store.commit(Event::SpawningPaused { paused }, self.now())?;
        }
        Ok(())
    }

    /// Stops the live workers of a task (used by cancel).
    pub(crate) fn stop_task_workers(&self, task_id: &TaskId) {
        let (ids, ended): (Vec<WorkerId>, Vec<WorkerId>) = {
            let store = self.store();
            let (live, ended): (Vec<&Worker>, Vec<&Worker>) = store
                .state()
                .workers()
                .filter(|w| &w.task_id == task_id)
                .partition(|w| !w.status.is_terminal());
            (
                live.iter().map(|w| w.id.clone()).collect(),
                ended.iter().map(|w| w.id.clone()).collect(),
            )
        };
        // A goal's check of its plan's merged work runs under its ended
        // coordinator: it goes with the goal.
        for id in ended {
            self.stop_check(&id, "task cancelled by a person");
        }
        for id in ids {
            let _ = self.stop_worker(
                id.as_str(),
                AfterStop::End(WorkerStatus::Cancelled),
                "task cancelled by a person",
            );
        }
    }
}

/// What a long-running owner's PM says of each worker, read from its
/// `pm-state.json` (worker id -> verdict on the attempt it names).
pub(crate) type PmVerdicts = HashMap<String, (u32, crate::pm::PmVerdict)>;

/// The error for a control asked of a worker that already ended.
pub(crate) fn ended(w: &Worker, action: &'static str) -> EngineError {
    EngineError::WorkerEnded {
        id: w.id.to_string(),
        status: w.status.as_str().into(),
        action,
    }
}

/// What a task waiting on an expert's circuit breaker says.
fn circuit_wait_reason(expert: &str, until: DateTime<Utc>) -> String {
    format!(
        "expert {expert} paused by circuit breaker until {} (`cortex resume {expert}` closes it)",
        until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )
}

/// The DTO of a worker seen from outside the owning engine: its live
/// attempt's output files are read to show what it is doing, the owner's PM
/// verdict (when one runs) gives its health, and a process that is gone is
/// shown as such, never as running.
pub(crate) fn observed_dto(
    home: &crate::Home,
    w: &Worker,
    time_limit_secs: u64,
    prices: &BTreeMap<String, ModelPrice>,
    verdicts: &PmVerdicts,
) -> WorkerDto {
    let Some(a) = w.live_attempt() else {
        return worker_dto(w, None, time_limit_secs, None, prices);
    };
    let running = a
        .pid
        .is_some_and(|p| crate::procfs::is_same_process(p, a.start_ticks, w.id.as_str()));
    if let Some((_, v)) = verdicts
        .get(w.id.as_str())
        .filter(|(attempt, v)| running && *attempt == a.n && v.live.is_some())
    {
        // The owner's summary: no need to read the output again.
        let mut dto = worker_dto(w, None, time_limit_secs, None, prices);
        if let Some(s) = &v.live {
            dto.state = w.status;
            dto.pid = a.pid;
            dto.tokens.input += s.tokens.input;
            dto.tokens.output += s.tokens.output;
            dto.cost_usd += s.cost_usd;
            dto.cost_estimated |= s.cost_estimated;
            dto.activity = Some(s.activity.clone());
            dto.waiting_for = crate::views::waiting_for(w, dto.activity.as_ref());
            dto.last_text = s.last_text.as_deref().map(redact).or(dto.last_text);
            dto.started_at = Some(a.started_at);
        }
        apply_verdict(&mut dto, v.clone());
        return dto;
    }
    let dir = attempt_dir(home, &w.id, a.n);
    let mut live = Live::new(
        w,
        a,
        Tail::new(dir.join("stdout.jsonl")),
        home.heartbeats().join(format!("{}.jsonl", w.id)),
        false,
    );
    // Times of lines are not known from outside: use the file's mtime.
    let mtime = std::fs::metadata(dir.join("stdout.jsonl"))
        .and_then(|m| m.modified())
        .ok()
        .map(DateTime::<Utc>::from)
        .unwrap_or(a.started_at);
    absorb_output(&mut live, mtime);
    if !running {
        if let Some(r) = live.out.take_rest() {
            live.progress.apply_line(&r, mtime);
        }
    }
    let mut dto = worker_dto(w, Some(&live), time_limit_secs, None, prices);
    match verdicts.get(w.id.as_str()) {
        Some((attempt, v)) if *attempt == a.n && running => apply_verdict(&mut dto, v.clone()),
        _ if !running => {
            let said = classify(&live.progress, Exit::Unknown, None);
            dto.pid = None;
            dto.health = "exited".into();
            dto.health_reason = Some(format!(
                "the process is gone and no owner has settled it yet; its output says: {}",
                said.reason
            ));
            dto.result = said.result.or(dto.result);
        }
        _ => {}
    }
    dto
}

/// Reads new output and hook lines into the live state. True if anything came.
fn absorb_output(l: &mut Live, now: DateTime<Utc>) -> bool {
    absorb_output_up_to(l, now, usize::MAX, true).0
}

/// True when a check-in file that was missing may exist now: the heartbeat
/// folder changed since `seen` (which it updates), or changed so recently
/// that a file made within the same step of the file system's clock would
/// not have moved its time. One `stat` per pass instead of an `open` per
/// worker without check-ins.
fn heartbeat_files_may_be_new(seen: &mut Option<std::time::SystemTime>, dir: &Path) -> bool {
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
fn absorb_output_up_to(
    l: &mut Live,
    now: DateTime<Utc>,
    max: usize,
    look_for_hooks: bool,
) -> (bool, bool) {
    // Lines are timed by the file's last write, not by when we read them
    // (up to a tick later): silence is measured from when the agent spoke.
    let progress = &mut l.progress;
    let (lines, more) = l.out.read_with(max, |line, written| {
        let at = written
            .map(DateTime::<Utc>::from)
            .map_or(now, |t| t.min(now));
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
}
