//! Reviewing and bringing back a task's work: `show`, `diff`, `merge` and
//! `worktree remove`, with the fake agent in real git repositories.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::{activity, text, TestHome};

const LIMIT: Duration = Duration::from_secs(40);

pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

/// A repository on branch `main` with one commit; its own identity, so
/// nothing depends on the machine's git configuration.
pub(crate) fn repo(h: &TestHome) -> (PathBuf, String) {
    let dir = h.workdir();
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["config", "user.name", "Repo Owner"]);
    git(&dir, &["config", "user.email", "owner@example.invalid"]);
    std::fs::write(dir.join("README"), "hello\n").unwrap();
    git(&dir, &["add", "README"]);
    git(&dir, &["commit", "-q", "-m", "start"]);
    let head = git(&dir, &["rev-parse", "HEAD"]);
    (dir, head)
}

fn home() -> TestHome {
    let h = TestHome::new();
    h.use_fake_agent();
    h.configure(serde_json::json!({"merge": {"author": "Cortex Merge <merge@example.invalid>"}}));
    h
}

fn submit(h: &TestHome, text: &str, dir: &Path, worktree: bool) -> String {
    let mut args = vec!["submit", text, "--workdir", dir.to_str().unwrap()];
    if worktree {
        args.push("--worktree");
    }
    let id = h.json(&args)["task_id"].as_str().unwrap().to_string();
    assert_eq!(h.wait_task_done(&id, LIMIT)["status"], "completed");
    id
}

