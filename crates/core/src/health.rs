//! The health policy: what a worker's signals mean, and what to do.
//!
//! `decide` is a pure function of the worker's view (limits, what was
//! already done), the observations of this tick, and the time. Liveness is
//! observed, never requested: the latest of output, hook events, check-ins,
//! CPU progress of the process tree and transcript growth counts as a sign
//! of life. A worker that waits on an API retry or a rate limit is
//! `waiting`, not stalled. Every action names the worker and the attempt it
//! is about, so it cannot touch a newer attempt.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{ExpertProfile, PmConfig};
use crate::id::WorkerId;
use crate::stream::{Activity, OutcomeKind};

mod classify;
pub use classify::{classify_health, last_sign_of_life, silence_reason};

/// A worker's health, as the policy classifies it at each tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Waiting in a cluster's queue for resources: not started, so its
    /// startup budget does not count yet.
    Scheduled,
    /// No output yet, within the startup budget.
    Starting,
    /// A sign of life within `late_after`.
    Healthy,
    /// Silent with no CPU progress past `late_after`.
    Late,
    /// Silent past `stalled_after`.
    Stalled,
    /// Silent past `zombie_after`, or gone while the state says running.
    Zombie,
    /// Rate limit or API backoff, or a job the cluster suspended: a wait,
    /// not a hang.
    Waiting,
    /// Silent while the cluster that runs it does not answer: a lost
    /// connection cannot be told from a hang, so nothing is stopped until
    /// the cluster answers again.
    Unreachable,
}

impl Health {
    /// The health as written in the journal and shown (`"stalled"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Late => "late",
            Self::Stalled => "stalled",
            Self::Zombie => "zombie",
            Self::Waiting => "waiting",
            Self::Unreachable => "unreachable",
        }
    }
}

/// What the policy knows about a worker beyond this tick's signals.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerView {
    /// The worker the view is about.
    pub worker_id: WorkerId,
    /// The live attempt's number (1-based).
    pub attempt: u32,
    /// When the live attempt started.
    pub attempt_started_at: DateTime<Utc>,
    /// Where the time limit counts from: when the worker would have started
    /// had its attempts run back to back (the live attempt's start less the
    /// time its ended attempts ran), so the limit counts the time its
    /// attempts ran and not the waits between them (a restart's backoff, an
    /// account's usage limit).
    pub worker_started_at: DateTime<Utc>,
    /// The time limit in seconds, before extensions.
    pub time_limit_secs: u64,
    /// Seconds already added by extensions.
    pub extended_secs: u64,
    /// Extensions already granted.
    pub extensions_used: u32,
    /// Extensions the worker may get.
    pub max_extensions: u32,
    /// Seconds each extension adds.
    pub extension_secs: u64,
    /// Restarts already used.
    pub restarts_used: u32,
    /// Restarts the worker may use.
    pub max_restarts: u32,
    /// Tokens the worker may use, if limited.
    pub token_budget: Option<u64>,
    /// US dollars the worker may spend, if limited.
    pub cost_budget_usd: Option<f64>,
    /// Health decided at the previous tick.
    pub health: Health,
    /// Time-limit warning levels (50, 75, 90) already sent.
    pub time_warnings_sent: Vec<u8>,
    /// The limit with its extensions, in seconds, those levels were sent
    /// against: only a longer one makes a level sent unreached again (a
    /// shorter measure of the time run, by another owner, does not).
    pub time_warnings_limit_secs: u64,
    /// The 80% budget warning was already sent.
    pub budget_warned: bool,
    /// The expert's circuit breaker is open: a restart waits for it.
    pub circuit_open: bool,
    /// Nudges already sent to this worker (all attempts).
    pub nudges_used: u32,
}

impl WorkerView {
    /// Builds a view from an expert profile's limits.
    pub fn limits_from(&mut self, e: &ExpertProfile) {
        self.time_limit_secs = e.time_limit_secs;
        self.max_extensions = e.max_extensions;
        self.extension_secs = e.extension_secs;
        self.max_restarts = e.max_restarts;
        self.token_budget = e.token_budget;
        self.cost_budget_usd = e.cost_budget_usd;
    }
}

