//! Read-side views for people: the overview, a worker's transcript, recent
//! routing decisions and PM activity, settings and `doctor`. The desktop
//! shell calls these; they read what the engine already keeps.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use cortex_core::config::ConfigError;
use cortex_core::stream::{Activity, OutcomeKind};
use cortex_core::transcript::EntryKind;
use cortex_core::worker::{Worker, WorkerStatus};
use serde::{Deserialize, Serialize};

/// Counts and totals for the dashboard and the tray.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Overview {
    /// Tasks by status.
    pub tasks: BTreeMap<String, usize>,
    /// Workers by lifecycle state.
    pub workers: BTreeMap<String, usize>,
    /// Live workers by the PM's health.
    pub health: BTreeMap<String, usize>,
    /// True while starting new workers is paused (restarts go on).
    pub paused: bool,
    /// Experts paused by their circuit breaker, and until when.
    #[serde(default)]
    pub paused_experts: Vec<crate::pm::PausedExpert>,
    /// Completed over completed and failed workers since the owner started
    /// (0 to 1); None before any ended.
    pub success_rate: Option<f64>,
    /// What attempts that ended today cost, in US dollars. "Today" is the
    /// local day of the machine that reads it, as in the Usage view.
    pub cost_today_usd: f64,
    /// True when part of `cost_today_usd` is Cortex's estimate from token
    /// counts (an attempt ended without the agent's own figure).
    #[serde(default)]
    pub cost_today_estimated: bool,
    /// Input and output tokens of attempts that ended today (local day).
    pub tokens_today: u64,
    /// When this overview was taken.
    pub now: DateTime<Utc>,
    /// The latest failure (a worker failed, or an attempt crashed, hung,
    /// timed out or went over budget) if it is under ten minutes old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_failure_at: Option<DateTime<Utc>>,
    /// Why this engine's agent cannot run (`agent_problem`), when it cannot:
    /// every task would fail to start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_problem: Option<String>,
    /// Why the settings files on disk were refused while the owner runs
    /// (`settings_refused`): the settings in use are older than the files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings_refused: Option<String>,
}

/// One transcript entry of a worker, with its attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TranscriptEntry {
    /// The attempt the entry comes from, 1 for the first.
    pub attempt: u32,
    /// What the entry is (assistant text, tool call, result...), for styling.
    pub kind: EntryKind,
    /// The entry as readable text.
    pub text: String,
}

/// What `cortex doctor` and the Settings page show.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Doctor {
    /// The agent command in force (`agent.command`, or the `CORTEX_AGENT_COMMAND` override).
    pub agent_command: Vec<String>,
    /// The program that will run, resolved through PATH.
    pub agent_resolved: Option<String>,
    /// The first line its `--version` prints; None when it cannot be run or
    /// gives no answer within 10 seconds.
    pub agent_version: Option<String>,
    /// Why it cannot run, in words, when it was not found: looked up on
    /// PATH, or at the path `agent.command` gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_problem: Option<String>,
    /// The coordination home's folder.
    pub home: String,
    /// The `PATH` the program is looked up in.
    pub path: String,
    /// Where workers run (`launcher.kind`).
    #[serde(default)]
    pub launcher: String,
    /// For a cluster: whether it answered, and what it said or why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launcher_check: Option<LauncherCheck>,
}

/// Whether the cluster workers run on answers (`cortex doctor`, Settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LauncherCheck {
    /// True when the cluster answered.
    pub reachable: bool,
    /// What it said (a partition's state), or why it did not answer.
    pub detail: String,
}

/// The last `limit` JSON lines of a file, oldest first. Only the file's
/// end is read, a larger part of it each time it held too few lines: an
/// activity log of months costs what its last lines do.
pub(crate) fn tail_json(path: &Path, limit: usize) -> Vec<serde_json::Value> {
    let mut window: u64 = 64 * 1024;
    loop {
        let Ok(end) = crate::files::read_end(path, window) else {
            return Vec::new();
        };
        let text = String::from_utf8_lossy(&end.bytes);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        if lines.len() >= limit || end.left_out == 0 {
            let start = lines.len().saturating_sub(limit);
            return lines[start..]
                .iter()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
        }
        window = window.saturating_mul(4);
    }
}

