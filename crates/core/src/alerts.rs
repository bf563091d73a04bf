//! Alert coalescing: one alert per worker per transition (the policy only
//! alerts on transitions), and a single summary when many fire at once.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::health::{AlertKind, Severity};
use crate::id::{TaskId, WorkerId};

/// An alert for a person: what happened, how severe it is, and whom it is
/// about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// When the alert was raised.
    pub at: DateTime<Utc>,
    /// How urgent the alert is.
    pub severity: Severity,
    /// What kind of event the alert reports.
    pub kind: AlertKind,
    /// The worker the alert is about, if it is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<WorkerId>,
    /// The task of that worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<TaskId>,
    /// The worker's attempt the alert is about, when one is meant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// The alert's text for a person.
    pub message: String,
    /// For a summary: how many alerts it stands for, and their kinds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub summarized: Vec<Alert>,
}

impl Alert {
    /// An alert about one worker (its attempt, when one is meant). Every
    /// alert is built here or by `about_expert`.
    pub fn about_worker(
        at: DateTime<Utc>,
        kind: AlertKind,
        severity: Severity,
        (worker_id, task_id, attempt): (WorkerId, TaskId, Option<u32>),
        message: String,
    ) -> Self {
        Self {
            worker_id: Some(worker_id),
            task_id: Some(task_id),
            attempt,
            ..Self::about_expert(at, kind, severity, message)
        }
    }

    /// An alert about an expert as a whole (its circuit breaker).
    pub fn about_expert(
        at: DateTime<Utc>,
        kind: AlertKind,
        severity: Severity,
        message: String,
    ) -> Self {
        Self {
            at,
            severity,
            kind,
            worker_id: None,
            task_id: None,
            attempt: None,
            message,
            summarized: vec![],
        }
    }
}

/// Holds alerts that arrive within `window` of the first one; the first is
/// sent at once, the rest leave as one summary (or alone, if only one).
#[derive(Debug, Clone)]
pub struct Coalescer {
    window: Duration,
    open_until: Option<DateTime<Utc>>,
    held: Vec<Alert>,
}

impl Coalescer {
    /// A coalescer that folds the alerts arriving within `window_millis` of the
    /// first into one summary.
    pub fn new(window_millis: u64) -> Self {
        Self {
            window: crate::duration::millis(window_millis),
            open_until: None,
            held: Vec::new(),
        }
    }

    /// Takes an alert; returns what to send now.
    pub fn push(&mut self, alert: Alert, now: DateTime<Utc>) -> Vec<Alert> {
        let mut out = self.flush(now);
        match self.open_until {
            Some(_) => {
                // The same worker and kind twice in a window is one alert;
                // alerts about experts (no worker) are told apart by what
                // they say (two experts' breakers are two alerts).
                let dup = self.held.iter().any(|h| {
                    h.worker_id == alert.worker_id
                        && h.kind == alert.kind
                        && h.attempt == alert.attempt
                        && (alert.worker_id.is_some() || h.message == alert.message)
                });
                if !dup {
                    self.held.push(alert);
                }
            }
            None => {
                self.open_until = Some(crate::duration::later(now, self.window));
                out.push(alert);
            }
        }
        out
    }

    /// Releases everything held, due or not (the engine is stopping).
    pub fn release(&mut self, now: DateTime<Utc>) -> Vec<Alert> {
        if self.open_until.is_some() {
            self.open_until = Some(now);
        }
        self.flush(now)
    }

    /// Releases what is due at `now`.
    pub fn flush(&mut self, now: DateTime<Utc>) -> Vec<Alert> {
        match self.open_until {
            Some(until) if now >= until => {
                self.open_until = None;
                let held = std::mem::take(&mut self.held);
                match held.len() {
                    0 => Vec::new(),
                    1 => held,
                    _ => {
                        // The summary is as severe as its worst member, and
                        // of that member's kind, so the two always agree.
                        let worst = held
                            .iter()
                            .rev()
                            .max_by_key(|a| a.severity as u8)
                            .map_or((Severity::Warning, held[0].kind), |a| (a.severity, a.kind));
                        let (severity, kind) = worst;
                        vec![Alert {
                            at: now,
                            severity,
                            kind,
                            worker_id: None,
                            task_id: None,
                            attempt: None,
                            message: summary_message(&held),
                            summarized: held,
                        }]
                    }
                }
            }
            _ => Vec::new(),
        }
    }
}

