//! Where a worker's work is (its worktree, the shared workdir, or gone), the base recorded
//! when its first attempt starts, a task's changes, and finding the task and workers a
//! review is about.
//!
//! May depend on: git (`super::git`), the store's view.

use super::*;

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
pub(crate) enum Place {
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
    /// The worktree was removed (`cortex worktree remove`); its branch,
    /// which Cortex never deletes, still holds the work.
    Branch {
        repo: PathBuf,
        base: WorkBase,
        branch: String,
    },
    Nothing(String),
}

pub(crate) fn place_of(home: &Home, task: &Task, w: &Worker) -> Place {
    let workdir = Path::new(&w.workdir);
    if crate::worktree::name_of(home, workdir).is_some() {
        if !workdir.join(".git").exists() {
            let kept = w.base.as_ref().and_then(|b| {
                let branch = b.worktree_branch.clone()?;
                branch_tip(Path::new(&b.repo), &branch)?;
                Some((b.clone(), branch))
            });
            return match kept {
                Some((base, branch)) => Place::Branch {
                    repo: PathBuf::from(&base.repo),
                    base,
                    branch,
                },
                None => Place::Nothing(format!(
                    "its worktree {} is not there (removed, or never created)",
                    workdir.display()
                )),
            };
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
        // A repository, but no commit to compare with (`git init` only).
        None if inside_git(workdir) => Place::Nothing(format!(
            "it ran in {}, a git repository with no commit when it started: there is nothing to compare with (commit there first)",
            workdir.display()
        )),
        None => Place::Nothing(format!(
            "it ran in {}, which is not in a git repository: there is nothing to diff",
            workdir.display()
        )),
    }
}

pub(crate) fn fallback_base(task: &Task, wt: &Path) -> Result<WorkBase, String> {
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
pub(crate) fn changes_of(
    home: &Home,
    task: &Task,
    w: &Worker,
    with_patch: bool,
) -> (Changes, Option<String>) {
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
        merged_into: None,
        merged_elsewhere: Vec::new(),
        worktree_removed: false,
        message: None,
        unreadable: false,
    };
    if w.never_ran() {
        // In a shared checkout, what changed there is other workers' work.
        c.message = Some("its agent never started, so it changed nothing".into());
        return (c, None);
    }
    let (dir, base) = match place_of(home, task, w) {
        Place::Nothing(why) => {
            c.message = Some(why);
            return (c, None);
        }
        Place::Worktree {
            wt, base, branch, ..
        } => {
            c.kind = ChangesKind::Worktree;
            if let Some(place) = off_branch(&wt, &branch) {
                c.message = Some(format!(
                    "its worktree is {place}, not on the task's branch {branch}: these are the changes checked out there (merge and remove are refused until it is back on {branch})"
                ));
            }
            c.branch = Some(branch);
            (wt, base)
        }
        Place::Branch { repo, base, branch } => {
            c.kind = ChangesKind::Worktree;
            c.worktree_removed = true;
            if crate::worktree::deleted_outside(&repo, Path::new(&w.workdir)) {
                c.message = Some(format!(
                    "its worktree {} was deleted, not removed by Cortex: what it had not committed is lost; {branch} holds what it committed",
                    w.workdir
                ));
            }
            c.branch = Some(branch);
            (repo, base)
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
    let removed = c.worktree_removed;
    let work = if removed {
        // The branch's commit is the work: nothing is uncommitted.
        c.branch
            .as_deref()
            .and_then(|b| branch_tip(&dir, b))
            .ok_or_else(|| "its branch is gone".to_string())
    } else {
        working_tree(&dir)
    };
    let found = work.and_then(|tree| {
        let files = numstat(&dir, &base.commit, &tree)?;
        let p = if with_patch {
            Some(patch(&dir, &base.commit, &tree)?)
        } else {
            None
        };
        Ok((files, p, tree))
    });
    match found {
        Ok((files, p, tree)) => {
            let nested = nested_repos(&dir, &base.commit, &tree);
            if !nested.is_empty() {
                let note = format!(
                    "{} {} a git repository of its own inside the work: none of its files are in these changes, and merge is refused until it is moved out or its .git removed",
                    nested.join(", "),
                    if nested.len() == 1 { "is" } else { "are" }
                );
                c.message = Some(match c.message.take() {
                    Some(m) => format!("{m}; {note}"),
                    None => note,
                });
            }
            if let (ChangesKind::Worktree, Some(own)) = (c.kind, c.branch.as_deref()) {
                // A removed worktree's `tree` is its kept branch's commit.
                let tip = if removed {
                    Some(tree)
                } else {
                    work_on_own_branch(&dir, own, &tree)
                };
                if let Some(t) = tip.as_deref() {
                    c.merged_into = base
                        .branch
                        .as_deref()
                        .filter(|b| holds_all(&dir, b, t, &files))
                        .map(str::to_string);
                    c.merged_elsewhere = other_branches_holding(
                        &dir,
                        (base.branch.as_deref(), own, &base.commit),
                        t,
                        &files,
                    );
                }
            }
            c.files = files;
            (c, p)
        }
        Err(e) => {
            c.message = Some(e);
            c.unreadable = true;
            (c, None)
        }
    }
}

/// True when branch `branch` already holds the work whose commit is `tip`
/// and there is work (`files`): what `cortex merge` would answer "already
/// merged" to (`merge_outcome`).
pub(crate) fn holds_all(dir: &Path, branch: &str, tip: &str, files: &[FileChange]) -> bool {
    !files.is_empty()
        && branch_tip(dir, branch).is_some_and(|into_tip| {
            matches!(merge_outcome(dir, &into_tip, tip), Ok(MergeOutcome::Holds))
        })
}

/// How many of a repository's branches, the most recently committed first,
/// are asked whether they hold a part's work beside its base branch.
pub(crate) const BRANCHES_ASKED: usize = 20;

/// The repository's other local branches that already hold all of this
/// work (as `holds_all` asks it), such as one it was merged into with
/// `cortex merge --into`: neither the base branch, nor the task's own, nor
/// another task's (`cortex/`). Only branches committed to since the work
/// started (`since`, its base commit) can hold it, and of those the
/// `BRANCHES_ASKED` most recent are asked, so an empty answer is no claim
/// about others.
pub(crate) fn other_branches_holding(
    dir: &Path,
    (base, own, since): (Option<&str>, &str, &str),
    tip: &str,
    files: &[FileChange],
) -> Vec<String> {
    if files.is_empty() {
        return Vec::new();
    }
    let started = git_line(dir, &["show", "-s", "--format=%ct", since])
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
        .unwrap_or(0);
    let Ok(out) = git(
        dir,
        &[
            "for-each-ref",
            "--sort=-committerdate",
            "--format=%(committerdate:unix) %(objectname) %(refname:lstrip=2)",
            "refs/heads/",
        ],
    ) else {
        return Vec::new();
    };
    out.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ' ');
            let at = parts.next()?.parse::<i64>().ok()?;
            Some((at, parts.next()?, parts.next()?))
        })
        .take_while(|(at, _, _)| *at >= started)
        .filter(|(_, _, b)| Some(*b) != base && *b != own && !b.starts_with("cortex/"))
        .take(BRANCHES_ASKED)
        .filter(|(_, branch_tip, _)| {
            matches!(merge_outcome(dir, branch_tip, tip), Ok(MergeOutcome::Holds))
        })
        .map(|(_, _, b)| b.to_string())
        .collect()
}

