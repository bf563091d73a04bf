//! The webview's commands for a task's detail: its whole story, what it
//! changed, merging it, replying to an ended worker, and usage over time.
//! Thin wrappers over the engine; text that may hold secrets is redacted
//! before it crosses to the webview.

use std::sync::Mutex;

use cortex_core::redact::redact;
use cortex_engine::review::{DiffDto, MergeDto, MergeRequest, TaskStory};
use cortex_engine::runtime::WorkerDto;
use cortex_engine::usage::{DayCuts, Midnight, UsageIndex, UsageReport};
use tauri::State;

use crate::commands::{engine, ApiError};
use crate::AppState;

type Reply<T> = Result<T, ApiError>;

/// A task's whole story: routing, status, every worker and attempt, cost and
/// time summed, the primary expert's changes (without the patch).
#[tauri::command(async)]
pub fn task_detail(state: State<'_, AppState>, task_id: String) -> Reply<TaskStory> {
    let mut story = engine(&state)?.show(&task_id)?;
    story.task.description = redact(&story.task.description);
    Ok(story)
}

/// What one expert's part of a task changed, with the unified diff.
#[tauri::command(async)]
pub fn task_diff(
    state: State<'_, AppState>,
    task_id: String,
    expert: Option<String>,
) -> Reply<DiffDto> {
    let mut diff =
        engine(&state)?.diff(&task_id, expert.as_deref().filter(|e| !e.is_empty()), false)?;
    diff.patch = diff.patch.map(|p| redact(&p));
    Ok(diff)
}

/// Merges a worktree task's branch into its base; a conflict is refused
/// with the files named and nothing changed.
#[tauri::command(async)]
pub fn merge_task(state: State<'_, AppState>, request: MergeRequest) -> Reply<MergeDto> {
    Ok(engine(&state)?.merge(&request)?)
}

/// Continues an ended worker's conversation with a person's text.
#[tauri::command(async)]
pub fn reply_worker(
    state: State<'_, AppState>,
    worker_id: String,
    text: String,
) -> Reply<WorkerDto> {
    Ok(engine(&state)?.reply_worker(&worker_id, &text)?)
}

/// The journal's usage index, kept between calls so each reads only what
/// was appended.
static USAGE: Mutex<Option<UsageIndex>> = Mutex::new(None);

/// Tokens and cost per day over the last `days` days (30 unless given), by
/// expert, model and project, from the journal; each day cut at the
/// viewer's own local midnight (`midnights`, one a day: across a
/// daylight-saving change two days have two offsets), else every day at
/// the viewer's offset from UTC.
#[tauri::command(async)]
pub fn usage_by_day(
    state: State<'_, AppState>,
    days: Option<u32>,
    utc_offset_minutes: Option<i32>,
    midnights: Option<Vec<Midnight>>,
) -> Reply<UsageReport> {
    let journal = engine(&state)?.home().journal();
    let cuts = DayCuts::midnights(
        &midnights.unwrap_or_default(),
        utc_offset_minutes.unwrap_or(0),
    );
    let mut cache = USAGE.lock().unwrap_or_else(|p| p.into_inner());
    let index = match cache.take() {
        Some(i) if i.is_for(&journal, &cuts) => i,
        _ => UsageIndex::new(journal, cuts),
    };
    let index = cache.insert(index);
    index.refresh()?;
    let mut report = index.report(cortex_engine::clock::now(), days.unwrap_or(30));
    for row in &mut report.rows {
        row.project = redact(&row.project);
    }
    Ok(report)
}