/// What a set of alerts comes to, counted one way for every summary (the
/// engine's message and the desktop's notification title): only a warning
/// or worse needs attention, a worker counts once however many alerts it
/// raised, an alert with no worker is about an expert (its breaker), and
/// what is only for the record is counted apart, by kind, in workers.
#[derive(Debug, Default, PartialEq)]
pub struct Tally {
    /// Workers with a warning or worse, and those alerts' kinds.
    pub workers: usize,
    /// The kinds of those alerts, in words, sorted.
    pub worker_kinds: Vec<&'static str>,
    /// Alerts about experts, and their kinds.
    pub experts: usize,
    /// The kinds of those alerts, in words, sorted.
    pub expert_kinds: Vec<&'static str>,
    /// For the record: each kind in words, with how many workers.
    pub info: Vec<(&'static str, usize)>,
}

/// Counts `alerts` as `Tally` says.
pub fn tally<'a>(alerts: impl IntoIterator<Item = &'a Alert>) -> Tally {
    fn labels(alerts: &[&Alert]) -> Vec<&'static str> {
        let mut kinds: Vec<&'static str> = alerts.iter().map(|a| a.kind.label()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds
    }
    fn workers(alerts: &[&Alert]) -> usize {
        let mut who: Vec<&WorkerId> = alerts.iter().filter_map(|a| a.worker_id.as_ref()).collect();
        who.sort_unstable();
        who.dedup();
        who.len()
    }
    let all: Vec<&Alert> = alerts.into_iter().collect();
    let (experts, about_workers): (Vec<&Alert>, Vec<&Alert>) =
        all.into_iter().partition(|a| a.worker_id.is_none());
    let (urgent, record): (Vec<&Alert>, Vec<&Alert>) = about_workers
        .into_iter()
        .partition(|a| a.severity != Severity::Info);
    let info = labels(&record)
        .into_iter()
        .map(|kind| {
            let of_kind: Vec<&Alert> = record
                .iter()
                .copied()
                .filter(|a| a.kind.label() == kind)
                .collect();
            (kind, workers(&of_kind))
        })
        .collect();
    Tally {
        workers: workers(&urgent),
        worker_kinds: labels(&urgent),
        experts: experts.len(),
        expert_kinds: labels(&experts),
        info,
    }
}

