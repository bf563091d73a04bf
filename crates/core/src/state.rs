//! The journal's events and the state they fold into.
//!
//! The journal is the source of truth: the state of a home is exactly the
//! fold of its events, in order. Snapshots only make the fold start later.
//! `apply` is total: an event about an unknown task is ignored (and counted),
//! never a panic, so a quarantined line cannot make replay fail.
//!
//! The parts: `event` (the journal's records), `apply` (the fold of one
//! record), `plans` (plans, goals and dependencies). Here: the state itself,
//! rebuilt from snapshots, and the questions asked of it.
//!
//! May depend on: the domain types (id, input, task, worker, stream, plan),
//! serde, chrono (types only).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use crate::id::{RequestId, TaskId, WorkerId};
use crate::input::ValidSubmission;
use crate::task::{fingerprint, Assignment, AssignmentStatus, Priority, Task, TaskStatus};
use crate::worker::Worker;

mod apply;
mod event;
mod plans;

pub use event::{Event, Record};

/// One pending assignment per expert.
fn pending_parts(experts: &[String]) -> Vec<Assignment> {
    experts
        .iter()
        .map(|e| Assignment {
            expert: e.clone(),
            status: AssignmentStatus::Pending,
            worker_id: None,
        })
        .collect()
}

/// What a submission resolves to before anything is written.
#[derive(Debug, Clone, PartialEq)]
pub enum SubmitPlan {
    /// An existing task answers this submission (same request replayed, same
    /// key, or same fingerprint while that task is live).
    Existing {
        /// The task that answers it.
        task_id: TaskId,
        /// That task's status now.
        status: TaskStatus,
    },
    /// A new task must be created.
    New {
        /// The new task's dedup fingerprint.
        fingerprint: String,
    },
}

/// Everything the journal knows, indexed for the questions the engine asks.
#[derive(Debug, Clone, Default)]
pub struct State {
    tasks: BTreeMap<TaskId, Task>,
    /// Fingerprint -> task, live tasks only.
    live_fingerprints: HashMap<String, TaskId>,
    /// Idempotency key -> task, kept after completion.
    keys: HashMap<String, TaskId>,
    /// Inbox request -> task, so a replayed request is answered, not redone.
    requests: HashMap<RequestId, TaskId>,
    workers: BTreeMap<WorkerId, Worker>,
    plans: BTreeMap<crate::id::PlanId, crate::plan::Plan>,
    /// Goals whose check of their plan's merged work is due or running.
    goals_to_check: std::collections::BTreeSet<TaskId>,
    /// New workers are not started while true (`cortex pause`).
    pub spawning_paused: bool,
    /// Sequence number of the last applied record.
    pub last_seq: u64,
    /// Events that referred to something unknown (counted, not fatal).
    pub ignored_events: u64,
}

impl State {
    /// Rebuilds indexes from a task list (a snapshot) and its sequence number.
    pub fn from_tasks(tasks: Vec<Task>, last_seq: u64) -> Self {
        Self::from_parts(tasks, Vec::new(), Vec::new(), false, last_seq)
    }

    /// Adds the workers of `other` this state lacks: a worker snapshot that
    /// was lost, its workers taken from what the journal alone still holds.
    /// Returns how many were added.
    pub fn add_missing_workers(&mut self, other: &State) -> usize {
        let mut added = 0;
        for w in other.workers.values() {
            if !self.workers.contains_key(&w.id) {
                self.workers.insert(w.id.clone(), w.clone());
                added += 1;
            }
        }
        added
    }

    /// Rebuilds from snapshots of tasks and workers taken at `last_seq`.
    pub fn from_parts(
        tasks: Vec<Task>,
        workers: Vec<Worker>,
        plans: Vec<crate::plan::Plan>,
        spawning_paused: bool,
        last_seq: u64,
    ) -> Self {
        let mut s = State {
            last_seq,
            spawning_paused,
            workers: workers.into_iter().map(|w| (w.id.clone(), w)).collect(),
            plans: plans.into_iter().map(|p| (p.id.clone(), p)).collect(),
            ..State::default()
        };
        for t in tasks {
            s.index(&t);
            s.tasks.insert(t.id.clone(), t);
        }
        let goals: Vec<TaskId> = s
            .plans
            .values()
            .filter_map(|p| p.goal_task.clone())
            .collect();
        for g in goals {
            if s.goal_verdict(&g).is_some_and(|v| v.2) {
                s.goals_to_check.insert(g);
            }
        }
        s
    }

