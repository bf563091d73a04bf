//! Workers: one attempt-chain per task assignment.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{TaskId, WorkerId};
use crate::stream::{Outcome, OutcomeKind, Tokens};

/// Where a worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerStatus {
    /// Created; its first attempt is being started.
    Starting,
    /// An attempt is running.
    Running,
    /// Between attempts (restart backoff or rate-limit wait).
    Waiting,
    /// Ended: its work succeeded (and passed its check, if any).
    Completed,
    /// Ended: its work failed.
    Failed,
    /// Ended: stopped by a person.
    Cancelled,
    /// Ended waiting for a person's answer: a tool was denied, or the agent
    /// asked a question instead of finishing. `cortex reply` continues it.
    NeedsInput,
    /// Ended with work a person must look at: its check kept failing.
    NeedsAttention,
    /// A stop was asked for and the process has not ended yet (SIGTERM
    /// sent, SIGKILL after the grace period). Only answers and views say
    /// it; the journal records the end once it happened.
    Stopping,
}

/// The part of a reason worth showing beside its state: None when it only
/// repeats the state ("completed" beside completed), the rest when it
/// starts with the state ("verified: make test passed" for "completed,
/// verified: make test passed"), else the whole reason. A state is matched
/// as written (`needs_input`) and as said (`needs input`). The app's
/// `reasonBeside` (`ui/src/logic/format.ts`) follows the same rule.
pub fn reason_beside<'a>(state: &str, reason: Option<&'a str>) -> Option<&'a str> {
    let r = reason.map(str::trim).filter(|r| !r.is_empty())?;
    for s in [state.to_string(), state.replace('_', " ")] {
        if r == s {
            return None;
        }
        for sep in [", ", "; "] {
            if let Some(rest) = r.strip_prefix(s.as_str()).and_then(|x| x.strip_prefix(sep)) {
                return Some(rest);
            }
        }
    }
    Some(r)
}

/// The part of an attempt's reason worth showing beside its outcome: as
/// `reason_beside`, an attempt that succeeded counting as `completed`
/// (its usual reason). The app's `attemptReason` says the same.
pub fn attempt_reason_beside<'a>(
    outcome: Option<&str>,
    reason: Option<&'a str>,
) -> Option<&'a str> {
    let said = match outcome {
        Some("success") => "completed",
        Some(o) => o,
        None => "running",
    };
    reason_beside(said, reason)
}

/// A state with its reason for a line a person reads, without saying the
/// state twice: `completed` for the reason "completed", `completed,
/// verified: make test passed` for "completed, verified: make test passed",
/// and `failed: exited with 3` otherwise (`reason_beside`).
pub fn state_and_reason(state: &str, reason: Option<&str>) -> String {
    match (reason_beside(state, reason), reason.map(str::trim)) {
        (None, _) => state.to_string(),
        (Some(rest), Some(whole)) if rest.len() < whole.len() => format!("{state}, {rest}"),
        (Some(rest), _) => format!("{state}: {rest}"),
    }
}

impl WorkerStatus {
    /// True when the worker has ended (it runs no more attempts by itself).
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
    /// The status as written in the journal and shown (`"needs_input"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NeedsInput => "needs_input",
            Self::NeedsAttention => "needs_attention",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Waiting => "waiting",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Stopping => "stopping",
        }
    }
}

