//! Read-side views for people: the overview, a worker's transcript, recent
//! routing decisions and PM activity, settings and `doctor`. The desktop
//! shell calls these; they read what the engine already keeps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use cortex_core::config::{Config, ConfigError};
use cortex_core::id::WorkerId;
use cortex_core::transcript::{entries, EntryKind};
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::engine::Engine;
use crate::error::EngineError;

/// Counts and totals for the dashboard and the tray.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Overview {
    pub tasks: BTreeMap<String, usize>,
    pub workers: BTreeMap<String, usize>,
    /// Live workers by the PM's health.
    pub health: BTreeMap<String, usize>,
    pub paused: bool,
    /// Experts paused by their circuit breaker, and until when.
    #[serde(default)]
    pub paused_experts: Vec<crate::pm::PausedExpert>,
    pub success_rate: Option<f64>,
    pub cost_today_usd: f64,
    pub tokens_today: u64,
    pub now: DateTime<Utc>,
}

/// One transcript entry of a worker, with its attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TranscriptEntry {
    pub attempt: u32,
    pub kind: EntryKind,
    pub text: String,
}

/// What `cortex doctor` and the Settings page show.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Doctor {
    pub agent_command: Vec<String>,
    /// The program that will run, resolved through PATH.
    pub agent_resolved: Option<String>,
    pub agent_version: Option<String>,
    pub home: String,
    pub path: String,
}

/// The last `limit` JSON lines of a file, oldest first.
fn tail_json(path: &Path, limit: usize) -> Vec<serde_json::Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(limit);
    lines[start..]
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Finds a program on PATH (or checks an explicit path).
pub fn resolve_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return p.is_file().then_some(p);
    }
    std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(program))
                .find(|p| p.is_file())
        })
        .unwrap_or(None)
}

/// Runs `program --version` with a deadline; its first line, if any.
fn version_of(program: &Path) -> Option<String> {
    let mut child = std::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let out = child.wait_with_output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
}

impl Engine {
    /// The dashboard's numbers.
    pub fn overview(&self) -> Overview {
        let now = clock::now();
        let today = now.date_naive();
        let (tasks, workers, paused, cost, tokens) = {
            let store = self.store();
            let state = store.state();
            let s = crate::engine::status_of(state);
            let mut cost = 0.0;
            let mut tokens = 0u64;
            for w in state.workers() {
                for a in &w.attempts {
                    if let Some(o) = &a.outcome {
                        if a.ended_at.is_some_and(|t| t.date_naive() == today) {
                            cost += o.cost_usd;
                            tokens += o.tokens.input + o.tokens.output;
                        }
                    }
                }
            }
            (s.tasks, s.workers, state.spawning_paused, cost, tokens)
        };
        let health = crate::engine::health_counts(&self.workers());
        Overview {
            tasks,
            workers,
            health,
            paused,
            paused_experts: self.paused_experts_now(),
            success_rate: self.pm_metrics().success_rate,
            cost_today_usd: cost,
            tokens_today: tokens,
            now,
        }
    }

    /// A worker's transcript, every attempt, readable.
    pub fn transcript(&self, worker: &str) -> Result<Vec<TranscriptEntry>, EngineError> {
        let id = WorkerId::parse(worker)
            .ok_or_else(|| EngineError::UnknownWorker(worker.to_string()))?;
        let attempts = self
            .store()
            .state()
            .worker(&id)
            .map(|w| w.attempts.iter().map(|a| a.n).collect::<Vec<_>>())
            .ok_or_else(|| EngineError::UnknownWorker(worker.to_string()))?;
        let mut out = Vec::new();
        for n in attempts {
            let path = self
                .inner
                .home
                .workers_dir()
                .join(id.as_str())
                .join(format!("attempt-{n}"))
                .join("stdout.jsonl");
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                out.extend(entries(line).into_iter().map(|e| TranscriptEntry {
                    attempt: n,
                    kind: e.kind,
                    text: cortex_core::redact::redact(&e.text),
                }));
            }
        }
        Ok(out)
    }

    /// The latest routing decisions, newest last.
    pub fn recent_decisions(&self, limit: usize) -> Vec<serde_json::Value> {
        tail_json(&self.inner.home.routing_log(), limit)
    }

    /// The latest PM transitions and interventions, newest last.
    pub fn recent_activity(&self, limit: usize) -> Vec<serde_json::Value> {
        tail_json(&self.inner.home.pm_activity(), limit)
    }

    /// Validates and saves `config.json`, then applies it to this engine.
    /// On error nothing is written, and the error names the key.
    pub fn save_config(&self, text: &str) -> Result<Config, EngineError> {
        let config = Config::parse(text)?;
        let experts = self.settings().1.clone();
        config.validate_against(&experts)?;
        let pretty = serde_json::to_vec_pretty(&config)
            .map_err(|e| EngineError::encode("config.json", &e))?;
        crate::snapshot::write_atomic(&self.inner.home.config_file(), &pretty)?;
        self.apply_settings(config.clone(), experts);
        Ok(config)
    }

    /// Which agent will run, its version, the home.
    pub fn doctor(&self) -> Doctor {
        doctor_for(&self.inner.home, self.agent_command())
    }
}

/// `doctor` for a home and an agent command, without owning the home.
pub fn doctor_for(home: &crate::Home, command: Vec<String>) -> Doctor {
    let resolved = command.first().and_then(|p| resolve_program(p));
    Doctor {
        agent_version: resolved.as_deref().and_then(version_of),
        agent_resolved: resolved.map(|p| p.display().to_string()),
        agent_command: command,
        home: home.root().display().to_string(),
        path: std::env::var("PATH").unwrap_or_default(),
    }
}

/// Shows a config error as the Settings page does: file, key, message.
pub fn config_error_fields(e: &ConfigError) -> (String, Option<String>, String) {
    (e.file.clone(), e.key.clone(), e.message.clone())
}