/// This tick's signals for the live attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Observations {
    /// The attempt's process is still running.
    pub process_alive: bool,
    /// Last time the agent wrote output.
    pub last_output_at: Option<DateTime<Utc>>,
    /// Last time a hook event arrived.
    pub last_hook_at: Option<DateTime<Utc>>,
    /// Last time the worker checked in.
    pub last_checkin_at: Option<DateTime<Utc>>,
    /// Last time the process tree's CPU time went up.
    pub last_cpu_progress_at: Option<DateTime<Utc>>,
    /// Last time the session transcript grew.
    pub last_transcript_growth_at: Option<DateTime<Utc>>,
    /// When this attempt was last nudged. A nudge is an intervention, not
    /// activity: the CPU and transcript growth it causes are not a sign of
    /// life until the agent speaks again (output, a hook, a check-in).
    pub nudged_at: Option<DateTime<Utc>>,
    /// What the agent is doing, from its output stream.
    pub activity: Activity,
    /// Tokens the attempt has used so far.
    pub tokens: u64,
    /// The attempt's cost so far, in US dollars.
    pub cost_usd: f64,
    /// The attempt waits in a cluster's queue (a job not started yet).
    pub queued: bool,
    /// Why it waits there, as the scheduler says it (`Resources`,
    /// `BeginTime`, `PartitionDown`...), when it says one.
    pub queued_reason: Option<String>,
    /// The cluster suspended the attempt's job (`scontrol suspend`), in its
    /// words: stopped by the cluster, not hung.
    pub suspended: Option<String>,
    /// When the cluster last resumed the attempt's job after suspending
    /// it: its silence counts from then.
    pub resumed_at: Option<DateTime<Utc>>,
    /// Why the cluster running the attempt cannot be reached now, if it
    /// cannot (a launcher for this machine always reaches its processes).
    pub unreachable: Option<String>,
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A worker stalled.
    Stalled,
    /// A worker became a zombie.
    Zombie,
    /// A worker used 50, 75 or 90% of its time limit.
    TimeoutWarning,
    /// A worker reached its time limit and was stopped.
    TimedOut,
    /// A worker neared or reached its token or cost budget.
    Budget,
    /// A worker failed.
    Failed,
    /// An expert's circuit breaker opened: its workers are not restarted.
    CircuitBreaker,
    /// A worker completed.
    Completed,
    /// A worker's time limit was extended.
    Extended,
    /// A worker ended waiting for a person's answer.
    NeedsInput,
    /// The account's usage limit stopped a worker until it resets.
    UsageLimit,
}

impl AlertKind {
    /// The kind in words, as people read it ("time limit near").
    pub fn label(self) -> &'static str {
        match self {
            AlertKind::Stalled => "stalled",
            AlertKind::Zombie => "zombie",
            AlertKind::TimeoutWarning => "time limit near",
            AlertKind::TimedOut => "timed out",
            AlertKind::Budget => "budget",
            AlertKind::Failed => "failed",
            AlertKind::CircuitBreaker => "circuit breaker",
            AlertKind::Completed => "completed",
            AlertKind::Extended => "extended",
            AlertKind::NeedsInput => "needs you",
            AlertKind::UsageLimit => "usage limit",
        }
    }
}

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For the record; nothing to do.
    Info,
    /// Worth a look.
    Warning,
    /// Needs a person: work was stopped or lost.
    Critical,
}

/// What the PM does; each is journaled to pm-activity.jsonl by the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Health changed (recorded; `late` stops here).
    Transition {
        /// The worker it is about.
        worker_id: WorkerId,
        /// The attempt it is about.
        attempt: u32,
        /// The health before.
        from: Health,
        /// The health now.
        to: Health,
        /// Why the health changed.
        reason: String,
    },
    /// Raise an alert for a person.
    Alert {
        /// The worker it is about.
        worker_id: WorkerId,
        /// The attempt it is about.
        attempt: u32,
        /// What the alert is about.
        kind: AlertKind,
        /// How urgent it is.
        severity: Severity,
        /// The alert's text.
        message: String,
    },
    /// Resume the conversation with a message (stalled, if configured).
    Nudge {
        /// The worker to nudge.
        worker_id: WorkerId,
        /// The attempt to nudge.
        attempt: u32,
    },
    /// Kill the attempt's tree; restart it (resumed) or end the worker.
    Kill {
        /// The worker to stop.
        worker_id: WorkerId,
        /// The attempt to kill.
        attempt: u32,
        /// How the attempt ends.
        kind: OutcomeKind,
        /// Why it was killed.
        reason: String,
        /// Start a new attempt (resumed) instead of ending the worker.
        restart: bool,
    },
    /// Extend the worker's time limit.
    Extend {
        /// The worker to extend.
        worker_id: WorkerId,
        /// The attempt it is about.
        attempt: u32,
        /// Seconds added to the time limit.
        secs: u64,
    },
    /// A time-limit warning level was sent (so it is sent once).
    TimeWarningSent {
        /// The worker it is about.
        worker_id: WorkerId,
        /// The attempt it is about.
        attempt: u32,
        /// The level sent: 50, 75 or 90 (percent of the time limit).
        level: u8,
        /// The limit with its extensions, in seconds, it was sent against.
        limit_secs: u64,
    },
    /// The limit is longer than the one the levels sent were sent against
    /// (it was extended): those not reached under it are forgotten (none
    /// may be), said again when they are reached.
    TimeWarningsForgotten {
        /// The worker it is about.
        worker_id: WorkerId,
        /// The attempt it is about.
        attempt: u32,
        /// The levels to forget.
        levels: Vec<u8>,
        /// The limit with its extensions, in seconds, the levels kept hold for.
        limit_secs: u64,
    },
    /// The 80% budget warning was sent (so it is sent once).
    BudgetWarningSent {
        /// The worker it is about.
        worker_id: WorkerId,
        /// The attempt it is about.
        attempt: u32,
    },
}

