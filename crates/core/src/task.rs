//! Tasks: what a person asks the fleet to do, and how its state is named.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::id::{RequestId, TaskId, WorkerId};
use crate::router::{Method, Strategy};

/// Ordering of urgency; `critical` runs first.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Runs before everything else.
    Critical,
    /// Runs before medium and low.
    High,
    /// The default.
    #[default]
    Medium,
    /// Runs when nothing more urgent waits.
    Low,
}

impl Priority {
    /// Every priority, most urgent first.
    pub const ALL: [Priority; 4] = [Self::Critical, Self::High, Self::Medium, Self::Low];

    /// The priority as written and shown (`"high"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown priority `{s}`, expected one of: critical, high, medium, low")
            })
    }
}

/// Where a task is in its life. `waiting` means it may not start yet: its
/// expert is paused, or the account refuses its model until a usage limit
/// resets (the reason says which, and until when); `awaiting_confirmation` holds a low-confidence
/// routing until a person confirms or reroutes it; `needs_attention` means
/// the engine escalated it to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Submitted, not yet routed.
    Queued,
    /// Routed to its experts; waiting for a worker.
    Routed,
    /// At least one worker runs on it.
    Running,
    /// It may not start yet (its expert is paused, or an account usage
    /// limit refuses its model); the reason says why and until when.
    Waiting,
    /// Escalated to a person by the engine.
    NeedsAttention,
    /// A worker ended waiting for a person's answer (`cortex reply`).
    NeedsInput,
    /// Waits for the tasks it depends on (`--after`, a plan) to complete.
    Blocked,
    /// Every expert's part completed.
    Completed,
    /// An expert's part failed.
    Failed,
    /// Stopped by a person (or replaced by a plan's edit).
    Cancelled,
    /// Held until a person confirms or reroutes its low-confidence routing.
    AwaitingConfirmation,
}

impl TaskStatus {
    /// Every status, the live ones first.
    pub const ALL: [TaskStatus; 11] = [
        Self::Queued,
        Self::AwaitingConfirmation,
        Self::Blocked,
        Self::Routed,
        Self::Running,
        Self::Waiting,
        Self::NeedsAttention,
        Self::NeedsInput,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// A terminal task never changes again and no longer blocks a duplicate.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// The status as written in the journal and shown (`"needs_attention"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Routed => "routed",
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::NeedsAttention => "needs_attention",
            Self::NeedsInput => "needs_input",
            Self::Blocked => "blocked",
            Self::AwaitingConfirmation => "awaiting_confirmation",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task as stored in the coordination home.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The task's id.
    pub id: TaskId,
    /// The work to do, in words.
    pub description: String,
    /// An explicit task type, if one was given.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
    /// How urgent the task is.
    pub priority: Priority,
    /// Where the task is in its life.
    pub status: TaskStatus,
    /// The absolute directory the work happens in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// The dedup fingerprint of description, type and workdir (see
    /// `fingerprint`).
    pub fingerprint: String,
    /// The idempotency key it was submitted with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The inbox request that created it, so a request replayed after a crash
    /// maps to the same task instead of a second one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<RequestId>,
    /// When the task was submitted.
    pub created_at: DateTime<Utc>,
    /// When the task last changed.
    pub updated_at: DateTime<Utc>,
    /// `Some(true)` when each expert's part runs in its own git worktree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<bool>,
    /// Why the task is in its current status (failure reason, who cancelled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The agent's final answer (redacted), from the latest attempt that gave
    /// one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The task's own check of the work (`--verify`), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<String>,
    /// Tasks that must complete before this one starts (`--after`, a plan).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<TaskId>,
    /// The plan this task is part of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<crate::id::PlanId>,
    /// A goal the coordinator splits into a plan; it ends with its plan.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub goal: bool,
    /// What its workers' attempts cost so far, in US dollars.
    #[serde(default)]
    pub cost_usd: f64,
    /// True when some of `cost_usd` is Cortex's estimate (an attempt ended
    /// without the agent's own figure).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cost_estimated: bool,
    /// The routing decision in short (the full one is in routing-decisions.jsonl).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<RoutingSummary>,
    /// One per expert taking part: a multi-expert task has several, each run
    /// by its own worker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignments: Vec<Assignment>,
}

/// What the router decided, kept with the task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingSummary {
    /// The expert that leads the task.
    pub primary_expert: String,
    /// The primary expert's confidence, 0..1.
    pub confidence: f64,
    /// How the work is shared among experts.
    pub strategy: Strategy,
    /// What decided.
    pub method: Method,
    /// True when a person should confirm the choice.
    pub needs_confirmation: bool,
    /// One line saying why, for a person.
    pub explanation: String,
}

