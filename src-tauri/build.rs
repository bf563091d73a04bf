//! Lists the app's own commands so capabilities can grant exactly them.

fn main() {
    let commands: &[&str] = &[
        "submit_task",
        "route_preview",
        "get_status",
        "list_tasks",
        "list_workers",
        "get_transcript",
        "kill_worker",
        "restart_worker",
        "extend_worker",
        "nudge_worker",
        "reroute_task",
        "cancel_task",
        "set_paused",
        "get_settings",
        "save_settings",
        "recent_decisions",
        "recent_activity",
        "recent_alerts",
        "doctor",
        "open_worker_folder",
        "open_in_editor",
        "take_over_worker",
        "task_detail",
        "task_diff",
        "merge_task",
        "reply_worker",
        "usage_by_day",
        "list_experts",
        "check_expert",
        "save_expert",
        "list_plans",
        "confirm_plan",
        "edit_plan",
        "confirm_task",
    ];
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(commands)),
    )
    .unwrap_or_else(|e| panic!("tauri build step failed: {e}"));
}
