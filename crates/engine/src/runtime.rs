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

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};
use cortex_core::duration;
use cortex_core::id::{TaskId, WorkerId};
use cortex_core::restart::restart_delay_secs;
use cortex_core::state::Event;
use cortex_core::stream::{classify, Activity, Exit, Outcome, OutcomeKind, Progress, Tokens};
use cortex_core::worker::{Worker, WorkerStatus};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::clock;
use crate::driver::{self, AttemptSpec};
use crate::engine::{Engine, EngineEvent, TaskDto};
use crate::error::EngineError;
use crate::procfs;
use crate::spawner;

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
    file: Option<File>,
    offset: u64,
    partial: Vec<u8>,
    /// A missing file is looked for again only after this.
    retry_at: Option<Instant>,
}

impl Tail {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            file: None,
            offset: 0,
            partial: Vec::new(),
            retry_at: None,
        }
    }

    /// Complete new lines since the last call.
    pub(crate) fn read_lines(&mut self) -> Vec<String> {
        if self.file.is_none() {
            if self.retry_at.is_some_and(|t| Instant::now() < t) {
                return Vec::new();
            }
            self.file = File::open(&self.path).ok();
            if self.file.is_none() {
                self.retry_at = Some(Instant::now() + StdDuration::from_millis(1000));
            }
        }
        let Some(f) = self.file.as_mut() else {
            return Vec::new();
        };
        // Positioned reads: with nothing new, one system call per tail.
        let mut buf = [0u8; 16 * 1024];
        loop {
            match f.read_at(&mut buf, self.offset) {
                Ok(0) => break,
                Ok(n) => {
                    self.offset += n as u64;
                    self.partial.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let mut lines = Vec::new();
        while let Some(i) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1])
                .trim_end_matches('\r')
                .to_string();
            if !text.trim().is_empty() {
                lines.push(text);
            }
        }
        lines
    }

    /// When the open file was last written (lines only come from an open file).
    fn modified(&self) -> Option<std::time::SystemTime> {
        self.file.as_ref()?.metadata().ok()?.modified().ok()
    }

    /// The unterminated rest, once the writer is gone.
    fn take_rest(&mut self) -> Option<String> {
        let rest = String::from_utf8_lossy(&std::mem::take(&mut self.partial))
            .trim()
            .to_string();
        (!rest.is_empty()).then_some(rest)
    }
}

/// What to do once a stop completes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AfterStop {
    /// End the worker with this status.
    End(WorkerStatus),
    /// Start the next attempt at once, resuming the conversation.
    Restart,
    /// Start the next attempt after the restart backoff (PM restarts).
    RestartAfterBackoff,
    /// Settle by the result line already received (agent hung after it).
    SettleByResult,
}

#[derive(Debug)]
pub(crate) struct StopRequest {
    pub(crate) kind: OutcomeKind,
    pub(crate) reason: String,
    pub(crate) after: AfterStop,
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
    child: Option<spawner::Spawned>,
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
}

impl Live {
    /// A live entry for an attempt; `child` when this engine started it.
    fn new(
        w: &Worker,
        attempt: &cortex_core::worker::Attempt,
        stdout: PathBuf,
        heartbeats: PathBuf,
        child: Option<spawner::Spawned>,
    ) -> Self {
        Self {
            worker_id: w.id.clone(),
            task_id: w.task_id.clone(),
            expert: w.expert.clone(),
            attempt: attempt.n,
            pid: attempt.pid.unwrap_or(0),
            start_ticks: attempt.start_ticks,
            child,
            out: Tail::new(stdout),
            hooks: Tail::new(heartbeats),
            progress: Progress::default(),
            started_at: attempt.started_at,
            last_hook_at: None,
            last_hook: None,
            stop: None,
            result_seen: None,
            last_emit: None,
            stdin_fifo: None,
        }
    }
}

/// The runtime's table of live attempts.
#[derive(Debug)]
pub struct Runtime {
    pub(crate) live: HashMap<WorkerId, Live>,
    /// True once this engine supervises workers (`run`, the app).
    active: bool,
    agent_command: Vec<String>,
    heartbeat_command: Vec<String>,
    /// A person's message for a worker's next attempt (`cortex nudge`).
    pending_prompts: HashMap<WorkerId, String>,
    /// True when `CORTEX_AGENT_COMMAND` chose the command (config edits
    /// then do not change it).
    command_overridden: bool,
    /// Wakes `run` when a live attempt's process ends (where available).
    exits: Option<crate::exits::ExitWatcher>,
}

