//! `fake-agent`: a stand-in for the Claude Code CLI used by Cortex's tests.
//!
//! It accepts the command line Cortex gives the real CLI
//! (`claude -p <prompt> --output-format stream-json --verbose ...`) and prints
//! stream-json lines on stdout, one JSON object per line, flushed after every
//! line. Which behaviour it imitates is chosen per run, so a test can provoke
//! every failure the supervisor has to handle with a real process.
//!
//! # Command line
//!
//! Flags are accepted in any order, also as `--flag=value`:
//!
//! * `-p <prompt>` (or `--print <prompt>`): the prompt. A `-p` followed by a
//!   flag or nothing takes the prompt from stdin (as Claude Code does); with
//!   `--input-format stream-json` it defaults to the empty string.
//!   A bare positional argument is taken as the prompt when `-p` is absent.
//! * `--session-id <id>`, `--resume <id>` (or `-r <id>`): see *Session id*.
//! * `--output-format`, `--input-format`, `--append-system-prompt`,
//!   `--settings`, `--allowedTools`, `--permission-mode`, `--model`,
//!   `--max-turns`: take a value, which is otherwise ignored.
//! * `--verbose` and a few other known switches take no value.
//! * Any other flag is ignored; the argument after it is skipped as its value
//!   unless it starts with `--` or is a known flag such as `-p`.
//!
//! Usage errors (missing prompt, unknown mode, bad token value) print a
//! message to stderr and exit with status 2 before anything reaches stdout.
//!
//! # Choosing the mode
//!
//! 1. On `--resume`, the env var `FAKE_AGENT_RESUME_MODE` wins when set, so a
//!    test can make attempt 1 hang and the resumed attempt 2 succeed.
//! 2. Otherwise the last `FAKE:<mode>` token in the prompt.
//! 3. Otherwise the env var `FAKE_AGENT_MODE`.
//! 4. Otherwise `normal`.
//!
//! Tokens are whitespace-separated words of the prompt; surrounding
//! punctuation such as quotes or a final full stop is ignored. Two more tokens
//! tune the timing: `FAKE_SECS:<n>` (seconds, fractions allowed, e.g.
//! `FAKE_SECS:0.2`) and `FAKE_LINES:<n>` (a count). The last one of each wins;
//! each mode below gives its defaults.
//!
//! # Modes
//!
//! "Init" is the `system`/`init` line; "result success" is a `result` line with
//! `"subtype":"success","is_error":false` followed by exit status 0.
//!
//! | mode | behaviour |
//! |------|-----------|
//! | `normal` | init; text; a `Bash` tool_use that writes the prompt (exactly, no newline added) to `fake-out.txt` in the current directory (or to the file the last `FAKE_OUT:<name>` token names), done in-process; its tool_result; text; result success. Takes a few milliseconds. |
//! | `answer` | init; text; result success whose `result` is the content of the file the last `FAKE_ANSWER:<path>` token names (a coordinator's plan a test wrote). Without the token, or when the file cannot be read, a usage error. |
//! | `crash` | init; text; `fake-agent: simulated crash` on stderr; exit 3 without a result line. |
//! | `hang` | init; then silent forever, asleep (0% CPU). SIGTERM kills it. |
//! | `slow_start` | sleeps `FAKE_SECS` (default 3) before printing anything, then `normal`. |
//! | `flood` | init; `FAKE_LINES` (default 10000) text lines as fast as possible, each with its own message id; result success. |
//! | `flood_then_hang` | as `flood` without the result line, then silent forever, asleep (a worker with much output that stays live). |
//! | `ignore_sigterm` | sets SIGTERM to SIG_IGN before printing anything; init; then a text line every second forever. Only SIGKILL ends it; it also keeps running if stdout is closed. |
//! | `daemon` | init; half a second later double-forks a daemon the usual way (fork, `setsid`, fork, the middle process exits and is reaped) that execs `sleep 600` with an empty environment (so it carries no worker tag) and its descriptors closed; `daemon pid <N>` on stderr; then silent forever, asleep. |
//! | `grandchild` | init; forks a child that calls `setsid()` (its own session and process group) and execs `sleep 600` (found on `PATH`, environment, cwd and open descriptors inherited, so it also holds stdout/stderr open); `grandchild pid <N>` on stderr; a `Bash` tool_use line for `sleep 600` with no tool_result; then silent forever, asleep. |
//! | `rate_limited` | init; `FAKE_LINES` (default 3) `api_retry` lines (status 429), one every `FAKE_SECS` (default 1) seconds, each followed by its delay; then the `normal` sequence after init (text, tool use writing `fake-out.txt`, text, result success). |
//! | `rate_limited_fail` | as `rate_limited` up to the retries; then an assistant line with model `<synthetic>`, zero usage and text `API Error: 429 rate limited`; a result with `"subtype":"success","is_error":true,"api_error_status":429,"result":"API Error: 429 rate limited"`; exit 1. |
//! | `usage_limit` | init; a `rate_limit_event` line whose `rate_limit_info` is `{"status":"rejected","resetsAt":T,"rateLimitType":"five_hour"}`, T being now plus `FAKE_SECS` (default 1) in whole seconds since the epoch (as the real CLI says an account's usage limit refused it); an assistant line with model `<synthetic>` and text `You've hit your limit`; a result with `"subtype":"success","is_error":true,"api_error_status":429,"result":"You've hit your limit"`; exit 1. |
//! | `error_result` | init; a result with `"subtype":"success","is_error":true,"api_error_status":500,"result":"API Error: 500 Internal server error"`; exit 1. |
//! | `client_error` | init; a result with `"subtype":"success","is_error":true,"api_error_status":400,"result":"API Error: 400 invalid_request_error"`; exit 1. |
//! | `max_turns` | init; text; a result with `"subtype":"error_max_turns","is_error":true,"errors":["Reached maximum number of turns (1)"]` and, like the real CLI, no `result` field; exit 1. |
//! | `silent_busy` | init; burns CPU in a tight arithmetic loop without output for `FAKE_SECS` (default 30) seconds; text; result success. |
//! | `silent` | init; silent and asleep (0% CPU) for `FAKE_SECS` (default 30) seconds; text; result success. |
//! | `slow` | init; `FAKE_LINES` (default 5) times: sleep `FAKE_SECS` (default 1), print a text line; result success. |
//! | `heartbeat` | a generic (non-Claude) agent: no init, no result. `FAKE_LINES` (default 5) times: sleep `FAKE_SECS` (default 1), print `{"cortex":"heartbeat","progress":N,"message":"step N"}` with N = 1, 2, ...; exit 0. |
//! | `exit_after_result` | the whole `normal` output including the result line, then silent forever, asleep (the CLI hanging after its result). |
//! | `stdin_echo` | for `--input-format stream-json`: init; reads stdin line by line; for each `{"type":"user","message":{"role":"user","content":C}}` prints a text line `nudged: <text>`, where `<text>` is C if C is a string, else the `text` of C's `text` blocks joined with newlines, then a result line unless the text contains `FAKE:stall` (then it waits silently); other lines are ignored; on EOF result success. |
//!
//! # Line shapes
//!
//! * init: `{"type":"system","subtype":"init","session_id":S,"cwd":..,"model":"fake-model","tools":["Bash","Write"],"permissionMode":"default","claude_code_version":"fake"}`
//! * text: `{"type":"assistant","message":{"id":"msg_..","type":"message","role":"assistant","model":"fake-model","content":[{"type":"text","text":..}],"usage":{"input_tokens":100,"output_tokens":20,"cache_read_input_tokens":0,"cache_creation_input_tokens":0}},"session_id":S}`
//! * tool call: the same with content `[{"type":"tool_use","id":"toolu_..","name":"Bash","input":{"command":..}}]`,
//!   then `{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":..,"content":..,"is_error":false}]},"session_id":S}`
//! * retry: `{"type":"system","subtype":"api_retry","attempt":N,"max_retries":10,"retry_delay_ms":D,"error_status":429,"error":"rate_limit","session_id":S}`
//!   where D is `FAKE_SECS` in milliseconds.
//! * result: `{"type":"result","subtype":..,"is_error":..,"api_error_status":..,"duration_ms":..,"num_turns":..,"result":..,"session_id":S,"total_cost_usd":0.0123,"usage":{..},"modelUsage":{"fake-model":{..,"costUSD":0.0123}},"permission_denials":[]}`; the cost is 0 when no turn ran (an API error before any answer).
//!   `num_turns` counts the assistant lines printed (synthetic ones excluded),
//!   and the usage totals are 100 input and 20 output tokens per such line.
//!
//! # Session id
//!
//! S is the `--session-id` value, else the `--resume` value, else a generated
//! uuid-like string. With `--resume <id>` every mode except `heartbeat` prints
//! init and then a text line `resumed <id>` before its own output.
//!
//! # Recording starts
//!
//! When the env var `FAKE_AGENT_RECORD` names a file, every start appends one
//! line to it (once the prompt is read, before anything else happens, even
//! before usage errors):
//! `{"pid":N,"args":[..],"env_worker":W,"env_attempt":A,"cwd":"..","prompt":P}`,
//! where P is the prompt it got (null on a usage error), and
//! `args` excludes the program name and W and A are the strings in
//! `CORTEX_WORKER_ID` and `CORTEX_ATTEMPT`, or null when unset. Failing to
//! append is reported on stderr and ends the run with status 2.
//!
//! # Closed stdout
//!
//! If writing to stdout fails (the reader went away), the agent reports it on
//! stderr and exits with status 1, except in `ignore_sigterm` mode.

