//! The PM loop: samples every live attempt's signals once per tick, asks the
//! pure policy (`cortex_core::health::decide`) what they mean, and carries
//! out its actions. Every transition and intervention is a line in
//! `pm-activity.jsonl`; `pm-state.json` holds the per-worker picture and the
//! metrics. The cost per tick is one read of the process table plus a few
//! reads per worker, so it stays flat per worker as the fleet grows.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use cortex_core::alerts::{Alert, Coalescer};
use cortex_core::duration;
use cortex_core::health::{self, Action, AlertKind, Health, Observations, Severity, WorkerView};
use cortex_core::id::{TaskId, WorkerId};
use cortex_core::restart::circuit_open;
use cortex_core::state::Event;
use cortex_core::stream::OutcomeKind;
use cortex_core::worker::WorkerStatus;
use serde::Serialize;
use tracing::{info, warn};

use crate::clock;
use crate::engine::{Engine, EngineEvent};
use crate::error::EngineError;
use crate::procfs;
use crate::runtime::AfterStop;

/// One intervention, as kept in pm-state.json.
#[derive(Debug, Clone, Serialize)]
pub struct Intervention {
    pub at: DateTime<Utc>,
    pub attempt: u32,
    pub kind: String,
    pub message: String,
}

/// The PM's picture of one worker.
#[derive(Debug, Clone, Serialize)]
pub struct PmWorker {
    pub task_id: TaskId,
    pub expert: String,
    pub attempt: u32,
    pub health: Health,
    pub health_since: DateTime<Utc>,
    pub health_reason: String,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub last_activity_source: Option<String>,
    pub restarts_used: u32,
    pub time_warnings_sent: Vec<u8>,
    pub budget_warned: bool,
    pub extensions_used: u32,
    /// Nudges sent to this worker, every attempt counted.
    pub nudges_used: u32,
    /// When the current attempt was last nudged.
    pub nudged_at: Option<DateTime<Utc>>,
    pub interventions: Vec<Intervention>,
    /// What the attempt's stream says so far, for views in other processes
    /// (they read this instead of the whole output).
    pub live: Option<crate::runtime::LiveSummary>,
    /// Recent (time, CPU ticks of the tree) samples, a few seconds' worth.
    #[serde(skip)]
    cpu_samples: VecDeque<(DateTime<Utc>, u64)>,
    #[serde(skip)]
    cpu_progress_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    transcript_len: Option<u64>,
    #[serde(skip)]
    transcript_growth_at: Option<DateTime<Utc>>,
}

/// What the PM says of one worker's attempt: the same in every view.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PmVerdict {
    pub(crate) health: Health,
    pub(crate) reason: String,
    pub(crate) last_activity_at: Option<DateTime<Utc>>,
    pub(crate) last_activity_source: Option<String>,
    pub(crate) live: Option<crate::runtime::LiveSummary>,
}

/// The verdicts in `pm-state.json`, when the PM that wrote it still owns
/// the home (worker id -> the attempt it is about and the verdict).
pub(crate) fn read_verdicts(home: &crate::Home) -> crate::runtime::PmVerdicts {
    let mut out = crate::runtime::PmVerdicts::new();
    let Some(owner) = crate::lock::current_owner(&home.lock_file()) else {
        return out;
    };
    let Ok(text) = std::fs::read(home.pm_snapshot()) else {
        return out;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return out;
    };
    let writer = v.pointer("/pm/pid").and_then(serde_json::Value::as_u64);
    if writer != Some(u64::from(owner.pid)) {
        return out; // written by an owner that is gone: it knows nothing now
    }
    let Some(workers) = v.get("workers").and_then(|w| w.as_object()) else {
        return out;
    };
    for (id, w) in workers {
        let health = w
            .get("health")
            .cloned()
            .and_then(|h| serde_json::from_value::<Health>(h).ok());
        let attempt = w
            .get("attempt")
            .and_then(serde_json::Value::as_u64)
            .and_then(|a| u32::try_from(a).ok());
        let (Some(health), Some(attempt)) = (health, attempt) else {
            continue;
        };
        let text = |k: &str| w.get(k).and_then(|s| s.as_str()).map(str::to_string);
        let verdict = PmVerdict {
            health,
            reason: text("health_reason").unwrap_or_default(),
            last_activity_at: w
                .get("last_activity_at")
                .cloned()
                .and_then(|t| serde_json::from_value(t).ok()),
            last_activity_source: text("last_activity_source"),
            live: w
                .get("live")
                .cloned()
                .and_then(|l| serde_json::from_value(l).ok()),
        };
        out.insert(id.clone(), (attempt, verdict));
    }
    out
}

