//! Tasks coming in: a submission (one, or a batch with one fsync), the
//! router's decision and its log, a person's corrections (reroute,
//! confirm), cancel, and what the router learns from outcomes.
//!
//! May depend on: the facade (`super`), store, learning, cortex-core's
//! router and input validation.

use super::*;

mod asked;
mod correct;
use asked::{not_applied, resolve_after};

/// Routing decisions for `routing-decisions.jsonl`, gathered while requests
/// are staged so that an inbox pass (a batch of 200) appends them in one
/// write.
#[derive(Default)]
pub(crate) struct DecisionLog(Vec<u8>);

impl DecisionLog {
    pub(crate) fn push(&mut self, task_id: &TaskId, d: &Decision, now: DateTime<Utc>) {
        let line = serde_json::json!({
            "v": 1, "task_id": task_id, "at": now, "strategy": d.strategy,
            "primary_expert": d.primary_expert, "confidence": d.confidence,
            "parallel_experts": d.parallel_experts, "scores": d.scores,
            "keyword_scores": d.keyword_scores, "learned_scores": d.learned_scores,
            "matched": d.matched, "method": d.method,
            "needs_confirmation": d.needs_confirmation, "explanation": d.explanation,
        });
        let _ = serde_json::to_writer(&mut self.0, &line);
        self.0.push(b'\n');
    }

    /// Appends what was gathered. A failure to log is reported but does not
    /// undo the routing, which is in the journal.
    pub(crate) fn write(self, home: &Home) {
        if self.0.is_empty() {
            return;
        }
        use std::io::Write;
        let written = crate::files::options()
            .create(true)
            .append(true)
            .open(home.routing_log())
            .and_then(|mut f| f.write_all(&self.0));
        if let Err(e) = written {
            warn!("cannot log routing decisions: {e}");
        }
    }
}

impl Engine {
    /// A task works in a folder that is named: an agent started in `/`
    /// could change anything on the machine. With workers on this machine
    /// the folder must exist now, not fail when a worker starts; a cluster's
    /// folder is the cluster's to find.
    pub(crate) fn check_workdir(&self, workdir: Option<&str>) -> Result<(), EngineError> {
        let Some(dir) = workdir else {
            return Err(EngineError::BadValue(
                "a task needs a folder to work in: give its workdir as an absolute path (`cortex submit` uses the current folder)".into(),
            ));
        };
        if self.runs_locally() && !std::path::Path::new(dir).is_dir() {
            return Err(EngineError::BadValue(format!(
                "workdir `{dir}` is not a folder on this machine"
            )));
        }
        Ok(())
    }