use serde_json::{json, Value};
use std::ffi::{CStr, OsString};
use std::fs::OpenOptions;
use std::hint::black_box;
use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::ptr;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Model name reported everywhere.
const MODEL: &str = "fake-model";
/// Cost reported in every result line.
const COST_USD: f64 = 0.0123;
/// Input tokens charged per assistant line.
const INPUT_TOKENS: u64 = 100;
/// Output tokens charged per assistant line.
const OUTPUT_TOKENS: u64 = 20;
/// File written by the `normal` flow.
const OUT_FILE: &str = "fake-out.txt";
/// Exit status for usage errors.
const USAGE_ERROR: u8 = 2;

/// Flags that take a value; the value is consumed even if it starts with `-`.
const VALUE_FLAGS: &[&str] = &[
    "-p",
    "--print",
    "--output-format",
    "--input-format",
    "--session-id",
    "--resume",
    "-r",
    "--append-system-prompt",
    "--settings",
    "--allowedTools",
    "--permission-mode",
    "--model",
    "--max-turns",
];

/// Known switches that never take a value.
const SWITCHES: &[&str] = &[
    "--verbose",
    "--dangerously-skip-permissions",
    "--include-partial-messages",
    "--replay-user-messages",
    "--fork-session",
    "--strict-mcp-config",
    "--continue",
    "-c",
];

