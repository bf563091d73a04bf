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
use crate::engine::{Engine, TaskDto};
use crate::error::EngineError;
use crate::home::Home;

/// A worker's check, as views show it. `null` in place of the whole object
/// means the task was not verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationDto {
    pub command: String,
    /// None while the check runs.
    pub passed: Option<bool>,
    pub exit_code: Option<i32>,
    pub rounds: u32,
    pub output_tail: Option<String>,
}

impl From<&cortex_core::worker::Verification> for VerificationDto {
    fn from(v: &cortex_core::worker::Verification) -> Self {
        Self {
            command: v.command.clone(),
            passed: v.passed,
            exit_code: v.exit_code,
            rounds: v.rounds,
            output_tail: v.output_tail.as_deref().map(redact),
        }
    }
}

/// A task's verification from its workers' checks. With several experts,
/// the part that decides is shown: the first whose check failed, else one
/// whose check still runs, else the latest that passed.
pub fn task_verification<'a>(workers: impl Iterator<Item = &'a Worker>) -> Option<VerificationDto> {
    let checks: Vec<&cortex_core::worker::Verification> =
        workers.filter_map(|w| w.verification.as_ref()).collect();
    checks
        .iter()
        .find(|v| v.passed == Some(false))
        .or_else(|| checks.iter().find(|v| v.passed.is_none()))
        .or_else(|| checks.last())
        .map(|v| VerificationDto::from(*v))
}

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

// ---------------------------------------------------------------- git