    fn index(&mut self, t: &Task) {
        if !t.status.is_terminal() {
            self.live_fingerprints
                .insert(t.fingerprint.clone(), t.id.clone());
        }
        if let Some(k) = &t.key {
            self.keys.insert(k.clone(), t.id.clone());
        }
        if let Some(r) = &t.request_id {
            self.requests.insert(r.clone(), t.id.clone());
        }
    }

    /// The worker with this id.
    pub fn worker(&self, id: &WorkerId) -> Option<&Worker> {
        self.workers.get(id)
    }

    /// Every worker, in id (creation) order.
    pub fn workers(&self) -> impl Iterator<Item = &Worker> {
        self.workers.values()
    }

    /// Live tasks with an assignment no worker has taken yet, queue order.
    pub fn pending_assignments(&self) -> Vec<(&Task, &str)> {
        let mut tasks: Vec<&Task> = self
            .tasks
            .values()
            .filter(|t| {
                matches!(
                    t.status,
                    TaskStatus::Routed | TaskStatus::Running | TaskStatus::Waiting
                )
            })
            .collect();
        tasks.sort_by(|a, b| crate::task::queue_order(a, b));
        tasks
            .into_iter()
            .flat_map(|t| {
                t.assignments
                    .iter()
                    .filter(|a| a.worker_id.is_none() && a.status == AssignmentStatus::Pending)
                    .map(move |a| (t, a.expert.as_str()))
            })
            .collect()
    }

    /// The priority to raise a live task from when a duplicate submission
    /// asks for a more urgent one (`None`: nothing to change). A priority
    /// is never lowered this way, and an ended task keeps its own.
    pub fn priority_raise(&self, id: &TaskId, wanted: Priority) -> Option<Priority> {
        let t = self.tasks.get(id)?;
        (!t.status.is_terminal() && wanted < t.priority).then_some(t.priority)
    }

    /// Decides whether a submission creates a task or is answered by one.
    pub fn plan_submit(&self, sub: &ValidSubmission, request: Option<&RequestId>) -> SubmitPlan {
        let existing = |id: &TaskId| {
            self.tasks.get(id).map(|t| SubmitPlan::Existing {
                task_id: id.clone(),
                status: t.status,
            })
        };
        if let Some(plan) = request
            .and_then(|r| self.requests.get(r))
            .and_then(existing)
        {
            return plan;
        }
        if let Some(plan) = sub
            .key
            .as_ref()
            .and_then(|k| self.keys.get(k))
            .and_then(existing)
        {
            return plan;
        }
        let fp = fingerprint(
            &sub.description,
            sub.task_type.as_deref(),
            sub.workdir.as_deref(),
        );
        match self.live_fingerprints.get(&fp).and_then(existing) {
            Some(plan) => plan,
            None => SubmitPlan::New { fingerprint: fp },
        }
    }

    /// The task with this id.
    pub fn task(&self, id: &TaskId) -> Option<&Task> {
        self.tasks.get(id)
    }

    /// Every task, in id (creation) order.
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.tasks.values()
    }

    /// The number of tasks.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// Task count per status, every status present (zero included).
    pub fn counts_by_status(&self) -> BTreeMap<TaskStatus, usize> {
        let mut m: BTreeMap<TaskStatus, usize> = TaskStatus::ALL.iter().map(|s| (*s, 0)).collect();
        for t in self.tasks.values() {
            *m.entry(t.status).or_default() += 1;
        }
        m
    }
}