/// Finds a program on PATH (or checks an explicit path), as a worker's
/// start would: a file that can be run.
pub fn resolve_program(program: &str) -> Option<PathBuf> {
    program_here(program).ok()
}

/// `spawner::program_at` on this process's PATH and folder.
fn program_here(program: &str) -> Result<PathBuf, String> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    crate::spawner::program_at(program, std::env::var_os("PATH").as_deref(), &cwd)
}

/// Runs `program --version` with a deadline; its first line, if any.
pub(crate) fn version_of(program: &Path) -> Option<String> {
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

/// Why the agent `command` cannot run, in words, or none when its program
/// is found (an absolute path that exists, or a name on PATH). The doctor,
/// the app's header and `cortex run` at start all say these words.
pub fn agent_problem(command: &[String]) -> Option<String> {
    let Some(program) = command.first() else {
        return Some("no agent command: set agent.command in config.json".into());
    };
    // Said where the command was set, so the fix is made there.
    let set_in = if std::env::var_os("CORTEX_AGENT_COMMAND").is_some() {
        "CORTEX_AGENT_COMMAND"
    } else {
        "agent.command in config.json"
    };
    if program.contains('/') && !program.starts_with('/') {
        return Some(format!(
            "`{program}` is a relative path: each worker would look it up in its own task's folder; give {set_in} an absolute path"
        ));
    }
    match program_here(program) {
        Ok(_) => None,
        Err(why) if program.contains('/') => Some(format!("{why}: fix {set_in}")),
        Err(why) => Some(format!(
            "{why}: install it, or set {set_in} to its absolute path"
        )),
    }
}

/// `doctor` for a home and an agent command, without owning the home.
pub fn doctor_for(home: &crate::Home, command: Vec<String>) -> Doctor {
    let resolved = command.first().and_then(|p| resolve_program(p));
    let launcher = home
        .is_initialized()
        .then(|| home.settings_for_reading().ok())
        .flatten()
        .map(|s| s.config.launcher)
        .unwrap_or_default();
    let launcher_check = launcher_check(home, &launcher);
    let agent_problem = agent_problem(&command);
    Doctor {
        agent_problem,
        agent_version: resolved.as_deref().and_then(version_of),
        agent_resolved: resolved.map(|p| p.display().to_string()),
        agent_command: command,
        home: home.root().display().to_string(),
        path: std::env::var("PATH").unwrap_or_default(),
        launcher: launcher.kind.as_str().to_string(),
        launcher_check,
    }
}

/// Whether the cluster a configuration puts workers on answers; None when
/// workers run on this machine. `cortex doctor`, `cortex config check` and
/// the app's Settings all ask here.
pub fn launcher_check(
    home: &crate::Home,
    launcher: &cortex_core::config::LauncherConfig,
) -> Option<LauncherCheck> {
    use cortex_core::config::LauncherKind;
    let answer = match launcher.kind {
        LauncherKind::Local => return None,
        LauncherKind::Slurm => crate::launcher::slurm::SlurmLauncher::new(
            home.root(),
            launcher.slurm.clone(),
            crate::launcher::slurm::default_shim_program(),
        )
        .check(),
        LauncherKind::Kubernetes => crate::launcher::kubernetes::KubeLauncher::new(
            home.root(),
            launcher.kubernetes.clone(),
            0,
        )
        .and_then(|l| l.check()),
    };
    Some(match answer {
        Ok(detail) => LauncherCheck {
            reachable: true,
            detail,
        },
        Err(detail) => LauncherCheck {
            reachable: false,
            detail,
        },
    })
}

/// Shows a config error as the Settings page does: file, key, message.
pub fn config_error_fields(e: &ConfigError) -> (String, Option<String>, String) {
    (e.file.clone(), e.key.clone(), e.message.clone())
}

/// What a worker that is not working waits for, so a view can say it:
/// a restart after the backoff, the API's rate limit, or an API retry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitingFor {
    /// What kind of wait it is.
    pub kind: WaitKind,
    /// When the wait ends, when the engine knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// How the attempt before the wait ended (for a restart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<OutcomeKind>,
    /// For a wait for a free place: the limit that holds it (the fleet's
    /// `capacity.max_workers`, or its expert's `max_workers`), as its
    /// reason says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<cortex_core::worker::PlaceLimit>,
}

