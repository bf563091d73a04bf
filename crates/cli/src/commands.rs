//! One function per command; each prints human text or stable JSON.

use std::time::Duration;

use cortex_core::input::{validate_submission, SubmitRequest};
use cortex_engine::engine::view;
use cortex_engine::inbox::InboxOp;
use cortex_engine::{EngineError, Home, SubmitAck, TaskDto};
use serde::Serialize;

use crate::args::{Command, ConfigCommand, SubmitArgs};
use crate::client::{self, Answer};
use crate::Failure;

type Result<T> = std::result::Result<T, Failure>;

pub fn dispatch(home: &Home, command: Command, json: bool) -> Result<()> {
    if reads_settings(&command) {
        note_settings_not_read(home);
    }
    match command {
        Command::Init => init(home, json),
        Command::Submit(a) => submit(home, a, json),
        Command::Status => crate::status_cmd::status(home, json),
        Command::Tasks => tasks(home, json),
        Command::Cancel { task } => cancel(home, &task, json),
        Command::Reroute { task, expert } => reroute(
            home,
            InboxOp::Reroute {
                task_id: task,
                expert,
            },
            json,
        ),
        Command::Confirm { task, expert } => reroute(
            home,
            InboxOp::Confirm {
                task_id: task,
                expert,
            },
            json,
        ),
        Command::Config(ConfigCommand::Check) => crate::config_cmd::config_check(home, json),
        Command::Plan(p) => crate::plan_cmds::plan(home, p, json),
        Command::Run => crate::run_cmd::run(home, json),
        Command::Route(a) => crate::routing_cmds::route(home, a, json),
        Command::Workers => crate::worker_cmds::workers(home, json),
        Command::Logs {
            worker,
            follow,
            raw,
        } => crate::worker_cmds::logs(home, &worker, follow, raw),
        Command::Kill { worker } => {
            crate::worker_cmds::control(home, InboxOp::Kill { worker_id: worker }, json)
        }
        Command::Restart { worker } => {
            crate::worker_cmds::control(home, InboxOp::Restart { worker_id: worker }, json)
        }
        Command::Extend {
            worker,
            time,
            minutes,
        } => crate::worker_cmds::control(
            home,
            InboxOp::Extend {
                worker_id: worker,
                minutes: match (minutes, time) {
                    (Some(m), _) => m,
                    (None, t) => minutes_of(t.as_deref().unwrap_or_default())?,
                },
            },
            json,
        ),
        Command::Nudge { worker, text } => crate::worker_cmds::control(
            home,
            InboxOp::Nudge {
                worker_id: worker,
                text,
            },
            json,
        ),
        Command::Reply { worker, text } => crate::worker_cmds::control(
            home,
            InboxOp::Reply {
                worker_id: worker,
                text,
            },
            json,
        ),
        Command::Pause => {
            crate::worker_cmds::control(home, InboxOp::SetPaused { paused: true }, json)
        }
        Command::Resume { expert: None } => {
            crate::worker_cmds::control(home, InboxOp::SetPaused { paused: false }, json)
        }
        Command::Resume {
            expert: Some(expert),
        } => crate::worker_cmds::control(home, InboxOp::CloseCircuit { expert }, json),
        Command::Heartbeat(a) => crate::worker_cmds::heartbeat(home, a),
        Command::Doctor => crate::doctor_cmd::doctor(home, json),
        // Handled before a home is looked for (main.rs).
        Command::AgentShim { .. } => Ok(()),
        Command::Eval(a) => crate::routing_cmds::eval(home, a, json),
        Command::Router(c) => crate::routing_cmds::router(home, c, json),
        Command::Show { task } => crate::review_cmds::show(home, &task, json),
        Command::Diff { task, stat, expert } => {
            crate::review_cmds::diff(home, &task, expert.as_deref(), stat, json)
        }
        Command::Merge {
            task,
            into,
            squash,
            expert,
        } => crate::review_cmds::merge(
            home,
            cortex_engine::review::MergeRequest {
                task_id: task,
                expert,
                into,
                squash,
            },
            json,
        ),
        Command::Worktree(crate::args::WorktreeCommand::Remove {
            task,
            force,
            expert,
        }) => crate::review_cmds::remove_worktree(home, task, expert, force, json),
    }
}

