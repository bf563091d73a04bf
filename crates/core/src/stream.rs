//! Reading an agent's output: Claude Code's stream-json lines folded into
//! what the attempt is doing, what it has used, and how it ended. The
//! generic driver treats any line as activity and `{"cortex":"heartbeat"}`
//! lines as check-ins.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// What the agent is doing right now, as its stream says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Activity {
    /// No output yet.
    Starting,
    /// A request to the model is out.
    WaitingOnModel { since: DateTime<Utc> },
    /// A tool call is running.
    RunningTool { tool: String, since: DateTime<Utc> },
    /// The API failed and the agent waits before retrying.
    RetryingApi {
        until: DateTime<Utc>,
        status: Option<u16>,
        attempt: u32,
    },
    /// The result line arrived.
    Finished,
    /// Output of an agent whose format we do not know (generic driver).
    Working { since: DateTime<Utc> },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    #[serde(default)]
    pub cache_read: u64,
    #[serde(default)]
    pub cache_creation: u64,
}

/// The `result` line, as far as we use it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultLine {
    pub subtype: String,
    pub is_error: bool,
    pub api_error_status: Option<u16>,
    pub result: Option<String>,
    pub total_cost_usd: f64,
    pub tokens: Tokens,
    pub num_turns: u64,
    pub errors: Vec<String>,
    /// `modelUsage` as given (model -> counts and cost).
    pub model_usage: serde_json::Value,
}

/// Everything learned from one attempt's stream so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub session_id: Option<String>,
    pub model: Option<String>,
    pub activity: Activity,
    pub lines: u64,
    pub last_line_at: Option<DateTime<Utc>>,
    /// Live counts from assistant lines, de-duplicated by message id.
    pub tokens: Tokens,
    pub result: Option<ResultLine>,
    /// Last check-in from a `{"cortex":"heartbeat"}` line.
    pub last_checkin_at: Option<DateTime<Utc>>,
    pub checkin_progress: Option<f64>,
    pub checkin_message: Option<String>,
    /// The most recent assistant text, for a glance in the UI.
    pub last_text: Option<String>,
    #[serde(skip)]
    seen_messages: HashSet<String>,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            session_id: None,
            model: None,
            activity: Activity::Starting,
            lines: 0,
            last_line_at: None,
            tokens: Tokens::default(),
            result: None,
            last_checkin_at: None,
            checkin_progress: None,
            checkin_message: None,
            last_text: None,
            seen_messages: HashSet::new(),
        }
    }
}

fn u(v: &serde_json::Value, k: &str) -> u64 {
    v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0)
}

fn usage_tokens(u_: &serde_json::Value) -> Tokens {
    Tokens {
        input: u(u_, "input_tokens"),
        output: u(u_, "output_tokens"),
        cache_read: u(u_, "cache_read_input_tokens"),
        cache_creation: u(u_, "cache_creation_input_tokens"),
    }
}