struct Run {
    ok: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs git in `dir` with a fixed argument list, extra environment and
/// optional stdin.
fn run(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    input: Option<&[u8]>,
) -> Result<Run, String> {
    let mut cmd = Command::new("git");
    cmd.arg("--no-optional-locks")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run git in {}: {e}", dir.display()))?;
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(bytes)
            .map_err(|e| format!("cannot write to git in {}: {e}", dir.display()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("git in {} failed: {e}", dir.display()))?;
    Ok(Run {
        ok: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// Runs git and requires success: its stdout, or an error naming the
/// repository and the command.
fn git_env(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    input: Option<&[u8]>,
) -> Result<String, String> {
    let r = run(dir, args, env, input)?;
    if r.ok {
        Ok(r.stdout)
    } else {
        Err(format!(
            "git {} failed in {}: {}",
            args.first().copied().unwrap_or_default(),
            dir.display(),
            r.stderr
        ))
    }
}

/// Where a dependent worktree task starts: its dependencies' work merged
/// together. Each dependency's uncommitted changes are first committed on
/// its own branch (it has ended), so that merging the plan in order later
/// finds the dependent's branch built on them. `None` without
/// dependencies' work; an error naming the files when their work conflicts.
pub(crate) fn start_point(deps: &[PathBuf]) -> Result<Option<String>, String> {
    let identity = CORTEX_IDENTITY;
    let mut start: Option<(PathBuf, String)> = None;
    for dep in deps {
        let dirty = !git(dep, &["status", "--porcelain"])?.trim().is_empty();
        if dirty {
            git(dep, &["add", "-A"])?;
            git_env(
                dep,
                &[
                    "commit",
                    "-q",
                    "-m",
                    "cortex: the task's work, for the tasks that depend on it",
                ],
                &identity,
                None,
            )?;
        }
        let head = git_line(dep, &["rev-parse", "HEAD"])?;
        start = Some(match start {
            None => (dep.clone(), head),
            Some((dir, so_far)) => {
                let r = run(
                    &dir,
                    &["merge-tree", "--write-tree", "--name-only", &so_far, &head],
                    &[],
                    None,
                )?;
                let mut lines = r.stdout.lines();
                let tree = lines.next().unwrap_or_default().trim().to_string();
                if r.code == Some(1) {
                    let files: Vec<&str> = lines.take_while(|l| !l.trim().is_empty()).collect();
                    return Err(format!(
                        "the work of its dependencies conflicts in {}",
                        files.join(", ")
                    ));
                }
                if !r.ok {
                    return Err(format!(
                        "git merge-tree failed in {}: {}",
                        dir.display(),
                        r.stderr
                    ));
                }
                let merged = git_env(
                    &dir,
                    &[
                        "commit-tree",
                        &tree,
                        "-p",
                        &so_far,
                        "-p",
                        &head,
                        "-m",
                        "cortex: the work of the dependencies",
                    ],
                    &identity,
                    None,
                )?
                .trim()
                .to_string();
                (dir, merged)
            }
        });
    }
    Ok(start.map(|(_, c)| c))
}

/// The identity of the commits Cortex makes itself.
const CORTEX_IDENTITY: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "Cortex"),
    ("GIT_AUTHOR_EMAIL", "cortex@localhost"),
    ("GIT_COMMITTER_NAME", "Cortex"),
    ("GIT_COMMITTER_EMAIL", "cortex@localhost"),
];

/// The work of `parts` (a label and a worktree each, in dependency order)
/// merged one after the other onto `start`, a commit of `repo`, as a
/// commit no branch points at. A part's uncommitted changes are taken as
/// they are, and no branch of theirs moves. An error naming the part and
/// the files where its work conflicts with what was merged before it.
pub(crate) fn merged_work(
    repo: &Path,
    start: &str,
    parts: &[(String, PathBuf)],
) -> Result<String, String> {
    let mut so_far = start.to_string();
    for (label, wt) in parts {
        let head = git_line(wt, &["rev-parse", "HEAD"])?;
        let head_tree = git_line(wt, &["rev-parse", "HEAD^{tree}"])?;
        let tree = working_tree(wt)?;
        let tip = if tree == head_tree {
            head
        } else {
            let message = format!("cortex: the uncommitted work of {label}");
            git_env(
                wt,
                &["commit-tree", &tree, "-p", &head, "-m", &message],
                &CORTEX_IDENTITY,
                None,
            )?
            .trim()
            .to_string()
        };
        if is_ancestor(repo, &tip, &so_far) {
            continue;
        }
        if is_ancestor(repo, &so_far, &tip) {
            so_far = tip;
            continue;
        }
        let r = run(
            repo,
            &[
                "merge-tree",
                "--write-tree",
                "--name-only",
                "--no-messages",
                &so_far,
                &tip,
            ],
            &[],
            None,
        )?;
        let mut lines = r.stdout.lines();
        let merged_tree = lines.next().unwrap_or_default().trim().to_string();
        if r.code == Some(1) {
            let mut files: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
            files.dedup();
            return Err(format!(
                "the work of {label} conflicts with the work merged before it in {}",
                files.join(", ")
            ));
        }
        if !r.ok {
            return Err(format!(
                "git merge-tree failed in {}: {}",
                repo.display(),
                r.stderr
            ));
        }
        let message = format!("cortex: merge {label}");
        so_far = git_env(
            repo,
            &[
                "commit-tree",
                &merged_tree,
                "-p",
                &so_far,
                "-p",
                &tip,
                "-m",
                &message,
            ],
            &CORTEX_IDENTITY,
            None,
        )?
        .trim()
        .to_string();
    }
    Ok(so_far)
}

/// The commit branch `branch` of `repo` points at, if it exists.
pub(crate) fn branch_tip(repo: &Path, branch: &str) -> Option<String> {
    git_line(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}^{{commit}}"),
        ],
    )
    .ok()
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    git_env(dir, args, &[], None)
}

fn git_line(dir: &Path, args: &[&str]) -> Result<String, String> {
    git(dir, args).map(|s| s.trim().to_string())
}

fn is_ancestor(dir: &Path, a: &str, b: &str) -> bool {
    run(dir, &["merge-base", "--is-ancestor", a, b], &[], None).is_ok_and(|r| r.ok)
}

/// True when some folder from `dir` up holds a `.git`: only then is git
/// asked anything (most workers outside git then cost no process).
fn inside_git(dir: &Path) -> bool {
    dir.ancestors().any(|d| d.join(".git").exists())
}

/// `refs/heads/x` as `x`; None for a detached HEAD.
fn branch_of(symbolic: &str) -> Option<String> {
    symbolic.strip_prefix("refs/heads/").map(str::to_string)
}

/// The top level, HEAD commit and checked-out branch of the repository
/// holding `dir`.
fn head_of(dir: &Path) -> Result<(String, String, Option<String>), String> {
    let out = git(
        dir,
        &[
            "rev-parse",
            "--show-toplevel",
            "HEAD",
            "--symbolic-full-name",
            "HEAD",
        ],
    )?;
    let mut lines = out.lines();
    match (lines.next(), lines.next(), lines.next()) {
        (Some(top), Some(commit), Some(sym)) => {
            Ok((top.to_string(), commit.to_string(), branch_of(sym.trim())))
        }
        _ => Err(format!(
            "git rev-parse in {} said too little",
            dir.display()
        )),
    }
}

static INDEX_SEQ: AtomicU64 = AtomicU64::new(0);

/// The tree of `dir`'s working tree as it is now: tracked changes and new
/// files (not ignored ones), read through a temporary copy of the index.
fn working_tree(dir: &Path) -> Result<String, String> {
    let real = git_line(dir, &["rev-parse", "--git-path", "index"])?;
    let real = if Path::new(&real).is_absolute() {
        PathBuf::from(real)
    } else {
        dir.join(real)
    };
    let tmp = std::env::temp_dir().join(format!(
        "cortex-index-{}-{}",
        std::process::id(),
        INDEX_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        if real.exists() {
            std::fs::copy(&real, &tmp)
                .map_err(|e| format!("cannot copy the index of {}: {e}", dir.display()))?;
        }
        let tmp_s = tmp.to_string_lossy().into_owned();
        let env = [("GIT_INDEX_FILE", tmp_s.as_str())];
        git_env(dir, &["add", "-A"], &env, None)?;
        git_env(dir, &["write-tree"], &env, None).map(|s| s.trim().to_string())
    })();
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_file(tmp.with_extension("lock"));
    result
}

/// Files changed between two tree-ish, with line counts.
fn numstat(dir: &Path, from: &str, to: &str) -> Result<Vec<FileChange>, String> {
    let out = git(
        dir,
        &[
            "diff",
            "--numstat",
            "-z",
            "--no-renames",
            "--no-ext-diff",
            from,
            to,
            "--",
        ],
    )?;
    let mut files = Vec::new();
    for entry in out.split('\0').filter(|e| !e.is_empty()) {
        let mut parts = entry.splitn(3, '\t');
        let (Some(a), Some(r), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        files.push(FileChange {
            path: path.to_string(),
            added: a.parse().ok(),
            removed: r.parse().ok(),
        });
    }
    Ok(files)
}

fn patch(dir: &Path, from: &str, to: &str) -> Result<String, String> {
    git(
        dir,
        &[
            "diff",
            "--no-color",
            "--no-ext-diff",
            "--no-renames",
            from,
            to,
            "--",
        ],
    )
}

// ---------------------------------------------------------------- start

/// Where a worker's work starts in git, as its first attempt starts: the
/// journal event to record, or None outside git.
pub(crate) fn base_event(home: &Home, worker: &Worker, source: Option<&str>) -> Option<Event> {
    let workdir = Path::new(&worker.workdir);
    let isolated = crate::worktree::name_of(home, workdir).is_some();
    let (repo, commit, branch, worktree_branch) = if isolated {
        let source = Path::new(source?);
        let (repo, _, branch) = head_of(source).ok()?;
        let (_, commit, own) = head_of(workdir).ok()?;
        (repo, commit, branch, own)
    } else {
        if !inside_git(workdir) {
            return None;
        }
        let (repo, commit, branch) = head_of(workdir).ok()?;
        (repo, commit, branch, None)
    };
    Some(Event::WorkerBase {
        worker_id: worker.id.clone(),
        repo,
        commit,
        branch,
        worktree_branch,
    })
}

// ---------------------------------------------------------------- places

/// Where one worker's work is, for diff and merge.
enum Place {
    Worktree {
        wt: PathBuf,
        repo: PathBuf,
        base: WorkBase,
        branch: String,
    },
    Checkout {
        repo: PathBuf,
        base: WorkBase,
    },
    Nothing(String),
}

fn place_of(home: &Home, task: &Task, w: &Worker) -> Place {
    let workdir = Path::new(&w.workdir);
    if crate::worktree::name_of(home, workdir).is_some() {
        if !workdir.join(".git").exists() {
            return Place::Nothing(format!(
                "its worktree {} is not there (removed, or never created)",
                workdir.display()
            ));
        }
        let base = match &w.base {
            Some(b) => b.clone(),
            // Recorded before bases were: the fork point from the source's HEAD.
            None => match fallback_base(task, workdir) {
                Ok(b) => b,
                Err(e) => return Place::Nothing(e),
            },
        };
        let branch = match base.worktree_branch.clone() {
            Some(b) => b,
            None => match head_of(workdir) {
                Ok((_, _, Some(b))) => b,
                _ => return Place::Nothing(format!("{} is on no branch", workdir.display())),
            },
        };
        return Place::Worktree {
            wt: workdir.to_path_buf(),
            repo: PathBuf::from(&base.repo),
            base,
            branch,
        };
    }
    match &w.base {
        Some(b) => Place::Checkout {
            repo: PathBuf::from(&b.repo),
            base: b.clone(),
        },
        None if inside_git(workdir) && head_of(workdir).is_ok() => Place::Nothing(format!(
            "no commit was recorded when it started in {}: there is nothing to compare with",
            workdir.display()
        )),
        None => Place::Nothing(format!(
            "it ran in {}, which is not in a git repository: there is nothing to diff",
            workdir.display()
        )),
    }
}

fn fallback_base(task: &Task, wt: &Path) -> Result<WorkBase, String> {
    let source = task
        .workdir
        .as_deref()
        .ok_or_else(|| "the task has no recorded folder".to_string())?;
    let (repo, source_head, branch) = head_of(Path::new(source))?;
    let (_, wt_head, own) = head_of(wt)?;
    let commit = git_line(wt, &["merge-base", &wt_head, &source_head])?;
    Ok(WorkBase {
        repo,
        commit,
        branch,
        worktree_branch: own,
    })
}

/// The worker's changes now, relative to where it started.
fn changes_of(home: &Home, task: &Task, w: &Worker, with_patch: bool) -> (Changes, Option<String>) {
    let mut c = Changes {
        kind: ChangesKind::None,
        expert: w.expert.clone(),
        worker_id: w.id.to_string(),
        branch: None,
        base: None,
        base_branch: None,
        repo: None,
        workdir: w.workdir.clone(),
        files: Vec::new(),
        may_include_others: false,
        message: None,
    };
    let (dir, base) = match place_of(home, task, w) {
        Place::Nothing(why) => {
            c.message = Some(why);
            return (c, None);
        }
        Place::Worktree {
            wt, base, branch, ..
        } => {
            c.kind = ChangesKind::Worktree;
            c.branch = Some(branch);
            (wt, base)
        }
        Place::Checkout { repo, base } => {
            c.kind = ChangesKind::InPlace;
            c.branch.clone_from(&base.branch);
            c.may_include_others = true;
            c.message = Some(format!(
                "it ran in place in {}: these are the changes since commit {} and may include other people's edits",
                repo.display(),
                short(&base.commit)
            ));
            (repo, base)
        }
    };
    c.base = Some(base.commit.clone());
    c.base_branch.clone_from(&base.branch);
    c.repo = Some(base.repo.clone());
    let found = working_tree(&dir).and_then(|tree| {
        let files = numstat(&dir, &base.commit, &tree)?;
        let p = if with_patch {
            Some(patch(&dir, &base.commit, &tree)?)
        } else {
            None
        };
        Ok((files, p))
    });
    match found {
        Ok((files, p)) => {
            c.files = files;
            (c, p)
        }
        Err(e) => {
            c.message = Some(e);
            (c, None)
        }
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

// ---------------------------------------------------------------- lookups

/// A task and its workers, cloned out of the state.
fn task_and_workers(
    state: &cortex_core::state::State,
    id: &str,
) -> Result<(Task, Vec<Worker>), EngineError> {
    let task = TaskId::parse(id)
        .and_then(|tid| state.task(&tid).cloned())
        .ok_or_else(|| EngineError::UnknownTask(id.to_string()))?;
    let mut workers: Vec<Worker> = state
        .workers()
        .filter(|w| w.task_id == task.id)
        .cloned()
        .collect();
    workers.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok((task, workers))
}

/// The worker whose work a command acts on: the latest of `expert`, or of
/// the only expert (or workdir) the task has.
fn pick<'a>(
    task: &Task,
    workers: &'a [Worker],
    expert: Option<&str>,
) -> Result<&'a Worker, EngineError> {
    let mut latest: BTreeMap<&str, &Worker> = BTreeMap::new();
    for w in workers {
        latest.insert(w.expert.as_str(), w);
    }
    if let Some(e) = expert {
        return latest.get(e).copied().ok_or_else(|| {
            EngineError::BadValue(format!(
                "task {} has no worker of expert `{e}`; its experts: {}",
                task.id,
                names(&latest)
            ))
        });
    }
    let mut dirs: Vec<&str> = latest.values().map(|w| w.workdir.as_str()).collect();
    dirs.dedup();
    match (latest.len(), dirs.len()) {
        (0, _) => Err(EngineError::BadValue(format!(
            "task {} has no worker yet: nothing has changed",
            task.id
        ))),
        (_, 1) => Ok(primary(task, &latest)),
        _ => Err(EngineError::BadValue(format!(
            "task {} has parts by several experts ({}), each in its own worktree: name one with --expert",
            task.id,
            names(&latest)
        ))),
    }
}

fn names(latest: &BTreeMap<&str, &Worker>) -> String {
    latest.keys().copied().collect::<Vec<_>>().join(", ")
}

fn primary<'a>(task: &Task, latest: &BTreeMap<&str, &'a Worker>) -> &'a Worker {
    let main = task.routing.as_ref().map(|r| r.primary_expert.as_str());
    main.and_then(|m| latest.get(m).copied())
        .or_else(|| latest.values().next().copied())
        .unwrap_or_else(|| unreachable!("called with at least one worker"))
}