/// What the command line says.
#[derive(Debug, Default)]
struct Cli {
    prompt: Option<String>,
    session_id: Option<String>,
    resume: Option<String>,
    input_format: Option<String>,
}

impl Cli {
    fn set(&mut self, flag: &str, value: String) {
        match flag {
            "-p" | "--print" => self.prompt = Some(value),
            "--session-id" => self.session_id = Some(value),
            "--resume" | "-r" => self.resume = Some(value),
            "--input-format" => self.input_format = Some(value),
            _ => {}
        }
    }

    fn reads_stream_json(&self) -> bool {
        self.input_format.as_deref() == Some("stream-json")
    }
}

/// Parses the arguments (without the program name).
fn parse_args(args: &[String]) -> Cli {
    let mut cli = Cli::default();
    let mut rest = args.iter().peekable();
    while let Some(arg) = rest.next() {
        let (flag, inline) = split_inline_value(arg);
        let bare_print = matches!(flag, "-p" | "--print")
            && inline.is_none()
            && rest.peek().is_none_or(|next| looks_like_flag(next));
        if bare_print {
            // `-p` with no prompt after it: the prompt comes on stdin.
            continue;
        }
        if VALUE_FLAGS.contains(&flag) {
            if let Some(value) = inline.or_else(|| rest.next().cloned()) {
                cli.set(flag, value);
            }
        } else if SWITCHES.contains(&flag) {
            continue;
        } else if flag.starts_with('-') {
            if inline.is_none() && rest.peek().is_some_and(|next| !looks_like_flag(next)) {
                rest.next();
            }
        } else if cli.prompt.is_none() {
            cli.prompt = Some(arg.clone());
        }
    }
    cli
}

/// Splits `--flag=value` into the flag and its value.
fn split_inline_value(arg: &str) -> (&str, Option<String>) {
    match arg.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
        _ => (arg, None),
    }
}

/// Whether an argument after an unknown flag is a flag rather than its value.
fn looks_like_flag(arg: &str) -> bool {
    let (flag, _) = split_inline_value(arg);
    arg.starts_with("--") || VALUE_FLAGS.contains(&flag) || SWITCHES.contains(&flag)
}

/// The behaviour to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    Crash,
    Hang,
    SlowStart,
    Flood,
    FloodThenHang,
    IgnoreSigterm,
    Grandchild,
    Daemon,
    RateLimited,
    RateLimitedFail,
    UsageLimit,
    ErrorResult,
    ClientError,
    MaxTurns,
    SilentBusy,
    Silent,
    Slow,
    Heartbeat,
    ExitAfterResult,
    StdinEcho,
    Answer,
}

impl Mode {
    fn from_name(name: &str) -> Option<Mode> {
        let mode = match name {
            "normal" => Mode::Normal,
            "crash" => Mode::Crash,
            "hang" => Mode::Hang,
            "slow_start" => Mode::SlowStart,
            "flood" => Mode::Flood,
            "flood_then_hang" => Mode::FloodThenHang,
            "ignore_sigterm" => Mode::IgnoreSigterm,
            "grandchild" => Mode::Grandchild,
            "daemon" => Mode::Daemon,
            "rate_limited" => Mode::RateLimited,
            "rate_limited_fail" => Mode::RateLimitedFail,
            "usage_limit" => Mode::UsageLimit,
            "error_result" => Mode::ErrorResult,
            "client_error" => Mode::ClientError,
            "max_turns" => Mode::MaxTurns,
            "silent_busy" => Mode::SilentBusy,
            "silent" => Mode::Silent,
            "slow" => Mode::Slow,
            "heartbeat" => Mode::Heartbeat,
            "exit_after_result" => Mode::ExitAfterResult,
            "stdin_echo" => Mode::StdinEcho,
            "answer" => Mode::Answer,
            _ => return None,
        };
        Some(mode)
    }

    /// Default for `FAKE_SECS`.
    fn default_secs(self) -> f64 {
        match self {
            Mode::SlowStart => 3.0,
            Mode::SilentBusy | Mode::Silent => 30.0,
            _ => 1.0,
        }
    }

