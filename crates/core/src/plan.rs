//! Plans: a goal split into tasks that depend on each other, as data.
//!
//! A plan is validated as a whole (names unique, every `after` known, no
//! cycle, limits on size, every task a valid submission) before anything is
//! written, and then journaled as one record, so it exists whole or not at
//! all. Which dependent may start, and which can no longer, is decided in
//! the state's fold (`State::apply`) from the dependencies' statuses.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::id::{PlanId, TaskId};
use crate::input::{validate_submission, SubmitRequest, ValidSubmission};
use crate::task::{RoutingSummary, Task};

/// The most tasks one plan may hold.
pub const MAX_PLAN_TASKS: usize = 100;
/// The longest goal text.
pub const MAX_GOAL_BYTES: usize = 32 * 1024;

/// A plan as a person (or the coordinator) writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSpec {
    /// What the plan achieves, in words.
    pub goal: String,
    /// The plan's tasks.
    pub tasks: Vec<PlanTaskSpec>,
}

/// One task of a plan, named locally so others can depend on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanTaskSpec {
    /// The task's name, unique in the plan (1-64 lowercase letters, digits, -
    /// or _).
    pub name: String,
    /// The work to do, in words.
    pub description: String,
    /// The expert to run it (else the router decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expert: Option<String>,
    /// An explicit task type, routed to the expert that declares it.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub task_type: Option<String>,
    /// The priority's name; unset, medium.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// A check of the task's work, run by `sh -c` in the workdir.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<String>,
    /// Names of tasks of this plan that must complete first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
}

/// A plan that passed validation, its tasks in dependency order (every
/// task after those it depends on).
#[derive(Debug, Clone, PartialEq)]
pub struct ValidPlan {
    /// What the plan achieves, trimmed.
    pub goal: String,
    /// The plan's tasks, each after those it depends on.
    pub tasks: Vec<ValidPlanTask>,
}

/// One task of a validated plan.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidPlanTask {
    /// The task's name in the plan.
    pub name: String,
    /// The task as a validated submission.
    pub submission: ValidSubmission,
    /// The expert named to run it, if one was.
    pub expert: Option<String>,
    /// Indexes into `ValidPlan::tasks` (always earlier ones).
    pub after: Vec<usize>,
}

/// One problem of a plan, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanError {
    /// `goal`, `tasks`, or `tasks[i]` / `tasks[i].field`.
    pub at: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

