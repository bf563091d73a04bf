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

use crate::dto::TaskDto;
use crate::error::EngineError;
use crate::home::Home;

pub use crate::dto::{task_verification, VerificationDto};

/// One file a task changed. `added`/`removed` are `null` for a binary file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// The file's path, relative to the repository's top.
    pub path: String,
    /// Lines added.
    pub added: Option<u64>,
    /// Lines removed.
    pub removed: Option<u64>,
}

/// Where a worker's part ran, and so what `cortex diff` and `merge` can do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangesKind {
    /// The worker ran in its own worktree, on its own branch (the branch
    /// alone once the worktree was removed: `worktree_removed`).
    Worktree,
    /// The worker ran in the submitted folder, inside a git repository.
    InPlace,
    /// Nothing to compare: outside git, no recorded start, an agent that
    /// never started, a worktree and its branch both gone.
    None,
}

/// What one worker's part of a task changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    /// Where the work ran, and so whether there is anything to compare.
    pub kind: ChangesKind,
    /// The expert whose part this is.
    pub expert: String,
    /// The worker that did it.
    pub worker_id: String,
    /// The worktree's branch; in place, the branch checked out at start.
    pub branch: Option<String>,
    /// The commit the work started from.
    pub base: Option<String>,
    /// The branch checked out in the repository when the work started:
    /// where `cortex merge` brings a worktree's branch by default.
    pub base_branch: Option<String>,
    /// The repository the work started in (its top-level folder); None when
    /// there is nothing to compare.
    pub repo: Option<String>,
    /// The folder the worker ran in (its worktree when isolated).
    pub workdir: String,
    /// The files changed since the work started; empty when nothing can be compared.
    pub files: Vec<FileChange>,
    /// In place, the changes since the recorded commit may include other
    /// people's edits to the same checkout.
    pub may_include_others: bool,
    /// For a worktree, the branch (its base branch) that already holds this
    /// part's version of every file it changed, however it got there (a
    /// merge, a squash, a cherry-pick): read from git each time, never
    /// recorded. None when some change is not there, or nothing was changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
    /// For a worktree, the repository's other branches that already hold
    /// all of this part's work the same way (one it was merged into with
    /// `--into`): the most recently committed branches are asked, never the
    /// base, the task's own or another task's (`cortex/`) branch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_elsewhere: Vec<String>,
    /// For a worktree: it was removed (`cortex worktree remove`), and these
    /// are the changes on its branch, which Cortex keeps.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub worktree_removed: bool,
    /// Why there is nothing to compare, or a problem reading the changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// True when git failed to read the changes (`message` says how): the
    /// empty `files` then mean "not known", not "nothing changed".
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unreadable: bool,
}

impl Changes {
    /// Where this part's work is merged, for a person: "merged into main",
    /// "merged into release, not into main", "merged into main and
    /// release"; None when no branch asked holds it. The app says the same
    /// (`mergedWhere` in ui/src/logic/story.ts).
    pub fn merged_where(&self) -> Option<String> {
        let mut all: Vec<&str> = self.merged_into.iter().map(String::as_str).collect();
        all.extend(self.merged_elsewhere.iter().map(String::as_str));
        let (last, first) = all.split_last()?;
        let list = if first.is_empty() {
            (*last).to_string()
        } else {
            format!("{} and {last}", first.join(", "))
        };
        let not_base = match (&self.merged_into, &self.base_branch) {
            (None, Some(b)) => format!(", not into {b}"),
            _ => String::new(),
        };
        Some(format!("merged into {list}{not_base}"))
    }
}

/// `cortex diff`: the changes, and the patch unless only the stat was asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffDto {
    /// The task compared.
    pub task_id: TaskId,
    /// What the part compared changed: the latest worker of `--expert`, else
    /// of the task's only expert.
    #[serde(flatten)]
    pub changes: Changes,
    /// The changes as a unified diff; None with `--stat` or when nothing could be compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
}

