//! `cortex-desktop heartbeat --home H [--worker W] [--attempt N] [--hook E]
//! [--progress P] [--message T]`: the same check-in `cortex heartbeat`
//! records, so the hooks of workers started by the app work without the CLI
//! installed. Reads the hook's JSON on stdin for the tool name only.

use cortex_engine::runtime::{check_in_worker, record_check_in};
use cortex_engine::Home;

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
    let Some(home) = value("--home") else {
        eprintln!("cortex-desktop heartbeat: --home DIR is required");
        std::process::exit(2);
    };
    let worker = match check_in_worker(value("--worker").as_deref()) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("cortex-desktop heartbeat: {e}");
            std::process::exit(2);
        }
    };
    let result = record_check_in(
        &Home::new(home),
        &worker,
        value("--attempt").and_then(|a| a.parse().ok()),
        value("--hook"),
        value("--progress").and_then(|p| p.parse().ok()),
        value("--message"),
    );
    if let Err(e) = result {
        eprintln!("cortex-desktop heartbeat: {e}");
        std::process::exit(1);
    }
    true
}
