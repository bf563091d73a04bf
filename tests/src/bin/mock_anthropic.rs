//! `mock-anthropic`: a small offline stand-in for the Anthropic Messages API,
//! good enough to drive the real Claude Code CLI in Cortex's end-to-end tests.
//!
//! ```text
//! mock-anthropic [--port N] [--port-file FILE] [--log FILE] [--mode NAME]
//! ```
//!
//! * Binds `127.0.0.1` only. `--port 0` (the default) picks a free port. Once
//!   the socket is bound the port is written to `--port-file` (atomically) and
//!   `LISTENING 127.0.0.1:PORT` is printed on stdout.
//! * `--log FILE` appends one JSON line per request (method, path, scenario,
//!   model, number of messages, whether tools were present, ...) and one line
//!   per notable event (client gone mid-stream, end of a hang). With the
//!   environment variable `MOCK_DUMP_BODIES` set, every Messages request body
//!   is also appended to `FILE.bodies`.
//! * `--mode NAME` sets the default scenario (`text` when not given).
//!
//! Point the CLI at it with `ANTHROPIC_BASE_URL=http://127.0.0.1:PORT` and
//! `ANTHROPIC_API_KEY=dummy-key`.
//!
//! # Endpoints
//!
//! | request                           | answer                                        |
//! |-----------------------------------|-----------------------------------------------|
//! | `POST /v1/messages`               | SSE stream if the body has `"stream": true`, else one JSON message |
//! | `POST /v1/messages/count_tokens`  | `{"input_tokens": N}`                         |
//! | `GET /__mode?set=NAME`            | changes the default scenario, answers `{"mode": NAME}` |
//! | any other `GET` / `HEAD`          | `200 {}`                                      |
//! | any other `POST`                  | `404 not_found_error`                         |
//!
//! # Scenarios
//!
//! A `MOCK:<name>` token (`[a-z0-9]+`) in the text blocks of the *latest* user
//! message carrying one selects the scenario of a request; without one the
//! default mode applies. Requests without tools (titles, summaries and other
//! side requests) always get a plain "Mock side-answer." text, except for the
//! error, `hang`, `stall` and slow-streaming behaviours which apply to every
//! request. Tool turns are counted as the `tool_result` blocks sent after the
//! latest `MOCK:` prompt.
//!
//! | name            | behaviour |
//! |-----------------|-----------|
//! | `text`          | plain text answer, `end_turn` (also any unknown name) |
//! | `tool`          | turn 1: text + Bash `echo hello > out.txt`; then text |
//! | `write`         | turn 1: Write `<cwd>/written.txt`; then text |
//! | `sleep`         | turn 1: Bash `sleep 300; echo done > slept.txt` (10 min timeout); then text |
//! | `sleep40`       | turn 1: Bash `sleep 40; echo done > slept40.txt`; then text |
//! | `slowtool`      | turn 1: Bash `sleep 5; echo ok > slowtool.txt`; then text |
//! | `sleepthenslow` | turn 1: Bash `sleep 300`; turn 2: text streamed slowly (30 s) |
//! | `failcmd`       | turn 1: Bash `ls /nonexistent_dir_xyz` (fails); then text |
//! | `multi`         | turns 1-3: Bash `echo step N >> steps.txt`; then text |
//! | `slowtext`      | text streamed as 30 deltas, one per second |
//! | `hang`          | reads the request, never sends a byte until the client closes |
//! | `stall`         | streaming: headers + `message_start`, then nothing until the client closes |
//! | `e500`          | HTTP 500 `api_error` |
//! | `e529`          | HTTP 529 `overloaded_error` |
//! | `e429`          | HTTP 429 `rate_limit_error` with `retry-after: 1` |
//! | `e401`          | HTTP 401 `authentication_error` |
//! | `e400`          | HTTP 400 `invalid_request_error` (not retryable) |
//! | `plan`          | a coordinator's answer: a plan of two tasks (`first`, then `second` after it) as its final text |
//! | `badplan`       | an invalid plan (its tasks depend on each other in a cycle); once a later user message says the plan was not valid, the valid plan of `plan` |
//!
//! Reported usage: `input_tokens` is about the request body's size / 4,
//! `cache_creation_input_tokens` is 1000, `cache_read_input_tokens` is 2000,
//! `output_tokens` is about the size of the answer's JSON / 4.
//!
//! A stream is `message_start`, `ping`, then per content block
//! `content_block_start`, two `content_block_delta`s and `content_block_stop`,
//! then `message_delta` (stop reason and usage) and `message_stop`.

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

const USAGE: &str =
    "usage: mock-anthropic [--port N] [--port-file FILE] [--log FILE] [--mode NAME]";

/// How long a keep-alive connection may sit idle before it is dropped.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// How often a hanging or stalled response checks whether its client left.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