fn err(at: impl Into<String>, message: impl Into<String>) -> PlanError {
    PlanError {
        at: at.into(),
        message: message.into(),
    }
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Validates a plan as a whole, reporting every problem found. `workdir`
/// and `worktree` apply to every task.
pub fn validate_plan(
    spec: &PlanSpec,
    experts: &BTreeSet<String>,
    known_types: &BTreeSet<String>,
    workdir: Option<&str>,
    worktree: bool,
) -> Result<ValidPlan, Vec<PlanError>> {
    let mut errors = Vec::new();
    let goal = spec.goal.trim();
    if goal.is_empty() {
        errors.push(err("goal", "is empty: say what the plan achieves"));
    } else if goal.len() > MAX_GOAL_BYTES {
        errors.push(err(
            "goal",
            format!(
                "is {} bytes, over the limit of {MAX_GOAL_BYTES}",
                goal.len()
            ),
        ));
    }
    if spec.tasks.is_empty() {
        errors.push(err("tasks", "is empty: a plan needs at least one task"));
    }
    if spec.tasks.len() > MAX_PLAN_TASKS {
        errors.push(err(
            "tasks",
            format!(
                "has {} tasks, over the limit of {MAX_PLAN_TASKS}",
                spec.tasks.len()
            ),
        ));
    }
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, t) in spec.tasks.iter().enumerate() {
        if !valid_name(&t.name) {
            errors.push(err(
                format!("tasks[{i}].name"),
                format!(
                    "`{}` is not a valid name, expected 1-64 lowercase letters, digits, - or _",
                    t.name
                ),
            ));
        } else if index.insert(t.name.as_str(), i).is_some() {
            errors.push(err(
                format!("tasks[{i}].name"),
                format!("`{}` names two tasks: names must be unique", t.name),
            ));
        }
    }
    let mut subs = Vec::new();
    for (i, t) in spec.tasks.iter().enumerate() {
        if let Some(e) = &t.expert {
            if !experts.contains(e) {
                errors.push(err(
                    format!("tasks[{i}].expert"),
                    format!(
                        "`{e}` is not an expert, expected one of: {}",
                        experts.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        for a in &t.after {
            if !index.contains_key(a.as_str()) {
                errors.push(err(
                    format!("tasks[{i}].after"),
                    format!("`{a}` is not a task of this plan"),
                ));
            } else if a == &t.name {
                errors.push(err(
                    format!("tasks[{i}].after"),
                    format!("`{a}` depends on itself"),
                ));
            }
        }
        let req = SubmitRequest {
            description: t.description.clone(),
            task_type: t.task_type.clone(),
            priority: t.priority.clone(),
            key: None,
            workdir: workdir.map(str::to_string),
            worktree,
            // Optional in a plan, as a coordinator may write it: empty is
            // none (`--verify ""` on the command line is refused).
            verify: t.verify.clone().filter(|v| !v.trim().is_empty()),
            after: Vec::new(),
            plan: false,
        };
        match validate_submission(&req, known_types) {
            Ok(v) => subs.push(Some(v)),
            Err(_) => {
                // Every problem of the task, not only its first.
                for e in crate::input::submission_problems(&req, known_types) {
                    errors.push(err(format!("tasks[{i}]"), e.to_string()));
                }
                subs.push(None);
            }
        }
    }
    // The dependencies between the tasks that can be named, checked for a
    // cycle together with every other problem (an unknown name or a task
    // after itself is said above).
    let deps: Vec<Vec<usize>> = spec
        .tasks
        .iter()
        .map(|t| {
            t.after
                .iter()
                .filter(|a| **a != t.name)
                .filter_map(|a| index.get(a.as_str()).copied())
                .collect()
        })
        .collect();
    let order = topological(&deps);
    if order.is_none() {
        let stuck = cycle_members(&deps)
            .into_iter()
            .map(|i| spec.tasks[i].name.clone())
            .collect::<Vec<_>>();
        errors.push(err(
            "tasks",
            format!(
                "the dependencies form a cycle through: {}",
                stuck.join(", ")
            ),
        ));
    }
    let Some(order) = order.filter(|_| errors.is_empty()) else {
        return Err(errors);
    };
    let position: BTreeMap<usize, usize> = order.iter().enumerate().map(|(p, i)| (*i, p)).collect();
    let tasks = order
        .iter()
        .map(|&i| ValidPlanTask {
            name: spec.tasks[i].name.clone(),
            submission: subs[i]
                .clone()
                .unwrap_or_else(|| unreachable!("validated above")),
            expert: spec.tasks[i].expert.clone(),
            after: deps[i].iter().map(|d| position[d]).collect(),
        })
        .collect();
    Ok(ValidPlan {
        goal: goal.to_string(),
        tasks,
    })
}

/// An order in which every node comes after its dependencies, or None if
/// they form a cycle (Kahn's algorithm, ties by index: deterministic).
pub fn topological(deps: &[Vec<usize>]) -> Option<Vec<usize>> {
    let n = deps.len();
    let mut missing: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut ready: BTreeSet<usize> = (0..n).filter(|i| missing[*i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &j in &dependents[i] {
            missing[j] -= 1;
            if missing[j] == 0 {
                ready.insert(j);
            }
        }
    }
    (order.len() == n).then_some(order)
}

/// The nodes left over when the acyclic part is removed (those in or
/// behind a cycle), in index order.
fn cycle_members(deps: &[Vec<usize>]) -> Vec<usize> {
    let n = deps.len();
    let mut removed = vec![false; n];
    loop {
        let next = (0..n).find(|&i| !removed[i] && deps[i].iter().all(|d| removed[*d]));
        match next {
            Some(i) => removed[i] = true,
            None => break,
        }
    }
    (0..n).filter(|i| !removed[*i]).collect()
}

/// A plan as the state keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The plan's id.
    pub id: PlanId,
    /// What the plan achieves, in words.
    pub goal: String,
    /// The goal task whose coordinator wrote the plan, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal_task: Option<TaskId>,
    /// When the plan was submitted.
    pub created_at: DateTime<Utc>,
    /// The plan's tasks by local name, in dependency order.
    pub tasks: Vec<PlanEntry>,
    /// Held until a person confirms it (`cortex plan confirm`).
    #[serde(default)]
    pub awaiting_confirmation: bool,
    /// The inbox request that submitted it: a replayed request finds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<crate::id::RequestId>,
    /// The goal's own check: once every task completed, it runs on their
    /// work merged together, and the goal completes only if it passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<String>,
}

/// One task of a plan: its local name and its task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanEntry {
    /// The task's name in the plan.
    pub name: String,
    /// The task the name stands for.
    pub task_id: TaskId,
}

/// One task of a submitted plan, routed, as journaled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedTask {
    /// The task as created.
    pub task: Task,
    /// How the task was routed.
    pub routing: RoutingSummary,
    /// The experts that each get an assignment.
    pub experts: Vec<String>,
}

/// The JSON a coordinator's final result holds, if any: the text itself,
/// or the last fenced block of it.
pub fn plan_in_text(text: &str) -> Result<PlanSpec, String> {
    let trimmed = text.trim();
    let candidate = if trimmed.starts_with('{') {
        trimmed.to_string()
    } else {
        let Some(end) = trimmed.rfind("```") else {
            return Err(
                "no plan found: expected a JSON object, alone or in a ```json block".into(),
            );
        };
        let before = &trimmed[..end];
        let Some(start) = before.rfind("```") else {
            return Err("no plan found: the code block is not closed".into());
        };
        let block = &before[start + 3..];
        block
            .trim_start_matches("json")
            .trim_start_matches("JSON")
            .trim()
            .to_string()
    };
    serde_json::from_str::<PlanSpec>(&candidate).map_err(|e| format!("the plan is not valid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn experts() -> BTreeSet<String> {
        ["development", "security", "inventory"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn spec(json: &str) -> PlanSpec {
        serde_json::from_str(json).unwrap()
    }

    fn check(json: &str) -> Result<ValidPlan, Vec<PlanError>> {
        validate_plan(&spec(json), &experts(), &BTreeSet::new(), Some("/w"), false)
    }

    #[test]
    fn a_valid_plan_comes_back_in_dependency_order() {
        let p = check(
            r#"{"goal":"ship it","tasks":[
            {"name":"c","description":"third","after":["b"]},
            {"name":"a","description":"first","expert":"security"},
            {"name":"b","description":"second","after":["a"],"verify":"make test"}]}"#,
        )
        .unwrap();
        let names: Vec<&str> = p.tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(p.tasks[1].after, vec![0]);
        assert_eq!(p.tasks[2].after, vec![1]);
        assert_eq!(p.tasks[0].expert.as_deref(), Some("security"));
        assert_eq!(p.tasks[1].submission.verify.as_deref(), Some("make test"));
    }

    #[test]
    fn every_problem_is_reported_with_where_it_is() {
        let e = check(
            r#"{"goal":" ","tasks":[
            {"name":"a","description":"","priority":"urgent","type":"nope"},
            {"name":"a","description":"dup"},
            {"name":"Bad Name","description":"x","after":["nope"],"expert":"wizard"}]}"#,
        )
        .unwrap_err();
        let text: Vec<String> = e.iter().map(ToString::to_string).collect();
        let all = text.join("\n");
        for needle in [
            "goal: is empty",
            "tasks[1].name: `a` names two tasks",
            "tasks[2].name: `Bad Name` is not a valid name",
            "tasks[2].expert: `wizard` is not an expert",
            "tasks[2].after: `nope` is not a task of this plan",
            "tasks[0]: task text is empty",
            // Each of a task's problems, not only its first.
            "tasks[0]: unknown priority",
            "tasks[0]: unknown task type",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
    }

    #[test]
    fn a_cycle_is_refused_naming_its_tasks() {
        let e = check(
            r#"{"goal":"g","tasks":[
            {"name":"a","description":"x","after":["c"]},
            {"name":"b","description":"y","after":["a"]},
            {"name":"c","description":"z","after":["b"]},
            {"name":"d","description":"free"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].message.contains("cycle through: a, b, c"), "{}", e[0]);
        let self_dep =
            check(r#"{"goal":"g","tasks":[{"name":"a","description":"x","after":["a"]}]}"#);
        assert!(self_dep.unwrap_err()[0]
            .message
            .contains("depends on itself"));
        // A cycle is said with the plan's other problems, not after them.
        let both = check(
            r#"{"goal":"g","tasks":[
            {"name":"c","description":"","after":["d"]},
            {"name":"d","description":"w","after":["c"]}]}"#,
        )
        .unwrap_err();
        let said: Vec<String> = both.iter().map(ToString::to_string).collect();
        assert_eq!(both.len(), 2, "{said:?}");
        assert!(said[0].contains("tasks[0]"), "{said:?}");
        assert!(said[1].contains("cycle through: c, d"), "{said:?}");
    }

    #[test]
    fn a_plan_is_found_in_a_coordinators_answer() {
        let alone = plan_in_text(r#"{"goal":"g","tasks":[{"name":"a","description":"x"}]}"#);
        assert_eq!(alone.unwrap().tasks.len(), 1);
        let fenced = plan_in_text(
            "Here is the plan.\n```json\n{\"goal\":\"g\",\"tasks\":[{\"name\":\"a\",\"description\":\"x\"}]}\n```\n",
        );
        assert_eq!(fenced.unwrap().goal, "g");
        assert!(plan_in_text("I could not decide.").is_err());
        assert!(plan_in_text(r#"{"goal":"g","tasks":[{"name":"a"}]}"#)
            .unwrap_err()
            .contains("description"));
    }
}
