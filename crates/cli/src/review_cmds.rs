//! `cortex show`, `diff`, `merge`, `worktree remove`: a task's work, reviewed
//! and brought back.

use std::io::IsTerminal;
use std::time::Duration;

use cortex_engine::inbox::InboxOp;
use cortex_engine::review::{self, Changes, ChangesKind, MergeDto, MergeRequest, RemoveDto};
use cortex_engine::Home;

use crate::client;
use crate::commands::{answered, estimated, print_json, require_initialized};
use crate::Failure;

type Result<T> = std::result::Result<T, Failure>;

/// `writeln!` into a `String`, which cannot fail.
macro_rules! outln {
    ($o:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($o, $($arg)*);
    }};
}

/// Git work on a large repository can take a while; the owner answers
/// once it is done.
const WRITE_TIMEOUT: Duration = Duration::from_secs(120);

pub fn show(home: &Home, task: &str, json: bool) -> Result<()> {
    require_initialized(home)?;
    let s = cortex_engine::engine::view::show(home, task)?;
    if json {
        print_json(&s);
        return Ok(());
    }
    // Everything said is text from agents and repositories too: shown,
    // not acted on, by a terminal.
    let mut o = String::new();
    let t = &s.task;
    outln!(o, "{}  {}  {}", t.id, t.status, t.priority);
    outln!(o, "  {}", t.description.replace('\n', "\n  "));
    if let Some(r) = &t.routing {
        outln!(
            o,
            "routing: {} ({}, {})",
            r.primary_expert,
            cortex_core::router::two_places(r.confidence),
            r.strategy.as_str().replace('_', " ")
        );
    }
    // A reason that only repeats the status says nothing more.
    if let Some(why) = cortex_core::worker::reason_beside(t.status.as_str(), t.reason.as_deref()) {
        outln!(o, "reason: {why}");
    }
    match &t.verification {
        None => outln!(o, "verification: not verified"),
        Some(v) => outln!(
            o,
            "verification: {} `{}` (exit {}, {} round{}){}",
            v.outcome.replace('_', " "),
            v.command,
            v.exit_code.map_or_else(|| "-".into(), |c| c.to_string()),
            v.rounds,
            if v.rounds == 1 { "" } else { "s" },
            // A check that did not fail says why it did not pass.
            match (v.outcome.as_str(), &v.reason) {
                ("stopped" | "not_run", Some(why)) => format!(": {why}"),
                _ => String::new(),
            }
        ),
    }
    outln!(
        o,
        "cost ${:.4}{}, tokens {} in / {} out, {} attempt{}, {:.1}s{}",
        t.cost_usd,
        estimated(t.cost_estimated),
        s.tokens.input,
        s.tokens.output,
        s.attempts,
        if s.attempts == 1 { "" } else { "s" },
        s.duration_secs,
        // The time is the agent's: a check's own time is not in it.
        if t.verification.is_some() {
            " of the agent's time (its checks' not counted)"
        } else {
            ""
        }
    );
    for w in &s.workers {
        outln!(
            o,
            "worker {} {} {}",
            w.id,
            w.expert,
            cortex_core::worker::state_and_reason(&w.status, w.reason.as_deref())
        );
        for a in &w.attempts {
            outln!(
                o,
                "  attempt {} {}{} ${:.4}{} {}{}",
                a.n,
                a.outcome.as_deref().unwrap_or("running"),
                cortex_core::worker::attempt_reason_beside(
                    a.outcome.as_deref(),
                    a.reason.as_deref()
                )
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
                a.cost_usd,
                estimated(a.cost_estimated),
                if a.queued {
                    "queued on the cluster, not begun to run".to_string()
                } else {
                    format!("{:.1}s", a.duration_secs)
                },
                a.running_at
                    .map(|r| format!(
                        " (after {:.1}s in the cluster's queue)",
                        (r - a.started_at).num_milliseconds().max(0) as f64 / 1000.0
                    ))
                    .unwrap_or_default()
            );
        }
        print_changes(&mut o, &w.changes, "  ");
    }
    if let Some(result) = &t.result {
        outln!(o, "result:\n  {}", result.replace('\n', "\n  "));
    }
    print!("{}", cortex_core::terminal::lines(&o));
    Ok(())
}

