//! Git worktrees per assignment: one expert's part of a task runs in
//! `<home>/worktrees/<task>-<expert>` on a branch `cortex/<task>-<expert>`,
//! kept after the task ends for review. Only `cortex worktree remove`
//! deletes one (`review.rs`), and a worktree with uncommitted changes only
//! with `--force`, so such changes are never lost by accident. Workers recorded before
//! this naming keep their `<home>/worktrees/<task>` and `cortex/<task>`: the
//! name is always read back from the worker's recorded workdir.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::home::Home;

/// Worktrees of one repository are created one at a time: git takes locks
/// in the repository while it adds one.
static CREATING: Mutex<()> = Mutex::new(());

/// The worktree name of one expert's part of a task.
pub fn name_for(task_id: &str, expert: &str) -> String {
    format!("{task_id}-{expert}")
}

/// Where the worktree named `name` lives: `<home>/worktrees/<name>`.
pub fn path_for(home: &Home, name: &str) -> PathBuf {
    home.root().join("worktrees").join(name)
}

/// The worktree name a recorded workdir stands for, if it is a worktree
/// of this home (`<home>/worktrees/<name>`).
pub fn name_of(home: &Home, workdir: &Path) -> Option<String> {
    let parent = workdir.parent()?;
    if parent != home.root().join("worktrees") {
        return None;
    }
    workdir.file_name()?.to_str().map(str::to_string)
}

/// Checks that `source` can give a worktree: a git repository with a commit.
/// Called at submit, so a task that would fail later is refused at once.
/// `asked` says whether the submission asked for a worktree (`--worktree`)
/// or the configuration does for every task (`isolation: "worktree"`): the
/// refusal names the one that did.
pub fn check_source(source: &Path, asked: bool) -> Result<(), String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(source)
        .args(["rev-parse", "--verify", "--quiet", "HEAD"])
        .output()
        .map_err(|e| format!("cannot run git to check {}: {e}", source.display()))?;
    // A repository whose checked-out branch has no commit (`git init`
    // only, or an orphan branch) is one: said as it is.
    let repository = Command::new("git")
        .arg("-C")
        .arg(source)
        .args(["rev-parse", "--git-dir"])
        .output()
        .is_ok_and(|o| o.status.success());
    let what = if repository {
        format!(
            "{} is a git repository whose checked-out branch has no commit yet (commit there, or check out a branch that has commits",
            source.display()
        )
    } else {
        format!(
            "{} is not a git repository (run `git init` and commit there",
            source.display()
        )
    };
    if out.status.success() {
        Ok(())
    } else if asked {
        Err(format!(
            "the task asks for a worktree (`--worktree`), which needs a git repository with at least one commit, and {what}, or submit it without a worktree)"
        ))
    } else {
        Err(format!(
            "isolation \"worktree\" in config.json runs every task in a git worktree, and {what}, or set isolation to \"none\")"
        ))
    }
}

/// Makes sure the worktree `name` exists, creating it from the repository
/// at `source` on branch `cortex/<name>`. Git is run with an argument list,
/// never through a shell.
pub fn ensure(home: &Home, name: &str, source: &Path) -> Result<PathBuf, String> {
    ensure_from(home, name, source, None)
}