impl PmVerdict {
    fn of(w: &PmWorker) -> Self {
        Self {
            health: w.health,
            reason: w.health_reason.clone(),
            last_activity_at: w.last_activity_at,
            last_activity_source: w.last_activity_source.clone(),
            live: w.live.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PmMetrics {
    pub ticks: u64,
    pub workers_completed: u64,
    pub workers_failed: u64,
    pub success_rate: Option<f64>,
    /// Health transitions observed, by the state entered.
    pub detections: BTreeMap<String, u64>,
    pub interventions: BTreeMap<String, u64>,
    pub last_tick_micros: u64,
}

/// The PM's state (in memory; written to pm-state.json).
#[derive(Debug)]
pub struct PmState {
    pub(crate) workers: HashMap<WorkerId, PmWorker>,
    pub(crate) metrics: PmMetrics,
    expert_failures: HashMap<String, Vec<DateTime<Utc>>>,
    /// Experts paused by their circuit breaker, until the window passes.
    pub(crate) paused_experts: BTreeMap<String, DateTime<Utc>>,
    coalescer: Coalescer,
    last_tick: Option<DateTime<Utc>>,
    /// When the process table and transcripts were last sampled.
    last_sample: Option<DateTime<Utc>>,
    dirty: bool,
    /// When pm-state.json was last written.
    last_written: Option<DateTime<Utc>>,
}

impl PmState {
    pub(crate) fn new(coalesce_window_millis: u64) -> Self {
        Self {
            workers: HashMap::new(),
            metrics: PmMetrics::default(),
            expert_failures: HashMap::new(),
            paused_experts: BTreeMap::new(),
            coalescer: Coalescer::new(coalesce_window_millis),
            last_tick: None,
            last_sample: None,
            dirty: true,
            last_written: None,
        }
    }
}

/// An expert paused by its circuit breaker, and until when.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct PausedExpert {
    pub expert: String,
    pub until: DateTime<Utc>,
}

pub(crate) fn paused_list(map: BTreeMap<String, DateTime<Utc>>) -> Vec<PausedExpert> {
    map.into_iter()
        .map(|(expert, until)| PausedExpert { expert, until })
        .collect()
}

/// The answer to `cortex resume EXPERT`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CircuitAck {
    pub expert: String,
    /// False when the expert was not paused (nothing changed).
    pub was_open: bool,
}

/// The experts paused by a live owner, as its pm-state.json says; none when
/// no owner is running (a circuit breaker lives in its owner's memory).
pub fn paused_experts_of(home: &crate::Home, now: DateTime<Utc>) -> Vec<PausedExpert> {
    let Some(owner) = crate::lock::current_owner(&home.lock_file()) else {
        return Vec::new();
    };
    let Ok(bytes) = std::fs::read(home.pm_snapshot()) else {
        return Vec::new();
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return Vec::new();
    };
    if v["pm"]["pid"].as_u64() != Some(u64::from(owner.pid)) {
        return Vec::new(); // written by an owner that is gone
    }
    let map: BTreeMap<String, DateTime<Utc>> =
        serde_json::from_value(v["paused_experts"].clone()).unwrap_or_default();
    paused_list(map.into_iter().filter(|(_, until)| *until > now).collect())
}

/// pm-state.json, as the owner writes it.
#[derive(Serialize)]
struct PmStateFile<'a> {
    metrics: &'a PmMetrics,
    paused_experts: &'a BTreeMap<String, DateTime<Utc>>,
    pm: PmOwner,
    schema_version: u32,
    updated_at: DateTime<Utc>,
    /// By worker id, in order.
    workers: BTreeMap<&'a str, &'a PmWorker>,
}

/// Which owner wrote pm-state.json, and how many PM ticks it had run.
#[derive(Serialize)]
struct PmOwner {
    pid: u32,
    ticks: u64,
}

/// One line of pm-activity.jsonl.
#[derive(Debug, Serialize)]
struct ActivityLine<'a> {
    v: u32,
    at: DateTime<Utc>,
    event: &'a str,
    worker_id: Option<&'a WorkerId>,
    task_id: Option<&'a TaskId>,
    attempt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<&'a str>,
    message: &'a str,
}