    /// Plans and stages one submission (not yet durable).
    pub(crate) fn stage_submit(
        &self,
        store: &mut Store,
        req: &SubmitRequest,
        request: Option<&RequestId>,
        now: DateTime<Utc>,
        decisions: &mut DecisionLog,
    ) -> Result<(SubmitAck, Option<EngineEvent>), EngineError> {
        let valid = validate_submission(req, &self.settings().1.task_types())?;
        self.check_workdir(valid.workdir.as_deref())?;
        if self.disk_full() {
            return Err(EngineError::DiskFull {
                what: "no room for new tasks in",
                path: self.inner.home.root().to_path_buf(),
            });
        }
        // Refused whether a task answers it or a new one is made.
        let after = resolve_after(store.state(), &req.after)?;
        match store.state().plan_submit(&valid, request) {
            SubmitPlan::Existing { task_id, status } => {
                let raised = store.state().priority_raise(&task_id, valid.priority);
                if let Some(from) = raised {
                    store.stage(
                        Event::TaskPriorityChanged {
                            task_id: task_id.clone(),
                            priority: valid.priority,
                        },
                        now,
                    )?;
                    info!(task_id = %task_id, from = %from, to = %valid.priority, "priority raised by a duplicate submission");
                }
                let task = store.state().task(&task_id);
                let isolate_all =
                    self.settings().0.isolation == cortex_core::config::Isolation::Worktree;
                let mut not_applied = task
                    .map(|t| not_applied(t, &valid, &after, isolate_all))
                    .unwrap_or_default();
                // A goal asked of a task that is not one: it stays a task.
                if req.plan && task.is_some_and(|t| !t.goal) {
                    not_applied.push("--plan".to_string());
                }
                let updated = raised
                    .and(task)
                    .map(|t| EngineEvent::TaskUpdated { task: t.into() });
                Ok((
                    SubmitAck {
                        task_id: task_id.clone(),
                        deduplicated: true,
                        status,
                        priority_raised_from: raised,
                        priority: task.map(|t| t.priority),
                        not_applied,
                    },
                    updated,
                ))
            }
            SubmitPlan::New { fingerprint } => {
                let isolate_all =
                    self.settings().0.isolation == cortex_core::config::Isolation::Worktree;
                if valid.worktree || isolate_all {
                    // Refused now rather than failing when a worker starts.
                    let source = valid.workdir.as_deref().unwrap_or("/");
                    crate::worktree::check_source(std::path::Path::new(source), valid.worktree)
                        .map_err(EngineError::BadValue)?;
                }
                let mut task = new_task(
                    clock::task_id(now),
                    valid,
                    fingerprint,
                    request.cloned(),
                    now,
                );
                task.after = after;
                task.goal = req.plan;
                let task_id = task.id.clone();
                let decision = if req.plan {
                    // A goal to split goes to the coordinator.
                    if self.settings().1.get(crate::plans::COORDINATOR).is_none() {
                        return Err(EngineError::BadValue(format!(
                            "--plan needs the `{}` expert, and there is no such expert file",
                            crate::plans::COORDINATOR
                        )));
                    }
                    let mut d = Decision::by_person(crate::plans::COORDINATOR, None);
                    d.explanation = "a goal to split into a plan goes to the coordinator".into();
                    d
                } else {
                    self.decide(&task.description, task.task_type.as_deref())
                };
                // One write: a full disk leaves no task without its routing.
                store.stage_all(
                    vec![
                        Event::TaskSubmitted {
                            task: Box::new(task),
                        },
                        Event::TaskRouted {
                            task_id: task_id.clone(),
                            routing: decision.summary(),
                            experts: decision.parallel_experts.clone(),
                        },
                    ],
                    now,
                )?;
                if decision.needs_confirmation && self.settings().0.routing.confirm_low_confidence {
                    // "A person should confirm" is held to: nothing starts
                    // until one does.
                    store.stage(
                        Event::TaskStatusChanged {
                            task_id: task_id.clone(),
                            status: TaskStatus::AwaitingConfirmation,
                            reason: Some(confirmation_reason(&task_id, &decision)),
                        },
                        now,
                    )?;
                }
                decisions.push(&task_id, &decision, now);
                let task = store
                    .state()
                    .task(&task_id)
                    .ok_or(EngineError::UnknownTask(task_id.to_string()))?;
                let ack = SubmitAck {
                    task_id: task_id.clone(),
                    deduplicated: false,
                    status: task.status,
                    priority_raised_from: None,
                    priority: Some(task.priority),
                    not_applied: Vec::new(),
                };
                let task = TaskDto::from(task);
                info!(task_id = %task.id, priority = %task.priority, request_id = request.map(|r| r.to_string()), "task submitted");
                Ok((ack, Some(EngineEvent::TaskSubmitted { task })))
            }
        }
    }

    /// The router's decision for a text, with the learned layer as it is now.
    pub(crate) fn decide(&self, text: &str, task_type: Option<&str>) -> Decision {
        let router = self.inner.router.read().unwrap_or_else(|e| e.into_inner());
        let learned = self.inner.learned.read().unwrap_or_else(|e| e.into_inner());
        router.route(text, task_type, Some(&learned))
    }

    /// Dry-run routing: changes nothing.
    pub fn route_preview(
        &self,
        text: &str,
        task_type: Option<&str>,
    ) -> Result<Decision, EngineError> {
        let req = SubmitRequest {
            description: text.to_string(),
            task_type: task_type.map(str::to_string),
            ..SubmitRequest::default()
        };
        let valid = validate_submission(&req, &self.settings().1.task_types())?;
        Ok(self.decide(&valid.description, valid.task_type.as_deref()))
    }

    /// Appends one line to routing-decisions.jsonl.
    pub(crate) fn log_decision(&self, task_id: &TaskId, d: &Decision, now: DateTime<Utc>) {
        let mut log = DecisionLog::default();
        log.push(task_id, d, now);
        log.write(&self.inner.home);
    }

    /// Teaches the learned layer one example.
    fn learn(&self, example: &Example) {
        self.inner
            .learned
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .learn(example);
    }

    /// Teaches the learned layer how an expert did on a task.
    pub(crate) fn record_outcome(
        &self,
        task_id: &TaskId,
        text: &str,
        expert: &str,
        success: bool,
        now: DateTime<Utc>,
    ) {
        let example = Example {
            text: cortex_core::redact::redact(text),
            expert: expert.to_string(),
            source: if success {
                Source::Success
            } else {
                Source::Failure
            },
        };
        if let Err(e) = learning::append(&self.inner.home, &example, Some(task_id.as_str()), now) {
            warn!(task_id = %task_id, "cannot record the outcome for the router: {e}");
        }
        self.learn(&example);
    }

    /// Forgets the learned layer (the examples file is moved aside).
    pub fn reset_learning(&self) -> Result<Option<std::path::PathBuf>, EngineError> {
        let moved = learning::reset(&self.inner.home, self.now())?;
        *self
            .inner
            .learned
            .write()
            .unwrap_or_else(|e| e.into_inner()) = LearnedModel::default();
        Ok(moved)
    }

