//! The tray / menu-bar glance: an icon whose colour is the worst state, a
//! title (macOS, next to the icon) such as `3 ▶ 1 ⚠`, a tooltip with the
//! counts, and a menu with the counts, the workers that need a person,
//! pause/resume, the dashboard and quit.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cortex_engine::{Engine, EngineEvent};
use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager};

/// The worst thing going on, which colours the icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Nothing needs a person.
    Calm,
    /// A worker a person should know of: late, stalled, out of reach, ended
    /// but not settled, or waiting to go on (`ATTENTION`).
    Attention,
    /// A zombie, or a failure in the last ten minutes.
    Trouble,
}

/// How often the tray is rebuilt with no event: a failure's red ends ten
/// minutes after it, with or without news.
const RECHECK: Duration = Duration::from_secs(10);

/// How many live workers stand where a person should know of them, other
/// than zombies (which the title shows apart), by their `bucket`.
fn attention(buckets: &BTreeMap<String, usize>) -> usize {
    cortex_engine::runtime::ATTENTION
        .iter()
        .filter(|b| **b != "zombie")
        .map(|b| buckets.get(*b).copied().unwrap_or(0))
        .sum()
}

/// The icon's colour from the live workers' buckets (`WorkerDto::bucket`,
/// the same derivation the app's "Needs attention" reads).
pub fn level(buckets: &BTreeMap<String, usize>, recent_failure: bool) -> Level {
    if buckets.get("zombie").copied().unwrap_or(0) > 0 || recent_failure {
        Level::Trouble
    } else if attention(buckets) > 0 {
        Level::Attention
    } else {
        Level::Calm
    }
}

/// The menu-bar title: running, needing attention, hung.
pub fn title(buckets: &BTreeMap<String, usize>, running: usize) -> String {
    let n = |k: &str| buckets.get(k).copied().unwrap_or(0);
    let mut parts = Vec::new();
    if running > 0 {
        parts.push(format!("{running} ▶"));
    }
    let attention = attention(buckets);
    if attention > 0 {
        parts.push(format!("{attention} ⚠"));
    }
    if n("zombie") > 0 {
        parts.push(format!("{} ✖", n("zombie")));
    }
    parts.join(" ")
}

/// How many workers stand in each bucket (`WorkerDto::bucket`).
fn bucket_counts<'a>(buckets: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for b in buckets {
        *out.entry(b.to_string()).or_default() += 1;
    }
    out
}

/// The live workers' buckets, which the count line shows: the same as the
/// title, the icon and the app's cards (a worker retrying the API is
/// waiting there, not healthy).
fn live_only(buckets: &BTreeMap<String, usize>) -> BTreeMap<String, usize> {
    let mut live = buckets.clone();
    live.remove("ended");
    live
}

/// One line of counts, for the tooltip and the menu, from the live workers'
/// buckets: every live worker in it once (a word not in the usual order
/// comes last, never left out, so the parts add up to the workers there are).
pub fn counts_line(health: &BTreeMap<String, usize>) -> String {
    let order = [
        "healthy",
        "scheduled",
        "starting",
        "verifying",
        "waiting",
        "late",
        "stalled",
        "unreachable",
        "exited",
        "stopping",
        "zombie",
    ];
    let rest = health
        .keys()
        .map(String::as_str)
        .filter(|k| !order.contains(k));
    let parts: Vec<String> = order
        .iter()
        .copied()
        .chain(rest)
        .filter_map(|k| {
            health
                .get(k)
                .filter(|n| **n > 0)
                .map(|n| format!("{n} {k}"))
        })
        .collect();
    if parts.is_empty() {
        "no workers running".into()
    } else {
        parts.join(", ")
    }
}

/// A menu entry for a worker that needs a person: what is wrong, then the
/// worker named by its task and expert (`subject`).
pub fn entry_label(health: &str, subject: &str) -> String {
    let mark = if health == "zombie" { "✖" } else { "⚠" };
    format!("{mark} {health} · {subject}")
}