impl Progress {
    /// Folds one output line, seen at `at`. Returns false when the line is
    /// not JSON (still counted as activity).
    pub fn apply_line(&mut self, line: &str, at: DateTime<Utc>) -> bool {
        self.lines += 1;
        self.last_line_at = Some(at);
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            if !matches!(self.activity, Activity::Finished) {
                self.activity = Activity::Working { since: at };
            }
            return false;
        };
        if v.get("cortex").and_then(|c| c.as_str()) == Some("heartbeat") {
            self.last_checkin_at = Some(at);
            self.checkin_progress = v.get("progress").and_then(serde_json::Value::as_f64);
            self.checkin_message = v
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string);
            if !matches!(self.activity, Activity::Finished) {
                self.activity = Activity::Working { since: at };
            }
            return true;
        }
        if let Some(s) = v.get("session_id").and_then(|s| s.as_str()) {
            self.session_id.get_or_insert_with(|| s.to_string());
        }
        let kind = v.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let subtype = v.get("subtype").and_then(|t| t.as_str()).unwrap_or("");
        match (kind, subtype) {
            ("system", "init") => {
                self.model = v.get("model").and_then(|m| m.as_str()).map(str::to_string);
                if let Some(s) = v.get("session_id").and_then(|s| s.as_str()) {
                    self.session_id = Some(s.to_string());
                }
                self.activity = Activity::WaitingOnModel { since: at };
            }
            ("system", "api_retry") => {
                let delay = v
                    .get("retry_delay_ms")
                    .and_then(serde_json::Value::as_f64)
                    .unwrap_or(0.0);
                self.activity = Activity::RetryingApi {
                    until: at + Duration::milliseconds(delay as i64),
                    status: v
                        .get("error_status")
                        .and_then(serde_json::Value::as_u64)
                        .map(|s| s as u16),
                    attempt: u(&v, "attempt") as u32,
                };
            }
            ("assistant", _) => self.apply_assistant(&v, at),
            ("user", _) => {
                // A tool result came back: the model is thinking again.
                self.activity = Activity::WaitingOnModel { since: at };
            }
            ("result", _) => {
                let usage = v.get("usage").cloned().unwrap_or_default();
                let r = ResultLine {
                    subtype: subtype.to_string(),
                    is_error: v
                        .get("is_error")
                        .and_then(serde_json::Value::as_bool)
                        .unwrap_or(true),
                    api_error_status: v
                        .get("api_error_status")
                        .and_then(serde_json::Value::as_u64)
                        .map(|s| s as u16),
                    result: v.get("result").and_then(|r| r.as_str()).map(str::to_string),
                    total_cost_usd: v
                        .get("total_cost_usd")
                        .and_then(serde_json::Value::as_f64)
                        .unwrap_or(0.0),
                    tokens: usage_tokens(&usage),
                    num_turns: u(&v, "num_turns"),
                    errors: v
                        .get("errors")
                        .and_then(|e| e.as_array())
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                    model_usage: v.get("modelUsage").cloned().unwrap_or_default(),
                };
                self.tokens = Tokens {
                    input: r.tokens.input.max(self.tokens.input),
                    output: r.tokens.output.max(self.tokens.output),
                    cache_read: r.tokens.cache_read.max(self.tokens.cache_read),
                    cache_creation: r.tokens.cache_creation.max(self.tokens.cache_creation),
                };
                self.result = Some(r);
                self.activity = Activity::Finished;
            }
            _ => {}
        }
        true
    }

    fn apply_assistant(&mut self, v: &serde_json::Value, at: DateTime<Utc>) {
        let Some(msg) = v.get("message") else { return };
        let id = msg.get("id").and_then(|i| i.as_str()).unwrap_or("");
        // Claude Code writes one line per content block, each repeating the
        // message's start-of-message usage: count a message once.
        if !id.is_empty() && self.seen_messages.insert(id.to_string()) {
            if let Some(usage) = msg.get("usage") {
                let t = usage_tokens(usage);
                self.tokens.input += t.input;
                self.tokens.output += t.output;
                self.tokens.cache_read += t.cache_read;
                self.tokens.cache_creation += t.cache_creation;
            }
        }
        let blocks = msg
            .get("content")
            .and_then(|c| c.as_array())
            .cloned()
            .unwrap_or_default();
        let mut tool = None;
        for b in &blocks {
            match b.get("type").and_then(|t| t.as_str()) {
                Some("tool_use") => {
                    tool = b.get("name").and_then(|n| n.as_str()).map(str::to_string)
                }
                Some("text") => {
                    if let Some(t) = b.get("text").and_then(|t| t.as_str()) {
                        self.last_text = Some(t.chars().take(300).collect());
                    }
                }
                _ => {}
            }
        }
        self.activity = match tool {
            Some(tool) => Activity::RunningTool { tool, since: at },
            None => Activity::WaitingOnModel { since: at },
        };
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Success,
    ApiError,
    /// The API refused the request itself (4xx other than 408, 409, 429):
    /// the same request fails again, so it is not retried and does not
    /// count against the expert's circuit breaker.
    ClientError,
    RateLimited,
    MaxTurns,
    Budget,
    /// Stopped by a person or by the engine on purpose.
    Killed,
    TimedOut,
    Crashed,
    SpawnFailed,
    /// The process vanished with no result line and no exit status.
    Lost,
}