/// Where Claude Code keeps a session's transcript for a workdir.
fn transcript_path(
    agent_home: &std::path::Path,
    workdir: &str,
    session: &str,
) -> std::path::PathBuf {
    let slug: String = workdir
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    agent_home
        .join(".claude")
        .join("projects")
        .join(slug)
        .join(format!("{session}.jsonl"))
}

/// Samples kept for the CPU rate.
const CPU_WINDOW_SECS: i64 = 5;

/// Adds a sample; true when the tree used at least `percent` of a core over
/// the window (at least half a second of it).
fn busy(
    samples: &mut VecDeque<(DateTime<Utc>, u64)>,
    now: DateTime<Utc>,
    ticks: u64,
    tps: u64,
    percent: f64,
) -> bool {
    samples.push_back((now, ticks));
    while samples.len() > 2 && samples[1].0 <= now - chrono::Duration::seconds(CPU_WINDOW_SECS) {
        samples.pop_front();
    }
    let (t0, c0) = samples[0];
    let span = (now - t0).num_milliseconds() as f64 / 1000.0;
    if span < 0.5 {
        return false;
    }
    let used = ticks.saturating_sub(c0) as f64 / tps.max(1) as f64;
    used / span * 100.0 >= percent
}

impl Engine {
    pub(crate) fn pm(&self) -> std::sync::MutexGuard<'_, PmState> {
        self.inner.pm.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pm_log(&self, line: &ActivityLine<'_>) {
        if let Ok(v) = serde_json::to_value(line) {
            if let Err(e) = crate::snapshot::append_line(&self.inner.home.pm_activity(), &v) {
                warn!("cannot write pm-activity.jsonl: {e}");
            }
        }
    }

    /// A pm-activity.jsonl line about an expert's circuit breaker.
    fn pm_log_circuit(&self, at: DateTime<Utc>, event: &str, message: &str) {
        self.pm_log(&ActivityLine {
            v: 1,
            at,
            event,
            worker_id: None,
            task_id: None,
            attempt: None,
            from: None,
            to: None,
            message,
        });
    }

    /// Sends an alert through the coalescer to subscribers.
    pub(crate) fn raise_alert(&self, alert: Alert) {
        let now = alert.at;
        let out = self.pm().coalescer.push(alert, now);
        for a in out {
            self.emit(EngineEvent::Alert { alert: a });
        }
    }

    /// Counts a failed attempt against its expert's circuit breaker; opens
    /// it (pausing the expert and alerting) when the limit is reached.
    pub(crate) fn note_failure(&self, expert: &str, now: DateTime<Utc>) {
        let cfg = self.config().restart;
        let opened = {
            let mut pm = self.pm();
            let list = pm.expert_failures.entry(expert.to_string()).or_default();
            list.push(now);
            let window = duration::secs(cfg.circuit_window_secs);
            let since = duration::earlier(now, window);
            list.retain(|t| *t > since);
            let open = circuit_open(list, cfg.circuit_failures, cfg.circuit_window_secs, now);
            let newly = open && !pm.paused_experts.contains_key(expert);
            if newly {
                pm.paused_experts
                    .insert(expert.to_string(), duration::later(now, window));
                pm.dirty = true;
                *pm.metrics
                    .interventions
                    .entry("circuit_breaker".into())
                    .or_default() += 1;
            }
            newly
        };
        if opened {
            let message = format!(
                "{} failures of {expert} within {}s: {expert} is paused until the window passes (`cortex resume {expert}` closes the circuit breaker now)",
                cfg.circuit_failures, cfg.circuit_window_secs
            );
            warn!(expert, "{message}");
            self.pm_log_circuit(now, "circuit_breaker_opened", &message);
            self.raise_alert(Alert {
                at: now,
                severity: Severity::Critical,
                kind: AlertKind::CircuitBreaker,
                worker_id: None,
                task_id: None,
                attempt: None,
                message,
                summarized: vec![],
            });
            // Views in other processes read it from pm-state.json: now,
            // not at the next tick.
            self.write_pm_state_now(now);
        }
    }

    /// Experts whose circuit breaker is open now.
    pub(crate) fn open_circuits(&self, now: DateTime<Utc>) -> Vec<String> {
        self.paused_until(now).into_keys().collect()
    }

