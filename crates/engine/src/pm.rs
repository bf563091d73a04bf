//! The PM: its picture of each worker and its metrics (here), its tick
//! (`tick`), the circuit breaker (`circuit`) and `pm-state.json`
//! (`state_file`).
//!
//! The PM loop: samples every live attempt's signals once per tick, asks the
//! pure policy (`cortex_core::health::decide`) what they mean, and carries
//! out its actions. Every transition and intervention is a line in
//! `pm-activity.jsonl`; `pm-state.json` holds the per-worker picture and the
//! metrics. The cost per tick is one read of the process table plus a few
//! reads per worker, so it stays flat per worker as the fleet grows.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use cortex_core::alerts::Coalescer;
use cortex_core::health::Health;
use cortex_core::id::{TaskId, WorkerId};
use cortex_core::stream::{Activity, Tokens};
use serde::Serialize;

pub(crate) mod circuit;
pub(crate) mod state_file;
pub(crate) mod tick;

pub use circuit::{paused_experts_left, paused_experts_of, settings_refused_of};
pub(crate) use state_file::read_verdicts;

/// One intervention, as kept in pm-state.json.
#[derive(Debug, Clone, Serialize)]
pub struct Intervention {
    /// When the PM acted.
    pub at: DateTime<Utc>,
    /// The attempt it acted on.
    pub attempt: u32,
    /// What it did: `nudge`, `kill`, `kill_and_restart` or `extend`.
    pub kind: String,
    /// Why, or what it did, in words.
    pub message: String,
}

/// The PM's picture of one worker.
#[derive(Debug, Clone, Serialize)]
pub struct PmWorker {
    /// The task the worker runs.
    pub task_id: TaskId,
    /// The expert the worker runs as.
    pub expert: String,
    /// The attempt this picture is of (the live one).
    pub attempt: u32,
    /// The PM's judgement of the attempt (starting, healthy, late, stalled...).
    pub health: Health,
    /// When the worker entered that health.
    pub health_since: DateTime<Utc>,
    /// Why the PM says so, in words.
    pub health_reason: String,
    /// When the attempt last showed a sign of life.
    pub last_activity_at: Option<DateTime<Utc>>,
    /// Where that sign came from: `start`, `output`, `hook`, `check-in`, `cpu` or `transcript`.
    pub last_activity_source: Option<String>,
    /// Restarts used so far: attempts after the first.
    pub restarts_used: u32,
    /// Time-limit warning levels already sent, in percent of the limit (50, 75, 90).
    pub time_warnings_sent: Vec<u8>,
    /// The limit with its extensions, in seconds, those levels hold for.
    pub time_warnings_limit_secs: u64,
    /// True once the budget warning was sent.
    pub budget_warned: bool,
    /// Time-limit extensions the PM granted this worker.
    pub extensions_used: u32,
    /// Nudges sent to this worker, every attempt counted.
    pub nudges_used: u32,
    /// When the current attempt was last nudged.
    pub nudged_at: Option<DateTime<Utc>>,
    /// What the PM did to this worker, oldest first.
    pub interventions: Vec<Intervention>,
    /// What the attempt's stream says so far, for views in other processes
    /// (they read this instead of the whole output).
    pub live: Option<LiveSummary>,
    /// Recent (time, CPU ticks of the tree) samples, a few seconds' worth.
    #[serde(skip)]
    pub(crate) cpu_samples: VecDeque<(DateTime<Utc>, u64)>,
    #[serde(skip)]
    pub(crate) cpu_progress_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub(crate) transcript_len: Option<u64>,
    #[serde(skip)]
    pub(crate) transcript_growth_at: Option<DateTime<Utc>>,
    /// The last tick at which the attempt still waited in a cluster's queue.
    #[serde(skip)]
    pub(crate) queued_at: Option<DateTime<Utc>>,
    /// Since when the cluster has suspended the attempt's job, while it does
    /// (in pm-state.json, so every view says what the worker waits for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) suspended_at: Option<DateTime<Utc>>,
    /// When the cluster last resumed the attempt's job: a sign of life.
    #[serde(skip)]
    pub(crate) resumed_at: Option<DateTime<Utc>>,
}

/// What the PM says of one worker's attempt: the same in every view.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PmVerdict {
    pub(crate) health: Health,
    pub(crate) reason: String,
    pub(crate) last_activity_at: Option<DateTime<Utc>>,
    pub(crate) last_activity_source: Option<String>,
    pub(crate) live: Option<LiveSummary>,
    /// The cluster has suspended the attempt's job: what its wait is.
    pub(crate) suspended: bool,
}

