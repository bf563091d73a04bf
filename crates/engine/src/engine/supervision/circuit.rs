//! The circuit breaker as the engine runs it: counting failures per expert, pausing and
//! resuming it, and saying so.
//!
//! May depend on: the PM's types (`crate::pm::circuit`), the store.

use crate::engine::Engine;
use crate::error::EngineError;
use crate::pm::circuit::paused_list;
use crate::pm::{ActivityLine, CircuitAck, PausedExpert};
use chrono::{DateTime, Utc};
use cortex_core::alerts::Alert;
use cortex_core::duration;
use cortex_core::health::{AlertKind, Severity};
use cortex_core::restart::circuit_open;
use std::collections::BTreeMap;
use tracing::{info, warn};

impl Engine {
    /// A pm-activity.jsonl line about no worker (an expert's circuit
    /// breaker, the settings read again).
    pub(crate) fn pm_log_general(&self, at: DateTime<Utc>, event: &str, message: &str) {
        self.pm_log(&ActivityLine {
            v: 1,
            at,
            event,
            worker_id: None,
            task_id: None,
            attempt: None,
            from: None,
            to: None,
            message,
        });
    }

    /// A pm-activity.jsonl line about worker `w` and its latest attempt
    /// (a merge of its work, a held restart, a usage limit's wait).
    pub(crate) fn pm_log_about(
        &self,
        at: DateTime<Utc>,
        event: &str,
        w: &cortex_core::worker::Worker,
        message: &str,
    ) {
        self.pm_log(&ActivityLine {
            v: 1,
            at,
            event,
            worker_id: Some(&w.id),
            task_id: Some(&w.task_id),
            attempt: w.current().map(|a| a.n),
            from: None,
            to: None,
            message,
        });
    }

    /// Counts a failed attempt against its expert's circuit breaker; opens
    /// it (pausing the expert and alerting) when the limit is reached.
    pub(crate) fn note_failure(&self, expert: &str, now: DateTime<Utc>) {
        let cfg = self.config().restart;
        let opened = {
            let mut pm = self.pm();
            let list = pm.expert_failures.entry(expert.to_string()).or_default();
            list.push(now);
            let window = duration::secs(cfg.circuit_window_secs);
            let since = duration::earlier(now, window);
            list.retain(|t| *t > since);
            let open = circuit_open(list, cfg.circuit_failures, cfg.circuit_window_secs, now);
            let newly = open && !pm.paused_experts.contains_key(expert);
            if newly {
                pm.paused_experts
                    .insert(expert.to_string(), duration::later(now, window));
                pm.dirty = true;
                *pm.metrics
                    .interventions
                    .entry("circuit_breaker".into())
                    .or_default() += 1;
            }
            newly
        };
        if opened {
            let message = format!(
                "{} failures of {expert} within {}s: {expert} is paused until the window passes, its new tasks and automatic restarts wait (`cortex resume {expert}` closes the circuit breaker now)",
                cfg.circuit_failures, cfg.circuit_window_secs
            );
            warn!(expert, "{message}");
            self.pm_log_general(now, "circuit_breaker_opened", &message);
            self.raise_alert(Alert::about_expert(
                now,
                AlertKind::CircuitBreaker,
                Severity::Critical,
                message,
            ));
            // Views in other processes read it from pm-state.json: now,
            // not at the next tick.
            self.write_pm_state_now(now);
        }
    }

    /// Experts whose circuit breaker is open now.
    pub(crate) fn open_circuits(&self, now: DateTime<Utc>) -> Vec<String> {
        self.paused_until(now).into_keys().collect()
    }

    /// Experts whose circuit breaker is open now, with when it closes.
    pub(crate) fn paused_until(&self, now: DateTime<Utc>) -> BTreeMap<String, DateTime<Utc>> {
        let (left, closed) = {
            let mut pm = self.pm();
            let mut closed = Vec::new();
            pm.paused_experts.retain(|expert, until| {
                let open = *until > now;
                if !open {
                    closed.push(expert.clone());
                }
                open
            });
            if !closed.is_empty() {
                pm.dirty = true;
            }
            (pm.paused_experts.clone(), closed)
        };
        // A breaker that closes at its time changes no task or worker by
        // itself: the line tells views (which read the status again) and
        // the activity log, or the expert would still read paused.
        for expert in closed {
            let message = format!("the circuit breaker of {expert} closed: its pause is over");
            info!(expert, "{message}");
            self.pm_log_general(now, "circuit_breaker_closed", &message);
        }
        left
    }

    /// Experts paused by their circuit breaker, for status views.
    pub fn paused_experts_now(&self) -> Vec<PausedExpert> {
        paused_list(self.paused_until(self.now()))
    }

    /// A person closes an expert's circuit breaker (`cortex resume EXPERT`):
    /// its failures so far are forgotten and its tasks may start again.
    pub fn close_circuit(&self, expert: &str) -> Result<CircuitAck, EngineError> {
        if self.settings().1.get(expert).is_none() {
            return Err(EngineError::UnknownExpert {
                given: expert.to_string(),
                known: self.settings().1.names(),
            });
        }
        let now = self.now();
        let was_open = {
            let mut pm = self.pm();
            pm.expert_failures.remove(expert);
            let was = pm
                .paused_experts
                .remove(expert)
                .is_some_and(|until| until > now);
            pm.dirty = true;
            was
        };
        if was_open {
            let message = format!("a person closed the circuit breaker of {expert}");
            info!(expert, "{message}");
            self.pm_log_general(now, "circuit_breaker_closed", &message);
            *self
                .pm()
                .metrics
                .interventions
                .entry("circuit_breaker_closed_by_person".into())
                .or_default() += 1;
        }
        self.write_pm_state_now(now);
        // Restarts held by the breaker are looked at again at the next pass.
        self.runtime().next_restart = None;
        self.release_circuit_waits(now)?;
        self.store().sync()?;
        self.write_pm_state(now);
        Ok(CircuitAck {
            expert: expert.to_string(),
            was_open,
        })
    }
}
