//! Configuration types and their defaults (here), their validation
//! (`validate`) and the expert profiles and their set (`experts`).
//!
//! `config.json` and `experts/<name>.json` are parsed strictly: an unknown or
//! misspelled key is an error that names the file, the key path and what was
//! expected, because a silently ignored threshold is worse than a refusal.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::SCHEMA_VERSION;

mod experts;
mod kubernetes;
mod launcher;
mod strict;
mod validate;

pub use experts::{ExpertProfile, ExpertSet, Permissions};
pub use kubernetes::{KubernetesConfig, PodWorkdir, SecretKey};
pub use launcher::{LauncherConfig, LauncherKind, SlurmConfig, SlurmRest};
pub use strict::{parse_around, parse_strict};
pub use validate::{CONFIG_RANGES, EXPERT_RANGES};

/// A configuration problem, located precisely.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}: {}{message}{}", key.as_ref().map(|k| format!("key `{k}`: ")).unwrap_or_default(), also_text(also))]
pub struct ConfigError {
    /// The file, relative to the home (`config.json`, `experts/security.json`).
    pub file: String,
    /// Dotted path of the offending key, when there is one.
    pub key: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
    /// Further problems found in the same file, where its rules were all
    /// checked (an expert profile): each located the same way.
    pub also: Vec<ConfigError>,
}

fn also_text(also: &[ConfigError]) -> String {
    also.iter()
        .map(|e| match &e.key {
            Some(k) => format!("; key `{k}`: {}", e.message),
            None => format!("; {}", e.message),
        })
        .collect()
}

impl ConfigError {
    /// A problem in `file`, at `key` when there is one.
    pub fn new(file: &str, key: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            key: key.map(str::to_string),
            message: message.into(),
            also: Vec::new(),
        }
    }

    /// The first of `problems` carrying the others; `None` for none.
    pub fn all(mut problems: Vec<ConfigError>) -> Option<Self> {
        if problems.is_empty() {
            return None;
        }
        let mut first = problems.remove(0);
        first.also.extend(problems);
        Some(first)
    }
}

fn schema_version() -> u32 {
    SCHEMA_VERSION
}

/// Engine settings (`config.json`). Every section has defaults, so `{}` is a
/// valid file; keys not listed here are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The schema version the file was written for.
    #[serde(default = "schema_version")]
    pub schema_version: u32,
    /// How many workers run at once.
    #[serde(default)]
    pub capacity: Capacity,
    /// How tasks are routed to experts.
    #[serde(default)]
    pub routing: RoutingConfig,
    /// The agent that workers run, and how.
    #[serde(default)]
    pub agent: AgentConfig,
    /// Whether each expert's part of a task runs in its own git worktree.
    #[serde(default)]
    pub isolation: Isolation,
    /// What happens to running workers when the engine quits.
    #[serde(default)]
    pub on_quit: OnQuit,
    /// The health policy's timers and limits.
    #[serde(default)]
    pub pm: PmConfig,
    /// Restart backoff and the per-expert circuit breaker.
    #[serde(default)]
    pub restart: RestartConfig,
    /// Which alerts become notifications, and how they are coalesced.
    #[serde(default)]
    pub notifications: NotificationConfig,
    /// The check of a worker's work after a successful attempt.
    #[serde(default)]
    pub verify: VerifyConfig,
    /// Per-model prices for the live cost estimate, on top of the shipped
    /// table (`crate::pricing::shipped`); a key matches a model whose name
    /// contains it, `default` matches the rest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pricing: BTreeMap<String, crate::pricing::ModelPrice>,
    /// `cortex merge`: who commits a worktree's uncommitted changes.
    #[serde(default)]
    pub merge: MergeConfig,
    /// Where workers run: this machine or a cluster.
    #[serde(default)]
    pub launcher: LauncherConfig,
    /// The editor the desktop's "Open in editor" starts.
    #[serde(default, skip_serializing_if = "EditorConfig::is_unset")]
    pub editor: EditorConfig,
}

