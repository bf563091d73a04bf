//! Plans as the engine runs them: validating and submitting a plan as tasks with their
//! dependencies, editing it, confirming it, merging its branches.
//!
//! May depend on: the plan types and pure checks (`crate::plans`), the store, review.

use crate::clock;
use crate::engine::{Engine, EngineEvent, TaskDto};
use crate::error::EngineError;
use crate::plans::{
    ack_of, plan_view, PlanAck, PlanMergeDto, PlanMergeStop, PlanMergedTask, PlanOrigin, PlanView,
};
use crate::store::Store;
use chrono::{DateTime, Utc};
use cortex_core::id::{PlanId, TaskId};
use cortex_core::plan::{validate_plan, Plan, PlanEntry, PlanSpec, PlannedTask};
use cortex_core::router::Decision;
use cortex_core::state::{new_task, Event};
use cortex_core::task::TaskStatus;
use tracing::info;

impl Engine {
    /// Validates, routes and journals a plan as one record. `goal_task`
    /// names the goal whose coordinator wrote it; `held` keeps it waiting
    /// for a person's confirmation.
    pub(crate) fn stage_plan(
        &self,
        store: &mut Store,
        spec: &PlanSpec,
        origin: &PlanOrigin<'_>,
        now: DateTime<Utc>,
    ) -> Result<PlanAck, EngineError> {
        let PlanOrigin {
            workdir,
            worktree,
            goal_task,
            held,
            request,
            verify,
        } = origin;
        let (workdir, worktree, held, request) = (*workdir, *worktree, *held, *request);
        let goal_task = goal_task.clone();
        if let Some(p) = request.and_then(|r| store.state().plan_for_request(r)) {
            // A request replayed after a crash: its plan exists already.
            return Ok(ack_of(store.state(), p));
        }
        let valid = self.validate(spec, workdir, worktree)?;
        let plan_id = clock::plan_id(now);
        let (planned, entries) = self.plan_tasks(&valid, &plan_id, now);
        let plan = Plan {
            id: plan_id.clone(),
            goal: valid.goal.clone(),
            goal_task,
            created_at: now,
            tasks: entries,
            awaiting_confirmation: held,
            request_id: request.cloned(),
            verify: verify.clone(),
        };
        store.stage(
            Event::PlanSubmitted {
                plan,
                tasks: planned,
            },
            now,
        )?;
        let state = store.state();
        let plan = state
            .plan(&plan_id)
            .ok_or_else(|| EngineError::BadValue(format!("no plan {plan_id}")))?;
        Ok(ack_of(state, plan))
    }