/// One process run of a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// The attempt's number (1-based).
    pub n: u32,
    /// When the attempt started.
    pub started_at: DateTime<Utc>,
    /// The attempt's process id, once spawned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Process start time (clock ticks since boot): with the pid and the
    /// environment tag, this tells our process from a recycled pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ticks: Option<u64>,
    /// The agent's session id for this attempt, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// True when this attempt continues the previous one's conversation.
    #[serde(default)]
    pub resumed: bool,
    /// True when it was started on request to go on with the conversation
    /// (a person's reply, a restart or nudge of a running worker, or the
    /// PM's nudge of a stalled one, which `pm.max_nudges` bounds), not
    /// after a failure: not one of the restarts `max_restarts` limits.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_request: bool,
    /// When it left a cluster's queue and began to run, for a job that
    /// waited in one and was seen leaving it by an owner; none: it ran from
    /// `started_at` (or left the queue while no owner watched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_at: Option<DateTime<Utc>>,
    /// Since when the cluster has suspended its job, while it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_at: Option<DateTime<Utc>>,
    /// When the cluster last resumed its job (its silence counts from then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsuspended_at: Option<DateTime<Utc>>,
    /// When the attempt ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// How the attempt ended; none while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
}

impl Attempt {
    /// Attempt `n`, started at `at` (its process `pid`, once spawned), not
    /// ended, not resumed.
    pub fn started(n: u32, at: DateTime<Utc>, pid: Option<u32>) -> Self {
        Self {
            n,
            started_at: at,
            pid,
            start_ticks: None,
            session_id: None,
            resumed: false,
            on_request: false,
            running_at: None,
            suspended_at: None,
            unsuspended_at: None,
            ended_at: None,
            outcome: None,
        }
    }

    /// When the attempt began to run: once it left a cluster's queue, if it
    /// waited in one, else when it started. Its time counts from here.
    pub fn ran_from(&self) -> DateTime<Utc> {
        self.running_at.unwrap_or(self.started_at)
    }

    /// The milliseconds it ran (to `now` while it runs), its time in a
    /// cluster's queue left out.
    pub fn ran_millis(&self, now: DateTime<Utc>) -> i64 {
        (self.ended_at.unwrap_or(now) - self.ran_from())
            .num_milliseconds()
            .max(0)
    }

    /// `ran_millis` in seconds.
    pub fn ran_secs(&self, now: DateTime<Utc>) -> f64 {
        self.ran_millis(now) as f64 / 1000.0
    }

    /// True while the attempt has not ended.
    pub fn is_live(&self) -> bool {
        self.outcome.is_none()
    }
}

/// One expert's part of a task, carried out by a chain of attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Worker {
    /// The worker's id.
    pub id: WorkerId,
    /// The task it works on.
    pub task_id: TaskId,
    /// The expert whose part it is.
    pub expert: String,
    /// The directory the agent runs in.
    pub workdir: String,
    /// When the worker was created.
    pub created_at: DateTime<Utc>,
    /// Where the worker is in its life.
    pub status: WorkerStatus,
    /// Its attempts, oldest first.
    pub attempts: Vec<Attempt>,
    /// The agent's latest session id: the next attempt resumes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// What its attempts cost so far, in US dollars.
    #[serde(default)]
    pub cost_usd: f64,
    /// Tokens its attempts used so far.
    #[serde(default)]
    pub tokens: Tokens,
    /// Why it is in its status, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Restart not before this time (backoff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    /// Time limit extensions granted so far, in seconds.
    #[serde(default)]
    pub extended_secs: u64,
    /// The time-limit warnings said of it, whichever owner said them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_warnings: Option<TimeWarnings>,
    /// The agent's final result text (redacted), from its latest attempt
    /// that gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The agent's last assistant text (redacted), from its latest attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_text: Option<String>,
    /// True when some attempt's cost is Cortex's estimate, not the agent's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cost_estimated: bool,
    /// A stop asked for and acknowledged but not yet carried out: a
    /// restarted owner carries it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<StopIntent>,
    /// The check of its work, once one ran or runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// A person's message for the next attempt (`cortex reply`), until that
    /// attempt starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_prompt: Option<String>,
    /// A person restarted it while it waited between attempts (its next
    /// attempt is on request, no restart): no breaker holds it any more,
    /// and with no free place it waits for one; until that attempt starts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restart_asked: bool,
    /// Where its work started in git, recorded as its first attempt starts
    /// (none outside git).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<WorkBase>,
}