/// Why a worker that is not working waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitKind {
    /// Between attempts: the next one starts after the restart backoff.
    Restart,
    /// Before its first attempt: its start could not be submitted (a
    /// cluster that did not answer) and is tried again at `until`.
    Start,
    /// The API said 429: the agent (or the next attempt) waits it out.
    RateLimit,
    /// The account's usage limit refused the last attempt: the next one
    /// resumes when it resets (`until`).
    UsageLimit,
    /// The API failed otherwise and the agent waits before retrying.
    ApiRetry,
    /// Its restart is due, but its expert's circuit breaker is open: it
    /// starts when the breaker closes (`until`) or a person closes it.
    Circuit,
    /// Its next attempt (a person's reply or restart, or a restart a
    /// breaker held) waits for a free place in the capacity: no time is
    /// known, it starts once a worker ends.
    Capacity,
    /// The cluster suspended its running job (`scontrol suspend`): it goes
    /// on when the cluster resumes it; no time is known.
    Suspended,
}

/// What `w` waits for, from its journaled state and, while an attempt runs,
/// what its stream says (`activity`); none while it works or after it ended.
pub fn waiting_for(w: &Worker, activity: Option<&Activity>) -> Option<WaitingFor> {
    if w.status == WorkerStatus::Waiting {
        let ended = w.current().and_then(|a| a.outcome.as_ref());
        // Earlier versions kept a PM kill of a hung process as `lost`, its
        // reason ending "; killed": it hung, it did not vanish.
        let after = ended.map(|o| match o.kind {
            OutcomeKind::Lost if o.reason.ends_with("; killed") => OutcomeKind::Hung,
            k => k,
        });
        if let Some(reason) = w
            .reason
            .as_deref()
            .filter(|r| cortex_core::worker::waits_for_place(r))
        {
            return Some(WaitingFor {
                kind: WaitKind::Capacity,
                until: None,
                after,
                limit: cortex_core::worker::PlaceLimit::of_reason(reason),
            });
        }
        let kind = if ended.is_some_and(|o| o.resets_at.is_some()) {
            WaitKind::UsageLimit
        } else if after == Some(OutcomeKind::RateLimited) {
            WaitKind::RateLimit
        } else if w.attempts.is_empty() {
            WaitKind::Start
        } else {
            WaitKind::Restart
        };
        return Some(WaitingFor {
            kind,
            until: w.not_before,
            after,
            limit: None,
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
                limit: None,
            })
        }
        _ => None,
    }
}

/// When `w`'s restart is held by its expert's open circuit breaker (which
/// closes at `closes_at`): a waiting worker, not one a person's reply or
/// restart waits to start. The scheduler holds exactly these, and the views
/// say so.
pub fn breaker_hold(w: &Worker, closes_at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    closes_at.filter(|_| {
        w.status == WorkerStatus::Waiting && w.next_prompt.is_none() && !w.restart_asked
    })
}

/// What a worker waits for once its restart is held (`breaker_hold`): the
/// breaker, unless a backoff or rate limit ends later. Otherwise `waiting`.
pub fn held_by_circuit(
    waiting: Option<WaitingFor>,
    hold: Option<DateTime<Utc>>,
) -> Option<WaitingFor> {
    match hold {
        // A backoff or rate limit that ends after the breaker closes is
        // what the worker waits for.
        Some(until)
            if waiting
                .as_ref()
                .and_then(|w| w.until)
                .is_some_and(|u| u > until) =>
        {
            waiting
        }
        Some(until) => Some(WaitingFor {
            kind: WaitKind::Circuit,
            until: Some(until),
            after: waiting.and_then(|w| w.after),
            limit: None,
        }),
        None => waiting,
    }
}

/// Seconds the worker's ended attempts ran, summed (the running one is not
/// in it: a view adds the time since its start).
pub fn ended_attempts_secs(w: &Worker) -> f64 {
    w.attempts
        .iter()
        .filter_map(|a| a.ended_at.map(|end| a.ran_millis(end)))
        // Summed as whole milliseconds: a float sum of nothing is -0.0,
        // which JSON would carry as "-0.0".
        .sum::<i64>() as f64
        / 1000.0
}

/// How long a failure keeps counting as recent (the tray's red).
pub const RECENT_FAILURE_SECS: i64 = 600;