/// Whether a command reads the home's settings, and so should say when it
/// reads the ones last in use instead (`status` and `doctor` say it in
/// their own report; `run` refuses to start).
fn reads_settings(command: &Command) -> bool {
    match command {
        Command::Init
        | Command::Run
        | Command::Config(_)
        | Command::Heartbeat(_)
        | Command::AgentShim { .. }
        | Command::Doctor
        | Command::Status
        | Command::Logs { .. }
        | Command::Diff { .. } => false,
        Command::Eval(a) => !a.defaults && a.experts.is_none(),
        _ => true,
    }
}

/// Says on stderr, before a command reads the home, that a settings file on
/// disk is not valid and what is used instead (`status` and `doctor` say it
/// in their own report; a command that needs no settings says nothing).
fn note_settings_not_read(home: &Home) {
    if !home.is_initialized() {
        return;
    }
    if let Ok(cortex_engine::home::ReadSettings {
        not_read: Some(n), ..
    }) = home.settings_for_reading()
    {
        eprintln!("{}", settings_not_read_line(&n));
    }
}

/// The words for settings on disk that are not valid, with the settings
/// used instead (the problem's secrets hidden and its control characters
/// escaped: it quotes the file).
pub(crate) fn settings_not_read_line(n: &cortex_engine::home::NotRead) -> String {
    let line = format!(
        "cortex: the settings on disk are not valid ({}); until they are fixed, this uses the settings an owner last read at {} (`cortex config check` lists every problem)",
        cortex_core::redact::redact(&n.problem),
        cortex_engine::views::local_when(n.in_use_read_at, chrono::Utc::now())
    );
    cortex_core::terminal::one_line(&line).into_owned()
}

/// How `cortex workers` and `show` mark a cost that is Cortex's estimate.
pub(crate) fn estimated(yes: bool) -> &'static str {
    if yes {
        " (est.)"
    } else {
        ""
    }
}

pub(crate) fn print_json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("cortex: cannot encode output: {e}"),
    }
}

pub(crate) fn require_initialized(home: &Home) -> Result<()> {
    if home.is_initialized() {
        Ok(())
    } else {
        Err(Failure::bad_input(
            "not_initialized",
            format!(
                "{} is not a coordination home yet: run `cortex init` (or pass --home)",
                home.root().display()
            ),
        ))
    }
}

fn init(home: &Home, json: bool) -> Result<()> {
    let written = home.init()?;
    if json {
        print_json(&serde_json::json!({
            "home": home.root(),
            "written": written.iter().map(|p| p.strip_prefix(home.root()).unwrap_or(p)).collect::<Vec<_>>(),
        }));
    } else if written.is_empty() {
        println!(
            "{} is ready (all files were already there; nothing overwritten)",
            home.root().display()
        );
    } else {
        println!("initialized {}", home.root().display());
        for p in written {
            println!(
                "  wrote {}",
                p.strip_prefix(home.root()).unwrap_or(&p).display()
            );
        }
    }
    Ok(())
}

