//! The webview's commands: thin wrappers over the engine facade. Errors
//! cross IPC as `{code, message, file?, key?}`.

use cortex_core::input::SubmitRequest;
use cortex_engine::plans::{PlanAck, PlanView};
use cortex_engine::runtime::WorkerDto;
use cortex_engine::views::{Doctor, Overview, TranscriptEntry};
use cortex_engine::{Engine, EngineError, SubmitAck, TaskDto};
use serde::Serialize;
use tauri::State;

use crate::AppState;

/// An error as the UI receives it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Further problems of the same file (every rule of an expert profile
    /// is checked), each at its key: an editor shows them all at once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// One more problem of a refused file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Problem {
    /// Dotted path of the offending key, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let (file, key, problems) = match &e {
            EngineError::Config(c) => (
                Some(c.file.clone()),
                c.key.clone(),
                c.also
                    .iter()
                    .map(|p| Problem {
                        key: p.key.clone(),
                        message: cortex_core::redact::redact(&p.message),
                    })
                    .collect(),
            ),
            _ => (None, None, Vec::new()),
        };
        // With the others given apart, the message is the first problem's.
        let message = match &e {
            EngineError::Config(c) if !c.also.is_empty() => {
                let mut first = c.clone();
                first.also.clear();
                first.to_string()
            }
            _ => e.to_string(),
        };
        Self {
            code: e.code().to_string(),
            message: cortex_core::redact::redact(&message),
            file,
            key,
            problems,
        }
    }
}

impl ApiError {
    /// A refusal that is about no file or key.
    fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            file: None,
            key: None,
            problems: Vec::new(),
        }
    }
}

type Reply<T> = Result<T, ApiError>;

pub(crate) fn engine(state: &State<'_, AppState>) -> Reply<Engine> {
    state
        .engine()
        .map_err(|why| ApiError::new("engine_unavailable", why))
}

#[tauri::command(async)]
pub fn submit_task(state: State<'_, AppState>, request: SubmitRequest) -> Reply<SubmitAck> {
    Ok(engine(&state)?.submit(&request)?)
}

/// Every plan, newest first: its tasks in dependency order with their
/// status and what each waits on, cost and time so far.
#[tauri::command(async)]
pub fn list_plans(state: State<'_, AppState>) -> Reply<Vec<PlanView>> {
    Ok(engine(&state)?.plans())
}

/// Lets a plan held for confirmation run.
#[tauri::command(async)]
pub fn confirm_plan(state: State<'_, AppState>, plan_id: String) -> Reply<PlanView> {
    Ok(engine(&state)?.confirm_plan(&plan_id)?)
}

/// Replaces a waiting plan's tasks with an edited plan (`cortex plan edit`).
#[tauri::command(async)]
pub fn edit_plan(
    state: State<'_, AppState>,
    plan_id: String,
    plan: cortex_core::plan::PlanSpec,
) -> Reply<PlanAck> {
    Ok(engine(&state)?.edit_plan(&plan_id, &plan)?)
}

#[tauri::command(async)]
pub fn route_preview(
    state: State<'_, AppState>,
    text: String,
    task_type: Option<String>,
) -> Reply<cortex_core::router::Decision> {
    Ok(engine(&state)?.route_preview(&text, task_type.as_deref().filter(|t| !t.is_empty()))?)
}

#[tauri::command(async)]
pub fn get_status(state: State<'_, AppState>) -> Reply<Overview> {
    Ok(engine(&state)?.overview())
}

#[tauri::command(async)]
pub fn list_tasks(state: State<'_, AppState>) -> Reply<Vec<TaskDto>> {
    let mut tasks = engine(&state)?.tasks();
    for t in &mut tasks {
        t.description = cortex_core::redact::redact(&t.description);
    }
    Ok(tasks)
}

#[tauri::command(async)]
pub fn list_workers(state: State<'_, AppState>) -> Reply<Vec<WorkerDto>> {
    Ok(engine(&state)?
        .workers()
        .into_iter()
        .map(|mut w| {
            w.last_text = w.last_text.map(|t| cortex_core::redact::redact(&t));
            w.reason = w.reason.map(|t| cortex_core::redact::redact(&t));
            w
        })
        .collect())
}

#[tauri::command(async)]
pub fn get_transcript(
    state: State<'_, AppState>,
    worker_id: String,
) -> Reply<Vec<TranscriptEntry>> {
    Ok(engine(&state)?.transcript(&worker_id)?)
}

#[tauri::command(async)]
pub fn kill_worker(state: State<'_, AppState>, worker_id: String) -> Reply<WorkerDto> {
    Ok(engine(&state)?.kill_worker(&worker_id)?)
}