/// `editor` in config.json: the code editor the desktop opens a worker's
/// folder or a changed file in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditorConfig {
    /// The editor's command line (no shell), `{path}` standing for what to
    /// open (added at the end when absent), e.g. `["code", "--reuse-window"]`.
    /// Unset: the first of `EDITORS` found on `PATH`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
}

/// The editors looked for on `PATH` when `editor.command` is unset, in order.
pub const EDITORS: &[&str] = &["code", "cursor", "zed", "subl", "codium"];

impl EditorConfig {
    fn is_unset(&self) -> bool {
        self.command.is_empty()
    }

    /// The command line that opens `path`: every `{path}` replaced by it, or
    /// it added at the end when the command names none. Empty for an empty
    /// command.
    pub fn argv(command: &[String], path: &str) -> Vec<String> {
        if command.is_empty() {
            return Vec::new();
        }
        let named = command.iter().skip(1).any(|a| a.contains("{path}"));
        let mut argv: Vec<String> = command.iter().map(|a| a.replace("{path}", path)).collect();
        if !named {
            argv.push(path.to_string());
        }
        argv
    }
}

/// `cortex merge` settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeConfig {
    /// `Name <email>`: the author (and committer) of the commit that takes
    /// a worktree's uncommitted changes; unset, git's own configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

impl MergeConfig {
    /// `merge.author` split into name and email, when set.
    pub fn author_parts(&self) -> Option<(String, String)> {
        parse_author(self.author.as_deref()?)
    }
}

/// `Name <email>` into its parts: both non-empty, no angle brackets or
/// control characters inside.
pub fn parse_author(text: &str) -> Option<(String, String)> {
    let (name, rest) = text.trim().split_once('<')?;
    let email = rest.strip_suffix('>')?;
    let (name, email) = (name.trim(), email.trim());
    let clean =
        |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_control() || c == '<' || c == '>');
    (clean(name) && clean(email) && email.contains('@'))
        .then(|| (name.to_string(), email.to_string()))
}

impl Default for Config {
    fn default() -> Self {
        parse_strict("config.json", "{}")
            .unwrap_or_else(|e| unreachable!("empty config is valid: {e}"))
    }
}

/// Capacity settings (`capacity` in config.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// Workers running at once across all experts.
    #[serde(default = "d_max_workers")]
    pub max_workers: u32,
}
fn d_max_workers() -> u32 {
    4
}
impl Default for Capacity {
    fn default() -> Self {
        Self {
            max_workers: d_max_workers(),
        }
    }
}

/// Routing settings (`routing` in config.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    /// Confidence at or above which one expert takes the task alone.
    #[serde(default = "d_single")]
    pub single_threshold: f64,
    /// Confidence at or above which a second expert joins in parallel.
    #[serde(default = "d_multi")]
    pub multi_threshold: f64,
    /// Below this, no expert is confident: the fallback expert gets the task
    /// and the decision is flagged for a person to confirm.
    #[serde(default = "d_min")]
    pub min_activation: f64,
    /// The expert that takes a task no expert is confident about.
    #[serde(default = "d_fallback")]
    pub fallback_expert: String,
    /// The learned layer blended with the keyword scores.
    #[serde(default)]
    pub learning: LearningConfig,
    /// Hold a task whose routing is flagged for a person
    /// (`awaiting_confirmation`) until `cortex confirm` or a reroute.
    #[serde(default = "d_confirm")]
    pub confirm_low_confidence: bool,
    /// Hold a plan the coordinator wrote for a goal (`submit --plan`) until
    /// a person confirms it (`cortex plan confirm`).
    #[serde(default = "d_confirm")]
    pub confirm_plans: bool,
}
fn d_confirm() -> bool {
    true
}
fn d_single() -> f64 {
    0.80
}
fn d_multi() -> f64 {
    0.60
}
fn d_min() -> f64 {
    0.30
}
fn d_fallback() -> String {
    "development".into()
}
impl Default for RoutingConfig {
    fn default() -> Self {
        Self {
            single_threshold: d_single(),
            multi_threshold: d_multi(),
            min_activation: d_min(),
            fallback_expert: d_fallback(),
            learning: LearningConfig::default(),
            confirm_low_confidence: d_confirm(),
            confirm_plans: d_confirm(),
        }
    }
}

