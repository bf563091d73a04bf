//! `cortex workers`, `logs`, `kill`, `restart`, `pause`, `resume`, `heartbeat`.

use std::time::Duration;

use cortex_core::id::WorkerId;
use cortex_core::transcript::render_line;
use cortex_engine::engine::view;
use cortex_engine::inbox::InboxOp;
use cortex_engine::runtime::{check_in_worker, record_check_in, WorkerDto};
use cortex_engine::Home;

use crate::args::HeartbeatArgs;
use crate::client;
use crate::commands::{answered, print_json, require_initialized as need_home};
use crate::Failure;

type Result<T> = std::result::Result<T, Failure>;

fn parse_worker(id: &str) -> Result<WorkerId> {
    WorkerId::parse(id).ok_or_else(|| {
        Failure::bad_input(
            "unknown_worker",
            format!("`{id}` is not a worker id (w-...)"),
        )
    })
}

pub fn workers(home: &Home, json: bool) -> Result<()> {
    need_home(home)?;
    if json {
        print_json(&view::workers(home)?);
        return Ok(());
    }
    let list = view::workers_with_tasks(home)?;
    let supervised = cortex_engine::lock::supervising_owner(&home.lock_file()).is_some();
    if list.is_empty() {
        println!("no workers");
        return Ok(());
    }
    let mut rows = vec![[
        "WORKER", "TASK", "STATE", "HEALTH", "EXPERT", "ATTEMPT", "PROCESS", "COST", "REASON",
    ]
    .map(String::from)
    .to_vec()];
    for (w, task) in list {
        // The task's first words name the worker for a person; the id stays first.
        let task = if task.is_empty() {
            "-".to_string()
        } else {
            format!("“{task}”")
        };
        let reason = match (w.health.as_str(), &w.health_reason) {
            // A reason that only repeats the state says nothing more.
            ("healthy" | "starting", _) | (_, None) => {
                cortex_core::worker::reason_beside(w.state.as_str(), w.reason.as_deref())
                    .unwrap_or_default()
                    .to_string()
            }
            (_, Some(why)) => why.clone(),
        };
        let reason = match when_it_goes_on(&w, supervised) {
            Some(when) => format!("{reason}; {when}"),
            None => reason,
        };
        rows.push(vec![
            w.id.to_string(),
            task,
            w.state.as_str().to_string(),
            w.health.clone(),
            w.expert.clone(),
            format!("attempt {}", w.attempt),
            w.process.clone().unwrap_or_else(|| "no process".into()),
            format!(
                "${:.4}{}",
                w.cost_usd,
                crate::commands::estimated(w.cost_estimated)
            ),
            reason,
        ]);
    }
    crate::table::print_table(&rows);
    Ok(())
}

/// When a waiting worker goes on, said at the moment it is printed, in
/// this machine's time: the restart due, or the account's usage limit
/// resetting; with no owner running, that it waits for one. A hold by the
/// circuit breaker says its own time.
fn when_it_goes_on(w: &cortex_engine::runtime::WorkerDto, supervised: bool) -> Option<String> {
    use cortex_engine::views::{local_when_exact, WaitKind, WaitingFor};
    if w.state != cortex_core::worker::WorkerStatus::Waiting {
        return None;
    }
    let Some(WaitingFor { kind, until, .. }) = &w.waiting_for else {
        return None;
    };
    if *kind == WaitKind::Circuit {
        return None;
    }
    if !supervised {
        return Some("starts once an owner runs (`cortex run` or the app)".into());
    }
    let now = chrono::Utc::now();
    let until = (*until)?;
    Some(match (kind, until > now) {
        (WaitKind::UsageLimit, true) => format!("resumes at {}", local_when_exact(until, now)),
        (WaitKind::UsageLimit, false) => "it has reset: resumes now".into(),
        (_, true) => format!("due at {}", local_when_exact(until, now)),
        (_, false) => "due now".into(),
    })
}