    /// Submits a task; returns once it is durable.
    pub fn submit(&self, req: &SubmitRequest) -> Result<SubmitAck, EngineError> {
        let now = self.now();
        let (ack, event) = {
            let mut store = self.store();
            let mut decisions = DecisionLog::default();
            let out = self.stage_submit(&mut store, req, None, now, &mut decisions)?;
            store.sync()?;
            decisions.write(&self.inner.home);
            out
        };
        if let Some(event) = event {
            self.emit(event);
        }
        Ok(ack)
    }

    /// Submits many tasks with one fsync; one answer per item, in order (a
    /// refused item does not stop the others).
    pub fn submit_batch(&self, items: &[BatchItem]) -> Result<Vec<BatchAnswer>, EngineError> {
        let now = self.now();
        let (answers, created) = {
            let mut store = self.store();
            let mut decisions = DecisionLog::default();
            let out = self.stage_batch(&mut store, items, now, &mut decisions);
            store.sync()?;
            decisions.write(&self.inner.home);
            out
        };
        for event in created {
            self.emit(event);
        }
        Ok(answers)
    }

    pub(crate) fn stage_batch(
        &self,
        store: &mut Store,
        items: &[BatchItem],
        now: DateTime<Utc>,
        decisions: &mut DecisionLog,
    ) -> (Vec<BatchAnswer>, Vec<EngineEvent>) {
        let mut created = Vec::new();
        let answers: Vec<BatchAnswer> = items
            .iter()
            .map(|item| {
                BatchAnswer::of(
                    self.stage_submit(store, &item.submit, Some(&item.request_id), now, decisions)
                        .map(|(ack, task)| {
                            created.extend(task);
                            serde_json::to_value(ack).unwrap_or_default()
                        }),
                )
            })
            .collect();
        if !created.is_empty() {
            info!(count = created.len(), "tasks submitted in a batch");
        }
        (answers, created)
    }

    pub(crate) fn stage_cancel(
        &self,
        store: &mut Store,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<(TaskDto, Vec<TaskId>), EngineError> {
        let task = task_record(store, id)?;
        let task_id = task.id.clone();
        if task.status.is_terminal() {
            return Err(EngineError::AlreadyFinished {
                id: task_id.to_string(),
                status: task.status.to_string(),
            });
        }
        store.stage(
            Event::TaskStatusChanged {
                task_id: task_id.clone(),
                status: TaskStatus::Cancelled,
                reason: Some("cancelled by a person".into()),
            },
            now,
        )?;
        // A goal's plan is its work: its tasks not ended go with it, rather
        // than run on (and cost) for a goal nobody wants any more.
        let parts = plan_parts_left(store, &task_id);
        for part in &parts {
            store.stage(
                Event::TaskStatusChanged {
                    task_id: part.clone(),
                    status: TaskStatus::Cancelled,
                    reason: Some(format!("its goal {task_id} was cancelled by a person")),
                },
                now,
            )?;
        }
        let task = store.state().task(&task_id).map(TaskDto::from);
        task.map(|t| (t, parts))
            .ok_or(EngineError::UnknownTask(id.to_string()))
    }

    /// Cancels a live task (a goal with the tasks of its plan not ended).
    pub fn cancel(&self, id: &str) -> Result<TaskDto, EngineError> {
        let (task, parts) = {
            let mut store = self.store();
            let cancelled = self.stage_cancel(&mut store, id, self.now())?;
            store.sync()?;
            cancelled
        };
        self.stop_task_workers(&task.id);
        for part in &parts {
            self.stop_task_workers(part);
            if let Some(t) = self.store().state().task(part).map(TaskDto::from) {
                self.emit(EngineEvent::TaskUpdated { task: t });
            }
        }
        info!(task_id = %task.id, "task cancelled");
        self.emit(EngineEvent::TaskUpdated { task: task.clone() });
        Ok(task)
    }
}

/// What a task held for a person's confirmation says.
fn confirmation_reason(task_id: &TaskId, d: &Decision) -> String {
    format!(
        "low-confidence routing to {}: {}; confirm with `cortex confirm {task_id} [EXPERT]` or `cortex reroute {task_id} EXPERT`",
        d.primary_expert, d.explanation
    )
}

/// The tasks of a goal's plan that have not ended (none for a task that
/// is no goal).
fn plan_parts_left(store: &Store, goal: &TaskId) -> Vec<TaskId> {
    let state = store.state();
    state
        .plan_of_goal(goal)
        .map(|p| {
            p.tasks
                .iter()
                .filter(|e| {
                    state
                        .task(&e.task_id)
                        .is_some_and(|t| !t.status.is_terminal())
                })
                .map(|e| e.task_id.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The stored task with this id (with or without its `t-` prefix).
fn task_record(store: &Store, id: &str) -> Result<Task, EngineError> {
    TaskId::parse(id)
        .and_then(|tid| store.state().task(&tid).cloned())
        .ok_or_else(|| EngineError::UnknownTask(id.to_string()))
}