/// The learned layer's settings (`routing.learning`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearningConfig {
    /// Whether the learned layer has any say.
    #[serde(default = "d_true")]
    pub enabled: bool,
    /// Share of the learned layer in the blended score, 0..1.
    #[serde(default = "d_learn_weight")]
    pub weight: f64,
    /// Examples the learned layer needs before it has any say.
    #[serde(default = "d_min_examples")]
    pub min_examples: u32,
}
fn d_true() -> bool {
    true
}
fn d_learn_weight() -> f64 {
    0.5
}
fn d_min_examples() -> u32 {
    5
}
impl Default for LearningConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            weight: d_learn_weight(),
            min_examples: d_min_examples(),
        }
    }
}

/// How the agent is run and its output read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// Claude Code with stream-json output.
    #[default]
    Claude,
    /// Any command; `{prompt}` in the template is replaced by the task text.
    Generic,
}

/// The agent workers run (`agent` in config.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// How the agent's output is read.
    #[serde(default)]
    pub driver: Driver,
    /// argv prefix of the agent; the driver appends its own arguments.
    #[serde(default = "d_command")]
    pub command: Vec<String>,
    /// Extra environment for workers, on top of the engine's own.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Generic driver only: arguments after `command`, `{prompt}` replaced
    /// by the task, `{prompt_file}` by a file holding it (kept out of argv).
    #[serde(default)]
    pub args_template: Vec<String>,
}
fn d_command() -> Vec<String> {
    vec!["claude".into()]
}
impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            driver: Driver::default(),
            command: d_command(),
            env: BTreeMap::new(),
            args_template: Vec::new(),
        }
    }
}

/// Where a worker does its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// In the task's workdir, shared with other workers.
    #[default]
    None,
    /// In a git worktree of its own, one per expert's part of a task.
    Worktree,
}

/// What happens to running workers when the engine quits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnQuit {
    /// Workers keep running and are re-adopted on the next start.
    #[default]
    Keep,
    /// Workers are stopped.
    Stop,
}

/// The health policy's timers and limits (`pm` in config.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PmConfig {
    /// Seconds to the first output before a start counts as failed.
    #[serde(default = "d_startup")]
    pub startup_budget_secs: u64,
    /// Seconds of silence with no CPU progress before a worker is late.
    #[serde(default = "d_late")]
    pub late_after_secs: u64,
    /// Seconds of silence with no CPU progress before a worker is stalled.
    #[serde(default = "d_stalled")]
    pub stalled_after_secs: u64,
    /// Seconds of silence with no CPU progress before a worker is a zombie.
    #[serde(default = "d_zombie")]
    pub zombie_after_secs: u64,
    /// Milliseconds between the engine's coarse ticks.
    #[serde(default = "d_tick")]
    pub tick_millis: u64,
    /// Seconds between SIGTERM and SIGKILL when a worker is stopped.
    #[serde(default = "d_grace")]
    pub kill_grace_secs: u64,
    /// Send a nudge when a worker stalls (resumes it with a message).
    #[serde(default)]
    pub nudge_on_stall: bool,
    /// Nudges per worker before a stall goes on to zombie, kill and restart.
    #[serde(default = "d_max_nudges")]
    pub max_nudges: u32,
    /// CPU use of a worker's process tree, in percent of one core over a
    /// few seconds, that counts as "busy". An idle agent's timers use ~1%.
    #[serde(default = "d_busy_cpu")]
    pub busy_cpu_percent: f64,
}
fn d_max_nudges() -> u32 {
    1
}
fn d_busy_cpu() -> f64 {
    5.0
}
fn d_startup() -> u64 {
    120
}
fn d_late() -> u64 {
    300
}
fn d_stalled() -> u64 {
    600
}
fn d_zombie() -> u64 {
    1200
}
fn d_tick() -> u64 {
    1000
}
fn d_grace() -> u64 {
    5
}
impl Default for PmConfig {
    fn default() -> Self {
        Self {
            startup_budget_secs: d_startup(),
            late_after_secs: d_late(),
            stalled_after_secs: d_stalled(),
            zombie_after_secs: d_zombie(),
            tick_millis: d_tick(),
            kill_grace_secs: d_grace(),
            nudge_on_stall: false,
            max_nudges: d_max_nudges(),
            busy_cpu_percent: d_busy_cpu(),
        }
    }
}