pub fn logs(home: &Home, worker: &str, follow: bool, raw: bool) -> Result<()> {
    need_home(home)?;
    let id = parse_worker(worker)?;
    let dir = home.workers_dir().join(id.as_str());
    if !dir.is_dir() {
        return Err(Failure::bad_input(
            "unknown_worker",
            format!("no worker {id}"),
        ));
    }
    let mut attempt = 1;
    let mut offset = 0u64;
    let mut printed = false;
    // With more than one attempt, each is headed and its end said, so the
    // transcript reads as what happened; followed, a later attempt may come,
    // so the first is headed from the start.
    let several = dir.join("attempt-2").is_dir() || follow;
    let mut ends = AttemptEnds::default();
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    if several && !raw {
        println!("── attempt 1");
    }
    loop {
        let path = dir.join(format!("attempt-{attempt}")).join("stdout.jsonl");
        // Read piecewise from where the last pass ended: a flood of output
        // is printed whole without being held whole.
        offset = lines_after(&path, offset, |read| match read {
            Read::Line(line) if raw => {
                printed = true;
                // Piped, exact; on a terminal, shown, not acted on.
                if terminal {
                    println!("{}", cortex_core::terminal::lines(line));
                } else {
                    println!("{line}");
                }
            }
            Read::Line(line) => {
                // Rendered with its secrets hidden (before a long
                // line is cut, so no part of one is shown).
                for l in render_line(line) {
                    printed = true;
                    println!("{}", cortex_core::terminal::lines(&l));
                }
            }
            Read::TooLong(bytes) => {
                let said = format!(
                    "── a line of {bytes} bytes left out (longer than {} MB)",
                    MAX_LINE / 1_000_000
                );
                // Raw output stays the agent's lines: said beside it.
                if raw {
                    eprintln!("{said}");
                } else {
                    printed = true;
                    println!("{said}");
                }
            }
        });
        let next = dir.join(format!("attempt-{}", attempt + 1));
        if next.is_dir() {
            if !raw {
                if let Some(end) = ends.of(home, &id, attempt) {
                    println!(
                        "── attempt {attempt} {}",
                        cortex_core::terminal::one_line(&end)
                    );
                }
            }
            attempt += 1;
            offset = 0;
            if !raw {
                println!("── attempt {attempt}");
            }
            continue;
        }
        let seen = view::workers(home)?.into_iter().find(|w| w.id == id);
        let done = seen
            .as_ref()
            .is_none_or(|w: &WorkerDto| w.state.is_terminal());
        if !follow || done {
            if !printed && !raw {
                // An empty transcript says why, not nothing.
                println!("── no output: {}", no_output(seen.as_ref()));
            } else if (several || attempt > 1) && !raw {
                if let Some(end) = ends.of(home, &id, attempt) {
                    println!(
                        "── attempt {attempt} {}",
                        cortex_core::terminal::one_line(&end)
                    );
                }
            }
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Bytes of one output line `cortex logs` holds at most.
const MAX_LINE: u64 = 8_000_000;

/// What `lines_after` hands over.
enum Read<'a> {
    /// A complete line, without its line end.
    Line(&'a str),
    /// A line longer than `MAX_LINE`, skipped: its length with its line end.
    TooLong(u64),
}

/// Hands each complete line of `path` after byte `offset` to `f`, reading
/// it piecewise (at most `MAX_LINE` bytes held); returns the offset after
/// the last one handed over. An unterminated last line is left for the
/// next read, its writer not done with it.
fn lines_after(path: &std::path::Path, offset: u64, mut f: impl FnMut(Read<'_>)) -> u64 {
    use std::io::{BufRead, Seek};
    let Ok(mut file) = std::fs::File::open(path) else {
        return offset;
    };
    if file.seek(std::io::SeekFrom::Start(offset)).is_err() {
        return offset;
    }
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut at = offset;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let read = std::io::Read::take(&mut reader, MAX_LINE + 1).read_until(b'\n', &mut buf);
        let n = match read {
            Ok(0) | Err(_) => return at,
            Ok(n) => n as u64,
        };
        if let Some(line) = buf.strip_suffix(b"\n") {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            f(Read::Line(&String::from_utf8_lossy(line)));
            at += n;
        } else if n > MAX_LINE {
            // Too long to hold: skipped to its end, if it has one yet.
            let mut len = n;
            loop {
                let Ok(chunk) = reader.fill_buf() else {
                    return at;
                };
                if chunk.is_empty() {
                    return at;
                }
                if let Some(i) = chunk.iter().position(|&b| b == b'\n') {
                    reader.consume(i + 1);
                    len += i as u64 + 1;
                    break;
                }
                let k = chunk.len();
                reader.consume(k);
                len += k as u64;
            }
            f(Read::TooLong(len));
            at += len;
        } else {
            return at;
        }
    }
}

pub fn control(home: &Home, op: InboxOp, json: bool) -> Result<()> {
    need_home(home)?;
    let verb = match &op {
        InboxOp::Kill { .. } => "killed",
        InboxOp::Restart { .. } => "restarting",
        InboxOp::Extend { .. } => "extended",
        InboxOp::Nudge { .. } => "nudged (resuming with the message)",
        InboxOp::Reply { .. } => {
            "continuing (a new attempt resumes the conversation with your reply)"
        }
        _ => "",
    };
    if let InboxOp::Kill { worker_id }
    | InboxOp::Restart { worker_id }
    | InboxOp::Extend { worker_id, .. }
    | InboxOp::Nudge { worker_id, .. }
    | InboxOp::Reply { worker_id, .. } = &op
    {
        parse_worker(worker_id)?;
    }
    let is_kill = matches!(op, InboxOp::Kill { .. });
    let starts = matches!(
        op,
        InboxOp::Restart { .. } | InboxOp::Nudge { .. } | InboxOp::Reply { .. }
    );
    let value = answered(client::execute(home, op, Duration::from_secs(60))?)?;
    if starts {
        crate::status_cmd::note_if_unwatched(home);
    }
    if is_kill {
        return kill_answered(home, &value, json);
    }
    if json {
        print_json(&value);
    } else if let Some(was_open) = value.get("was_open").and_then(serde_json::Value::as_bool) {
        let expert = value["expert"].as_str().unwrap_or("the expert");
        if was_open {
            println!("circuit breaker of {expert} closed: its tasks start again");
        } else {
            println!("{expert} was not paused by its circuit breaker: nothing changed");
        }
    } else if let Some(paused) = value.get("paused").and_then(serde_json::Value::as_bool) {
        let changed = value["changed"].as_bool().unwrap_or(true);
        println!(
            "{}",
            match (paused, changed) {
                (true, true) => "spawning paused",
                (false, true) => "spawning resumed",
                (true, false) => "spawning was already paused: nothing changed",
                (false, false) => "spawning was not paused: nothing changed",
            }
        );
    } else {
        println!("{} {verb}", value["id"].as_str().unwrap_or("worker"));
    }
    Ok(())
}

/// `kill` answers as the stop begins (`stopping`: SIGTERM sent, SIGKILL
/// after the grace period), then waits for the end and answers again with
/// the final state. With `--json`, one line each.
fn kill_answered(home: &Home, value: &serde_json::Value, json: bool) -> Result<()> {
    let show = |w: &serde_json::Value| {
        if json {
            println!("{w}");
        } else {
            let id = w["id"].as_str().unwrap_or("worker");
            match w["state"].as_str().unwrap_or("") {
                "stopping" => println!(
                    "{id} stopping (SIGTERM sent to its processes, SIGKILL after the grace period)"
                ),
                state => println!("{id} {state}"),
            }
        }
    };
    show(value);
    if value["state"] != "stopping" {
        return Ok(());
    }
    let id = value["id"].as_str().unwrap_or_default().to_string();
    let grace = home
        .settings_for_reading()
        .map_or(5, |s| s.config.pm.kill_grace_secs);
    let deadline = std::time::Instant::now() + Duration::from_secs(grace + 10);
    loop {
        let now = view::workers(home)?
            .into_iter()
            .find(|w| w.id.as_str() == id);
        match now {
            Some(w) if w.state.is_terminal() => {
                show(&serde_json::to_value(&w).unwrap_or_default());
                return Ok(());
            }
            None => return Ok(()),
            Some(_) if std::time::Instant::now() >= deadline => {
                return Err(Failure::runtime(
                    "still_stopping",
                    format!("{id} has not ended yet; `cortex workers` shows when it has"),
                ));
            }
            Some(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

pub fn heartbeat(home: &Home, a: HeartbeatArgs) -> Result<()> {
    let id = check_in_worker(a.worker.as_deref())?;
    // A percentage: 150% or -3% would be shown as said. Refused when a
    // person types it; an agent's own check-in is recorded (its sign of
    // life counts) without a progress that is no percentage.
    let by_hand = a.hook.is_none() && a.worker.is_some();
    let mut a = a;
    if let Some(p) = a.progress.filter(|p| !(0.0..=100.0).contains(p)) {
        if by_hand {
            return Err(Failure::bad_input(
                "bad_progress",
                format!("--progress {p}: expected a percentage from 0 to 100"),
            ));
        }
        a.progress = None;
    }
    if a.hook.is_none() && a.worker.is_some() {
        // A check-in that names its worker by hand names one of this home.
        // An agent's own (its hooks, or a script it runs, which take the
        // worker from CORTEX_WORKER_ID) is never refused: a hook that fails
        // could block the agent's tool call, and a pod's home keeps no
        // worker folders.
        let dir = home.workers_dir().join(id.as_str());
        if !dir.is_dir() {
            return Err(Failure::bad_input(
                "unknown_worker",
                format!("no worker {id} in this home: nothing recorded (see `cortex workers`)"),
            ));
        }
        if let Some(n) = a
            .attempt
            .filter(|n| !dir.join(format!("attempt-{n}")).is_dir())
        {
            return Err(Failure::bad_input(
                "unknown_attempt",
                format!("worker {id} has no attempt {n}: nothing recorded"),
            ));
        }
    }
    record_check_in(home, &id, a.attempt, a.hook, a.progress, a.message)?;
    Ok(())
}

/// How a worker's ended attempts ended, as `cortex show` says it ("killed
/// (nudged by a person)"), read once for all of them and again only for an
/// attempt not ended when last read.
#[derive(Default)]
struct AttemptEnds {
    task: Option<String>,
    known: std::collections::BTreeMap<u32, String>,
}

impl AttemptEnds {
    fn of(&mut self, home: &Home, worker: &cortex_core::id::WorkerId, n: u32) -> Option<String> {
        if !self.known.contains_key(&n) {
            if self.task.is_none() {
                self.task = view::workers(home)
                    .ok()?
                    .into_iter()
                    .find(|w| &w.id == worker)
                    .map(|w| w.task_id.to_string());
            }
            let story = view::show(home, self.task.as_deref()?).ok()?;
            let attempts = &story
                .workers
                .iter()
                .find(|w| w.id == worker.as_str())?
                .attempts;
            for a in attempts {
                let Some(outcome) = &a.outcome else { continue };
                let why =
                    cortex_core::worker::attempt_reason_beside(Some(outcome), a.reason.as_deref())
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default();
                self.known.insert(a.n, format!("ended: {outcome}{why}"));
            }
        }
        self.known.get(&n).cloned()
    }
}

/// Why a worker's transcript is empty, in words.
fn no_output(w: Option<&WorkerDto>) -> String {
    match w {
        Some(w) if w.state.is_terminal() => {
            cortex_core::worker::state_and_reason(w.state.as_str(), w.reason.as_deref())
        }
        Some(_) => "its agent has printed nothing yet".into(),
        None => "no record of this worker".into(),
    }
}
