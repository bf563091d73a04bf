//! Git worktrees per task: created under `<home>/worktrees/<task>` on a
//! branch `cortex/<task>`, kept after the task ends for review. Cortex never
//! deletes one, so a worktree with uncommitted changes is never lost.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::home::Home;

pub fn path_for(home: &Home, task_id: &str) -> PathBuf {
    home.root().join("worktrees").join(task_id)
}

/// Makes sure the task's worktree exists, creating it from the repository
/// at `source`. Git is run with an argument list, never through a shell.
pub fn ensure(home: &Home, task_id: &str, source: &Path) -> Result<PathBuf, String> {
    let path = path_for(home, task_id);
    if path.join(".git").exists() {
        return Ok(path);
    }
    crate::files::create_dir_all(&home.root().join("worktrees"))
        .map_err(|e| format!("cannot create the worktrees folder: {e}"))?;
    let branch = format!("cortex/{task_id}");
    let out = Command::new("git")
        .arg("-C")
        .arg(source)
        .args(["worktree", "add", "-b", &branch])
        .arg(&path)
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
