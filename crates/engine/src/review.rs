//! Reviewing a task's work and bringing it back: `cortex show`, `diff`,
//! `merge` and `worktree remove`.
//!
//! Where a worker's work started is recorded as its first attempt starts
//! (`worker_base`): the repository, the commit and branch checked out there,
//! and the worktree's own branch when isolated. A diff compares that commit
//! with the working tree as it is now, committed or not, new files included:
//! the working tree is read through a temporary index (a copy of the real
//! one, then `git add -A`), so the real index is never touched. A merge
//! finds conflicts with `git merge-tree --write-tree` before it changes
//! anything. Git always runs with a fixed argument list (no shell), with
//! `-C <dir>`; the task's text reaches git only as a commit message on
//! stdin.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use cortex_core::config::MergeConfig;
use cortex_core::id::TaskId;
use cortex_core::redact::redact;
use cortex_core::state::Event;
use cortex_core::stream::Tokens;
use cortex_core::task::Task;
use cortex_core::worker::{WorkBase, Worker};
use serde::{Deserialize, Serialize};

use crate::clock;
use crate::dto::TaskDto;
use crate::error::EngineError;
use crate::home::Home;

pub use crate::dto::{task_verification, VerificationDto};

/// One file a task changed. `added`/`removed` are `null` for a binary file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    pub path: String,
    pub added: Option<u64>,
    pub removed: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangesKind {
    /// The worker ran in its own worktree, on its own branch.
    Worktree,
    /// The worker ran in the submitted folder, inside a git repository.
    InPlace,
    /// Nothing to compare: outside git, no recorded start, worktree removed.
    None,
}

/// What one worker's part of a task changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    pub kind: ChangesKind,
    pub expert: String,
    pub worker_id: String,
    /// The worktree's branch; in place, the branch checked out at start.
    pub branch: Option<String>,
    /// The commit the work started from.
    pub base: Option<String>,
    /// The branch checked out in the repository when the work started:
    /// where `cortex merge` brings a worktree's branch by default.
    pub base_branch: Option<String>,
    pub repo: Option<String>,
    pub workdir: String,
    pub files: Vec<FileChange>,
    /// In place, the changes since the recorded commit may include other
    /// people's edits to the same checkout.
    pub may_include_others: bool,
    /// Why there is nothing to compare, or a problem reading the changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `cortex diff`: the changes, and the patch unless only the stat was asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffDto {
    pub task_id: TaskId,
    #[serde(flatten)]
    pub changes: Changes,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
}

/// One attempt in a task's story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptStory {
    pub n: u32,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub resumed: bool,
    /// The outcome's kind (`success`, `crashed`, ...); none while it runs.
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    pub cost_usd: f64,
    pub tokens: Tokens,
    pub duration_secs: f64,
}

/// One worker in a task's story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStory {
    pub id: String,
    pub expert: String,
    pub status: String,
    pub reason: Option<String>,
    pub workdir: String,
    pub result: Option<String>,
    pub verification: Option<VerificationDto>,
    pub tokens: Tokens,
    pub cost_usd: f64,
    pub duration_secs: f64,
    pub attempts: Vec<AttemptStory>,
    pub base: Option<WorkBase>,
    pub changes: Changes,
}

/// `cortex show`: a task's whole story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStory {
    #[serde(flatten)]
    pub task: TaskDto,
    /// Summed over every attempt of every worker.
    pub tokens: Tokens,
    pub duration_secs: f64,
    pub attempts: usize,
    pub workers: Vec<WorkerStory>,
    /// The changes of the primary expert's part (each worker carries its
    /// own); none before a worker started.
    pub changes: Option<Changes>,
}

/// What `cortex merge` asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeRequest {
    pub task_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub into: Option<String>,
    #[serde(default)]
    pub squash: bool,
}

/// What `cortex merge` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeDto {
    pub task_id: TaskId,
    pub expert: String,
    pub branch: String,
    pub into: String,
    /// The tip of `into` afterwards.
    pub commit: String,
    /// The commit that took the worktree's uncommitted changes, if any.
    pub committed_changes: Option<String>,
    pub fast_forward: bool,
    pub squash: bool,
    /// True when `into` already had everything: nothing changed.
    pub already_merged: bool,
    /// Where `into` is checked out and was updated, if it is.
    pub checked_out_in: Option<String>,
    pub files: Vec<FileChange>,
}

/// What `cortex worktree remove` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoveDto {
    pub task_id: TaskId,
    pub expert: String,
    pub worktree: String,
    /// The branch, kept: its commits are never deleted.
    pub branch: String,
    pub merged: bool,
    pub had_uncommitted: bool,
    pub forced: bool,
}

mod git;
mod merge;
mod places;
mod show;

pub(crate) use git::*;
pub(crate) use merge::*;
pub(crate) use places::*;
pub use show::*;

#[cfg(test)]
mod tests {
    use super::*;
    use cortex_core::input::ValidSubmission;
    use cortex_core::task::Priority;
    use cortex_core::worker::WorkerStatus;

    fn sh(dir: &Path, args: &[&str]) -> String {
        git_line(dir, args).unwrap()
    }

    struct Fixture {
        _dirs: (tempfile::TempDir, tempfile::TempDir),
        home: Home,
        repo: PathBuf,
        wt: PathBuf,
        task: Task,
        worker: Worker,
        start: String,
    }