    /// Default for `FAKE_LINES`.
    fn default_lines(self) -> u64 {
        match self {
            Mode::Flood | Mode::FloodThenHang => 10_000,
            Mode::RateLimited | Mode::RateLimitedFail => 3,
            _ => 5,
        }
    }
}

/// Everything a run needs to know.
#[derive(Debug)]
struct Plan {
    mode: Mode,
    prompt: String,
    secs: f64,
    lines: u64,
    resume: Option<String>,
    session_id: String,
}

/// The value of the last `<prefix><value>` word in the prompt.
fn last_token<'a>(prompt: &'a str, prefix: &str) -> Option<&'a str> {
    prompt
        .split_whitespace()
        .map(|word| word.trim_start_matches(|c: char| !c.is_ascii_alphanumeric()))
        .filter_map(|word| word.strip_prefix(prefix))
        .map(|value| value.trim_end_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_'))
        .next_back()
}

/// A non-empty environment variable.
fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

fn select_mode(prompt: &str, resuming: bool) -> Result<Mode, String> {
    let name = resuming
        .then(|| env_nonempty("FAKE_AGENT_RESUME_MODE"))
        .flatten()
        .or_else(|| last_token(prompt, "FAKE:").map(str::to_owned))
        .or_else(|| env_nonempty("FAKE_AGENT_MODE"))
        .unwrap_or_else(|| "normal".to_owned());
    Mode::from_name(&name).ok_or_else(|| format!("unknown mode {name:?}"))
}

fn parse_secs(prompt: &str) -> Result<Option<f64>, String> {
    let Some(text) = last_token(prompt, "FAKE_SECS:") else {
        return Ok(None);
    };
    match text.parse::<f64>() {
        Ok(secs) if secs.is_finite() && (0.0..1e9).contains(&secs) => Ok(Some(secs)),
        _ => Err(format!("bad FAKE_SECS value {text:?}")),
    }
}

fn parse_lines(prompt: &str) -> Result<Option<u64>, String> {
    last_token(prompt, "FAKE_LINES:")
        .map(|text| {
            text.parse::<u64>()
                .map_err(|_| format!("bad FAKE_LINES value {text:?}"))
        })
        .transpose()
}

fn make_plan(cli: Cli) -> Result<Plan, String> {
    let prompt = match cli.prompt {
        Some(prompt) => prompt,
        None if cli.reads_stream_json() => String::new(),
        None => {
            let mut text = String::new();
            io::Read::read_to_string(&mut io::stdin(), &mut text)
                .map_err(|e| format!("cannot read the prompt on stdin: {e}"))?;
            if text.is_empty() {
                return Err("missing -p <prompt> (and nothing on stdin)".to_owned());
            }
            text
        }
    };
    let mode = select_mode(&prompt, cli.resume.is_some())?;
    let secs = parse_secs(&prompt)?.unwrap_or_else(|| mode.default_secs());
    let lines = parse_lines(&prompt)?.unwrap_or_else(|| mode.default_lines());
    let session_id = cli
        .session_id
        .or_else(|| cli.resume.clone())
        .unwrap_or_else(|| uuid_like(entropy()));
    Ok(Plan {
        mode,
        prompt,
        secs,
        lines,
        resume: cli.resume,
        session_id,
    })
}

/// A seed that differs between processes and runs.
fn entropy() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64);
    splitmix64(nanos ^ (u64::from(std::process::id()) << 32))
}

/// One step of the splitmix64 generator: a cheap, well-mixed hash.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A random-looking version-4 UUID string.
fn uuid_like(seed: u64) -> String {
    let high = splitmix64(seed);
    let low = splitmix64(high);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xfff,
        ((low >> 48) & 0x3fff) | 0x8000,
        low & 0xffff_ffff_ffff
    )
}

fn current_dir_string() -> String {
    std::env::current_dir()
        .map(|dir| dir.display().to_string())
        .unwrap_or_default()
}

/// Appends this start to the `FAKE_AGENT_RECORD` file, if one is named.
fn record_start(args: &[String], prompt: Option<&str>) -> Result<(), String> {
    let Some(path) = std::env::var_os("FAKE_AGENT_RECORD").filter(|path| !path.is_empty()) else {
        return Ok(());
    };
    let entry = json!({
        "pid": std::process::id(),
        "args": args,
        "env_worker": std::env::var("CORTEX_WORKER_ID").ok(),
        "env_attempt": std::env::var("CORTEX_ATTEMPT").ok(),
        "cwd": current_dir_string(),
        "prompt": prompt,
    });
    let line = format!("{entry}\n");
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(line.as_bytes()))
        .map_err(|err| {
            format!(
                "cannot append to FAKE_AGENT_RECORD file {}: {err}",
                path.to_string_lossy()
            )
        })
}

/// Writes stream-json lines and keeps the totals for the result line.
struct Emitter {
    out: io::StdoutLock<'static>,
    session_id: String,
    id_base: String,
    next_id: u64,
    turns: u64,
    started: Instant,
    survive_closed_stdout: bool,
}