/// The git commit a worker's work started from: what `cortex diff` compares
/// against and `cortex merge` merges into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkBase {
    /// The repository the task was submitted in (its top-level folder).
    pub repo: String,
    /// The commit checked out there (and the worktree's start).
    pub commit: String,
    /// The branch checked out in `repo` then; none on a detached HEAD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The worktree's own branch, for an isolated worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree_branch: Option<String>,
}

/// The check of a worker's work (`--verify`, the expert's `verify`, or
/// `verify.command`): run after an attempt succeeds, in the worker's
/// workdir, by `sh -c` as the person wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// The command, run by `sh -c` in the workdir.
    pub command: String,
    /// Checks started so far (every attempt's).
    pub rounds: u32,
    /// None while the latest check runs (or never finished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passed: Option<bool>,
    /// The latest check's exit code, if it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The end of the latest check's output (redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tail: Option<String>,
    /// Why the latest check failed, in words (exit code, timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The running check's process, for re-adoption and kills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The running check process's start time in clock ticks since boot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ticks: Option<u64>,
}

impl Verification {
    /// True while a check has started and not ended.
    pub fn running(&self) -> bool {
        self.pid.is_some() && self.passed.is_none()
    }

    /// How the latest check ended, in one word: `running`, `passed`,
    /// `failed` (it ran and did not pass), `stopped` (a person stopped or
    /// cancelled it: it did not fail) or `not_run` (it could not be run or
    /// started). The one reading of a check's end, for every view.
    pub fn ended_as(&self) -> &'static str {
        let why = self.reason.as_deref().unwrap_or_default();
        match self.passed {
            None => "running",
            Some(true) => "passed",
            Some(false) if why.starts_with("stopped:") => "stopped",
            Some(false)
                if why.starts_with("could not run:") || why.starts_with("could not start:") =>
            {
                "not_run"
            }
            Some(false) => "failed",
        }
    }
}

/// The time-limit warning levels said of a worker, and the limit they were
/// said against: a level is said once, and again only once a longer limit
/// (an extension) leaves it unreached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeWarnings {
    /// The levels said, in percent of the limit (50, 75, 90).
    pub levels: Vec<u8>,
    /// The limit with its extensions, in seconds, they hold for.
    pub limit_secs: u64,
}

/// What follows once a stopped attempt has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterStop {
    /// The worker ends with this status.
    End(WorkerStatus),
    /// The next attempt starts at once, resuming the conversation.
    Restart,
    /// The next attempt starts after the restart backoff (PM restarts).
    RestartAfterBackoff,
}

/// A journaled stop request: which attempt, why, and what follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopIntent {
    /// The attempt to stop.
    pub attempt: u32,
    /// How the attempt counts as ended.
    pub kind: OutcomeKind,
    /// Why it is stopped.
    pub reason: String,
    /// What follows once it has ended; none when the agent printed its
    /// result line and lingered: that result settles the attempt, as if it
    /// had exited on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<AfterStop>,
    /// A person's message for the next attempt (`cortex nudge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

impl Worker {
    /// True when every attempt failed to start its agent: the worker never
    /// ran, so nothing it could have changed or said exists.
    pub fn never_ran(&self) -> bool {
        !self.attempts.is_empty()
            && self.attempts.iter().all(|a| {
                a.outcome
                    .as_ref()
                    .is_some_and(|o| o.kind == crate::stream::OutcomeKind::SpawnFailed)
            })
    }

    /// True when the worker had a conversation that a reply can go on with.
    pub fn has_conversation(&self) -> bool {
        self.session_id.is_some()
    }