    /// Experts whose circuit breaker is open now, with when it closes.
    pub(crate) fn paused_until(&self, now: DateTime<Utc>) -> BTreeMap<String, DateTime<Utc>> {
        let mut pm = self.pm();
        let before = pm.paused_experts.len();
        pm.paused_experts.retain(|_, until| *until > now);
        if pm.paused_experts.len() != before {
            pm.dirty = true;
        }
        pm.paused_experts.clone()
    }

    /// Experts paused by their circuit breaker, for status views.
    pub fn paused_experts_now(&self) -> Vec<PausedExpert> {
        paused_list(self.paused_until(clock::now()))
    }

    /// A person closes an expert's circuit breaker (`cortex resume EXPERT`):
    /// its failures so far are forgotten and its tasks may start again.
    pub fn close_circuit(&self, expert: &str) -> Result<CircuitAck, EngineError> {
        if self.settings().1.get(expert).is_none() {
            return Err(EngineError::UnknownExpert {
                given: expert.to_string(),
                known: self.settings().1.names(),
            });
        }
        let now = clock::now();
        let was_open = {
            let mut pm = self.pm();
            pm.expert_failures.remove(expert);
            let was = pm
                .paused_experts
                .remove(expert)
                .is_some_and(|until| until > now);
            pm.dirty = true;
            was
        };
        if was_open {
            let message = format!("a person closed the circuit breaker of {expert}");
            info!(expert, "{message}");
            self.pm_log_circuit(now, "circuit_breaker_closed", &message);
            *self
                .pm()
                .metrics
                .interventions
                .entry("circuit_breaker_closed_by_person".into())
                .or_default() += 1;
        }
        self.write_pm_state_now(now);
        self.release_circuit_waits(now)?;
        self.store().sync()?;
        self.write_pm_state(now);
        Ok(CircuitAck {
            expert: expert.to_string(),
            was_open,
        })
    }

    /// Records how a worker ended, for the success rate.
    pub(crate) fn pm_worker_ended(&self, id: &WorkerId, status: WorkerStatus) {
        let mut pm = self.pm();
        match status {
            WorkerStatus::Completed => pm.metrics.workers_completed += 1,
            WorkerStatus::Failed => pm.metrics.workers_failed += 1,
            _ => {}
        }
        let done = pm.metrics.workers_completed + pm.metrics.workers_failed;
        pm.metrics.success_rate =
            (done > 0).then(|| pm.metrics.workers_completed as f64 / done as f64);
        pm.workers.remove(id);
        pm.dirty = true;
    }

    /// The PM's verdict on a worker's attempt, if it watches it.
    pub(crate) fn pm_health(&self, id: &WorkerId, attempt: u32) -> Option<PmVerdict> {
        self.pm()
            .workers
            .get(id)
            .filter(|w| w.attempt == attempt)
            .map(PmVerdict::of)
    }

    /// Sends every alert the coalescer holds, due or not: the engine is
    /// stopping, and a held alert would otherwise never be seen.
    pub(crate) fn release_alerts(&self) {
        let released = self.pm().coalescer.release(clock::now());
        for a in released {
            self.emit(EngineEvent::Alert { alert: a });
        }
    }