impl Emitter {
    fn new(session_id: String, started: Instant) -> Emitter {
        Emitter {
            out: io::stdout().lock(),
            session_id,
            id_base: format!("{:016x}", splitmix64(entropy())),
            next_id: 0,
            turns: 0,
            started,
            survive_closed_stdout: false,
        }
    }

    /// Prints one line and flushes it.
    fn emit(&mut self, value: &Value) {
        let line = format!("{value}\n");
        let written = self
            .out
            .write_all(line.as_bytes())
            .and_then(|()| self.out.flush());
        if let Err(err) = written {
            if !self.survive_closed_stdout {
                eprintln!("fake-agent: cannot write to stdout: {err}");
                std::process::exit(1);
            }
        }
    }

    fn unique_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}_{}{:06}", self.id_base, self.next_id)
    }

    fn init(&mut self) {
        let line = json!({
            "type": "system",
            "subtype": "init",
            "session_id": self.session_id,
            "cwd": current_dir_string(),
            "model": MODEL,
            "tools": ["Bash", "Write"],
            "permissionMode": "default",
            "claude_code_version": "fake",
        });
        self.emit(&line);
    }

    /// An assistant line with the given content blocks, counted as a turn.
    fn assistant(&mut self, content: Value) {
        self.turns += 1;
        let usage = usage_json(INPUT_TOKENS, OUTPUT_TOKENS);
        self.assistant_line(MODEL, content, usage);
    }

    fn assistant_line(&mut self, model: &str, content: Value, usage: Value) {
        let line = json!({
            "type": "assistant",
            "message": {
                "id": self.unique_id("msg"),
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "usage": usage,
            },
            "session_id": self.session_id,
        });
        self.emit(&line);
    }

    fn text(&mut self, text: &str) {
        self.assistant(json!([{ "type": "text", "text": text }]));
    }

    /// The assistant error message the CLI makes up when the API fails.
    fn synthetic_text(&mut self, text: &str) {
        let content = json!([{ "type": "text", "text": text }]);
        self.assistant_line("<synthetic>", content, usage_json(0, 0));
    }

    /// A `Bash` tool call; returns its id for the tool_result.
    fn tool_use(&mut self, command: &str) -> String {
        let id = self.unique_id("toolu");
        self.assistant(json!([{
            "type": "tool_use",
            "id": id,
            "name": "Bash",
            "input": { "command": command },
        }]));
        id
    }

    fn tool_result(&mut self, tool_use_id: &str, content: &str, is_error: bool) {
        let line = json!({
            "type": "user",
            "message": {
                "role": "user",
                "content": [{
                    "type": "tool_result",
                    "tool_use_id": tool_use_id,
                    "content": content,
                    "is_error": is_error,
                }],
            },
            "session_id": self.session_id,
        });
        self.emit(&line);
    }

    /// The account's usage limit refuses requests until `resets_at` (seconds since the epoch).
    fn rate_limit_event(&mut self, resets_at: u64) {
        let line = json!({
            "type": "rate_limit_event",
            "rate_limit_info": {"status": "rejected", "resetsAt": resets_at, "rateLimitType": "five_hour"},
            "uuid": format!("{:032x}", splitmix64(entropy())),
            "session_id": self.session_id,
        });
        self.emit(&line);
    }

    fn api_retry(&mut self, attempt: u64, delay_ms: u64) {
        let line = json!({
            "type": "system",
            "subtype": "api_retry",
            "attempt": attempt,
            "max_retries": 10,
            "retry_delay_ms": delay_ms,
            "error_status": 429,
            "error": "rate_limit",
            "session_id": self.session_id,
        });
        self.emit(&line);
    }

    /// A result line without the `result` field; callers add what they need.
    fn result_base(&self, subtype: &str, is_error: bool, api_error_status: Option<u16>) -> Value {
        let input = self.turns * INPUT_TOKENS;
        let output = self.turns * OUTPUT_TOKENS;
        // Like the real CLI: no model turn, nothing spent.
        let cost = if self.turns == 0 { 0.0 } else { COST_USD };
        json!({
            "type": "result",
            "subtype": subtype,
            "is_error": is_error,
            "api_error_status": api_error_status,
            "duration_ms": u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "num_turns": self.turns,
            "session_id": self.session_id,
            "total_cost_usd": cost,
            "usage": usage_json(input, output),
            "modelUsage": {
                (MODEL): {
                    "inputTokens": input,
                    "outputTokens": output,
                    "cacheReadInputTokens": 0,
                    "cacheCreationInputTokens": 0,
                    "costUSD": cost,
                },
            },
            "permission_denials": [],
        })
    }

    fn result(&mut self, is_error: bool, api_error_status: Option<u16>, text: &str) {
        let mut line = self.result_base("success", is_error, api_error_status);
        line["result"] = json!(text);
        self.emit(&line);
    }

    fn result_max_turns(&mut self) {
        let mut line = self.result_base("error_max_turns", true, None);
        line["errors"] = json!(["Reached maximum number of turns (1)"]);
        self.emit(&line);
    }
}