impl Runtime {
    /// Has the exit watcher, if any, report when `pid` ends.
    fn watch_exit(&self, pid: u32) {
        if let Some(w) = &self.exits {
            w.watch(pid);
        }
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
    pub session_id: Option<String>,
    pub cost_usd: f64,
    pub tokens: TokenDto,
    pub workdir: String,
    pub started_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// What the stream says it is doing.
    pub activity: Option<Activity>,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub last_activity_source: Option<String>,
    pub last_text: Option<String>,
    pub time_limit_secs: u64,
    pub restarts: u32,
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
        None => (w.tokens, None, current.and_then(|a| a.ended_at), None, None),
    };
    let cost_live = live
        .and_then(|l| l.progress.result.as_ref())
        .map_or(0.0, |r| r.total_cost_usd);
    WorkerDto {
        id: w.id.clone(),
        task_id: w.task_id.clone(),
        expert: w.expert.clone(),
        attempt: current.map_or(0, |a| a.n),
        pid: w.live_attempt().and_then(|a| a.pid),
        state: w.status,
        health: health.unwrap_or_else(|| match (w.status, live) {
            (WorkerStatus::Running, Some(l)) if l.progress.lines == 0 => "starting".into(),
            (WorkerStatus::Running, _) => "healthy".into(),
            (WorkerStatus::Waiting, _) => "waiting".into(),
            (s, _) => s.as_str().into(),
        }),
        reason: w.reason.clone(),
        session_id: w.session_id.clone(),
        cost_usd: w.cost_usd + cost_live,
        tokens: tokens.into(),
        workdir: w.workdir.clone(),
        started_at: current.map(|a| a.started_at),
        created_at: w.created_at,
        activity,
        last_activity_at: last_at,
        last_activity_source: source,
        last_text: text,
        time_limit_secs: time_limit_secs.saturating_add(w.extended_secs),
        restarts: w.restarts(),
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
    let value = serde_json::to_value(hb).map_err(|e| EngineError::Protocol(e.to_string()))?;
    crate::snapshot::append_line(&path, &value)
        .map_err(|e| EngineError::io("cannot write", path, e))
}

fn exit_of(status: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => Exit::Code(c),
        (None, Some(s)) => Exit::Signal(s),
        _ => Exit::Unknown,
    }
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
    fn runtime(&self) -> std::sync::MutexGuard<'_, Runtime> {
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
        let watcher = crate::exits::ExitWatcher::start()?;
        let wake = watcher.wake();
        self.runtime().exits = Some(watcher);
        Some(wake)
    }

    /// Stops the exit watcher (its thread, and the pidfds it holds).
    pub(crate) fn stop_exit_watcher(&self) {
        let watcher = self.runtime().exits.take();
        drop(watcher);
    }

    /// Starts supervising: re-adopts attempts that are still ours and
    /// settles the rest honestly. Called once by `run`.
    pub fn start_runtime(&self) -> Result<(), EngineError> {
        let mut rt = self.runtime();
        if rt.active {
            return Ok(());
        }
        rt.active = true;
        let workers: Vec<Worker> = self
            .store()
            .state()
            .workers()
            .filter(|w| !w.status.is_terminal())
            .cloned()
            .collect();
        let now = clock::now();
        for w in workers {
            if w.status == WorkerStatus::Starting && w.attempts.is_empty() {
                // Created, but the engine stopped before its first attempt
                // was recorded: end any process it may have started, then
                // start it properly.
                let swept = spawner::sweep(w.id.as_str());
                info!(worker_id = %w.id, swept, "starting a worker whose first start was not recorded");
                drop(rt);
                self.start_attempt(&w, None, now)?;
                rt = self.runtime();
                continue;
            }
            let Some(a) = w.live_attempt().cloned() else {
                continue; // waiting: the tick restarts it when due
            };
            let dir = attempt_dir(&self.inner.home, &w.id, a.n);
            let mut live = Live::new(
                &w,
                &a,
                dir.join("stdout.jsonl"),
                self.inner.home.heartbeats().join(format!("{}.jsonl", w.id)),
                None,
            );
            let fifo = dir.join("stdin.fifo");
            if fifo.exists() {
                live.stdin_fifo = Some(fifo);
            }
            absorb_output(&mut live, now);
            if a.pid
                .is_some_and(|p| procfs::is_same_process(p, a.start_ticks, w.id.as_str()))
            {
                info!(worker_id = %w.id, attempt = a.n, pid = a.pid, "re-adopted a running worker");
                rt.watch_exit(live.pid);
                rt.live.insert(w.id.clone(), live);
            } else {
                // Gone while we were away: its output decides, else `lost`.
                // A process still carrying the worker's tag was started
                // after it but never recorded: it goes too.
                let swept = spawner::sweep(w.id.as_str());
                if swept > 0 {
                    info!(worker_id = %w.id, swept, "killed unrecorded processes of a worker whose attempt ended");
                }
                let rest = live.out.take_rest();
                if let Some(r) = rest {
                    live.progress.apply_line(&r, now);
                }
                let outcome = classify(&live.progress, Exit::Unknown, None);
                info!(worker_id = %w.id, attempt = a.n, outcome = outcome.kind.as_str(), "settled a worker that ended while no engine watched");
                drop(rt);
                self.finish_attempt(&live, outcome, None, now)?;
                rt = self.runtime();
            }
        }
        drop(rt);
        self.store().sync()
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
    /// live one: a stale request is ignored. Returns false if nothing was live.
    pub(crate) fn request_stop(
        &self,
        worker_id: &WorkerId,
        attempt: Option<u32>,
        kind: OutcomeKind,
        reason: &str,
        after: AfterStop,
    ) -> bool {
        let mut rt = self.runtime();
        let Some(l) = rt.live.get_mut(worker_id) else {
            return false;
        };
        if attempt.is_some_and(|a| a != l.attempt) {
            warn!(worker_id = %worker_id, stale = attempt, live = l.attempt, "ignored a stop request for an older attempt");
            return false;
        }
        if l.stop.is_none() {
            info!(worker_id = %worker_id, attempt = l.attempt, reason, "stopping worker");
            spawner::signal_group(l.pid, libc::SIGTERM);
            l.stop = Some(StopRequest {
                kind,
                reason: reason.to_string(),
                after,
                term_sent: Instant::now(),
                killed: false,
            });
        } else if let Some(s) = l.stop.as_mut() {
            // A later, stronger intent wins (restart -> end).
            if matches!(after, AfterStop::End(_)) {
                s.after = after;
                s.kind = kind;
                s.reason = reason.to_string();
            }
        }
        true
    }

    /// One pass of the runtime: read output, notice ends, finish stops,
    /// start due restarts and new workers.
    pub fn tick_runtime(&self) -> Result<(), EngineError> {
        self.runtime_pass(true)
    }

    /// The pass run when the exit watcher reports an end: settles the
    /// attempts whose process ended and starts what is then due, leaving
    /// the other attempts' output to the next tick.
    pub(crate) fn tick_exits(&self) -> Result<(), EngineError> {
        self.runtime_pass(false)
    }

    fn runtime_pass(&self, full: bool) -> Result<(), EngineError> {
        if !self.runtime().active {
            return Ok(());
        }
        let now = clock::now();
        let grace = StdDuration::from_secs(self.config().pm.kill_grace_secs);
        let mut ended: Vec<(Live, Exit)> = Vec::new();
        let mut updates = Vec::new();
        {
            let mut rt = self.runtime();
            let ids: Vec<WorkerId> = rt.live.keys().cloned().collect();
            for id in ids {
                let Some(l) = rt.live.get_mut(&id) else {
                    continue;
                };
                let changed = full && absorb_output(l, now);
                if l.progress.result.is_some() && l.result_seen.is_none() {
                    l.result_seen = Some(Instant::now());
                }
                let exit = match l.child.as_mut() {
                    Some(c) => match c.try_wait() {
                        Ok(Some(status)) => Some(exit_of(status)),
                        Ok(None) => None,
                        Err(_) => (!procfs::is_running(l.pid)).then_some(Exit::Unknown),
                    },
                    None => (!procfs::is_same_process(l.pid, l.start_ticks, id.as_str()))
                        .then_some(Exit::Unknown),
                };
                if let Some(exit) = exit {
                    if let Some(mut l) = rt.live.remove(&id) {
                        absorb_output(&mut l, now);
                        if let Some(r) = l.out.take_rest() {
                            l.progress.apply_line(&r, now);
                        }
                        ended.push((l, exit));
                    }
                    continue;
                }
                if !full {
                    continue;
                }
                if let Some(stop) = l.stop.as_mut() {
                    if !stop.killed && stop.term_sent.elapsed() >= grace {
                        warn!(worker_id = %id, attempt = l.attempt, "did not stop after SIGTERM; sending SIGKILL");
                        spawner::signal_group(l.pid, libc::SIGKILL);
                        spawner::sweep(id.as_str());
                        stop.killed = true;
                    }
                } else if l.result_seen.is_some_and(|t| {
                    let grace = if l.stdin_fifo.is_some() {
                        AFTER_RESULT_GRACE_STREAM
                    } else {
                        AFTER_RESULT_GRACE
                    };
                    t.elapsed() >= grace
                }) {
                    warn!(worker_id = %id, "still running after its result line; stopping it");
                    spawner::signal_group(l.pid, libc::SIGTERM);
                    l.stop = Some(StopRequest {
                        kind: OutcomeKind::Success,
                        reason: "hung after its result line".into(),
                        after: AfterStop::SettleByResult,
                        term_sent: Instant::now(),
                        killed: false,
                    });
                }
                // Output alone is news every 2 s per worker at most; state
                // changes (start, end, health) are emitted where they happen.
                let due = l
                    .last_emit
                    .is_none_or(|t| t.elapsed() >= StdDuration::from_secs(2));
                if changed && due {
                    l.last_emit = Some(Instant::now());
                    updates.push(id.clone());
                }
            }
        }
        let ended_attempts: Vec<(WorkerId, u32)> = ended
            .iter()
            .map(|(l, _)| (l.worker_id.clone(), l.attempt))
            .collect();
        for (live, exit) in ended {
            let (stopped, after) = match &live.stop {
                Some(s) if s.after == AfterStop::SettleByResult => (None, None),
                Some(s) => (Some((s.kind, s.reason.clone())), Some(s.after.clone())),
                None => (None, None),
            };
            let exit = if live
                .stop
                .as_ref()
                .is_some_and(|s| s.after == AfterStop::SettleByResult)
            {
                Exit::Unknown
            } else {
                exit
            };
            let outcome = classify(
                &live.progress,
                exit,
                stopped.as_ref().map(|(k, r)| (*k, r.as_str())),
            );
            self.finish_attempt(&live, outcome, after, now)?;
        }
        for id in updates {
            self.emit_worker(&id);
        }
        self.start_due_restarts(now)?;
        self.schedule(now)?;
        // No process of an ended attempt may outlive it. Swept once any
        // replacement has started, which its own attempt number spares: a
        // sweep reads every process's environment, a few milliseconds that
        // a crashed worker's replacement does not wait for.
        for (worker_id, attempt) in ended_attempts {
            let swept = spawner::sweep_attempt(worker_id.as_str(), attempt);
            if swept > 0 {
                info!(worker_id = %worker_id, attempt, swept, "killed processes that outlived the attempt");
            }
        }
        self.store().sync()
    }

    /// Journals the end of an attempt and decides what follows. The end is
    /// staged and made durable with what follows it: a wait, an end, or,
    /// after a first crash, the replacement's start at the end of the pass.
    fn finish_attempt(
        &self,
        live: &Live,
        outcome: Outcome,
        after: Option<AfterStop>,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        let max_restarts = self
            .settings()
            .1
            .get(&live.expert)
            .map_or(0, |e| e.max_restarts);
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
        let person_or_budget = matches!(
            outcome.kind,
            OutcomeKind::Killed | OutcomeKind::Budget | OutcomeKind::TimedOut
        );
        if outcome.kind != OutcomeKind::Success
            && !person_or_budget
            && !matches!(after, Some(AfterStop::RestartAfterBackoff))
        {
            // PM kills are counted when decided; these are the agent's own failures.
            self.note_failure(&live.expert, now);
        }
        match after {
            Some(AfterStop::Restart) => {
                self.store().sync()?;
                self.start_attempt(&worker, Some(outcome.reason.clone()), now)?;
            }
            Some(AfterStop::RestartAfterBackoff) => {
                // The PM killed a hung attempt: that is no crash, so its
                // restarts back off from the first.
                self.schedule_restart(
                    &worker,
                    &outcome.reason,
                    max_restarts,
                    OutcomeKind::Killed,
                    now,
                )?;
            }
            Some(AfterStop::End(status)) => {
                self.end_worker(&worker, status, &outcome.reason, now)?;
            }
            Some(AfterStop::SettleByResult) | None => {
                if outcome.kind == OutcomeKind::Success {
                    self.end_worker(&worker, WorkerStatus::Completed, "completed", now)?;
                } else if outcome.kind.is_transient() && worker.restarts() < max_restarts {
                    self.schedule_restart(
                        &worker,
                        &outcome.reason,
                        max_restarts,
                        outcome.kind,
                        now,
                    )?;
                } else {
                    let reason = if outcome.kind.is_transient() {
                        format!("{} (no restarts left)", outcome.reason)
                    } else {
                        outcome.reason.clone()
                    };
                    self.end_worker(&worker, WorkerStatus::Failed, &reason, now)?;
                }
            }
        }
        Ok(())
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

    fn end_worker(
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
        let notify = match status {
            WorkerStatus::Failed => Some((
                cortex_core::health::AlertKind::Failed,
                cortex_core::health::Severity::Critical,
            )),
            WorkerStatus::Completed => Some((
                cortex_core::health::AlertKind::Completed,
                cortex_core::health::Severity::Info,
            )),
            _ => None,
        };
        if let Some((kind, severity)) = notify {
            self.raise_alert(cortex_core::alerts::Alert {
                at: now,
                severity,
                kind,
                worker_id: Some(worker.id.clone()),
                task_id: Some(worker.task_id.clone()),
                attempt: worker.current().map(|a| a.n),
                message: format!("{} {}: {reason}", worker.expert, status.as_str()),
                summarized: vec![],
            });
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
        }
        self.emit_worker(&worker.id);
        Ok(())
    }

    /// Starts the next attempt of a worker (the first, or a restart).
    fn start_attempt(
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
            .map(|t| (t.description.clone(), t.workdir.clone()))
            .unwrap_or_default();
        let worktree = crate::worktree::path_for(&self.inner.home, worker.task_id.as_str());
        let prepared = if Path::new(&worker.workdir) == worktree {
            crate::worktree::ensure(
                &self.inner.home,
                worker.task_id.as_str(),
                Path::new(source.as_deref().unwrap_or("/")),
            )
            .map(|_| ())
            .map_err(spawner::SpawnError)
        } else {
            Ok(())
        };
        let n = worker.current().map_or(1, |a| a.n + 1);
        let resume = resume_reason.as_ref().and(worker.session_id.clone());
        let nudge = self.runtime().pending_prompts.remove(&worker.id);
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
            .and_then(|planned| match spawner::spawn(&planned.launch) {
                Ok(c) => Ok((planned, c)),
                Err(e) => {
                    meta = Some(planned.meta(None));
                    Err(e)
                }
            });
        match started {
            Ok((planned, child)) => {
                let pid = child.id();
                let meta = planned.meta(Some(pid));
                let ticks = procfs::start_ticks(pid);
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
                    planned.launch.stdout.clone(),
                    self.inner
                        .home
                        .heartbeats()
                        .join(format!("{}.jsonl", worker.id)),
                    Some(child),
                );
                // Start the hook tail at its end: older check-ins belong to
                // earlier attempts.
                let _ = live.hooks.read_lines();
                if let (Some(fifo), Some(first)) =
                    (&planned.launch.stdin_fifo, &planned.first_message)
                {
                    if let Err(e) = spawner::write_fifo_line(fifo, first) {
                        warn!(worker_id = %worker.id, "cannot give the agent its prompt on stdin: {e}");
                    }
                    live.stdin_fifo = Some(fifo.clone());
                }
                let mut rt = self.runtime();
                rt.watch_exit(pid);
                rt.live.insert(worker.id.clone(), live);
                Ok(Some(meta))
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
                            outcome: Outcome {
                                kind: OutcomeKind::SpawnFailed,
                                reason: e.0.clone(),
                                exit_code: None,
                                cost_usd: 0.0,
                                tokens: Tokens::default(),
                                result: None,
                                model_usage: serde_json::Value::Null,
                            },
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
        let due: Vec<Worker> = self
            .store()
            .state()
            .workers()
            .filter(|w| w.status == WorkerStatus::Waiting && w.not_before.is_some_and(|t| t <= now))
            .cloned()
            .collect();
        for w in due {
            let reason = w.reason.clone().unwrap_or_else(|| "restart".into());
            self.start_attempt(&w, Some(reason), now)?;
        }
        Ok(())
    }

    /// Starts workers for pending assignments, in queue order, within the
    /// global and per-expert capacity, unless spawning is paused.
    fn schedule(&self, now: DateTime<Utc>) -> Result<(), EngineError> {
        let (max_total, experts, isolate_all) = {
            let s = self.settings();
            (
                s.0.capacity.max_workers as usize,
                s.1.clone(),
                s.0.isolation == cortex_core::config::Isolation::Worktree,
            )
        };
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
            let paused = self.paused_experts();
            let mut out = Vec::new();
            for (task, expert) in state.pending_assignments() {
                if total >= max_total {
                    break;
                }
                let cap = experts.get(expert).map_or(1, |e| e.max_workers as usize);
                let used = per_expert.entry(expert.to_string()).or_default();
                if *used >= cap || paused.iter().any(|p| p == expert) {
                    continue;
                }
                *used += 1;
                total += 1;
                let workdir = if isolate_all || task.worktree == Some(true) {
                    crate::worktree::path_for(&self.inner.home, task.id.as_str())
                        .display()
                        .to_string()
                } else {
                    task.workdir.clone().unwrap_or_else(|| "/".into())
                };
                out.push(Worker {
                    id: clock::worker_id(now),
                    task_id: task.id.clone(),
                    expert: expert.to_string(),
                    workdir,
                    created_at: now,
                    status: WorkerStatus::Starting,
                    attempts: Vec::new(),
                    session_id: None,
                    cost_usd: 0.0,
                    tokens: Tokens::default(),
                    reason: None,
                    not_before: None,
                    extended_secs: 0,
                });
            }
            out
        };
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

    /// Experts whose circuit breaker is open.
    pub(crate) fn paused_experts(&self) -> Vec<String> {
        self.open_circuits(clock::now())
    }

    /// A person's message to a worker: its attempt is stopped and a new one
    /// resumes the conversation with the message as the next prompt (agents
    /// in `-p` mode read no input while they run).
    pub fn nudge_worker(&self, id: &str, text: &str) -> Result<WorkerDto, EngineError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(EngineError::BadValue("the nudge text is empty".into()));
        }
        let wid = WorkerId::parse(id).ok_or_else(|| EngineError::UnknownWorker(id.to_string()))?;
        // An agent reading stream-json on stdin gets the message as it runs.
        let fifo = self
            .runtime()
            .live
            .get(&wid)
            .and_then(|l| l.stdin_fifo.clone());
        if let Some(fifo) = fifo {
            spawner::write_fifo_line(&fifo, &driver::user_message(text))
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

    pub(crate) fn emit_worker(&self, id: &WorkerId) {
        if let Some(dto) = self.worker(id.as_str()) {
            self.emit(EngineEvent::WorkerUpdated { worker: dto });
        }
    }

    /// One worker, with live stream state when this engine watches it.
    pub fn worker(&self, id: &str) -> Option<WorkerDto> {
        let wid = WorkerId::parse(id)?;
        let w = self.store().state().worker(&wid).cloned()?;
        let limit = self
            .settings()
            .1
            .get(&w.expert)
            .map_or(3600, |e| e.time_limit_secs);
        let health = self.pm_health(&wid);
        let rt = self.runtime();
        let mut dto = worker_dto(
            &w,
            rt.live.get(&wid),
            limit,
            health.as_ref().map(|h| h.0.as_str().to_string()),
        );
        if let Some((_, Some(at), source)) = health {
            dto.last_activity_at = Some(at);
            dto.last_activity_source = source;
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
        if self.runtime().live.contains_key(&wid) {
            return self.stop_worker(id, AfterStop::Restart, "restarted by a person");
        }
        if w.status.is_terminal() {
            return Err(EngineError::AlreadyFinished {
                id: id.to_string(),
                status: w.status.as_str().into(),
            });
        }
        self.start_attempt(&w, Some("restarted by a person".into()), clock::now())?;
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
            return Err(EngineError::AlreadyFinished {
                id: id.to_string(),
                status: w.status.as_str().into(),
            });
        }
        let active = self.runtime().active;
        if !active {
            // No engine is supervising: do the whole stop here and now.
            self.kill_unsupervised(&w, reason)?;
        } else if !self.request_stop(&wid, None, OutcomeKind::Killed, reason, after.clone()) {
            // Waiting between attempts: nothing to signal.
            if let AfterStop::End(status) = after {
                self.end_worker(&w, status, reason, clock::now())?;
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
            if let Some(pid) = a
                .pid
                .filter(|p| procfs::is_same_process(*p, a.start_ticks, w.id.as_str()))
            {
                spawner::signal_group(pid, libc::SIGTERM);
                let deadline = Instant::now() + grace;
                while procfs::is_running(pid) && Instant::now() < deadline {
                    std::thread::sleep(StdDuration::from_millis(50));
                }
                spawner::signal_group(pid, libc::SIGKILL);
            }
            spawner::sweep(w.id.as_str());
            let mut progress = Progress::default();
            let now = clock::now();
            let mut tail =
                Tail::new(attempt_dir(&self.inner.home, &w.id, a.n).join("stdout.jsonl"));
            for line in tail.read_lines() {
                progress.apply_line(&line, now);
            }
            let outcome = classify(
                &progress,
                Exit::Unknown,
                Some((OutcomeKind::Killed, reason)),
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
        self.end_worker(w, WorkerStatus::Cancelled, reason, clock::now())
    }

    /// Pauses or resumes starting new workers (restarts go on).
    pub fn set_spawning_paused(&self, paused: bool) -> Result<(), EngineError> {
        let mut store = self.store();
        if store.state().spawning_paused != paused {
            store.commit(Event::SpawningPaused { paused }, clock::now())?;
        }
        Ok(())
    }

    /// Stops the live workers of a task (used by cancel).
    pub(crate) fn stop_task_workers(&self, task_id: &TaskId) {
        let ids: Vec<WorkerId> = self
            .store()
            .state()
            .workers()
            .filter(|w| &w.task_id == task_id && !w.status.is_terminal())
            .map(|w| w.id.clone())
            .collect();
        for id in ids {
            let _ = self.stop_worker(
                id.as_str(),
                AfterStop::End(WorkerStatus::Cancelled),
                "task cancelled by a person",
            );
        }
    }
}

/// The DTO of a worker seen from outside the owning engine: its live
/// attempt's output files are read to show what it is doing.
pub fn observed_dto(home: &crate::Home, w: &Worker, time_limit_secs: u64) -> WorkerDto {
    let Some(a) = w.live_attempt() else {
        return worker_dto(w, None, time_limit_secs, None);
    };
    let dir = attempt_dir(home, &w.id, a.n);
    let mut live = Live::new(
        w,
        a,
        dir.join("stdout.jsonl"),
        home.heartbeats().join(format!("{}.jsonl", w.id)),
        None,
    );
    // Times of lines are not known from outside: use the file's mtime.
    let mtime = std::fs::metadata(dir.join("stdout.jsonl"))
        .and_then(|m| m.modified())
        .ok()
        .map(DateTime::<Utc>::from)
        .unwrap_or(a.started_at);
    absorb_output(&mut live, mtime);
    worker_dto(w, Some(&live), time_limit_secs, None)
}

/// Reads new output and hook lines into the live state. True if anything came.
fn absorb_output(l: &mut Live, now: DateTime<Utc>) -> bool {
    let lines = l.out.read_lines();
    let mut changed = !lines.is_empty();
    // Lines are timed by the file's last write, not by when we read them
    // (up to a tick later): silence is measured from when the agent spoke.
    let written = if lines.is_empty() {
        now
    } else {
        l.out
            .modified()
            .map(DateTime::<Utc>::from)
            .map_or(now, |t| t.min(now))
    };
    for line in &lines {
        l.progress.apply_line(line, written);
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
    changed
}