    /// A plan checked by the rules of `cortex plan submit`, every problem
    /// named.
    pub(crate) fn validate(
        &self,
        spec: &PlanSpec,
        workdir: Option<&str>,
        worktree: bool,
    ) -> Result<cortex_core::plan::ValidPlan, EngineError> {
        let (experts, types) = {
            let s = self.settings();
            (s.1.names().into_iter().collect(), s.1.task_types())
        };
        self.check_workdir(workdir)?;
        let valid = validate_plan(spec, &experts, &types, workdir, worktree).map_err(|errors| {
            EngineError::BadValue(format!(
                "the plan is not valid: {}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
        if worktree || self.settings().0.isolation == cortex_core::config::Isolation::Worktree {
            let source = workdir.unwrap_or("/");
            crate::worktree::check_source(std::path::Path::new(source), worktree)
                .map_err(EngineError::BadValue)?;
        }
        Ok(valid)
    }

    /// The tasks of a valid plan, routed (or given the expert it names).
    pub(crate) fn plan_tasks(
        &self,
        valid: &cortex_core::plan::ValidPlan,
        plan_id: &PlanId,
        now: DateTime<Utc>,
    ) -> (Vec<PlannedTask>, Vec<PlanEntry>) {
        let mut ids: Vec<TaskId> = Vec::new();
        let mut planned = Vec::new();
        let mut entries = Vec::new();
        for t in &valid.tasks {
            let fingerprint = cortex_core::task::fingerprint(
                &t.submission.description,
                t.submission.task_type.as_deref(),
                t.submission.workdir.as_deref(),
            );
            let mut task = new_task(
                clock::task_id(now),
                t.submission.clone(),
                format!("{fingerprint}:{plan_id}"),
                None,
                now,
            );
            task.after = t.after.iter().map(|i| ids[*i].clone()).collect();
            task.plan_id = Some(plan_id.clone());
            let decision = match &t.expert {
                Some(e) => {
                    let mut d = Decision::by_person(e, None);
                    d.explanation = format!("the plan names {e}");
                    d
                }
                None => self.decide(&task.description, task.task_type.as_deref()),
            };
            self.log_decision(&task.id, &decision, now);
            ids.push(task.id.clone());
            entries.push(PlanEntry {
                name: t.name.clone(),
                task_id: task.id.clone(),
            });
            planned.push(PlannedTask {
                task,
                routing: decision.summary(),
                experts: decision.parallel_experts.clone(),
            });
        }
        (planned, entries)
    }

    /// `cortex plan edit PLAN FILE`: replaces the tasks of a plan held for
    /// confirmation with an edited plan, validated as `plan submit` does
    /// and in the same folder; the old tasks are cancelled (they never
    /// started) and the new ones wait for confirmation. One journal record.
    pub fn edit_plan(&self, id: &str, spec: &PlanSpec) -> Result<PlanAck, EngineError> {
        let plan_id = PlanId::parse(id)
            .ok_or_else(|| EngineError::BadValue(format!("`{id}` is not a plan id (p-...)")))?;
        // An edit made from what the views show (secrets hidden) would
        // store the mark in place of the secret: the person writes it again.
        let hidden = std::iter::once(("the goal", spec.goal.as_str()))
            .chain(spec.tasks.iter().flat_map(|t| {
                [
                    ("a task's description", t.description.as_str()),
                    ("a task's check", t.verify.as_deref().unwrap_or_default()),
                ]
            }))
            .find(|(_, text)| text.contains("[redacted]"));
        if let Some((what, _)) = hidden {
            return Err(EngineError::BadValue(format!(
                "{what} contains `[redacted]`, which stands for a secret the views hide: write the secret itself again, or the plan would keep `[redacted]` in its place"
            )));
        }
        let now = clock::now();
        let ack = {
            let mut store = self.store();
            let state = store.state();
            let plan = state
                .plan(&plan_id)
                .ok_or_else(|| EngineError::BadValue(format!("no plan {plan_id}")))?;
            if !plan.awaiting_confirmation {
                return Err(EngineError::BadValue(format!(
                    "plan {plan_id} is not awaiting confirmation: only a plan that has not started can be edited"
                )));
            }
            // A task of it that started (a worker, or an end) is work done
            // or going on: an edit that cancelled it would say untrue things.
            let started = plan.tasks.iter().find(|e| {
                state.task(&e.task_id).is_some_and(|t| {
                    t.status.is_terminal() || t.assignments.iter().any(|a| a.worker_id.is_some())
                })
            });
            if let Some(e) = started {
                return Err(EngineError::BadValue(format!(
                    "plan {plan_id} has a task that started or ended ({}): only a plan none of whose tasks started can be edited",
                    e.task_id
                )));
            }
            let replaced: Vec<TaskId> = plan.tasks.iter().map(|e| e.task_id.clone()).collect();
            let first = plan.tasks.first().and_then(|e| state.task(&e.task_id));
            let workdir = first.and_then(|t| t.workdir.clone());
            let worktree = first.is_some_and(|t| t.worktree == Some(true));
            let valid = self.validate(spec, workdir.as_deref(), worktree)?;
            let (tasks, entries) = self.plan_tasks(&valid, &plan_id, now);
            store.stage(
                Event::PlanEdited {
                    plan_id: plan_id.clone(),
                    goal: valid.goal.clone(),
                    entries,
                    tasks,
                },
                now,
            )?;
            store.sync()?;
            let state = store.state();
            let plan = state
                .plan(&plan_id)
                .ok_or_else(|| EngineError::BadValue(format!("no plan {plan_id}")))?;
            let cancelled: Vec<TaskDto> = replaced
                .iter()
                .filter_map(|t| state.task(t).map(TaskDto::from))
                .collect();
            (ack_of(state, plan), cancelled)
        };
        let (ack, cancelled) = ack;
        info!(plan_id = %ack.plan_id, tasks = ack.tasks.len(), "plan edited");
        for task in cancelled {
            self.emit(EngineEvent::TaskUpdated { task });
        }
        self.emit_plan_tasks(&ack.plan_id);
        self.emit_plan_updates(&ack.plan_id);
        Ok(ack)
    }

    /// `cortex plan submit`: a person's plan, run at once.
    pub fn submit_plan(
        &self,
        spec: &PlanSpec,
        workdir: Option<&str>,
        worktree: bool,
    ) -> Result<PlanAck, EngineError> {
        let now = clock::now();
        let ack = {
            let mut store = self.store();
            let origin = PlanOrigin {
                workdir,
                worktree,
                ..PlanOrigin::default()
            };
            let ack = self.stage_plan(&mut store, spec, &origin, now)?;
            store.sync()?;
            ack
        };
        info!(plan_id = %ack.plan_id, tasks = ack.tasks.len(), "plan submitted");
        self.emit_plan_tasks(&ack.plan_id);
        Ok(ack)
    }

    /// `cortex plan confirm PLAN`: lets a plan held for a person run.
    pub fn confirm_plan(&self, id: &str) -> Result<PlanView, EngineError> {
        let plan_id = PlanId::parse(id)
            .ok_or_else(|| EngineError::BadValue(format!("`{id}` is not a plan id (p-...)")))?;
        let view = {
            let mut store = self.store();
            let plan = store
                .state()
                .plan(&plan_id)
                .cloned()
                .ok_or_else(|| EngineError::BadValue(format!("no plan {plan_id}")))?;
            if !plan.awaiting_confirmation {
                // As `cortex confirm TASK` says of a task not held: a second
                // confirm must not read as the one that let it run.
                return Err(EngineError::BadValue(format!(
                    "plan {plan_id} is not awaiting confirmation (it was confirmed already): nothing to confirm"
                )));
            }
            if !store.state().plan_awaits_confirmation(&plan_id) {
                return Err(EngineError::BadValue(format!(
                    "plan {plan_id} has no task left to start (its tasks ended: its goal was cancelled?): nothing to confirm"
                )));
            }
            store.commit(
                Event::PlanConfirmed {
                    plan_id: plan_id.clone(),
                },
                clock::now(),
            )?;
            // Just confirmed: none of its tasks runs yet.
            plan_view(store.state(), &plan_id, &Default::default(), self.now())
        };
        self.emit_plan_updates(&plan_id);
        view.ok_or_else(|| EngineError::BadValue(format!("no plan {plan_id}")))
    }

    /// `cortex plan merge PLAN`: merges the plan's tasks in dependency order
    /// into their base, each as `cortex merge` does, stopping at the first
    /// that cannot be merged (not completed, or a conflict) with everything
    /// before it merged and nothing after it touched.
    pub fn merge_plan(&self, id: &str) -> Result<PlanMergeDto, EngineError> {
        let plan_id = PlanId::parse(id)
            .ok_or_else(|| EngineError::BadValue(format!("`{id}` is not a plan id (p-...)")))?;
        let plan = self
            .store()
            .state()
            .plan(&plan_id)
            .cloned()
            .ok_or_else(|| EngineError::BadValue(format!("no plan {plan_id}")))?;
        let mut merged = Vec::new();
        for e in &plan.tasks {
            let status = self
                .store()
                .state()
                .task(&e.task_id)
                .map_or(TaskStatus::Cancelled, |t| t.status);
            let result = if status == TaskStatus::Completed {
                self.merge(&crate::review::MergeRequest {
                    task_id: e.task_id.to_string(),
                    expert: None,
                    into: None,
                    squash: false,
                })
            } else {
                Err(EngineError::Refused(format!(
                    "it is {}, not completed",
                    status.as_str()
                )))
            };
            match result {
                Ok(m) => merged.push(PlanMergedTask {
                    name: e.name.clone(),
                    merge: m,
                }),
                Err(err) => {
                    info!(plan_id = %plan_id, task = %e.name, "plan merge stopped: {err}");
                    return Ok(PlanMergeDto {
                        plan_id,
                        merged,
                        stopped_at: Some(PlanMergeStop {
                            name: e.name.clone(),
                            task_id: e.task_id.clone(),
                            reason: err.to_string(),
                        }),
                    });
                }
            }
        }
        Ok(PlanMergeDto {
            plan_id,
            merged,
            stopped_at: None,
        })
    }

    /// Every plan, newest first, as the app's plan view shows them.
    pub fn plans(&self) -> Vec<PlanView> {
        let live = self.live_figures();
        crate::plans::plan_views(self.store().state(), &live, self.now())
    }

    /// The plan with this id, as `cortex plan show` shows it.
    pub fn plan(&self, id: &str) -> Result<PlanView, EngineError> {
        let plan_id = PlanId::parse(id)
            .ok_or_else(|| EngineError::BadValue(format!("`{id}` is not a plan id (p-...)")))?;
        let live = self.live_figures();
        plan_view(self.store().state(), &plan_id, &live, self.now())
            .ok_or_else(|| EngineError::BadValue(format!("no plan {plan_id}")))
    }

    /// The plan's tasks as shown (and its goal's, with `with_goal`).
    pub(crate) fn plan_task_dtos(&self, id: &PlanId, with_goal: bool) -> Vec<TaskDto> {
        let store = self.store();
        let state = store.state();
        state
            .plan(id)
            .map(|p| {
                p.tasks
                    .iter()
                    .map(|e| &e.task_id)
                    .chain(p.goal_task.as_ref().filter(|_| with_goal))
                    .filter_map(|t| state.task(t).map(TaskDto::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A task of a plan changed: what follows from it in the fold (its
    /// dependents blocked or freed, the goal's progress) changed no event of
    /// its own, so every task of the plan and its goal are sent as updated.
    pub(crate) fn emit_plan_updates(&self, id: &PlanId) {
        for task in self.plan_task_dtos(id, true) {
            self.emit(EngineEvent::TaskUpdated { task });
        }
    }

    pub(crate) fn emit_plan_tasks(&self, id: &PlanId) {
        for task in self.plan_task_dtos(id, false) {
            self.emit(EngineEvent::TaskSubmitted { task });
        }
    }
}