    /// A new worker for one expert's part of a task, before its first attempt.
    pub fn new(
        id: WorkerId,
        task_id: TaskId,
        expert: &str,
        workdir: String,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            task_id,
            expert: expert.to_string(),
            workdir,
            created_at,
            status: WorkerStatus::Starting,
            attempts: Vec::new(),
            session_id: None,
            cost_usd: 0.0,
            tokens: Tokens::default(),
            reason: None,
            not_before: None,
            extended_secs: 0,
            result: None,
            last_text: None,
            cost_estimated: false,
            stop: None,
            verification: None,
            next_prompt: None,
            restart_asked: false,
            time_warnings: None,
            base: None,
        }
    }

    /// The latest attempt, live or ended.
    pub fn current(&self) -> Option<&Attempt> {
        self.attempts.last()
    }
    /// The latest attempt, if it is still live.
    pub fn live_attempt(&self) -> Option<&Attempt> {
        self.attempts.last().filter(|a| a.is_live())
    }
    /// The stop requested for the live attempt, if any.
    pub fn pending_stop(&self) -> Option<&StopIntent> {
        let live = self.live_attempt()?;
        self.stop.as_ref().filter(|s| s.attempt == live.n)
    }
    /// Restarts used: attempts after the first that Cortex started after a
    /// failure or a hang, not the ones started on request.
    pub fn restarts(&self) -> u32 {
        let later = self.attempts.iter().skip(1);
        later.filter(|a| !a.on_request).count() as u32
    }

    /// While it waits for an account usage limit that refused its last
    /// attempt: when that limit resets, if after `now`.
    pub fn usage_limited_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.status != WorkerStatus::Waiting {
            return None;
        }
        let resets = self.current()?.outcome.as_ref()?.resets_at?;
        (resets > now).then_some(resets)
    }

    /// Why the worker is where it is now, from what the journal holds. The
    /// reason kept is the one its last change gave (an attempt's end, a
    /// wait, a reply); once a later attempt runs it is what came before
    /// that attempt, said so, not a wait still to come; a check of the work
    /// that runs is said as such, not as the agent's "completed".
    pub fn reason_now(&self) -> Option<String> {
        if self.status == WorkerStatus::Running {
            if let Some(v) = self.verification.as_ref().filter(|v| v.running()) {
                return Some(format!(
                    "the agent finished; its work is being checked (`{}`)",
                    v.command
                ));
            }
        }
        let reason = self.reason.as_deref()?;
        let held = unheld(reason);
        match (self.status, self.live_attempt().map(|a| a.n)) {
            (WorkerStatus::Waiting, _) => Some(without_wait_time(reason)),
            (WorkerStatus::Starting | WorkerStatus::Running, Some(n)) if n > 1 => {
                Some(format!("attempt {n}, after: {}", without_wait_time(held)))
            }
            _ => Some(held.to_string()),
        }
    }
}

/// How a worker's reason goes on while its next attempt waits for a free
/// place in the capacity (`capacity.max_workers`, its expert's `max_workers`).
pub const PLACE_WAIT: &str = "; held: waits for a free place";

/// True when `reason` says its worker waits for a free place (`PLACE_WAIT`).
pub fn waits_for_place(reason: &str) -> bool {
    reason.contains(PLACE_WAIT)
}

/// The limit a worker waiting for a free place waits on: the fleet's
/// `capacity.max_workers` (no `expert`), or its expert's `max_workers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceLimit {
    /// The expert whose `max_workers` it is; none for the fleet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expert: Option<String>,
    /// How many workers it lets run at once.
    pub max_workers: u32,
}

impl std::fmt::Display for PlaceLimit {
    /// As the reason says it (and the app's row): "capacity.max_workers is
    /// 4", "expert development's max_workers is 1".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.expert {
            None => write!(f, "capacity.max_workers is {}", self.max_workers),
            Some(e) => write!(f, "expert {e}'s max_workers is {}", self.max_workers),
        }
    }
}

impl PlaceLimit {
    /// The limit a reason that waits for a free place (`PLACE_WAIT`) names.
    pub fn of_reason(reason: &str) -> Option<Self> {
        let (_, rest) = reason.rsplit_once(PLACE_WAIT)?;
        let words = rest.strip_prefix(" (")?.split(';').next()?;
        let (who, n) = words.rsplit_once(" is ")?;
        let max_workers = n.parse().ok()?;
        let expert = match who {
            "capacity.max_workers" => None,
            _ => Some(
                who.strip_prefix("expert ")?
                    .strip_suffix("'s max_workers")?,
            ),
        };
        Some(Self {
            expert: expert.map(str::to_string),
            max_workers,
        })
    }
}