// ---------------------------------------------------------------- show

fn secs(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds().max(0) as f64 / 1000.0
}

fn story_of(home: &Home, task: &Task, workers: &[Worker], now: DateTime<Utc>) -> TaskStory {
    let mut dto = TaskDto::from(task);
    dto.verification = task_verification(workers.iter());
    dto.project = workers
        .iter()
        .find_map(|w| w.base.as_ref().map(|b| b.repo.clone()));
    let mut total_tokens = Tokens::default();
    let mut total_secs = 0.0;
    let mut attempts = 0;
    let mut stories = Vec::new();
    for w in workers {
        let mut wsecs = 0.0;
        let list: Vec<AttemptStory> = w
            .attempts
            .iter()
            .map(|a| {
                let d = secs(a.started_at, a.ended_at.unwrap_or(now));
                wsecs += d;
                let o = a.outcome.as_ref();
                AttemptStory {
                    n: a.n,
                    started_at: a.started_at,
                    ended_at: a.ended_at,
                    resumed: a.resumed,
                    outcome: o.and_then(|o| {
                        serde_json::to_value(o.kind)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                    }),
                    reason: o.map(|o| redact(&o.reason)),
                    exit_code: o.and_then(|o| o.exit_code),
                    cost_usd: o.map_or(0.0, |o| o.cost_usd),
                    tokens: o.map(|o| o.tokens).unwrap_or_default(),
                    duration_secs: d,
                }
            })
            .collect();
        attempts += list.len();
        total_secs += wsecs;
        add_tokens(&mut total_tokens, &w.tokens);
        let (changes, _) = changes_of(home, task, w, false);
        stories.push(WorkerStory {
            id: w.id.to_string(),
            expert: w.expert.clone(),
            status: w.status.as_str().to_string(),
            reason: w.reason.as_deref().map(redact),
            workdir: w.workdir.clone(),
            result: w.result.as_deref().map(redact),
            verification: w.verification.as_ref().map(VerificationDto::from),
            tokens: w.tokens,
            cost_usd: w.cost_usd,
            duration_secs: wsecs,
            attempts: list,
            base: w.base.clone(),
            changes,
        });
    }
    let changes = pick(task, workers, None)
        .ok()
        .or_else(|| {
            let main = task.routing.as_ref().map(|r| r.primary_expert.as_str());
            workers
                .iter()
                .rev()
                .find(|w| Some(w.expert.as_str()) == main)
        })
        .and_then(|w| stories.iter().find(|s| s.id == w.id.as_str()))
        .map(|s| s.changes.clone());
    TaskStory {
        task: dto,
        tokens: total_tokens,
        duration_secs: total_secs,
        attempts,
        workers: stories,
        changes,
    }
}