    /// One PM tick, if one is due (`pm.tick_millis`). Also releases held alerts.
    pub fn tick_pm(&self) -> Result<(), EngineError> {
        let now = clock::now();
        let config = self.config();
        {
            let mut pm = self.pm();
            let released = pm.coalescer.flush(now);
            drop(pm);
            for a in released {
                self.emit(EngineEvent::Alert { alert: a });
            }
        }
        let due = {
            let pm = self.pm();
            // A quarter tick of slack: the loop that calls us runs at the same
            // period, and jitter must not make every other call miss.
            let tick = config.pm.tick_millis;
            pm.last_tick
                .is_none_or(|t| now - t >= duration::millis(tick - tick / 4))
        };
        if !due {
            return Ok(());
        }
        let started = std::time::Instant::now();
        // CPU and transcript sampling: often enough for the thresholds
        // (a tenth of `late_after`), never more than once a tick, at least
        // every 5 s. Reading the whole process table is the PM's main cost.
        let sample_every = config
            .pm
            .late_after_secs
            .saturating_mul(100)
            .max(config.pm.tick_millis)
            .min(5000);
        let sample = {
            let mut pm = self.pm();
            let slack = duration::millis(sample_every - sample_every / 4);
            let due = pm.last_sample.is_none_or(|t| now - t >= slack);
            if due {
                pm.last_sample = Some(now);
            }
            due
        };
        let table = if sample {
            procfs::ProcessTable::read()
        } else {
            procfs::ProcessTable::default()
        };
        let tps = procfs::ticks_per_second();
        let agent_home = config
            .agent
            .env
            .get("HOME")
            .map(std::path::PathBuf::from)
            .or_else(dirs::home_dir)
            .unwrap_or_default();
        let experts = self.settings().1.clone();
        let prices = cortex_core::pricing::merged(&config.pricing);
        let circuits = self.open_circuits(now);
        // Gather views and observations under the runtime lock, decide after.
        let mut batch: Vec<(WorkerView, Observations, TaskId, String)> = Vec::new();
        {
            // Read in place, in the order store, runtime, PM (no worker is
            // copied: a tick costs what the watched workers need, no more).
            let store = self.store();
            let state = store.state();
            let running = |id: &WorkerId| {
                state
                    .worker(id)
                    .filter(|w| w.status == WorkerStatus::Running)
            };
            let rt = self.inner.runtime.lock().unwrap_or_else(|e| e.into_inner());
            let mut pm = self.pm();
            let mut changed = false;
            for (id, live) in &rt.live {
                let Some(w) = running(id) else {
                    continue;
                };
                // From the process table when it was read this tick; a child
                // of ours otherwise counts as alive (its end wakes the owner
                // through its pidfd and the runtime settles it); only an
                // adopted process is looked up on its own.
                let alive = live.exited.is_none()
                    && table
                        .running(live.pid)
                        .unwrap_or_else(|| live.child.is_some() || procfs::is_running(live.pid));
                if live.stop.is_some() || !alive {
                    // Being stopped, or already gone: the runtime settles an
                    // exited process from its exit status and output.
                    continue;
                }
                let entry = pm.workers.entry(id.clone()).or_insert_with(|| {
                    changed = true;
                    PmWorker {
                        task_id: w.task_id.clone(),
                        expert: w.expert.clone(),
                        attempt: live.attempt,
                        health: Health::Starting,
                        health_since: now,
                        health_reason: "started".into(),
                        last_activity_at: None,
                        last_activity_source: None,
                        restarts_used: w.restarts(),
                        time_warnings_sent: Vec::new(),
                        budget_warned: false,
                        extensions_used: 0,
                        nudges_used: 0,
                        nudged_at: None,
                        interventions: Vec::new(),
                        live: None,
                        cpu_samples: VecDeque::new(),
                        cpu_progress_at: None,
                        transcript_len: None,
                        transcript_growth_at: None,
                    }
                });
                if entry.attempt != live.attempt {
                    changed = true;
                    // A new attempt starts fresh; time warnings carry over.
                    entry.attempt = live.attempt;
                    entry.health = Health::Starting;
                    entry.health_since = now;
                    entry.restarts_used = w.restarts();
                    entry.cpu_samples.clear();
                    entry.cpu_progress_at = None;
                    entry.nudged_at = None;
                }
                if let Some(ticks) = table.tree_cpu_ticks(live.pid) {
                    if busy(
                        &mut entry.cpu_samples,
                        now,
                        ticks,
                        tps,
                        config.pm.busy_cpu_percent,
                    ) {
                        entry.cpu_progress_at = Some(now);
                    }
                }
                if let (true, Some(session)) = (sample, &w.session_id) {
                    let p = transcript_path(&agent_home, &w.workdir, session);
                    if let Ok(len) = std::fs::metadata(&p).map(|m| m.len()) {
                        if entry.transcript_len.is_some_and(|prev| len > prev) {
                            entry.transcript_growth_at = Some(now);
                        }
                        entry.transcript_len = Some(len);
                    }
                }
                let mut view = WorkerView {
                    worker_id: id.clone(),
                    attempt: live.attempt,
                    attempt_started_at: live.started_at,
                    worker_started_at: w.attempts.first().map_or(live.started_at, |a| a.started_at),
                    time_limit_secs: 3600,
                    extended_secs: w.extended_secs,
                    extensions_used: entry.extensions_used,
                    max_extensions: 0,
                    extension_secs: 0,
                    restarts_used: w.restarts(),
                    max_restarts: 0,
                    token_budget: None,
                    cost_budget_usd: None,
                    health: entry.health,
                    time_warnings_sent: entry.time_warnings_sent.clone(),
                    budget_warned: entry.budget_warned,
                    circuit_open: circuits.contains(&w.expert),
                    nudges_used: entry.nudges_used,
                };
                if let Some(e) = experts.get(&w.expert) {
                    view.limits_from(e);
                }
                let obs = Observations {
                    process_alive: alive,
                    last_output_at: live.progress.last_line_at,
                    last_hook_at: live.last_hook_at,
                    last_checkin_at: live.progress.last_checkin_at,
                    last_cpu_progress_at: entry.cpu_progress_at,
                    last_transcript_growth_at: entry.transcript_growth_at,
                    nudged_at: entry.nudged_at,
                    activity: live.progress.activity.clone(),
                    tokens: w.tokens.input
                        + w.tokens.output
                        + live.progress.tokens.input
                        + live.progress.tokens.output,
                    cost_usd: w.cost_usd + crate::runtime::live_cost(live, &prices).0,
                };
                let (last, source) = health::last_sign_of_life(&view, &obs);
                if entry.last_activity_at != Some(last)
                    || entry.last_activity_source.as_deref() != Some(source)
                {
                    entry.last_activity_at = Some(last);
                    entry.last_activity_source = Some(source.to_string());
                    changed = true;
                }
                // The summary is rebuilt only when the stream moved.
                let stale = entry.live.as_ref().is_none_or(|s| {
                    s.lines != live.progress.lines
                        || s.tokens != live.progress.tokens
                        || s.activity != live.progress.activity
                });
                if stale {
                    entry.live = Some(crate::runtime::LiveSummary::of(live, &prices));
                    changed = true;
                }
                batch.push((view, obs, w.task_id.clone(), w.expert.clone()));
            }
            let before = pm.workers.len();
            pm.workers
                .retain(|id, _| rt.live.contains_key(id) || running(id).is_some());
            changed |= pm.workers.len() != before;
            pm.metrics.ticks += 1;
            pm.last_tick = Some(now);
            // Only what changed makes the file due (see `write_pm_state`).
            if changed {
                pm.dirty = true;
            }
        }
        for (view, obs, task_id, expert) in batch {
            for action in health::decide(&config.pm, &view, &obs, now) {
                self.apply_action(action, &task_id, &expert, now)?;
            }
        }
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.pm().metrics.last_tick_micros = micros;
        self.write_pm_state(now);
        Ok(())
    }