/// The menu's line while a settings file edited on disk is refused.
pub const SETTINGS_NOT_READ: &str = "⚠ a settings file was not read: open the dashboard";

/// How many workers that need a person are entries in the menu.
const LISTED: usize = 8;

/// The line under the listed workers that need a person when more do than
/// the menu lists, so the list is not taken for all of them.
pub fn more_line(needing: usize) -> Option<String> {
    (needing > LISTED).then(|| format!("… and {} more: open the dashboard", needing - LISTED))
}

/// The experts paused by their circuit breaker, for the tooltip, with the
/// time each closes in the user's zone (as the app's header says it).
pub fn paused_line(paused: &[cortex_engine::pm::PausedExpert]) -> Option<String> {
    paused_line_in(paused, &chrono::Local)
}

fn paused_line_in<Tz: chrono::TimeZone>(
    paused: &[cortex_engine::pm::PausedExpert],
    tz: &Tz,
) -> Option<String>
where
    Tz::Offset: std::fmt::Display,
{
    if paused.is_empty() {
        return None;
    }
    let names: Vec<String> = paused
        .iter()
        .map(|p| format!("{} until {}", p.expert, clock_time(p, tz)))
        .collect();
    Some(format!("paused by circuit breaker: {}", names.join(", ")))
}

/// When a paused expert's breaker closes, as hours and minutes in `tz`.
fn clock_time<Tz: chrono::TimeZone>(p: &cortex_engine::pm::PausedExpert, tz: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    p.until.with_timezone(tz).format("%H:%M").to_string()
}

/// A round icon of one colour, drawn here so no image file is needed.
fn icon(level: Level) -> Image<'static> {
    const SIZE: u32 = 32;
    let (r, g, b) = match level {
        Level::Calm => (46, 160, 67),
        Level::Attention => (219, 142, 0),
        Level::Trouble => (207, 34, 46),
    };
    let mut rgba = Vec::with_capacity((SIZE * SIZE * 4) as usize);
    let c = (SIZE as f32 - 1.0) / 2.0;
    for y in 0..SIZE {
        for x in 0..SIZE {
            let d = ((x as f32 - c).powi(2) + (y as f32 - c).powi(2)).sqrt();
            let alpha = (c - d + 0.5).clamp(0.0, 1.0);
            rgba.extend_from_slice(&[r, g, b, (alpha * 255.0) as u8]);
        }
    }
    Image::new_owned(rgba, SIZE, SIZE)
}

struct TrayState {
    tray: TrayIcon,
    last_refresh: Option<Instant>,
    dirty: bool,
    /// What the tray shows now; it is rebuilt only when this changes.
    shown: Option<String>,
}

/// Creates the tray icon and its menu.
pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let menu = Menu::with_items(
        app,
        &[&MenuItem::with_id(
            app,
            "open",
            "Open dashboard",
            true,
            None::<&str>,
        )?],
    )?;
    let tray = TrayIconBuilder::with_id("cortex")
        .icon(icon(Level::Calm))
        .tooltip("Cortex")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| on_menu(app, event.id.as_ref()))
        .build(app)?;
    app.manage(Mutex::new(TrayState {
        tray,
        last_refresh: None,
        dirty: true,
        shown: None,
    }));
    // Catch up on anything a throttled refresh skipped.
    let handle = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let state = handle.state::<crate::AppState>();
            if let Ok(engine) = &state.engine() {
                let dirty = handle
                    .try_state::<Mutex<TrayState>>()
                    .and_then(|s| s.lock().ok().map(|s| s.dirty))
                    .unwrap_or(false);
                let stale = handle
                    .try_state::<Mutex<TrayState>>()
                    .and_then(|s| {
                        s.lock()
                            .ok()
                            .map(|s| s.last_refresh.is_none_or(|t| t.elapsed() >= RECHECK))
                    })
                    .unwrap_or(false);
                if dirty || stale {
                    rebuild(&handle, engine);
                }
            }
        }
    });
    refresh_now(app);
    Ok(())
}