fn paths(files: &serde_json::Value) -> Vec<String> {
    files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_worktree_task_is_shown_diffed_merged_onto_its_base_and_then_removable() {
    let h = home();
    let owner = h.start_owner();
    let (repo, start) = repo(&h);
    let id = submit(&h, "write the greeting FAKE:normal", &repo, true);

    let s = h.json(&["show", &id]);
    for key in [
        "id",
        "description",
        "status",
        "routing",
        "result",
        "verification",
        "cost_usd",
        "tokens",
        "duration_secs",
        "workers",
        "changes",
    ] {
        assert!(s.get(key).is_some(), "show has {key}: {s}");
    }
    assert_eq!(s["status"], "completed");
    assert!(s["verification"].is_null(), "no check: not verified: {s}");
    let w = &s["workers"][0];
    assert_eq!(w["attempts"][0]["outcome"], "success", "{w}");
    assert!(w["attempts"][0]["duration_secs"].as_f64().is_some(), "{w}");
    let expert = w["expert"].as_str().unwrap();
    let branch = format!("cortex/{id}-{expert}");
    let changes = &s["changes"];
    assert_eq!(changes["branch"], branch.as_str(), "{changes}");
    assert_eq!(changes["base"], start.as_str(), "{changes}");
    assert_eq!(changes["kind"], "worktree");
    let files = changes["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{changes}");
    assert_eq!(files[0]["path"], "fake-out.txt");
    assert_eq!(files[0]["added"], 1);
    assert_eq!(files[0]["removed"], 0);
    let listed = h.json(&["tasks"]);
    let t = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert!(
        t.get("verification").is_some() && t.get("result").is_some(),
        "{t}"
    );

    // The patch names the new file, which was never committed or added.
    let out = h.cortex(&["diff", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let patch = text(&out.stdout);
    assert!(
        patch.contains("fake-out.txt") && patch.contains("+write the greeting"),
        "{patch}"
    );
    let stat = h.json(&["diff", &id, "--stat"]);
    assert_eq!(paths(&stat["files"]), ["fake-out.txt"]);
    assert!(stat.get("patch").is_none(), "{stat}");
    let wt = h.file(&format!("worktrees/{id}-{expert}"));
    assert_eq!(
        git(&wt, &["status", "--porcelain"]),
        "?? fake-out.txt",
        "the worktree's index untouched"
    );

    // Merged through the running owner: the change is committed on the
    // task's branch, and `main`, checked out and clean, takes it.
    let m = h.json(&["merge", &id]);
    assert_eq!(m["into"], "main", "{m}");
    assert_eq!(m["branch"], branch.as_str());
    let committed = m["committed_changes"].as_str().unwrap();
    assert_eq!(
        git(&repo, &["log", "-1", "--format=%an <%ae>%n%B", committed]),
        format!("Cortex Merge <merge@example.invalid>\nwrite the greeting FAKE:normal\n\nCortex-Task: {id} ({expert})")
    );
    assert_eq!(
        git(&repo, &["rev-parse", "main"]),
        m["commit"].as_str().unwrap()
    );
    assert_eq!(
        git(&repo, &["show", "main:fake-out.txt"]),
        "write the greeting FAKE:normal"
    );
    assert!(
        repo.join("fake-out.txt").exists(),
        "the checkout of main was updated"
    );
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    assert_eq!(
        git(&wt, &["status", "--porcelain"]),
        "",
        "the worktree is clean after its commit"
    );
    assert_eq!(git(&wt, &["rev-parse", "HEAD"]), committed);
    let s = h.json(&["show", &id]);
    assert_eq!(s["changes"]["merged_into"], "main", "{s}");
    let shown = text(&h.cortex(&["show", &id]).stdout);
    assert!(shown.contains("(merged into main)"), "{shown}");

    let r = h.json(&["worktree", "remove", &id]);
    assert_eq!(r["merged"], true, "{r}");
    assert!(!wt.exists());
    // Both are in the activity log, beside the worker whose work it was.
    let wid = w["id"].as_str().unwrap();
    let said: Vec<(String, String)> = activity(&h, wid)
        .iter()
        .filter(|l| l["event"] == "merged" || l["event"] == "worktree_removed")
        .map(|l| {
            (
                l["event"].as_str().unwrap().to_string(),
                l["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(said.len(), 2, "{said:?}");
    assert!(
        said[0].0 == "merged"
            && said[0]
                .1
                .starts_with(&format!("merged {branch} into main (")),
        "{said:?}"
    );
    assert!(
        said[1].0 == "worktree_removed" && said[1].1.ends_with("(its work is merged)"),
        "{said:?}"
    );
    assert_eq!(
        git(&repo, &["branch", "--list", &branch]),
        branch,
        "the branch is kept"
    );
    owner.stop();
}

#[test]
fn a_conflicting_merge_changes_nothing_and_a_dirty_worktree_survives_remove() {
    let h = home();
    let owner = h.start_owner();
    let (repo, _) = repo(&h);
    let id = submit(&h, "write the other greeting FAKE:normal", &repo, true);
    owner.stop();
    // Meanwhile someone committed the same file differently on main.
    std::fs::write(repo.join("fake-out.txt"), "theirs\n").unwrap();
    git(&repo, &["add", "fake-out.txt"]);
    git(&repo, &["commit", "-q", "-m", "theirs"]);
    let expert = h.workers_of(&id)[0]["expert"].as_str().unwrap().to_string();
    let wt = h.file(&format!("worktrees/{id}-{expert}"));
    let branch = format!("cortex/{id}-{expert}");
    let before = |d: &Path| {
        (
            git(d, &["rev-parse", "main", &branch]),
            git(d, &["status", "--porcelain", "--untracked-files=all"]),
            std::fs::read_to_string(d.join("fake-out.txt")).unwrap(),
        )
    };
    let (repo_before, wt_before) = (before(&repo), before(&wt));

    let out = h.cortex(&["merge", &id]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("conflict in fake-out.txt") && err.contains("nothing was changed"),
        "{err}"
    );
    // Scripts get the code the README gives a refusal, through the owner too.
    let out = h.cortex(&["merge", &id, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["code"], "refused", "{v}");
    // A branch that is not there is the request's mistake.
    let out = h.cortex(&["merge", &id, "--into", "nosuch"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("there is no branch nosuch"));
    // Revision syntax names a commit, not a branch to merge into.
    let out = h.cortex(&["merge", &id, "--into", "main~1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is not a branch name"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        before(&repo),
        repo_before,
        "the base and its checkout are as they were"
    );
    assert_eq!(
        before(&wt),
        wt_before,
        "the branch and the worktree are as they were"
    );

    let out = h.cortex(&["worktree", "remove", &id, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("uncommitted changes (fake-out.txt)") && msg.contains("--force"),
        "{msg}"
    );
    assert!(
        wt.join("fake-out.txt").exists(),
        "the dirty worktree survives"
    );

    let r = h.json(&["worktree", "remove", &id, "--force"]);
    assert_eq!(
        (r["forced"].as_bool(), r["had_uncommitted"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(!wt.exists());
}

#[test]
fn in_place_tasks_diff_against_the_recorded_commit_flagged_and_outside_git_there_is_nothing() {
    let h = home();
    let owner = h.start_owner();
    let (repo, start) = repo(&h);
    let in_repo = submit(&h, "greet in place FAKE:normal", &repo, false);
    let plain = h.workdir();
    let outside = submit(&h, "greet outside FAKE:normal", &plain, false);
    owner.stop();
    // Someone else's commit after the start is part of what is shown.
    std::fs::write(repo.join("other.txt"), "x\n").unwrap();
    git(&repo, &["add", "other.txt"]);
    git(&repo, &["commit", "-q", "-m", "other"]);

    let d = h.json(&["diff", &in_repo, "--stat"]);
    assert_eq!(d["kind"], "in_place", "{d}");
    assert_eq!(d["may_include_others"], true);
    assert_eq!(d["base"], start.as_str());
    assert_eq!(d["branch"], "main");
    assert_eq!(paths(&d["files"]), ["fake-out.txt", "other.txt"]);
    let out = h.cortex(&["diff", &in_repo]);
    assert!(
        text(&out.stdout).contains("+greet in place"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("may include other people's edits"),
        "{}",
        text(&out.stderr)
    );
    let out = h.cortex(&["merge", &in_repo]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("ran in place"),
        "{}",
        text(&out.stderr)
    );

    let d = h.json(&["diff", &outside]);
    assert_eq!(d["kind"], "none", "{d}");
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("not in a git repository"),
        "{d}"
    );
    let out = h.cortex(&["diff", &outside]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).starts_with("nothing to diff"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(h.json(&["show", &outside])["changes"]["kind"], "none");
}

#[test]
fn show_and_tasks_carry_the_check_of_a_worktree_task() {
    let h = home();
    let owner = h.start_owner();
    let (repo, _) = repo(&h);
    let v = h.json(&[
        "submit",
        "write the checked greeting FAKE:normal",
        "--workdir",
        repo.to_str().unwrap(),
        "--worktree",
        "--verify",
        "test -f fake-out.txt",
    ]);
    let id = v["task_id"].as_str().unwrap().to_string();
    assert_eq!(h.wait_task_done(&id, LIMIT)["status"], "completed");
    let s = h.json(&["show", &id]);
    let check = &s["verification"];
    assert_eq!(check["passed"], true, "{s}");
    assert_eq!(check["command"], "test -f fake-out.txt");
    assert_eq!(
        (check["exit_code"].as_i64(), check["rounds"].as_u64()),
        (Some(0), Some(1))
    );
    assert!(check.get("output_tail").is_some(), "{check}");
    assert_eq!(s["workers"][0]["verification"], *check);
    assert_eq!(h.task(&id)["verification"], *check);
    assert_eq!(paths(&s["changes"]["files"]), ["fake-out.txt"]);
    owner.stop();
}

#[test]
fn a_merge_into_a_base_that_moved_on_lists_what_the_merge_changed() {
    let h = home();
    let (dir, _) = repo(&h);
    let owner = h.start_owner();
    let first = submit(
        &h,
        "write the first file FAKE:normal FAKE_OUT:m1.txt",
        &dir,
        true,
    );
    let second = submit(
        &h,
        "write the second file FAKE:normal FAKE_OUT:m2.txt",
        &dir,
        true,
    );
    let ff = h.json(&["merge", &first]);
    assert_eq!(ff["fast_forward"], true, "{ff}");
    assert_eq!(paths(&ff["files"]), ["m1.txt"]);
    // main moved on since the second branch left it: a merge commit, which
    // changes m2.txt alone (m1.txt stays as main has it).
    let merged = h.json(&["merge", &second]);
    assert_eq!(merged["fast_forward"], false, "{merged}");
    assert_eq!(paths(&merged["files"]), ["m2.txt"], "{merged}");
    assert_eq!(merged["files"][0]["removed"], 0, "{merged}");
    assert_eq!(
        git(&dir, &["show", "main:m1.txt"]),
        "write the first file FAKE:normal FAKE_OUT:m1.txt"
    );
    owner.stop();
}

/// `cortex merge` refused (exit 1) saying `says`, the base left at `main`.
fn merge_refused(h: &TestHome, id: &str, says: &str, repo: &Path, main: &str) {
    let out = h.cortex(&["merge", id]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains(says), "{}", text(&out.stderr));
    assert_eq!(git(repo, &["rev-parse", "main"]), main, "main did not move");
}

/// A worktree task run to its end with no owner left: its repository,
/// id, worktree and branch.
fn ended_worktree_task(h: &TestHome, text: &str) -> (PathBuf, String, PathBuf, String) {
    let owner = h.start_owner();
    let (repo, _) = repo(h);
    let id = submit(h, text, &repo, true);
    owner.stop();
    let expert = h.workers_of(&id)[0]["expert"].as_str().unwrap().to_string();
    let wt = h.file(&format!("worktrees/{id}-{expert}"));
    let branch = format!("cortex/{id}-{expert}");
    (repo, id, wt, branch)
}

#[test]
fn a_worktree_that_left_its_branch_is_neither_merged_nor_removed_as_if_it_had_not() {
    let h = home();
    let (repo, id, wt, branch) = ended_worktree_task(&h, "write the detached greeting FAKE:normal");
    // The agent detached HEAD and committed its work there: no branch has it.
    git(&wt, &["checkout", "-q", "--detach"]);
    git(&wt, &["add", "-A"]);
    git(
        &wt,
        &[
            "-c",
            "user.name=A",
            "-c",
            "user.email=a@example.invalid",
            "commit",
            "-q",
            "-m",
            "work",
        ],
    );
    let work = git(&wt, &["rev-parse", "HEAD"]);
    let main_before = git(&repo, &["rev-parse", "main"]);

    let out = h.cortex(&["worktree", "remove", &id, "--force"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains("detached HEAD")
            && err.contains(&format!("not on the task's branch {branch}"))
            && err.contains("on no branch")
            && err.contains(&format!("checkout -B {branch}")),
        "{err}"
    );
    assert!(wt.exists(), "nothing was removed");
    assert_eq!(
        git(&wt, &["rev-parse", "HEAD"]),
        work,
        "its commit is still checked out"
    );
    merge_refused(&h, &id, "nothing was merged", &repo, &main_before);
    let d = h.json(&["diff", &id]);
    assert!(
        d["message"]
            .as_str()
            .is_some_and(|m| m.contains("detached HEAD")),
        "diff says where the work is: {d}"
    );
    assert_eq!(paths(&d["files"]), ["fake-out.txt"]);

    // On another branch: named, and merge still refused.
    git(&wt, &["checkout", "-q", "-b", "agent-feature"]);
    let out = h.cortex(&["merge", &id]);
    assert!(
        text(&out.stderr).contains("on the branch agent-feature"),
        "{}",
        text(&out.stderr)
    );

    // Back on the task's branch, as the refusal says: merged with its work.
    git(&wt, &["checkout", "-q", "-B", &branch]);
    let m = h.json(&["merge", &id]);
    assert_eq!(m["branch"], branch.as_str(), "{m}");
    assert_eq!(
        git(&repo, &["rev-parse", "main"]),
        work,
        "fast-forward to the work"
    );
    let r = h.json(&["worktree", "remove", &id]);
    assert_eq!(r["merged"], true, "{r}");
}

#[test]
fn file_names_that_hold_escape_sequences_are_shown_not_acted_on() {
    let h = home();
    let (_, id, wt, _) = ended_worktree_task(&h, "write the plain greeting FAKE:normal");
    // A name that would erase its line and print a forged one, then hide
    // everything after it; and one that would break the listing in two.
    std::fs::write(
        wt.join("evil\u{1b}[2K\r  forged.txt  +0 -0\u{1b}[8m.txt"),
        "x\n",
    )
    .unwrap();
    std::fs::write(wt.join("two\nlines.txt"), "y\n").unwrap();
    for args in [
        vec!["show", id.as_str()],
        vec!["diff", id.as_str(), "--stat"],
    ] {
        let out = text(&h.cortex(&args).stdout);
        assert!(
            !out.contains('\u{1b}') && !out.contains('\r'),
            "{args:?}: {out:?}"
        );
        assert!(
            out.contains("evil\\u{1b}[2K\\u{d}  forged.txt"),
            "{args:?}: {out}"
        );
        assert!(out.contains("two\\u{a}lines.txt  +1 -0"), "{args:?}: {out}");
    }
    // JSON keeps the names exact (escaped as JSON does).
    let d = h.json(&["diff", &id, "--stat"]);
    assert!(
        paths(&d["files"]).contains(&"two\nlines.txt".to_string()),
        "{d}"
    );
}

#[test]
fn changes_git_cannot_read_are_a_failure_not_an_empty_diff() {
    let h = home();
    let (repo, id, _, _) = ended_worktree_task(&h, "write the moved greeting FAKE:normal");
    std::fs::rename(&repo, repo.with_extension("moved")).unwrap();
    for args in [
        vec!["diff", id.as_str()],
        vec!["diff", id.as_str(), "--json"],
    ] {
        let out = h.cortex(&args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&out.stdout)
        );
    }
    let err = text(&h.cortex(&["diff", &id]).stderr);
    assert!(err.contains("cannot read the changes"), "{err}");
    let s = h.json(&["show", &id]);
    assert_eq!(s["changes"]["unreadable"], true, "{s}");
    // A merge says the repository is gone, not that a branch is.
    let out = h.cortex(&["merge", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is not there (moved or removed)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_repository_made_inside_the_work_is_neither_merged_as_a_link_nor_removed_as_merged() {
    let h = home();
    let (repo, id, wt, _) = ended_worktree_task(&h, "write the nested greeting FAKE:normal");
    // The agent made a repository of its own in a subfolder and committed.
    let nested = wt.join("proj");
    std::fs::create_dir(&nested).unwrap();
    git(&nested, &["init", "-q", "-b", "main"]);
    std::fs::write(nested.join("main.c"), "int main(void) { return 0; }\n").unwrap();
    git(&nested, &["add", "main.c"]);
    git(
        &nested,
        &[
            "-c",
            "user.name=A",
            "-c",
            "user.email=a@example.invalid",
            "commit",
            "-q",
            "-m",
            "c",
        ],
    );
    let main_before = git(&repo, &["rev-parse", "main"]);

    let d = h.json(&["diff", &id, "--stat"]);
    assert!(
        d["message"]
            .as_str()
            .is_some_and(|m| m.contains("proj/ is a git repository of its own")),
        "{d}"
    );
    merge_refused(
        &h,
        &id,
        "proj/ is a git repository of its own",
        &repo,
        &main_before,
    );
    let out = h.cortex(&["worktree", "remove", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(nested.join("main.c").exists(), "nothing removed");
    let r = h.json(&["worktree", "remove", &id, "--force"]);
    assert_eq!(
        (r["merged"].as_bool(), r["had_uncommitted"].as_bool()),
        (Some(false), Some(true)),
        "{r}"
    );
}

#[test]
fn a_worktree_deleted_by_hand_is_said_so_and_a_reply_gets_it_back() {
    let h = home();
    let (_, id, wt, branch) = ended_worktree_task(&h, "write the deleted greeting FAKE:normal");
    std::fs::remove_dir_all(&wt).unwrap();
    let shown = text(&h.cortex(&["show", &id]).stdout);
    assert!(
        shown.contains("was deleted, not removed by Cortex")
            && shown.contains(&format!("{branch} holds what it committed")),
        "{shown}"
    );
    let owner = h.start_owner();
    let w = h.workers_of(&id)[0]["id"].as_str().unwrap().to_string();
    let out = h.cortex(&["reply", &w, "write it again"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t = h.wait_task_done(&id, LIMIT);
    assert_eq!(t["status"], "completed", "the worktree was made again: {t}");
    assert!(wt.join(".git").exists());
    owner.stop();
}

#[test]
fn a_worktree_task_after_one_in_another_repository_needs_attention_saying_why() {
    let h = home();
    let owner = h.start_owner();
    let (other, _) = repo(&h);
    let (here, _) = repo(&h);
    let first = submit(&h, "write the beta file FAKE:normal", &other, true);
    let out = h.json(&[
        "submit",
        "write the gamma file FAKE:normal",
        "--worktree",
        "--after",
        &first,
        "--workdir",
        here.to_str().unwrap(),
    ]);
    let id = out["task_id"].as_str().unwrap();
    let t = h.wait_status(id, &["completed", "failed", "needs_attention"], LIMIT);
    assert_eq!(t["status"], "needs_attention", "{t}");
    assert!(
        t["reason"]
            .as_str()
            .unwrap()
            .contains("in another git repository"),
        "{t}"
    );
    owner.stop();
}
