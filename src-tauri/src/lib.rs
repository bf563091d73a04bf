//! Cortex's desktop shell. It hosts the engine in-process and holds no
//! domain logic: commands wrap the engine facade, engine events are
//! forwarded to the webview as they happen, and the tray and native
//! notifications show what needs a person.
//!
//! May depend on: cortex-engine, tauri and its plugins.

pub mod commands;
pub mod events;
mod heartbeat;
mod login_path;
pub mod notify;
mod review_cmds;
mod settings_cmds;
pub mod tray;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use cortex_engine::lock::OwnerKind;
use cortex_engine::{Engine, Home, OwnerLoop};
use tauri::{Emitter, Manager, RunEvent};

/// What the commands and event forwarders share.
pub struct AppState {
    /// The engine, or why it could not open the home (shown by the UI and
    /// the tray). Set once more when a home refused for its settings files
    /// opens after they were fixed.
    engine: std::sync::RwLock<Result<Engine, String>>,
    /// The engine's loop, stopped (and waited for) when the app quits.
    owner: std::sync::Mutex<Option<OwnerLoop>>,
    /// Set when the engine's loop ended on its own (an error or a panic).
    engine_failed: Arc<AtomicBool>,
}

impl AppState {
    /// A state around an engine that is not running its loop (tests).
    pub fn for_engine(engine: Result<Engine, String>) -> Self {
        Self {
            engine: std::sync::RwLock::new(engine),
            owner: std::sync::Mutex::new(None),
            engine_failed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The engine, or why the home is not open.
    pub fn engine(&self) -> Result<Engine, String> {
        self.engine
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_engine(&self, engine: Result<Engine, String>) {
        *self
            .engine
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = engine;
    }
}

/// Opens the engine on the home (`CORTEX_HOME`, else the platform folder).
fn open_engine() -> Result<Engine, cortex_engine::EngineError> {
    let home = Home::resolve(None)?;
    Engine::open_waiting(&home, OwnerKind::App, std::time::Duration::from_secs(10))
}

/// What the dashboard and the tray say when the home could not be opened:
/// why, and what happens next. Settings files that are not valid are read
/// again every second and the home opens once they are; anything else needs
/// a new start.
pub fn unavailable_message(e: &cortex_engine::EngineError) -> String {
    let why = cortex_core::redact::redact(&e.to_string());
    if matches!(e, cortex_engine::EngineError::Config(_)) {
        format!(
            "Cortex could not open its home: {why}. Nothing is supervised until the settings files are valid; Cortex opens the home by itself as soon as they are (`cortex config check` lists every problem)."
        )
    } else {
        format!(
            "Cortex could not open its home: {why}. Nothing is supervised; quit Cortex and start it again once this is resolved."
        )
    }
}

/// Starts the engine's loop, forwards its events and makes it the one the
/// commands and the tray use.
fn start_engine(app: &tauri::AppHandle, engine: Engine) {
    let state = app.state::<AppState>();
    // Stopped only by `quit_engine`: no other way in.
    let (task, handle) = engine.owner_loop(std::future::pending());
    let app_handle = app.clone();
    let failed = state.engine_failed.clone();
    tauri::async_runtime::spawn(async move {
        // A panic in the loop comes back here as an error too.
        if let Err(e) = task.await {
            engine_stopped(&app_handle, &failed, &e.to_string());
        }
    });
    *state
        .owner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(handle);
    events::forward(app.clone(), engine.clone());
    state.set_engine(Ok(engine));
}

/// While the home stays refused for its settings files, reads them again
/// every second; once they are valid, opens the home, starts the engine and
/// tells the page and the tray. The message shown follows the file's
/// current problem meanwhile.
fn open_once_settings_are_valid(app: tauri::AppHandle) {
    std::thread::spawn(move || {
        let Ok(home) = Home::resolve(None) else {
            return;
        };
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
            let state = app.state::<AppState>();
            if let Err(e @ cortex_engine::EngineError::Config(_)) = home.load_settings() {
                let message = unavailable_message(&e);
                if state.engine().err().as_deref() != Some(message.as_str()) {
                    let _ = app.emit(events::ENGINE_UNAVAILABLE_EVENT, &message);
                    state.set_engine(Err(message));
                    tray::unavailable(&app);
                }
                continue;
            }
            match open_engine() {
                Ok(engine) => {
                    tracing::info!("the settings files are valid again: the home is open");
                    start_engine(&app, engine);
                    let _ = app.emit(events::ENGINE_READY_EVENT, ());
                    tray::refresh_now(&app);
                    return;
                }
                Err(e) => {
                    let again = matches!(e, cortex_engine::EngineError::Config(_));
                    tracing::error!("Cortex cannot open its home: {e}");
                    let message = unavailable_message(&e);
                    let _ = app.emit(events::ENGINE_UNAVAILABLE_EVENT, &message);
                    state.set_engine(Err(message));
                    tray::unavailable(&app);
                    if !again {
                        return;
                    }
                }
            }
        }
    });
}

/// Brings the dashboard to the front, on `worker`'s page if one is given.
/// Closing the window releases it (and with it WebKit's web process, about
/// 120 MB), so Cortex in the tray costs little more than its own process; the
/// next open builds it again from the configuration, and the page loads its
/// state from the engine.
pub fn show_main(app: &tauri::AppHandle, worker: Option<&str>) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
        if let Some(id) = worker {
            let _ = app.emit(events::FOCUS_WORKER_EVENT, id);
        }
        return;
    }
    let Some(config) = app.config().app.windows.iter().find(|w| w.label == "main") else {
        tracing::warn!("the configuration has no window labelled main");
        return;
    };
    let mut builder = match tauri::WebviewWindowBuilder::from_config(app, config) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("cannot open the dashboard: {e}");
            return;
        }
    };
    // A new page cannot hear an event sent before it loads: it reads the
    // worker to open when it starts.
    if let Some(json) = worker.and_then(|id| serde_json::to_string(id).ok()) {
        builder = builder.initialization_script(format!("window.__CORTEX_OPEN_WORKER__ = {json};"));
    }
    if let Err(e) = builder.build() {
        tracing::warn!("cannot open the dashboard: {e}");
    }
}

