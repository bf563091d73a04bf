//! `cortex`: the headless face of the Engine facade.
//!
//! Exit codes: 0 ok, 1 runtime failure, 2 bad input (including a bad config).

/// `println!` of one line that holds agents' or a plan's words: its control
/// characters shown, not acted on by the terminal. Defined before the
/// modules, so each of them can use it.
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", cortex_core::terminal::one_line(&format!($($arg)*)))
    };
}

mod args;
mod batch;
mod client;
mod commands;
mod config_cmd;
mod doctor_cmd;
mod logging;
mod plan_cmds;
mod review_cmds;
mod route_batch;
mod router_inputs;
mod routing_cmds;
mod run_cmd;
mod status_cmd;
mod table;
mod worker_cmds;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};

/// A failure, with the exit code it maps to.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: std::borrow::Cow<'static, str>,
    pub message: String,
    pub bad_input: bool,
    /// The command already printed its own report (JSON mode).
    pub printed: bool,
}

impl Failure {
    pub fn bad_input(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            bad_input: true,
            printed: false,
        }
    }
    pub fn runtime(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            bad_input: false,
            printed: false,
        }
    }
}

impl From<cortex_engine::EngineError> for Failure {
    fn from(e: cortex_engine::EngineError) -> Self {
        Self {
            code: e.code().into(),
            message: e.to_string(),
            bad_input: e.is_bad_input(),
            printed: false,
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // With --json, a usage error is an error object on stdout too
            // (help and --version are not errors: they print as asked).
            let json = std::env::args_os().skip(1).any(|a| a == "--json");
            if json && e.use_stderr() {
                let detail = e.to_string();
                let said = detail.split("\n\nUsage:").next().unwrap_or(&detail);
                let first = said
                    .trim_start_matches("error: ")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                println!(
                    "{}",
                    serde_json::json!({"error": {"code": "usage", "message": first, "bad_input": true}})
                );
            }
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if let Command::AgentShim { spec, stream } = &cli.command {
        // Needs no home: it runs on a cluster's node from a spec file.
        let ran = match spec {
            Some(spec) if !stream => cortex_engine::launcher::shim::run(spec),
            _ => cortex_engine::launcher::shim::run_stream(),
        };
        return match ran {
            Ok(code) => ExitCode::from(u8::try_from(code.clamp(0, 255)).unwrap_or(1)),
            Err(e) => {
                eprintln!("cortex agent-shim: {e}");
                ExitCode::from(127)
            }
        };
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if matches!(cli.command, Command::Run) && std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // glibc gives each thread that allocates its own arena and keeps
        // what is freed there; an owner's threads (spawning, the runtime's
        // workers) allocate little, so two arenas serve them, as in the
        // desktop app. A `MALLOC_ARENA_MAX` the user set is kept.
        // SAFETY: mallopt only sets an allocator parameter; no other
        // thread exists yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
    if !matches!(cli.command, Command::Run) {
        // Like other command-line tools: a closed pipe (`| head`) ends the
        // command quietly instead of a panic on the next print.
        // SAFETY: restoring the default disposition of one signal.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let json = cli.global.json;
    let home = match cortex_engine::Home::resolve(cli.global.home.as_deref()) {
        Ok(h) => h,
        Err(e) => return report(json, &Failure::from(e)),
    };
    let level = if matches!(cli.command, Command::Run) {
        "info"
    } else {
        "warn"
    };
    let logs = home.logs();
    let _guard = logging::init(logs.is_dir().then_some(logs.as_path()), level);
    match commands::dispatch(&home, cli.command, json) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report(json, &f),
    }
}

fn report(json: bool, f: &Failure) -> ExitCode {
    if f.printed {
    } else if json {
        println!("{}", error_text(json, f));
    } else {
        eprintln!("{}", error_text(json, f));
    }
    ExitCode::from(if f.bad_input { 2 } else { 1 })
}

/// A failure as it is printed: a JSON error object, or a `cortex:` line.
/// Its secrets are hidden here, once for every command: a settings file's
/// error quotes the text it refused, which may be a token (`agent.env`).
/// On a terminal its control characters are shown, not acted on: a value
/// it quotes (an expert's name) or an argument it repeats may hold an
/// escape sequence. JSON escapes them itself.
fn error_text(json: bool, f: &Failure) -> String {
    let message = cortex_core::redact::redact(&f.message);
    if json {
        serde_json::json!({"error": {"code": f.code, "message": message, "bad_input": f.bad_input}})
            .to_string()
    } else {
        cortex_core::terminal::lines(&format!("cortex: {message}")).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_printed_with_its_secrets_hidden() {
        let f = Failure::bad_input(
            "bad_config",
            "config.json: key `agent.env`: invalid type: string \"GITHUB_TOKEN=ghp_LIVEEDITSECRET0123456789abcdef\"",
        );
        for json in [false, true] {
            let shown = error_text(json, &f);
            assert!(!shown.contains("ghp_"), "{shown}");
            assert!(shown.contains("GITHUB_TOKEN=[redacted]"), "{shown}");
        }
    }

    #[test]
    fn an_error_is_printed_with_its_control_characters_escaped() {
        let f = Failure::bad_input(
            "bad_config",
            "experts/ops.json: key `name`: `ops\u{1b}]0;PWNED\u{7}\u{1b}[2J` is not a valid expert name",
        );
        for json in [false, true] {
            let shown = error_text(json, &f);
            assert!(!shown.chars().any(char::is_control), "{shown:?}");
        }
        assert!(error_text(false, &f).contains("`ops\\u{1b}]0;PWNED\\u{7}"));
    }
}