/// Decides this tick's actions for one live attempt.
pub fn decide(
    pm: &PmConfig,
    view: &WorkerView,
    obs: &Observations,
    now: DateTime<Utc>,
) -> Vec<Action> {
    let (w, a) = (view.worker_id.clone(), view.attempt);
    let mut out = Vec::new();
    let (health, reason) = classify_health(pm, view, obs, now);
    if health != view.health {
        out.push(Action::Transition {
            worker_id: w.clone(),
            attempt: a,
            from: view.health,
            to: health,
            reason: reason.clone(),
        });
        match health {
            Health::Stalled => {
                out.push(Action::Alert {
                    worker_id: w.clone(),
                    attempt: a,
                    kind: AlertKind::Stalled,
                    severity: Severity::Warning,
                    message: format!("stalled: {reason}"),
                });
                if pm.nudge_on_stall && view.nudges_used < pm.max_nudges {
                    out.push(Action::Nudge {
                        worker_id: w.clone(),
                        attempt: a,
                    });
                }
            }
            Health::Zombie => {
                // With the expert's circuit breaker open the restart is
                // still owed: it waits for the breaker to close.
                let restart = view.restarts_used < view.max_restarts;
                let why = if restart && view.circuit_open {
                    format!(
                        "{reason}; killed, restart {} of {} once the expert's circuit breaker closes",
                        view.restarts_used + 1,
                        view.max_restarts
                    )
                } else if restart {
                    format!(
                        "{reason}; killed, restart {} of {}",
                        view.restarts_used + 1,
                        view.max_restarts
                    )
                } else {
                    format!("{reason}; killed, no restarts left")
                };
                out.push(Action::Alert {
                    worker_id: w.clone(),
                    attempt: a,
                    kind: AlertKind::Zombie,
                    severity: Severity::Critical,
                    message: why.clone(),
                });
                if obs.process_alive {
                    out.push(Action::Kill {
                        worker_id: w.clone(),
                        attempt: a,
                        kind: OutcomeKind::Hung,
                        // What follows is said once: by the wait before
                        // the restart, or here when none follows.
                        reason: if restart {
                            format!("{reason}; killed")
                        } else {
                            why
                        },
                        restart,
                    });
                }
                return out;
            }
            _ => {}
        }
    }
    // Time limit, over the time the worker's attempts ran.
    let limit = view.time_limit_secs.saturating_add(view.extended_secs);
    if limit > 0 {
        let elapsed = (now - view.worker_started_at).num_milliseconds().max(0) as f64 / 1000.0;
        let used = elapsed / limit as f64;
        // Only a longer limit makes a level said before unreached again:
        // a shorter measure of the time run (another owner's) does not.
        if limit > view.time_warnings_limit_secs && !view.time_warnings_sent.is_empty() {
            let forgotten: Vec<u8> = view
                .time_warnings_sent
                .iter()
                .copied()
                .filter(|level| used * 100.0 < f64::from(*level))
                .collect();
            out.push(Action::TimeWarningsForgotten {
                worker_id: w.clone(),
                attempt: a,
                levels: forgotten,
                limit_secs: limit,
            });
        }
        let due: Vec<u8> = [50u8, 75, 90]
            .into_iter()
            .filter(|level| {
                used * 100.0 >= f64::from(*level)
                    && !view.time_warnings_sent.contains(level)
                    && used < 1.0
            })
            .collect();
        for &level in &due {
            out.push(Action::TimeWarningSent {
                worker_id: w.clone(),
                attempt: a,
                level,
                limit_secs: limit,
            });
        }
        // Several levels passed at once (an owner that was not running, a
        // limit lowered): only the highest is said, as it is now.
        if let Some(&level) = due.last() {
            out.push(Action::Alert {
                worker_id: w.clone(),
                attempt: a,
                kind: AlertKind::TimeoutWarning,
                severity: if level >= 90 {
                    Severity::Warning
                } else {
                    Severity::Info
                },
                message: format!(
                    "{level}% of its time limit used ({}s of {limit}s)",
                    elapsed as u64
                ),
            });
        }
        if used >= 1.0 {
            // A job the cluster suspended makes no progress: not extended.
            let progressing = obs.suspended.is_none()
                && matches!(
                    health,
                    Health::Healthy | Health::Waiting | Health::Starting | Health::Scheduled
                );
            if progressing && view.extensions_used < view.max_extensions && view.extension_secs > 0
            {
                out.push(Action::Extend {
                    worker_id: w.clone(),
                    attempt: a,
                    secs: view.extension_secs,
                });
                out.push(Action::Alert {
                    worker_id: w.clone(),
                    attempt: a,
                    kind: AlertKind::Extended,
                    severity: Severity::Info,
                    message: format!(
                        "time limit reached while making progress: extended by {}s",
                        view.extension_secs
                    ),
                });
            } else {
                let why = format!("reached its time limit of {limit}s");
                out.push(Action::Alert {
                    worker_id: w.clone(),
                    attempt: a,
                    kind: AlertKind::TimedOut,
                    severity: Severity::Critical,
                    message: format!("timed out: {why}"),
                });
                out.push(Action::Kill {
                    worker_id: w,
                    attempt: a,
                    kind: OutcomeKind::TimedOut,
                    reason: why,
                    restart: false,
                });
                return out;
            }
        }
    }
    // Budget: tokens and cost; not for an agent whose result arrived (it
    // has finished: the runtime settles it by that result, and stopping it
    // now would call finished work a failure).
    if obs.activity == Activity::Finished {
        return out;
    }
    out.extend(budget_actions(
        &w,
        a,
        view.token_budget,
        view.cost_budget_usd,
        view.budget_warned,
        obs.tokens,
        obs.cost_usd,
    ));
    out
}