fn add_tokens(sum: &mut Tokens, t: &Tokens) {
    sum.input += t.input;
    sum.output += t.output;
    sum.cache_read += t.cache_read;
    sum.cache_creation += t.cache_creation;
}

/// `cortex show` from the home's files, owned or not.
pub fn show(home: &Home, id: &str) -> Result<TaskStory, EngineError> {
    let state = crate::store::read_view(home)?.0;
    let (task, workers) = task_and_workers(&state, id)?;
    Ok(story_of(home, &task, &workers, clock::now()))
}

/// `cortex diff` from the home's files, owned or not.
pub fn diff(
    home: &Home,
    id: &str,
    expert: Option<&str>,
    stat_only: bool,
) -> Result<DiffDto, EngineError> {
    let state = crate::store::read_view(home)?.0;
    let (task, workers) = task_and_workers(&state, id)?;
    diff_of(home, &task, &workers, expert, stat_only)
}

fn diff_of(
    home: &Home,
    task: &Task,
    workers: &[Worker],
    expert: Option<&str>,
    stat_only: bool,
) -> Result<DiffDto, EngineError> {
    let w = pick(task, workers, expert)?;
    let (changes, patch) = changes_of(home, task, w, !stat_only);
    Ok(DiffDto {
        task_id: task.id.clone(),
        changes,
        patch,
    })
}