/// Restart backoff and the circuit breaker (`restart` in config.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartConfig {
    /// The backoff the restart delays start from, in seconds.
    #[serde(default = "d_backoff_base")]
    pub backoff_base_secs: u64,
    /// The longest restart delay, in seconds.
    #[serde(default = "d_backoff_max")]
    pub backoff_max_secs: u64,
    /// Failures of one expert within the window that pause it (0: never).
    #[serde(default = "d_circuit_failures")]
    pub circuit_failures: u32,
    /// The window, in seconds, in which an expert's failures are counted.
    #[serde(default = "d_circuit_window")]
    pub circuit_window_secs: u64,
}
fn d_backoff_base() -> u64 {
    30
}
fn d_backoff_max() -> u64 {
    300
}
fn d_circuit_failures() -> u32 {
    5
}
fn d_circuit_window() -> u64 {
    900
}
impl Default for RestartConfig {
    fn default() -> Self {
        Self {
            backoff_base_secs: d_backoff_base(),
            backoff_max_secs: d_backoff_max(),
            circuit_failures: d_circuit_failures(),
            circuit_window_secs: d_circuit_window(),
        }
    }
}

/// Which alerts become notifications (`notifications` in config.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationConfig {
    /// Notify when a worker stalls.
    #[serde(default = "d_true")]
    pub stalled: bool,
    /// Notify when a worker becomes a zombie.
    #[serde(default = "d_true")]
    pub zombie: bool,
    /// Notify when a worker reaches its time limit.
    #[serde(default = "d_true")]
    pub timeout: bool,
    /// Notify when a worker fails.
    #[serde(default = "d_true")]
    pub failed: bool,
    /// Notify when an expert's circuit breaker opens.
    #[serde(default = "d_true")]
    pub circuit_breaker: bool,
    /// Notify when a worker completes.
    #[serde(default)]
    pub completed: bool,
    /// A worker ended waiting for a person (a denied tool, a question).
    #[serde(default = "d_true")]
    pub needs_input: bool,
    /// The account's usage limit stopped a worker until it resets.
    #[serde(default = "d_true")]
    pub usage_limit: bool,
    /// Alerts within this window are folded into one summary.
    #[serde(default = "d_coalesce")]
    pub coalesce_window_millis: u64,
}
/// Checking the work of workers (`verify` in config.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// The check for every task without its own or its expert's.
    #[serde(default)]
    pub command: Option<String>,
    /// A check still running after this is stopped and counts as failed.
    #[serde(default = "d_verify_timeout")]
    pub timeout_secs: u64,
    /// Times a failed check sends the work back to the agent before the
    /// task needs a person.
    #[serde(default = "d_verify_rounds")]
    pub max_rounds: u32,
}
fn d_verify_timeout() -> u64 {
    600
}
fn d_verify_rounds() -> u32 {
    2
}
impl Default for VerifyConfig {
    fn default() -> Self {
        Self {
            command: None,
            timeout_secs: d_verify_timeout(),
            max_rounds: d_verify_rounds(),
        }
    }
}