/// How the reason of a start the cluster did not answer ends (the start
/// waits and is tried again): once an attempt starts it is no longer true.
pub const UNANSWERED_START: &str = "it starts when the cluster answers";

/// The reason of a start that waits because the cluster did not answer.
pub fn unanswered_start_reason(error: &str, why: &str) -> String {
    format!("could not start: {error} ({why}); {UNANSWERED_START}")
}

/// A reason without the hold by a circuit breaker it may end with: what a
/// restarted attempt (and its agent) is told, and what a worker that no
/// longer waits says.
pub fn unheld(reason: &str) -> &str {
    reason.split("; held: ").next().unwrap_or(reason)
}

/// A wait's reason without the time it gave when journaled ("…; restart 1
/// of 2 in 20s", "… now", as earlier versions wrote it): a relative time is
/// untrue a moment later; the wait's end is the worker's `not_before`.
pub fn without_wait_time(reason: &str) -> String {
    let (head, held) = match reason.split_once("; held: ") {
        Some((h, rest)) => (h, Some(rest)),
        None => (reason, None),
    };
    // Only the wait's own words ("restart 1 of 2 now", "... in 20s"), never
    // an agent's text that happens to end so.
    let ours = |h: &str| {
        h.rsplit_once("; restart ").is_some_and(|(_, count)| {
            count
                .split_once(" of ")
                .is_some_and(|(n, m)| n.parse::<u32>().is_ok() && m.parse::<u32>().is_ok())
        })
    };
    let head = head
        .strip_suffix(" now")
        .or_else(|| {
            head.rsplit_once(" in ")
                .filter(|(_, wait)| {
                    wait.strip_suffix('s')
                        .is_some_and(|n| n.parse::<u64>().is_ok())
                })
                .map(|(h, _)| h)
        })
        .filter(|h| ours(h))
        .unwrap_or(head);
    match held {
        Some(rest) => format!("{head}; held: {rest}"),
        None => head.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_never_ran_only_when_every_attempt_failed_to_start() {
        use crate::stream::{Outcome, OutcomeKind};
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut w = Worker::new(
            crate::id::WorkerId::parse("w-01m938kwyyt93smvb7a26s9bd8").unwrap(),
            crate::id::TaskId::parse("t-01m938kwyre1wjyf1dwp6dfktw").unwrap(),
            "development",
            "/w".into(),
            now,
        );
        assert!(!w.never_ran(), "no attempt yet");
        let attempt = |n, outcome: Option<OutcomeKind>| Attempt {
            ended_at: outcome.map(|_| now),
            outcome: outcome.map(|k| Outcome::bare(k, "x")),
            ..Attempt::started(n, now, None)
        };
        w.attempts.push(attempt(1, None));
        assert!(!w.never_ran(), "its first attempt is still starting");
        w.attempts[0] = attempt(1, Some(OutcomeKind::SpawnFailed));
        assert!(w.never_ran());
        w.attempts.push(attempt(2, Some(OutcomeKind::Success)));
        assert!(!w.never_ran(), "a later attempt ran");
    }

    #[test]
    fn a_reason_says_what_is_true_now_not_what_was_to_come() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut w = Worker::new(
            crate::id::WorkerId::parse("w-01m938kwyyt93smvb7a26s9bd8").unwrap(),
            crate::id::TaskId::parse("t-01m938kwyre1wjyf1dwp6dfktw").unwrap(),
            "development",
            "/w".into(),
            now,
        );
        let attempt = |n, live: bool| Attempt {
            ended_at: (!live).then_some(now),
            outcome: (!live).then(|| Outcome::bare(OutcomeKind::ApiError, "API error 500")),
            ..Attempt::started(n, now, None)
        };
        assert_eq!(w.reason_now(), None);
        // Waiting: no time said in words (an earlier version's is dropped).
        w.attempts.push(attempt(1, false));
        w.status = WorkerStatus::Waiting;
        w.reason = Some("API error 500; restart 1 of 2 in 20s".into());
        assert_eq!(
            w.reason_now().as_deref(),
            Some("API error 500; restart 1 of 2")
        );
        // An agent's own words that end so are kept.
        w.reason = Some("exited with 1: retry in 5s".into());
        assert_eq!(
            w.reason_now().as_deref(),
            Some("exited with 1: retry in 5s")
        );
        w.reason = Some("API error 500; restart 1 of 2".into());
        assert_eq!(
            w.reason_now().as_deref(),
            Some("API error 500; restart 1 of 2")
        );
        w.reason = Some("crashed; restart 1 of 2 now; held: expert development paused".into());
        assert_eq!(
            w.reason_now().as_deref(),
            Some("crashed; restart 1 of 2; held: expert development paused")
        );
        // Running again: what came before this attempt, said as past.
        w.reason = Some("API error 500; restart 1 of 2 in 20s".into());
        w.attempts.push(attempt(2, true));
        w.status = WorkerStatus::Running;
        assert_eq!(
            w.reason_now().as_deref(),
            Some("attempt 2, after: API error 500; restart 1 of 2")
        );
        // The agent's end while its check runs is not "completed".
        w.attempts[1] = attempt(2, false);
        w.reason = Some("completed".into());
        w.verification = Some(Verification {
            command: "make test".into(),
            rounds: 1,
            passed: None,
            exit_code: None,
            output_tail: None,
            reason: None,
            pid: Some(7),
            start_ticks: None,
        });
        assert_eq!(
            w.reason_now().as_deref(),
            Some("the agent finished; its work is being checked (`make test`)")
        );
    }

    #[test]
    fn a_state_and_its_reason_never_say_the_state_twice() {
        assert_eq!(
            state_and_reason("completed", Some("completed")),
            "completed"
        );
        assert_eq!(state_and_reason("completed", None), "completed");
        assert_eq!(
            state_and_reason("completed", Some("completed, verified: make test passed")),
            "completed, verified: make test passed"
        );
        assert_eq!(
            state_and_reason("failed", Some("exited with 3")),
            "failed: exited with 3"
        );
        assert_eq!(
            reason_beside("completed", Some("completed, verified: make test passed")),
            Some("verified: make test passed")
        );
        assert_eq!(reason_beside("needs_input", Some("needs input")), None);
        // An attempt that succeeded: "completed" says nothing more.
        assert_eq!(
            attempt_reason_beside(Some("success"), Some("completed")),
            None
        );
        assert_eq!(
            attempt_reason_beside(Some("crashed"), Some("exited with 3")),
            Some("exited with 3")
        );
        assert_eq!(
            state_and_reason(
                "needs_attention",
                Some("needs attention; dependency failed")
            ),
            "needs_attention, dependency failed"
        );
        // A reason that only starts with the same letters is a reason.
        assert_eq!(
            state_and_reason("failed", Some("failed to start: no such file")),
            "failed: failed to start: no such file"
        );
    }

    #[test]
    fn a_place_waits_reason_names_the_limit_it_waits_on() {
        for limit in [
            PlaceLimit {
                expert: None,
                max_workers: 4,
            },
            PlaceLimit {
                expert: Some("data science".into()),
                max_workers: 1,
            },
        ] {
            let reason = format!(
                "a person replied{PLACE_WAIT} ({limit}; it starts before new tasks once one frees)"
            );
            assert_eq!(PlaceLimit::of_reason(&reason), Some(limit));
        }
        assert_eq!(
            PlaceLimit::of_reason("restart; held: expert x paused by circuit breaker until T"),
            None
        );
    }
}
