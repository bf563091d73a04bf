//! Read-only access for processes that do not own the home. What they show
//! is what the owner knows: the journal's state, the owner's PM verdicts
//! from `pm-state.json`, and for a worker whose process ended while no owner
//! runs, the end its files show (settled first when the home is free).
//!
//! May depend on: the facade's DTOs and state folding (`super`), store, pm.

use super::*;

/// The state, settled first when nobody owns the home and some worker
/// recorded as running has no process any more.
fn settled_state(
    home: &Home,
    launcher: &dyn crate::launcher::Launcher,
) -> Result<cortex_core::state::State, EngineError> {
    let state = store::read_view(home)?.0;
    let gone = state.workers().any(|w| {
        w.live_attempt().is_some_and(|a| {
            !a.pid
                .is_some_and(|p| launcher.is_same_process(p, a.start_ticks, w.id.as_str()))
        })
    });
    if !gone || crate::lock::current_owner(&home.lock_file()).is_some() {
        return Ok(state);
    }
    match Engine::open(home, OwnerKind::Cli) {
        Ok(engine) => {
            engine.settle_unwatched()?;
            engine.close()?;
            Ok(store::read_view(home)?.0)
        }
        // Taken meanwhile: its owner settles; show what the files say.
        Err(EngineError::Owned { .. }) => Ok(state),
        Err(e) => Err(e),
    }
}

/// Every task, in queue order, as the files say.
pub fn tasks(home: &Home) -> Result<Vec<TaskDto>, EngineError> {
    let (state, live) = settled_and_running(home)?;
    Ok(tasks_of(&state, &live))
}

/// A task's whole story (`cortex show`), as the files say, its running
/// attempts' figures so far included as `workers` shows them.
pub fn show(home: &Home, id: &str) -> Result<crate::review::TaskStory, EngineError> {
    let launcher = launcher_of(home)?;
    let state = settled_state(home, &*launcher)?;
    let (task, workers) = crate::review::task_and_workers(&state, id)?;
    let live = live_of(home, &state, &*launcher, |w| w.task_id == task.id)?;
    Ok(crate::review::story_of(
        home,
        &task,
        &workers,
        &live,
        &crate::pm::paused_experts_left(home, clock::now()),
        clock::now(),
    ))
}

/// A plan with its tasks, as the files say.
pub fn plan(home: &Home, id: &str) -> Result<crate::plans::PlanView, EngineError> {
    let plan_id = cortex_core::id::PlanId::parse(id)
        .ok_or_else(|| EngineError::BadValue(format!("`{id}` is not a plan id (p-...)")))?;
    let (state, live) = settled_and_running(home)?;
    crate::plans::plan_view(&state, &plan_id, &live, clock::now())
        .ok_or_else(|| EngineError::BadValue(format!("no plan {plan_id}")))
}

/// Every plan, newest first, as `plan` shows each (`cortex plan list`).
pub fn plans(home: &Home) -> Result<Vec<crate::plans::PlanView>, EngineError> {
    let (state, live) = settled_and_running(home)?;
    Ok(crate::plans::plan_views(&state, &live, clock::now()))
}

/// The status counts, as the files and the owner's PM verdicts say.
pub fn status(home: &Home) -> Result<StatusDto, EngineError> {
    let launcher = launcher_of(home)?;
    let state = settled_state(home, &*launcher)?;
    let mut status = status_of(&state);
    let workers = workers_of(home, &state, &*launcher)?;
    status.workers = crate::engine::state_counts(&workers);
    status.health = health_counts(&workers);
    status.paused_experts = crate::pm::paused_experts_of(home, clock::now());
    // The owner's word, which also knows a refusal of valid files (an
    // expert removed under its workers); else whether the files are valid.
    status.settings_refused = crate::pm::settings_refused_of(home).or_else(|| {
        home.settings_for_reading()
            .ok()
            .and_then(|s| s.not_read)
            .map(|n| cortex_core::redact::redact(&n.problem))
    });
    status.owner = crate::lock::supervising_owner(&home.lock_file());
    Ok(status)
}