fn main() -> ExitCode {
    let config = match Config::from_args(std::env::args().skip(1)) {
        Ok(Some(config)) => config,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("mock-anthropic: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mock-anthropic: {err}");
            ExitCode::FAILURE
        }
    }
}

struct Config {
    port: u16,
    port_file: Option<PathBuf>,
    log: Option<PathBuf>,
    mode: String,
}

impl Config {
    /// Parses the command line; `Ok(None)` means help was asked for.
    fn from_args(args: impl IntoIterator<Item = String>) -> Result<Option<Self>, String> {
        let mut config = Config {
            port: 0,
            port_file: None,
            log: None,
            mode: "text".to_owned(),
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => {
                    (flag.to_owned(), Some(value.to_owned()))
                }
                _ => (arg, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match flag.as_str() {
                "-h" | "--help" => return Ok(None),
                "--port" => {
                    let raw = value()?;
                    config.port = raw.parse().map_err(|_| format!("bad port {raw:?}"))?;
                }
                "--port-file" => config.port_file = Some(value()?.into()),
                "--log" => config.log = Some(value()?.into()),
                "--mode" => config.mode = value()?,
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(Some(config))
    }
}

fn run(config: Config) -> io::Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))?;
    let port = listener.local_addr()?.port();
    let logger = config.log.as_deref().map(Logger::open).transpose()?;
    if let Some(path) = &config.port_file {
        write_atomically(path, &port.to_string())?;
    }
    {
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "LISTENING 127.0.0.1:{port}")?;
        stdout.flush()?;
    }

    let state = Arc::new(State {
        mode: Mutex::new(config.mode),
        logger,
    });
    for incoming in listener.incoming() {
        match incoming {
            Ok(stream) => {
                let state = Arc::clone(&state);
                let spawned = thread::Builder::new()
                    .name("mock-conn".to_owned())
                    .spawn(move || serve_connection(&state, &stream));
                if let Err(err) = spawned {
                    eprintln!("mock-anthropic: cannot start a connection thread: {err}");
                }
            }
            // Typically EMFILE: back off instead of spinning on accept.
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
    Ok(())
}

/// Writes `contents` to a sibling temporary file and renames it into place,
/// so a test polling for `path` never reads it half-written.
fn write_atomically(path: &Path, contents: &str) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    fs::write(&tmp, contents)?;
    fs::rename(&tmp, path)
}

// ---------------------------------------------------------------------------
// Shared state and request log
// ---------------------------------------------------------------------------

struct State {
    mode: Mutex<String>,
    logger: Option<Logger>,
}

impl State {
    fn mode(&self) -> String {
        self.mode
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_mode(&self, mode: &str) {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner) = mode.to_owned();
    }

    fn log(&self, entry: Value) {
        if let Some(logger) = &self.logger {
            logger.write(entry);
        }
    }
}

struct Logger {
    file: Mutex<File>,
    bodies_path: Option<PathBuf>,
}

impl Logger {
    fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let bodies_path = std::env::var_os("MOCK_DUMP_BODIES")
            .filter(|v| !v.is_empty())
            .map(|_| {
                let mut p = path.as_os_str().to_owned();
                p.push(".bodies");
                PathBuf::from(p)
            });
        Ok(Logger {
            file: Mutex::new(file),
            bodies_path,
        })
    }

    fn write(&self, mut entry: Value) {
        if let Value::Object(map) = &mut entry {
            map.insert("ts".to_owned(), Value::String(timestamp()));
        }
        let line = format!("{entry}\n");
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        // The log is a debugging aid: a failed write must not break a test run.
        let _ = file.write_all(line.as_bytes());
    }

    fn dump_body(&self, body: &Value) {
        let Some(path) = &self.bodies_path else {
            return;
        };
        let _guard = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(path) {
            let _ = file.write_all(format!("{body}\n").as_bytes());
        }
    }
}

/// `HH:MM:SS.mmm` (UTC).
fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        now.subsec_millis()
    )
}