fn submit(home: &Home, a: SubmitArgs, json: bool) -> Result<()> {
    if !home.is_initialized() {
        home.init()?;
    }
    if let Some(path) = a.batch.clone() {
        return crate::batch::submit_batch(home, &a, &path);
    }
    // `-`: the text is what stdin holds (a task written by another program).
    let text = match a.text.as_deref() {
        Some("-") => {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes).map_err(|e| {
                Failure::runtime("io", format!("cannot read the task from stdin: {e}"))
            })?;
            String::from_utf8(bytes)
                .map(|t| t.trim_end().to_string())
                .map_err(|_| {
                    Failure::bad_input("bad_input", "the task on stdin is not valid UTF-8 text")
                })?
        }
        _ => a.text.clone().unwrap_or_default(),
    };
    let req = SubmitRequest {
        description: text,
        task_type: a.task_type,
        priority: a.priority,
        key: a.key,
        workdir: Some(resolve_workdir(a.workdir)?),
        worktree: a.worktree,
        verify: a.verify,
        after: a.after,
        plan: a.plan,
    };
    // Check locally first, so bad input fails fast without a round trip.
    let experts = home.settings_for_reading()?.experts;
    validate_submission(&req, &experts.task_types()).map_err(EngineError::from)?;
    let answer = client::execute(
        home,
        InboxOp::Submit { submit: req },
        Duration::from_secs(a.timeout),
    )?;
    let value = answered(answer)?;
    let ack: SubmitAck = serde_json::from_value(value).map_err(|e| {
        Failure::runtime("protocol", format!("unexpected answer from the owner: {e}"))
    })?;
    if !json && !ack.not_applied.is_empty() {
        eprintln!(
            "cortex: an existing task answers this submission, so its {} {} not applied: the task goes on as it was first submitted (cancel it and submit again to change that)",
            ack.not_applied.join(" and "),
            if ack.not_applied.len() == 1 { "was" } else { "were" }
        );
    }
    if json {
        print_json(&ack);
        // On stderr: the JSON answer stays whole, a person or log still sees it.
        if !ack.deduplicated {
            crate::status_cmd::note_if_unsupervised(home);
        }
    } else if let (Some(from), Some(to)) = (ack.priority_raised_from, ack.priority) {
        println!(
            "{} (already submitted, {}; priority raised from {from} to {to})",
            ack.task_id, ack.status
        );
    } else if ack.deduplicated {
        println!("{} (already submitted, {})", ack.task_id, ack.status);
    } else {
        println!("{}", ack.task_id);
        if ack.status == cortex_core::task::TaskStatus::AwaitingConfirmation {
            eprintln!(
                "cortex: the routing is unsure, so the task waits for a person: `cortex confirm {0} [EXPERT]` or `cortex reroute {0} EXPERT` lets it start (`cortex tasks` says why)",
                ack.task_id
            );
        }
        crate::status_cmd::note_if_unsupervised(home);
    }
    Ok(())
}

/// A task's folder, absolute (default: the current folder); it must exist.
pub(crate) fn resolve_workdir(given: Option<std::path::PathBuf>) -> Result<String> {
    let workdir = match given {
        Some(d) => d,
        None => std::env::current_dir()
            .map_err(|e| Failure::runtime("io", format!("cannot read the current folder: {e}")))?,
    };
    let workdir = workdir.canonicalize().map_err(|e| {
        Failure::bad_input(
            "bad_input",
            format!("workdir {} is not usable: {e}", workdir.display()),
        )
    })?;
    if !workdir.is_dir() {
        return Err(Failure::bad_input(
            "bad_input",
            format!("workdir {} is not a folder", workdir.display()),
        ));
    }
    Ok(workdir.to_string_lossy().into_owned())
}

pub(crate) fn answered(answer: Answer) -> Result<serde_json::Value> {
    match answer {
        Answer::Ok(v) => Ok(v),
        Answer::Failed {
            code,
            message,
            bad_input,
        } => Err(Failure {
            // The owner's own code (`refused`, `unknown_task`...), as a
            // command that owned the home would give it.
            code: code.map_or_else(
                || if bad_input { "bad_input" } else { "failed" }.into(),
                Into::into,
            ),
            message,
            bad_input,
            printed: false,
        }),
    }
}

fn cancel(home: &Home, task: &str, json: bool) -> Result<()> {
    require_initialized(home)?;
    let answer = client::execute(
        home,
        InboxOp::Cancel {
            task_id: task.to_string(),
        },
        Duration::from_secs(30),
    )?;
    let value = answered(answer)?;
    let t: TaskDto = serde_json::from_value(value).map_err(|e| {
        Failure::runtime("protocol", format!("unexpected answer from the owner: {e}"))
    })?;
    if json {
        print_json(&t);
    } else {
        println!("{} cancelled", t.id);
    }
    Ok(())
}

/// `reroute` and `confirm`: both answer with the task and what happened.
fn reroute(home: &Home, op: InboxOp, json: bool) -> Result<()> {
    require_initialized(home)?;
    let value = answered(client::execute(home, op, Duration::from_secs(30))?)?;
    let ack: cortex_engine::RerouteAck = serde_json::from_value(value).map_err(|e| {
        Failure::runtime("protocol", format!("unexpected answer from the owner: {e}"))
    })?;
    if json {
        print_json(&ack);
    } else {
        println!("{}", ack.message);
    }
    Ok(())
}

