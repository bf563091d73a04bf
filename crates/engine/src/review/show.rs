//! `cortex show` and `cortex diff`: a task's story over its workers and attempts, and its diff.
//!
//! May depend on: places and git (`super`).

use super::*;

/// A task's story: its workers and attempts, with the running attempts'
/// figures so far (`live`) where a view knows them, and the circuit
/// breakers open now (`paused`: by expert, when each closes), whose hold on
/// a worker's restart its reason says as the workers list says it.
pub(crate) fn story_of(
    home: &Home,
    task: &Task,
    workers: &[Worker],
    live: &crate::dto::LiveFigures,
    paused: &BTreeMap<String, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> TaskStory {
    let mut dto = TaskDto::from(task);
    dto.verification = task_verification(workers.iter());
    dto.project = workers
        .iter()
        .find_map(|w| w.base.as_ref().map(|b| b.repo.clone()));
    let mut total_tokens = Tokens::default();
    let mut total_secs = 0.0;
    let mut total_live = 0.0;
    let mut attempts = 0;
    let mut stories = Vec::new();
    for w in workers {
        let running = crate::dto::running_figures(live, w);
        let mut wsecs = 0.0;
        let list: Vec<AttemptStory> = w
            .attempts
            .iter()
            .map(|a| {
                let live = running.filter(|f| f.n == a.n);
                // Not begun to run: in a cluster's queue, no time counts.
                let queued = live.is_some_and(|f| f.queued) && a.running_at.is_none();
                let d = if queued { 0.0 } else { a.ran_secs(now) };
                wsecs += d;
                let o = a.outcome.as_ref();
                let mut story = AttemptStory {
                    n: a.n,
                    started_at: a.started_at,
                    running_at: a.running_at,
                    ended_at: a.ended_at,
                    resumed: a.resumed,
                    outcome: o.and_then(|o| {
                        serde_json::to_value(o.kind)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                    }),
                    reason: o.map(|o| redact(&o.reason)),
                    exit_code: o.and_then(|o| o.exit_code),
                    cost_usd: o.map_or(0.0, |o| o.cost_usd),
                    cost_estimated: o.is_some_and(|o| o.cost_estimated),
                    tokens: o.map(|o| o.tokens).unwrap_or_default(),
                    duration_secs: d,
                    queued,
                };
                // The running attempt, as the workers list counts it.
                if let Some(f) = live {
                    story.cost_usd = f.cost_usd;
                    story.cost_estimated = f.cost_estimated;
                    story.tokens.input = f.tokens.input;
                    story.tokens.output = f.tokens.output;
                }
                story
            })
            .collect();
        attempts += list.len();
        total_secs += wsecs;
        let mut tokens = w.tokens;
        let (mut cost_usd, mut cost_estimated) = (w.cost_usd, w.cost_estimated);
        if let Some(f) = running {
            tokens = tokens.saturating_add(f.tokens.into());
            cost_usd += f.cost_usd;
            cost_estimated |= f.cost_estimated;
            total_live += f.cost_usd;
        }
        total_tokens = total_tokens.saturating_add(tokens);
        let (changes, _) = changes_of(home, task, w, false);
        stories.push(WorkerStory {
            id: w.id.to_string(),
            expert: w.expert.clone(),
            status: w.status.as_str().to_string(),
            // Derived as every list derives it (`Worker::reason_now`, and
            // a hold by the expert's breaker: `show_circuit_hold`).
            reason: crate::runtime::with_circuit_hold(
                w,
                crate::views::waiting_for(w, None),
                w.reason_now().as_deref().map(redact),
                paused.get(&w.expert).copied(),
            )
            .1,
            workdir: w.workdir.clone(),
            result: w.result.as_deref().map(redact),
            verification: w.verification.as_ref().map(VerificationDto::from),
            tokens,
            cost_usd,
            cost_estimated,
            duration_secs: wsecs,
            attempts: list,
            base: w.base.clone(),
            changes,
        });
    }
    let changes = pick(task, workers, None)
        .ok()
        .or_else(|| {
            let main = task.routing.as_ref().map(|r| r.primary_expert.as_str());
            workers
                .iter()
                .rev()
                .find(|w| Some(w.expert.as_str()) == main)
        })
        .and_then(|w| stories.iter().find(|s| s.id == w.id.as_str()))
        .map(|s| s.changes.clone());
    dto.cost_usd += total_live;
    dto.cost_estimated |= stories.iter().any(|s| s.cost_estimated);
    TaskStory {
        task: dto,
        tokens: total_tokens,
        duration_secs: total_secs,
        attempts,
        workers: stories,
        changes,
    }
}

/// `cortex diff` from the home's files, owned or not.
pub fn diff(
    home: &Home,
    id: &str,
    expert: Option<&str>,
    stat_only: bool,
) -> Result<DiffDto, EngineError> {
    let state = crate::store::read_view(home)?.0;
    let (task, workers) = task_and_workers(&state, id)?;
    diff_of(home, &task, &workers, expert, stat_only)
}

pub(crate) fn diff_of(
    home: &Home,
    task: &Task,
    workers: &[Worker],
    expert: Option<&str>,
    stat_only: bool,
) -> Result<DiffDto, EngineError> {
    let w = pick(task, workers, expert)?;
    let (changes, patch) = changes_of(home, task, w, !stat_only);
    Ok(DiffDto {
        task_id: task.id.clone(),
        changes,
        patch,
    })
}
