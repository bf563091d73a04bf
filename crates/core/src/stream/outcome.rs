//! How an attempt ended: its outcome kind (success, a transient failure
//! worth a restart, the request's own fault, a person's or a limit's stop),
//! decided from the folded stream and the exit by Claude Code's rule
//! (`classify`: the result line and exit 0) or the generic driver's
//! (`classify_generic`: the exit code).
//!
//! May depend on: the folded stream (`super::Progress`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Progress, ResultLine, Tokens};

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// The run finished without an error and the process exited 0.
    Success,
    /// The API failed (a server-side error): worth another attempt.
    ApiError,
    /// The API refused the request itself (4xx other than 408, 409, 429):
    /// the same request fails again, so it is not retried and does not
    /// count against the expert's circuit breaker.
    ClientError,
    /// The API rate limited the run (429).
    RateLimited,
    /// The agent reached its maximum number of turns.
    MaxTurns,
    /// The worker reached its token or cost budget.
    Budget,
    /// Stopped by a person or by the engine on purpose.
    Killed,
    /// The worker reached its time limit.
    TimedOut,
    /// The agent reported an error, or the process exited badly or without a
    /// result.
    Crashed,
    /// The agent's process could not be started.
    SpawnFailed,
    /// The process vanished with no result line and no exit status.
    Lost,
    /// The PM killed the process because it hung: silent, no progress, past
    /// the zombie threshold.
    Hung,
    /// The run ended but waits for a person: a tool was denied by its
    /// permissions, or the agent's last words ask a question.
    NeedsInput,
}

impl OutcomeKind {
    /// The kind as written in the journal and shown (`"api_error"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::ApiError => "api_error",
            Self::ClientError => "client_error",
            Self::RateLimited => "rate_limited",
            Self::MaxTurns => "max_turns",
            Self::Budget => "budget",
            Self::Killed => "killed",
            Self::TimedOut => "timed_out",
            Self::Crashed => "crashed",
            Self::SpawnFailed => "spawn_failed",
            Self::Lost => "lost",
            Self::Hung => "hung",
            Self::NeedsInput => "needs_input",
        }
    }

    /// Worth another attempt without a person: the cause may be gone.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Self::ApiError | Self::RateLimited | Self::Crashed | Self::Lost | Self::Hung
        )
    }

    /// A failure of the expert's runs (counted by its circuit breaker): not
    /// a success, not a person's or a limit's stop, not the request's fault,
    /// not a process lost to its surroundings (stopped from outside, its
    /// machine or node gone).
    pub fn counts_against_expert(self) -> bool {
        !matches!(
            self,
            Self::Success
                | Self::Lost
                | Self::Killed
                | Self::Budget
                | Self::TimedOut
                | Self::ClientError
                | Self::NeedsInput
        )
    }
}

/// A signal that asks a process to stop (SIGHUP, SIGINT, SIGTERM) and that
/// Cortex did not send (its own stops are settled as what they were): a
/// person, the system, or a cluster cancelling the job stopped it. Not the
/// agent's crash, so not its expert's failure; a signal of a fault (SIGSEGV,
/// SIGABRT...) or SIGKILL (the kernel's out-of-memory killer among others)
/// stays a crash.
pub fn stopped_from_outside(signal: i32) -> bool {
    matches!(signal, 1 | 2 | 15)
}

fn outside_stop_words(signal: i32) -> String {
    format!(
        "stopped by signal {signal} from outside Cortex (a person, the system, or the cluster cancelling its job)"
    )
}

/// A 4xx status that says the request itself is wrong: retrying it gives
/// the same answer. 408 (timeout), 409 (conflict) and 429 (rate limit) are
/// about the moment, not the request.
pub fn is_client_error(status: u16) -> bool {
    (400..500).contains(&status) && !matches!(status, 408 | 409 | 429)
}