// ---------------------------------------------------------------- merge

fn refused(msg: String) -> EngineError {
    EngineError::Refused(msg)
}

fn git_err(msg: String) -> EngineError {
    EngineError::Git(msg)
}

/// The commit message for a task's work: its description (redacted), the
/// first line as the subject, and the task's id.
fn message_for(task: &Task, expert: &str) -> String {
    let text = redact(&task.description);
    let mut lines = text.trim().lines();
    let subject: String = lines
        .next()
        .unwrap_or("cortex task")
        .chars()
        .take(72)
        .collect();
    let rest: Vec<&str> = lines.collect();
    let mut m = subject;
    m.push_str("\n\n");
    if !rest.is_empty() {
        m.push_str(rest.join("\n").trim());
        m.push_str("\n\n");
    }
    m.push_str(&format!("Cortex-Task: {} ({expert})\n", task.id));
    m
}

fn identity_env(merge: &MergeConfig) -> Vec<(&'static str, String)> {
    match merge.author_parts() {
        Some((name, email)) => vec![
            ("GIT_AUTHOR_NAME", name.clone()),
            ("GIT_AUTHOR_EMAIL", email.clone()),
            ("GIT_COMMITTER_NAME", name),
            ("GIT_COMMITTER_EMAIL", email),
        ],
        None => Vec::new(),
    }
}

