//! Reading an agent's output: Claude Code's stream-json lines folded into
//! what the attempt is doing, what it has used, and how it ended. The
//! generic driver treats any line as activity and `{"cortex":"heartbeat"}`
//! lines as check-ins. How an attempt ended, by the driver's rule, is
//! `outcome`.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod outcome;

pub use outcome::{
    classify, classify_generic, is_client_error, needs_input, Exit, Outcome, OutcomeKind,
};

/// What the agent is doing right now, as its stream says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Activity {
    /// No output yet.
    Starting,
    /// A request to the model is out.
    WaitingOnModel {
        /// Since when the agent waits on the model.
        since: DateTime<Utc>,
    },
    /// A tool call is running.
    RunningTool {
        /// The tool's name.
        tool: String,
        /// When the call started.
        since: DateTime<Utc>,
    },
    /// The API failed and the agent waits before retrying.
    RetryingApi {
        /// When the agent retries.
        until: DateTime<Utc>,
        /// The API's HTTP status, if it gave one.
        status: Option<u16>,
        /// The retry's number, as the agent counts it.
        attempt: u32,
    },
    /// The result line arrived.
    Finished,
    /// Output of an agent whose format we do not know (generic driver).
    Working {
        /// When the last such output arrived.
        since: DateTime<Utc>,
    },
}

/// Token counts of an attempt, as the API reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Tokens {
    /// Input tokens not read from the cache.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Input tokens read from the prompt cache.
    #[serde(default)]
    pub cache_read: u64,
    /// Input tokens written to the prompt cache.
    #[serde(default)]
    pub cache_creation: u64,
}

impl Tokens {
    /// These counts and `other`'s together. The counts come from an agent's
    /// output, which may say anything: a sum too large to hold stays at the
    /// largest count rather than wrapping round or stopping the program.
    #[must_use]
    pub fn saturating_add(self, other: Tokens) -> Tokens {
        Tokens {
            input: self.input.saturating_add(other.input),
            output: self.output.saturating_add(other.output),
            cache_read: self.cache_read.saturating_add(other.cache_read),
            cache_creation: self.cache_creation.saturating_add(other.cache_creation),
        }
    }

    /// Input and output tokens together (what a token budget counts), held
    /// at the largest count for the same reason.
    pub fn in_and_out(&self) -> u64 {
        self.input.saturating_add(self.output)
    }
}

/// The largest cost in US dollars believed of one figure an agent reports
/// (one attempt's, or one model's share of it). No attempt comes near a
/// million dollars: a week of requests at the dearest model's price stays
/// far below it. A larger figure is damage, and refusing it keeps every
/// sum of such figures finite and readable.
pub const MAX_CREDIBLE_COST_USD: f64 = 1_000_000.0;

/// `usd` when it can be a cost: a number, not negative, not above
/// `MAX_CREDIBLE_COST_USD`. Else none: the figure is not taken.
pub fn credible_cost(usd: f64) -> Option<f64> {
    (usd.is_finite() && (0.0..=MAX_CREDIBLE_COST_USD).contains(&usd)).then_some(usd)
}

/// The `result` line, as far as we use it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultLine {
    /// How the run ended (`success`, or the kind of error).
    pub subtype: String,
    /// True when the agent reports the run failed.
    pub is_error: bool,
    /// The HTTP status of the API error that ended the run, if any.
    pub api_error_status: Option<u16>,
    /// The agent's final answer text.
    pub result: Option<String>,
    /// What the run cost, as the agent reports it, in US dollars (0 when
    /// it gives none); `cost` is the figure taken from it.
    pub total_cost_usd: f64,
    /// Tokens the run used.
    pub tokens: Tokens,
    /// Turns the conversation took.
    pub num_turns: u64,
    /// Error messages the agent gave.
    pub errors: Vec<String>,
    /// `modelUsage` as given (model -> counts and cost).
    pub model_usage: serde_json::Value,
    /// Tools the agent wanted and its permissions refused (`permission_denials`).
    #[serde(default)]
    pub denied_tools: Vec<String>,
}

impl ResultLine {
    /// The agent's cost, when it is credible (`credible_cost`).
    pub fn cost(&self) -> Option<f64> {
        credible_cost(self.total_cost_usd)
    }
}