/// The settled end of an attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// How the attempt ended.
    pub kind: OutcomeKind,
    /// One line a person can read.
    pub reason: String,
    /// The process's exit code, if it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// What the attempt cost, in US dollars.
    #[serde(default)]
    pub cost_usd: f64,
    /// Tokens the attempt used.
    #[serde(default)]
    pub tokens: Tokens,
    /// The agent's final answer text (redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The agent's `modelUsage`, as given (model to counts and cost).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub model_usage: serde_json::Value,
    /// True when `cost_usd` is Cortex's estimate from the token counts (the
    /// attempt ended without the agent's own figure: killed, crashed, lost).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cost_estimated: bool,
    /// The agent's last assistant text (redacted), for a glance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_text: Option<String>,
    /// For an attempt the account's usage limit refused: when the limit
    /// resets. The next attempt waits for it, and it is not the expert's
    /// failure nor a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<DateTime<Utc>>,
    /// For an attempt found ended after no owner watched it: its last sign
    /// of life (output, a check-in), taken as its end. The record's own
    /// time is when it was found, which would count the unwatched time
    /// after it as time it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_at: Option<DateTime<Utc>>,
    /// True when the attempt's agent never began to run (a cluster job
    /// cancelled or killed while it waited in the queue): the session it
    /// was given was never made, so the next attempt cannot resume it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub never_ran: bool,
}

impl Outcome {
    /// An end known only by its kind and reason (nothing ran, or a test).
    pub fn bare(kind: OutcomeKind, reason: impl Into<String>) -> Self {
        Self {
            kind,
            reason: reason.into(),
            exit_code: None,
            cost_usd: 0.0,
            tokens: Tokens::default(),
            result: None,
            model_usage: serde_json::Value::Null,
            cost_estimated: false,
            last_text: None,
            resets_at: None,
            last_seen_at: None,
            never_ran: false,
        }
    }

    /// Uses `estimate` as the attempt's cost when the agent gave none it
    /// can be believed on (no result line, or a figure `Progress::agent_cost`
    /// does not take), marking it as an estimate.
    pub fn with_estimate(mut self, has_cost: bool, estimate: Option<f64>) -> Self {
        if !has_cost {
            if let Some(e) = estimate {
                self.cost_usd = e;
                self.cost_estimated = true;
            }
        }
        self
    }
}

/// How the process ended, as far as the engine knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Not our child (re-adopted) or reaped elsewhere: status unknown.
    Unknown,
}

