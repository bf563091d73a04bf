//! `cortex merge` and `cortex worktree remove`: bringing a worker's branch back (conflicts
//! found with `git merge-tree` before anything changes) and removing its worktree.
//!
//! May depend on: places and git (`super`).

use super::*;

pub(crate) fn refused(msg: String) -> EngineError {
    EngineError::Refused(msg)
}

pub(crate) fn git_err(msg: String) -> EngineError {
    EngineError::Git(msg)
}

/// The commit message for a task's work: its description (redacted), the
/// first line as the subject, and the task's id. A first line longer than
/// a subject (72 characters) is cut at a word, with "…", and given whole
/// in the body: none of the task's text is lost from the history.
///
/// Redacted with the rules every view uses, because history is pushed,
/// cloned and kept: a password the task gave the agent would be in every
/// copy of the repository, and could not be taken back without rewriting
/// it. Those rules hide only what looks like a secret, so the task's
/// words and identifiers reach the history as written.
pub(crate) fn message_for(task: &Task, expert: &str) -> String {
    const SUBJECT: usize = 72;
    let text = redact(&task.description);
    let mut lines = text.trim().lines();
    let first = lines.next().unwrap_or("cortex task");
    let mut rest: Vec<&str> = lines.collect();
    let mut m = if first.chars().count() > SUBJECT {
        let head: String = first.chars().take(SUBJECT - 1).collect();
        // At a word: the head as it is when a space follows it.
        let whole = first
            .chars()
            .nth(SUBJECT - 1)
            .is_some_and(char::is_whitespace);
        let cut = if whole {
            head.len()
        } else {
            head.rfind(' ')
                .filter(|&i| i > SUBJECT / 2)
                .unwrap_or(head.len())
        };
        rest.insert(0, first);
        format!("{}…", head[..cut].trim_end())
    } else {
        first.to_string()
    };
    m.push_str("\n\n");
    let body = rest.join("\n");
    if !body.trim().is_empty() {
        m.push_str(body.trim());
        m.push_str("\n\n");
    }
    m.push_str(&format!("Cortex-Task: {} ({expert})\n", task.id));
    m
}