/// Everything learned from one attempt's stream so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The agent's session id, once it said it.
    pub session_id: Option<String>,
    /// The model the agent runs, from its start line.
    pub model: Option<String>,
    /// What the agent is doing now.
    pub activity: Activity,
    /// Lines read so far.
    pub lines: u64,
    /// When the last line was read.
    pub last_line_at: Option<DateTime<Utc>>,
    /// Live counts from assistant lines, de-duplicated by message id.
    pub tokens: Tokens,
    /// The result line, once it arrived.
    pub result: Option<ResultLine>,
    /// Last check-in from a `{"cortex":"heartbeat"}` line.
    pub last_checkin_at: Option<DateTime<Utc>>,
    /// Progress the last check-in reported (the agent's own figure).
    pub checkin_progress: Option<f64>,
    /// The message of the last check-in.
    pub checkin_message: Option<String>,
    /// The most recent assistant text, for a glance in the UI.
    pub last_text: Option<String>,
    /// A usage limit of the account the agent runs under that refuses its
    /// requests, as the agent's `rate_limit_event` line said it; cleared
    /// when a later one says requests are allowed again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_limit: Option<UsageLimit>,
    #[serde(skip)]
    seen_messages: RecentIds,
}

/// An account's usage limit that refuses requests until it resets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageLimit {
    /// When it resets.
    pub resets_at: DateTime<Utc>,
    /// Which limit, as the agent names it (`five_hour`, `seven_day`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl UsageLimit {
    /// The furthest ahead a reset is believed: an account's longest limit
    /// is a week.
    pub const MAX_AHEAD_SECS: i64 = 8 * 86_400;

    /// Reads a `rate_limit_event`'s `rate_limit_info`, seen at `at`: a
    /// limit when it refuses requests and says when it resets (seconds
    /// since the epoch, or milliseconds for a figure too large to be
    /// seconds), after `at` and at most `MAX_AHEAD_SECS` later. A reset
    /// already past (a clock ahead of the service's) or absurdly far is no
    /// time to wait for: such a refusal is a plain rate limit.
    pub fn of(info: &serde_json::Value, at: DateTime<Utc>) -> Option<Self> {
        if info.get("status").and_then(|s| s.as_str()) != Some("rejected") {
            return None;
        }
        let n = info.get("resetsAt").and_then(serde_json::Value::as_f64)?;
        let secs = if n > 1e11 { n / 1000.0 } else { n };
        if !secs.is_finite() || secs <= 0.0 {
            return None;
        }
        let resets_at = DateTime::from_timestamp(secs as i64, 0)?;
        let ahead = (resets_at - at).num_seconds();
        if ahead <= 0 || ahead > Self::MAX_AHEAD_SECS {
            return None;
        }
        Some(Self {
            resets_at,
            kind: info
                .get("rateLimitType")
                .and_then(|k| k.as_str())
                .map(str::to_string),
        })
    }

    /// The limit in words: "the 5-hour usage limit", "the weekly usage
    /// limit", else "a usage limit".
    pub fn words(&self) -> String {
        match self.kind.as_deref() {
            Some("five_hour") => "the 5-hour usage limit".into(),
            Some(k) if k.starts_with("seven_day") => "the weekly usage limit".into(),
            _ => "a usage limit".into(),
        }
    }
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
            usage_limit: None,
            seen_messages: RecentIds::default(),
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

/// The message ids seen last. Claude Code writes one line per content block
/// of a message, one after the other, each repeating the message's usage:
/// a message is counted once when its id was not among the last few. A
/// bounded window of the ids' 64-bit hashes keeps a run of any length in
/// constant memory, with no allocation per line.
#[derive(Debug, Clone, Default, PartialEq)]
struct RecentIds {
    ids: [u64; Self::KEEP],
    len: usize,
    next: usize,
}

impl RecentIds {
    const KEEP: usize = 16;

    /// True the first time `id` is seen within the window.
    fn first_sight(&mut self, id: &str) -> bool {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut h);
        let key = h.finish();
        if self.ids[..self.len].contains(&key) {
            return false;
        }
        self.ids[self.next] = key;
        self.next = (self.next + 1) % Self::KEEP;
        self.len = (self.len + 1).min(Self::KEEP);
        true
    }
}