/// Rebuilds the tray now from the engine, or says the home is not open.
pub fn refresh_now(app: &AppHandle) {
    match app.state::<crate::AppState>().engine() {
        Ok(engine) => rebuild(app, &engine),
        Err(_) => unavailable(app),
    }
}

/// The menu's last items, in every state: open the dashboard, quit.
fn append_open_and_quit(app: &AppHandle, menu: &Menu<tauri::Wry>) -> tauri::Result<()> {
    menu.append(&MenuItem::with_id(
        app,
        "open",
        "Open dashboard",
        true,
        None::<&str>,
    )?)?;
    menu.append(&MenuItem::with_id(
        app,
        "quit",
        "Quit Cortex",
        true,
        None::<&str>,
    )?)
}

/// The line the tray's menu shows while the app supervises nothing.
pub const NOT_SUPERVISING: &str = "✖ Not supervising: the home could not be opened · see why";

/// The tray while the home is not open: red, and a line that says so and
/// opens the dashboard, which says why (a calm icon would say all is well).
pub fn unavailable(app: &AppHandle) {
    let Some(state) = app.try_state::<Mutex<TrayState>>() else {
        return;
    };
    let Ok(mut s) = state.lock() else { return };
    if s.shown.as_deref() == Some(NOT_SUPERVISING) {
        return;
    }
    let build = || -> tauri::Result<Menu<tauri::Wry>> {
        let menu = Menu::new(app)?;
        menu.append(&MenuItem::with_id(
            app,
            "open-more",
            NOT_SUPERVISING,
            true,
            None::<&str>,
        )?)?;
        menu.append(&PredefinedMenuItem::separator(app)?)?;
        append_open_and_quit(app, &menu)?;
        Ok(menu)
    };
    match build() {
        Ok(menu) => {
            let _ = s.tray.set_menu(Some(menu));
            let _ = s.tray.set_icon(Some(icon(Level::Trouble)));
            let _ = s.tray.set_tooltip(Some(
                "Cortex: not supervising, the home could not be opened",
            ));
            s.shown = Some(NOT_SUPERVISING.to_string());
        }
        Err(e) => tracing::warn!("cannot build the tray menu: {e}"),
    }
}

fn on_menu(app: &AppHandle, id: &str) {
    match id {
        "open" | "open-more" => crate::show_main(app, None),
        "quit" => app.exit(0),
        "pause" | "resume" => {
            if let Ok(engine) = &app.state::<crate::AppState>().engine() {
                if let Err(e) = engine.set_spawning_paused(id == "pause") {
                    tracing::warn!("cannot change spawning: {e}");
                }
                rebuild(app, engine);
            }
        }
        other => {
            if let Some(worker) = other.strip_prefix("worker:") {
                crate::show_main(app, Some(worker));
            } else if let Some(expert) = other.strip_prefix("circuit:") {
                if let Ok(engine) = &app.state::<crate::AppState>().engine() {
                    if let Err(e) = engine.close_circuit(expert) {
                        tracing::warn!("cannot close the circuit breaker of {expert}: {e}");
                    }
                    rebuild(app, engine);
                }
            }
        }
    }
}

/// Called on every engine event; rebuilds at most four times a second.
pub fn refresh(app: &AppHandle, engine: &Engine, _event: &EngineEvent) {
    let Some(state) = app.try_state::<Mutex<TrayState>>() else {
        return;
    };
    let due = {
        let Ok(mut s) = state.lock() else { return };
        s.dirty = true;
        s.last_refresh
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(250))
    };
    if due {
        rebuild(app, engine);
    }
}