/// What the attempts that ended on `now`'s day, in `tz`, spent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DaySpend {
    /// In US dollars, the agents' figures and Cortex's estimates together.
    pub cost_usd: f64,
    /// Input and output tokens.
    pub tokens: u64,
    /// True when any attempt's cost in the sum is an estimate.
    pub estimated: bool,
}

/// Sums the attempts that ended on the same day as `now` in `tz` (the
/// viewer's zone: a day that ends at local midnight, not at UTC's).
pub fn spent_on_day<'a, Tz: chrono::TimeZone>(
    workers: impl Iterator<Item = &'a Worker>,
    now: DateTime<Utc>,
    tz: &Tz,
) -> DaySpend {
    let today = now.with_timezone(tz).date_naive();
    let mut out = DaySpend::default();
    for a in workers.flat_map(|w| &w.attempts) {
        let (Some(o), Some(end)) = (&a.outcome, a.ended_at) else {
            continue;
        };
        if end.with_timezone(tz).date_naive() == today {
            out.cost_usd += o.cost_usd;
            out.tokens = out.tokens.saturating_add(o.tokens.in_and_out());
            // As every other view counts it: an attempt that ended without
            // the agent's own figure is an estimate, even one of $0 (its
            // last model call may be billed and never reported).
            out.estimated |= o.cost_estimated;
        }
    }
    out
}

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
                                | OutcomeKind::Hung
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

/// A time in this machine's zone for a person: "18:07" on `now`'s day,
/// else with its date ("2026-12-09 18:07").
pub fn local_when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    local_format(t, now, "%H:%M")
}

/// `local_when` to the second, for a table a person reads against a clock.
pub fn local_when_exact(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    local_format(t, now, "%H:%M:%S")
}

fn local_format(t: DateTime<Utc>, now: DateTime<Utc>, time: &str) -> String {
    let local = t.with_timezone(&chrono::Local);
    if local.date_naive() == now.with_timezone(&chrono::Local).date_naive() {
        local.format(time).to_string()
    } else {
        local.format(&format!("%Y-%m-%d {time}")).to_string()
    }
}