/// Where one expert's part of a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentStatus {
    /// No worker has taken it yet.
    Pending,
    /// A worker runs on it.
    Running,
    /// Its worker completed.
    Completed,
    /// Its worker failed.
    Failed,
    /// Stopped, or never started because the task ended.
    Cancelled,
    /// Its worker ended waiting for a person's answer.
    NeedsInput,
    /// Its worker ended with work a person must look at.
    NeedsAttention,
}

impl AssignmentStatus {
    /// True when the part has ended.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Completed
                | Self::Failed
                | Self::Cancelled
                | Self::NeedsInput
                | Self::NeedsAttention
        )
    }
}

/// One expert's part of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// The expert whose part it is.
    pub expert: String,
    /// Where the part is.
    pub status: AssignmentStatus,
    /// The worker that took the part, once one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<WorkerId>,
}

/// Normalizes a description for dedup: Unicode-aware lowercase, whitespace
/// runs collapsed to one space, ends trimmed. Punctuation is kept: "fix a.b"
/// and "fix ab" are different requests.
pub fn normalize_description(text: &str) -> String {
    text.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The dedup fingerprint: sha256 over normalized description, type and
/// workdir, separated by NUL so fields cannot run into each other.
pub fn fingerprint(description: &str, task_type: Option<&str>, workdir: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(normalize_description(description).as_bytes());
    h.update([0]);
    h.update(task_type.unwrap_or("").as_bytes());
    h.update([0]);
    h.update(workdir.unwrap_or("").as_bytes());
    let digest = h.finalize();
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Queue order: priority first, then age, then id (ids are time-ordered, so
/// this only breaks exact-millisecond ties, deterministically).
pub fn queue_order(a: &Task, b: &Task) -> std::cmp::Ordering {
    (a.priority, a.created_at, &a.id).cmp(&(b.priority, b.created_at, &b.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_ignores_case_and_spacing_but_not_punctuation() {
        assert_eq!(
            normalize_description("  Fix   the\tLogin\nbug "),
            "fix the login bug"
        );
        assert_ne!(
            normalize_description("fix a.b"),
            normalize_description("fix ab")
        );
    }

    #[test]
    fn fingerprint_depends_on_each_field() {
        let base = fingerprint("fix it", Some("bug-fix"), Some("/w"));
        assert_eq!(base, fingerprint("FIX  it", Some("bug-fix"), Some("/w")));
        assert_ne!(base, fingerprint("fix it", None, Some("/w")));
        assert_ne!(base, fingerprint("fix it", Some("bug-fix"), Some("/x")));
        assert_ne!(
            fingerprint("a", Some("b"), None),
            fingerprint("a b", None, None)
        );
    }

    #[test]
    fn priority_parses_case_insensitively_and_rejects_unknown() {
        assert_eq!("HIGH".parse::<Priority>(), Ok(Priority::High));
        let err = "urgent".parse::<Priority>().unwrap_err();
        assert!(err.contains("urgent") && err.contains("critical"), "{err}");
    }

    #[test]
    fn priorities_order_critical_first() {
        let mut v = vec![
            Priority::Low,
            Priority::Critical,
            Priority::Medium,
            Priority::High,
        ];
        v.sort();
        assert_eq!(v, Priority::ALL.to_vec());
    }
}
