//! Engine events to the webview, the tray and notifications, as they
//! happen (no polling). Event names mirror ui/src/events.ts.

use cortex_engine::{Engine, EngineEvent};
use tauri::{AppHandle, Emitter};
use tokio::sync::broadcast::error::RecvError;

/// Engine events, forwarded with their JSON shape unchanged.
pub const ENGINE_EVENT: &str = "cortex://engine";
/// Asks the dashboard to show one worker (payload: its id).
pub const FOCUS_WORKER_EVENT: &str = "cortex://focus-worker";
/// The home opened after the app started without it (its settings files
/// were fixed): the page loads again. No payload.
pub const ENGINE_READY_EVENT: &str = "cortex://engine-ready";
/// The home is still not open, for another reason than the page shows (a
/// settings file fixed, another broken). Payload: the message.
pub const ENGINE_UNAVAILABLE_EVENT: &str = "cortex://engine-unavailable";
/// Engine events were dropped before they were forwarded (this loop fell
/// behind the engine): the page reads its lists and status again instead
/// of showing what may no longer be true. Payload: how many were dropped.
pub const ENGINE_MISSED_EVENT: &str = "cortex://engine-missed";

/// Starts forwarding the engine's events for the life of the app.
pub fn forward(app: AppHandle, engine: Engine) {
    let mut rx = engine.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(event) => {
                    let _ = app.emit(ENGINE_EVENT, &as_listed(&engine, &event));
                    match &event {
                        EngineEvent::Alert { alert } => crate::notify::alert(&app, &engine, alert),
                        EngineEvent::ActivityLogged { line }
                            if line["event"] == cortex_engine::pm::SETTINGS_REFUSED =>
                        {
                            let message = line["message"].as_str().unwrap_or_default();
                            crate::notify::settings_refused(&app, message);
                        }
                        _ => {}
                    }
                    crate::tray::refresh(&app, &engine, &event);
                }
                // Fell behind and events were dropped: the page reads
                // everything again, the tray is rebuilt from the engine.
                Err(RecvError::Lagged(missed)) => {
                    let _ = app.emit(ENGINE_MISSED_EVENT, missed);
                    crate::tray::refresh_now(&app);
                }
                Err(RecvError::Closed) => break,
            }
        }
    });
}

/// A task event carries the task as the list shows it (its project, its
/// check's outcome, its running cost): the page replaces the task it has
/// with the event's, and must not show less than it did. Other events, and
/// a task no longer known, go as they are.
fn as_listed<'a>(engine: &Engine, event: &'a EngineEvent) -> std::borrow::Cow<'a, EngineEvent> {
    use std::borrow::Cow;
    match event {
        EngineEvent::TaskUpdated { task } => match engine.task_row(&task.id) {
            Some(task) => Cow::Owned(EngineEvent::TaskUpdated { task }),
            None => Cow::Borrowed(event),
        },
        EngineEvent::TaskSubmitted { task } => match engine.task_row(&task.id) {
            Some(task) => Cow::Owned(EngineEvent::TaskSubmitted { task }),
            None => Cow::Borrowed(event),
        },
        _ => Cow::Borrowed(event),
    }
}