pub fn run() {
    // The generated Claude Code hooks call `<this binary> heartbeat ...`.
    if heartbeat::handle_command_line() {
        return;
    }
    lean_processes();
    login_path::merge_login_shell_path();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CORTEX_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        // Secrets (a check's command, an agent's text) never reach a log.
        .with_writer(|| cortex_core::redact::RedactingWrite(std::io::stderr()))
        .try_init();

    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            show_main(app, None)
        }))
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_shell::init())
        .invoke_handler(commands::handler())
        .setup(|app| {
            let opened = open_engine();
            app.manage(AppState::for_engine(Err(String::new())));
            let mut retry = false;
            match opened {
                Ok(engine) => start_engine(app.handle(), engine),
                Err(e) => {
                    tracing::error!("Cortex cannot open its home: {e}");
                    retry = matches!(e, cortex_engine::EngineError::Config(_));
                    app.state::<AppState>()
                        .set_engine(Err(unavailable_message(&e)));
                }
            }
            tray::create(app.handle())?;
            if retry {
                open_once_settings_are_valid(app.handle().clone());
            }
            // SIGTERM/SIGINT (a logout, `kill`) quit like the menu's Quit,
            // so `on_quit` is honoured and the home is released cleanly.
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                use tokio::signal::unix::{signal, SignalKind};
                if let (Ok(mut term), Ok(mut int)) = (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                    handle.exit(0);
                }
            });
            Ok(())
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(a) => a,
        Err(e) => {
            eprintln!("cortex-desktop: cannot start: {e}");
            std::process::exit(1);
        }
    };
    app.run(|handle, event| match event {
        // Only "Quit" (an explicit exit code) ends the app; the last window
        // closing does not.
        RunEvent::ExitRequested { api, code, .. } if code.is_none() => api.prevent_exit(),
        RunEvent::Exit => quit_engine(handle),
        _ => {}
    });
}

