//! `cortex run`: the headless owner in the foreground. It prints engine
//! events as they happen and stops through the engine's one shutdown path
//! (`OwnerLoop::stop`) on SIGINT or SIGTERM.
//!
//! May depend on: cortex-engine's facade, the CLI's output helpers.

use std::time::Duration;

use cortex_core::worker::state_and_reason;
use cortex_engine::lock::OwnerKind;
use cortex_engine::{Engine, Home};

use crate::commands::first_line;
use crate::Failure;

type Result<T> = std::result::Result<T, Failure>;

pub(crate) fn run(home: &Home, json: bool) -> Result<()> {
    let engine = open_waiting_for_cli(home)?;
    let report = engine.load_report();
    if let Some(pid) = report.took_over_from_pid {
        tracing::warn!(pid, "took over a home whose previous owner is gone");
    }
    for q in &report.quarantined {
        eprintln!(
            "cortex: quarantined {} -> {} ({})",
            q.what,
            q.moved_to.display(),
            q.reason
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime("io", format!("cannot start the runtime: {e}")))?;
    let owner = runtime.block_on(async {
        let mut events = engine.subscribe();
        let (stopped, mut stopping) = tokio::sync::oneshot::channel::<()>();
        let names = engine.clone();
        // The last line printed for each worker: an update that says the
        // same again (a second event for one end) is not printed twice.
        let mut said = std::collections::HashMap::<String, String>::new();
        let mut print = move |ev: &cortex_engine::EngineEvent| {
            if json {
                if let Ok(s) = serde_json::to_string(ev) {
                    println!("{s}");
                }
            } else {
                print_event(ev, &names, &mut said);
            }
        };
        let printer = tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    ev = events.recv() => match ev {
                        Ok(ev) => print(&ev),
                        // Fell behind: said, so a reader of the stream
                        // knows what it printed is not the whole story.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            println!("{}", missed_line(n, json));
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    },
                    _ = &mut stopping => {
                        // What the engine said as it stopped is printed too.
                        while let Ok(ev) = events.try_recv() {
                            print(&ev);
                        }
                        break;
                    }
                }
            }
        });
        let shutdown = shutdown_signal()?;
        eprintln!(
            "cortex: running on {} (pid {}); Ctrl-C to stop",
            home.root().display(),
            std::process::id()
        );
        if let Some(problem) = engine.agent_problem() {
            eprintln!("cortex: warning: the agent command: {problem} (a task whose agent cannot start fails, saying why)");
        }
        let (owner_task, owner) = engine.owner_loop(shutdown);
        let result = owner_task.await.map_err(Failure::from);
        let _ = stopped.send(());
        let _ = printer.await;
        result.map(|()| owner)
    })?;
    // The loop has ended: this waits for nothing and closes the engine.
    owner.stop(owner.patience())?;
    Ok(())
}

/// One engine event as a line for a person. Workers are named as the app
/// and the tray name them: the task's first words, the expert, then the
/// id (`Engine::subject_of`).
fn print_event(
    ev: &cortex_engine::EngineEvent,
    engine: &Engine,
    said: &mut std::collections::HashMap<String, String>,
) {
    use cortex_engine::EngineEvent as E;
    let named = |w: &str| {
        cortex_core::id::WorkerId::parse(w)
            .and_then(|id| engine.subject_of(&id))
            .unwrap_or_else(|| w.to_string())
    };
    match ev {
        E::TaskSubmitted { task } => say!(
            "submitted {} [{}] {}",
            task.id,
            task.priority,
            first_line(&task.description)
        ),
        E::TaskUpdated { task } => say!(
            "{} {}",
            task.id,
            state_and_reason(task.status.as_str(), task.reason.as_deref())
        ),
        E::Alert { alert } => {
            let who = |a: &cortex_core::alerts::Alert| {
                engine
                    .alert_subject(a)
                    .or_else(|| a.worker_id.as_ref().map(ToString::to_string))
                    .map(|w| format!("{w}: "))
                    .unwrap_or_default()
            };
            say!(
                "ALERT [{:?}] {}{}",
                alert.severity,
                who(alert),
                alert.message
            );
            // Each member with its own severity: a 50% time warning in a
            // summary with a failure is still only information.
            for a in &alert.summarized {
                say!("  - [{:?}] {}{}", a.severity, who(a), a.message);
            }
        }
        E::WorkerUpdated { worker } => {
            if worker.state.is_terminal() || worker.activity.is_none() {
                // A running worker whose agent ended and whose check runs
                // is verifying, not running.
                let state = if worker.health == "verifying" {
                    "verifying"
                } else {
                    worker.state.as_str()
                };
                let reason = match &worker.verification {
                    // The check's command, as the app's Verifying badge says it.
                    Some(v) if state == "verifying" => Some(v.command.clone()),
                    _ => worker.reason.clone(),
                };
                let line = format!(
                    "worker {} attempt {}: {}",
                    named(worker.id.as_str()),
                    worker.attempt,
                    state_and_reason(state, reason.as_deref())
                );
                if said.get(worker.id.as_str()) != Some(&line) {
                    say!("{line}");
                    said.insert(worker.id.to_string(), line);
                }
            }
        }
        // The PM's own lines (health moves, interventions, nudges); its
        // alerts are printed above as they are raised.
        E::ActivityLogged { line } => {
            let text = |k: &str| line.get(k).and_then(|v| v.as_str()).unwrap_or_default();
            if text("event") != "alert" {
                let who = line.get("worker_id").and_then(|v| v.as_str());
                let moved = match (text("from"), text("to")) {
                    ("", "") => String::new(),
                    (from, to) => format!(" {from} -> {to}"),
                };
                say!(
                    "pm {}{}{}: {}",
                    text("event"),
                    who.map(|w| format!(" {}", named(w))).unwrap_or_default(),
                    moved,
                    text("message")
                );
            }
        }
    }
}

/// A long-running owner waits for a short CLI command holding the home.
fn open_waiting_for_cli(home: &Home) -> Result<Engine> {
    Ok(Engine::open_waiting(
        home,
        OwnerKind::Run,
        Duration::from_secs(10),
    )?)
}

/// Registers SIGINT and SIGTERM handlers now (so a signal sent right after
/// start-up is not lost) and resolves when either arrives.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Failure::runtime("io", format!("cannot handle SIGTERM: {e}")))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| Failure::runtime("io", format!("cannot handle SIGINT: {e}")))?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutdown requested");
    })
}

/// The line `run` prints when it fell behind the engine and `n` events were
/// dropped before it printed them.
fn missed_line(n: u64, json: bool) -> String {
    if json {
        serde_json::json!({"type": "events_missed", "count": n}).to_string()
    } else {
        format!(
            "{n} event{} not printed (the printer fell behind); `cortex status` and `cortex workers` show where things are",
            if n == 1 { " was" } else { "s were" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::missed_line;

    #[test]
    fn dropped_events_are_said_with_their_count() {
        let v: serde_json::Value = serde_json::from_str(&missed_line(7, true)).unwrap();
        assert_eq!(v, serde_json::json!({"type": "events_missed", "count": 7}));
        assert!(missed_line(1, false).starts_with("1 event was not printed"));
        assert!(missed_line(3, false).starts_with("3 events were not printed"));
    }
}