/// Builds a new task from a validated submission.
pub fn new_task(
    id: TaskId,
    sub: ValidSubmission,
    fingerprint: String,
    request_id: Option<RequestId>,
    now: DateTime<Utc>,
) -> Task {
    Task {
        id,
        description: sub.description,
        task_type: sub.task_type,
        priority: sub.priority,
        status: TaskStatus::Queued,
        workdir: sub.workdir,
        fingerprint,
        key: sub.key,
        request_id,
        created_at: now,
        updated_at: now,
        worktree: sub.worktree.then_some(true),
        reason: None,
        result: None,
        verify: sub.verify,
        after: Vec::new(),
        plan_id: None,
        goal: false,
        cost_usd: 0.0,
        cost_estimated: false,
        routing: None,
        assignments: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::RoutingSummary;
    use crate::worker::WorkerStatus;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn sub(text: &str, key: Option<&str>) -> ValidSubmission {
        ValidSubmission {
            description: text.into(),
            task_type: None,
            priority: Priority::Medium,
            key: key.map(Into::into),
            workdir: None,
            worktree: false,
            verify: None,
        }
    }

    fn submit(
        state: &mut State,
        n: u8,
        text: &str,
        key: Option<&str>,
        req: Option<RequestId>,
    ) -> SubmitPlan {
        let plan = state.plan_submit(&sub(text, key), req.as_ref());
        if let SubmitPlan::New { fingerprint } = &plan {
            let task = new_task(
                TaskId::new(u64::from(n), [n; 10]),
                sub(text, key),
                fingerprint.clone(),
                req,
                at(n.into()),
            );
            let seq = state.last_seq + 1;
            state.apply(&Record::new(
                seq,
                at(n.into()),
                Event::TaskSubmitted {
                    task: Box::new(task),
                },
            ));
        }
        plan
    }

    fn finish(state: &mut State, id: &TaskId, status: TaskStatus) {
        let seq = state.last_seq + 1;
        state.apply(&Record::new(
            seq,
            at(100),
            Event::TaskStatusChanged {
                task_id: id.clone(),
                status,
                reason: None,
            },
        ));
    }

    #[test]
    fn same_text_while_live_is_one_task_and_a_new_one_after_it_ends() {
        let mut s = State::default();
        assert!(matches!(
            submit(&mut s, 1, "fix login", None, None),
            SubmitPlan::New { .. }
        ));
        let again = submit(&mut s, 2, "Fix  LOGIN", None, None);
        let SubmitPlan::Existing { task_id, .. } = again else {
            panic!("expected dedup, got {again:?}")
        };
        assert_eq!(s.task_count(), 1);
        finish(&mut s, &task_id, TaskStatus::Completed);
        assert!(matches!(
            submit(&mut s, 3, "fix login", None, None),
            SubmitPlan::New { .. }
        ));
        assert_eq!(s.task_count(), 2);
    }

    #[test]
    fn a_key_dedups_even_after_completion_and_across_texts() {
        let mut s = State::default();
        submit(&mut s, 1, "nightly report", Some("k1"), None);
        let id = s.tasks().next().unwrap().id.clone();
        finish(&mut s, &id, TaskStatus::Completed);
        let plan = submit(&mut s, 2, "a different text", Some("k1"), None);
        assert_eq!(
            plan,
            SubmitPlan::Existing {
                task_id: id,
                status: TaskStatus::Completed
            }
        );
    }

    #[test]
    fn a_replayed_request_maps_to_its_task() {
        let mut s = State::default();
        let r = RequestId::new(9, [9; 10]);
        submit(&mut s, 1, "one", None, Some(r.clone()));
        let id = s.tasks().next().unwrap().id.clone();
        finish(&mut s, &id, TaskStatus::Cancelled);
        let plan = submit(&mut s, 2, "one", None, Some(r));
        assert!(matches!(plan, SubmitPlan::Existing { task_id, .. } if task_id == id));
        assert_eq!(s.task_count(), 1);
    }

    #[test]
    fn records_already_covered_are_skipped_and_unknown_tasks_counted() {
        let mut s = State::from_tasks(vec![], 10);
        let stale = Record::new(
            5,
            at(0),
            Event::TaskStatusChanged {
                task_id: TaskId::new(1, [1; 10]),
                status: TaskStatus::Failed,
                reason: None,
            },
        );
        s.apply(&stale);
        assert_eq!((s.last_seq, s.ignored_events), (10, 0));
        let unknown = Record { seq: 11, ..stale };
        s.apply(&unknown);
        assert_eq!((s.last_seq, s.ignored_events), (11, 1));
    }

    #[test]
    fn record_numbers_end_where_every_reader_still_reads_them_exactly() {
        assert_eq!(Record::seq_after(6, 1), Some(7));
        assert_eq!(
            Record::seq_after(Record::MAX_SEQ - 2, 2),
            Some(Record::MAX_SEQ)
        );
        assert_eq!(Record::seq_after(Record::MAX_SEQ, 1), None);
        assert_eq!(Record::seq_after(u64::MAX, 1), None);
        assert_eq!(Record::seq_problem(Record::MAX_SEQ), None);
        let why = Record::seq_problem(u64::MAX).expect("damaged");
        assert!(why.contains("record number 18446744073709551615"), "{why}");
    }

    /// Applies an event as the next record.
    fn push(state: &mut State, event: Event) {
        let seq = state.last_seq + 1;
        state.apply(&Record::new(seq, at(i64::try_from(seq).unwrap()), event));
    }

    fn routed(state: &mut State, experts: &[&str]) -> TaskId {
        submit(state, 1, "audit and document", None, None);
        let id = state.tasks().next().unwrap().id.clone();
        push(
            state,
            Event::TaskRouted {
                task_id: id.clone(),
                routing: RoutingSummary {
                    primary_expert: experts[0].into(),
                    confidence: 0.9,
                    strategy: crate::router::Strategy::MultiExpertParallel,
                    method: crate::router::Method::Keywords,
                    needs_confirmation: false,
                    explanation: String::new(),
                },
                experts: experts.iter().map(|e| (*e).to_string()).collect(),
            },
        );
        id
    }

    fn worker(state: &mut State, task: &TaskId, n: u8, expert: &str) -> WorkerId {
        let id = WorkerId::new(u64::from(n), [n; 10]);
        push(
            state,
            Event::WorkerCreated {
                worker: Box::new(Worker::new(
                    id.clone(),
                    task.clone(),
                    expert,
                    "/w".into(),
                    at(0),
                )),
            },
        );
        id
    }

    fn end(state: &mut State, w: &WorkerId, status: WorkerStatus, reason: &str) {
        push(
            state,
            Event::WorkerEnded {
                worker_id: w.clone(),
                status,
                reason: reason.into(),
            },
        );
    }

    #[test]
    fn a_failed_task_gives_the_reason_of_its_failed_part_not_of_the_last_to_end() {
        let mut s = State::default();
        let id = routed(&mut s, &["security", "inventory"]);
        let a = worker(&mut s, &id, 10, "security");
        let b = worker(&mut s, &id, 11, "inventory");
        end(&mut s, &a, WorkerStatus::Failed, "cannot lock ref");
        end(&mut s, &b, WorkerStatus::Completed, "completed");
        let t = s.task(&id).unwrap();
        assert_eq!(t.status, TaskStatus::Failed);
        assert_eq!(t.reason.as_deref(), Some("security: cannot lock ref"));
    }

    fn start_first_attempt(s: &mut State, w: &WorkerId) {
        push(
            s,
            Event::AttemptStarted {
                worker_id: w.clone(),
                attempt: 1,
                pid: Some(7),
                start_ticks: None,
                session_id: None,
                resumed: false,
            },
        );
    }

    #[test]
    fn an_attempt_counts_its_time_from_when_it_left_a_cluster_queue() {
        let mut s = State::default();
        let id = routed(&mut s, &["development"]);
        let w = worker(&mut s, &id, 10, "development");
        start_first_attempt(&mut s, &w);
        let started = s.worker(&w).unwrap().attempts[0].started_at;
        let running = |w: &WorkerId, attempt| Event::AttemptRunning {
            worker_id: w.clone(),
            attempt,
            left_at: None,
        };
        push(&mut s, running(&w, 1));
        let a = &s.worker(&w).unwrap().attempts[0];
        let left = a.running_at.expect("the time it left the queue");
        assert!(left > started);
        assert_eq!(a.ran_from(), left);
        let now = left + chrono::Duration::seconds(30);
        assert_eq!(a.ran_secs(now), 30.0, "the queue's time is left out");
        // Said once: a second word, or one about an attempt that does not
        // exist, changes nothing and is counted as ignored.
        let ignored = s.ignored_events;
        push(&mut s, running(&w, 1));
        push(&mut s, running(&w, 2));
        assert_eq!(s.worker(&w).unwrap().attempts[0].running_at, Some(left));
        assert_eq!(s.ignored_events, ignored + 2);
        // An attempt that never waited counts from its start.
        let plain = crate::worker::Attempt::started(2, started, None);
        assert_eq!(plain.ran_secs(started + chrono::Duration::seconds(5)), 5.0);
    }

    #[test]
    fn a_suspension_and_resumption_by_the_cluster_are_kept_on_the_live_attempt() {
        let mut s = State::default();
        let id = routed(&mut s, &["development"]);
        let w = worker(&mut s, &id, 10, "development");
        start_first_attempt(&mut s, &w);
        let suspended = |w: &WorkerId, attempt, suspended| Event::AttemptSuspended {
            worker_id: w.clone(),
            attempt,
            suspended,
        };
        let attempt = |s: &State| s.worker(&w).unwrap().attempts[0].clone();
        push(&mut s, suspended(&w, 1, true));
        let since = attempt(&s).suspended_at.expect("suspended");
        assert_eq!(attempt(&s).unsuspended_at, None);
        // Said twice, or of an attempt that does not exist: ignored.
        let ignored = s.ignored_events;
        push(&mut s, suspended(&w, 1, true));
        push(&mut s, suspended(&w, 2, true));
        assert_eq!(attempt(&s).suspended_at, Some(since));
        assert_eq!(s.ignored_events, ignored + 2);
        push(&mut s, suspended(&w, 1, false));
        let a = attempt(&s);
        assert_eq!(a.suspended_at, None);
        assert!(a.unsuspended_at.is_some_and(|t| t > since), "{a:?}");
    }

    #[test]
    fn attempts_whose_tokens_add_past_a_count_leave_the_worker_at_the_largest() {
        let mut s = State::default();
        let id = routed(&mut s, &["development"]);
        let w = worker(&mut s, &id, 10, "development");
        for attempt in 1..=2 {
            push(
                &mut s,
                Event::AttemptStarted {
                    worker_id: w.clone(),
                    attempt,
                    pid: None,
                    start_ticks: None,
                    session_id: None,
                    resumed: false,
                },
            );
            let mut outcome =
                crate::stream::Outcome::bare(crate::stream::OutcomeKind::Crashed, "crashed");
            outcome.tokens.input = u64::MAX - 1;
            outcome.tokens.cache_read = u64::MAX;
            push(
                &mut s,
                Event::AttemptEnded {
                    worker_id: w.clone(),
                    attempt,
                    outcome,
                },
            );
        }
        let t = s.worker(&w).unwrap().tokens;
        assert_eq!((t.input, t.cache_read, t.output), (u64::MAX, u64::MAX, 0));
    }

    #[test]
    fn a_single_part_keeps_its_own_reason_and_a_success_says_completed() {
        let mut s = State::default();
        let id = routed(&mut s, &["development"]);
        let a = worker(&mut s, &id, 10, "development");
        end(&mut s, &a, WorkerStatus::Failed, "crashed (exit 3)");
        assert_eq!(
            s.task(&id).unwrap().reason.as_deref(),
            Some("crashed (exit 3)")
        );
        let mut s = State::default();
        let id = routed(&mut s, &["security", "inventory"]);
        let a = worker(&mut s, &id, 10, "security");
        let b = worker(&mut s, &id, 11, "inventory");
        end(&mut s, &b, WorkerStatus::Completed, "completed");
        end(&mut s, &a, WorkerStatus::Completed, "completed");
        let t = s.task(&id).unwrap();
        assert_eq!(
            (t.status, t.reason.as_deref()),
            (TaskStatus::Completed, Some("completed"))
        );
    }

    fn set_status(state: &mut State, id: &TaskId, status: TaskStatus, reason: Option<&str>) {
        push(
            state,
            Event::TaskStatusChanged {
                task_id: id.clone(),
                status,
                reason: reason.map(Into::into),
            },
        );
    }

    #[test]
    fn a_workers_git_base_is_recorded_and_round_trips() {
        let mut s = State::default();
        let id = routed(&mut s, &["development"]);
        let w = worker(&mut s, &id, 10, "development");
        let event = Event::WorkerBase {
            worker_id: w.clone(),
            repo: "/r".into(),
            commit: "abc".into(),
            branch: Some("main".into()),
            worktree_branch: None,
        };
        let line = serde_json::to_string(&Record::new(99, at(0), event.clone())).unwrap();
        assert!(line.contains(r#""kind":"worker_base""#), "{line}");
        assert!(!line.contains("worktree_branch"), "{line}");
        push(&mut s, event);
        let base = s.worker(&w).unwrap().base.clone().unwrap();
        assert_eq!(
            (base.commit.as_str(), base.branch.as_deref()),
            ("abc", Some("main"))
        );
    }

    #[test]
    fn a_held_task_is_not_scheduled_until_let_go_and_then_says_no_stale_reason() {
        let mut s = State::default();
        let id = routed(&mut s, &["development"]);
        set_status(
            &mut s,
            &id,
            TaskStatus::AwaitingConfirmation,
            Some("unsure"),
        );
        assert!(s.pending_assignments().is_empty(), "held");
        assert_eq!(s.task(&id).unwrap().reason.as_deref(), Some("unsure"));
        set_status(&mut s, &id, TaskStatus::Routed, None);
        assert_eq!(s.pending_assignments().len(), 1);
        assert_eq!(s.task(&id).unwrap().reason, None);
        // A task waiting on its expert's circuit breaker is still scheduled
        // (the engine skips it while the expert is paused).
        set_status(&mut s, &id, TaskStatus::Waiting, Some("paused"));
        assert_eq!(s.pending_assignments().len(), 1);
        worker(&mut s, &id, 10, "development");
        let t = s.task(&id).unwrap();
        assert_eq!((t.status, t.reason.as_deref()), (TaskStatus::Running, None));
        assert_eq!(
            serde_json::to_string(&TaskStatus::AwaitingConfirmation).unwrap(),
            "\"awaiting_confirmation\""
        );
    }

    #[test]
    fn a_duplicate_raises_a_live_tasks_priority_but_never_lowers_it() {
        let mut s = State::default();
        submit(&mut s, 1, "fix login", None, None);
        let id = s.tasks().next().unwrap().id.clone();
        assert_eq!(s.priority_raise(&id, Priority::Low), None);
        assert_eq!(s.priority_raise(&id, Priority::Medium), None);
        assert_eq!(
            s.priority_raise(&id, Priority::High),
            Some(Priority::Medium)
        );
        push(
            &mut s,
            Event::TaskPriorityChanged {
                task_id: id.clone(),
                priority: Priority::High,
            },
        );
        assert_eq!(s.task(&id).unwrap().priority, Priority::High);
        finish(&mut s, &id, TaskStatus::Completed);
        assert_eq!(
            s.priority_raise(&id, Priority::Critical),
            None,
            "an ended task keeps its priority"
        );
    }

    #[test]
    fn records_round_trip_through_json_with_a_version() {
        let r = Record::new(
            3,
            at(1),
            Event::TaskStatusChanged {
                task_id: TaskId::new(1, [1; 10]),
                status: TaskStatus::Cancelled,
                reason: Some("by person".into()),
            },
        );
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.starts_with(r#"{"v":1,"seq":3,"#), "{line}");
        assert!(line.contains(r#""kind":"task_status_changed""#));
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), r);
        // An event's own times are not named as the record's (`at`).
        let r = Record::new(
            4,
            at(9),
            Event::AttemptRunning {
                worker_id: WorkerId::new(2, [2; 10]),
                attempt: 1,
                left_at: Some(at(5)),
            },
        );
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(line.matches(r#""at":"#).count(), 1, "{line}");
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), r);
    }

    /// A plan of tasks `a -> b -> c` (and `d` after `a`), all for `development`.
    fn chain(state: &mut State) -> Vec<TaskId> {
        chain_of(state, None, None)
    }

    /// Four tasks, a -> b -> c and a -> d, as a plan (of `goal`, with the
    /// goal's check `verify`).
    fn chain_of(state: &mut State, goal: Option<TaskId>, verify: Option<&str>) -> Vec<TaskId> {
        let ids: Vec<TaskId> = (10u8..14)
            .map(|n| TaskId::new(u64::from(n), [n; 10]))
            .collect();
        let after = [vec![], vec![0], vec![1], vec![0]];
        let tasks = ids
            .iter()
            .zip(after)
            .enumerate()
            .map(|(i, (id, deps))| {
                let mut t = new_task(
                    id.clone(),
                    sub(&format!("step {i}"), None),
                    format!("fp{i}"),
                    None,
                    at(0),
                );
                t.after = deps.iter().map(|d: &usize| ids[*d].clone()).collect();
                crate::plan::PlannedTask {
                    task: t,
                    routing: RoutingSummary {
                        primary_expert: "development".into(),
                        confidence: 1.0,
                        strategy: crate::router::Strategy::SingleExpert,
                        method: crate::router::Method::Person,
                        needs_confirmation: false,
                        explanation: String::new(),
                    },
                    experts: vec!["development".into()],
                }
            })
            .collect();
        let plan = crate::plan::Plan {
            id: crate::id::PlanId::new(1, [1; 10]),
            goal: "g".into(),
            goal_task: goal,
            created_at: at(0),
            tasks: ids
                .iter()
                .enumerate()
                .map(|(i, id)| crate::plan::PlanEntry {
                    name: format!("s{i}"),
                    task_id: id.clone(),
                })
                .collect(),
            awaiting_confirmation: false,
            request_id: None,
            verify: verify.map(str::to_string),
        };
        push(state, Event::PlanSubmitted { plan, tasks });
        ids
    }

    fn status_of(state: &State, id: &TaskId) -> TaskStatus {
        state.task(id).unwrap().status
    }

    #[test]
    fn a_dependent_waits_for_its_dependency_and_starts_when_it_completes() {
        let mut s = State::default();
        let ids = chain(&mut s);
        assert_eq!(
            ids.iter().map(|i| status_of(&s, i)).collect::<Vec<_>>(),
            [
                TaskStatus::Routed,
                TaskStatus::Blocked,
                TaskStatus::Blocked,
                TaskStatus::Blocked
            ]
        );
        let pending: Vec<&str> = s
            .pending_assignments()
            .iter()
            .map(|(t, _)| t.description.as_str())
            .collect();
        assert_eq!(pending, ["step 0"], "only the free task may start");
        let w = worker(&mut s, &ids[0], 1, "development");
        end(&mut s, &w, WorkerStatus::Completed, "completed");
        assert_eq!(status_of(&s, &ids[1]), TaskStatus::Routed);
        assert_eq!(status_of(&s, &ids[3]), TaskStatus::Routed);
        assert_eq!(status_of(&s, &ids[2]), TaskStatus::Blocked, "still after b");
        assert!(s
            .task(&ids[2])
            .unwrap()
            .reason
            .as_deref()
            .unwrap()
            .contains(ids[1].as_str()));
    }

    #[test]
    fn a_failed_dependency_puts_every_task_behind_it_in_needs_attention() {
        let mut s = State::default();
        let ids = chain(&mut s);
        let w = worker(&mut s, &ids[0], 1, "development");
        end(&mut s, &w, WorkerStatus::Completed, "completed");
        let w = worker(&mut s, &ids[1], 2, "development");
        end(&mut s, &w, WorkerStatus::Failed, "exited with 3");
        let c = s.task(&ids[2]).unwrap();
        assert_eq!(c.status, TaskStatus::NeedsAttention);
        let why = c.reason.as_deref().unwrap();
        assert!(
            why.contains(ids[1].as_str())
                && why.contains("failed")
                && why.contains("exited with 3"),
            "{why}"
        );
        assert!(
            s.pending_assignments().iter().all(|(t, _)| t.id != ids[2]),
            "never starts"
        );
        assert_eq!(
            status_of(&s, &ids[3]),
            TaskStatus::Routed,
            "other branches go on"
        );
        // A person's reply revives the failed task: what was given up with
        // it waits for it again, and starts once it completes.
        push(
            &mut s,
            Event::WorkerReplied {
                worker_id: w.clone(),
                text: "try again".into(),
            },
        );
        assert_eq!(status_of(&s, &ids[1]), TaskStatus::Running);
        let c = s.task(&ids[2]).unwrap();
        assert_eq!(c.status, TaskStatus::Blocked, "{:?}", c.reason);
        end(&mut s, &w, WorkerStatus::Completed, "completed");
        assert_eq!(status_of(&s, &ids[2]), TaskStatus::Routed);
    }

    /// A goal whose coordinator wrote a plan (`chain_of`) with the goal's
    /// check `make test`: the state, the goal, its coordinator, the tasks.
    fn goal_with_plan() -> (State, TaskId, WorkerId, Vec<TaskId>) {
        let mut s = State::default();
        let goal = routed(&mut s, &["coordinator"]);
        s.tasks.get_mut(&goal).unwrap().goal = true;
        let coordinator = worker(&mut s, &goal, 50, "coordinator");
        // As the engine does: the plan first, then the coordinator's end.
        let ids = chain_of(&mut s, Some(goal.clone()), Some("make test"));
        end(
            &mut s,
            &coordinator,
            WorkerStatus::Completed,
            "plan submitted",
        );
        (s, goal, coordinator, ids)
    }

    #[test]
    fn a_goal_with_a_check_completes_only_when_it_passes_on_the_merged_work() {
        let (mut s, goal, coordinator, ids) = goal_with_plan();
        assert_eq!(status_of(&s, &goal), TaskStatus::Running);
        for (n, id) in (60u8..).zip(&ids) {
            let w = worker(&mut s, id, n, "development");
            end(&mut s, &w, WorkerStatus::Completed, "completed");
        }
        let g = s.task(&goal).unwrap();
        assert_eq!(g.status, TaskStatus::Running, "its check is due");
        assert!(
            g.reason
                .as_deref()
                .unwrap()
                .contains("checking their merged work: make test"),
            "{g:?}"
        );
        assert_eq!(s.goals_to_check().collect::<Vec<_>>(), [&goal]);
        // A state rebuilt from snapshots knows the check is due too.
        let rebuilt = State::from_parts(
            s.tasks().cloned().collect(),
            s.workers().cloned().collect(),
            s.plans.values().cloned().collect(),
            false,
            s.last_seq,
        );
        assert_eq!(rebuilt.goals_to_check().collect::<Vec<_>>(), [&goal]);
        let check = |passed: bool, reason: &str| {
            let mut s = s.clone();
            push(
                &mut s,
                Event::VerifyStarted {
                    worker_id: coordinator.clone(),
                    attempt: 1,
                    round: 1,
                    command: "make test".into(),
                    pid: Some(7),
                    start_ticks: None,
                },
            );
            assert_eq!(status_of(&s, &goal), TaskStatus::Running);
            push(
                &mut s,
                Event::VerifyEnded {
                    worker_id: coordinator.clone(),
                    round: 1,
                    passed,
                    exit_code: Some(i32::from(!passed)),
                    output_tail: None,
                    reason: reason.into(),
                },
            );
            assert_eq!(s.goals_to_check().count(), 0, "no longer due");
            s.task(&goal).unwrap().clone()
        };
        let g = check(true, "passed");
        assert_eq!(g.status, TaskStatus::Completed);
        assert!(g
            .reason
            .as_deref()
            .unwrap()
            .contains("verified: make test passed"));
        let g = check(false, "exited 1");
        assert_eq!(g.status, TaskStatus::NeedsAttention);
        assert!(
            g.reason
                .as_deref()
                .unwrap()
                .contains("the goal's check failed on their merged work: make test exited 1"),
            "{g:?}"
        );
        // A check that could not run did not fail.
        let g = check(false, "could not run: the work conflicts in k.txt");
        assert!(
            g.reason.as_deref().unwrap().contains(
                "the goal's check could not be run on their merged work: make test could not run"
            ),
            "{g:?}"
        );
    }

    #[test]
    fn a_goal_names_the_plan_task_that_failed_and_runs_no_check() {
        let (mut s, goal, _, ids) = goal_with_plan();
        let w = worker(&mut s, &ids[0], 60, "development");
        end(&mut s, &w, WorkerStatus::Failed, "exited with 3");
        let g = s.task(&goal).unwrap();
        assert_eq!(g.status, TaskStatus::NeedsAttention);
        let why = g.reason.as_deref().unwrap();
        assert!(
            why.contains("plan task s0") && why.contains("exited with 3"),
            "{why}"
        );
        assert_eq!(s.goals_to_check().count(), 0);
    }
}