    pub(crate) fn apply_action(
        &self,
        action: Action,
        task_id: &TaskId,
        expert: &str,
        now: DateTime<Utc>,
    ) -> Result<(), EngineError> {
        // Every action changes what pm-state.json says.
        self.pm().dirty = true;
        let note = |engine: &Engine, w: &WorkerId, attempt: u32, kind: &str, message: &str| {
            let mut pm = engine.pm();
            *pm.metrics
                .interventions
                .entry(kind.to_string())
                .or_default() += 1;
            if let Some(pw) = pm.workers.get_mut(w) {
                pw.interventions.push(Intervention {
                    at: now,
                    attempt,
                    kind: kind.to_string(),
                    message: message.to_string(),
                });
            }
        };
        match action {
            Action::Transition {
                worker_id,
                attempt,
                from,
                to,
                reason,
            } => {
                {
                    let mut pm = self.pm();
                    *pm.metrics.detections.entry(to.as_str().into()).or_default() += 1;
                    if let Some(pw) = pm.workers.get_mut(&worker_id) {
                        pw.health = to;
                        pw.health_since = now;
                        pw.health_reason.clone_from(&reason);
                    }
                }
                info!(worker_id = %worker_id, attempt, from = from.as_str(), to = to.as_str(), "{reason}");
                self.pm_log(&ActivityLine {
                    v: 1,
                    at: now,
                    event: "health",
                    worker_id: Some(&worker_id),
                    task_id: Some(task_id),
                    attempt: Some(attempt),
                    from: Some(from.as_str()),
                    to: Some(to.as_str()),
                    message: &reason,
                });
                self.emit_worker(&worker_id);
            }
            Action::Alert {
                worker_id,
                attempt,
                kind,
                severity,
                message,
            } => {
                self.pm_log(&ActivityLine {
                    v: 1,
                    at: now,
                    event: "alert",
                    worker_id: Some(&worker_id),
                    task_id: Some(task_id),
                    attempt: Some(attempt),
                    from: None,
                    to: None,
                    message: &message,
                });
                self.raise_alert(Alert {
                    at: now,
                    severity,
                    kind,
                    worker_id: Some(worker_id),
                    task_id: Some(task_id.clone()),
                    attempt: Some(attempt),
                    message,
                    summarized: vec![],
                });
            }
            Action::Nudge { worker_id, attempt } => {
                note(self, &worker_id, attempt, "nudge", "nudged after stalling");
                if let Some(pw) = self.pm().workers.get_mut(&worker_id) {
                    pw.nudges_used += 1;
                    pw.nudged_at = Some(now);
                }
                self.nudge_worker(
                    worker_id.as_str(),
                    "You seem to be stuck. Say what you are waiting for, or continue the task.",
                )?;
            }
            Action::Kill {
                worker_id,
                attempt,
                kind,
                reason,
                restart,
            } => {
                let what = if restart { "kill_and_restart" } else { "kill" };
                note(self, &worker_id, attempt, what, &reason);
                self.pm_log(&ActivityLine {
                    v: 1,
                    at: now,
                    event: what,
                    worker_id: Some(&worker_id),
                    task_id: Some(task_id),
                    attempt: Some(attempt),
                    from: None,
                    to: None,
                    message: &reason,
                });
                let after = if restart {
                    AfterStop::RestartAfterBackoff
                } else {
                    AfterStop::End(WorkerStatus::Failed)
                };
                let stopped = self.request_stop(&worker_id, Some(attempt), kind, &reason, after);
                if stopped && kind != OutcomeKind::Budget && kind != OutcomeKind::TimedOut {
                    self.note_failure(expert, now);
                }
            }
            Action::Extend {
                worker_id,
                attempt,
                secs,
            } => {
                note(
                    self,
                    &worker_id,
                    attempt,
                    "extend",
                    &format!("extended by {secs}s"),
                );
                if let Some(pw) = self.pm().workers.get_mut(&worker_id) {
                    pw.extensions_used += 1;
                }
                self.store().commit(
                    Event::WorkerExtended {
                        worker_id: worker_id.clone(),
                        secs,
                    },
                    now,
                )?;
                self.pm_log(&ActivityLine {
                    v: 1,
                    at: now,
                    event: "extend",
                    worker_id: Some(&worker_id),
                    task_id: Some(task_id),
                    attempt: Some(attempt),
                    from: None,
                    to: None,
                    message: &format!("extended by {secs}s while making progress"),
                });
            }
            Action::TimeWarningSent {
                worker_id, level, ..
            } => {
                if let Some(pw) = self.pm().workers.get_mut(&worker_id) {
                    pw.time_warnings_sent.push(level);
                }
            }
            Action::BudgetWarningSent { worker_id, .. } => {
                if let Some(pw) = self.pm().workers.get_mut(&worker_id) {
                    pw.budget_warned = true;
                }
            }
        }
        Ok(())
    }