/// `len` random lowercase hex digits, for message, tool-use and request ids.
fn random_hex(len: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = String::with_capacity(len + 16);
    while out.len() < len {
        // RandomState is seeded randomly per process and varied per instance.
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out.truncate(len);
    out
}

// ---------------------------------------------------------------------------
// Connection handling and routing
// ---------------------------------------------------------------------------

/// Whether the connection may carry another request after this response.
enum Flow {
    KeepAlive,
    Close,
}

fn serve_connection(state: &State, stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let mut reader = BufReader::new(stream);
    loop {
        let request = match http::read_request(&mut reader, stream) {
            Ok(Some(request)) => request,
            Ok(None) | Err(http::ReadError::Io) => return,
            Err(http::ReadError::Malformed(reason)) => {
                let _ = api_error(400, "invalid_request_error", &reason).send(stream, false);
                return;
            }
        };
        match handle(state, stream, &request) {
            Ok(Flow::KeepAlive) if request.keep_alive => {}
            _ => return,
        }
    }
}

fn handle(state: &State, stream: &TcpStream, req: &http::Request) -> io::Result<Flow> {
    let path = req.path();
    let keep_alive = req.keep_alive;
    let basic_entry = || {
        json!({
            "method": req.method,
            "path": req.target,
            "user_agent": req.header("user-agent"),
        })
    };
    match req.method.as_str() {
        "HEAD" => {
            state.log(basic_entry());
            http::Response::new(200).send(stream, keep_alive)?;
        }
        "GET" if path == "/__mode" => {
            if let Some(mode) = req.query_param("set").filter(|m| !m.is_empty()) {
                state.set_mode(mode);
            }
            http::Response::json(200, &json!({ "mode": state.mode() })).send(stream, keep_alive)?;
        }
        "GET" => {
            state.log(basic_entry());
            http::Response::json(200, &json!({})).send(stream, keep_alive)?;
        }
        "POST" if path.ends_with("/v1/messages/count_tokens") => {
            return count_tokens(state, stream, req);
        }
        "POST" if path.ends_with("/v1/messages") => return messages(state, stream, req),
        "POST" => {
            let mut entry = basic_entry();
            entry["reply"] = json!(404);
            state.log(entry);
            api_error(404, "not_found_error", "mock: unknown path").send(stream, keep_alive)?;
        }
        _ => {
            state.log(basic_entry());
            api_error(405, "invalid_request_error", "mock: unsupported method")
                .send(stream, keep_alive)?;
        }
    }
    Ok(Flow::KeepAlive)
}

/// An Anthropic-style error response.
fn api_error(status: u16, kind: &str, message: &str) -> http::Response {
    http::Response::json(
        status,
        &json!({ "type": "error", "error": { "type": kind, "message": message } }),
    )
}

/// Parses a request body that must be a JSON object (an empty body counts as `{}`).
fn parse_body(raw: &[u8]) -> Result<Value, String> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(raw) {
        Ok(body @ Value::Object(_)) => Ok(body),
        Ok(_) => Err("request body must be a JSON object".to_owned()),
        Err(err) => Err(format!("request body is not valid JSON: {err}")),
    }
}

/// Answers 400 to a Messages request whose body is not a JSON object.
fn reject_body(
    state: &State,
    stream: &TcpStream,
    req: &http::Request,
    reason: &str,
) -> io::Result<Flow> {
    state.log(json!({ "method": req.method, "path": req.target, "reply": 400 }));
    api_error(400, "invalid_request_error", reason).send(stream, req.keep_alive)?;
    Ok(Flow::KeepAlive)
}

/// The request-log line shared by both Messages endpoints.
fn log_entry(req: &http::Request, body: &Value, scenario: Option<&str>) -> Value {
    let tools = body.get("tools").and_then(Value::as_array);
    json!({
        "method": req.method,
        "path": req.target,
        "scenario": scenario,
        "model": body.get("model"),
        "stream": body.get("stream"),
        "n_messages": messages_of(body).len(),
        "has_tools": tools.is_some_and(|t| !t.is_empty()),
        "n_tools": tools.map_or(0, Vec::len),
        "body_bytes": req.body.len(),
        "retry_count": req.header("x-stainless-retry-count"),
    })
}

fn count_tokens(state: &State, stream: &TcpStream, req: &http::Request) -> io::Result<Flow> {
    let body = match parse_body(&req.body) {
        Ok(body) => body,
        Err(reason) => return reject_body(state, stream, req, &reason),
    };
    let tokens = approx_tokens(req.body.len());
    let mut entry = log_entry(req, &body, None);
    entry["reply"] = json!(format!("count_tokens={tokens}"));
    state.log(entry);
    http::Response::json(200, &json!({ "input_tokens": tokens })).send(stream, req.keep_alive)?;
    Ok(Flow::KeepAlive)
}