pub(crate) fn identity_env(merge: &MergeConfig) -> Vec<(&'static str, String)> {
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
pub(crate) fn checked_out_in(repo: &Path, branch: &str) -> Result<Option<PathBuf>, String> {
    let out = git(repo, &["worktree", "list", "--porcelain"])?;
    Ok(crate::worktree::parse_worktree_list(&out)
        .into_iter()
        .find(|(_, b)| b.as_deref() == Some(branch))
        .map(|(p, _)| p))
}

/// Refuses, saying so, when the repository a task ran in is gone (moved or
/// removed): every git answer about it would blame something else.
fn repo_is_there(repo: &Path, task: &Task) -> Result<(), EngineError> {
    if repo.join(".git").exists() {
        return Ok(());
    }
    Err(refused(format!(
        "the repository {} that task {} ran in is not there (moved or removed): nothing was changed",
        repo.display(),
        task.id
    )))
}

pub(crate) fn ensure_ended(w: &Worker, what: &str) -> Result<(), EngineError> {
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
pub(crate) fn worktree_of(
    task: &Task,
    place: Place,
    action: &str,
) -> Result<(Option<PathBuf>, PathBuf, WorkBase, String), EngineError> {
    match place {
        Place::Worktree {
            wt,
            repo,
            base,
            branch,
        } => Ok((Some(wt), repo, base, branch)),
        Place::Branch { repo, base, branch } => Ok((None, repo, base, branch)),
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

pub(crate) fn merge_worktree(
    task: &Task,
    w: &Worker,
    req: &MergeRequest,
    place: Place,
    merge: &MergeConfig,
) -> Result<MergeDto, EngineError> {
    let (wt, repo, base, branch) = worktree_of(task, place, "merge")?;
    ensure_ended(w, "merge it")?;
    repo_is_there(&repo, task)?;
    if let Some(why) = wt
        .as_deref()
        .and_then(|wt| off_branch_refusal(wt, &branch, "merged"))
    {
        return Err(refused(why));
    }
    if w.never_ran() {
        return Err(refused(format!(
            "the {} part of task {} never started its agent, so it changed nothing: there is nothing to merge",
            w.expert, task.id
        )));
    }
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
    // A branch's name, not revision syntax (`main~1`, `main@{1}`), which
    // would name a commit and fail only when the branch is moved.
    if req.into.is_some() && git(&repo, &["check-ref-format", "--branch", &into]).is_err() {
        return Err(EngineError::BadValue(format!(
            "`{into}` is not a branch name: --into names a branch of {}",
            repo.display()
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
    // A branch asked for that is not there is the request's mistake; the
    // base a task started from, gone since, is not.
    .map_err(|_| {
        if req.into.is_some() {
            EngineError::BadValue(format!(
                "there is no branch {into} in {}: --into names a branch of that repository",
                repo.display()
            ))
        } else {
            refused(format!(
                "the branch {into} the task started from is no longer in {}: name one with --into",
                repo.display()
            ))
        }
    })?;
    let env_owned = identity_env(merge);
    let env: Vec<(&str, &str)> = env_owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let message = message_for(task, &w.expert);

    // 1. The worktree's uncommitted changes as a commit no branch points
    //    at yet: nothing changes until the merge is known to apply. A
    //    removed worktree's kept branch is the work as it is.
    let (tip, committed, wt_head) = match &wt {
        None => {
            let tip = branch_tip(&repo, &branch).ok_or_else(|| {
                refused(format!("there is no branch {branch} in {}", repo.display()))
            })?;
            (tip, None, String::new())
        }
        Some(wt) => {
            let w = work_tip(wt, None, &env, &message).map_err(git_err)?;
            (w.tip, w.made, w.head)
        }
    };

    // A repository inside the work: git would merge a link to a commit it
    // does not have, and none of that folder's files.
    let nested = nested_repos(&repo, &base.commit, &tip);
    if !nested.is_empty() {
        return Err(refused(format!(
            "{} {} a git repository of its own inside the work: git would record only a link to its commit, none of its files; nothing was merged (move it out of the worktree, or remove its .git to make its files part of the work, then merge again)",
            nested.join(", "),
            if nested.len() == 1 { "is" } else { "are" }
        )));
    }

    // 2. What a merge would do, found without touching any branch or
    //    working tree: nothing (the branch holds the work already, a merge
    //    commit would add nothing but a claim), a conflict, or a tree.
    let merged_tree = match merge_outcome(&repo, &into_tip, &tip).map_err(git_err)? {
        MergeOutcome::Holds => return Ok(already_merged(task, w, req, branch, into, into_tip)),
        MergeOutcome::Conflicts(conflicted) => {
            return Err(refused(format!(
                "merging {branch} into {into} would conflict in {}: nothing was changed (the base and the branch{} are as they were); resolve it {} and merge again",
                conflicted.join(", "),
                if wt.is_some() { " and the worktree" } else { "" },
                wt.as_ref().map_or_else(
                    || format!("on the branch {branch} (its worktree was removed)"),
                    |w| format!("in the worktree {}", w.display())
                )
            )))
        }
        MergeOutcome::Clean(tree) => tree,
    };

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

    // What the merge changes on `into`: its new tip against the old (not
    // the branch against the old tip, which also lists, as undone, what
    // `into` gained since the branch left it).
    let files = numstat(&repo, &into_tip, &new_tip).unwrap_or_default();

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
    if let (Some(c), Some(wt)) = (&committed, &wt) {
        git(
            wt,
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
        git(wt, &["reset", "-q"]).map_err(git_err)?;
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

pub(crate) fn remove_worktree(
    task: &Task,
    w: &Worker,
    place: Place,
    force: bool,
) -> Result<RemoveDto, EngineError> {
    let (wt, repo, base, branch) = worktree_of(task, place, "remove")?;
    let Some(wt) = wt else {
        return Err(refused(format!(
            "the worktree of task {} was removed already; its branch {branch} is kept",
            task.id
        )));
    };
    ensure_ended(w, "remove its worktree")?;
    if let Some(why) = off_branch_refusal(&wt, &branch, "removed") {
        return Err(refused(why));
    }
    let status = git(&wt, &["status", "--porcelain", "--untracked-files=all"]).map_err(git_err)?;
    let dirty: Vec<&str> = status.lines().filter(|l| !l.is_empty()).collect();
    // Merged as `show` says it: the work with its uncommitted changes.
    let work = working_tree(&wt).and_then(|tree| Ok((numstat(&wt, &base.commit, &tree)?, tree)));
    let changed = work.as_ref().map_or(true, |(files, _)| !files.is_empty());
    // Repositories of their own inside it: their files are in no branch.
    let nested = work
        .as_ref()
        .map(|(_, tree)| nested_repos(&wt, &base.commit, tree))
        .unwrap_or_default();
    let merged = nested.is_empty()
        && work.is_ok_and(|(files, tree)| {
            let tip = work_on_own_branch(&wt, &branch, &tree);
            base.branch
                .as_deref()
                .is_some_and(|b| tip.is_some_and(|t| holds_all(&wt, b, &t, &files)))
        });
    if !nested.is_empty() && !force {
        return Err(refused(format!(
            "the worktree {} holds {} (a git repository of its own), whose files are in no branch: move it out first, or remove the worktree with --force to lose them",
            wt.display(),
            nested.join(", ")
        )));
    }
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
        changed,
        had_uncommitted: !dirty.is_empty() || !nested.is_empty(),
        forced: force,
    })
}

/// The answer when `into` already holds everything the branch would bring.
fn already_merged(
    task: &Task,
    w: &Worker,
    req: &MergeRequest,
    branch: String,
    into: String,
    into_tip: String,
) -> MergeDto {
    MergeDto {
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
    }
}