/// Where `branch` is checked out among the repository's worktrees.
fn checked_out_in(repo: &Path, branch: &str) -> Result<Option<PathBuf>, String> {
    let out = git(repo, &["worktree", "list", "--porcelain"])?;
    let want = format!("branch refs/heads/{branch}");
    let mut path = None;
    for line in out.lines() {
        if let Some(p) = line.strip_prefix("worktree ") {
            path = Some(PathBuf::from(p));
        } else if line == want {
            return Ok(path);
        }
    }
    Ok(None)
}

fn ensure_ended(w: &Worker, what: &str) -> Result<(), EngineError> {
    if w.status.is_terminal() {
        Ok(())
    } else {
        Err(refused(format!(
            "worker {} of expert {} is still {}: {what} once it has ended (or `cortex kill {}`)",
            w.id,
            w.expert,
            w.status.as_str(),
            w.id
        )))
    }
}

/// The worktree of a worker's part, or why there is none to `action`.
fn worktree_of(
    task: &Task,
    place: Place,
    action: &str,
) -> Result<(PathBuf, PathBuf, WorkBase, String), EngineError> {
    match place {
        Place::Worktree {
            wt,
            repo,
            base,
            branch,
        } => Ok((wt, repo, base, branch)),
        Place::Checkout { repo, .. } => Err(refused(format!(
            "task {} ran in place in {}, without a worktree: its changes are already there, there is nothing to {action}",
            task.id,
            repo.display()
        ))),
        Place::Nothing(why) => Err(refused(format!(
            "nothing to {action} for task {}: {why}",
            task.id
        ))),
    }
}