#[tauri::command(async)]
pub fn restart_worker(state: State<'_, AppState>, worker_id: String) -> Reply<WorkerDto> {
    Ok(engine(&state)?.restart_worker(&worker_id)?)
}

#[tauri::command(async)]
pub fn extend_worker(
    state: State<'_, AppState>,
    worker_id: String,
    minutes: u64,
) -> Reply<WorkerDto> {
    Ok(engine(&state)?.extend_worker(&worker_id, minutes)?)
}

#[tauri::command(async)]
pub fn nudge_worker(
    state: State<'_, AppState>,
    worker_id: String,
    text: String,
) -> Reply<WorkerDto> {
    Ok(engine(&state)?.nudge_worker(&worker_id, &text)?)
}

#[tauri::command(async)]
pub fn reroute_task(
    state: State<'_, AppState>,
    task_id: String,
    expert: String,
) -> Reply<cortex_engine::RerouteAck> {
    Ok(engine(&state)?.reroute(&task_id, &expert)?)
}

/// Confirms a task awaiting confirmation: it goes to `expert`, or to the
/// routing's own choice when none is given (`cortex confirm`).
#[tauri::command(async)]
pub fn confirm_task(
    state: State<'_, AppState>,
    task_id: String,
    expert: Option<String>,
) -> Reply<cortex_engine::RerouteAck> {
    Ok(engine(&state)?.confirm(&task_id, expert.as_deref())?)
}

#[tauri::command(async)]
pub fn cancel_task(state: State<'_, AppState>, task_id: String) -> Reply<TaskDto> {
    Ok(engine(&state)?.cancel(&task_id)?)
}

#[derive(Debug, Serialize)]
pub struct Paused {
    paused: bool,
    /// False when it was so already (another window, the tray, the CLI).
    changed: bool,
}

#[tauri::command(async)]
pub fn set_paused(state: State<'_, AppState>, paused: bool) -> Reply<Paused> {
    let changed = engine(&state)?.set_spawning_paused(paused)?;
    Ok(Paused { paused, changed })
}

#[derive(Debug, Serialize)]
pub struct Settings {
    config: serde_json::Value,
    experts: Vec<String>,
    notifications: serde_json::Value,
}

#[tauri::command(async)]
pub fn get_settings(state: State<'_, AppState>) -> Reply<Settings> {
    let e = engine(&state)?;
    let config = e.config();
    let value = serde_json::to_value(&config).unwrap_or_default();
    Ok(Settings {
        notifications: value["notifications"].clone(),
        config: value,
        experts: e.expert_names(),
    })
}

#[tauri::command(async)]
pub fn save_settings(
    state: State<'_, AppState>,
    config: serde_json::Value,
) -> Reply<serde_json::Value> {
    let saved = engine(&state)?.save_config(&config.to_string())?;
    Ok(serde_json::to_value(saved).unwrap_or_default())
}

#[tauri::command(async)]
pub fn recent_decisions(
    state: State<'_, AppState>,
    limit: Option<usize>,
) -> Reply<Vec<serde_json::Value>> {
    Ok(engine(&state)?.recent_decisions(limit.unwrap_or(200).min(2000)))
}

/// The latest alerts sent, oldest first: a window opened after them starts
/// its banner from them (each shown while it still holds).
#[tauri::command(async)]
pub fn recent_alerts(state: State<'_, AppState>) -> Reply<Vec<cortex_core::alerts::Alert>> {
    Ok(engine(&state)?.recent_alerts())
}

#[tauri::command(async)]
pub fn recent_activity(
    state: State<'_, AppState>,
    limit: Option<usize>,
) -> Reply<Vec<serde_json::Value>> {
    Ok(engine(&state)?.recent_activity(limit.unwrap_or(200).min(2000)))
}

#[derive(Debug, Serialize)]
pub struct DoctorReply {
    #[serde(flatten)]
    doctor: Doctor,
    notifications: String,
    /// This build of Cortex.
    version: &'static str,
}

#[tauri::command(async)]
pub fn doctor(state: State<'_, AppState>) -> Reply<DoctorReply> {
    Ok(DoctorReply {
        doctor: engine(&state)?.doctor(),
        notifications: crate::notify::delivery_note(),
        version: env!("CARGO_PKG_VERSION"),
    })
}

fn worker_of(e: &Engine, worker_id: &str) -> Reply<WorkerDto> {
    e.worker(worker_id)
        .ok_or_else(|| ApiError::new("unknown_worker", format!("no worker {worker_id}")))
}