/// The fields of a line that the quick reading uses, read in one pass
/// without building the line; the rest is skipped (most lines of a long run
/// are assistant lines).
#[derive(Deserialize)]
struct QuickLine<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    cortex: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    session_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    message: Option<AssistantMessage<'a>>,
}

#[derive(Deserialize)]
struct AssistantMessage<'a> {
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: Option<UsageCounts>,
    #[serde(default, borrow)]
    content: Content<'a>,
}

#[derive(Deserialize)]
struct UsageCounts {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_read_input_tokens: u64,
    #[serde(default)]
    cache_creation_input_tokens: u64,
}

#[derive(Deserialize)]
struct Block<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
}

/// What a message's content blocks tell, folded as they are read (no list
/// of blocks is built): the last tool call's name (`Some(None)`: a tool call
/// without one) and the last text.
#[derive(Default)]
struct Content<'a> {
    tool: Option<Option<Cow<'a, str>>>,
    text: Option<Cow<'a, str>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Content<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Blocks<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Blocks<'a> {
            type Value = Content<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of content blocks")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut c = Content::default();
                while let Some(b) = seq.next_element::<Block<'de>>()? {
                    match b.kind.as_deref() {
                        Some("tool_use") => c.tool = Some(b.name),
                        Some("text") if b.text.is_some() => c.text = b.text,
                        _ => {}
                    }
                }
                Ok(c)
            }
        }
        d.deserialize_seq(Blocks(std::marker::PhantomData))
    }
}

/// The first 300 characters of `t`, into `into`'s buffer (kept from line to line).
fn set_glance(into: &mut Option<String>, t: &str) {
    let end = t.char_indices().nth(300).map_or(t.len(), |(i, _)| i);
    let s = into.get_or_insert_with(String::new);
    s.clear();
    s.push_str(&t[..end]);
}

impl Progress {
    /// What the attempt cost by the agent's own credible figure: none
    /// before its result line, or when that line's figure is not credible
    /// (then Cortex estimates it from the tokens, and says so).
    pub fn agent_cost(&self) -> Option<f64> {
        self.result.as_ref().and_then(ResultLine::cost)
    }