fn d_coalesce() -> u64 {
    1500
}
impl Default for NotificationConfig {
    fn default() -> Self {
        Self {
            stalled: true,
            zombie: true,
            timeout: true,
            failed: true,
            circuit_breaker: true,
            completed: false,
            needs_input: true,
            usage_limit: true,
            coalesce_window_millis: d_coalesce(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_editor_gets_the_path_where_it_says_or_at_the_end_and_an_empty_program_is_refused() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            EditorConfig::argv(&v(&["code", "--reuse-window"]), "/w/a b.rs"),
            v(&["code", "--reuse-window", "/w/a b.rs"])
        );
        assert_eq!(
            EditorConfig::argv(&v(&["emacsclient", "-n", "{path}", "-a", ""]), "/w/x"),
            v(&["emacsclient", "-n", "/w/x", "-a", ""])
        );
        assert!(EditorConfig::argv(&[], "/w").is_empty());
        let c = Config::parse(r#"{"editor": {"command": ["zed"]}}"#).unwrap();
        assert_eq!(c.editor.command, v(&["zed"]));
        let err = Config::parse(r#"{"editor": {"command": [" ", "{path}"]}}"#).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("editor.command"));
        let err = Config::parse(r#"{"editor": {"cmd": ["zed"]}}"#).unwrap_err();
        assert!(err.to_string().contains("cmd"), "{err}");
        // Unset, it is not written back.
        let text = serde_json::to_string(&Config::default()).unwrap();
        assert!(!text.contains("editor"), "{text}");
    }

    #[test]
    fn empty_object_gives_the_documented_defaults() {
        let c = Config::parse("{}").unwrap();
        assert_eq!(c.capacity.max_workers, 4);
        assert_eq!(c.routing.single_threshold, 0.80);
        assert_eq!(c.pm.zombie_after_secs, 1200);
        assert_eq!(c.restart.circuit_window_secs, 900);
        assert_eq!(c.agent.command, vec!["claude"]);
        assert_eq!(c.on_quit, OnQuit::Keep);
    }

    #[test]
    fn merge_author_must_be_a_name_and_an_email() {
        let c =
            Config::parse(r#"{"merge": {"author": "Ada Lovelace <ada@example.com>"}}"#).unwrap();
        assert_eq!(
            c.merge.author_parts(),
            Some(("Ada Lovelace".into(), "ada@example.com".into()))
        );
        let err = Config::parse(r#"{"merge": {"author": "ada"}}"#).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("merge.author"));
        let err = Config::parse(r#"{"merge": {"writer": "x"}}"#).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("merge.writer"));
    }

    #[test]
    fn a_misspelled_key_names_file_path_and_expected_keys() {
        let err = Config::parse(r#"{"capacity": {"max_worker": 3}}"#).unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.file, "config.json");
        assert_eq!(err.key.as_deref(), Some("capacity.max_worker"));
        assert!(msg.contains("unknown field `max_worker`"), "{msg}");
        assert!(msg.contains("max_workers"), "{msg}");
    }

    #[test]
    fn a_settings_file_is_one_object_with_nothing_after_it() {
        for (text, said) in [
            (
                r#"{"capacity": {"max_workers": 4}} {"capacity": "broken""#,
                "more after its object",
            ),
            ("{} xyz garbage", "more after its object"),
            (r#"[1, {"max_workers": 9999}]"#, "expected a JSON object"),
            ("", "empty"),
        ] {
            let err = Config::parse(text).unwrap_err();
            assert!(err.to_string().contains(said), "{text}: {err}");
            let (_, problems) = Config::parse_all(text);
            assert!(!problems.is_empty(), "{text}");
        }
        assert!(Config::parse("  {}\n").is_ok());
    }

    #[test]
    fn wrong_types_and_ranges_are_reported_with_the_key() {
        let err = Config::parse(r#"{"pm": {"late_after_secs": "soon"}}"#).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("pm.late_after_secs"));
        let err = Config::parse(r#"{"routing": {"single_threshold": 1.5}}"#).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("routing.single_threshold"));
        assert!(err.to_string().contains("from 0 to 1"));
        let err = Config::parse(r#"{"pm": {"late_after_secs": 900}}"#).unwrap_err();
        assert!(err
            .to_string()
            .contains("late_after_secs <= stalled_after_secs"));
        let err = Config::parse("{not json").unwrap_err();
        assert!(
            err.to_string().starts_with("config.json: not valid JSON"),
            "{err}"
        );
    }

    #[test]
    fn every_numeric_key_is_refused_outside_its_documented_range() {
        let huge = u64::MAX;
        let bad = [
            (
                r#"{"capacity": {"max_workers": 10001}}"#.to_string(),
                "capacity.max_workers",
            ),
            (r#"{"pm": {"tick_millis": 5001}}"#.into(), "pm.tick_millis"),
            (r#"{"pm": {"tick_millis": 49}}"#.into(), "pm.tick_millis"),
            (
                r#"{"pm": {"kill_grace_secs": 3601}}"#.into(),
                "pm.kill_grace_secs",
            ),
            (
                r#"{"pm": {"startup_budget_secs": 86401}}"#.into(),
                "pm.startup_budget_secs",
            ),
            (
                format!(
                    r#"{{"pm": {{"late_after_secs": 1, "stalled_after_secs": 2, "zombie_after_secs": {huge}}}}}"#
                ),
                "pm.zombie_after_secs",
            ),
            (
                format!(
                    r#"{{"restart": {{"backoff_base_secs": {huge}, "backoff_max_secs": {huge}}}}}"#
                ),
                "restart.backoff_base_secs",
            ),
            (
                r#"{"restart": {"backoff_max_secs": 86401}}"#.into(),
                "restart.backoff_max_secs",
            ),
            (
                r#"{"restart": {"circuit_failures": 1001}}"#.into(),
                "restart.circuit_failures",
            ),
            (
                format!(r#"{{"restart": {{"circuit_window_secs": {huge}}}}}"#),
                "restart.circuit_window_secs",
            ),
            (
                r#"{"notifications": {"coalesce_window_millis": 60001}}"#.into(),
                "notifications.coalesce_window_millis",
            ),
            (
                r#"{"routing": {"learning": {"min_examples": 1000001}}}"#.into(),
                "routing.learning.min_examples",
            ),
        ];
        for (text, key) in bad {
            let err = Config::parse(&text).expect_err(&text);
            assert_eq!(err.key.as_deref(), Some(key), "{text}: {err}");
            assert!(err.message.contains("expected"), "{err}");
        }
        let edges = [
            r#"{"pm": {"tick_millis": 50}}"#,
            r#"{"pm": {"tick_millis": 5000, "kill_grace_secs": 0}}"#,
            r#"{"restart": {"backoff_base_secs": 0, "backoff_max_secs": 0}}"#,
            r#"{"restart": {"backoff_base_secs": 86400, "backoff_max_secs": 86400}}"#,
            r#"{"capacity": {"max_workers": 1000}, "restart": {"circuit_failures": 0}}"#,
        ];
        for text in edges {
            assert!(Config::parse(text).is_ok(), "{text}");
        }
        let file = "experts/a.json";
        let with = |extra: &str| {
            format!(
                r#"{{"name": "a", "activation_keywords": ["x"], "task_types": [], "preamble": "p", {extra}}}"#
            )
        };
        for (extra, key) in [
            (r#""max_workers": 0"#.to_string(), "max_workers"),
            (r#""max_workers": 10001"#.into(), "max_workers"),
            (format!(r#""time_limit_secs": {huge}"#), "time_limit_secs"),
            (r#""max_restarts": 101"#.into(), "max_restarts"),
            (r#""max_extensions": 101"#.into(), "max_extensions"),
            (r#""extension_secs": 86401"#.into(), "extension_secs"),
            (r#""token_budget": 0"#.into(), "token_budget"),
        ] {
            let err = ExpertProfile::parse(file, &with(&extra)).expect_err(&extra);
            assert_eq!(err.key.as_deref(), Some(key), "{extra}: {err}");
        }
        assert!(
            ExpertProfile::parse(file, &with(r#""max_restarts": 0, "extension_secs": 0"#)).is_ok()
        );
    }

    /// Dotted paths of every whole-number leaf of a JSON object.
    fn integer_keys(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        if let Some(map) = v.as_object() {
            for (k, child) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                integer_keys(child, &path, out);
            }
        } else if v.is_u64() {
            out.push(prefix.to_string());
        }
    }

    #[test]
    fn every_problem_of_a_file_is_found_each_at_its_key() {
        let (cfg, problems) = Config::parse_all(
            r#"{"capacity": {"max_workers": 0, "oops": 1}, "agent": {"bogus": true},
                "pm": {"tick_millis": 5001}, "routing": {"single_threshold": 2}}"#,
        );
        let keys: Vec<&str> = problems.iter().filter_map(|e| e.key.as_deref()).collect();
        assert_eq!(
            keys,
            vec![
                "capacity.oops",
                "agent.bogus",
                "capacity.max_workers",
                "pm.tick_millis",
                "routing.single_threshold"
            ]
        );
        // The first keeps where it is in the text; the others are named by
        // their key alone (the text they were found in was rewritten).
        assert!(
            problems[0].message.contains("line 1"),
            "{}",
            problems[0].message
        );
        assert!(
            !problems[1].message.contains(" at line "),
            "{}",
            problems[1].message
        );
        // Read around them, for the rules that span files.
        assert!(cfg.is_some());
        let err = Config::parse(r#"{"pm": {"tick_millis": 5001}, "capacity": {"max_workers": 0}}"#)
            .unwrap_err();
        assert_eq!(err.also.len(), 1, "{err}");
        // A rule between keys is not judged on a default standing in for a
        // key with a problem (the file's 900 against a default 600).
        let (_, problems) = Config::parse_all(
            r#"{"pm": {"late_after_secs": 900, "stalled_after_secs": "1800", "zombie_after_secs": 2400}}"#,
        );
        let keys: Vec<&str> = problems.iter().filter_map(|e| e.key.as_deref()).collect();
        assert_eq!(keys, vec!["pm.stalled_after_secs"], "{problems:?}");
        // Not JSON: one problem, and nothing read.
        let (cfg, problems) = Config::parse_all("{");
        assert!(cfg.is_none());
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn every_whole_number_key_has_a_range() {
        let mut keys = Vec::new();
        integer_keys(
            &serde_json::to_value(Config::default()).unwrap(),
            "",
            &mut keys,
        );
        keys.retain(|k| k != "schema_version");
        let mut ranged: Vec<String> = CONFIG_RANGES.iter().map(|r| r.0.to_string()).collect();
        keys.sort();
        ranged.sort();
        assert_eq!(keys, ranged);
        let mut p = ExpertProfile::parse("experts/a.json", &expert("a", &[])).unwrap();
        p.token_budget = Some(1);
        let mut keys = Vec::new();
        integer_keys(&serde_json::to_value(p).unwrap(), "", &mut keys);
        keys.retain(|k| k != "schema_version");
        let mut ranged: Vec<String> = EXPERT_RANGES.iter().map(|r| r.0.to_string()).collect();
        keys.sort();
        ranged.sort();
        assert_eq!(keys, ranged);
    }

    fn expert(name: &str, types: &[&str]) -> String {
        serde_json::json!({
            "name": name, "activation_keywords": ["x"], "task_types": types, "preamble": "p"
        })
        .to_string()
    }

    #[test]
    fn expert_files_need_their_fields_and_a_matching_name() {
        let err = ExpertProfile::parse(
            "experts/a.json",
            r#"{"name": "a", "task_types": [], "preamble": ""}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("missing field `activation_keywords`"),
            "{err}"
        );
        let err = ExpertProfile::parse(
            "experts/a.json",
            r#"{"name": "a", "activation_keywords": ["ok", " "], "task_types": [], "preamble": ""}"#,
        )
        .unwrap_err();
        assert_eq!(err.key.as_deref(), Some("activation_keywords[1]"));
        let err = ExpertProfile::parse("experts/b.json", &expert("a", &[])).unwrap_err();
        assert!(
            err.to_string().contains("does not match the file name"),
            "{err}"
        );
        // A set made of profiles read elsewhere checks it too.
        let p = ExpertProfile::parse("experts/a.json", &expert("a", &[])).unwrap();
        let err = ExpertSet::new(vec![("experts/b.json".into(), p)]).unwrap_err();
        assert!(
            err.to_string().contains("does not match the file name"),
            "{err}"
        );
    }

    #[test]
    fn every_broken_rule_of_an_expert_is_reported_at_once_each_at_its_key() {
        let err = ExpertProfile::parse(
            "experts/a.json",
            r#"{"name": "a", "activation_keywords": [], "boosters": ["ok", ""],
                "task_types": [], "preamble": "", "max_workers": 0,
                "time_limit_secs": 0, "cost_budget_usd": -1}"#,
        )
        .unwrap_err();
        let keys: Vec<Option<&str>> = std::iter::once(err.key.as_deref())
            .chain(err.also.iter().map(|e| e.key.as_deref()))
            .collect();
        assert_eq!(
            keys,
            vec![
                Some("activation_keywords"),
                Some("boosters[1]"),
                Some("max_workers"),
                Some("time_limit_secs"),
                Some("cost_budget_usd"),
            ]
        );
        let text = err.to_string();
        assert!(
            text.starts_with("experts/a.json: key `activation_keywords`: expected at least one keyword; key `boosters[1]`:"),
            "{text}"
        );
        // A name that is not the file's is said with the other problems.
        let both = ExpertProfile::parse(
            "experts/cicd.json",
            r#"{"name": "security", "activation_keywords": [], "task_types": [], "preamble": "", "max_workers": 0}"#,
        )
        .unwrap_err();
        let keys: Vec<Option<&str>> = std::iter::once(both.key.as_deref())
            .chain(both.also.iter().map(|e| e.key.as_deref()))
            .collect();
        assert_eq!(
            keys,
            vec![
                Some("name"),
                Some("activation_keywords"),
                Some("max_workers")
            ]
        );
        // One problem: as before, nothing else.
        let one = ExpertProfile::parse(
            "experts/a.json",
            r#"{"name": "a", "activation_keywords": ["x"], "task_types": [], "preamble": "", "max_workers": 0}"#,
        )
        .unwrap_err();
        assert_eq!(
            (one.key.as_deref(), one.also.len()),
            (Some("max_workers"), 0)
        );
        let keys = |text: &str| {
            let e = ExpertProfile::parse("experts/cicd.json", text).unwrap_err();
            std::iter::once(e.key.clone())
                .chain(e.also.iter().map(|e| e.key.clone()))
                .map(|k| k.unwrap_or_default())
                .collect::<Vec<_>>()
        };
        // Missing fields do not hide the rest, and are each said at their key.
        assert_eq!(
            keys(
                r#"{"name": "cicd", "activation_keywords": ["ci"], "task_types": [], "max_workers": 0}"#
            ),
            vec!["preamble", "max_workers"]
        );
        assert_eq!(
            keys(r#"{"name": "cicd"}"#),
            vec!["activation_keywords", "task_types", "preamble"]
        );
        // A key of the wrong type is one problem, not also a missing one.
        assert_eq!(
            keys(
                r#"{"name": "cicd", "activation_keywords": "ci", "task_types": [], "preamble": ""}"#
            ),
            vec!["activation_keywords"]
        );
    }

    #[test]
    fn a_preamble_too_long_for_the_agent_s_argument_is_refused() {
        let with = |n: usize| {
            serde_json::json!({
                "name": "a", "activation_keywords": ["x"], "task_types": [],
                "preamble": "p".repeat(n)
            })
            .to_string()
        };
        assert!(ExpertProfile::parse("experts/a.json", &with(100_000)).is_ok());
        let err = ExpertProfile::parse("experts/a.json", &with(200_000)).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("preamble"));
        assert!(
            err.to_string()
                .contains("200000 bytes, expected at most 100000"),
            "{err}"
        );
    }

    #[test]
    fn a_task_type_belongs_to_one_expert() {
        let a = ExpertProfile::parse("experts/a.json", &expert("a", &["build"])).unwrap();
        let b = ExpertProfile::parse("experts/b.json", &expert("b", &["Build"])).unwrap();
        let err = ExpertSet::new(vec![
            ("experts/a.json".into(), a),
            ("experts/b.json".into(), b),
        ])
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("also claimed by expert `a` (experts/a.json)"),
            "{err}"
        );
    }

    #[test]
    fn fallback_expert_must_exist() {
        let a = ExpertProfile::parse("experts/a.json", &expert("a", &[])).unwrap();
        let set = ExpertSet::new(vec![("experts/a.json".into(), a)]).unwrap();
        let err = Config::default().validate_against(&set).unwrap_err();
        assert!(
            err.to_string()
                .contains("`development` is not an expert, expected one of: a"),
            "{err}"
        );
    }
}
