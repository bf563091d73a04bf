//! `cortex-desktop heartbeat --home H --worker W [--attempt N] [--hook E]
//! [--progress P] [--message T]`: the same check-in `cortex heartbeat`
//! records, so the hooks of workers started by the app work without the CLI
//! installed. Reads the hook's JSON on stdin for the tool name only.

use std::io::Read;

use cortex_core::id::WorkerId;
use cortex_engine::runtime::{write_heartbeat, Heartbeat};
use cortex_engine::{clock, Home};

/// Handles the command line if it is a heartbeat; true when it was one.
pub fn handle_command_line() -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("heartbeat") {
        return false;
    }
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let (Some(home), Some(worker)) = (
        value("--home"),
        value("--worker").and_then(|w| WorkerId::parse(&w)),
    ) else {
        eprintln!("cortex-desktop heartbeat: --home DIR and --worker ID are required");
        std::process::exit(2);
    };
    let hook = value("--hook");
    let mut tool = None;
    if hook.is_some() {
        let mut buf = String::new();
        let _ = std::io::stdin().take(1 << 20).read_to_string(&mut buf);
        tool = serde_json::from_str::<serde_json::Value>(&buf)
            .ok()
            .and_then(|v| {
                v.get("tool_name")
                    .and_then(|t| t.as_str())
                    .map(str::to_string)
            });
    }
    let hb = Heartbeat {
        v: 1,
        at: clock::now(),
        attempt: value("--attempt").and_then(|a| a.parse().ok()),
        hook,
        tool,
        progress: value("--progress").and_then(|p| p.parse().ok()),
        message: value("--message").map(|m| m.chars().take(500).collect()),
    };
    if let Err(e) = write_heartbeat(&Home::new(home), &worker, &hb) {
        eprintln!("cortex-desktop heartbeat: {e}");
        std::process::exit(1);
    }
    true
}
