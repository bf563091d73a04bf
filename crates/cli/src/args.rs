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
    /// Correct a routing decision: EXPERT should have TASK. Teaches the learned
    /// layer, and moves the task if no worker has started on it.
    Reroute { task: String, expert: String },
    /// Let a task held for confirmation (awaiting_confirmation) start: with
    /// its routed experts, or with EXPERT (recorded as a correction).
    Confirm {
        task: String,
        expert: Option<String>,
    },
    /// List workers (newest first).
    Workers,
    /// A worker's transcript, readable: assistant text, tool calls, results, errors.
    Logs {
        worker: String,
        /// Keep printing as the worker writes, until it ends.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Print the raw stream-json lines instead.
        #[arg(long)]
        raw: bool,
    },
    /// Stop a worker: SIGTERM to its process group, SIGKILL after the grace period, then a sweep.
    Kill { worker: String },
    /// Stop a worker's attempt and start a new one that resumes its conversation.
    Restart { worker: String },
    /// Give a worker more time: `cortex extend W 30m` (or `2h`, or `--minutes 30`).
    Extend {
        worker: String,
        /// How much more: minutes (`30`, `30m`) or hours (`2h`).
        #[arg(
            value_name = "TIME",
            conflicts_with = "minutes",
            required_unless_present = "minutes"
        )]
        time: Option<String>,
        #[arg(long, value_name = "N")]
        minutes: Option<u64>,
    },
    /// Send a worker a message: its attempt stops and a new one resumes the conversation with TEXT.
    Nudge { worker: String, text: String },
    /// Continue a worker that ended (completed, needs input, failed...): a new attempt resumes its conversation with TEXT.
    Reply { worker: String, text: String },
    /// Stop starting new workers (running ones go on).
    Pause,
    /// Start new workers again; with EXPERT, close that expert's circuit breaker instead.
    Resume {
        /// An expert paused by its circuit breaker (see `cortex status`).
        expert: Option<String>,
    },
    /// Record a worker's check-in (used by the generated hooks; scripts may call it too).
    Heartbeat(HeartbeatArgs),
    /// Which agent binary will run and its version, the home, the PATH, notifications.
    Doctor,
    /// Run one attempt inside a cluster job and report on it (what a Slurm
    /// job or a Kubernetes pod runs).
    #[command(hide = true)]
    AgentShim {
        /// The attempt's spec, written by the launcher.
        #[arg(long, value_name = "FILE", required_unless_present = "stream")]
        spec: Option<std::path::PathBuf>,
        /// Inside a pod: the spec is in CORTEX_SHIM_SPEC and everything is
        /// reported on stdout.
        #[arg(long, conflicts_with = "spec")]
        stream: bool,
    },
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Own the home in the foreground: ingest submissions, run workers, until SIGINT/SIGTERM.
    Run,
    /// Dry-run routing: which expert would take this text, and why. Changes nothing.
    Route(RouteArgs),
    /// Measure the router on labeled JSONL files: accuracy, macro-F1, confusion matrix.
    Eval(EvalArgs),
    /// The router's learned layer.
    #[command(subcommand)]
    Router(RouterCommand),
    /// A task's whole story: routing, status, result, verification, workers
    /// and attempts, tokens, cost, time, and the files it changed.
    Show { task: String },
    /// What a task changed since the commit it started from (committed or
    /// not, new files included).
    Diff {
        task: String,
        /// Files with lines added and removed only.
        #[arg(long)]
        stat: bool,
        /// The expert whose part to show (needed when several have worktrees).
        #[arg(long, value_name = "E")]
        expert: Option<String>,
    },
    /// Commit a worktree task's changes and merge its branch into its base
    /// (the branch checked out when it started); a conflict changes nothing.
    Merge {
        task: String,
        /// The branch to merge into instead.
        #[arg(long, value_name = "BRANCH")]
        into: Option<String>,
        /// One commit with all the task's changes instead of a merge.
        #[arg(long)]
        squash: bool,
        /// The expert whose part to merge (needed when several have worktrees).
        #[arg(long, value_name = "E")]
        expert: Option<String>,
    },
    /// Task worktrees.
    #[command(subcommand)]
    Worktree(WorktreeCommand),
    /// Plans: tasks that depend on each other, submitted whole.
    #[command(subcommand)]
    Plan(PlanCommand),
}