/// Memory the app does not need, given back on Linux:
/// - The dashboard's scripts are small and event-driven, so the web process
///   runs them in JavaScriptCore's interpreter: its JIT tiers cost 14-24 MB
///   of the web process's memory (measured with `bench/desktop/measure.py`)
///   for speed this page does not need. A `JSC_useJIT` the user set is kept.
///   WebKit's processes inherit the environment when they start, and no
///   other thread exists yet.
/// - glibc gives each thread that allocates its own malloc arena and keeps
///   what is freed there; the app's ~20 threads allocate little, so two
///   arenas serve them (about 1 MB less). A `MALLOC_ARENA_MAX` the user set
///   is kept.
/// - With no GPU render node, Mesa draws in software (llvmpipe), and WebKit's
///   DMA-BUF renderer then composites every layer of the page through it:
///   the web process holds about 100 MB of GL buffers for nothing a GPU
///   accelerates. Its shared-memory path paints the same page for a fraction
///   of that (330 -> 232 MB in all at rest, measured with `bench/desktop/measure.py`
///   under Xvfb). With a render node WebKit keeps its default. A
///   `WEBKIT_DISABLE_DMABUF_RENDERER` the user set is kept.
fn lean_processes() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("JSC_useJIT").is_none() {
        std::env::set_var("JSC_useJIT", "0");
    }
    #[cfg(target_os = "linux")]
    if std::env::var_os("WEBKIT_DISABLE_DMABUF_RENDERER").is_none() {
        let nodes: Vec<String> = std::fs::read_dir("/dev/dri")
            .map(|dir| {
                dir.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        if !has_render_node(&nodes) {
            std::env::set_var("WEBKIT_DISABLE_DMABUF_RENDERER", "1");
        }
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; called before
        // any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// Whether the names under `/dev/dri` include a GPU render node
/// (`renderD128`...): the device GL clients draw through.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn has_render_node(names: &[String]) -> bool {
    names.iter().any(|n| {
        n.strip_prefix("renderD")
            .is_some_and(|num| !num.is_empty() && num.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// The engine's loop ended on its own, by an error or a panic. A window and
/// a tray around a dead engine would look alive while nothing supervises
/// the workers, so the app says why (its log, stderr, a notification) and
/// quits with status 1. The workers keep running, whatever `on_quit` says:
/// after a panic the engine's state is not to be trusted with stopping
/// them, and the next start (of the app or `cortex run`) re-adopts them.
fn engine_stopped(app: &tauri::AppHandle, failed: &AtomicBool, why: &str) {
    use tauri_plugin_notification::NotificationExt;
    failed.store(true, Ordering::SeqCst);
    let why = cortex_core::redact::redact(why);
    tracing::error!("the engine stopped, quitting: {why}");
    eprintln!("cortex-desktop: the engine stopped, quitting: {why}");
    let body = format!(
        "{why}. Cortex quit; its workers keep running and are picked up again when it starts."
    );
    if let Err(e) = app
        .notification()
        .builder()
        .title("Cortex stopped")
        .body(body)
        .show()
    {
        tracing::warn!("notification not shown: {e}");
    }
    app.exit(1);
}

/// Stops the engine's loop and waits until it has ended: the loop stops the
/// workers when `on_quit` says so (unless the engine failed: then its loop
/// ended already and they are left to the next start).
fn quit_engine(app: &tauri::AppHandle) {
    let state = app.state::<AppState>();
    if state.engine_failed.load(Ordering::SeqCst) {
        // After a failure nothing more is done with the engine's state.
        return;
    }
    let owner = state
        .owner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    if let Some(owner) = owner {
        if let Err(e) = owner.stop(owner.patience()) {
            tracing::warn!("stopping the engine: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::has_render_node;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_render_node_is_a_render_d_followed_by_its_number() {
        assert!(has_render_node(&names(&["card0", "renderD128", "by-path"])));
        assert!(has_render_node(&names(&["renderD129"])));
    }

    #[test]
    fn display_cards_alone_or_no_devices_mean_software_gl() {
        assert!(!has_render_node(&names(&[])));
        assert!(!has_render_node(&names(&["card0", "by-path"])));
        assert!(!has_render_node(&names(&["renderD", "renderDx"])));
    }
}