    /// Folds one output line, seen at `at`. Returns false when the line is
    /// not JSON (still counted as activity).
    pub fn apply_line(&mut self, line: &str, at: DateTime<Utc>) -> bool {
        self.lines += 1;
        self.last_line_at = Some(at);
        if self.apply_assistant_line(line, at) {
            return true;
        }
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
                    // A float cast saturates (and NaN is 0): any delay is a date.
                    until: crate::duration::later(at, crate::duration::millis(delay as u64)),
                    status: v
                        .get("error_status")
                        .and_then(serde_json::Value::as_u64)
                        .map(|s| s as u16),
                    attempt: u(&v, "attempt") as u32,
                };
            }
            ("rate_limit_event", _) => {
                // Said whenever the account's limits change: the latest wins.
                self.usage_limit = v
                    .get("rate_limit_info")
                    .and_then(|info| UsageLimit::of(info, at));
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
                    denied_tools: v
                        .get("permission_denials")
                        .and_then(|d| d.as_array())
                        .map(|a| {
                            a.iter()
                                .filter_map(|d| d.get("tool_name")?.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
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

    /// The common case read without building the line: an assistant line
    /// whose fields have the expected types. False leaves it to the general
    /// reading.
    fn apply_assistant_line(&mut self, line: &str, at: DateTime<Utc>) -> bool {
        let Ok(head) = serde_json::from_str::<QuickLine<'_>>(line) else {
            return false;
        };
        if head.kind.as_deref() != Some("assistant") || head.cortex.is_some() {
            return false;
        }
        let Some(msg) = head.message else {
            return false;
        };
        if let Some(s) = head.session_id {
            if self.session_id.is_none() {
                self.session_id = Some(s.into_owned());
            }
        }
        let id = msg.id.as_deref().unwrap_or("");
        if !id.is_empty() && self.seen_messages.first_sight(id) {
            if let Some(u) = &msg.usage {
                self.tokens = self.tokens.saturating_add(Tokens {
                    input: u.input_tokens,
                    output: u.output_tokens,
                    cache_read: u.cache_read_input_tokens,
                    cache_creation: u.cache_creation_input_tokens,
                });
            }
        }
        if let Some(t) = &msg.content.text {
            set_glance(&mut self.last_text, t);
        }
        self.activity = match msg.content.tool {
            Some(Some(tool)) => Activity::RunningTool {
                tool: tool.into_owned(),
                since: at,
            },
            _ => Activity::WaitingOnModel { since: at },
        };
        true
    }

    fn apply_assistant(&mut self, v: &serde_json::Value, at: DateTime<Utc>) {
        let Some(msg) = v.get("message") else { return };
        let id = msg.get("id").and_then(|i| i.as_str()).unwrap_or("");
        // Claude Code writes one line per content block, each repeating the
        // message's start-of-message usage: count a message once.
        if !id.is_empty() && self.seen_messages.first_sight(id) {
            if let Some(usage) = msg.get("usage") {
                self.tokens = self.tokens.saturating_add(usage_tokens(usage));
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
                        set_glance(&mut self.last_text, t);
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
    fn an_absurd_retry_delay_from_the_agent_does_not_panic() {
        let p = fold(
            r#"{"type":"system","subtype":"api_retry","attempt":1,"retry_delay_ms":1e300,"error_status":529}"#,
        );
        assert!(
            matches!(p.activity, Activity::RetryingApi { until, .. } if until == DateTime::<Utc>::MAX_UTC),
            "{:?}",
            p.activity
        );
    }

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
    fn the_quick_reading_of_assistant_lines_agrees_with_the_general_one() {
        let quick = fold(TOOL_RUN);
        let mut general = Progress::default();
        for (i, l) in TOOL_RUN.lines().enumerate() {
            general.lines += 1;
            general.last_line_at = Some(t(i as i64));
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            if v["type"] == "assistant" {
                general.apply_assistant(&v, t(i as i64));
            } else {
                general.apply_line(l, t(i as i64));
                general.lines -= 1;
            }
        }
        assert_eq!(quick, general);
        // A line whose fields have other types still counts, the general way.
        let odd = fold(
            r#"{"type":"assistant","message":{"id":"m9","content":"plain","usage":{"input_tokens":7,"output_tokens":null}}}"#,
        );
        assert_eq!(odd.tokens.input, 7);
    }

    #[test]
    fn a_long_run_is_counted_per_message_in_constant_memory() {
        let mut p = Progress::default();
        for n in 0..20_000 {
            let line = format!(
                r#"{{"type":"assistant","message":{{"id":"m{n}","content":[{{"type":"text","text":"line {n}"}}],"usage":{{"input_tokens":100,"output_tokens":20}}}}}}"#
            );
            // Each message's blocks come as consecutive lines with the same usage.
            p.apply_line(&line, t(0));
            p.apply_line(&line, t(0));
        }
        assert_eq!((p.tokens.input, p.tokens.output), (2_000_000, 400_000));
        assert!(p.seen_messages.len <= RecentIds::KEEP);
        assert_eq!(p.last_text.as_deref(), Some("line 19999"));
    }

    #[test]
    fn token_counts_too_large_to_add_stay_at_the_largest_count() {
        // Two messages of 10^19 input tokens each: more than a count holds.
        let huge = |n: u32, content: &str| {
            format!(
                r#"{{"type":"assistant","message":{{"id":"m{n}","content":{content},"usage":{{"input_tokens":10000000000000000000,"output_tokens":18446744073709551615}}}}}}"#
            )
        };
        let blocks = r#"[{"type":"text","text":"step"}]"#;
        // The quick reading and the general one (a content that is text).
        for content in [blocks, r#""plain""#] {
            let p = fold(&format!("{}\n{}", huge(1, content), huge(2, content)));
            assert_eq!((p.tokens.input, p.tokens.output), (u64::MAX, u64::MAX));
            assert_eq!(p.tokens.in_and_out(), u64::MAX);
        }
    }

    #[test]
    fn a_cost_no_run_can_have_is_not_taken_and_the_estimate_stands() {
        for figure in ["1e308", "-0.5", "1000000.01"] {
            let p = fold(&format!(
                r#"{{"type":"result","subtype":"success","is_error":false,"total_cost_usd":{figure},"usage":{{"input_tokens":5,"output_tokens":7}},"result":"done"}}"#
            ));
            assert_eq!(p.agent_cost(), None, "{figure}");
            let o = classify(&p, Exit::Code(0), None);
            assert_eq!(o.cost_usd, 0.0, "{figure}");
            let e = o.with_estimate(p.agent_cost().is_some(), Some(0.25));
            assert_eq!((e.cost_usd, e.cost_estimated), (0.25, true), "{figure}");
        }
        assert_eq!(credible_cost(f64::NAN), None);
        assert_eq!(credible_cost(f64::INFINITY), None);
        assert_eq!(
            credible_cost(MAX_CREDIBLE_COST_USD),
            Some(MAX_CREDIBLE_COST_USD)
        );
        assert_eq!(credible_cost(0.0), Some(0.0));
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
                until: t(1) + chrono::Duration::milliseconds(2250),
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
    fn a_denied_tool_or_a_closing_question_needs_a_person() {
        // Lines from a real Claude Code run whose Bash call was denied.
        let denied = fold(
            r#"{"type":"result","subtype":"success","is_error":false,"result":"Done: the tool ran (1 tool results seen).","permission_denials":[{"tool_name":"Bash","tool_use_id":"toolu_1","tool_input":{"command":"echo hello > out.txt"}}]}"#,
        );
        let o = classify(&denied, Exit::Code(0), None);
        assert_eq!(o.kind, OutcomeKind::NeedsInput);
        assert!(o.reason.contains("Bash denied"), "{}", o.reason);
        let asks = fold(
            r#"{"type":"result","subtype":"success","is_error":false,"result":"I found two configs.\nWhich one should I migrate, prod or staging?\n"}"#,
        );
        let o = classify(&asks, Exit::Code(0), None);
        assert_eq!(o.kind, OutcomeKind::NeedsInput);
        assert!(o.reason.ends_with("prod or staging?"), "{}", o.reason);
        let done = fold(
            r#"{"type":"result","subtype":"success","is_error":false,"result":"Should I? I did: migrated both.","permission_denials":[]}"#,
        );
        assert_eq!(
            classify(&done, Exit::Code(0), None).kind,
            OutcomeKind::Success
        );
        assert!(!OutcomeKind::NeedsInput.is_transient());
        assert!(!OutcomeKind::NeedsInput.counts_against_expert());
    }

    #[test]
    fn the_generic_driver_succeeds_on_exit_zero_and_names_a_failure() {
        let p = fold("working\n{\"cortex\":\"heartbeat\",\"progress\":50}");
        let ok = classify_generic(&p, Exit::Code(0), None, None);
        assert_eq!(
            (ok.kind, ok.reason.as_str()),
            (OutcomeKind::Success, "completed")
        );
        let bad = classify_generic(&p, Exit::Code(4), None, Some("make: *** [all] Error 2\n"));
        assert_eq!(bad.kind, OutcomeKind::Crashed);
        assert_eq!(bad.reason, "exited with 4: make: *** [all] Error 2");
        assert_eq!(
            classify_generic(&p, Exit::Unknown, None, None).kind,
            OutcomeKind::Lost
        );
        let killed = classify_generic(
            &p,
            Exit::Code(0),
            Some((OutcomeKind::Killed, "killed by a person")),
            None,
        );
        assert_eq!(
            killed.kind,
            OutcomeKind::Killed,
            "a stop is reported as such"
        );
    }

    #[test]
    fn the_result_and_last_text_are_kept_redacted() {
        let p = fold(
            r#"{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"key sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAA"}]}}
{"type":"result","subtype":"success","is_error":false,"result":"done with sk-ant-api03-BBBBBBBBBBBBBBBBBBBBBBBB"}"#,
        );
        let o = classify(&p, Exit::Code(0), None);
        let result = o.result.expect("result kept");
        assert!(
            result.starts_with("done with") && !result.contains("BBBBBBBB"),
            "{result}"
        );
        let text = o.last_text.expect("last text kept");
        assert!(!text.contains("AAAAAAAA"), "{text}");
    }

    #[test]
    fn a_stop_from_outside_is_lost_not_the_experts_crash() {
        // A cluster cancelling the job (its shim passes SIGTERM on), or a
        // person's `kill`: no stop Cortex asked for.
        let o = classify(&fold(TOOL_RUN), Exit::Signal(15), None);
        assert_eq!(o.kind, OutcomeKind::Lost, "{}", o.reason);
        assert!(o.reason.contains("from outside Cortex"), "{}", o.reason);
        assert!(!o.kind.counts_against_expert());
        assert!(o.kind.is_transient(), "restarted as the policy says");
        // A fault of the agent's own is still a crash.
        let segv = classify(&fold(TOOL_RUN), Exit::Signal(11), None);
        assert_eq!(segv.kind, OutcomeKind::Crashed);
        assert!(segv.kind.counts_against_expert());
        // Stopped so after its result line: said as it was.
        let done = format!(
            "{TOOL_RUN}\n{}",
            r#"{"type":"result","subtype":"success","is_error":false,"total_cost_usd":0.01,"result":"done"}"#
        );
        let after = classify(&fold(&done), Exit::Signal(15), None);
        assert_eq!(after.kind, OutcomeKind::Lost, "{}", after.reason);
        assert!(
            after.reason.ends_with("after its result line"),
            "{}",
            after.reason
        );
        let generic = classify_generic(&fold(TOOL_RUN), Exit::Signal(2), None, Some("bye"));
        assert_eq!(generic.kind, OutcomeKind::Lost, "{}", generic.reason);
    }

    #[test]
    fn an_estimate_fills_only_a_missing_cost() {
        let o = classify(&fold(TOOL_RUN), Exit::Signal(9), None);
        let e = o.clone().with_estimate(false, Some(0.5));
        assert_eq!((e.cost_usd, e.cost_estimated), (0.5, true));
        let kept = o.with_estimate(true, Some(0.5));
        assert_eq!((kept.cost_usd, kept.cost_estimated), (0.0, false));
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

    #[test]
    fn an_attempt_the_accounts_usage_limit_refused_waits_for_its_reset() {
        let limited = |info: &str| {
            fold(&format!(
                r#"{{"type":"system","subtype":"init","session_id":"s"}}
{{"type":"rate_limit_event","rate_limit_info":{info},"session_id":"s"}}
{{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"result":"You've hit your limit"}}"#
            ))
        };
        let reset = t(3600);
        let p = limited(&format!(
            r#"{{"status":"rejected","resetsAt":{},"rateLimitType":"five_hour"}}"#,
            reset.timestamp()
        ));
        assert_eq!(p.usage_limit.as_ref().map(|l| l.resets_at), Some(reset));
        let o = classify(&p, Exit::Code(1), None);
        assert_eq!(
            (o.kind, o.resets_at),
            (OutcomeKind::RateLimited, Some(reset))
        );
        assert_eq!(
            o.reason,
            "the 5-hour usage limit was reached (API rate limited (429))"
        );
        // Milliseconds are read as such; a weekly limit is named so.
        let ms = limited(&format!(
            r#"{{"status":"rejected","resetsAt":{},"rateLimitType":"seven_day"}}"#,
            reset.timestamp_millis()
        ));
        let l = ms.usage_limit.expect("a limit");
        assert_eq!(
            (l.resets_at, l.words()),
            (reset, "the weekly usage limit".into())
        );
        // Allowed, no reset time, a reset already past or absurdly far: no
        // limit to wait for, a plain rate limit.
        for info in [
            r#"{"status":"allowed_warning","resetsAt":1700003600}"#,
            r#"{"status":"rejected"}"#,
            r#"{"status":"rejected","resetsAt":1699999000}"#,
            r#"{"status":"rejected","resetsAt":1800000000}"#,
            r#"{"status":"rejected","resetsAt":1e300}"#,
            r#"{"status":"rejected","resetsAt":-5}"#,
        ] {
            let o = classify(&limited(info), Exit::Code(1), None);
            assert_eq!(
                (o.kind, o.resets_at),
                (OutcomeKind::RateLimited, None),
                "{info}"
            );
        }
        // A later event that allows requests clears it.
        let mut p = limited(r#"{"status":"rejected","resetsAt":1700003600}"#);
        p.apply_line(
            r#"{"type":"rate_limit_event","rate_limit_info":{"status":"allowed"}}"#,
            t(9),
        );
        assert_eq!(p.usage_limit, None);
        // A success is a success whatever the limit said.
        let mut ok = limited(r#"{"status":"rejected","resetsAt":1700003600}"#);
        ok.result = None;
        ok.apply_line(
            r#"{"type":"result","subtype":"success","is_error":false,"result":"done"}"#,
            t(10),
        );
        assert_eq!(classify(&ok, Exit::Code(0), None).resets_at, None);
    }
}
