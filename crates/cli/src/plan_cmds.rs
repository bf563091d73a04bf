//! `cortex plan submit | list | show | confirm | edit | merge`.

use std::io::Read;
use std::time::Duration;

use cortex_core::plan::PlanSpec;
use cortex_engine::engine::view;
use cortex_engine::inbox::InboxOp;
use cortex_engine::plans::PlanView;
use cortex_engine::Home;

use crate::args::PlanCommand;
use crate::client;
use crate::commands::{answered, first_line, print_json, require_initialized};
use crate::Failure;

type Result<T> = std::result::Result<T, Failure>;

/// The most bytes a plan file may have.
const MAX_PLAN_BYTES: u64 = 1 << 20;

pub fn plan(home: &Home, cmd: PlanCommand, json: bool) -> Result<()> {
    require_initialized(home)?;
    match cmd {
        PlanCommand::Submit {
            file,
            workdir,
            worktree,
        } => {
            let spec = read_spec(&file)?;
            let dir = match workdir {
                Some(d) => d,
                None => std::env::current_dir().map_err(|e| {
                    Failure::runtime("no_workdir", format!("cannot read the current folder: {e}"))
                })?,
            };
            let dir = std::fs::canonicalize(&dir).map_err(|e| {
                Failure::bad_input("bad_workdir", format!("--workdir {}: {e}", dir.display()))
            })?;
            let op = InboxOp::PlanSubmit {
                plan: spec,
                workdir: Some(dir.to_string_lossy().into_owned()),
                worktree,
            };
            let value = answered(client::execute(home, op, Duration::from_secs(30))?)?;
            print_ack(&value, json);
            Ok(())
        }
        PlanCommand::Edit { plan, file } => {
            let spec = read_spec(&file)?;
            let op = InboxOp::PlanEdit {
                plan_id: plan,
                plan: spec,
            };
            let value = answered(client::execute(home, op, Duration::from_secs(30))?)?;
            print_ack(&value, json);
            Ok(())
        }
        PlanCommand::List => {
            let plans = view::plans(home)?;
            if json {
                print_json(&plans);
            } else if plans.is_empty() {
                println!("no plans: `cortex plan submit FILE`, or `cortex submit GOAL --plan` for the coordinator to write one");
            } else {
                for v in &plans {
                    println!(
                        "{}  {:<22} ${:.4}{}  {:>6}s  {}{}",
                        v.id,
                        counts_of(v),
                        v.cost_usd,
                        crate::commands::estimated(v.cost_estimated),
                        v.elapsed_secs,
                        first_line(&v.goal),
                        if v.awaiting_confirmation {
                            "  (awaiting confirmation)"
                        } else {
                            ""
                        }
                    );
                }
            }
            Ok(())
        }
        PlanCommand::Show { plan } => {
            let view = view::plan(home, &plan)?;
            if json {
                print_json(&view);
            } else {
                show(&view);
            }
            Ok(())
        }
        PlanCommand::Merge { plan } => {
            let op = InboxOp::PlanMerge { plan_id: plan };
            let value = answered(client::execute(home, op, Duration::from_secs(120))?)?;
            if json {
                print_json(&value);
            } else {
                for m in value["merged"].as_array().into_iter().flatten() {
                    let already = m["merge"]["already_merged"].as_bool() == Some(true);
                    println!(
                        "{} {:<20} {} {}",
                        if already { "already" } else { "merged " },
                        m["name"].as_str().unwrap_or(""),
                        if already { "in" } else { "into" },
                        m["merge"]["into"].as_str().unwrap_or("")
                    );
                }
            }
            if let Some(stop) = value.get("stopped_at").filter(|s| !s.is_null()) {
                let mut f = Failure::runtime(
                    "plan_merge_stopped",
                    format!(
                        "stopped at {} ({}): {}; nothing after it was touched",
                        stop["name"].as_str().unwrap_or(""),
                        stop["task_id"].as_str().unwrap_or(""),
                        stop["reason"].as_str().unwrap_or("")
                    ),
                );
                // With --json the answer above says it (`stopped_at`).
                f.printed = json;
                return Err(f);
            }
            Ok(())
        }
        PlanCommand::Confirm { plan } => {
            let op = InboxOp::PlanConfirm { plan_id: plan };
            let value = answered(client::execute(home, op, Duration::from_secs(30))?)?;
            if json {
                print_json(&value);
            } else {
                println!(
                    "plan {} confirmed: its tasks start as their dependencies allow",
                    value["id"].as_str().unwrap_or("?")
                );
            }
            Ok(())
        }
    }
}

fn read_spec(file: &str) -> Result<PlanSpec> {
    let text = read_plan(file)?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::bad_input(
            "bad_plan",
            format!(
                "{file}: not a plan ({e}); expected {{\"goal\", \"tasks\": [{{\"name\", \"description\", \"after\"?: [names], ...}}]}}"
            ),
        )
    })
}

/// A submitted (or edited) plan's answer: its tasks, their ids and status.
fn print_ack(value: &serde_json::Value, json: bool) {
    if json {
        print_json(value);
        return;
    }
    say!("plan {}", value["plan_id"].as_str().unwrap_or("?"));
    for t in value["tasks"].as_array().into_iter().flatten() {
        say!(
            "  {:<20} {}  {:<22} {}",
            t["name"].as_str().unwrap_or(""),
            t["task_id"].as_str().unwrap_or(""),
            t["status"].as_str().unwrap_or(""),
            t["experts"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        );
    }
}

fn read_plan(file: &str) -> Result<String> {
    let mut text = String::new();
    let read = if file == "-" {
        std::io::stdin()
            .take(MAX_PLAN_BYTES)
            .read_to_string(&mut text)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(MAX_PLAN_BYTES).read_to_string(&mut text))
    };
    read.map_err(|e| Failure::bad_input("bad_plan", format!("{file}: cannot read the plan: {e}")))?;
    Ok(text)
}

/// The plan as an indented list: each task under what it waits for.
fn show(v: &PlanView) {
    say!("plan {}  {}", v.id, v.goal.lines().next().unwrap_or(""));
    if let (Some(goal), Some(status)) = (&v.goal_task, v.goal_status) {
        say!(
            "  goal task {goal}: {}",
            cortex_core::worker::state_and_reason(status.as_str(), v.goal_reason.as_deref())
        );
    }
    if v.awaiting_confirmation {
        say!("  awaiting confirmation: `cortex plan confirm {}`", v.id);
    }
    say!(
        "  {}  ${:.4}{}  {}s",
        counts_of(v),
        v.cost_usd,
        crate::commands::estimated(v.cost_estimated),
        v.elapsed_secs
    );
    for t in &v.tasks {
        let after = if t.after.is_empty() {
            String::new()
        } else {
            format!("  after {}", t.after.join(", "))
        };
        let waits = if t.blocked_on.is_empty() || t.task.status.as_str() != "blocked" {
            String::new()
        } else {
            format!(" (waiting for {})", t.blocked_on.join(", "))
        };
        say!(
            "  {:<20} {:<16} {}{after}{waits}",
            t.name,
            t.task.status.as_str(),
            t.task.id
        );
        let status = t.task.status.as_str();
        if let Some(r) = cortex_core::worker::reason_beside(status, t.task.reason.as_deref())
            .filter(|_| status != "blocked")
        {
            say!("  {:<20} {r}", "");
        }
    }
}

/// A plan's tasks counted by status: "1 running, 2 blocked".
fn counts_of(v: &PlanView) -> String {
    let counts: Vec<String> = v.counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    counts.join(", ")
}