fn messages(state: &State, stream: &TcpStream, req: &http::Request) -> io::Result<Flow> {
    let body = match parse_body(&req.body) {
        Ok(body) => body,
        Err(reason) => return reject_body(state, stream, req, &reason),
    };
    let conversation = Conversation::new(&body);
    let scenario = conversation
        .mock_prompt
        .as_ref()
        .map_or_else(|| state.mode(), |(_, name)| name.clone());
    state.log(log_entry(req, &body, Some(&scenario)));
    if let Some(logger) = &state.logger {
        logger.dump_body(&body);
    }

    let answer = match plan(&scenario, &conversation) {
        Plan::Fail {
            status,
            kind,
            message,
        } => {
            let mut response = api_error(status, kind, message);
            if status == 429 {
                response = response.header("retry-after", "1");
            }
            response.send(stream, req.keep_alive)?;
            return Ok(Flow::KeepAlive);
        }
        Plan::Hang => {
            let waited = wait_for_client_close(stream);
            state.log(json!({ "event": "hang_ended_client_closed", "after_s": seconds(waited) }));
            return Ok(Flow::Close);
        }
        Plan::Answer(answer) => answer,
    };

    let message = MessageMeta {
        id: format!("msg_mock_{}", random_hex(20)),
        model: body
            .get("model")
            .filter(|m| m.as_str().map_or(!m.is_null(), |s| !s.is_empty()))
            .cloned()
            .unwrap_or_else(|| json!("claude-mock")),
        input_tokens: approx_tokens(req.body.len()),
        output_tokens: approx_tokens(
            answer
                .blocks
                .iter()
                .map(|b| b.to_json().to_string().len())
                .sum(),
        ),
    };

    if body.get("stream").and_then(Value::as_bool) != Some(true) {
        let mut usage = message.start_usage();
        usage["output_tokens"] = json!(message.output_tokens);
        let reply = json!({
            "id": message.id,
            "type": "message",
            "role": "assistant",
            "model": message.model,
            "content": answer.blocks.iter().map(Block::to_json).collect::<Vec<_>>(),
            "stop_reason": answer.stop_reason,
            "stop_sequence": null,
            "usage": usage,
        });
        http::Response::json(200, &reply).send(stream, req.keep_alive)?;
        return Ok(Flow::KeepAlive);
    }

    match stream_answer(stream, &answer, &message) {
        Ok(StreamEnd::Complete) => Ok(Flow::KeepAlive),
        Ok(StreamEnd::Stalled(waited)) => {
            state.log(json!({ "event": "stall_ended_client_closed", "after_s": seconds(waited) }));
            Ok(Flow::Close)
        }
        Err(err) => {
            state.log(json!({
                "event": "client_disconnected_mid_stream",
                "scenario": scenario,
                "err": err.to_string(),
            }));
            Ok(Flow::Close)
        }
    }
}

/// A duration in seconds, rounded to a tenth.
fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 10.0).round() / 10.0
}

fn approx_tokens(bytes: usize) -> usize {
    (bytes / 4).max(1)
}