fn usage_json(input: u64, output: u64) -> Value {
    json!({
        "input_tokens": input,
        "output_tokens": output,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    })
}

fn sleep_secs(secs: f64) {
    thread::sleep(Duration::from_secs_f64(secs));
}

/// Blocks forever without using CPU; default signal dispositions still apply.
fn idle_forever() -> ! {
    loop {
        thread::sleep(Duration::from_secs(3600));
    }
}

/// Quotes a string for a POSIX shell (only used to describe the tool call).
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Text line, result success, status 0.
fn finish_success(em: &mut Emitter, text: &str) -> u8 {
    em.text(text);
    em.result(false, None, text);
    0
}

/// The `normal` sequence after init.
fn run_normal(em: &mut Emitter, prompt: &str) -> u8 {
    let out = last_token(prompt, "FAKE_OUT:").unwrap_or(OUT_FILE);
    em.text(&format!("I will write the prompt to {out}."));
    let command = format!("printf %s {} > {out}", shell_quote(prompt));
    let id = em.tool_use(&command);
    match std::fs::write(out, prompt) {
        Ok(()) => em.tool_result(&id, "", false),
        Err(err) => em.tool_result(&id, &format!("cannot write {out}: {err}"), true),
    }
    finish_success(em, &format!("Done: wrote the prompt to {out}."))
}

/// The `answer` sequence after init: the named file's content as the result.
fn run_answer(em: &mut Emitter, prompt: &str) -> u8 {
    let answer = last_token(prompt, "FAKE_ANSWER:")
        .ok_or_else(|| "answer: no FAKE_ANSWER:<path> token".to_owned())
        .and_then(|path| {
            std::fs::read_to_string(path).map_err(|e| format!("answer: cannot read {path}: {e}"))
        });
    match answer {
        Ok(text) => {
            em.text("Here is my answer.");
            em.result(false, None, &text);
            0
        }
        Err(why) => {
            eprintln!("fake-agent: {why}");
            USAGE_ERROR
        }
    }
}

fn run_crash(em: &mut Emitter) -> u8 {
    em.text("Working on it.");
    eprintln!("fake-agent: simulated crash");
    3
}

fn run_flood(em: &mut Emitter, lines: u64) -> u8 {
    for n in 1..=lines {
        em.text(&format!("flood line {n} of {lines}"));
    }
    em.result(false, None, &format!("Flooded {lines} lines."));
    0
}