impl OutcomeKind {
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
        }
    }

    /// Worth another attempt without a person: the cause may be gone.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Self::ApiError | Self::RateLimited | Self::Crashed | Self::Lost
        )
    }

    /// A failure of the expert's runs (counted by its circuit breaker): not
    /// a success, not a person's or a limit's stop, not the request's fault.
    pub fn counts_against_expert(self) -> bool {
        !matches!(
            self,
            Self::Success | Self::Killed | Self::Budget | Self::TimedOut | Self::ClientError
        )
    }
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
    pub kind: OutcomeKind,
    /// One line a person can read.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub cost_usd: f64,
    #[serde(default)]
    pub tokens: Tokens,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub model_usage: serde_json::Value,
}

/// How the process ended, as far as the engine knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
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
        cost_usd: progress.result.as_ref().map_or(0.0, |r| r.total_cost_usd),
        tokens: progress.tokens,
        result: progress.result.as_ref().and_then(|r| r.result.clone()),
        model_usage: progress
            .result
            .as_ref()
            .map(|r| r.model_usage.clone())
            .unwrap_or_default(),
    };
    if let Some((kind, why)) = stopped_because {
        out.kind = kind;
        out.reason = why.to_string();
        return out;
    }
    let exit_ok = matches!(exit, Exit::Code(0) | Exit::Unknown);
    let (kind, reason) = match (&progress.result, exit) {
        (Some(r), _) if !r.is_error && exit_ok => (OutcomeKind::Success, "completed".to_string()),
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn fold(lines: &str) -> Progress {
        let mut p = Progress::default();
        for (i, l) in lines.lines().enumerate() {
            p.apply_line(l, t(i as i64));
        }
        p
    }

    const TOOL_RUN: &str = r#"{"type":"system","subtype":"init","session_id":"s-1","model":"m"}
{"type":"assistant","message":{"id":"msg_1","content":[{"type":"text","text":"I'll write it."}],"usage":{"input_tokens":100,"output_tokens":1,"cache_read_input_tokens":20}},"session_id":"s-1"}
{"type":"assistant","message":{"id":"msg_1","content":[{"type":"tool_use","name":"Bash","input":{}}],"usage":{"input_tokens":100,"output_tokens":1,"cache_read_input_tokens":20}},"session_id":"s-1"}"#;

    #[test]
    fn assistant_usage_is_counted_once_per_message_and_activity_follows_the_stream() {
        let p = fold(TOOL_RUN);
        assert_eq!(p.session_id.as_deref(), Some("s-1"));
        assert_eq!(
            (p.tokens.input, p.tokens.output, p.tokens.cache_read),
            (100, 1, 20)
        );
        assert!(
            matches!(&p.activity, Activity::RunningTool { tool, since } if tool == "Bash" && *since == t(2))
        );
        assert_eq!(p.last_text.as_deref(), Some("I'll write it."));
    }

    #[test]
    fn api_retries_are_a_wait_with_an_end() {
        let p = fold(
            r#"{"type":"system","subtype":"init","session_id":"s"}
{"type":"system","subtype":"api_retry","attempt":3,"retry_delay_ms":2250.5,"error_status":429}"#,
        );
        assert_eq!(
            p.activity,
            Activity::RetryingApi {
                until: t(1) + Duration::milliseconds(2250),
                status: Some(429),
                attempt: 3
            }
        );
    }

    #[test]
    fn success_needs_no_error_and_exit_zero() {
        let ok = fold(
            r#"{"type":"result","subtype":"success","is_error":false,"total_cost_usd":0.2,"usage":{"input_tokens":5,"output_tokens":7},"modelUsage":{"m":{"costUSD":0.2}},"result":"done"}"#,
        );
        let o = classify(&ok, Exit::Code(0), None);
        assert_eq!(
            (o.kind, o.cost_usd, o.tokens.output),
            (OutcomeKind::Success, 0.2, 7)
        );
        assert_eq!(
            classify(&ok, Exit::Code(1), None).kind,
            OutcomeKind::Crashed
        );
        assert_eq!(
            classify(&ok, Exit::Unknown, None).kind,
            OutcomeKind::Success,
            "a re-adopted worker's result decides"
        );
    }

    #[test]
    fn failures_are_classified_with_a_reason() {
        let cases = [
            (
                r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":500}"#,
                Exit::Code(1),
                OutcomeKind::ApiError,
                "API error 500",
            ),
            (
                r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":429}"#,
                Exit::Code(1),
                OutcomeKind::RateLimited,
                "429",
            ),
            (
                r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":400}"#,
                Exit::Code(1),
                OutcomeKind::ClientError,
                "refused the request itself",
            ),
            (
                r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":408}"#,
                Exit::Code(1),
                OutcomeKind::ApiError,
                "API error 408",
            ),
            (
                r#"{"type":"result","subtype":"error_max_turns","is_error":true}"#,
                Exit::Code(1),
                OutcomeKind::MaxTurns,
                "turns",
            ),
            (
                r#"{"type":"result","subtype":"error_max_budget_usd","is_error":true}"#,
                Exit::Code(1),
                OutcomeKind::Budget,
                "budget",
            ),
            (
                r#"{"type":"result","subtype":"error_during_execution","is_error":true,"errors":["boom"]}"#,
                Exit::Code(0),
                OutcomeKind::Crashed,
                "boom",
            ),
            (
                r#"{"type":"system","subtype":"init"}"#,
                Exit::Code(3),
                OutcomeKind::Crashed,
                "exited with 3",
            ),
            (
                r#"{"type":"system","subtype":"init"}"#,
                Exit::Signal(9),
                OutcomeKind::Crashed,
                "signal 9",
            ),
            (
                r#"{"type":"system","subtype":"init"}"#,
                Exit::Unknown,
                OutcomeKind::Lost,
                "no result line",
            ),
        ];
        for (line, exit, kind, needle) in cases {
            let o = classify(&fold(line), exit, None);
            assert_eq!(o.kind, kind, "{line}");
            assert!(o.reason.contains(needle), "{}: {}", line, o.reason);
        }
        let o = classify(
            &fold(TOOL_RUN),
            Exit::Signal(15),
            Some((OutcomeKind::Killed, "killed by a person")),
        );
        assert_eq!(
            (o.kind, o.reason.as_str()),
            (OutcomeKind::Killed, "killed by a person")
        );
    }

    #[test]
    fn generic_lines_are_activity_and_heartbeats_check_in() {
        let p = fold(
            "compiling...\n{\"cortex\":\"heartbeat\",\"progress\":40,\"message\":\"half way\"}",
        );
        assert_eq!(p.lines, 2);
        assert_eq!(p.checkin_progress, Some(40.0));
        assert_eq!(p.last_checkin_at, Some(t(1)));
        assert!(matches!(p.activity, Activity::Working { .. }));
    }

    #[test]
    fn real_captures_parse_to_the_right_outcome() {
        // Lines taken from a real Claude Code run against the mock (e500).
        let p = fold(
            r#"{"type":"system","subtype":"init","session_id":"4a6a","model":"claude-opus-4-8[1m]"}
{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":553.04,"error_status":500,"error":"server_error"}
{"type":"assistant","message":{"id":"aec5","model":"<synthetic>","usage":{"input_tokens":0,"output_tokens":0},"content":[{"type":"text","text":"API Error: 500"}]}}
{"type":"result","subtype":"success","is_error":true,"api_error_status":500,"total_cost_usd":0,"usage":{"input_tokens":0,"output_tokens":0}}"#,
        );
        let o = classify(&p, Exit::Code(1), None);
        assert_eq!(o.kind, OutcomeKind::ApiError);
        assert!(OutcomeKind::ApiError.is_transient() && !OutcomeKind::MaxTurns.is_transient());
        assert!(!OutcomeKind::ClientError.is_transient());
        assert!(!OutcomeKind::ClientError.counts_against_expert());
        assert!(OutcomeKind::RateLimited.counts_against_expert());
    }
}
