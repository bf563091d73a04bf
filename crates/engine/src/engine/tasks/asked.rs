//! What a submission asks, checked against what is stored: the tasks it
//! waits for, and what a duplicate asks that the task answering it lacks.
//!
//! May depend on: the facade's types (`super`).

use super::*;

/// What a duplicate submission asked that the task answering it does not
/// have: it is not applied, and the answer says so.
pub(super) fn not_applied(
    task: &Task,
    asked: &cortex_core::input::ValidSubmission,
    after: &[TaskId],
    isolate_all: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    if asked.verify.is_some() && asked.verify != task.verify {
        out.push("--verify".to_string());
    }
    // With `isolation: worktree` every task runs in one already.
    if asked.worktree && task.worktree != Some(true) && !isolate_all {
        out.push("--worktree".to_string());
    }
    if after.iter().any(|a| !task.after.contains(a)) {
        out.push("--after".to_string());
    }
    out
}

pub(super) fn resolve_after(
    state: &cortex_core::state::State,
    given: &[String],
) -> Result<Vec<TaskId>, EngineError> {
    let mut out: Vec<TaskId> = Vec::new();
    // An `--after` that names nothing (an empty variable in a script)
    // would start the task at once, which it asked not to.
    if given
        .iter()
        .any(|g| g.split(',').all(|p| p.trim().is_empty()))
    {
        return Err(EngineError::BadValue(
            "--after: empty, expected the id of a submitted task (t-...)".into(),
        ));
    }
    for g in given
        .iter()
        .flat_map(|g| g.split(','))
        .map(str::trim)
        .filter(|g| !g.is_empty())
    {
        let id = TaskId::parse(g)
            .filter(|id| state.task(id).is_some())
            .ok_or_else(|| {
                EngineError::BadValue(format!(
                    "--after: no task `{g}`, expected the id of a submitted task (t-...)"
                ))
            })?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}