#[derive(Debug, Subcommand)]
pub enum WorktreeCommand {
    /// Remove a task's worktree when its changes are all committed (merged
    /// or clean), or with --force; its branch is kept.
    Remove {
        task: String,
        /// Remove it even with uncommitted changes (they are lost).
        #[arg(long)]
        force: bool,
        #[arg(long, value_name = "E")]
        expert: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Submit a plan (JSON: {"goal", "tasks": [{"name", "description", "expert"?, "type"?, "priority"?, "verify"?, "after"?: [names]}]}) from FILE, or - for stdin.
    Submit {
        file: String,
        /// Folder every task works in (default: the current folder).
        #[arg(long, value_name = "DIR")]
        workdir: Option<PathBuf>,
        /// Each expert's part in its own git worktree.
        #[arg(long)]
        worktree: bool,
    },
    /// Every plan, newest first: its goal, its tasks' counts by status, cost and time.
    List,
    /// A plan's tasks as a graph: status, what waits on what, cost and time.
    Show { plan: String },
    /// Let a plan held for a person's confirmation run.
    Confirm { plan: String },
    /// Replace the tasks of a plan held for confirmation with an edited plan from FILE (or - for stdin), checked as `plan submit` checks one; it keeps waiting for confirmation.
    Edit { plan: String, file: String },
    /// Merge the plan's tasks into their base in dependency order, stopping at the first that cannot be merged.
    Merge { plan: String },
}

#[derive(Debug, Args)]
pub struct HeartbeatArgs {
    /// The worker (default: `CORTEX_WORKER_ID`, which every agent and its hooks inherit).
    #[arg(long, value_name = "ID")]
    pub worker: Option<String>,
    #[arg(long, value_name = "N")]
    pub attempt: Option<u32>,
    /// Progress in percent.
    #[arg(long, value_name = "N")]
    pub progress: Option<f64>,
    #[arg(long, value_name = "T")]
    pub message: Option<String>,
    /// The Claude Code hook event that fired (reads the hook's JSON from stdin).
    #[arg(long, value_name = "EVENT")]
    pub hook: Option<String>,
}

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The task text (omit with --batch).
    #[arg(required_unless_present = "batch", conflicts_with = "batch")]
    pub text: Option<String>,
    /// Explicit task type.
    #[arg(long = "type", value_name = "T")]
    pub task_type: Option<String>,
    /// Route every line of a JSONL file (`-` for stdin): {"id", "text", "type"?}; one decision per line out.
    #[arg(long, value_name = "FILE")]
    pub batch: Option<PathBuf>,
    /// Route with these model weights (written by `cortex router train --out`) instead of the shipped ones.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Labeled JSONL files: {"id", "text", "label", "type"?}.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Also measure the learned layer by K-fold cross-validation (0: off).
    #[arg(long, value_name = "K", default_value_t = 5)]
    pub folds: usize,
    /// Also run the correction-stream experiment: learn from the items of
    /// even folds as a person would correct them, measure on the odd folds.
    #[arg(long)]
    pub stream: bool,
    /// Prefix each text with the item's `scope` field when present
    /// (commit subjects: "deps: update lodash").
    #[arg(long)]
    pub with_scope: bool,
    /// Use the shipped expert lists instead of the home's.
    #[arg(long)]
    pub defaults: bool,
    /// Read the expert files from this folder instead (for tuning keyword lists).
    #[arg(long, value_name = "DIR", conflicts_with = "defaults")]
    pub experts: Option<PathBuf>,
    /// Measure these model weights (written by `cortex router train --out`) instead of the shipped ones.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Also measure all the files together, as one set, after each on its own.
    #[arg(long)]
    pub pool: bool,
}