/// One attempt in a task's story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptStory {
    /// The attempt's number, 1 for the first.
    pub n: u32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it left a cluster's queue and began to run, if it waited in
    /// one and an owner saw it leave; its duration counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_at: Option<DateTime<Utc>>,
    /// When it ended; None while it runs.
    pub ended_at: Option<DateTime<Utc>>,
    /// True when it continued the previous attempt's conversation.
    pub resumed: bool,
    /// The outcome's kind (`success`, `crashed`, ...); none while it runs.
    pub outcome: Option<String>,
    /// Why it ended, in words (redacted); None while it runs.
    pub reason: Option<String>,
    /// The process's exit code, when it exited with one.
    pub exit_code: Option<i32>,
    /// What it cost, in US dollars; 0 while it runs.
    pub cost_usd: f64,
    /// True when `cost_usd` is Cortex's estimate from the tokens: the attempt
    /// ended without the agent's own figure (killed, crashed, lost).
    pub cost_estimated: bool,
    /// The tokens it used; zero while it runs.
    pub tokens: Tokens,
    /// How long it ran, in seconds (until now while it runs), its time in
    /// a cluster's queue left out once it was seen leaving it.
    pub duration_secs: f64,
    /// True while its job waits in a cluster's queue (it has not begun to
    /// run: its duration is 0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub queued: bool,
}

/// One worker in a task's story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStory {
    /// The worker's id.
    pub id: String,
    /// The expert it ran as.
    pub expert: String,
    /// Its lifecycle state (`running`, `completed`, `failed`...).
    pub status: String,
    /// Why it is in that state (redacted), when known.
    pub reason: Option<String>,
    /// The folder it ran in.
    pub workdir: String,
    /// The agent's final result text (redacted), once an attempt gave one.
    pub result: Option<String>,
    /// The check of its work (`null`: not verified).
    pub verification: Option<VerificationDto>,
    /// The tokens its ended attempts used.
    pub tokens: Tokens,
    /// What its ended attempts cost, in US dollars.
    pub cost_usd: f64,
    /// True when part of `cost_usd` is Cortex's estimate.
    pub cost_estimated: bool,
    /// Its attempts' run time summed, in seconds (a running one until now).
    pub duration_secs: f64,
    /// Its attempts, oldest first.
    pub attempts: Vec<AttemptStory>,
    /// Where its work started in git; None outside git or before its first attempt.
    pub base: Option<WorkBase>,
    /// What its part changed.
    pub changes: Changes,
}

/// `cortex show`: a task's whole story.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStory {
    /// The task, as `cortex tasks` shows it.
    #[serde(flatten)]
    pub task: TaskDto,
    /// Summed over every attempt of every worker. Its cost is the task's
    /// (`cost_usd`, `cost_estimated`), running attempts included.
    pub tokens: Tokens,
    /// Seconds run, summed over every attempt of every worker.
    pub duration_secs: f64,
    /// Attempts made, over every worker.
    pub attempts: usize,
    /// Its workers, oldest first.
    pub workers: Vec<WorkerStory>,
    /// The changes of the primary expert's part (each worker carries its
    /// own); none before a worker started.
    pub changes: Option<Changes>,
}

/// What `cortex merge` asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeRequest {
    /// The task whose work to merge (its id, or the id's body).
    pub task_id: String,
    /// The expert whose part to merge; needed when the task has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expert: Option<String>,
    /// The branch to merge into; None for the branch checked out when the work started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub into: Option<String>,
    /// Bring the work as one new commit on top of `into` instead of merging its branch.
    #[serde(default)]
    pub squash: bool,
}

/// What `cortex merge` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeDto {
    /// The task merged.
    pub task_id: TaskId,
    /// The expert whose part was merged.
    pub expert: String,
    /// The worktree's branch that was merged.
    pub branch: String,
    /// The branch merged into.
    pub into: String,
    /// The tip of `into` afterwards.
    pub commit: String,
    /// The commit that took the worktree's uncommitted changes, if any.
    pub committed_changes: Option<String>,
    /// True when `into` was only moved forward to the work's tip (no merge commit).
    pub fast_forward: bool,
    /// True when the work was brought as one commit (`--squash`).
    pub squash: bool,
    /// True when `into` already had everything: nothing changed.
    pub already_merged: bool,
    /// Where `into` is checked out and was updated, if it is.
    pub checked_out_in: Option<String>,
    /// The files the merge changed in `into`.
    pub files: Vec<FileChange>,
}

