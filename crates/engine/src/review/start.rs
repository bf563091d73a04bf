//! Where a dependent worktree task starts: its dependencies' work, each
//! committed as its task's commit, merged together.
//!
//! May depend on: git (`super`).

use super::*;

/// Held while a dependency's work is committed for its dependents: several
/// of them start at once (a plan's fan-out), and git takes one index lock
/// per worktree.
static COMMITTING_DEPENDENCIES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Where a dependent worktree task starts: its dependencies' work merged
/// together. Each dependency's uncommitted changes are first committed on
/// its own branch (it has ended), so that merging the plan in order later
/// finds the dependent's branch built on them. `None` without
/// dependencies' work; an error naming the files when their work conflicts.
/// Each dependency comes with its commit message (its task's text, as a
/// merge writes it); `identity` is the merge's (`merge.author`), else the
/// repository's own, else Cortex's.
pub(crate) fn start_point(
    deps: &[(Work, String)],
    identity: &[(&'static str, String)],
) -> Result<Option<String>, String> {
    let _one_at_a_time = COMMITTING_DEPENDENCIES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut start: Option<(PathBuf, String)> = None;
    for (dep, message) in deps {
        let (dep, head) = match dep {
            Work::Commit { repo, commit } => (repo.clone(), commit.clone()),
            Work::Folder(dep) => {
                let dirty = !git(dep, &["status", "--porcelain"])?.trim().is_empty();
                if dirty {
                    git(dep, &["add", "-A"])?;
                    let env = commit_identity(dep, identity);
                    git_env(
                        dep,
                        &["commit", "-q", "-F", "-"],
                        &env,
                        Some(message.as_bytes()),
                    )?;
                }
                (dep.clone(), git_line(dep, &["rev-parse", "HEAD"])?)
            }
        };
        start = Some(match start {
            None => (dep, head),
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
                let env = commit_identity(&dir, identity);
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
                        "Merge the work of the tasks this one depends on",
                    ],
                    &env,
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

/// Who a commit Cortex makes in `dir` is by: `identity` (the merge's
/// author) when set, else the repository's own when git has one, else
/// Cortex's (a commit must have an author).
fn commit_identity<'a>(
    dir: &Path,
    identity: &'a [(&'static str, String)],
) -> Vec<(&'static str, &'a str)> {
    if !identity.is_empty() {
        return identity.iter().map(|(k, v)| (*k, v.as_str())).collect();
    }
    let has_own = git(dir, &["var", "GIT_AUTHOR_IDENT"]).is_ok()
        && git(dir, &["var", "GIT_COMMITTER_IDENT"]).is_ok();
    if has_own {
        Vec::new()
    } else {
        CORTEX_IDENTITY.to_vec()
    }
}
