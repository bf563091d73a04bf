//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cortex",
    version,
    about = "Run a fleet of headless AI coding agents: route tasks to experts, spawn workers, watch them until they end honestly."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Coordination home (default: $CORTEX_HOME, else the platform data folder).
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Print machine-readable JSON on stdout (errors too, as {"error": {...}}).
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the home and copy the default config and expert files (never overwrites).
    Init,
    /// Submit a task; prints its id (an identical live task is returned instead of a new one).
    Submit(SubmitArgs),
    /// Task and worker counts by state.
    Status,
    /// List tasks in queue order.
    Tasks,
    /// Cancel a task that has not finished.
    Cancel {
        /// Task id (with or without the `t-` prefix).
        task: String,
    },
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Own the home in the foreground: ingest submissions, run workers, until SIGINT/SIGTERM.
    Run,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// What the agent should do (one argument; quote it).
    pub text: String,
    /// Explicit task type; routes straight to the expert that declares it.
    #[arg(long = "type", value_name = "T")]
    pub task_type: Option<String>,
    /// critical, high, medium (default) or low.
    #[arg(long, value_name = "P")]
    pub priority: Option<String>,
    /// Idempotency key: a second submission with the same key returns the first task, even after it finished.
    #[arg(long, value_name = "K")]
    pub key: Option<String>,
    /// Folder the agent works in (default: the current folder).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Run the task in its own git worktree on branch cortex/<task>.
    #[arg(long)]
    pub worktree: bool,
    /// Seconds to wait for the owning process to acknowledge.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate config.json and every expert file; report every problem found.
    Check,
}