/// Opens the worker's folder in the file manager.
#[tauri::command(async)]
pub fn open_worker_folder(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    worker_id: String,
) -> Reply<()> {
    let w = worker_of(&engine(&state)?, &worker_id)?;
    #[allow(deprecated)]
    tauri_plugin_shell::ShellExt::shell(&app)
        .open(w.workdir.clone(), None)
        .map_err(|e| ApiError::new("open_failed", format!("cannot open {}: {e}", w.workdir)))
}

/// A path a person asked to open, inside a worker's folder: relative, with
/// no `..` (a changed file's path as `diff` gives it); `None` for the
/// folder itself.
pub fn path_in_workdir(workdir: &str, file: Option<&str>) -> Result<std::path::PathBuf, String> {
    let Some(file) = file else {
        return Ok(std::path::PathBuf::from(workdir));
    };
    let rel = std::path::Path::new(file);
    let inside = !file.is_empty()
        && rel.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
    if !inside {
        return Err(format!("{file:?} is not a path inside the worker's folder"));
    }
    Ok(std::path::Path::new(workdir).join(rel))
}

/// The first editor of `cortex_core::config::EDITORS` on `PATH`.
fn editor_on_path() -> Option<String> {
    let path = std::env::var_os("PATH")?;
    cortex_core::config::EDITORS.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .map(|_| (*name).to_string())
    })
}

/// Opens a worker's folder, or one of the files it changed, in the code
/// editor: `editor.command` from config.json, else the first editor found
/// on `PATH`. Started as a command line, never through a shell.
#[tauri::command(async)]
pub fn open_in_editor(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    worker_id: String,
    file: Option<String>,
) -> Reply<()> {
    let e = engine(&state)?;
    let w = worker_of(&e, &worker_id)?;
    let failed = |code: &str, message: String, key: Option<&str>| ApiError {
        file: key.map(|_| "config.json".into()),
        key: key.map(str::to_string),
        ..ApiError::new(code, message)
    };
    let target =
        path_in_workdir(&w.workdir, file.as_deref()).map_err(|m| failed("bad_input", m, None))?;
    let mut command = e.config().editor.command;
    if command.is_empty() {
        command = editor_on_path().map(|p| vec![p]).ok_or_else(|| {
            failed(
                "no_editor",
                format!(
                    "no editor found on PATH (looked for {}): set editor.command in config.json, e.g. [\"code\"]",
                    cortex_core::config::EDITORS.join(", ")
                ),
                Some("editor.command"),
            )
        })?;
    }
    let argv = cortex_core::config::EditorConfig::argv(&command, &target.to_string_lossy());
    let Some((program, args)) = argv.split_first() else {
        return Err(failed(
            "no_editor",
            "editor.command is empty".into(),
            Some("editor.command"),
        ));
    };
    start_in(&app, program, args, &w.workdir).map_err(|err| {
        failed(
            "open_failed",
            format!("cannot start the editor ({program}): {err}"),
            None,
        )
    })
}

