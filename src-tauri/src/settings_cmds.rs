//! The webview's commands for the Settings page's expert editor: the
//! profiles as loaded, and a check or save of one under the rules of
//! `cortex config check` (errors name the file and the key).

use cortex_core::config::ExpertProfile;
use tauri::State;

use crate::commands::{engine, ApiError};
use crate::AppState;

type Reply<T> = Result<T, ApiError>;

/// Every expert profile as the engine uses it now.
#[tauri::command(async)]
pub fn list_experts(state: State<'_, AppState>) -> Reply<Vec<ExpertProfile>> {
    Ok(engine(&state)?.expert_profiles())
}

/// Checks a profile without saving it.
#[tauri::command(async)]
pub fn check_expert(
    state: State<'_, AppState>,
    profile: serde_json::Value,
) -> Reply<ExpertProfile> {
    Ok(engine(&state)?.check_expert(&profile.to_string())?.0)
}

/// Checks, saves and applies a profile.
#[tauri::command(async)]
pub fn save_expert(state: State<'_, AppState>, profile: serde_json::Value) -> Reply<ExpertProfile> {
    Ok(engine(&state)?.save_expert(&profile.to_string())?)
}