fn merge_worktree(
    task: &Task,
    w: &Worker,
    req: &MergeRequest,
    place: Place,
    merge: &MergeConfig,
) -> Result<MergeDto, EngineError> {
    let (wt, repo, base, branch) = worktree_of(task, place, "merge")?;
    ensure_ended(w, "merge it")?;
    let into = req
        .into
        .clone()
        .or_else(|| base.branch.clone())
        .ok_or_else(|| {
            refused(format!(
                "{} was on no branch when task {} started: name one with --into",
                repo.display(),
                task.id
            ))
        })?;
    if into == branch {
        return Err(refused(format!(
            "{branch} is the task's own branch: name another with --into"
        )));
    }
    let into_ref = format!("refs/heads/{into}");
    let into_tip = git_line(
        &repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{into_ref}^{{commit}}"),
        ],
    )
    .map_err(|_| refused(format!("there is no branch {into} in {}", repo.display())))?;
    let env_owned = identity_env(merge);
    let env: Vec<(&str, &str)> = env_owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let message = message_for(task, &w.expert);

    // 1. The worktree's uncommitted changes as a commit no branch points
    //    at yet: nothing changes until the merge is known to apply.
    let wt_head = git_line(&wt, &["rev-parse", "HEAD"]).map_err(git_err)?;
    let head_tree = git_line(&wt, &["rev-parse", "HEAD^{tree}"]).map_err(git_err)?;
    let tree = working_tree(&wt).map_err(git_err)?;
    let (tip, committed) = if tree == head_tree {
        (wt_head.clone(), None)
    } else {
        let c = git_env(
            &wt,
            &["commit-tree", &tree, "-p", &wt_head, "-F", "-"],
            &env,
            Some(message.as_bytes()),
        )
        .map_err(git_err)?
        .trim()
        .to_string();
        (c.clone(), Some(c))
    };
    let files = numstat(&repo, &into_tip, &tip).unwrap_or_default();
    if is_ancestor(&repo, &tip, &into_tip) {
        return Ok(MergeDto {
            task_id: task.id.clone(),
            expert: w.expert.clone(),
            branch,
            into,
            commit: into_tip,
            committed_changes: None,
            fast_forward: false,
            squash: req.squash,
            already_merged: true,
            checked_out_in: None,
            files: Vec::new(),
        });
    }

    // 2. Conflicts, found without touching any branch or working tree.
    let mt = run(
        &repo,
        &[
            "merge-tree",
            "--write-tree",
            "--name-only",
            "--no-messages",
            &into_tip,
            &tip,
        ],
        &[],
        None,
    )
    .map_err(git_err)?;
    match mt.code {
        Some(0) => {}
        Some(1) => {
            let mut conflicted: Vec<&str> = mt
                .stdout
                .lines()
                .skip(1)
                .filter(|l| !l.is_empty())
                .collect();
            conflicted.dedup();
            return Err(refused(format!(
                "merging {branch} into {into} would conflict in {}: nothing was changed (the base, the branch and the worktree are as they were); resolve it in the worktree {} and merge again",
                conflicted.join(", "),
                wt.display()
            )));
        }
        _ => {
            return Err(git_err(format!(
                "git merge-tree failed in {} (merging needs git 2.38 or later): {}",
                repo.display(),
                mt.stderr
            )))
        }
    }
    let merged_tree = mt
        .stdout
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();

    // 3. The new tip of `into`.
    let fast_forward = !req.squash && is_ancestor(&repo, &into_tip, &tip);
    let new_tip = if fast_forward {
        tip.clone()
    } else if req.squash {
        git_env(
            &repo,
            &["commit-tree", &merged_tree, "-p", &into_tip, "-F", "-"],
            &env,
            Some(message.as_bytes()),
        )
        .map_err(git_err)?
        .trim()
        .to_string()
    } else {
        let text = format!("Merge branch '{branch}' into {into}\n\n{message}");
        git_env(
            &repo,
            &[
                "commit-tree",
                &merged_tree,
                "-p",
                &into_tip,
                "-p",
                &tip,
                "-F",
                "-",
            ],
            &env,
            Some(text.as_bytes()),
        )
        .map_err(git_err)?
        .trim()
        .to_string()
    };

    // 4. Bring it in: through the checkout that has `into`, only if it
    //    applies cleanly to that working tree; else by moving the branch.
    let checkout = checked_out_in(&repo, &into).map_err(git_err)?;
    match &checkout {
        Some(dir) => {
            let r = run(
                dir,
                &["merge", "--ff-only", "--no-edit", "-q", &new_tip],
                &env,
                None,
            )
            .map_err(git_err)?;
            if !r.ok {
                return Err(refused(format!(
                    "{into} is checked out in {} and the merge does not apply cleanly to its working tree: {}; nothing was changed (commit or stash the changes there and merge again)",
                    dir.display(),
                    r.stderr
                )));
            }
        }
        None => {
            git(
                &repo,
                &[
                    "update-ref",
                    "-m",
                    "cortex merge",
                    &into_ref,
                    &new_tip,
                    &into_tip,
                ],
            )
            .map_err(git_err)?;
        }
    }

    // 5. The worktree's branch takes the commit of its changes; its files
    //    stay as they are and now match the branch.
    if let Some(c) = &committed {
        git(
            &wt,
            &[
                "update-ref",
                "-m",
                "cortex merge: commit changes",
                "HEAD",
                c,
                &wt_head,
            ],
        )
        .map_err(git_err)?;
        git(&wt, &["reset", "-q"]).map_err(git_err)?;
    }
    Ok(MergeDto {
        task_id: task.id.clone(),
        expert: w.expert.clone(),
        branch,
        into,
        commit: new_tip,
        committed_changes: committed,
        fast_forward,
        squash: req.squash,
        already_merged: false,
        checked_out_in: checkout.map(|p| p.display().to_string()),
        files,
    })
}

