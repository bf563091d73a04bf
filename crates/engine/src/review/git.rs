//! Git, run with a fixed argument list (no shell) and `-C <dir>`: the commands the review
//! needs, the base a worker's work starts from, and the work of several branches merged.
//!
//! May depend on: nothing of the engine but its home.

use super::*;

pub(crate) struct Run {
    pub(crate) ok: bool,
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs git in `dir` with a fixed argument list, extra environment and
/// optional stdin.
pub(crate) fn run(
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
pub(crate) fn git_env(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    input: Option<&[u8]>,
) -> Result<String, String> {
    let r = run(dir, args, env, input)?;
    if r.ok {
        Ok(r.stdout)
    } else {
        // Some commands say why on stdout ("nothing to commit").
        let why = if r.stderr.trim().is_empty() {
            r.stdout.trim()
        } else {
            r.stderr.trim()
        };
        Err(format!(
            "git {} failed in {}: {}",
            args.first().copied().unwrap_or_default(),
            dir.display(),
            if why.is_empty() {
                "it said nothing"
            } else {
                why
            }
        ))
    }
}

/// Where a finished task's work is: its worktree (uncommitted changes
/// included), or, once the worktree was removed, the commit of the branch
/// Cortex kept.
#[derive(Debug, Clone)]
pub(crate) enum Work {
    Folder(PathBuf),
    Commit { repo: PathBuf, commit: String },
}

/// The identity of the commits Cortex makes itself.
pub(crate) const CORTEX_IDENTITY: [(&str, &str); 4] = [
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
    parts: &[(String, Work)],
) -> Result<String, String> {
    let mut so_far = start.to_string();
    for (label, work) in parts {
        let tip = match work {
            Work::Commit { commit, .. } => commit.clone(),
            Work::Folder(wt) => {
                let message = format!("cortex: the uncommitted work of {label}");
                work_tip(wt, None, &CORTEX_IDENTITY, &message)?.tip
            }
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

pub(crate) fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    git_env(dir, args, &[], None)
}

pub(crate) fn git_line(dir: &Path, args: &[&str]) -> Result<String, String> {
    git(dir, args).map(|s| s.trim().to_string())
}

pub(crate) fn is_ancestor(dir: &Path, a: &str, b: &str) -> bool {
    run(dir, &["merge-base", "--is-ancestor", a, b], &[], None).is_ok_and(|r| r.ok)
}

/// True when the repository holding `dir` has `commit`.
pub(crate) fn has_commit(dir: &Path, commit: &str) -> bool {
    git(dir, &["cat-file", "-e", &format!("{commit}^{{commit}}")]).is_ok()
}

/// True when some folder from `dir` up holds a `.git`: only then is git
/// asked anything (most workers outside git then cost no process).
pub(crate) fn inside_git(dir: &Path) -> bool {
    dir.ancestors().any(|d| d.join(".git").exists())
}

/// `refs/heads/x` as `x`; None for a detached HEAD.
pub(crate) fn branch_of(symbolic: &str) -> Option<String> {
    symbolic.strip_prefix("refs/heads/").map(str::to_string)
}

/// The top level, HEAD commit and checked-out branch of the repository
/// holding `dir`.
pub(crate) fn head_of(dir: &Path) -> Result<(String, String, Option<String>), String> {
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

/// Where a task's worktree is when its HEAD left the task's branch (an
/// agent checked out another branch, or detached HEAD and committed), in
/// words; None while it is on `branch` (or git cannot say).
pub(crate) fn off_branch(wt: &Path, branch: &str) -> Option<String> {
    let (_, head, on) = head_of(wt).ok()?;
    match on {
        Some(b) if b == branch => None,
        Some(other) => Some(format!("on the branch {other}")),
        None => Some(format!("on a detached HEAD at {}", short(&head))),
    }
}

/// Why `action` (merge, remove) is refused for a worktree whose HEAD left
/// the task's branch, with what to do; None while it is on it. Cortex's
/// answers name the task's branch, so acting on another would say untrue
/// things (and removing a detached HEAD's commits would lose them).
pub(crate) fn off_branch_refusal(wt: &Path, branch: &str, action: &str) -> Option<String> {
    let place = off_branch(wt, branch)?;
    let head = git_line(wt, &["rev-parse", "HEAD"]).ok()?;
    let on_no_branch = git(
        wt,
        &[
            "for-each-ref",
            "--contains",
            &head,
            "--format=%(refname)",
            "refs/heads/",
        ],
    )
    .is_ok_and(|out| out.trim().is_empty());
    // Going on from the task's branch: moving the branch there loses nothing.
    let went_on = branch_tip(wt, branch).is_none_or(|tip| is_ancestor(wt, &tip, &head));
    let what = if went_on {
        format!(
            "`git -C {} checkout -B {branch}` makes what is checked out there the task's branch",
            wt.display()
        )
    } else {
        format!("check out {branch} there, or merge what is checked out there yourself")
    };
    Some(format!(
        "the worktree {} is {place}, not on the task's branch {branch}{}: nothing was {action}; {what}",
        wt.display(),
        if on_no_branch {
            ", and its commits are on no branch (removing the worktree would lose them)"
        } else {
            ""
        }
    ))
}

pub(crate) static INDEX_SEQ: AtomicU64 = AtomicU64::new(0);

/// The tree of `dir`'s working tree as it is now: tracked changes and new
/// files (not ignored ones), read through a temporary copy of the index.
pub(crate) fn working_tree(dir: &Path) -> Result<String, String> {
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

/// Folders that became git repositories of their own between two tree-ish
/// (git records only a link to their commit, none of their files): an
/// agent that ran `git init` in a subfolder. Their work is in no diff and
/// no merge, so those say so instead of claiming the work.
pub(crate) fn nested_repos(dir: &Path, from: &str, to: &str) -> Vec<String> {
    let Ok(out) = git(dir, &["diff", "--raw", "-z", "--no-renames", from, to]) else {
        return Vec::new();
    };
    let mut fields = out.split('\0');
    let mut found = Vec::new();
    while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
        let mut modes = meta.trim_start_matches(':').split(' ');
        let (old, new) = (modes.next(), modes.next());
        if new == Some("160000") && old != Some("160000") {
            found.push(format!("{path}/"));
        }
    }
    found
}

/// Files changed between two tree-ish, with line counts.
pub(crate) fn numstat(dir: &Path, from: &str, to: &str) -> Result<Vec<FileChange>, String> {
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

pub(crate) fn patch(dir: &Path, from: &str, to: &str) -> Result<String, String> {
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

/// What merging commit `tip` into the branch at `into_tip` would do, found
/// without touching any branch or working tree (`git merge-tree`, git 2.38
/// or later). `cortex merge` acts on it and `show` says it, so the two
/// cannot disagree.
pub(crate) enum MergeOutcome {
    /// The branch already holds the work: `tip` is in its history, or
    /// merging it would leave the branch's tree as it is (the work came in
    /// as a squash or a cherry-pick).
    Holds,
    /// A merge applies cleanly and gives this tree.
    Clean(String),
    /// A merge would conflict in these files.
    Conflicts(Vec<String>),
}

pub(crate) fn merge_outcome(dir: &Path, into_tip: &str, tip: &str) -> Result<MergeOutcome, String> {
    if is_ancestor(dir, tip, into_tip) {
        return Ok(MergeOutcome::Holds);
    }
    let mt = run(
        dir,
        &[
            "merge-tree",
            "--write-tree",
            "--name-only",
            "--no-messages",
            into_tip,
            tip,
        ],
        &[],
        None,
    )?;
    match mt.code {
        Some(0) => {
            let tree = mt
                .stdout
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_string();
            let into_tree = git_line(dir, &["rev-parse", &format!("{into_tip}^{{tree}}")])?;
            Ok(if tree == into_tree {
                MergeOutcome::Holds
            } else {
                MergeOutcome::Clean(tree)
            })
        }
        Some(1) => {
            let mut files: Vec<String> = mt
                .stdout
                .lines()
                .skip(1)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect();
            files.dedup();
            Ok(MergeOutcome::Conflicts(files))
        }
        _ => Err(format!(
            "git merge-tree failed in {} (merging needs git 2.38 or later): {}",
            dir.display(),
            mt.stderr
        )),
    }
}

/// A worktree's work as one commit: its HEAD, and the commit of its
/// working tree (`tree` when the caller read it already): HEAD itself when
/// nothing is uncommitted, else a commit of the working tree on HEAD, made
/// with `env` and `message`, that no ref points at (`made`).
pub(crate) struct WorkTip {
    pub(crate) head: String,
    pub(crate) tip: String,
    pub(crate) made: Option<String>,
}

pub(crate) fn work_tip(
    wt: &Path,
    tree: Option<&str>,
    env: &[(&str, &str)],
    message: &str,
) -> Result<WorkTip, String> {
    let head = git_line(wt, &["rev-parse", "HEAD"])?;
    let head_tree = git_line(wt, &["rev-parse", "HEAD^{tree}"])?;
    let tree = match tree {
        Some(t) => t.to_string(),
        None => working_tree(wt)?,
    };
    if tree == head_tree {
        return Ok(WorkTip {
            tip: head.clone(),
            head,
            made: None,
        });
    }
    let tip = git_env(
        wt,
        &["commit-tree", &tree, "-p", &head, "-F", "-"],
        env,
        Some(message.as_bytes()),
    )?
    .trim()
    .to_string();
    Ok(WorkTip {
        head,
        made: Some(tip.clone()),
        tip,
    })
}

/// The commit of a worktree's work as a view reads it (`work_tip` with a
/// fixed author and date, so reading the same work twice names the same
/// object and writes it once).
pub(crate) fn work_commit(wt: &Path, tree: &str) -> Result<String, String> {
    let env = [
        ("GIT_AUTHOR_NAME", "cortex"),
        ("GIT_AUTHOR_EMAIL", "cortex@localhost"),
        ("GIT_AUTHOR_DATE", "@0 +0000"),
        ("GIT_COMMITTER_NAME", "cortex"),
        ("GIT_COMMITTER_EMAIL", "cortex@localhost"),
        ("GIT_COMMITTER_DATE", "@0 +0000"),
    ];
    work_tip(
        wt,
        Some(tree),
        &env,
        "uncommitted work, as read by cortex\n",
    )
    .map(|w| w.tip)
}