/// What `cortex worktree remove` did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoveDto {
    /// The task whose worktree was removed.
    pub task_id: TaskId,
    /// The expert whose part's worktree it was.
    pub expert: String,
    /// The worktree's folder, now gone.
    pub worktree: String,
    /// The branch, kept: its commits are never deleted.
    pub branch: String,
    /// True when the base branch already held the work (as `show` says
    /// it); false when it did not, or there was no work.
    pub merged: bool,
    /// True when the work changed any file since it started.
    #[serde(default = "changed_by_default")]
    pub changed: bool,
    /// True when the worktree had uncommitted changes (lost: only `--force` removes it then).
    pub had_uncommitted: bool,
    /// True when `--force` was given.
    pub forced: bool,
}

/// Answers from before `changed` was sent said nothing of it.
fn changed_by_default() -> bool {
    true
}

mod git;
mod merge;
mod places;
mod show;
mod start;

pub(crate) use git::*;
pub(crate) use merge::*;
pub(crate) use places::*;
pub use show::*;
pub(crate) use start::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock;
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
    fn a_long_first_line_is_cut_at_a_word_in_the_subject_and_kept_whole_in_the_body() {
        let mut f = fixture();
        let long = "Fix the crash in the parser when the input file ends without a trailing newline and also report the column";
        f.task.description = format!("{long}\nsecond line");
        let m = merge::message_for(&f.task, "development");
        let subject = m.lines().next().unwrap();
        assert!(subject.chars().count() <= 72, "{subject}");
        assert_eq!(
            subject,
            "Fix the crash in the parser when the input file ends without a trailing…"
        );
        assert!(
            m.contains(&format!(
                "\n\n{long}\nsecond line\n\nCortex-Task: {}",
                f.task.id
            )),
            "{m}"
        );
        // A short one is the subject alone, as before.
        f.task.description = "add a file\nwith care".into();
        assert!(merge::message_for(&f.task, "development")
            .starts_with("add a file\n\nwith care\n\nCortex-Task: "));
    }

    #[test]
    fn a_commit_message_keeps_the_tasks_words_and_hides_its_secrets() {
        let mut f = fixture();
        f.task.description = "Replace the manual download with hf_hub_download in fetch.py\nread npm_config_registry; secret: enabled; deploy with PGPASSWORD=Hunter2Hunter2xyz".into();
        let m = merge::message_for(&f.task, "development");
        assert!(
            m.starts_with(
                "Replace the manual download with hf_hub_download in fetch.py\n\nread npm_config_registry; secret: enabled; deploy with PGPASSWORD=[redacted]\n\nCortex-Task: "
            ),
            "{m}"
        );
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

    /// The agent adds `new.txt` in its worktree and commits it itself.
    fn agent_commits_a_file(f: &Fixture) {
        std::fs::write(f.wt.join("new.txt"), "new\n").unwrap();
        sh(&f.wt, &["add", "new.txt"]);
        sh(&f.wt, &["commit", "-q", "-m", "the agent's own commit"]);
    }

    fn merged_into(f: &Fixture) -> Option<String> {
        changes_of(&f.home, &f.task, &f.worker, false).0.merged_into
    }

    #[test]
    fn work_brought_in_by_a_squash_is_merged_and_is_not_merged_twice() {
        let f = fixture();
        assert_eq!(merged_into(&f), None, "nothing changed yet");
        agent_commits_a_file(&f);
        assert_eq!(merged_into(&f), None, "not in main yet");
        let m = merge(&f, None, true).unwrap();
        assert!(m.squash && !m.already_merged, "{m:?}");
        assert_eq!(merged_into(&f).as_deref(), Some("main"));
        // The branch's commit is not in main's history, its content is: a
        // second merge has nothing to bring and makes no commit.
        let again = merge(&f, None, false).unwrap();
        assert!(again.already_merged, "{again:?}");
        assert_eq!(sh(&f.repo, &["rev-parse", "main"]), m.commit);
        // Work the worktree gets afterwards is not merged.
        std::fs::write(f.wt.join("new.txt"), "newer\n").unwrap();
        assert_eq!(merged_into(&f), None);
    }

    #[test]
    fn work_merged_into_another_branch_is_said_to_be_there_and_not_in_main() {
        let f = fixture();
        sh(&f.repo, &["branch", "release", "main"]);
        sh(&f.repo, &["branch", "cortex/t-other", "main"]);
        // A tag named as the base branch does not make the base "elsewhere".
        sh(&f.repo, &["tag", "main"]);
        agent_commits_a_file(&f);
        let elsewhere = |f: &Fixture| {
            changes_of(&f.home, &f.task, &f.worker, false)
                .0
                .merged_elsewhere
        };
        assert!(elsewhere(&f).is_empty(), "merged nowhere yet");
        let m = merge(&f, Some("release"), true).unwrap();
        assert!(m.squash && m.into == "release", "{m:?}");
        assert_eq!(elsewhere(&f), vec!["release".to_string()]);
        assert_eq!(merged_into(&f), None, "main does not have it");
        // Another task's branch holding it is not a merge a person made.
        sh(&f.repo, &["branch", "-f", "cortex/t-other", "release"]);
        assert_eq!(elsewhere(&f), vec!["release".to_string()]);
        merge(&f, None, false).unwrap();
        assert_eq!(merged_into(&f).as_deref(), Some("main"));
        assert_eq!(elsewhere(&f), vec!["release".to_string()], "both now");
    }

    #[test]
    fn where_work_is_merged_is_said_as_the_app_says_it() {
        let f = fixture();
        let mut c = changes_of(&f.home, &f.task, &f.worker, false).0;
        assert_eq!(c.merged_where(), None);
        c.merged_elsewhere = vec!["release".into()];
        assert_eq!(
            c.merged_where().as_deref(),
            Some("merged into release, not into main")
        );
        c.merged_into = Some("main".into());
        c.merged_elsewhere.push("next".into());
        assert_eq!(
            c.merged_where().as_deref(),
            Some("merged into main, release and next")
        );
    }

    #[test]
    fn a_merged_branch_stays_merged_when_main_changes_its_files_later() {
        let f = fixture();
        std::fs::write(f.wt.join("README"), "the task's\n").unwrap();
        let m = merge(&f, None, false).unwrap();
        assert!(m.fast_forward, "{m:?}");
        assert_eq!(merged_into(&f).as_deref(), Some("main"));
        std::fs::write(f.repo.join("README"), "edited after the merge\n").unwrap();
        sh(&f.repo, &["commit", "-q", "-a", "-m", "later"]);
        assert_eq!(merged_into(&f).as_deref(), Some("main"), "in its history");
    }

    #[test]
    fn work_undone_after_a_merge_is_not_called_merged_and_merges_again() {
        let f = fixture();
        std::fs::write(f.wt.join("README"), "the task's\n").unwrap();
        std::fs::write(f.wt.join("g.txt"), "g\n").unwrap();
        merge(&f, None, false).unwrap();
        assert_eq!(merged_into(&f).as_deref(), Some("main"));
        // A reply has the worker take g.txt back out: main still has it.
        std::fs::remove_file(f.wt.join("g.txt")).unwrap();
        assert_eq!(merged_into(&f), None, "uncommitted undo");
        sh(&f.wt, &["commit", "-q", "-a", "-m", "undo g"]);
        assert_eq!(merged_into(&f), None, "committed undo");
        let m = merge(&f, None, false).unwrap();
        assert!(!m.already_merged, "{m:?}");
        assert!(!f.repo.join("g.txt").exists(), "the undo reached main");
        assert_eq!(merged_into(&f).as_deref(), Some("main"));
    }

    #[test]
    fn squashed_work_stays_merged_when_main_edits_the_same_file_elsewhere() {
        let f = fixture();
        std::fs::write(f.repo.join("README"), "one\ntwo\nthree\nfour\nfive\n").unwrap();
        sh(&f.repo, &["commit", "-q", "-a", "-m", "longer"]);
        sh(&f.wt, &["merge", "-q", "main"]);
        std::fs::write(f.wt.join("README"), "ONE\ntwo\nthree\nfour\nfive\n").unwrap();
        merge(&f, None, true).unwrap();
        std::fs::write(f.repo.join("README"), "ONE\ntwo\nthree\nfour\nFIVE\n").unwrap();
        sh(&f.repo, &["commit", "-q", "-a", "-m", "later, elsewhere"]);
        assert_eq!(merged_into(&f).as_deref(), Some("main"));
        assert!(merge(&f, None, false).unwrap().already_merged);
        // A worktree moved off its own branch is never called merged.
        sh(&f.wt, &["checkout", "-q", "--detach", "main"]);
        assert_eq!(merged_into(&f), None);
    }

    #[test]
    fn a_removed_worktrees_kept_branch_still_shows_its_changes_and_merges() {
        let f = fixture();
        agent_commits_a_file(&f);
        let place = place_of(&f.home, &f.task, &f.worker);
        remove_worktree(&f.task, &f.worker, place, false).unwrap();
        assert!(!f.wt.exists());
        let (c, _) = changes_of(&f.home, &f.task, &f.worker, false);
        assert!(c.worktree_removed && c.merged_into.is_none(), "{c:?}");
        assert_eq!(c.files.len(), 1, "{c:?}");
        assert_eq!(c.files[0].path, "new.txt");
        let m = merge(&f, None, false).unwrap();
        assert!(m.fast_forward && m.committed_changes.is_none(), "{m:?}");
        assert_eq!(sh(&f.repo, &["show", "main:new.txt"]), "new");
        assert_eq!(merged_into(&f).as_deref(), Some("main"));
        let place = place_of(&f.home, &f.task, &f.worker);
        let err = remove_worktree(&f.task, &f.worker, place, true).unwrap_err();
        assert!(err.to_string().contains("was removed already"), "{err}");
    }

    #[test]
    fn removing_uncommitted_work_by_force_never_calls_it_merged() {
        let f = fixture();
        std::fs::write(f.wt.join("new.txt"), "new\n").unwrap();
        let place = place_of(&f.home, &f.task, &f.worker);
        let r = remove_worktree(&f.task, &f.worker, place, true).unwrap();
        assert!(r.had_uncommitted && r.changed && !r.merged, "{r:?}");
    }

    #[test]
    fn removing_a_worktree_that_changed_nothing_says_so_not_merged() {
        let f = fixture();
        let place = place_of(&f.home, &f.task, &f.worker);
        let r = remove_worktree(&f.task, &f.worker, place, false).unwrap();
        assert!(!r.changed && !r.merged && !r.had_uncommitted, "{r:?}");
    }

    #[test]
    fn a_part_whose_agent_never_started_has_nothing_to_merge() {
        let mut f = fixture();
        std::fs::write(f.wt.join("new.txt"), "new\n").unwrap();
        let mut failed = cortex_core::worker::Attempt::started(1, clock::now(), None);
        failed.outcome = Some(cortex_core::stream::Outcome::bare(
            cortex_core::stream::OutcomeKind::SpawnFailed,
            "not found",
        ));
        f.worker.attempts.push(failed);
        let err = merge(&f, None, false).unwrap_err().to_string();
        assert!(err.contains("never started its agent"), "{err}");
        assert_eq!(
            sh(&f.repo, &["rev-parse", "main"]),
            f.start,
            "main untouched"
        );
    }

    #[test]
    fn a_removed_worktrees_work_still_reaches_its_dependents_and_the_goals_check() {
        let f = fixture();
        agent_commits_a_file(&f);
        let tip = sh(&f.wt, &["rev-parse", "HEAD"]);
        assert!(matches!(work_of(&f.home, &f.worker), Some(Work::Folder(_))));
        let place = place_of(&f.home, &f.task, &f.worker);
        remove_worktree(&f.task, &f.worker, place, false).unwrap();
        let work = work_of(&f.home, &f.worker).expect("the kept branch");
        assert!(
            matches!(&work, Work::Commit { commit, .. } if *commit == tip),
            "{work:?}"
        );
        // A dependent task starts from it.
        assert_eq!(
            start_point(&[(work.clone(), "a".into())], &[]).unwrap(),
            Some(tip)
        );
        // The goal's check runs on it, merged onto the base.
        let merged = merged_work(&f.repo, &f.start, &[("plan task a".into(), work)]).unwrap();
        assert_eq!(sh(&f.repo, &["show", &format!("{merged}:new.txt")]), "new");
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
            &Default::default(),
            &Default::default(),
            clock::now(),
        );
        let repo = f.worker.base.as_ref().map(|b| b.repo.clone());
        assert!(repo.is_some());
        assert_eq!(story.task.project, repo);
        let none = story_of(
            &f.home,
            &f.task,
            &[],
            &Default::default(),
            &Default::default(),
            clock::now(),
        );
        assert_eq!(none.task.project, None);
    }

    #[test]
    fn a_storys_tokens_too_many_to_add_stay_at_the_largest_count() {
        let mut f = fixture();
        f.worker.tokens.input = u64::MAX;
        let both = [f.worker.clone(), f.worker.clone()];
        let s = story_of(
            &f.home,
            &f.task,
            &both,
            &Default::default(),
            &Default::default(),
            clock::now(),
        );
        assert_eq!(s.tokens.input, u64::MAX);
    }

    #[test]
    fn a_running_attempt_counts_in_the_story_as_the_workers_list_counts_it() {
        let mut f = fixture();
        let attempt = |n: u32, ended: bool| cortex_core::worker::Attempt {
            resumed: n > 1,
            ended_at: ended.then(clock::now),
            outcome: ended.then(|| {
                let mut o = cortex_core::stream::Outcome::bare(
                    cortex_core::stream::OutcomeKind::Lost,
                    "killed",
                );
                o.cost_usd = 0.02;
                o.cost_estimated = true;
                o
            }),
            ..cortex_core::worker::Attempt::started(n, clock::now(), None)
        };
        // Attempt 1 was killed (its cost estimated), attempt 2 runs.
        f.worker.attempts = vec![attempt(1, true), attempt(2, false)];
        f.worker.cost_usd = 0.02;
        f.worker.cost_estimated = true;
        f.worker.tokens.input = 1000;
        f.task.cost_usd = 0.02;
        let running = crate::runtime::AttemptFigures {
            n: 2,
            tokens: crate::runtime::TokenDto {
                input: 300,
                output: 40,
            },
            cost_usd: 0.005,
            cost_estimated: true,
            queued: false,
        };
        let story_with = |figures: crate::runtime::AttemptFigures| {
            let live = [(f.worker.id.clone(), figures)].into_iter().collect();
            story_of(
                &f.home,
                &f.task,
                std::slice::from_ref(&f.worker),
                &live,
                &Default::default(),
                clock::now(),
            )
        };
        let s = story_with(running);
        let w = &s.workers[0];
        assert_eq!(w.attempts[1].cost_usd, 0.005);
        assert!(w.attempts[1].cost_estimated);
        assert_eq!(w.attempts[1].tokens.input, 300);
        assert_eq!(
            w.attempts[0].cost_usd, 0.02,
            "the ended attempt as recorded"
        );
        assert!((w.cost_usd - 0.025).abs() < 1e-9, "{}", w.cost_usd);
        assert_eq!(w.tokens.input, 1300);
        assert!(
            (s.task.cost_usd - 0.025).abs() < 1e-9,
            "{}",
            s.task.cost_usd
        );
        assert!(s.task.cost_estimated);
        assert_eq!(s.tokens.output, 40);
        // The story is read back as it was written: no key twice.
        let json = serde_json::to_string(&s).unwrap();
        let back: TaskStory = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
        assert_eq!(back, s);
        // Figures of an attempt that is not the running one are not added.
        let s = story_with(crate::runtime::AttemptFigures { n: 1, ..running });
        assert_eq!(s.workers[0].attempts[1].cost_usd, 0.0);
        assert_eq!(s.workers[0].cost_usd, 0.02);
        assert_eq!(s.task.cost_usd, 0.02);
    }
}