impl PmVerdict {
    pub(crate) fn of(w: &PmWorker) -> Self {
        Self {
            health: w.health,
            reason: w.health_reason.clone(),
            last_activity_at: w.last_activity_at,
            last_activity_source: w.last_activity_source.clone(),
            live: w.live.clone(),
            suspended: w.suspended_at.is_some(),
        }
    }
}

/// The PM's counters since the owner started, as kept in pm-state.json.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PmMetrics {
    /// Ticks run.
    pub ticks: u64,
    /// Workers that ended completed.
    pub workers_completed: u64,
    /// Workers that ended failed.
    pub workers_failed: u64,
    /// Completed over completed and failed (0 to 1); None before any ended.
    pub success_rate: Option<f64>,
    /// Health transitions observed, by the state entered.
    pub detections: BTreeMap<String, u64>,
    /// Interventions made, by kind (`nudge`, `kill`, `kill_and_restart`, `extend`).
    pub interventions: BTreeMap<String, u64>,
    /// How long the latest tick took, in microseconds.
    pub last_tick_micros: u64,
}

/// Alerts kept for a window opened later (`Engine::recent_alerts`).
pub(crate) const RECENT_ALERTS: usize = 100;

/// The PM's state (in memory; written to pm-state.json).
#[derive(Debug)]
pub struct PmState {
    pub(crate) workers: HashMap<WorkerId, PmWorker>,
    pub(crate) metrics: PmMetrics,
    pub(crate) expert_failures: HashMap<String, Vec<DateTime<Utc>>>,
    /// Experts paused by their circuit breaker, until the window passes.
    pub(crate) paused_experts: BTreeMap<String, DateTime<Utc>>,
    pub(crate) coalescer: Coalescer,
    /// The latest alerts sent (at most `RECENT_ALERTS`), oldest first: a
    /// window opened later starts from them, not from an empty banner.
    pub(crate) recent_alerts: std::collections::VecDeque<cortex_core::alerts::Alert>,
    pub(crate) last_tick: Option<DateTime<Utc>>,
    /// When the process table and transcripts were last sampled.
    pub(crate) last_sample: Option<DateTime<Utc>>,
    pub(crate) dirty: bool,
    /// When pm-state.json was last written.
    pub(crate) last_written: Option<DateTime<Utc>>,
}

impl PmState {
    /// A picture with no workers yet; `paused_experts`: the circuit
    /// breakers still open, as the owner before left them.
    pub(crate) fn new(
        coalesce_window_millis: u64,
        paused_experts: BTreeMap<String, DateTime<Utc>>,
    ) -> Self {
        Self {
            workers: HashMap::new(),
            metrics: PmMetrics::default(),
            expert_failures: HashMap::new(),
            paused_experts,
            coalescer: Coalescer::new(coalesce_window_millis),
            recent_alerts: std::collections::VecDeque::new(),
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
    /// The expert's name.
    pub expert: String,
    /// When the breaker closes again and the expert's tasks may start.
    pub until: DateTime<Utc>,
}

/// The answer to `cortex resume EXPERT`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct CircuitAck {
    /// The expert named.
    pub expert: String,
    /// False when the expert was not paused (nothing changed).
    pub was_open: bool,
}

/// The activity line's event when settings edited on disk were refused
/// (the desktop app also notifies it).
pub const SETTINGS_REFUSED: &str = "settings_refused";

/// One line of pm-activity.jsonl.
#[derive(Debug, Serialize)]
pub(crate) struct ActivityLine<'a> {
    pub(crate) v: u32,
    pub(crate) at: DateTime<Utc>,
    pub(crate) event: &'a str,
    pub(crate) worker_id: Option<&'a WorkerId>,
    pub(crate) task_id: Option<&'a TaskId>,
    pub(crate) attempt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) from: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) to: Option<&'a str>,
    pub(crate) message: &'a str,
}

/// Where Claude Code keeps a session's transcript for a workdir.
pub(crate) fn transcript_path(
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
pub(crate) const CPU_WINDOW_SECS: i64 = 5;

/// Adds a sample; true when the tree used at least `percent` of a core over
/// the window (at least half a second of it).
pub(crate) fn busy(
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

/// What a live attempt's stream says so far, as the owner publishes it in
/// `pm-state.json` for views in other processes.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct LiveSummary {
    /// Lines of the agent's output stream read so far.
    pub lines: u64,
    /// Tokens the attempt used so far.
    pub tokens: Tokens,
    /// The attempt's cost so far, in US dollars.
    pub cost_usd: f64,
    /// True when that cost is Cortex's estimate from the tokens, not the agent's figure.
    pub cost_estimated: bool,
    /// What the agent is doing now.
    pub activity: Activity,
    /// The agent's most recent assistant text, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_text: Option<String>,
}

/// The PM's verdicts by worker id, with the attempt each is about.
pub(crate) type PmVerdicts = HashMap<String, (u32, PmVerdict)>;

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
