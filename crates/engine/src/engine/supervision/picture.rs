//! The PM's picture as the engine keeps it: its lock, its activity log, its metrics and
//! verdicts for the views.
//!
//! May depend on: the PM's types (`crate::pm`).

use crate::engine::{Engine, EngineEvent};
use crate::error::EngineError;
use crate::pm::{ActivityLine, PmMetrics, PmState, PmVerdict};
use cortex_core::alerts::Alert;
use cortex_core::id::WorkerId;
use cortex_core::state::Event;
use cortex_core::worker::WorkerStatus;
use tracing::{info, warn};

impl Engine {
    pub(crate) fn pm(&self) -> std::sync::MutexGuard<'_, PmState> {
        self.inner.pm.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a line to the activity log and tells subscribers, so a live
    /// Activity view follows every line (a PM nudge changes no worker).
    pub(crate) fn pm_log(&self, line: &ActivityLine<'_>) {
        if let Ok(mut v) = serde_json::to_value(line) {
            // Its message may quote a command or an agent's words.
            v["message"] = cortex_core::redact::redact(line.message).into();
            if let Err(e) = crate::snapshot::append_line(&self.inner.home.pm_activity(), &v) {
                warn!("cannot write pm-activity.jsonl: {e}");
            }
            self.emit(EngineEvent::ActivityLogged { line: v });
        }
    }

    /// Sends an alert through the coalescer to subscribers.
    pub(crate) fn raise_alert(&self, mut alert: Alert) {
        // Its words may quote a check's command, an agent's error or a
        // reason: hidden here, once, for every place an alert goes (the
        // banner, notifications, `cortex run`, the activity log).
        alert.message = cortex_core::redact::redact(&alert.message);
        let now = alert.at;
        let out = self.pm().coalescer.push(alert, now);
        self.send_alerts(out);
    }

    /// Sends alerts, keeping the latest for a window opened later.
    pub(crate) fn send_alerts(&self, alerts: Vec<Alert>) {
        if alerts.is_empty() {
            return;
        }
        {
            let mut pm = self.pm();
            for a in &alerts {
                pm.recent_alerts.push_back(a.clone());
            }
            while pm.recent_alerts.len() > crate::pm::RECENT_ALERTS {
                pm.recent_alerts.pop_front();
            }
        }
        for a in alerts {
            self.emit(EngineEvent::Alert { alert: a });
        }
    }

    /// The latest alerts sent, oldest first (at most 100): what a window
    /// opened after them shows, each as long as it still holds.
    pub fn recent_alerts(&self) -> Vec<Alert> {
        self.pm().recent_alerts.iter().cloned().collect()
    }

    /// Records how a worker ended, for the success rate.
    pub(crate) fn pm_worker_ended(&self, id: &WorkerId, status: WorkerStatus) {
        let mut pm = self.pm();
        match status {
            WorkerStatus::Completed => pm.metrics.workers_completed += 1,
            WorkerStatus::Failed => pm.metrics.workers_failed += 1,
            _ => {}
        }
        let done = pm.metrics.workers_completed + pm.metrics.workers_failed;
        pm.metrics.success_rate =
            (done > 0).then(|| pm.metrics.workers_completed as f64 / done as f64);
        pm.workers.remove(id);
        pm.dirty = true;
    }

    /// The PM's verdict on a worker's attempt, if it watches it.
    pub(crate) fn pm_health(&self, id: &WorkerId, attempt: u32) -> Option<PmVerdict> {
        self.pm()
            .workers
            .get(id)
            .filter(|w| w.attempt == attempt)
            .map(PmVerdict::of)
    }

    /// Sends every alert the coalescer holds, due or not: the engine is
    /// stopping, and a held alert would otherwise never be seen.
    pub(crate) fn release_alerts(&self) {
        let released = self.pm().coalescer.release(self.now());
        self.send_alerts(released);
    }

    /// Records a person's intervention in pm-activity.jsonl and the metrics.
    pub(crate) fn record_intervention(&self, worker_id: &WorkerId, kind: &str, message: &str) {
        *self
            .pm()
            .metrics
            .interventions
            .entry(format!("{kind}_by_person"))
            .or_default() += 1;
        self.pm_log(&ActivityLine {
            v: 1,
            at: self.now(),
            event: kind,
            worker_id: Some(worker_id),
            task_id: None,
            attempt: None,
            from: None,
            to: None,
            message,
        });
    }

    /// A person extends a worker's time limit.
    pub fn extend_worker(
        &self,
        id: &str,
        minutes: u64,
    ) -> Result<crate::runtime::WorkerDto, EngineError> {
        if minutes == 0 || minutes > 24 * 60 {
            return Err(EngineError::BadValue(format!(
                "{minutes} minutes is out of range, expected 1 to 1440 (24 hours)"
            )));
        }
        let w = self.worker_record(id)?;
        if w.status.is_terminal() {
            return Err(crate::runtime::ended(&w, "extend"));
        }
        if let Some(a) = w.live_attempt() {
            // A cluster's own deadline for the attempt moves with it.
            if let Some(pid) = a.pid {
                self.launcher().extend_deadline(pid, minutes * 60);
            }
        }
        let wid = w.id;
        let now = self.now();
        self.store().commit(
            Event::WorkerExtended {
                worker_id: wid.clone(),
                secs: minutes * 60,
            },
            now,
        )?;
        let message = format!("a person extended the time limit by {minutes} min");
        self.pm_log(&ActivityLine {
            v: 1,
            at: now,
            event: "extend",
            worker_id: Some(&wid),
            task_id: None,
            attempt: None,
            from: None,
            to: None,
            message: &message,
        });
        info!(worker_id = %wid, minutes, "time limit extended by a person");
        *self
            .pm()
            .metrics
            .interventions
            .entry("extend_by_person".into())
            .or_default() += 1;
        self.emit_worker(&wid);
        self.worker(id)
            .ok_or_else(|| EngineError::UnknownWorker(id.to_string()))
    }

    /// PM metrics, for status views.
    pub fn pm_metrics(&self) -> PmMetrics {
        self.pm().metrics.clone()
    }
}