/// How much of its budget a worker used: the larger share of its token and
/// cost budgets (0 without either). 1.0 or more stops it.
pub fn budget_used(
    token_budget: Option<u64>,
    cost_budget_usd: Option<f64>,
    tokens: u64,
    cost_usd: f64,
) -> f64 {
    [
        token_budget
            .filter(|b| *b > 0)
            .map(|b| tokens as f64 / b as f64),
        cost_budget_usd.filter(|b| *b > 0.0).map(|b| cost_usd / b),
    ]
    .into_iter()
    .flatten()
    .fold(0.0f64, f64::max)
}

/// The budget's actions for one attempt: a warning at 80% of the token or
/// cost budget (once), a stop at 100%, on the live figures.
pub fn budget_actions(
    worker_id: &WorkerId,
    attempt: u32,
    token_budget: Option<u64>,
    cost_budget_usd: Option<f64>,
    budget_warned: bool,
    tokens: u64,
    cost_usd: f64,
) -> Vec<Action> {
    let (w, a) = (worker_id.clone(), attempt);
    let mut out = Vec::new();
    let fraction = budget_used(token_budget, cost_budget_usd, tokens, cost_usd);
    if fraction >= 1.0 {
        let why = format!("used {:.0}% of its token/cost budget", fraction * 100.0);
        out.push(Action::Alert {
            worker_id: w.clone(),
            attempt: a,
            kind: AlertKind::Budget,
            severity: Severity::Critical,
            message: format!("stopped: {why}"),
        });
        out.push(Action::Kill {
            worker_id: w,
            attempt: a,
            kind: OutcomeKind::Budget,
            reason: why,
            restart: false,
        });
    } else if fraction >= 0.8 && !budget_warned {
        out.push(Action::BudgetWarningSent {
            worker_id: w.clone(),
            attempt: a,
        });
        out.push(Action::Alert {
            worker_id: w,
            attempt: a,
            kind: AlertKind::Budget,
            severity: Severity::Warning,
            message: format!("{:.0}% of its token/cost budget used", fraction * 100.0),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn pm() -> PmConfig {
        PmConfig {
            startup_budget_secs: 20,
            late_after_secs: 30,
            stalled_after_secs: 60,
            zombie_after_secs: 120,
            tick_millis: 1000,
            kill_grace_secs: 5,
            nudge_on_stall: false,
            max_nudges: 1,
            busy_cpu_percent: 5.0,
        }
    }

    fn view(health: Health) -> WorkerView {
        WorkerView {
            worker_id: WorkerId::new(1, [1; 10]),
            attempt: 2,
            attempt_started_at: t(0),
            worker_started_at: t(0),
            time_limit_secs: 10_000,
            extended_secs: 0,
            extensions_used: 0,
            max_extensions: 1,
            extension_secs: 600,
            restarts_used: 0,
            max_restarts: 2,
            token_budget: None,
            cost_budget_usd: None,
            health,
            time_warnings_sent: vec![],
            time_warnings_limit_secs: 0,
            budget_warned: false,
            circuit_open: false,
            nudges_used: 0,
        }
    }

    fn obs(last_output: Option<i64>) -> Observations {
        Observations {
            process_alive: true,
            last_output_at: last_output.map(t),
            last_hook_at: None,
            last_checkin_at: None,
            last_cpu_progress_at: None,
            last_transcript_growth_at: None,
            nudged_at: None,
            activity: Activity::WaitingOnModel { since: t(0) },
            tokens: 0,
            cost_usd: 0.0,
            queued: false,
            queued_reason: None,
            suspended: None,
            resumed_at: None,
            unreachable: None,
        }
    }

    fn health_of(v: &WorkerView, o: &Observations, now: i64) -> Health {
        classify_health(&pm(), v, o, t(now)).0
    }

    #[test]
    fn a_job_in_the_queue_is_scheduled_and_its_startup_budget_waits() {
        let queued = Observations {
            queued: true,
            queued_reason: None,
            ..obs(None)
        };
        // Long past the startup budget (20 s), still in the queue.
        let (h, why) = classify_health(&pm(), &view(Health::Starting), &queued, t(500));
        assert_eq!(h, Health::Scheduled, "{why}");
        assert_eq!(why, "queued on the cluster: waiting to be scheduled");
        let busy = Observations {
            queued_reason: Some("Resources".into()),
            ..queued.clone()
        };
        let (_, why) = classify_health(&pm(), &view(Health::Starting), &busy, t(500));
        assert_eq!(why, "queued on the cluster: waiting for resources");
        // Slurm's reason, said; one that never ends by itself says what ends it.
        let down = Observations {
            queued_reason: Some("PartitionDown".into()),
            ..queued.clone()
        };
        let (_, why) = classify_health(&pm(), &view(Health::Starting), &down, t(500));
        assert!(
            why.contains("partition is down") && why.contains("starts only once"),
            "{why}"
        );
        let held = Observations {
            queued_reason: Some("JobHeldUser".into()),
            ..queued.clone()
        };
        let (_, why) = classify_health(&pm(), &view(Health::Starting), &held, t(500));
        assert!(why.contains("scontrol release"), "{why}");
        // A hold is a person's, its owner's or an administrator's: not Slurm's.
        assert!(why.contains("held by its owner (JobHeldUser)"), "{why}");
        let by_admin = classify::queued_words(Some("JobHeldAdmin"));
        assert!(
            by_admin.contains("held by a cluster administrator (JobHeldAdmin)"),
            "{by_admin}"
        );
        assert!(decide(&pm(), &view(Health::Starting), &queued, t(500))
            .iter()
            .all(|a| !matches!(a, Action::Kill { .. })));
        // Out of the queue, the budget applies as usual.
        assert_eq!(
            health_of(&view(Health::Scheduled), &obs(None), 10),
            Health::Starting
        );
        assert_eq!(
            health_of(&view(Health::Scheduled), &obs(None), 30),
            Health::Zombie
        );
    }

    #[test]
    fn a_job_the_cluster_suspended_waits_and_its_silence_counts_from_its_resumption() {
        let suspended = Observations {
            suspended: Some("suspended by the cluster".into()),
            ..obs(Some(0))
        };
        // Silent far past the zombie threshold (120 s): a wait, not a hang.
        let (h, why) = classify_health(&pm(), &view(Health::Healthy), &suspended, t(500));
        assert_eq!(
            (h, why.as_str()),
            (Health::Waiting, "suspended by the cluster")
        );
        // Whatever it was doing when it was stopped (waiting out an API retry).
        let retrying = Observations {
            activity: Activity::RetryingApi {
                until: t(490),
                status: Some(529),
                attempt: 1,
            },
            ..suspended.clone()
        };
        let (_, why) = classify_health(&pm(), &view(Health::Waiting), &retrying, t(500));
        assert_eq!(why, "suspended by the cluster");
        assert!(decide(&pm(), &view(Health::Waiting), &suspended, t(500))
            .iter()
            .all(|a| !matches!(a, Action::Kill { .. } | Action::Nudge { .. })));
        // Resumed at 500: silent from then, not from its last output.
        let resumed = Observations {
            resumed_at: Some(t(500)),
            ..obs(Some(0))
        };
        assert_eq!(
            health_of(&view(Health::Waiting), &resumed, 510),
            Health::Healthy
        );
        assert_eq!(
            health_of(&view(Health::Waiting), &resumed, 640),
            Health::Zombie
        );
        // Its time counts against the limit, but it is not extended as if it
        // made progress: at the limit it is stopped.
        let at_limit = decide(&pm(), &view(Health::Waiting), &suspended, t(10_000));
        assert!(
            at_limit.iter().any(|a| matches!(
                a,
                Action::Kill {
                    kind: OutcomeKind::TimedOut,
                    ..
                }
            )) && !at_limit.iter().any(|a| matches!(a, Action::Extend { .. })),
            "{at_limit:?}"
        );
    }

    #[test]
    fn silence_while_the_cluster_does_not_answer_is_unreachable_and_stops_nothing() {
        let cut_off = |o: Observations| Observations {
            unreachable: Some("squeue timed out".into()),
            ..o
        };
        let kills = |actions: &[Action]| {
            actions
                .iter()
                .filter(|a| matches!(a, Action::Kill { .. } | Action::Nudge { .. }))
                .count()
        };
        // Silent past the zombie threshold: killed when the cluster answers,
        // left alone while it does not.
        let silent = obs(Some(0));
        assert_eq!(
            health_of(&view(Health::Stalled), &silent, 200),
            Health::Zombie
        );
        assert_eq!(
            kills(&decide(&pm(), &view(Health::Stalled), &silent, t(200))),
            1
        );
        let (h, why) = classify_health(
            &pm(),
            &view(Health::Stalled),
            &cut_off(obs(Some(0))),
            t(200),
        );
        assert_eq!(h, Health::Unreachable);
        assert!(
            why.contains("squeue timed out") && why.contains("silent for 200s"),
            "{why}"
        );
        let actions = decide(
            &pm(),
            &view(Health::Stalled),
            &cut_off(obs(Some(0))),
            t(200),
        );
        assert_eq!(kills(&actions), 0, "{actions:?}");
        assert!(actions.iter().any(|a| matches!(
            a,
            Action::Transition {
                to: Health::Unreachable,
                ..
            }
        )));
        // A process the cluster cannot be asked about is not taken for gone.
        let unseen = Observations {
            process_alive: false,
            ..cut_off(obs(Some(190)))
        };
        assert_eq!(
            health_of(&view(Health::Healthy), &unseen, 200),
            Health::Unreachable
        );
        assert_eq!(
            kills(&decide(&pm(), &view(Health::Healthy), &unseen, t(200))),
            0
        );
        // Signs of life still arriving (the output is on a shared file
        // system) keep their meaning.
        assert_eq!(
            health_of(&view(Health::Healthy), &cut_off(obs(Some(195))), 200),
            Health::Healthy
        );
        // Once it answers again, the silence is judged.
        let back = decide(&pm(), &view(Health::Unreachable), &obs(Some(0)), t(201));
        assert_eq!(kills(&back), 1, "{back:?}");
    }

    #[test]
    fn a_nudge_is_not_a_sign_of_life_and_is_sent_at_most_max_nudges_times() {
        let cfg = PmConfig {
            nudge_on_stall: true,
            ..pm()
        };
        // Stalled at 70 s; nudged at 70 s; the nudge makes the transcript
        // grow and the CPU tick, but the agent says nothing.
        let mut o = obs(Some(10));
        o.nudged_at = Some(t(70));
        o.last_transcript_growth_at = Some(t(71));
        o.last_cpu_progress_at = Some(t(72));
        let (h, why) = classify_health(&cfg, &view(Health::Stalled), &o, t(131));
        assert_eq!(h, Health::Zombie, "{why}");
        // Once the agent speaks after the nudge, it counts again.
        o.last_output_at = Some(t(80));
        assert_eq!(
            classify_health(&cfg, &view(Health::Stalled), &o, t(100)).0,
            Health::Healthy
        );
        // CPU progress without a nudge is a sign of life as before.
        let mut busy = obs(Some(10));
        busy.last_cpu_progress_at = Some(t(72));
        assert_eq!(
            classify_health(&cfg, &view(Health::Healthy), &busy, t(100)).0,
            Health::Healthy
        );
        let nudges = |v: &WorkerView| {
            decide(&cfg, v, &obs(Some(10)), t(75))
                .iter()
                .filter(|a| matches!(a, Action::Nudge { .. }))
                .count()
        };
        assert_eq!(nudges(&view(Health::Late)), 1);
        let used = WorkerView {
            nudges_used: 1,
            ..view(Health::Late)
        };
        assert_eq!(
            nudges(&used),
            0,
            "max_nudges (1) reached: the ladder goes on"
        );
    }

    #[test]
    fn thresholds_and_limits_beyond_the_calendar_do_not_panic() {
        // Validation keeps such values out; the arithmetic must hold anyway.
        let huge = PmConfig {
            startup_budget_secs: u64::MAX,
            late_after_secs: u64::MAX / 1000,
            stalled_after_secs: u64::MAX / 2,
            zombie_after_secs: u64::MAX,
            ..pm()
        };
        let mut v = view(Health::Healthy);
        v.time_limit_secs = u64::MAX;
        v.extended_secs = u64::MAX;
        let mut o = obs(Some(10));
        o.activity = Activity::RetryingApi {
            until: DateTime::<Utc>::MAX_UTC,
            status: Some(529),
            attempt: 1,
        };
        assert_eq!(classify_health(&huge, &v, &o, t(100)).0, Health::Waiting);
        o.activity = Activity::WaitingOnModel { since: t(0) };
        assert_eq!(classify_health(&huge, &v, &o, t(100)).0, Health::Healthy);
        assert_eq!(
            classify_health(&huge, &v, &obs(None), t(100)).0,
            Health::Starting
        );
        let actions = decide(&huge, &v, &o, t(100));
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::TimeWarningSent { .. })),
            "no time limit is near: {actions:?}"
        );
    }

    #[test]
    fn silence_thresholds_and_their_boundaries() {
        let v = view(Health::Healthy);
        let o = obs(Some(10));
        let table = [
            (10, Health::Healthy),
            (39, Health::Healthy),
            (40, Health::Late),
            (69, Health::Late),
            (70, Health::Stalled),
            (129, Health::Stalled),
            (130, Health::Zombie),
        ];
        for (now, want) in table {
            assert_eq!(health_of(&v, &o, now), want, "at {now}s");
        }
    }

    #[test]
    fn startup_budget_applies_only_before_the_first_output() {
        let v = view(Health::Starting);
        assert_eq!(health_of(&v, &obs(None), 19), Health::Starting);
        assert_eq!(health_of(&v, &obs(None), 20), Health::Zombie);
        let (_, why) = classify_health(&pm(), &v, &obs(None), t(20));
        assert!(why.contains("startup budget"), "{why}");
        assert_eq!(health_of(&v, &obs(Some(19)), 25), Health::Healthy);
    }

    #[test]
    fn a_busy_but_silent_worker_stays_healthy() {
        let v = view(Health::Healthy);
        let mut o = obs(Some(0));
        o.last_cpu_progress_at = Some(t(595));
        assert_eq!(
            health_of(&v, &o, 600),
            Health::Healthy,
            "CPU progress is a sign of life"
        );
        let (_, why) = classify_health(&pm(), &v, &o, t(600));
        assert!(why.contains("cpu"), "{why}");
        o.last_cpu_progress_at = None;
        o.last_hook_at = Some(t(590));
        assert_eq!(
            health_of(&v, &o, 600),
            Health::Healthy,
            "a hook is a sign of life"
        );
        o.last_hook_at = None;
        o.last_transcript_growth_at = Some(t(580));
        assert_eq!(health_of(&v, &o, 600), Health::Healthy);
    }

    #[test]
    fn api_backoff_is_waiting_not_stalled_until_it_is_overdue() {
        let v = view(Health::Healthy);
        let mut o = obs(Some(0));
        o.activity = Activity::RetryingApi {
            until: t(200),
            status: Some(429),
            attempt: 7,
        };
        assert_eq!(health_of(&v, &o, 150), Health::Waiting);
        assert_eq!(
            health_of(&v, &o, 230),
            Health::Waiting,
            "grace of late_after past `until`"
        );
        assert_eq!(
            health_of(&v, &o, 231),
            Health::Zombie,
            "overdue: silent since 0"
        );
    }

    #[test]
    fn a_gone_process_is_a_zombie_at_once_and_is_not_killed_again() {
        let v = view(Health::Healthy);
        let mut o = obs(Some(5));
        o.process_alive = false;
        let acts = decide(&pm(), &v, &o, t(6));
        assert!(matches!(
            acts[0],
            Action::Transition {
                to: Health::Zombie,
                ..
            }
        ));
        assert!(
            acts.iter().all(|a| !matches!(a, Action::Kill { .. })),
            "the runtime settles it: {acts:?}"
        );
    }

    #[test]
    fn transitions_alert_once_and_late_is_only_recorded() {
        let o = obs(Some(0));
        let acts = decide(&pm(), &view(Health::Healthy), &o, t(40));
        assert_eq!(acts.len(), 1, "late: record only: {acts:?}");
        assert!(
            decide(&pm(), &view(Health::Late), &o, t(45)).is_empty(),
            "no repeat"
        );
        let acts = decide(&pm(), &view(Health::Late), &o, t(70));
        assert!(acts.iter().any(|a| matches!(
            a,
            Action::Alert {
                kind: AlertKind::Stalled,
                ..
            }
        )));
        assert!(
            !acts.iter().any(|a| matches!(a, Action::Nudge { .. })),
            "nudge is off by default"
        );
        let mut cfg = pm();
        cfg.nudge_on_stall = true;
        assert!(decide(&cfg, &view(Health::Late), &o, t(70))
            .iter()
            .any(|a| matches!(a, Action::Nudge { .. })));
        assert!(decide(&pm(), &view(Health::Stalled), &o, t(80)).is_empty());
    }

    #[test]
    fn zombies_are_killed_and_restarted_while_restarts_remain() {
        let o = obs(Some(0));
        let kill = |v: &WorkerView| {
            decide(&pm(), v, &o, t(130))
                .into_iter()
                .find_map(|a| match a {
                    Action::Kill {
                        restart, attempt, ..
                    } => Some((restart, attempt)),
                    _ => None,
                })
        };
        assert_eq!(
            kill(&view(Health::Stalled)),
            Some((true, 2)),
            "carries the attempt it is about"
        );
        let mut spent = view(Health::Stalled);
        spent.restarts_used = 2;
        assert_eq!(kill(&spent), Some((false, 2)));
        let mut open = view(Health::Stalled);
        open.circuit_open = true;
        assert_eq!(
            kill(&open),
            Some((true, 2)),
            "the restart is owed, held until the breaker closes"
        );
    }

    #[test]
    fn levels_said_before_an_extension_are_said_again_under_the_new_limit() {
        let mut v = view(Health::Healthy);
        v.time_limit_secs = 100;
        v.time_warnings_sent = vec![50, 75, 90];
        // Extended by 25 s at 90 s: 72% used, 75 and 90 are not reached.
        v.extended_secs = 25;
        let acts = decide(&pm(), &v, &obs(Some(90)), t(90));
        let forgotten: Vec<Vec<u8>> = acts
            .iter()
            .filter_map(|a| match a {
                Action::TimeWarningsForgotten { levels, .. } => Some(levels.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(forgotten, vec![vec![75, 90]]);
        v.time_warnings_sent = vec![50];
        let acts = decide(&pm(), &v, &obs(Some(113)), t(113));
        assert!(
            acts.iter().any(|a| matches!(
                a,
                Action::Alert {
                    kind: AlertKind::TimeoutWarning,
                    severity: Severity::Warning,
                    ..
                }
            )),
            "90% of the new limit is said: {acts:?}"
        );
        // Nothing is forgotten while the limit stands.
        v.time_warnings_sent = vec![50, 75, 90];
        v.time_warnings_limit_secs = 125;
        assert!(!decide(&pm(), &v, &obs(Some(113)), t(113))
            .iter()
            .any(|a| matches!(a, Action::TimeWarningsForgotten { .. })));
    }

    #[test]
    fn a_shorter_measure_of_the_time_run_under_the_same_limit_forgets_no_level() {
        let mut v = view(Health::Healthy);
        v.time_limit_secs = 100;
        v.time_warnings_sent = vec![50, 75];
        v.time_warnings_limit_secs = 100;
        // Another owner measures 40 s where 80 s were measured: said once.
        let acts = decide(&pm(), &v, &obs(Some(40)), t(40));
        assert!(
            !acts.iter().any(|a| matches!(
                a,
                Action::TimeWarningsForgotten { .. } | Action::TimeWarningSent { .. }
            )),
            "{acts:?}"
        );
        let acts = decide(&pm(), &v, &obs(Some(80)), t(80));
        assert!(
            !acts.iter().any(|a| matches!(a, Action::Alert { .. })),
            "{acts:?}"
        );
    }

    #[test]
    fn time_warnings_at_50_75_90_then_extend_once_or_time_out() {
        let mut v = view(Health::Healthy);
        v.time_limit_secs = 100;
        let o = |at: i64| obs(Some(at));
        let levels = |acts: Vec<Action>| -> Vec<u8> {
            acts.iter()
                .filter_map(|a| match a {
                    Action::TimeWarningSent { level, .. } => Some(*level),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(levels(decide(&pm(), &v, &o(49), t(49))), Vec::<u8>::new());
        assert_eq!(levels(decide(&pm(), &v, &o(50), t(50))), vec![50]);
        v.time_warnings_sent = vec![50];
        // Two levels passed at once (no owner ran meanwhile): both are
        // marked sent, only the highest is said, at its severity.
        let acts = decide(&pm(), &v, &o(91), t(91));
        assert_eq!(levels(acts.clone()), vec![75, 90]);
        let said: Vec<(Severity, String)> = acts
            .iter()
            .filter_map(|a| match a {
                Action::Alert {
                    kind: AlertKind::TimeoutWarning,
                    severity,
                    message,
                    ..
                } => Some((*severity, message.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            said,
            vec![(
                Severity::Warning,
                "90% of its time limit used (91s of 100s)".to_string()
            )]
        );
        v.time_warnings_sent = vec![50, 75, 90];
        let acts = decide(&pm(), &v, &o(99), t(100));
        assert!(
            acts.iter()
                .any(|a| matches!(a, Action::Extend { secs: 600, .. })),
            "{acts:?}"
        );
        v.extensions_used = 1;
        let acts = decide(&pm(), &v, &o(99), t(100));
        assert!(acts.iter().any(|a| matches!(
            a,
            Action::Kill {
                kind: OutcomeKind::TimedOut,
                restart: false,
                ..
            }
        )));
        // Not progressing: no extension even if one remains.
        v.extensions_used = 0;
        let acts = decide(&pm(), &v, &o(10), t(100));
        assert!(
            acts.iter().any(|a| matches!(
                a,
                Action::Kill {
                    kind: OutcomeKind::TimedOut,
                    ..
                }
            )),
            "{acts:?}"
        );
        // An extension moves the limit.
        v.extended_secs = 600;
        let acts = decide(&pm(), &v, &o(99), t(100));
        assert!(
            matches!(acts.as_slice(), [Action::TimeWarningsForgotten { levels, .. }] if levels == &[50, 75, 90]),
            "nothing but the levels said under the old limit is forgotten: {acts:?}"
        );
    }

    #[test]
    fn budget_warns_at_80_and_stops_at_100() {
        let mut v = view(Health::Healthy);
        v.token_budget = Some(1000);
        let mut o = obs(Some(10));
        o.tokens = 799;
        assert!(decide(&pm(), &v, &o, t(10)).is_empty());
        o.tokens = 800;
        assert!(decide(&pm(), &v, &o, t(10))
            .iter()
            .any(|a| matches!(a, Action::BudgetWarningSent { .. })));
        v.budget_warned = true;
        assert!(decide(&pm(), &v, &o, t(10)).is_empty());
        v.cost_budget_usd = Some(1.0);
        o.cost_usd = 1.0;
        assert!(decide(&pm(), &v, &o, t(10)).iter().any(|a| matches!(
            a,
            Action::Kill {
                kind: OutcomeKind::Budget,
                ..
            }
        )));
    }
}