/// What a summary says, true of every member (`tally`). "More" because the
/// window's first alert went out alone.
fn summary_message(held: &[Alert]) -> String {
    let t = tally(held);
    let mut parts = Vec::new();
    match t.workers {
        0 => {}
        1 => parts.push(format!(
            "1 more worker needs attention ({})",
            t.worker_kinds.join(", ")
        )),
        n => parts.push(format!(
            "{n} more workers need attention ({})",
            t.worker_kinds.join(", ")
        )),
    }
    match t.experts {
        0 => {}
        1 => parts.push(format!("1 expert paused ({})", t.expert_kinds.join(", "))),
        n => parts.push(format!(
            "{n} experts paused ({})",
            t.expert_kinds.join(", ")
        )),
    }
    for (kind, n) in t.info {
        parts.push(format!("{n} {kind}"));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000 + ms).unwrap()
    }

    fn alert(w: u8, kind: AlertKind) -> Alert {
        Alert {
            at: t(0),
            severity: Severity::Warning,
            kind,
            worker_id: Some(WorkerId::new(1, [w; 10])),
            task_id: None,
            attempt: Some(1),
            message: "m".into(),
            summarized: vec![],
        }
    }

    #[test]
    fn release_sends_what_is_held_before_its_window_ends() {
        let mut c = Coalescer::new(60_000);
        assert_eq!(c.push(alert(1, AlertKind::Stalled), t(0)).len(), 1);
        assert!(c.push(alert(2, AlertKind::Failed), t(1)).is_empty());
        let out = c.release(t(2));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, AlertKind::Failed);
        assert!(c.release(t(3)).is_empty(), "nothing twice");
    }

    #[test]
    fn a_window_beyond_the_calendar_does_not_panic() {
        for window in [u64::MAX / 2, u64::MAX] {
            let mut c = Coalescer::new(window);
            assert_eq!(c.push(alert(1, AlertKind::Stalled), t(0)).len(), 1);
            assert!(c.push(alert(2, AlertKind::Stalled), t(1)).is_empty());
            assert!(c.flush(t(10_000)).is_empty(), "held until the window ends");
        }
    }

    #[test]
    fn first_alert_goes_at_once_and_a_burst_becomes_one_summary() {
        let mut c = Coalescer::new(1000);
        assert_eq!(c.push(alert(1, AlertKind::Stalled), t(0)).len(), 1);
        for w in 2..=6 {
            assert!(c
                .push(alert(w, AlertKind::Stalled), t(100 * i64::from(w)))
                .is_empty());
        }
        assert!(
            c.push(alert(6, AlertKind::Stalled), t(700)).is_empty(),
            "duplicate folded"
        );
        assert!(c.flush(t(999)).is_empty());
        let out = c.flush(t(1000));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].summarized.len(), 5);
        assert!(
            out[0].message.starts_with("5 more workers"),
            "{}",
            out[0].message
        );
        // Quiet again: the next alert goes at once.
        assert_eq!(c.push(alert(9, AlertKind::Zombie), t(5000)).len(), 1);
    }

    #[test]
    fn a_summary_names_its_kinds_in_words() {
        let mut c = Coalescer::new(1000);
        c.push(alert(1, AlertKind::Stalled), t(0));
        c.push(alert(2, AlertKind::TimeoutWarning), t(10));
        let mut breaker = alert(3, AlertKind::CircuitBreaker);
        breaker.worker_id = None;
        c.push(breaker, t(20));
        c.push(alert(4, AlertKind::TimedOut), t(30));
        let out = c.flush(t(1000));
        assert_eq!(
            out[0].message,
            "2 more workers need attention (time limit near, timed out); 1 expert paused (circuit breaker)"
        );
    }

    #[test]
    fn a_summary_counts_as_needing_attention_only_what_does_once_per_worker() {
        let mut c = Coalescer::new(1000);
        c.push(alert(1, AlertKind::Stalled), t(0));
        let done = |w| {
            let mut a = alert(w, AlertKind::Completed);
            a.severity = Severity::Info;
            a
        };
        c.push(done(2), t(10));
        c.push(alert(3, AlertKind::Stalled), t(20));
        c.push(done(4), t(30));
        let mut hung = alert(3, AlertKind::Zombie);
        hung.severity = Severity::Critical;
        c.push(hung, t(40));
        let out = c.flush(t(1000));
        assert_eq!(out[0].summarized.len(), 4);
        assert_eq!(
            out[0].message,
            "1 more worker needs attention (stalled, zombie); 2 completed"
        );
        let paused = |expert: &str| {
            let mut a = alert(9, AlertKind::CircuitBreaker);
            a.worker_id = None;
            a.message = format!("5 failures of {expert}");
            a
        };
        c.push(alert(8, AlertKind::Stalled), t(1500));
        c.push(paused("development"), t(1510));
        c.push(paused("security"), t(1520));
        c.push(paused("security"), t(1530));
        assert_eq!(
            c.flush(t(2500))[0].message,
            "2 experts paused (circuit breaker)",
            "two experts' breakers are two alerts, the same one twice is one"
        );
        c.push(done(5), t(3000));
        c.push(done(6), t(3010));
        c.push(done(7), t(3020));
        assert_eq!(c.flush(t(4000))[0].message, "2 completed");
    }

    #[test]
    fn a_summary_takes_the_severity_and_kind_of_its_worst_member() {
        let mut c = Coalescer::new(1000);
        c.push(alert(1, AlertKind::Zombie), t(0));
        let mut half = alert(2, AlertKind::TimeoutWarning);
        half.severity = Severity::Info;
        c.push(half, t(10));
        c.push(alert(3, AlertKind::Stalled), t(20));
        let out = c.flush(t(1000));
        assert_eq!(
            (out[0].severity, out[0].kind),
            (Severity::Warning, AlertKind::Stalled),
            "a 50% time warning does not name the summary"
        );
        assert_eq!(out[0].summarized[0].severity, Severity::Info);
    }

    #[test]
    fn a_single_held_alert_is_sent_as_itself() {
        let mut c = Coalescer::new(1000);
        c.push(alert(1, AlertKind::Stalled), t(0));
        c.push(alert(2, AlertKind::Zombie), t(10));
        let out = c.flush(t(1000));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, AlertKind::Zombie);
        assert!(out[0].summarized.is_empty());
    }
}