fn print_changes(o: &mut String, c: &Changes, indent: &str) {
    match c.kind {
        ChangesKind::None => {}
        ChangesKind::Worktree => outln!(
            o,
            "{indent}changes on {} since {}{}{}:",
            c.branch.as_deref().unwrap_or("?"),
            short(c.base.as_deref()),
            if c.worktree_removed {
                " (its worktree was removed, the branch is kept)"
            } else {
                ""
            },
            c.merged_where()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        ),
        ChangesKind::InPlace => outln!(
            o,
            "{indent}changes in {} since {} (may include other people's edits):",
            c.repo.as_deref().unwrap_or("?"),
            short(c.base.as_deref())
        ),
    }
    if let Some(m) = &c.message {
        // A worktree's note (it left its branch) stands beside its files.
        if c.kind != ChangesKind::InPlace || c.files.is_empty() {
            outln!(o, "{indent}{m}");
        }
    }
    for f in &c.files {
        outln!(
            o,
            "{indent}  {}  +{} -{}",
            // One line each, whatever the name holds.
            cortex_core::terminal::one_line(&f.path),
            f.added.map_or_else(|| "bin".into(), |n| n.to_string()),
            f.removed.map_or_else(|| "bin".into(), |n| n.to_string())
        );
    }
}

fn short(commit: Option<&str>) -> &str {
    commit.map_or("?", |c| c.get(..12).unwrap_or(c))
}

pub fn diff(home: &Home, task: &str, expert: Option<&str>, stat: bool, json: bool) -> Result<()> {
    require_initialized(home)?;
    let d = review::diff(home, task, expert, stat)?;
    // Git could not read the changes: a failure (exit 1), not "no changes".
    if d.changes.unreadable {
        return Err(Failure::runtime(
            "git",
            format!(
                "cannot read the changes of task {task}: {}",
                d.changes.message.as_deref().unwrap_or("git failed")
            ),
        ));
    }
    if json {
        print_json(&d);
        return Ok(());
    }
    let c = &d.changes;
    if c.kind == ChangesKind::None {
        println!(
            "nothing to diff: {}",
            c.message.as_deref().unwrap_or("no git repository")
        );
        return Ok(());
    }
    if c.kind == ChangesKind::InPlace {
        eprintln!(
            "cortex: {}",
            c.message.as_deref().unwrap_or(
                "ran in place: the changes since the recorded commit may include other people's edits"
            )
        );
    } else if let (Some(m), true) = (&c.message, d.patch.is_some() && !stat) {
        // Beside a patch; a listing (--stat) has the note in it.
        eprintln!("cortex: {}", cortex_core::terminal::lines(m));
    }
    match (&d.patch, stat) {
        // Piped, the patch is exact (for `git apply`); on a terminal, what
        // its lines hold is shown, not acted on.
        (Some(p), false) if std::io::stdout().is_terminal() => {
            print!("{}", cortex_core::terminal::lines(p));
        }
        (Some(p), false) => print!("{p}"),
        _ => {
            let mut o = String::new();
            print_changes(&mut o, c, "");
            print!("{}", cortex_core::terminal::lines(&o));
        }
    }
    Ok(())
}

pub fn merge(home: &Home, req: MergeRequest, json: bool) -> Result<()> {
    require_initialized(home)?;
    let value = answered(client::execute(
        home,
        InboxOp::Merge { merge: req },
        WRITE_TIMEOUT,
    )?)?;
    let m: MergeDto = serde_json::from_value(value.clone())
        .map_err(|e| Failure::runtime("protocol", format!("unexpected answer: {e}")))?;
    if json {
        print_json(&value);
    } else if m.already_merged {
        println!(
            "{} already has everything on {}: nothing to merge",
            m.into, m.branch
        );
    } else {
        println!(
            "merged {} into {} ({}{}): {}, {} file{}",
            m.branch,
            m.into,
            if m.squash {
                "squashed"
            } else if m.fast_forward {
                "fast-forward"
            } else {
                "merge commit"
            },
            if m.committed_changes.is_some() {
                ", uncommitted changes committed first"
            } else {
                ""
            },
            short(Some(&m.commit)),
            m.files.len(),
            if m.files.len() == 1 { "" } else { "s" }
        );
    }
    Ok(())
}

pub fn remove_worktree(
    home: &Home,
    task: String,
    expert: Option<String>,
    force: bool,
    json: bool,
) -> Result<()> {
    require_initialized(home)?;
    let value = answered(client::execute(
        home,
        InboxOp::RemoveWorktree {
            task_id: task,
            expert,
            force,
        },
        WRITE_TIMEOUT,
    )?)?;
    let r: RemoveDto = serde_json::from_value(value.clone())
        .map_err(|e| Failure::runtime("protocol", format!("unexpected answer: {e}")))?;
    if json {
        print_json(&value);
    } else {
        let state = match (r.changed, r.merged, r.had_uncommitted) {
            (false, ..) => ", it changed nothing",
            (true, true, _) => ", merged",
            (true, false, true) => ", not merged: its uncommitted changes are lost",
            (true, false, false) => ", not merged",
        };
        println!("removed {} (branch {} kept{state})", r.worktree, r.branch);
    }
    Ok(())
}
