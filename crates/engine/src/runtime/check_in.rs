//! Check-ins: what `cortex heartbeat` (run by an agent's hook) writes, and how a worker's
//! check-in file is found and read.
//!
//! May depend on: the runtime's types (`super`), files.

use super::*;

/// A check-in written by `cortex heartbeat` (hooks and scripts).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The check-in format's version.
    pub v: u32,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// The attempt it is about (`--attempt`, else `CORTEX_ATTEMPT`); None when neither was known.
    pub attempt: Option<u32>,
    /// The Claude Code hook event that fired, for a hook's check-in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    /// The tool the hook was about, from the hook's JSON on stdin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// Progress in percent, as the agent reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    /// A short message from the agent (at most 500 characters).
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