/// Sets SIGTERM to be ignored; the agent then only dies on SIGKILL.
fn ignore_sigterm() -> Result<(), String> {
    // SAFETY: SIG_IGN is a valid disposition and installs no handler code.
    let previous = unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    if previous == libc::SIG_ERR {
        return Err(format!(
            "cannot ignore SIGTERM: {}",
            io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn run_ignore_sigterm(em: &mut Emitter) -> ! {
    em.survive_closed_stdout = true;
    let mut seconds = 0_u64;
    loop {
        sleep_secs(1.0);
        seconds += 1;
        em.text(&format!("still working ({seconds}s), ignoring SIGTERM"));
    }
}

/// Forks a child that leaves our session and execs `sleep 600`.
fn spawn_escaped_sleep() -> io::Result<libc::pid_t> {
    let argv: [*const libc::c_char; 3] = [c"sleep".as_ptr(), c"600".as_ptr(), ptr::null()];
    io::stdout().flush()?;
    // SAFETY: this process is single-threaded, so the child may run any code;
    // it only calls setsid, signal, execvp, write and _exit anyway.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        // SAFETY: we are the freshly forked child and argv is NULL-terminated
        // with 'static C strings.
        0 => unsafe { exec_in_new_session(&argv) },
        pid => Ok(pid),
    }
}

/// Starts a new session and replaces the process image with `argv`.
///
/// # Safety
///
/// Call only in a child right after `fork`; `argv` must be a NULL-terminated
/// array of pointers to valid C strings.
unsafe fn exec_in_new_session(argv: &[*const libc::c_char]) -> ! {
    const FAILED: &CStr = c"fake-agent: grandchild: setsid or execvp of sleep failed\n";
    // SAFETY: guaranteed by the caller; all calls are async-signal-safe.
    unsafe {
        if libc::setsid() != -1 {
            // Rust ignores SIGPIPE; give the new program the usual default.
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::execvp(argv[0], argv.as_ptr());
        }
        libc::write(2, FAILED.as_ptr().cast(), FAILED.to_bytes().len());
        libc::_exit(127)
    }
}

fn run_grandchild(em: &mut Emitter) -> u8 {
    match spawn_escaped_sleep() {
        Ok(pid) => {
            eprintln!("grandchild pid {pid}");
            em.tool_use("sleep 600");
            idle_forever()
        }
        Err(err) => {
            eprintln!("fake-agent: cannot fork the grandchild: {err}");
            1
        }
    }
}

/// Double-forks `sleep 600` with an empty environment and no descriptors
/// of ours; returns the daemon's pid (told by the middle process on a pipe,
/// once the daemon has exec'd).
fn spawn_daemon() -> io::Result<libc::pid_t> {
    let argv: [*const libc::c_char; 3] = [c"sleep".as_ptr(), c"600".as_ptr(), ptr::null()];
    let envp: [*const libc::c_char; 1] = [ptr::null()];
    let mut fds = [0 as libc::c_int; 2];
    io::stdout().flush()?;
    // SAFETY: a pipe into a valid two-element array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: this process is single-threaded; the children only call
    // async-signal-safe functions.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => unsafe {
            libc::close(fds[0]);
            libc::setsid();
            // Closed by the daemon's exec (or its exit): the pid is told only
            // once the daemon runs `sleep` with the empty environment, never
            // while it still carries the agent's (between fork and exec).
            let mut exec_fds = [0 as libc::c_int; 2];
            if libc::pipe2(exec_fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
                libc::_exit(1);
            }
            let pid = libc::fork();
            if pid == 0 {
                libc::close(fds[1]);
                libc::close(exec_fds[0]);
                for fd in 0..3 {
                    libc::close(fd);
                }
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                libc::execve(c"/bin/sleep".as_ptr(), argv.as_ptr(), envp.as_ptr());
                libc::execve(c"/usr/bin/sleep".as_ptr(), argv.as_ptr(), envp.as_ptr());
                libc::_exit(127);
            }
            libc::close(exec_fds[1]);
            let mut byte = 0u8;
            while libc::read(exec_fds[0], (&raw mut byte).cast(), 1) < 0
                && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
            {}
            libc::close(exec_fds[0]);
            let bytes = pid.to_ne_bytes();
            libc::write(fds[1], bytes.as_ptr().cast(), bytes.len());
            libc::_exit(0)
        },
        middle => {
            // SAFETY: closing our write end, reading four bytes into a
            // buffer of four, reaping the middle process.
            unsafe {
                libc::close(fds[1]);
                let mut bytes = [0u8; 4];
                let n = libc::read(fds[0], bytes.as_mut_ptr().cast(), bytes.len());
                libc::close(fds[0]);
                libc::waitpid(middle, ptr::null_mut(), 0);
                if n != 4 {
                    return Err(io::Error::other("the daemon did not start"));
                }
                Ok(libc::pid_t::from_ne_bytes(bytes))
            }
        }
    }
}

fn run_daemon(em: &mut Emitter) -> u8 {
    // As a tool call would, a moment into the session, not at exec.
    sleep_secs(0.5);
    match spawn_daemon() {
        Ok(pid) => {
            eprintln!("daemon pid {pid}");
            em.tool_use("sleep 600 &");
            idle_forever()
        }
        Err(err) => {
            eprintln!("fake-agent: cannot start the daemon: {err}");
            1
        }
    }
}

/// `count` api_retry lines, each followed by its delay.
fn announce_retries(em: &mut Emitter, count: u64, secs: f64) {
    let delay_ms = (secs * 1000.0).round() as u64;
    for attempt in 1..=count {
        em.api_retry(attempt, delay_ms);
        sleep_secs(secs);
    }
}

fn run_rate_limited_fail(em: &mut Emitter, plan: &Plan) -> u8 {
    const MESSAGE: &str = "API Error: 429 rate limited";
    announce_retries(em, plan.lines, plan.secs);
    em.synthetic_text(MESSAGE);
    em.result(true, Some(429), MESSAGE);
    1
}

fn run_usage_limit(em: &mut Emitter, plan: &Plan) -> u8 {
    const MESSAGE: &str = "You've hit your limit";
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    em.rate_limit_event(now + plan.secs.ceil() as u64);
    em.synthetic_text(MESSAGE);
    em.result(true, Some(429), MESSAGE);
    1
}

fn run_error_result(em: &mut Emitter) -> u8 {
    em.result(true, Some(500), "API Error: 500 Internal server error");
    1
}

fn run_max_turns(em: &mut Emitter) -> u8 {
    em.text("Let me take one more turn.");
    em.result_max_turns();
    1
}

/// Keeps one CPU busy with real arithmetic for `secs` seconds.
fn burn_cpu(secs: f64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut acc = 1_u64;
    while Instant::now() < deadline {
        for n in 0..100_000_u64 {
            acc = black_box(acc.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(n));
        }
    }
    acc
}

fn run_silent_busy(em: &mut Emitter, secs: f64) -> u8 {
    black_box(burn_cpu(secs));
    finish_success(em, &format!("Finished after {secs} busy seconds."))
}

fn run_silent(em: &mut Emitter, secs: f64) -> u8 {
    sleep_secs(secs);
    finish_success(em, &format!("Finished after {secs} quiet seconds."))
}

fn run_slow(em: &mut Emitter, lines: u64, secs: f64) -> u8 {
    for n in 1..=lines {
        sleep_secs(secs);
        em.text(&format!("slow line {n} of {lines}"));
    }
    em.result(false, None, &format!("Finished {lines} slow lines."));
    0
}

fn run_heartbeat(em: &mut Emitter, lines: u64, secs: f64) -> u8 {
    for n in 1..=lines {
        sleep_secs(secs);
        em.emit(&json!({
            "cortex": "heartbeat",
            "progress": n,
            "message": format!("step {n}"),
        }));
    }
    0
}

/// The text of a stream-json user message, if the line is one.
fn user_message_text(line: &str) -> Option<String> {
    let value: Value = serde_json::from_str(line).ok()?;
    if value["type"] != "user" {
        return None;
    }
    match &value["message"]["content"] {
        Value::String(text) => Some(text.clone()),
        Value::Array(blocks) => {
            let texts: Vec<&str> = blocks
                .iter()
                .filter(|block| block["type"] == "text")
                .filter_map(|block| block["text"].as_str())
                .collect();
            Some(texts.join("\n"))
        }
        _ => None,
    }
}

fn run_stdin_echo(em: &mut Emitter) -> u8 {
    let mut echoed = 0_u64;
    for line in io::stdin().lock().lines() {
        let line = match line {
            Ok(line) => line,
            Err(err) => {
                eprintln!("fake-agent: cannot read stdin: {err}");
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match user_message_text(&line) {
            Some(text) => {
                em.text(&format!("nudged: {text}"));
                echoed += 1;
                // Like the real CLI, one result per prompt; `FAKE:stall` in a
                // message leaves it waiting silently for the next one.
                if !text.contains("FAKE:stall") {
                    em.result(false, None, &format!("answered message {echoed}"));
                }
            }
            None => eprintln!("fake-agent: ignoring stdin line: {line}"),
        }
    }
    em.result(
        false,
        None,
        &format!("stdin closed after {echoed} messages"),
    );
    0
}

/// Runs the mode's output after init (and after the `resumed` line).
fn run_mode(em: &mut Emitter, plan: &Plan) -> u8 {
    match plan.mode {
        Mode::Normal | Mode::SlowStart => run_normal(em, &plan.prompt),
        Mode::Crash => run_crash(em),
        Mode::Hang => idle_forever(),
        Mode::Flood => run_flood(em, plan.lines),
        Mode::FloodThenHang => {
            for n in 1..=plan.lines {
                em.text(&format!("flood line {n} of {}", plan.lines));
            }
            loop {
                std::thread::park();
            }
        }
        Mode::IgnoreSigterm => run_ignore_sigterm(em),
        Mode::Grandchild => run_grandchild(em),
        Mode::Daemon => run_daemon(em),
        Mode::RateLimited => {
            announce_retries(em, plan.lines, plan.secs);
            run_normal(em, &plan.prompt)
        }
        Mode::RateLimitedFail => run_rate_limited_fail(em, plan),
        Mode::UsageLimit => run_usage_limit(em, plan),
        Mode::ErrorResult => run_error_result(em),
        Mode::ClientError => {
            em.result(true, Some(400), "API Error: 400 invalid_request_error");
            1
        }
        Mode::MaxTurns => run_max_turns(em),
        Mode::SilentBusy => run_silent_busy(em, plan.secs),
        Mode::Silent => run_silent(em, plan.secs),
        Mode::Slow => run_slow(em, plan.lines, plan.secs),
        Mode::Heartbeat => run_heartbeat(em, plan.lines, plan.secs),
        Mode::ExitAfterResult => {
            run_normal(em, &plan.prompt);
            idle_forever()
        }
        Mode::StdinEcho => run_stdin_echo(em),
        Mode::Answer => run_answer(em, &plan.prompt),
    }
}

/// Whatever must happen before the first line is printed.
fn prepare(plan: &Plan) -> Result<(), String> {
    match plan.mode {
        Mode::SlowStart => sleep_secs(plan.secs),
        Mode::IgnoreSigterm => ignore_sigterm()?,
        _ => {}
    }
    Ok(())
}

fn run(plan: &Plan, started: Instant) -> Result<u8, String> {
    prepare(plan)?;
    let mut em = Emitter::new(plan.session_id.clone(), started);
    if plan.mode != Mode::Heartbeat {
        em.init();
        if let Some(id) = &plan.resume {
            em.text(&format!("resumed {id}"));
        }
    }
    Ok(run_mode(&mut em, plan))
}

fn lossy_args() -> Vec<String> {
    std::env::args_os()
        .skip(1)
        .map(|arg: OsString| arg.to_string_lossy().into_owned())
        .collect()
}

fn main() -> ExitCode {
    let started = Instant::now();
    let args = lossy_args();
    let plan = make_plan(parse_args(&args));
    let recorded = record_start(&args, plan.as_ref().ok().map(|p| p.prompt.as_str()));
    let outcome = recorded.and(plan).and_then(|plan| run(&plan, started));
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("fake-agent: {message}");
            ExitCode::from(USAGE_ERROR)
        }
    }
}
