//! Read-side views for people: the overview, a worker's transcript, recent
//! routing decisions and PM activity, settings and `doctor`. The desktop
//! shell calls these; they read what the engine already keeps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use cortex_core::config::{Config, ConfigError};
use cortex_core::id::WorkerId;
use cortex_core::stream::{Activity, OutcomeKind};
use cortex_core::transcript::{entries, EntryKind};
use cortex_core::worker::{Worker, WorkerStatus};
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
    /// The latest failure (a worker failed, or an attempt crashed, hung,
    /// timed out or went over budget) if it is under ten minutes old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_failure_at: Option<DateTime<Utc>>,
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
            recent_failure_at: self.recent_failure_at(now),
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

/// What a worker that is not working waits for, so a view can say it:
/// a restart after the backoff, the API's rate limit, or an API retry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitingFor {
    pub kind: WaitKind,
    /// When the wait ends, when the engine knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// How the attempt before the wait ended (for a restart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<OutcomeKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitKind {
    /// Between attempts: the next one starts after the restart backoff.
    Restart,
    /// The API said 429: the agent (or the next attempt) waits it out.
    RateLimit,
    /// The API failed otherwise and the agent waits before retrying.
    ApiRetry,
}

/// What `w` waits for, from its journaled state and, while an attempt runs,
/// what its stream says (`activity`); none while it works or after it ended.
pub fn waiting_for(w: &Worker, activity: Option<&Activity>) -> Option<WaitingFor> {
    if w.status == WorkerStatus::Waiting {
        let after = w.current().and_then(|a| a.outcome.as_ref()).map(|o| o.kind);
        let kind = if after == Some(OutcomeKind::RateLimited) {
            WaitKind::RateLimit
        } else {
            WaitKind::Restart
        };
        return Some(WaitingFor {
            kind,
            until: w.not_before,
            after,
        });
    }
    match activity {
        Some(Activity::RetryingApi { until, status, .. }) if !w.status.is_terminal() => {
            Some(WaitingFor {
                kind: if *status == Some(429) {
                    WaitKind::RateLimit
                } else {
                    WaitKind::ApiRetry
                },
                until: Some(*until),
                after: None,
            })
        }
        _ => None,
    }
}

/// Seconds the worker's ended attempts ran, summed (the running one is not
/// in it: a view adds the time since its start).
pub fn ended_attempts_secs(w: &Worker) -> f64 {
    w.attempts
        .iter()
        .filter_map(|a| {
            a.ended_at
                .map(|end| (end - a.started_at).num_milliseconds())
        })
        .map(|ms| ms.max(0) as f64 / 1000.0)
        .sum()
}

/// How long a failure keeps counting as recent (the tray's red).
pub const RECENT_FAILURE_SECS: i64 = 600;

/// The latest time a worker ended failed, or an attempt ended in a way that
/// counts as a failure (crash, timeout, budget, lost), if any.
pub fn last_failure_at(workers: impl Iterator<Item = Worker>) -> Option<DateTime<Utc>> {
    workers
        .flat_map(|w| {
            let failed_end = (w.status == WorkerStatus::Failed)
                .then(|| w.current().and_then(|a| a.ended_at))
                .flatten();
            let failed_attempts: Vec<DateTime<Utc>> = w
                .attempts
                .iter()
                .filter(|a| {
                    a.outcome.as_ref().is_some_and(|o| {
                        matches!(
                            o.kind,
                            OutcomeKind::Crashed
                                | OutcomeKind::Lost
                                | OutcomeKind::TimedOut
                                | OutcomeKind::Budget
                                | OutcomeKind::ApiError
                                | OutcomeKind::SpawnFailed
                        )
                    })
                })
                .filter_map(|a| a.ended_at)
                .collect();
            failed_end.into_iter().chain(failed_attempts)
        })
        .max()
}

/// The first words of a task, for lines that name it ("implement the
/// login endpoint…").
pub fn first_words(text: &str, max_chars: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max_chars {
        return one_line;
    }
    let cut: String = one_line.chars().take(max_chars).collect();
    let at_word = cut
        .rfind(' ')
        .filter(|i| *i > max_chars / 2)
        .unwrap_or(cut.len());
    format!("{}…", cut[..at_word].trim_end())
}

