//! Reviewing a worker's work through the engine: show, diff, merge, and removing its worktree.
//!
//! May depend on: `crate::review` (which does the work on the files and the repository).

use crate::clock;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::review::{
    diff_of, merge_worktree, pick, place_of, remove_worktree, story_of, task_and_workers, DiffDto,
    MergeDto, MergeRequest, RemoveDto, TaskStory,
};

impl Engine {
    /// A task's whole story (`cortex show`).
    pub fn show(&self, id: &str) -> Result<TaskStory, EngineError> {
        let (task, workers) = task_and_workers(self.store().state(), id)?;
        Ok(story_of(self.home(), &task, &workers, clock::now()))
    }

    /// What a task changed (`cortex diff`).
    pub fn diff(
        &self,
        id: &str,
        expert: Option<&str>,
        stat_only: bool,
    ) -> Result<DiffDto, EngineError> {
        let (task, workers) = task_and_workers(self.store().state(), id)?;
        diff_of(self.home(), &task, &workers, expert, stat_only)
    }

    /// Merges a worktree task's branch into its base (`cortex merge`).
    pub fn merge(&self, req: &MergeRequest) -> Result<MergeDto, EngineError> {
        let (task, workers) = task_and_workers(self.store().state(), &req.task_id)?;
        let w = pick(&task, &workers, req.expert.as_deref())?;
        let place = place_of(self.home(), &task, w);
        let merge = self.config().merge;
        let done = merge_worktree(&task, w, req, place, &merge)?;
        tracing::info!(task_id = %task.id, into = %done.into, commit = %done.commit, "task merged");
        Ok(done)
    }

    /// Removes a task's worktree (`cortex worktree remove`): only when all
    /// its changes are committed, or with `force`. Its branch is kept.
    pub fn remove_worktree(
        &self,
        id: &str,
        expert: Option<&str>,
        force: bool,
    ) -> Result<RemoveDto, EngineError> {
        let (task, workers) = task_and_workers(self.store().state(), id)?;
        let w = pick(&task, &workers, expert)?;
        let place = place_of(self.home(), &task, w);
        let done = remove_worktree(&task, w, place, force)?;
        tracing::info!(task_id = %task.id, worktree = %done.worktree, forced = force, "worktree removed");
        Ok(done)
    }
}