/// Starts `program` with `args` in `dir` (a command line, no shell) and
/// leaves it running.
fn start_in(
    app: &tauri::AppHandle,
    program: &str,
    args: &[String],
    dir: &str,
) -> Result<(), String> {
    tauri_plugin_shell::ShellExt::shell(app)
        .command(program)
        .args(args)
        .current_dir(dir)
        .spawn()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The exact command that takes a worker over by hand: the agent with
/// `--resume <session>`, in the worker's folder, in a terminal.
pub fn take_over_argv(agent: &str, session: &str, workdir: &str) -> Vec<String> {
    if cfg!(target_os = "macos") {
        let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let script = format!(
            "cd {} && exec {} --resume {}",
            q(workdir),
            q(agent),
            q(session)
        );
        let escaped = script.replace('\\', "\\\\").replace('"', "\\\"");
        vec![
            "osascript".into(),
            "-e".into(),
            format!("tell application \"Terminal\" to do script \"{escaped}\""),
            "-e".into(),
            "tell application \"Terminal\" to activate".into(),
        ]
    } else {
        vec![
            "x-terminal-emulator".into(),
            "-e".into(),
            agent.into(),
            "--resume".into(),
            session.into(),
        ]
    }
}

#[tauri::command(async)]
pub fn take_over_worker(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    worker_id: String,
) -> Reply<()> {
    let e = engine(&state)?;
    let w = worker_of(&e, &worker_id)?;
    if w.session_id.is_none() {
        return Err(ApiError::new(
            "no_session",
            "this worker has no session to resume yet",
        ));
    }
    // A live worker's agent is stopped first, and the session opened only
    // once it is gone: two agents never resume one session at once.
    e.hand_over_worker(&worker_id)?;
    let deadline = std::time::Instant::now()
        + std::time::Duration::from_secs(e.config().pm.kill_grace_secs + 10);
    let w = loop {
        let w = worker_of(&e, &worker_id)?;
        if w.state.is_terminal() {
            break w;
        }
        if std::time::Instant::now() >= deadline {
            return Err(ApiError::new(
                "take_over_failed",
                format!(
                    "{worker_id} is still stopping; its session was not opened (try again once it ended)"
                ),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let session = w
        .session_id
        .clone()
        .ok_or_else(|| ApiError::new("no_session", "this worker has no session to resume yet"))?;
    let agent = e
        .agent_command()
        .first()
        .cloned()
        .unwrap_or_else(|| "claude".into());
    let argv = take_over_argv(&agent, &session, &w.workdir);
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| ApiError::new("take_over_failed", "no terminal command"))?;
    start_in(&app, program, args, &w.workdir).map_err(|e| {
        ApiError::new(
            "take_over_failed",
            format!("cannot open a terminal ({program}): {e}"),
        )
    })
}

/// Every command, for the builder.
pub fn handler() -> impl Fn(tauri::ipc::Invoke<tauri::Wry>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        submit_task,
        route_preview,
        get_status,
        list_tasks,
        list_workers,
        get_transcript,
        kill_worker,
        restart_worker,
        extend_worker,
        nudge_worker,
        reroute_task,
        cancel_task,
        set_paused,
        get_settings,
        save_settings,
        recent_decisions,
        recent_activity,
        recent_alerts,
        doctor,
        open_worker_folder,
        open_in_editor,
        take_over_worker,
        crate::review_cmds::task_detail,
        crate::review_cmds::task_diff,
        crate::review_cmds::merge_task,
        crate::review_cmds::reply_worker,
        crate::review_cmds::usage_by_day,
        crate::settings_cmds::list_experts,
        crate::settings_cmds::check_expert,
        crate::settings_cmds::save_expert,
        list_plans,
        confirm_plan,
        edit_plan,
        confirm_task,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_profile_carries_every_problem_for_its_fields() {
        let mut first = cortex_core::config::ConfigError::new(
            "experts/a.json",
            Some("max_workers"),
            "expected 1-10000",
        );
        first.also.push(cortex_core::config::ConfigError::new(
            "experts/a.json",
            Some("cost_budget_usd"),
            "expected a positive number",
        ));
        let api = ApiError::from(EngineError::Config(first));
        assert_eq!(api.key.as_deref(), Some("max_workers"));
        assert!(!api.message.contains("cost_budget_usd"), "{}", api.message);
        assert_eq!(
            api.problems,
            vec![Problem {
                key: Some("cost_budget_usd".into()),
                message: "expected a positive number".into()
            }]
        );
        let json = serde_json::to_value(&api).unwrap();
        assert_eq!(json["problems"][0]["key"], "cost_budget_usd");
    }

    #[test]
    fn only_paths_inside_the_workers_folder_are_opened() {
        assert_eq!(
            path_in_workdir("/w", None).unwrap(),
            std::path::PathBuf::from("/w")
        );
        assert_eq!(
            path_in_workdir("/w", Some("src/a b.rs")).unwrap(),
            std::path::PathBuf::from("/w/src/a b.rs")
        );
        for bad in ["../etc/passwd", "/etc/passwd", "src/../../x", ""] {
            let err = path_in_workdir("/w", Some(bad)).unwrap_err();
            assert!(err.contains("inside the worker's folder"), "{bad}: {err}");
        }
    }

    #[test]
    fn take_over_runs_exactly_the_agent_with_resume() {
        let argv = take_over_argv("/opt/claude", "0b6c-uuid", "/srv/it's here");
        if cfg!(target_os = "macos") {
            assert!(argv[2].contains("--resume"));
            assert!(argv[2].contains("'/srv/it'\\\\''s here'"), "{}", argv[2]);
        } else {
            assert_eq!(
                argv,
                vec![
                    "x-terminal-emulator",
                    "-e",
                    "/opt/claude",
                    "--resume",
                    "0b6c-uuid"
                ]
            );
        }
    }

    #[test]
    fn config_errors_carry_their_file_and_key_to_the_ui() {
        let e = EngineError::Config(cortex_core::config::ConfigError::new(
            "config.json",
            Some("pm.late_after_secs"),
            "expected a number",
        ));
        let api = ApiError::from(e);
        assert_eq!(api.code, "bad_config");
        assert_eq!(api.key.as_deref(), Some("pm.late_after_secs"));
        assert_eq!(api.file.as_deref(), Some("config.json"));
    }
}