#[derive(Debug, Subcommand)]
pub enum RouterCommand {
    /// Forget what the learned layer learned (the examples file is moved aside).
    Reset,
    /// What the learned layer knows: examples and outcomes per expert.
    Show,
    /// Train the linear model from the training sets and write its weights
    /// (deterministic: the same data gives the same bytes).
    Train(TrainArgs),
    /// Cross-validate the linear model on its training sets.
    Cv(CvArgs),
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Hand-written training tasks (JSONL: {"id", "text", "label", "labels"?}).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "tests/data/routing/train-tasks.jsonl"
    )]
    pub tasks: PathBuf,
    /// Commit subjects (JSONL: {"id", "text", "label"}).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "tests/data/routing/train-commits-sample.jsonl"
    )]
    pub commits: PathBuf,
    /// Where the weights go.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "crates/core/data/router-model.bin"
    )]
    pub out: PathBuf,
    #[command(flatten)]
    pub opts: TrainOpts,
}

#[derive(Debug, Args)]
pub struct CvArgs {
    #[arg(
        long,
        value_name = "FILE",
        default_value = "tests/data/routing/train-tasks.jsonl"
    )]
    pub tasks: PathBuf,
    #[arg(
        long,
        value_name = "FILE",
        default_value = "tests/data/routing/train-commits-sample.jsonl"
    )]
    pub commits: PathBuf,
    #[arg(long, value_name = "K", default_value_t = 5)]
    pub folds: usize,
    #[command(flatten)]
    pub opts: TrainOpts,
    /// Parallel threshold to compare.
    #[arg(long)]
    pub parallel: Option<f64>,
}

/// Training options to compare (the shipped ones by default).
#[derive(Debug, Args)]
pub struct TrainOpts {
    /// Passes over the training items.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Learning rate of the first pass.
    #[arg(long)]
    pub rate: Option<f32>,
    /// Weight decay per pass.
    #[arg(long)]
    pub decay: Option<f32>,
    /// How much a commit subject counts against a hand-written task.
    #[arg(long)]
    pub commit_weight: Option<f32>,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// What the agent should do (one argument; quote it; `-` reads it from
    /// stdin; omit with --batch).
    #[arg(required_unless_present = "batch", conflicts_with = "batch")]
    pub text: Option<String>,
    /// Submit every line of a JSONL file (`-` for stdin), each
    /// `{"id"?, "text", "type"?, "priority"?, "key"?, "workdir"?, "worktree"?}`,
    /// as one request with one fsync; prints one answer line per input line
    /// (the options below are each line's defaults, except --key, which is
    /// each line's own, and --plan: goals are submitted one at a time).
    #[arg(long, value_name = "FILE")]
    pub batch: Option<PathBuf>,
    /// Explicit task type; routes straight to the expert that declares it.
    #[arg(long = "type", value_name = "T")]
    pub task_type: Option<String>,
    /// critical, high, medium (default) or low.
    #[arg(long, value_name = "P")]
    pub priority: Option<String>,
    /// Idempotency key: a second submission with the same key returns the first task, even after it finished.
    #[arg(long, value_name = "K", conflicts_with = "batch")]
    pub key: Option<String>,
    /// Folder the agent works in (default: the current folder).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Run each expert's part in its own git worktree on branch cortex/<task>-<expert> (DIR must be a git repository).
    #[arg(long)]
    pub worktree: bool,
    /// A check of the work, run by `sh -c` in the workdir after the agent succeeds (exit 0: verified).
    #[arg(long, value_name = "CMD")]
    pub verify: Option<String>,
    /// Start only after these tasks completed (ids, comma-separated or repeated).
    #[arg(long, value_name = "TASK[,TASK...]")]
    pub after: Vec<String>,
    /// A goal: the coordinator splits it into a plan of tasks, which then run (see `cortex plan`).
    #[arg(long, conflicts_with = "batch")]
    pub plan: bool,
    /// Seconds to wait for the owning process to acknowledge.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate config.json and every expert file; report every problem found.
    Check,
}
