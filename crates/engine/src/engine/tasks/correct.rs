//! A person's corrections of routing: `reroute` (recorded, and moving a
//! task that has not started) and `confirm` of a held task (not one that
//! waits with its plan: a plan is confirmed as a whole).
//!
//! May depend on: the facade (`super`), learning.

use super::*;

impl Engine {
    /// A person says `expert` should have the task: recorded as a correction
    /// for the learned layer, and applied if no worker has started yet.
    pub(crate) fn stage_reroute(
        &self,
        store: &mut Store,
        id: &str,
        expert: &str,
        now: DateTime<Utc>,
    ) -> Result<RerouteAck, EngineError> {
        let task = task_record(store, id)?;
        let task_id = task.id.clone();
        if self.settings().1.get(expert).is_none() {
            return Err(EngineError::UnknownExpert {
                given: expert.to_string(),
                known: self.settings().1.names(),
            });
        }
        let goes_there = task.routing.as_ref().is_some_and(|r| {
            r.method == cortex_core::router::Method::Person && r.primary_expert == expert
        }) && task.assignments.iter().all(|a| a.expert == expert);
        // The same as the person's last word on it: nothing new. Back to an
        // expert after a later correction elsewhere is new, and is kept.
        let last = learning::last_correction(&self.inner.home, task_id.as_str());
        let same = match last.as_deref() {
            Some(e) => e == expert,
            None => goes_there,
        };
        if same {
            // The same correction again: it moves nothing, and the learned
            // layer is not taught it twice.
            let message = if goes_there {
                format!("{task_id} already goes to {expert} by a person's choice: nothing changed")
            } else {
                format!("{task_id} was corrected to {expert} already: nothing changed")
            };
            return Ok(RerouteAck {
                message,
                applied: false,
                task: TaskDto::from(&task),
            });
        }
        let example = Example {
            // As the router reads it: with its secrets hidden.
            text: cortex_core::redact::redact(&task.description),
            expert: expert.to_string(),
            source: Source::Correction,
        };
        learning::append(&self.inner.home, &example, Some(task_id.as_str()), now)?;
        self.learn(&example);
        let previous = task.routing.as_ref().map(|r| r.primary_expert.as_str());
        let decision = Decision::by_person(expert, previous);
        let started = task.assignments.iter().any(|a| a.worker_id.is_some());
        let applied = !task.status.is_terminal() && !started;
        if applied {
            store.stage(
                Event::TaskRouted {
                    task_id: task_id.clone(),
                    routing: decision.summary(),
                    experts: vec![expert.to_string()],
                },
                now,
            )?;
            // A person chose: that is the confirmation a held task waits for
            // (not a plan's: the plan is confirmed or edited as a whole).
            if held_by_plan(store, &task).is_none() {
                release_confirmation(store, &task, now)?;
            }
        }
        self.log_decision(&task_id, &decision, now);
        info!(task_id = %task_id, expert, applied, "routing corrected by a person");
        let held = held_by_plan(store, &task);
        let message = if let (true, Some(plan)) = (applied, &held) {
            format!(
                "{task_id} will go to {expert} once its plan {plan} is confirmed (`cortex plan confirm {plan}`); the correction was recorded"
            )
        } else if applied {
            format!("{task_id} now goes to {expert}; the correction was recorded")
        } else if task.status.is_terminal() {
            format!(
                "{task_id} already ended ({}): it was not moved; the correction was recorded for the learned layer",
                task.status
            )
        } else {
            let experts: Vec<&str> = task.assignments.iter().map(|a| a.expert.as_str()).collect();
            format!(
                "{task_id} already started with {}: it was not moved; the correction was recorded for the learned layer (cancel it and submit it again to give it to {expert})",
                experts.join(", ")
            )
        };
        let task = store
            .state()
            .task(&task_id)
            .map(TaskDto::from)
            .ok_or(EngineError::UnknownTask(id.to_string()))?;
        Ok(RerouteAck {
            task,
            applied,
            message,
        })
    }

    /// A person confirms a held routing (`cortex confirm TASK [EXPERT]`):
    /// the task is let go to its experts, or with EXPERT, to that expert
    /// (recorded as a correction when it differs from the router's choice).
    pub(crate) fn stage_confirm(
        &self,
        store: &mut Store,
        id: &str,
        expert: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<RerouteAck, EngineError> {
        let task = task_record(store, id)?;
        if task.status != TaskStatus::AwaitingConfirmation {
            return Err(EngineError::BadValue(format!(
                "task {} is {}, not awaiting confirmation: nothing to confirm{}",
                task.id,
                task.status,
                if task.status.is_terminal() {
                    ""
                } else {
                    " (`cortex reroute` corrects the expert of a task that has not started)"
                }
            )));
        }
        if let Some(plan) = held_by_plan(store, &task) {
            return Err(EngineError::Refused(format!(
                "task {} waits with its plan {plan}, which a person confirms as a whole: `cortex plan show {plan}`, then `cortex plan confirm {plan}` (or `cortex plan edit {plan}`)",
                task.id
            )));
        }
        let chosen = task.routing.as_ref().map(|r| r.primary_expert.as_str());
        if let Some(e) = expert.filter(|e| Some(*e) != chosen) {
            return self.stage_reroute(store, id, e, now);
        }
        release_confirmation(store, &task, now)?;
        info!(task_id = %task.id, "routing confirmed by a person");
        let experts: Vec<&str> = task.assignments.iter().map(|a| a.expert.as_str()).collect();
        let dto = store
            .state()
            .task(&task.id)
            .map(TaskDto::from)
            .ok_or(EngineError::UnknownTask(id.to_string()))?;
        Ok(RerouteAck {
            message: format!("{} confirmed: it goes to {}", task.id, experts.join(", ")),
            task: dto,
            applied: true,
        })
    }

    /// `cortex confirm TASK [EXPERT]`.
    pub fn confirm(&self, id: &str, expert: Option<&str>) -> Result<RerouteAck, EngineError> {
        let ack = {
            let mut store = self.store();
            let a = self.stage_confirm(&mut store, id, expert, self.now())?;
            store.sync()?;
            a
        };
        self.emit(EngineEvent::TaskUpdated {
            task: ack.task.clone(),
        });
        Ok(ack)
    }

    /// `cortex reroute TASK EXPERT`.
    pub fn reroute(&self, id: &str, expert: &str) -> Result<RerouteAck, EngineError> {
        let ack = {
            let mut store = self.store();
            let a = self.stage_reroute(&mut store, id, expert, self.now())?;
            store.sync()?;
            a
        };
        self.emit(EngineEvent::TaskUpdated {
            task: ack.task.clone(),
        });
        Ok(ack)
    }
}

/// The plan a task waits with, when that plan awaits a person's
/// confirmation: the task starts when the plan is confirmed, not alone.
fn held_by_plan(store: &Store, task: &Task) -> Option<cortex_core::id::PlanId> {
    task.plan_id
        .clone()
        .filter(|p| store.state().plan_awaits_confirmation(p))
}

fn release_confirmation(
    store: &mut Store,
    task: &Task,
    now: DateTime<Utc>,
) -> Result<(), EngineError> {
    if task.status == TaskStatus::AwaitingConfirmation {
        store.stage(
            Event::TaskStatusChanged {
                task_id: task.id.clone(),
                status: TaskStatus::Routed,
                reason: None,
            },
            now,
        )?;
    }
    Ok(())
}