fn rebuild(app: &AppHandle, engine: &Engine) {
    let Some(state) = app.try_state::<Mutex<TrayState>>() else {
        return;
    };
    let overview = engine.overview();
    let workers = engine.workers();
    let buckets = bucket_counts(workers.iter().map(|w| w.bucket()));
    let all_needing = workers.iter().filter(|w| w.needs_attention()).count();
    let needing: Vec<_> = workers
        .iter()
        .filter(|w| w.needs_attention())
        .take(LISTED)
        .collect();
    let more = more_line(all_needing);
    let named: Vec<String> = needing
        .iter()
        .map(|w| {
            entry_label(
                w.bucket(),
                &engine
                    .subject_of(&w.id)
                    .unwrap_or_else(|| format!("{} · {}", w.expert, w.id)),
            )
        })
        .collect();
    // As the app's Running card counts: a worker being stopped is not running.
    let running = workers
        .iter()
        .filter(|w| w.state == cortex_core::worker::WorkerStatus::Running)
        .count();
    let Ok(mut s) = state.lock() else { return };
    let lvl = level(&buckets, overview.recent_failure_at.is_some());
    let counts = counts_line(&live_only(&buckets));
    // Most events (a worker printed a line) change nothing the tray shows:
    // skip rebuilding the native menu then.
    let paused_experts = paused_line(&overview.paused_experts);
    let signature = format!(
        "{lvl:?}|{counts}|{running}|{}|{paused_experts:?}|{more:?}|{}|{}",
        overview.paused,
        overview.settings_refused.is_some(),
        needing
            .iter()
            .map(|w| format!("{}:{}", w.id, w.bucket()))
            .collect::<Vec<_>>()
            .join(",")
    );
    s.last_refresh = Some(Instant::now());
    s.dirty = false;
    if s.shown.as_deref() == Some(signature.as_str()) {
        return;
    }
    s.shown = Some(signature);
    let build = || -> tauri::Result<Menu<tauri::Wry>> {
        let menu = Menu::new(app)?;
        menu.append(&MenuItem::with_id(
            app,
            "counts",
            &counts,
            false,
            None::<&str>,
        )?)?;
        if !needing.is_empty() {
            menu.append(&PredefinedMenuItem::separator(app)?)?;
            for (w, label) in needing.iter().zip(&named) {
                menu.append(&MenuItem::with_id(
                    app,
                    format!("worker:{}", w.id),
                    label,
                    true,
                    None::<&str>,
                )?)?;
            }
            if let Some(more) = &more {
                menu.append(&MenuItem::with_id(
                    app,
                    "open-more",
                    more,
                    true,
                    None::<&str>,
                )?)?;
            }
        }
        if overview.settings_refused.is_some() {
            menu.append(&PredefinedMenuItem::separator(app)?)?;
            menu.append(&MenuItem::with_id(
                app,
                "open-more",
                SETTINGS_NOT_READ,
                true,
                None::<&str>,
            )?)?;
        }
        if !overview.paused_experts.is_empty() {
            menu.append(&PredefinedMenuItem::separator(app)?)?;
            for p in &overview.paused_experts {
                let label = format!(
                    "⏸ {} paused by its circuit breaker until {} · close it",
                    p.expert,
                    clock_time(p, &chrono::Local)
                );
                menu.append(&MenuItem::with_id(
                    app,
                    format!("circuit:{}", p.expert),
                    label,
                    true,
                    None::<&str>,
                )?)?;
            }
        }
        menu.append(&PredefinedMenuItem::separator(app)?)?;
        let (id, label) = if overview.paused {
            ("resume", "Resume spawning")
        } else {
            ("pause", "Pause spawning")
        };
        menu.append(&MenuItem::with_id(app, id, label, true, None::<&str>)?)?;
        append_open_and_quit(app, &menu)?;
        Ok(menu)
    };
    match build() {
        Ok(menu) => {
            let _ = s.tray.set_menu(Some(menu));
        }
        Err(e) => tracing::warn!("cannot build the tray menu: {e}"),
    }
    let _ = s.tray.set_icon(Some(icon(lvl)));
    let tooltip = match &paused_experts {
        Some(p) => format!("Cortex: {counts}\n{p}"),
        None => format!("Cortex: {counts}"),
    };
    let _ = s.tray.set_tooltip(Some(tooltip));
    let t = title(&buckets, running);
    let _ = s.tray.set_title(if t.is_empty() { None } else { Some(t) });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn the_icon_shows_the_worst_state() {
        assert_eq!(level(&health(&[("healthy", 3)]), false), Level::Calm);
        assert_eq!(
            level(&health(&[("healthy", 3), ("late", 1)]), false),
            Level::Attention
        );
        assert_eq!(
            level(&health(&[("stalled", 1), ("zombie", 1)]), false),
            Level::Trouble
        );
        assert_eq!(
            level(&health(&[("healthy", 1), ("unreachable", 2)]), false),
            Level::Attention,
            "out of reach is not hung"
        );
        assert_eq!(
            level(&health(&[("healthy", 1)]), true),
            Level::Trouble,
            "a recent failure"
        );
        // What the app's "Needs attention" lists colours the icon too.
        for b in ["waiting", "exited"] {
            assert_eq!(level(&health(&[(b, 1)]), false), Level::Attention, "{b}");
        }
        assert_eq!(
            level(&health(&[("stopping", 1), ("verifying", 2)]), false),
            Level::Calm
        );
    }

    #[test]
    fn the_title_and_counts_read_at_a_glance() {
        let h = health(&[("healthy", 2), ("stalled", 1), ("late", 0)]);
        assert_eq!(title(&h, 3), "3 ▶ 1 ⚠");
        assert_eq!(title(&health(&[("zombie", 2)]), 2), "2 ▶ 2 ✖");
        assert_eq!(title(&BTreeMap::new(), 0), "");
        assert_eq!(counts_line(&h), "2 healthy, 1 stalled");
        assert_eq!(counts_line(&BTreeMap::new()), "no workers running");
        let cut_off = health(&[("healthy", 1), ("unreachable", 2)]);
        assert_eq!(title(&cut_off, 3), "3 ▶ 2 ⚠");
        assert_eq!(counts_line(&cut_off), "1 healthy, 2 unreachable");
        let seen = bucket_counts(["healthy", "waiting", "ended", "ended"].into_iter());
        assert_eq!(
            counts_line(&live_only(&seen)),
            "1 healthy, 1 waiting",
            "by bucket, as the title counts, ended workers left out"
        );
        let all = health(&[
            ("healthy", 1),
            ("verifying", 1),
            ("exited", 1),
            ("unwatched", 2),
        ]);
        assert_eq!(
            counts_line(&all),
            "1 healthy, 1 verifying, 1 exited, 2 unwatched",
            "every live worker counted"
        );
    }

    #[test]
    fn a_stalled_entry_names_the_task_and_expert_before_the_id() {
        assert_eq!(
            entry_label("stalled", "“refactor the cache layer” · development · w-1"),
            "⚠ stalled · “refactor the cache layer” · development · w-1"
        );
    }

    #[test]
    fn workers_past_the_listed_ones_are_counted_not_dropped() {
        assert_eq!(more_line(0), None);
        assert_eq!(more_line(LISTED), None);
        assert_eq!(
            more_line(LISTED + 3).as_deref(),
            Some("… and 3 more: open the dashboard")
        );
    }

    #[test]
    fn paused_experts_are_named_with_their_time() {
        assert_eq!(paused_line(&[]), None);
        let p: cortex_engine::pm::PausedExpert =
            serde_json::from_str(r#"{"expert":"development","until":"2023-11-14T22:13:20Z"}"#)
                .unwrap();
        assert_eq!(
            paused_line_in(std::slice::from_ref(&p), &chrono::Utc).as_deref(),
            Some("paused by circuit breaker: development until 22:13")
        );
        // In the user's zone, as the app's header says it.
        let new_york = chrono::FixedOffset::west_opt(5 * 3600).unwrap();
        assert_eq!(
            paused_line_in(&[p], &new_york).as_deref(),
            Some("paused by circuit breaker: development until 17:13")
        );
    }
}