fn remove_worktree(
    task: &Task,
    w: &Worker,
    place: Place,
    force: bool,
) -> Result<RemoveDto, EngineError> {
    let (wt, repo, base, branch) = worktree_of(task, place, "remove")?;
    ensure_ended(w, "remove its worktree")?;
    let status = git(&wt, &["status", "--porcelain", "--untracked-files=all"]).map_err(git_err)?;
    let dirty: Vec<&str> = status.lines().filter(|l| !l.is_empty()).collect();
    let head = git_line(&wt, &["rev-parse", "HEAD"]).map_err(git_err)?;
    let merged = head == base.commit
        || base.branch.as_deref().is_some_and(|b| {
            let tip = format!("refs/heads/{b}");
            is_ancestor(&repo, &head, &tip) || tree_already_in(&repo, &tip, &head)
        });
    if !dirty.is_empty() && !force {
        let shown: Vec<&str> = dirty
            .iter()
            .take(10)
            .map(|l| l.get(3..).unwrap_or(l))
            .collect();
        return Err(refused(format!(
            "the worktree {} has uncommitted changes ({}{}): `cortex merge {}` first, or remove it with --force to lose them",
            wt.display(),
            shown.join(", "),
            if dirty.len() > 10 { ", ..." } else { "" },
            task.id
        )));
    }
    let wt_s = wt.to_string_lossy().into_owned();
    let mut args = vec!["worktree", "remove"];
    if force {
        args.push("--force");
    }
    args.push(&wt_s);
    git(&repo, &args).map_err(git_err)?;
    Ok(RemoveDto {
        task_id: task.id.clone(),
        expert: w.expert.clone(),
        worktree: wt_s,
        branch,
        merged,
        had_uncommitted: !dirty.is_empty(),
        forced: force,
    })
}

/// True when merging `commit` into `tip` would change nothing (a squash
/// merge already brought it).
fn tree_already_in(repo: &Path, tip: &str, commit: &str) -> bool {
    let Ok(r) = run(
        repo,
        &["merge-tree", "--write-tree", "--no-messages", tip, commit],
        &[],
        None,
    ) else {
        return false;
    };
    let tip_tree = git_line(repo, &["rev-parse", &format!("{tip}^{{tree}}")]).unwrap_or_default();
    r.ok && r.stdout.lines().next().map(str::trim) == Some(tip_tree.as_str())
}

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