/// Settles an attempt: success is `is_error == false` and exit code 0
/// (`subtype` alone lies). An engine-requested stop is reported as such
/// whatever the stream says.
pub fn classify(
    progress: &Progress,
    exit: Exit,
    stopped_because: Option<(OutcomeKind, &str)>,
) -> Outcome {
    let mut out = Outcome {
        kind: OutcomeKind::Crashed,
        reason: String::new(),
        exit_code: match exit {
            Exit::Code(c) => Some(c),
            _ => None,
        },
        cost_usd: progress.agent_cost().unwrap_or(0.0),
        tokens: progress.tokens,
        result: progress
            .result
            .as_ref()
            .and_then(|r| r.result.as_deref())
            .map(crate::redact::redact),
        model_usage: progress
            .result
            .as_ref()
            .map(|r| r.model_usage.clone())
            .unwrap_or_default(),
        cost_estimated: false,
        last_text: progress.last_text.as_deref().map(crate::redact::redact),
        resets_at: None,
        last_seen_at: None,
        never_ran: false,
    };
    if let Some((kind, why)) = stopped_because {
        out.kind = kind;
        out.reason = why.to_string();
        return out;
    }
    let exit_ok = matches!(exit, Exit::Code(0) | Exit::Unknown);
    let (kind, reason) = match (&progress.result, exit) {
        (Some(r), _) if !r.is_error && exit_ok => match needs_input(r) {
            Some(why) => (OutcomeKind::NeedsInput, why),
            None => (OutcomeKind::Success, "completed".to_string()),
        },
        (Some(r), _) if r.is_error => match (r.subtype.as_str(), r.api_error_status) {
            ("error_max_turns", _) => (
                OutcomeKind::MaxTurns,
                "reached the maximum number of turns".into(),
            ),
            ("error_max_budget_usd", _) => (OutcomeKind::Budget, "reached its budget".into()),
            (_, Some(429)) => (OutcomeKind::RateLimited, "API rate limited (429)".into()),
            (_, Some(s)) if is_client_error(s) => (
                OutcomeKind::ClientError,
                format!("API error {s}: the API refused the request itself; not retried"),
            ),
            (_, Some(s)) => (OutcomeKind::ApiError, format!("API error {s}")),
            (sub, None) => (
                OutcomeKind::Crashed,
                format!(
                    "agent reported an error ({sub}){}",
                    r.errors
                        .first()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ),
            ),
        },
        (Some(_), Exit::Code(c)) => (
            OutcomeKind::Crashed,
            format!("result looked fine but the process exited with {c}"),
        ),
        (Some(_), Exit::Signal(s)) if stopped_from_outside(s) => (
            OutcomeKind::Lost,
            format!("{} after its result line", outside_stop_words(s)),
        ),
        (None, Exit::Signal(s)) if stopped_from_outside(s) => (
            OutcomeKind::Lost,
            format!("{} with no result line", outside_stop_words(s)),
        ),
        (Some(_), Exit::Signal(s)) | (None, Exit::Signal(s)) => (
            OutcomeKind::Crashed,
            format!("killed by signal {s} with no result line"),
        ),
        (None, Exit::Code(c)) => (
            OutcomeKind::Crashed,
            format!("exited with {c} and no result line"),
        ),
        (None, Exit::Unknown) | (Some(_), Exit::Unknown) => (
            OutcomeKind::Lost,
            "the process is gone and left no result line".into(),
        ),
    };
    out.kind = kind;
    out.reason = reason;
    // Refused (429) by the account's usage limit: it waits for the reset.
    if let (OutcomeKind::RateLimited, Some(limit)) = (out.kind, &progress.usage_limit) {
        out.reason = format!("{} was reached ({})", limit.words(), out.reason);
        out.resets_at = Some(limit.resets_at);
    }
    out
}

/// Why a run that ended without an error still waits for a person, if it
/// does. The rule: a tool its permissions denied (`permission_denials`), or
/// a final message whose last line is a question (ends with `?`), since an
/// agent that finished says what it did, and one that needs an answer asks.
pub fn needs_input(r: &ResultLine) -> Option<String> {
    if !r.denied_tools.is_empty() {
        let mut tools = r.denied_tools.clone();
        tools.dedup();
        return Some(format!(
            "needs you: {} denied by its permissions (allow it for the expert, or reply)",
            tools.join(", ")
        ));
    }
    let last = r
        .result
        .as_deref()?
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())?;
    last.ends_with('?').then(|| {
        format!(
            "needs you: the agent asks: {}",
            crate::redact::redact(&last.chars().take(300).collect::<String>())
        )
    })
}

/// Settles an attempt of the generic driver, whose agents speak no result
/// line: exit code 0 is success, anything else a failure named by its exit
/// code and the last line the agent wrote to stderr.
pub fn classify_generic(
    progress: &Progress,
    exit: Exit,
    stopped_because: Option<(OutcomeKind, &str)>,
    last_stderr_line: Option<&str>,
) -> Outcome {
    let mut out = classify(progress, exit, stopped_because);
    if stopped_because.is_some() {
        return out;
    }
    let said = last_stderr_line
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            format!(
                ": {}",
                crate::redact::redact(&l.chars().take(300).collect::<String>())
            )
        })
        .unwrap_or_default();
    let (kind, reason) = match exit {
        Exit::Code(0) => (OutcomeKind::Success, "completed".to_string()),
        Exit::Code(c) => (OutcomeKind::Crashed, format!("exited with {c}{said}")),
        Exit::Signal(s) if stopped_from_outside(s) => (
            OutcomeKind::Lost,
            format!("{}{said}", outside_stop_words(s)),
        ),
        Exit::Signal(s) => (OutcomeKind::Crashed, format!("killed by signal {s}{said}")),
        Exit::Unknown => (
            OutcomeKind::Lost,
            "the process is gone and its exit status is unknown".to_string(),
        ),
    };
    out.kind = kind;
    out.reason = reason;
    out
}
