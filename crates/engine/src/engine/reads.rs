//! What the engine reads for views: the overview, transcripts, recent decisions and activity,
//! the doctor, configuration saves, and the subject of an alert.
//!
//! May depend on: `crate::views` (the pure derivations), the PM's picture, the store.

use crate::clock;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::views::{
    doctor_for, last_failure_at, spent_on_day, tail_json, worker_subject, Doctor, Overview,
    TranscriptEntry, RECENT_FAILURE_SECS,
};
use chrono::{DateTime, Utc};
use cortex_core::config::Config;
use cortex_core::id::WorkerId;
use cortex_core::transcript::{entries, EntryKind};

/// Output bytes a transcript reads at most, over all of a worker's
/// attempts: the app's view and `cortex logs` of a flood stay bounded.
pub(crate) const TRANSCRIPT_BYTES: u64 = 8_000_000;

impl Engine {
    /// The dashboard's numbers.
    pub fn overview(&self) -> Overview {
        let now = clock::now();
        let (tasks, paused, spent) = {
            let store = self.store();
            let state = store.state();
            let s = crate::engine::status_of(state);
            let spent = spent_on_day(state.workers(), now, &chrono::Local);
            (s.tasks, state.spawning_paused, spent)
        };
        let listed = self.workers();
        let workers = crate::engine::state_counts(&listed);
        let health = crate::engine::health_counts(&listed);
        Overview {
            tasks,
            workers,
            health,
            paused,
            paused_experts: self.paused_experts_now(),
            success_rate: self.pm_metrics().success_rate,
            cost_today_usd: spent.cost_usd,
            cost_today_estimated: spent.estimated,
            tokens_today: spent.tokens,
            now,
            recent_failure_at: self.recent_failure_at(now),
            agent_problem: self.agent_problem(),
            settings_refused: self.settings_refused(),
        }
    }

    /// Why the agent cannot run, when workers run on this machine and it
    /// cannot (`views::agent_problem`). A cluster's workers run the agent
    /// its nodes or image have: this machine's PATH says nothing of it.
    pub fn agent_problem(&self) -> Option<String> {
        self.runs_locally()
            .then(|| crate::views::agent_problem(&self.agent_command()))
            .flatten()
    }

    /// A worker's transcript, every attempt, readable: the end of its
    /// output, at most `TRANSCRIPT_BYTES` of it over all attempts, the
    /// newest first; an attempt whose output was cut starts with an entry
    /// (`left_out`) saying how much of it is not shown.
    pub fn transcript(&self, worker: &str) -> Result<Vec<TranscriptEntry>, EngineError> {
        let id = WorkerId::parse(worker)
            .ok_or_else(|| EngineError::UnknownWorker(worker.to_string()))?;
        let attempts = self
            .store()
            .state()
            .worker(&id)
            .map(|w| w.attempts.iter().map(|a| a.n).collect::<Vec<_>>())
            .ok_or_else(|| EngineError::UnknownWorker(worker.to_string()))?;
        let dir = self.inner.home.workers_dir().join(id.as_str());
        let mut budget = TRANSCRIPT_BYTES;
        let mut read = Vec::new();
        for &n in attempts.iter().rev() {
            let path = dir.join(format!("attempt-{n}")).join("stdout.jsonl");
            let end = crate::files::read_end(&path, budget).unwrap_or_default();
            // Cut, it was read to the budget's end (a cut line's end too).
            budget = if end.left_out > 0 {
                0
            } else {
                budget.saturating_sub(end.bytes.len() as u64)
            };
            read.push((n, end));
        }
        let mut out = Vec::new();
        for (n, end) in read.into_iter().rev() {
            if end.left_out > 0 {
                out.push(TranscriptEntry {
                    attempt: n,
                    kind: EntryKind::LeftOut,
                    text: left_out_words(n, end.left_out),
                });
            }
            let text = String::from_utf8_lossy(&end.bytes);
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                // Secrets hidden as each line is rendered, before a long
                // line is cut, so no part of one is shown.
                out.extend(entries(line).into_iter().map(|e| TranscriptEntry {
                    attempt: n,
                    kind: e.kind,
                    text: e.text,
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
        let _writing = self.settings_writing();
        let config = Config::parse(text)?;
        let experts = self.settings().1.clone();
        config.validate_against(&experts)?;
        let pretty = serde_json::to_vec_pretty(&config)
            .map_err(|e| EngineError::encode("config.json", &e))?;
        crate::snapshot::write_atomic(&self.inner.home.config_file(), &pretty)?;
        self.apply_settings(config.clone(), experts);
        self.settings_saved();
        Ok(config)
    }

    /// Which agent will run, its version, the home.
    pub fn doctor(&self) -> Doctor {
        doctor_for(&self.inner.home, self.agent_command())
    }
    /// Who an alert is about, named for a person (see `worker_subject`);
    /// none for a summary or an alert about no worker.
    pub fn alert_subject(&self, alert: &cortex_core::alerts::Alert) -> Option<String> {
        self.subject_of(alert.worker_id.as_ref()?)
    }

    /// A worker named for a person (see `worker_subject`).
    pub fn subject_of(&self, wid: &WorkerId) -> Option<String> {
        let store = self.store();
        let state = store.state();
        let w = state.worker(wid)?;
        let text = state.task(&w.task_id).map(|t| t.description.as_str());
        Some(cortex_core::redact::redact(&worker_subject(
            text,
            &w.expert,
            wid.as_str(),
        )))
    }

    /// The latest failure, if it happened in the last ten minutes.
    pub fn recent_failure_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let last = {
            let store = self.store();
            last_failure_at(store.state().workers().cloned())
        }?;
        ((now - last).num_seconds() < RECENT_FAILURE_SECS).then_some(last)
    }
}

/// What a transcript says of the output it left out of attempt `n`.
fn left_out_words(n: u32, bytes: u64) -> String {
    let amount = if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else {
        format!("{bytes} bytes")
    };
    format!(
        "{amount} of attempt {n}'s output before this is left out: a transcript shows the last {} MB of a worker's output (`cortex logs` prints all of it)",
        TRANSCRIPT_BYTES / 1_000_000
    )
}