/// The commit of the work in worktree `dir` (working tree `tree`) while it
/// is on the task's branch `own`; None off it, where it holds commits
/// nothing names here, so such work is never called merged.
pub(crate) fn work_on_own_branch(dir: &Path, own: &str, tree: &str) -> Option<String> {
    let on_own = git_line(dir, &["symbolic-ref", "-q", "HEAD"])
        .is_ok_and(|r| branch_of(&r).as_deref() == Some(own));
    on_own.then(|| work_commit(dir, tree).ok()).flatten()
}

/// Where a worker's finished work is, when it ran in a worktree: the
/// worktree, or the branch Cortex kept once it was removed. None in place,
/// or when both are gone.
pub(crate) fn work_of(home: &Home, w: &Worker) -> Option<Work> {
    let dir = Path::new(&w.workdir);
    crate::worktree::name_of(home, dir)?;
    if dir.join(".git").exists() {
        return Some(Work::Folder(dir.to_path_buf()));
    }
    let base = w.base.as_ref()?;
    let repo = PathBuf::from(&base.repo);
    let commit = branch_tip(&repo, base.worktree_branch.as_deref()?)?;
    Some(Work::Commit { repo, commit })
}

pub(crate) fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

// ---------------------------------------------------------------- lookups

/// A task and its workers, cloned out of the state.
pub(crate) fn task_and_workers(
    state: &cortex_core::state::State,
    id: &str,
) -> Result<(Task, Vec<Worker>), EngineError> {
    let Some(tid) = TaskId::parse(id) else {
        return Err(EngineError::BadValue(if id.trim().is_empty() {
            "no task id given: expected one such as t-01m93tkfgxfwnk3q2j7stbr5k9 (`cortex tasks` lists them)".to_string()
        } else if cortex_core::id::WorkerId::parse(id).is_some() {
            format!("`{id}` is a worker id, not a task id (t-...): `cortex logs {id}` shows the worker, `cortex workers` names its task")
        } else {
            format!("`{id}` is not a task id (t-...)")
        }));
    };
    let task = state
        .task(&tid)
        .cloned()
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
pub(crate) fn pick<'a>(
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
        (_, 1) => {
            // Several experts in one folder: the part shown is one that ran.
            let p = primary(task, &latest);
            Ok(if p.never_ran() {
                latest.values().copied().find(|w| !w.never_ran()).unwrap_or(p)
            } else {
                p
            })
        }
        _ => Err(EngineError::BadValue(format!(
            "task {} has parts by several experts ({}), each in its own worktree: name one with --expert",
            task.id,
            names(&latest)
        ))),
    }
}

pub(crate) fn names(latest: &BTreeMap<&str, &Worker>) -> String {
    latest.keys().copied().collect::<Vec<_>>().join(", ")
}

pub(crate) fn primary<'a>(task: &Task, latest: &BTreeMap<&str, &'a Worker>) -> &'a Worker {
    let main = task.routing.as_ref().map(|r| r.primary_expert.as_str());
    main.and_then(|m| latest.get(m).copied())
        .or_else(|| latest.values().next().copied())
        .unwrap_or_else(|| unreachable!("called with at least one worker"))
}