fn tasks(home: &Home, json: bool) -> Result<()> {
    require_initialized(home)?;
    let list = view::tasks(home)?;
    if json {
        print_json(&list);
        return Ok(());
    }
    if list.is_empty() {
        println!("no tasks");
    } else {
        println!(
            "{:<28}  {:<21} {:<8} DESCRIPTION",
            "TASK", "STATUS", "PRIORITY"
        );
    }
    for t in list {
        // One line, its whitespace (tabs, newlines) as single spaces, cut
        // at a word: the same words every list names a task by.
        let text = cortex_engine::views::first_words(&t.description, 70);
        let text = cortex_core::terminal::one_line(&text);
        println!(
            "{}  {:<21} {:<8} {}",
            t.id,
            t.status.as_str(),
            t.priority,
            text
        );
        // Why a task is held or ended badly, on its own line.
        if let Some(reason) = t.reason.as_deref().filter(|_| {
            !matches!(
                t.status,
                cortex_core::task::TaskStatus::Completed | cortex_core::task::TaskStatus::Running
            )
        }) {
            let reason = reason.lines().next().unwrap_or("");
            println!(
                "    {}",
                cortex_core::terminal::one_line(&cortex_core::worker::state_and_reason(
                    t.status.as_str(),
                    Some(reason)
                ))
            );
        }
    }
    Ok(())
}

/// A text's first line, cut at 80 characters, its secrets hidden before the
/// cut (a key cut in half no longer looks like one).
pub(crate) fn first_line(s: &str) -> String {
    let line: String = cortex_core::redact::redact(s)
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(80)
        .collect();
    cortex_core::terminal::one_line(&line).into_owned()
}

/// A JSON error inside one line of a JSON-lines input, whose number the
/// caller gives: "missing field `text` (column 12)", not serde's "at line 1
/// column 12", which names the wrong line.
pub(crate) fn json_line_error(e: &serde_json::Error) -> String {
    let what = e.to_string();
    if e.line() == 0 {
        // From a value already parsed: there is no place to name.
        return what;
    }
    let what = what
        .rsplit_once(" at line ")
        .map_or(what.as_str(), |(w, _)| w);
    format!("{what} (column {})", e.column())
}

/// `30`, `30m` or `2h` as minutes, for `cortex extend`.
pub(crate) fn minutes_of(text: &str) -> Result<u64> {
    let t = text.trim();
    let (number, per) = match t.strip_suffix('h') {
        Some(n) => (n, 60),
        None => (t.strip_suffix('m').unwrap_or(t), 1),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(per))
        .filter(|m| *m > 0)
        .ok_or_else(|| {
            Failure::bad_input(
                "bad_input",
                format!("`{text}` is not a time to extend by: give minutes (`30`, `30m`) or hours (`2h`)"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::{minutes_of, settings_not_read_line};

    #[test]
    fn settings_not_read_are_said_with_their_secrets_hidden() {
        let n = cortex_engine::home::NotRead {
            problem:
                "config.json: key `agent.env`: \"GITHUB_TOKEN=ghp_LIVEEDITSECRET0123456789abcdef\""
                    .into(),
            in_use_read_at: chrono::Utc::now(),
        };
        let line = settings_not_read_line(&n);
        assert!(line.contains("GITHUB_TOKEN=[redacted]"), "{line}");
    }

    #[test]
    fn settings_not_read_are_said_with_their_control_characters_escaped() {
        let n = cortex_engine::home::NotRead {
            problem: "key `name`: `ops\u{1b}[2J` is not a valid expert name".into(),
            in_use_read_at: chrono::Utc::now(),
        };
        let line = settings_not_read_line(&n);
        assert!(line.contains("`ops\\u{1b}[2J`"), "{line}");
    }

    #[test]
    fn a_time_to_extend_by_is_minutes_or_hours() {
        assert_eq!(minutes_of("30").unwrap(), 30);
        assert_eq!(minutes_of("30m").unwrap(), 30);
        assert_eq!(minutes_of("2h").unwrap(), 120);
        for bad in ["", "0", "10s", "h", "-5m", "1.5h"] {
            let err = minutes_of(bad).unwrap_err();
            assert!(
                err.message.contains("is not a time to extend by"),
                "{bad}: {}",
                err.message
            );
        }
    }
}