/// Workers as the owner knows them, newest first.
pub fn workers(home: &Home) -> Result<Vec<crate::runtime::WorkerDto>, EngineError> {
    let launcher = launcher_of(home)?;
    let state = settled_state(home, &*launcher)?;
    workers_of(home, &state, &*launcher)
}

/// Workers as `workers` gives them, each with its task's first words (empty
/// when the task is not known), for a person reading a table.
pub fn workers_with_tasks(
    home: &Home,
) -> Result<Vec<(crate::runtime::WorkerDto, String)>, EngineError> {
    let launcher = launcher_of(home)?;
    let state = settled_state(home, &*launcher)?;
    Ok(workers_of(home, &state, &*launcher)?
        .into_iter()
        .map(|w| {
            let words = state
                .task(&w.task_id)
                .map(|t| crate::views::first_words(&t.description, 40))
                .unwrap_or_default();
            (w, words)
        })
        .collect())
}

/// Where the workers run (this machine, or a cluster's queue): asked once
/// per view whether their processes are alive.
fn launcher_of(home: &Home) -> Result<std::sync::Arc<dyn crate::launcher::Launcher>, EngineError> {
    if !home.is_initialized() {
        return Ok(crate::launcher::Parts::default().launcher);
    }
    let settings = home.settings_for_reading()?;
    Ok(crate::launcher::Parts::for_config(home, &settings.config)?.launcher)
}

fn workers_of(
    home: &Home,
    state: &cortex_core::state::State,
    launcher: &dyn crate::launcher::Launcher,
) -> Result<Vec<crate::runtime::WorkerDto>, EngineError> {
    dtos_of(home, state, launcher, |_| true)
}

/// The settled state, and the running attempts' figures of all its
/// workers (a list of tasks or plans counts them).
fn settled_and_running(
    home: &Home,
) -> Result<(cortex_core::state::State, LiveFigures), EngineError> {
    let launcher = launcher_of(home)?;
    let state = settled_state(home, &*launcher)?;
    let live = live_of(home, &state, &*launcher, |_| true)?;
    Ok((state, live))
}

/// The running attempts' figures in these workers' DTOs.
fn live_figures(dtos: &[crate::runtime::WorkerDto]) -> LiveFigures {
    dtos.iter()
        .filter_map(|d| d.live_attempt.map(|f| (d.id.clone(), f)))
        .collect()
}

/// The running attempts' figures of the workers `which` picks among those
/// with one: only their output is read.
fn live_of(
    home: &Home,
    state: &cortex_core::state::State,
    launcher: &dyn crate::launcher::Launcher,
    which: impl Fn(&cortex_core::worker::Worker) -> bool,
) -> Result<LiveFigures, EngineError> {
    let running = |w: &cortex_core::worker::Worker| w.live_attempt().is_some() && which(w);
    Ok(live_figures(&dtos_of(home, state, launcher, running)?))
}

/// The DTOs of the workers `which` picks, newest first.
fn dtos_of(
    home: &Home,
    state: &cortex_core::state::State,
    launcher: &dyn crate::launcher::Launcher,
    which: impl Fn(&cortex_core::worker::Worker) -> bool,
) -> Result<Vec<crate::runtime::WorkerDto>, EngineError> {
    let crate::home::ReadSettings {
        config, experts, ..
    } = home.settings_for_reading()?;
    let prices = cortex_core::pricing::merged(&config.pricing);
    let verdicts = crate::pm::read_verdicts(home);
    let owner_runs = crate::lock::supervising_owner(&home.lock_file()).is_some();
    let paused = crate::pm::paused_experts_of(home, clock::now());
    let mut out: Vec<_> = state
        .workers()
        .filter(|w| which(w))
        .map(|w| {
            let limit = experts.get(&w.expert).map_or(3600, |e| e.time_limit_secs);
            let mut dto = crate::runtime::observed_dto(
                home, w, limit, &prices, &verdicts, owner_runs, launcher,
            );
            let closes = paused
                .iter()
                .find(|p| p.expert == w.expert)
                .map(|p| p.until);
            crate::runtime::show_circuit_hold(&mut dto, w, closes);
            dto
        })
        .collect();
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    Ok(out)
}