/// How a line names a worker for a person: its task's first words and its
/// expert, the id second: `“implement the login endpoint” · development · w-…`.
pub fn worker_subject(task_text: Option<&str>, expert: &str, worker_id: &str) -> String {
    match task_text
        .map(|t| first_words(t, 48))
        .filter(|t| !t.is_empty())
    {
        Some(t) => format!("“{t}” · {expert} · {worker_id}"),
        None => format!("{expert} · {worker_id}"),
    }
}

impl Engine {
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

#[cfg(test)]
mod subject_tests {
    use super::*;
    use cortex_core::id::TaskId;
    use cortex_core::stream::Outcome;
    use cortex_core::worker::Attempt;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap_or_default()
    }

    fn worker() -> Worker {
        Worker::new(
            WorkerId::new(1, [1; 10]),
            TaskId::new(1, [2; 10]),
            "development",
            "/w".into(),
            t(0),
        )
    }

    fn ended(n: u32, from: i64, to: i64, kind: OutcomeKind) -> Attempt {
        Attempt {
            n,
            started_at: t(from),
            pid: None,
            start_ticks: None,
            session_id: None,
            resumed: false,
            ended_at: Some(t(to)),
            outcome: Some(Outcome::bare(kind, "r")),
        }
    }

    #[test]
    fn a_worker_in_backoff_waits_for_its_restart_and_says_after_what() {
        let mut w = worker();
        w.attempts.push(ended(1, 0, 10, OutcomeKind::Crashed));
        w.status = WorkerStatus::Waiting;
        w.not_before = Some(t(40));
        assert_eq!(
            waiting_for(&w, None),
            Some(WaitingFor {
                kind: WaitKind::Restart,
                until: Some(t(40)),
                after: Some(OutcomeKind::Crashed)
            })
        );
        w.attempts[0].outcome = Some(Outcome::bare(OutcomeKind::RateLimited, "429"));
        assert_eq!(
            waiting_for(&w, None).map(|x| x.kind),
            Some(WaitKind::RateLimit)
        );
    }

    #[test]
    fn a_running_worker_waits_only_while_its_stream_retries_the_api() {
        let mut w = worker();
        w.status = WorkerStatus::Running;
        assert_eq!(waiting_for(&w, None), None);
        let retry = |status| Activity::RetryingApi {
            until: t(90),
            status,
            attempt: 2,
        };
        assert_eq!(
            waiting_for(&w, Some(&retry(Some(429)))).map(|x| (x.kind, x.until)),
            Some((WaitKind::RateLimit, Some(t(90))))
        );
        assert_eq!(
            waiting_for(&w, Some(&retry(Some(500)))).map(|x| x.kind),
            Some(WaitKind::ApiRetry)
        );
        w.status = WorkerStatus::Completed;
        assert_eq!(waiting_for(&w, Some(&retry(Some(500)))), None);
    }

    #[test]
    fn elapsed_sums_every_ended_attempt() {
        let mut w = worker();
        w.attempts.push(ended(1, 0, 30, OutcomeKind::Lost));
        w.attempts.push(ended(2, 60, 75, OutcomeKind::Success));
        assert_eq!(ended_attempts_secs(&w), 45.0);
    }

    #[test]
    fn a_failed_attempt_counts_as_a_failure_even_when_a_restart_followed() {
        let mut w = worker();
        assert_eq!(last_failure_at(std::iter::once(w.clone())), None);
        w.attempts.push(ended(1, 0, 30, OutcomeKind::Crashed));
        w.attempts.push(ended(2, 40, 50, OutcomeKind::Success));
        w.status = WorkerStatus::Completed;
        assert_eq!(last_failure_at(std::iter::once(w.clone())), Some(t(30)));
        let mut ok = worker();
        ok.attempts.push(ended(1, 0, 99, OutcomeKind::Success));
        assert_eq!(last_failure_at(std::iter::once(ok)), None);
    }

    #[test]
    fn a_worker_is_named_by_its_task_and_expert_first() {
        assert_eq!(
            worker_subject(
                Some("implement   the login\nendpoint"),
                "development",
                "w-1"
            ),
            "“implement the login endpoint” · development · w-1"
        );
        assert_eq!(worker_subject(None, "cicd", "w-2"), "cicd · w-2");
        let long = "refactor the cache layer so that every read goes through the new interface";
        assert_eq!(first_words(long, 30), "refactor the cache layer so…");
    }
}