/// Blocks until the peer closes the connection, checking every
/// [`POLL_INTERVAL`] without consuming anything; returns how long it waited.
fn wait_for_client_close(stream: &TcpStream) -> Duration {
    let started = Instant::now();
    let _ = stream.set_read_timeout(Some(POLL_INTERVAL));
    let mut probe = [0u8; 1];
    loop {
        match stream.peek(&mut probe) {
            Ok(0) => break,
            // Bytes waiting (or a timeout): the client is still there.
            Ok(_) => {}
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
        thread::sleep(POLL_INTERVAL);
    }
    started.elapsed()
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

/// The parts of a Messages request body the scenarios look at.
struct Conversation<'a> {
    body: &'a Value,
    messages: &'a [Value],
    /// Index and scenario name of the latest user message with a `MOCK:` token.
    mock_prompt: Option<(usize, String)>,
}

impl<'a> Conversation<'a> {
    fn new(body: &'a Value) -> Self {
        let messages = messages_of(body);
        let mock_prompt = messages.iter().enumerate().rev().find_map(|(i, m)| {
            if m.get("role").and_then(Value::as_str) != Some("user") {
                return None;
            }
            let mut last = None;
            for_each_text_block(m.get("content"), |text| {
                if let Some(name) = last_mock_token(text) {
                    last = Some(name.to_owned());
                }
            });
            last.map(|name| (i, name))
        });
        Conversation {
            body,
            messages,
            mock_prompt,
        }
    }

    fn has_tools(&self) -> bool {
        self.body
            .get("tools")
            .and_then(Value::as_array)
            .is_some_and(|t| !t.is_empty())
    }

    /// True when a user message after the latest `MOCK:` prompt says `needle`.
    fn said_after_prompt(&self, needle: &str) -> bool {
        let start = self.mock_prompt.as_ref().map_or(0, |(i, _)| i + 1);
        let mut found = false;
        for m in self.messages.iter().skip(start) {
            if m.get("role").and_then(Value::as_str) == Some("user") {
                for_each_text_block(m.get("content"), |text| found |= text.contains(needle));
            }
        }
        found
    }

    /// `tool_result` blocks sent after the latest `MOCK:` prompt, i.e. the
    /// number of tool turns already done in this scenario.
    fn tool_results_done(&self) -> usize {
        let start = self.mock_prompt.as_ref().map_or(0, |(i, _)| i + 1);
        self.messages
            .iter()
            .skip(start)
            .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .filter_map(|m| m.get("content").and_then(Value::as_array))
            .flatten()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
            .count()
    }

    /// The working directory announced in the system prompt or messages
    /// (`Working directory: /path`), else the mock's own.
    fn working_dir(&self) -> String {
        let mut texts = Vec::new();
        for_each_text_block(self.body.get("system"), |t| texts.push(t));
        for message in self.messages {
            for_each_text_block(message.get("content"), |t| texts.push(t));
        }
        texts
            .iter()
            .find_map(|t| announced_dir(t))
            .map(str::to_owned)
            .or_else(|| {
                std::env::current_dir()
                    .ok()
                    .map(|d| d.to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| ".".to_owned())
    }
}

fn messages_of(body: &Value) -> &[Value] {
    body.get("messages")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Calls `f` with a plain-string content, or with the text of each `text`
/// block of a block list.
fn for_each_text_block<'a>(content: Option<&'a Value>, mut f: impl FnMut(&'a str)) {
    match content {
        Some(Value::String(s)) => f(s),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .for_each(f),
        _ => {}
    }
}

/// The name of the last `MOCK:<name>` token in `text` (`name` is `[a-z0-9]+`).
fn last_mock_token(text: &str) -> Option<&str> {
    text.rmatch_indices("MOCK:").find_map(|(at, marker)| {
        let rest = &text[at + marker.len()..];
        let len = rest
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
            .unwrap_or(rest.len());
        (len > 0).then(|| &rest[..len])
    })
}

/// The path after `Working directory:` (or `working directory:`) in `text`.
fn announced_dir(text: &str) -> Option<&str> {
    text.match_indices("orking directory:")
        .find_map(|(at, marker)| {
            let before = text[..at].chars().next_back();
            if !matches!(before, Some('W' | 'w')) {
                return None;
            }
            text[at + marker.len()..].split_whitespace().next()
        })
}

enum Block {
    Text(String),
    ToolUse {
        id: String,
        name: &'static str,
        input: Value,
    },
}

impl Block {
    fn text(text: impl Into<String>) -> Self {
        Block::Text(text.into())
    }

    fn tool(name: &'static str, input: Value) -> Self {
        Block::ToolUse {
            id: format!("toolu_mock_{}", random_hex(20)),
            name,
            input,
        }
    }

    fn bash(command: &str, description: &str) -> Self {
        Block::tool(
            "Bash",
            json!({ "command": command, "description": description }),
        )
    }

    fn to_json(&self) -> Value {
        match self {
            Block::Text(text) => json!({ "type": "text", "text": text }),
            Block::ToolUse { id, name, input } => {
                json!({ "type": "tool_use", "id": id, "name": name, "input": input })
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pacing {
    /// Every block as two quick deltas.
    Normal,
    /// Text blocks as 30 deltas one second apart.
    Slow,
    /// `message_start`, then nothing until the client leaves.
    Stall,
}

struct Answer {
    blocks: Vec<Block>,
    stop_reason: &'static str,
    pacing: Pacing,
}

enum Plan {
    Fail {
        status: u16,
        kind: &'static str,
        message: &'static str,
    },
    Hang,
    Answer(Answer),
}

/// The coordinator's plan of the `plan` scenario: two tasks, one after the other.
const VALID_PLAN: &str = r#"Here is the plan.
```json
{"goal": "the mock goal", "tasks": [
  {"name": "first", "description": "write the first part MOCK:text", "expert": "development"},
  {"name": "second", "description": "write the second part MOCK:text", "expert": "development", "after": ["first"]}
]}
```"#;

/// A plan whose tasks wait for each other.
const CYCLIC_PLAN: &str = r#"{"goal": "the mock goal", "tasks": [
  {"name": "first", "description": "write the first part MOCK:text", "after": ["second"]},
  {"name": "second", "description": "write the second part MOCK:text", "after": ["first"]}
]}"#;

/// Scenarios that run tools and then answer "Done: ...".
const TOOL_SCENARIOS: &[&str] = &[
    "tool", "write", "sleep", "sleep40", "slowtool", "failcmd", "multi",
];

fn plan(scenario: &str, conversation: &Conversation<'_>) -> Plan {
    let fail = |status, kind, message| Plan::Fail {
        status,
        kind,
        message,
    };
    match scenario {
        "e500" => return fail(500, "api_error", "Internal server error (mock)"),
        "e529" => return fail(529, "overloaded_error", "Overloaded (mock)"),
        "e429" => return fail(429, "rate_limit_error", "Rate limited (mock)"),
        "e401" => return fail(401, "authentication_error", "invalid x-api-key (mock)"),
        "e400" => return fail(400, "invalid_request_error", "bad request (mock)"),
        "hang" => return Plan::Hang,
        _ => {}
    }

    let pacing = match scenario {
        "stall" => Pacing::Stall,
        "slowtext" | "sleepthenslow" => Pacing::Slow,
        _ => Pacing::Normal,
    };
    let answer = |blocks, stop_reason| {
        Plan::Answer(Answer {
            blocks,
            stop_reason,
            pacing,
        })
    };

    if !conversation.has_tools() {
        // Side requests (titles, summaries, ...) get a plain answer.
        return answer(vec![Block::text("Mock side-answer.")], "end_turn");
    }
    if scenario == "plan" || scenario == "badplan" {
        let told = conversation.said_after_prompt("not a valid plan");
        let text = if scenario == "plan" || told {
            VALID_PLAN
        } else {
            CYCLIC_PLAN
        };
        return answer(vec![Block::text(text)], "end_turn");
    }
    let done = conversation.tool_results_done();
    if let Some(blocks) = tool_turn(scenario, done, conversation) {
        return answer(blocks, "tool_use");
    }
    let text = if TOOL_SCENARIOS.contains(&scenario) {
        format!("Done: the tool ran ({done} tool results seen).")
    } else {
        format!("Hello from the mock Anthropic API! (scenario={scenario})")
    };
    answer(vec![Block::Text(text)], "end_turn")
}

/// The tool call for turn `done + 1` of a tool scenario, if it has one.
fn tool_turn(scenario: &str, done: usize, conversation: &Conversation<'_>) -> Option<Vec<Block>> {
    let long_bash = |command: &str| {
        Block::tool(
            "Bash",
            json!({ "command": command, "description": "long sleep", "timeout": 600_000 }),
        )
    };
    let blocks = match (scenario, done) {
        ("tool", 0) => vec![
            Block::text("I'll write the file."),
            Block::bash("echo hello > out.txt", "Write hello to out.txt"),
        ],
        ("write", 0) => {
            let dir = conversation.working_dir();
            let file_path = Path::new(&dir).join("written.txt");
            vec![Block::tool(
                "Write",
                json!({
                    "file_path": file_path.to_string_lossy(),
                    "content": "written by mock via Write tool\n",
                }),
            )]
        }
        ("sleep", 0) => vec![long_bash("sleep 300; echo done > slept.txt")],
        ("sleep40", 0) => vec![Block::bash(
            "sleep 40; echo done > slept40.txt",
            "40s sleep",
        )],
        ("slowtool", 0) => vec![Block::bash("sleep 5; echo ok > slowtool.txt", "5s sleep")],
        ("sleepthenslow", 0) => vec![long_bash("sleep 300")],
        ("failcmd", 0) => vec![Block::bash("ls /nonexistent_dir_xyz", "failing command")],
        ("multi", n) if n < 3 => {
            let step = n + 1;
            vec![Block::bash(
                &format!("echo step {step} >> steps.txt"),
                &format!("step {step}"),
            )]
        }
        _ => return None,
    };
    Some(blocks)
}

// ---------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------

struct MessageMeta {
    id: String,
    model: Value,
    input_tokens: usize,
    output_tokens: usize,
}

impl MessageMeta {
    fn start_usage(&self) -> Value {
        json!({
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": 1000,
            "cache_read_input_tokens": 2000,
            "output_tokens": 1,
        })
    }
}

enum StreamEnd {
    Complete,
    /// A `stall` answer whose client left after this long.
    Stalled(Duration),
}

fn stream_answer(
    stream: &TcpStream,
    answer: &Answer,
    message: &MessageMeta,
) -> io::Result<StreamEnd> {
    let mut sse = http::SseStream::start(stream, &format!("req_mock_{}", random_hex(16)))?;
    sse.event(
        "message_start",
        &json!({
            "type": "message_start",
            "message": {
                "id": message.id,
                "type": "message",
                "role": "assistant",
                "model": message.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": message.start_usage(),
            },
        }),
    )?;
    if answer.pacing == Pacing::Stall {
        return Ok(StreamEnd::Stalled(wait_for_client_close(stream)));
    }
    sse.event("ping", &json!({ "type": "ping" }))?;

    for (index, block) in answer.blocks.iter().enumerate() {
        let delta =
            |delta: Value| json!({ "type": "content_block_delta", "index": index, "delta": delta });
        match block {
            Block::Text(text) => {
                sse.event(
                    "content_block_start",
                    &json!({
                        "type": "content_block_start",
                        "index": index,
                        "content_block": { "type": "text", "text": "" },
                    }),
                )?;
                if answer.pacing == Pacing::Slow {
                    for tick in 0..30 {
                        let piece = format!("tick{tick} ");
                        sse.event(
                            "content_block_delta",
                            &delta(json!({ "type": "text_delta", "text": piece })),
                        )?;
                        thread::sleep(Duration::from_secs(1));
                    }
                } else {
                    for piece in halves(text) {
                        sse.event(
                            "content_block_delta",
                            &delta(json!({ "type": "text_delta", "text": piece })),
                        )?;
                    }
                }
            }
            Block::ToolUse { id, name, input } => {
                sse.event(
                    "content_block_start",
                    &json!({
                        "type": "content_block_start",
                        "index": index,
                        "content_block": { "type": "tool_use", "id": id, "name": name, "input": {} },
                    }),
                )?;
                let input_json = input.to_string();
                for piece in halves(&input_json) {
                    sse.event(
                        "content_block_delta",
                        &delta(json!({ "type": "input_json_delta", "partial_json": piece })),
                    )?;
                }
            }
        }
        sse.event(
            "content_block_stop",
            &json!({ "type": "content_block_stop", "index": index }),
        )?;
    }

    sse.event(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": { "stop_reason": answer.stop_reason, "stop_sequence": null },
            "usage": { "output_tokens": message.output_tokens },
        }),
    )?;
    sse.event("message_stop", &json!({ "type": "message_stop" }))?;
    sse.finish()?;
    Ok(StreamEnd::Complete)
}

/// `s` cut in two at (about) its middle, on a character boundary.
fn halves(s: &str) -> [&str; 2] {
    let mut mid = s.len() / 2;
    while !s.is_char_boundary(mid) {
        mid -= 1;
    }
    let (head, tail) = s.split_at(mid);
    [head, tail]
}

// ---------------------------------------------------------------------------
// Minimal HTTP/1.1
// ---------------------------------------------------------------------------

mod http {
    use std::io::{self, BufRead, Read, Write};

    use serde_json::Value;

    use super::random_hex;

    const MAX_LINE: u64 = 16 * 1024;
    const MAX_HEADERS: usize = 128;
    const MAX_BODY: usize = 64 * 1024 * 1024;

    pub struct Request {
        pub method: String,
        /// The request target as sent (path and query).
        pub target: String,
        /// Header names lower-cased.
        headers: Vec<(String, String)>,
        pub body: Vec<u8>,
        /// Whether the client allows another request on this connection.
        pub keep_alive: bool,
    }

    impl Request {
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }

        pub fn path(&self) -> &str {
            self.target
                .split_once('?')
                .map_or(self.target.as_str(), |(path, _)| path)
        }

        pub fn query_param(&self, key: &str) -> Option<&str> {
            let (_, query) = self.target.split_once('?')?;
            query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find_map(|(k, v)| (k == key).then_some(v))
        }

        fn has_token(&self, header: &str, token: &str) -> bool {
            self.header(header)
                .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        }
    }

    pub enum ReadError {
        /// The connection failed, timed out or closed mid-request.
        Io,
        /// The client sent something that is not HTTP/1.x: answer 400.
        Malformed(String),
    }

    impl From<io::Error> for ReadError {
        fn from(_: io::Error) -> Self {
            ReadError::Io
        }
    }

    fn malformed<T>(reason: &str) -> Result<T, ReadError> {
        Err(ReadError::Malformed(reason.to_owned()))
    }

    /// One CRLF- (or LF-) terminated line without its terminator;
    /// `None` at a clean end of stream.
    fn read_line(reader: &mut impl BufRead) -> Result<Option<String>, ReadError> {
        let mut buf = Vec::new();
        let n = reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        if buf.pop() != Some(b'\n') {
            return if n as u64 == MAX_LINE {
                malformed("line too long")
            } else {
                Err(ReadError::Io)
            };
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        match String::from_utf8(buf) {
            Ok(line) => Ok(Some(line)),
            Err(_) => malformed("request line or header is not UTF-8"),
        }
    }

    /// Reads the next request; `Ok(None)` when the client closed the
    /// connection between requests. `interim` receives `100 Continue`.
    pub fn read_request(
        reader: &mut impl BufRead,
        mut interim: impl Write,
    ) -> Result<Option<Request>, ReadError> {
        let request_line = loop {
            match read_line(reader)? {
                None => return Ok(None),
                Some(line) if line.is_empty() => continue,
                Some(line) => break line,
            }
        };
        let mut parts = request_line.split_ascii_whitespace();
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return malformed("bad request line");
        };
        let http11 = match version {
            "HTTP/1.1" => true,
            "HTTP/1.0" => false,
            _ => return malformed("unsupported HTTP version"),
        };
        if !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return malformed("bad method");
        }

        let mut headers = Vec::new();
        loop {
            let Some(line) = read_line(reader)? else {
                return Err(ReadError::Io);
            };
            if line.is_empty() {
                break;
            }
            if headers.len() == MAX_HEADERS {
                return malformed("too many headers");
            }
            let Some((name, value)) = line.split_once(':') else {
                return malformed("header without a colon");
            };
            if name.is_empty() || name.bytes().any(|b| b.is_ascii_whitespace()) {
                return malformed("bad header name");
            }
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }

        let mut request = Request {
            method: method.to_owned(),
            target: target.to_owned(),
            headers,
            body: Vec::new(),
            keep_alive: false,
        };
        request.keep_alive = if http11 {
            !request.has_token("connection", "close")
        } else {
            request.has_token("connection", "keep-alive")
        };

        if http11 && request.has_token("expect", "100-continue") {
            interim.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        if let Some(encoding) = request.header("transfer-encoding") {
            if !encoding.eq_ignore_ascii_case("chunked") {
                return malformed("unsupported transfer-encoding");
            }
            request.body = read_chunked(reader)?;
        } else if let Some(length) = request.header("content-length") {
            let Ok(length) = length.parse::<usize>() else {
                return malformed("bad content-length");
            };
            if length > MAX_BODY {
                return malformed("body too large");
            }
            request.body = read_exactly(reader, length)?;
        }
        Ok(Some(request))
    }

    fn read_exactly(reader: &mut impl BufRead, length: usize) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::with_capacity(length.min(1 << 20));
        reader.by_ref().take(length as u64).read_to_end(&mut body)?;
        if body.len() < length {
            return Err(ReadError::Io);
        }
        Ok(body)
    }

    fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        loop {
            let line = read_line(reader)?.ok_or(ReadError::Io)?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let Ok(size) = usize::from_str_radix(size, 16) else {
                return malformed("bad chunk size");
            };
            if size == 0 {
                // Skip trailers up to the blank line.
                while !read_line(reader)?.ok_or(ReadError::Io)?.is_empty() {}
                return Ok(body);
            }
            if body.len().saturating_add(size) > MAX_BODY {
                return malformed("body too large");
            }
            body.extend(read_exactly(reader, size)?);
            if !read_line(reader)?.ok_or(ReadError::Io)?.is_empty() {
                return malformed("chunk not followed by CRLF");
            }
        }
    }

    fn reason(status: u16) -> &'static str {
        match status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            405 => "Method Not Allowed",
            429 => "Too Many Requests",
            500 => "Internal Server Error",
            529 => "Overloaded",
            _ => "Unknown",
        }
    }

    fn head(status: u16, headers: &[(&str, String)], keep_alive: bool) -> String {
        let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        out.push_str("server: mock-anthropic\r\n");
        for (name, value) in headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        let connection = if keep_alive { "keep-alive" } else { "close" };
        out.push_str(&format!("connection: {connection}\r\n\r\n"));
        out
    }

    /// A complete (non-streamed) response.
    pub struct Response {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    }

    impl Response {
        pub fn new(status: u16) -> Self {
            Response {
                status,
                headers: Vec::new(),
                body: Vec::new(),
            }
        }

        pub fn json(status: u16, value: &Value) -> Self {
            Response {
                status,
                headers: vec![
                    ("content-type", "application/json".to_owned()),
                    ("request-id", format!("req_mock_{}", random_hex(16))),
                ],
                body: value.to_string().into_bytes(),
            }
        }

        pub fn header(mut self, name: &'static str, value: &str) -> Self {
            self.headers.push((name, value.to_owned()));
            self
        }

        pub fn send(mut self, mut out: impl Write, keep_alive: bool) -> io::Result<()> {
            self.headers
                .push(("content-length", self.body.len().to_string()));
            let mut bytes = head(self.status, &self.headers, keep_alive).into_bytes();
            bytes.extend_from_slice(&self.body);
            out.write_all(&bytes)?;
            out.flush()
        }
    }

    /// A `200` server-sent-events response in chunked transfer encoding.
    pub struct SseStream<W: Write> {
        out: W,
    }

    impl<W: Write> SseStream<W> {
        pub fn start(mut out: W, request_id: &str) -> io::Result<Self> {
            let headers = [
                (
                    "content-type",
                    "text/event-stream; charset=utf-8".to_owned(),
                ),
                ("cache-control", "no-cache".to_owned()),
                ("transfer-encoding", "chunked".to_owned()),
                ("request-id", request_id.to_owned()),
            ];
            out.write_all(head(200, &headers, true).as_bytes())?;
            out.flush()?;
            Ok(SseStream { out })
        }

        /// Sends one event as one chunk.
        pub fn event(&mut self, name: &str, data: &Value) -> io::Result<()> {
            let payload = format!("event: {name}\ndata: {data}\n\n");
            let chunk = format!("{:x}\r\n{payload}\r\n", payload.len());
            self.out.write_all(chunk.as_bytes())?;
            self.out.flush()
        }

        /// Sends the terminating zero-length chunk.
        pub fn finish(mut self) -> io::Result<()> {
            self.out.write_all(b"0\r\n\r\n")?;
            self.out.flush()
        }
    }
}