/// `ensure`, with a new branch starting at `start` (a commit) instead of
/// the repository's HEAD.
pub fn ensure_from(
    home: &Home,
    name: &str,
    source: &Path,
    start: Option<&str>,
) -> Result<PathBuf, String> {
    let path = path_for(home, name);
    let _one_at_a_time = CREATING.lock().unwrap_or_else(|e| e.into_inner());
    if path.join(".git").exists() {
        return Ok(path);
    }
    crate::files::create_dir_all(&home.root().join("worktrees"))
        .map_err(|e| format!("cannot create the worktrees folder: {e}"))?;
    let branch = format!("cortex/{name}");
    // A worktree removed by `cortex worktree remove` keeps its branch: a
    // worker that goes on (a reply) gets it back with its commits.
    let exists = Command::new("git")
        .arg("-C")
        .arg(source)
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("refs/heads/{branch}"),
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut add = Command::new("git");
    add.arg("-C").arg(source).args(["worktree", "add"]);
    // Its folder deleted by hand, its registration left: git refuses the
    // path until told (only this path, and only when no other worktree has
    // the branch checked out).
    if deleted_outside(source, &path) && checked_out_elsewhere(source, &branch, &path).is_none() {
        add.arg("--force");
    }
    if exists {
        add.arg(&path).arg(&branch);
    } else {
        add.args(["-b", &branch]).arg(&path);
        if let Some(commit) = start {
            add.arg(commit);
        }
    }
    let out = add
        .output()
        .map_err(|e| format!("cannot run git to create a worktree: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cannot create a git worktree of {} (is it a git repository with a commit?): {}",
            source.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(path)
}

/// The worktrees of the repository holding `dir`, as `git worktree list
/// --porcelain` gives them: each one's path and the branch checked out.
fn worktrees(dir: &Path) -> Vec<(PathBuf, Option<String>)> {
    let Ok(out) = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["worktree", "list", "--porcelain"])
        .output()
    else {
        return Vec::new();
    };
    parse_worktree_list(&String::from_utf8_lossy(&out.stdout))
}

/// `git worktree list --porcelain` read: each worktree's path and the
/// branch checked out there.
pub(crate) fn parse_worktree_list(text: &str) -> Vec<(PathBuf, Option<String>)> {
    let mut list: Vec<(PathBuf, Option<String>)> = Vec::new();
    for line in text.lines() {
        if let Some(p) = line.strip_prefix("worktree ") {
            list.push((PathBuf::from(p), None));
        } else if let (Some(b), Some(last)) =
            (line.strip_prefix("branch refs/heads/"), list.last_mut())
        {
            last.1 = Some(b.to_string());
        }
    }
    list
}

/// True when `path` is still a registered worktree of the repository at
/// `repo` while its folder is gone: it was deleted by hand, not removed
/// (`cortex worktree remove` and git unregister what they remove).
pub fn deleted_outside(repo: &Path, path: &Path) -> bool {
    !path.exists() && worktrees(repo).iter().any(|(p, _)| p == path)
}

/// Another worktree than `path` that has `branch` checked out.
fn checked_out_elsewhere(repo: &Path, branch: &str, path: &Path) -> Option<PathBuf> {
    worktrees(repo)
        .into_iter()
        .find(|(p, b)| p != path && b.as_deref() == Some(branch))
        .map(|(p, _)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn repo() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        git(d.path(), &["init", "-q"]);
        git(
            d.path(),
            &[
                "-c",
                "user.email=t@example.invalid",
                "-c",
                "user.name=t",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "start",
            ],
        );
        d
    }

    #[test]
    fn two_experts_of_one_task_get_a_worktree_and_a_branch_each() {
        let home_dir = tempfile::tempdir().unwrap();
        let home = Home::new(home_dir.path());
        let src = repo();
        let a = ensure(&home, &name_for("t-1", "security"), src.path()).unwrap();
        let b = ensure(&home, &name_for("t-1", "inventory"), src.path()).unwrap();
        assert_ne!(a, b);
        let branches = git(src.path(), &["branch", "--list", "cortex/*"]);
        assert!(branches.contains("cortex/t-1-security"), "{branches}");
        assert!(branches.contains("cortex/t-1-inventory"), "{branches}");
        // Asking again finds the same worktree.
        assert_eq!(
            ensure(&home, &name_for("t-1", "security"), src.path()).unwrap(),
            a
        );
        // Removed (its branch kept), it comes back on the same branch.
        git(src.path(), &["worktree", "remove", a.to_str().unwrap()]);
        assert_eq!(
            ensure(&home, &name_for("t-1", "security"), src.path()).unwrap(),
            a
        );
        assert!(git(&a, &["symbolic-ref", "HEAD"]).contains("cortex/t-1-security"));
    }

    #[test]
    fn a_recorded_workdir_names_its_worktree_old_and_new() {
        let home = Home::new(Path::new("/h"));
        assert_eq!(
            name_of(&home, Path::new("/h/worktrees/t-1")).as_deref(),
            Some("t-1")
        );
        assert_eq!(
            name_of(&home, Path::new("/h/worktrees/t-1-security")).as_deref(),
            Some("t-1-security")
        );
        assert_eq!(name_of(&home, Path::new("/srv/project")), None);
    }

    #[test]
    fn a_folder_that_is_not_a_repository_is_refused() {
        let plain = tempfile::tempdir().unwrap();
        let err = check_source(plain.path(), true).unwrap_err();
        assert!(
            err.contains("asks for a worktree") && err.contains("is not a git repository"),
            "{err}"
        );
        // Asked by the configuration for every task, the refusal says so.
        let err = check_source(plain.path(), false).unwrap_err();
        assert!(
            err.starts_with("isolation \"worktree\" in config.json") && !err.contains("--worktree"),
            "{err}"
        );
        check_source(repo().path(), false).unwrap();
    }
}