    /// A repository on `main` with one commit, and a task whose worker ran
    /// in a worktree of it, its base recorded as the engine records it.
    fn fixture() -> Fixture {
        let (h, r) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let repo = r.path().to_path_buf();
        sh(&repo, &["init", "-q", "-b", "main"]);
        sh(&repo, &["config", "user.name", "T"]);
        sh(&repo, &["config", "user.email", "t@example.invalid"]);
        std::fs::write(repo.join("README"), "one\n").unwrap();
        sh(&repo, &["add", "README"]);
        sh(&repo, &["commit", "-q", "-m", "start"]);
        let start = sh(&repo, &["rev-parse", "HEAD"]);
        let home = Home::new(h.path());
        let now = clock::now();
        let task = cortex_core::state::new_task(
            clock::task_id(now),
            ValidSubmission {
                description: "add a file\nwith care".into(),
                task_type: None,
                priority: Priority::Medium,
                key: None,
                workdir: Some(repo.display().to_string()),
                worktree: true,
                verify: None,
            },
            "f".into(),
            None,
            now,
        );
        let name = crate::worktree::name_for(task.id.as_str(), "development");
        let wt = crate::worktree::ensure(&home, &name, &repo).unwrap();
        let mut worker = Worker::new(
            clock::worker_id(now),
            task.id.clone(),
            "development",
            wt.display().to_string(),
            now,
        );
        let Some(Event::WorkerBase {
            repo: r2,
            commit,
            branch,
            worktree_branch,
            ..
        }) = base_event(&home, &worker, task.workdir.as_deref())
        else {
            panic!("a base for a worktree worker");
        };
        worker.base = Some(WorkBase {
            repo: r2,
            commit,
            branch,
            worktree_branch,
        });
        worker.status = WorkerStatus::Completed;
        Fixture {
            _dirs: (h, r),
            home,
            repo,
            wt,
            task,
            worker,
            start,
        }
    }

    fn merge(f: &Fixture, into: Option<&str>, squash: bool) -> Result<MergeDto, EngineError> {
        let req = MergeRequest {
            task_id: f.task.id.to_string(),
            expert: None,
            into: into.map(Into::into),
            squash,
        };
        let place = place_of(&f.home, &f.task, &f.worker);
        merge_worktree(&f.task, &f.worker, &req, place, &MergeConfig::default())
    }

    #[test]
    fn the_base_is_the_commit_and_branch_checked_out_at_start() {
        let f = fixture();
        let base = f.worker.base.clone().unwrap();
        assert_eq!(base.commit, f.start);
        assert_eq!(base.branch.as_deref(), Some("main"));
        let own = format!("cortex/{}-development", f.task.id);
        assert_eq!(base.worktree_branch.as_deref(), Some(own.as_str()));
        let plain = tempfile::tempdir().unwrap();
        let mut w = f.worker.clone();
        w.workdir = plain.path().display().to_string();
        assert!(base_event(&f.home, &w, None).is_none(), "outside git");
    }

    #[test]
    fn a_squash_into_a_branch_not_checked_out_moves_only_that_branch() {
        let f = fixture();
        sh(&f.repo, &["branch", "release"]);
        std::fs::write(f.wt.join("new.txt"), "new\n").unwrap();
        let m = merge(&f, Some("release"), true).unwrap();
        assert!(
            m.squash && !m.fast_forward && m.checked_out_in.is_none(),
            "{m:?}"
        );
        assert_eq!(sh(&f.repo, &["rev-parse", "release"]), m.commit);
        let parents = sh(&f.repo, &["rev-list", "--parents", "-n", "1", "release"]);
        assert_eq!(parents.split(' ').count(), 2, "one parent: {parents}");
        assert_eq!(sh(&f.repo, &["show", "release:new.txt"]), "new");
        assert_eq!(
            sh(&f.repo, &["rev-parse", "main"]),
            f.start,
            "main untouched"
        );
        assert!(!f.repo.join("new.txt").exists());
        let subject = sh(&f.repo, &["log", "-1", "--format=%s", "release"]);
        assert_eq!(subject, "add a file");
        // Everything is committed now: the worktree may go, its branch stays.
        let place = place_of(&f.home, &f.task, &f.worker);
        let r = remove_worktree(&f.task, &f.worker, place, false).unwrap();
        assert!(!r.had_uncommitted && !f.wt.exists(), "{r:?}");
    }

    #[test]
    fn a_checked_out_base_whose_edits_would_be_overwritten_refuses_and_nothing_changes() {
        let f = fixture();
        std::fs::write(f.repo.join("README"), "mine, not committed\n").unwrap();
        std::fs::write(f.wt.join("README"), "the task's\n").unwrap();
        let wt_head = sh(&f.wt, &["rev-parse", "HEAD"]);
        let err = merge(&f, None, false).unwrap_err().to_string();
        assert!(
            err.contains("does not apply cleanly") && err.contains("README"),
            "{err}"
        );
        assert_eq!(sh(&f.repo, &["rev-parse", "main"]), f.start);
        assert_eq!(
            std::fs::read_to_string(f.repo.join("README")).unwrap(),
            "mine, not committed\n"
        );
        assert_eq!(sh(&f.wt, &["rev-parse", "HEAD"]), wt_head);
        assert_eq!(sh(&f.wt, &["status", "--porcelain"]), "M README");
        // A live worker's worktree is neither merged nor removed.
        let mut live = f.worker.clone();
        live.status = WorkerStatus::Running;
        let place = place_of(&f.home, &f.task, &live);
        let err = remove_worktree(&f.task, &live, place, true).unwrap_err();
        assert!(err.to_string().contains("still running"), "{err}");
    }

    #[test]
    fn a_story_names_the_repository_its_work_started_in_as_its_project() {
        let f = fixture();
        let story = story_of(
            &f.home,
            &f.task,
            std::slice::from_ref(&f.worker),
            clock::now(),
        );
        let repo = f.worker.base.as_ref().map(|b| b.repo.clone());
        assert!(repo.is_some());
        assert_eq!(story.task.project, repo);
        let none = story_of(&f.home, &f.task, &[], clock::now());
        assert_eq!(none.task.project, None);
    }
}