/// The first words of a task, for lines that name it ("implement the
/// login endpoint…").
pub fn first_words(text: &str, max_chars: usize) -> String {
    // Secrets go before the cut: a key cut in half no longer looks like
    // one, and its first characters would be shown.
    let one_line = cortex_core::redact::redact(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
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

#[cfg(test)]
pub(crate) mod subject_tests {
    use super::*;

    #[test]
    fn the_last_lines_of_a_long_log_are_read_from_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let pad = "x".repeat(40);
        let text: String = (0..20_000)
            .map(|i| format!("{{\"n\":{i},\"pad\":\"{pad}\"}}\n"))
            .collect();
        std::fs::write(&path, text).unwrap();
        let n = |v: &[serde_json::Value]| -> Vec<u64> {
            v.iter().map(|x| x["n"].as_u64().unwrap()).collect()
        };
        assert_eq!(n(&tail_json(&path, 3)), [19_997, 19_998, 19_999]);
        // More lines than the first window holds, and more than the file has.
        let many = tail_json(&path, 5_000);
        assert_eq!((many.len(), n(&many)[0]), (5_000, 15_000));
        assert_eq!(tail_json(&path, 50_000).len(), 20_000);
        assert!(tail_json(&dir.path().join("none"), 3).is_empty());
    }
    use cortex_core::id::TaskId;
    use cortex_core::id::WorkerId;
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
            ended_at: Some(t(to)),
            outcome: Some(Outcome::bare(kind, "r")),
            ..Attempt::started(n, t(from), None)
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
                after: Some(OutcomeKind::Crashed),
                limit: None,
            })
        );
        w.attempts[0].outcome = Some(Outcome::bare(OutcomeKind::RateLimited, "429"));
        assert_eq!(
            waiting_for(&w, None).map(|x| x.kind),
            Some(WaitKind::RateLimit)
        );
    }

    #[test]
    fn a_restart_held_by_an_open_circuit_breaker_waits_for_the_breaker() {
        let mut w = worker();
        w.attempts.push(ended(1, 0, 10, OutcomeKind::Crashed));
        w.status = WorkerStatus::Waiting;
        w.not_before = Some(t(10));
        let held = held_by_circuit(waiting_for(&w, None), breaker_hold(&w, Some(t(600))));
        assert_eq!(
            held,
            Some(WaitingFor {
                kind: WaitKind::Circuit,
                until: Some(t(600)),
                after: Some(OutcomeKind::Crashed),
                limit: None,
            })
        );
        let free = held_by_circuit(waiting_for(&w, None), breaker_hold(&w, None));
        assert_eq!(free.map(|x| x.kind), Some(WaitKind::Restart));
        w.not_before = Some(t(900));
        let later = held_by_circuit(waiting_for(&w, None), breaker_hold(&w, Some(t(600))));
        assert_eq!(
            later.map(|x| (x.kind, x.until)),
            Some((WaitKind::Restart, Some(t(900)))),
            "the backoff ends after the breaker closes: that is the wait"
        );
        w.not_before = Some(t(10));
        w.status = WorkerStatus::Running;
        assert_eq!(
            held_by_circuit(None, breaker_hold(&w, Some(t(600)))),
            None,
            "a running worker of a paused expert goes on"
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
    fn today_is_the_viewers_day_and_says_when_it_holds_an_estimate() {
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("a time")
                .with_timezone(&Utc)
        };
        let spent = |at_end: DateTime<Utc>, cost: f64, estimated: bool| {
            let mut w = worker();
            let mut a = ended(1, 0, 0, OutcomeKind::Success);
            a.ended_at = Some(at_end);
            if let Some(o) = a.outcome.as_mut() {
                o.cost_usd = cost;
                o.tokens.input = 100;
                o.tokens.output = 20;
                o.cost_estimated = estimated;
            }
            w.attempts.push(a);
            w
        };
        // 22:00 on the 4th in New York is 03:00 on the 5th in UTC.
        let now = at("2026-12-05T03:00:00Z");
        let ny = chrono::FixedOffset::west_opt(5 * 3600).expect("a valid offset");
        // Ended at 15:00 on the 4th in New York: today there, yesterday in UTC.
        let afternoon = [spent(at("2026-12-04T20:00:00Z"), 0.5, false)];
        assert_eq!(
            spent_on_day(afternoon.iter(), now, &ny),
            DaySpend {
                cost_usd: 0.5,
                tokens: 120,
                estimated: false
            }
        );
        assert_eq!(
            spent_on_day(afternoon.iter(), now, &Utc),
            DaySpend::default()
        );
        // A killed attempt's estimate makes the day's figure an estimate,
        // even when it saw no tokens: no final figure arrived for it.
        let both = [
            spent(at("2026-12-04T20:00:00Z"), 0.5, false),
            spent(at("2026-12-05T02:00:00Z"), 0.25, true),
        ];
        let day = spent_on_day(both.iter(), now, &ny);
        assert!(day.estimated && (day.cost_usd - 0.75).abs() < 1e-9 && day.tokens == 240);
        let unreported = [spent(at("2026-12-05T02:00:00Z"), 0.0, true)];
        assert!(spent_on_day(unreported.iter(), now, &ny).estimated);
        let reported = [spent(at("2026-12-05T02:00:00Z"), 0.0, false)];
        assert!(!spent_on_day(reported.iter(), now, &ny).estimated);
    }

    #[test]
    fn a_days_tokens_too_many_to_add_stay_at_the_largest_count() {
        let now = t(100);
        let mut w = worker();
        for n in 1..=2 {
            let mut a = ended(n, 0, 10, OutcomeKind::Success);
            if let Some(o) = a.outcome.as_mut() {
                o.tokens.input = u64::MAX;
                o.tokens.output = 1;
            }
            w.attempts.push(a);
        }
        let day = spent_on_day(std::iter::once(&w), now, &Utc);
        assert_eq!(day.tokens, u64::MAX);
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
        // A secret is hidden before the cut, never shown in part.
        let keyed = "ANTHROPIC_API_KEY=sk-ant-api03-Zq9xLm2Np7Rt4Vw8Yb3Kd6Hf1Jg5Sc0Ae9Ui2Oo7Pl4Mn8Bv3Cx6Dz1Qw5Er0Ty fix the bug";
        let shown = first_words(keyed, 40);
        assert!(!shown.contains("Zq9x"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