    /// Records a person's intervention in pm-activity.jsonl and the metrics.
    pub(crate) fn record_intervention(&self, worker_id: &WorkerId, kind: &str, message: &str) {
        *self
            .pm()
            .metrics
            .interventions
            .entry(format!("{kind}_by_person"))
            .or_default() += 1;
        self.pm_log(&ActivityLine {
            v: 1,
            at: clock::now(),
            event: kind,
            worker_id: Some(worker_id),
            task_id: None,
            attempt: None,
            from: None,
            to: None,
            message,
        });
    }

    /// A person extends a worker's time limit.
    pub fn extend_worker(
        &self,
        id: &str,
        minutes: u64,
    ) -> Result<crate::runtime::WorkerDto, EngineError> {
        if minutes == 0 || minutes > 24 * 60 {
            return Err(EngineError::BadValue(format!(
                "--minutes {minutes} is out of range, expected 1 to 1440"
            )));
        }
        let w = self.worker_record(id)?;
        if w.status.is_terminal() {
            return Err(crate::runtime::ended(&w, "extend"));
        }
        let wid = w.id;
        let now = clock::now();
        self.store().commit(
            Event::WorkerExtended {
                worker_id: wid.clone(),
                secs: minutes * 60,
            },
            now,
        )?;
        let message = format!("a person extended the time limit by {minutes} min");
        self.pm_log(&ActivityLine {
            v: 1,
            at: now,
            event: "extend",
            worker_id: Some(&wid),
            task_id: None,
            attempt: None,
            from: None,
            to: None,
            message: &message,
        });
        info!(worker_id = %wid, minutes, "time limit extended by a person");
        *self
            .pm()
            .metrics
            .interventions
            .entry("extend_by_person".into())
            .or_default() += 1;
        self.emit_worker(&wid);
        self.worker(id)
            .ok_or_else(|| EngineError::UnknownWorker(id.to_string()))
    }

    /// Writes pm-state.json (compact): when something in it changed, at
    /// most once a second, so views in other processes are at most about a
    /// second behind; and every half minute anyway as the PM's sign of life.
    /// It is derived state, rebuilt by the next tick, so it is not fsynced:
    /// an idle app does not touch the disk.
    /// `write_pm_state` at once, whenever it last wrote: for a change other
    /// processes must see now (a circuit breaker opened or closed).
    fn write_pm_state_now(&self, now: DateTime<Utc>) {
        self.pm().last_written = None;
        self.write_pm_state(now);
    }

    fn write_pm_state(&self, now: DateTime<Utc>) {
        const SIGN_OF_LIFE_SECS: i64 = 30;
        const MIN_GAP_MILLIS: i64 = 1000;
        let body = {
            let mut pm = self.pm();
            let since = pm.last_written.map(|t| now - t);
            let stale = since.is_none_or(|d| d >= chrono::Duration::seconds(SIGN_OF_LIFE_SECS));
            let may = since.is_none_or(|d| d >= chrono::Duration::milliseconds(MIN_GAP_MILLIS));
            if !(stale || pm.dirty && may) {
                return;
            }
            pm.dirty = false;
            pm.last_written = Some(now);
            // Serialized straight from the PM's own data (no JSON tree of a
            // few thousand nodes per worker built and freed every second).
            serde_json::to_vec(&PmStateFile {
                metrics: &pm.metrics,
                paused_experts: &pm.paused_experts,
                pm: PmOwner {
                    pid: std::process::id(),
                    ticks: pm.metrics.ticks,
                },
                schema_version: cortex_core::SCHEMA_VERSION,
                updated_at: now,
                workers: pm.workers.iter().map(|(k, v)| (k.as_str(), v)).collect(),
            })
            .unwrap_or_default()
        };
        if let Err(e) = crate::snapshot::replace(&self.inner.home.pm_snapshot(), &body) {
            warn!("cannot write pm-state.json: {e}");
        }
    }

    /// Writes pm-state.json now if anything in it is unwritten (when the
    /// owner stops: the last second of changes is not left out).
    pub(crate) fn flush_pm_state(&self) {
        {
            let mut pm = self.pm();
            if !pm.dirty {
                return;
            }
            pm.last_written = None;
        }
        self.write_pm_state(clock::now());
    }

    /// PM metrics, for status views.
    pub fn pm_metrics(&self) -> PmMetrics {
        self.pm().metrics.clone()
    }
}

#[cfg(test)]
mod tests {
    use crate::{Engine, Home, OwnerKind};

    fn written(engine: &Engine) -> Option<chrono::DateTime<chrono::Utc>> {
        engine.pm().last_written
    }

    #[test]
    fn pm_state_is_written_when_it_changed_and_at_most_once_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.init().unwrap();
        let engine = Engine::open(&home, OwnerKind::Run).unwrap();
        let t0 = crate::clock::now();
        engine.write_pm_state(t0);
        assert!(home.pm_snapshot().exists());
        assert_eq!(written(&engine), Some(t0));
        // Nothing changed: nothing written, tick after tick.
        engine.tick_pm().unwrap();
        engine.write_pm_state(t0 + chrono::Duration::milliseconds(1500));
        assert_eq!(written(&engine), Some(t0), "unchanged state rewritten");
        // A change within the second waits for the second to pass.
        engine.pm().dirty = true;
        let soon = t0 + chrono::Duration::milliseconds(300);
        engine.write_pm_state(soon);
        assert_eq!(written(&engine), Some(t0), "written twice within a second");
        let later = t0 + chrono::Duration::milliseconds(1100);
        engine.write_pm_state(later);
        assert_eq!(written(&engine), Some(later), "a change is written");
        let text = std::fs::read_to_string(home.pm_snapshot()).unwrap();
        assert!(!text.contains('\n'), "compact");
        engine.close().unwrap();
    }
}
