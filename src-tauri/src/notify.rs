//! Native notifications for alerts, per kind as the settings say. The
//! engine already coalesces alerts (one per worker per transition, a
//! summary for bursts); this only decides whether a kind is shown.

use cortex_core::alerts::Alert;
use cortex_core::config::NotificationConfig;
use cortex_core::health::{AlertKind, Severity};
use cortex_engine::Engine;
use tauri::AppHandle;
use tauri_plugin_notification::NotificationExt;

/// Whether the settings ask for this alert to become a notification.
pub fn wanted(cfg: &NotificationConfig, alert: &Alert) -> bool {
    if !alert.summarized.is_empty() {
        return alert.summarized.iter().any(|a| wanted(cfg, a));
    }
    match alert.kind {
        AlertKind::Stalled => cfg.stalled,
        AlertKind::Zombie => cfg.zombie,
        // Only the 90% warning (the one at warning level) and the limit
        // itself, not the informational 50% and 75%.
        AlertKind::TimeoutWarning => cfg.timeout && alert.severity == Severity::Warning,
        AlertKind::TimedOut => cfg.timeout,
        AlertKind::Failed | AlertKind::Budget => cfg.failed,
        AlertKind::CircuitBreaker => cfg.circuit_breaker,
        AlertKind::Completed => cfg.completed,
        AlertKind::Extended => false,
        AlertKind::NeedsInput => cfg.needs_input,
        AlertKind::UsageLimit => cfg.usage_limit,
    }
}

/// The alerts a notification speaks of: the alert itself, or those members
/// of a summary that the settings ask to be notified of (a completion with
/// completion notifications off is not among them).
pub fn members<'a>(cfg: &NotificationConfig, alert: &'a Alert) -> Vec<&'a Alert> {
    if alert.summarized.is_empty() {
        vec![alert]
    } else {
        alert.summarized.iter().filter(|a| wanted(cfg, a)).collect()
    }
}

/// What the title says for one alert.
fn what(alert: &Alert) -> &'static str {
    match alert.kind {
        AlertKind::Stalled => "Worker stalled",
        AlertKind::Zombie => "Worker hung: killed",
        AlertKind::TimeoutWarning => "Worker near its time limit",
        AlertKind::TimedOut => "Worker out of time",
        AlertKind::Failed => "Worker failed",
        // The 80% warning stops nothing: the worker runs on under its budget.
        AlertKind::Budget if alert.severity == Severity::Warning => "Worker near its budget",
        AlertKind::Budget => "Worker over budget: stopped",
        AlertKind::CircuitBreaker => "Expert paused",
        AlertKind::Completed => "Worker done",
        AlertKind::Extended => "Worker extended",
        AlertKind::NeedsInput => "Worker needs you",
        AlertKind::UsageLimit => "Usage limit reached",
    }
}

/// The notification's title: the one alert's kind, or what the shown
/// members come to, counted as the engine's summaries count them
/// (`cortex_core::alerts::tally`).
pub fn title(shown: &[&Alert]) -> String {
    if let [one] = shown {
        return format!("Cortex: {}", what(one));
    }
    let t = cortex_core::alerts::tally(shown.iter().copied());
    match (t.workers, t.experts, t.info.as_slice()) {
        (1, _, _) => "Cortex: 1 worker needs attention".to_string(),
        (n, _, _) if n > 1 => format!("Cortex: {n} workers need attention"),
        (_, 1, _) => "Cortex: Expert paused".to_string(),
        (_, e, _) if e > 1 => format!("Cortex: {e} experts paused"),
        (_, _, [("completed", 1)]) => "Cortex: Worker done".to_string(),
        (_, _, [("completed", n)]) => format!("Cortex: {n} workers done"),
        _ => format!("Cortex: {} updates", shown.len()),
    }
}

/// The message without a leading repeat of the kind ("stalled: ").
fn message_of(alert: &Alert) -> &str {
    let prefix = format!("{}: ", alert.kind.label());
    match alert.message.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(&prefix) => &alert.message[prefix.len()..],
        _ => alert.message.as_str(),
    }
}

/// How many members a summary's body lists before "and N more".
const LISTED: usize = 4;

/// The notification's text, secrets redacted: who it is about first (the
/// task's first words and the expert, from `subject`), then what happened;
/// for several alerts, one line each.
pub fn body(shown: &[&Alert], subject: impl Fn(&Alert) -> Option<String>) -> String {
    let text = match shown {
        [one] => match subject(one) {
            Some(s) => format!("{s}\n{}", message_of(one)),
            None => message_of(one).to_string(),
        },
        many => {
            let mut lines: Vec<String> = many
                .iter()
                .take(LISTED)
                .map(|a| {
                    let who = subject(a).unwrap_or_else(|| message_of(a).to_string());
                    format!("{}: {who}", a.kind.label())
                })
                .collect();
            if many.len() > LISTED {
                lines.push(format!("and {} more", many.len() - LISTED));
            }
            lines.join("\n")
        }
    };
    cortex_core::redact::redact(&text)
}

pub fn alert(app: &AppHandle, engine: &Engine, alert: &Alert) {
    let cfg = engine.config().notifications;
    if !wanted(&cfg, alert) {
        return;
    }
    let shown = members(&cfg, alert);
    deliver(
        app,
        &title(&shown),
        body(&shown, |a| engine.alert_subject(a)),
        click_target(&shown),
    );
}

/// Shows a notification: through D-Bus with a click that opens the
/// dashboard (on `worker`, if one is named) where that works, else through
/// the notification plugin.
fn deliver(app: &AppHandle, title: &str, body: String, worker: Option<String>) {
    #[cfg(all(unix, not(target_os = "macos")))]
    if clickable::show(app, title, &body, worker) {
        return;
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    let _ = worker;
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::warn!("notification not shown: {e}");
    }
}

/// A settings file edited on disk that the engine refused to read (its
/// activity line's message): said once per refusal, whatever the alert
/// kinds asked, since nothing else interrupts a person who expects the edit
/// to be in use. A click opens the dashboard, whose header says it too.
pub fn settings_refused(app: &AppHandle, message: &str) {
    deliver(
        app,
        "Settings not read",
        cortex_core::redact::redact(message),
        None,
    );
}

/// The worker a click on the notification opens: the one alert's worker;
/// several open the dashboard.
pub fn click_target(shown: &[&Alert]) -> Option<String> {
    match shown {
        [one] => one.worker_id.as_ref().map(|w| w.to_string()),
        _ => None,
    }
}

/// Linux and the BSDs: notifications through org.freedesktop.Notifications
/// with a default action, so clicking one brings the dashboard to its worker
/// (the notification plugin shows them without actions).
#[cfg(all(unix, not(target_os = "macos")))]
mod clickable {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tauri::AppHandle;

    /// Notifications whose click is being waited for, each on a thread that
    /// ends when its notification closes. Past this many, a notification is
    /// still shown but not clickable.
    const MAX_WAITING: usize = 16;
    static WAITING: AtomicUsize = AtomicUsize::new(0);

    /// A place among the notifications waiting for a click, given back
    /// when dropped.
    struct Slot;

    impl Slot {
        fn take() -> Option<Slot> {
            WAITING
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n < MAX_WAITING).then_some(n + 1)
                })
                .ok()
                .map(|_| Slot)
        }
    }

    impl Drop for Slot {
        fn drop(&mut self) {
            WAITING.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Shows the notification; false if the notification service refused it.
    pub fn show(app: &AppHandle, title: &str, body: &str, worker: Option<String>) -> bool {
        let slot = Slot::take();
        let mut n = notify_rust::Notification::new();
        n.appname("Cortex").summary(title).body(body);
        if slot.is_some() {
            n.action("default", "Open");
        }
        let handle = match n.show() {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!("notification not shown through D-Bus: {e}");
                return false;
            }
        };
        let Some(slot) = slot else {
            return true;
        };
        let app = app.clone();
        // The slot lives as long as the thread (or is dropped with the
        // closure if no thread could start).
        let _ = std::thread::Builder::new()
            .name("notification-click".into())
            .spawn(move || {
                let _slot = slot;
                handle.wait_for_action(|action| {
                    if action == "default" {
                        crate::show_main(&app, worker.as_deref());
                    }
                });
            });
        true
    }
}

/// What the Settings page says about delivery on this platform.
pub fn delivery_note() -> String {
    if cfg!(target_os = "macos") {
        "native notifications (the bundled, signed app is needed for reliable delivery)".into()
    } else if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
        "native notifications through the D-Bus session (org.freedesktop.Notifications)".into()
    } else {
        "no D-Bus session: notifications cannot be delivered".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(kind: AlertKind, message: &str) -> String {
        let a = alert(kind, message);
        body(&[&a], |_| None)
    }

    #[test]
    fn the_body_does_not_repeat_the_kind_and_hides_secrets() {
        assert_eq!(
            one(
                AlertKind::Stalled,
                "stalled: silent for 2s (last sign of life: start)"
            ),
            "silent for 2s (last sign of life: start)"
        );
        assert_eq!(
            one(
                AlertKind::TimedOut,
                "timed out: reached its time limit of 60s"
            ),
            "reached its time limit of 60s"
        );
        assert_eq!(
            one(AlertKind::Zombie, "silent for 60s; killed, restart 1 of 3"),
            "silent for 60s; killed, restart 1 of 3"
        );
        let leaked = one(
            AlertKind::Failed,
            "failed: key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789",
        );
        assert!(!leaked.contains("abcdefghijklmnop"), "{leaked}");
    }

    #[test]
    fn the_body_names_the_task_and_expert_before_what_happened() {
        let a = alert(AlertKind::Stalled, "stalled: silent for 2s");
        let text = body(&[&a], |_| {
            Some("“refactor the cache layer” · development · w-1".into())
        });
        assert_eq!(
            text,
            "“refactor the cache layer” · development · w-1\nsilent for 2s"
        );
    }

    fn alert(kind: AlertKind, message: &str) -> Alert {
        Alert {
            at: cortex_core::DateTime::from_timestamp(0, 0).unwrap_or_default(),
            severity: Severity::Warning,
            kind,
            worker_id: None,
            task_id: None,
            attempt: None,
            message: message.into(),
            summarized: vec![],
        }
    }

    #[test]
    fn a_budget_warning_is_not_titled_over_budget() {
        // The engine's own alerts at 85% and at 100% of a budget.
        let id = cortex_core::id::WorkerId::new(1, [1; 10]);
        let titled = |fraction: f64| {
            let actions = cortex_core::health::budget_actions(
                &id,
                1,
                Some(1000),
                None,
                false,
                (fraction * 1000.0) as u64,
                0.0,
            );
            let Some(cortex_core::health::Action::Alert {
                kind,
                severity,
                message,
                ..
            }) = actions
                .into_iter()
                .find(|a| matches!(a, cortex_core::health::Action::Alert { .. }))
            else {
                panic!("no alert at {fraction}");
            };
            let mut a = alert(kind, &message);
            a.severity = severity;
            title(&[&a])
        };
        assert_eq!(titled(0.85), "Cortex: Worker near its budget");
        assert_eq!(titled(1.0), "Cortex: Worker over budget: stopped");
    }

    #[test]
    fn kinds_follow_the_settings_and_only_the_90_percent_warning_notifies() {
        let mut cfg = NotificationConfig::default();
        assert!(wanted(&cfg, &alert(AlertKind::Stalled, "stalled")));
        // The level is the alert's severity, never read back from its text.
        let mut half = alert(AlertKind::TimeoutWarning, "90% in words, but informational");
        half.severity = Severity::Info;
        assert!(!wanted(&cfg, &half));
        assert!(wanted(
            &cfg,
            &alert(AlertKind::TimeoutWarning, "at warning level")
        ));
        assert!(
            !wanted(&cfg, &alert(AlertKind::Completed, "done")),
            "completed is off by default"
        );
        cfg.stalled = false;
        assert!(!wanted(&cfg, &alert(AlertKind::Stalled, "stalled")));
        // The account's usage limit: on by default, off when asked.
        assert!(wanted(
            &cfg,
            &alert(AlertKind::UsageLimit, "resumes at 18:00")
        ));
        cfg.usage_limit = false;
        assert!(!wanted(
            &cfg,
            &alert(AlertKind::UsageLimit, "resumes at 18:00")
        ));
        let mut summary = alert(AlertKind::Stalled, "3 more");
        summary.summarized = vec![
            alert(AlertKind::Zombie, "z"),
            alert(AlertKind::Stalled, "s"),
        ];
        assert!(
            wanted(&cfg, &summary),
            "a summary notifies if any part would"
        );
    }

    fn about(kind: AlertKind, message: &str, worker: char, severity: Severity) -> Alert {
        let mut a = alert(kind, message);
        a.worker_id =
            cortex_core::id::WorkerId::parse(&format!("w-01j0000000000000000000000{worker}"));
        assert!(a.worker_id.is_some(), "a valid worker id");
        a.severity = severity;
        a
    }

    #[test]
    fn a_summary_title_counts_each_worker_that_needs_attention_once() {
        let info = Severity::Info;
        let stalled = about(AlertKind::Stalled, "s", 'a', Severity::Warning);
        let hung = about(AlertKind::Zombie, "z", 'a', Severity::Critical);
        let done = about(AlertKind::Completed, "done", 'b', info);
        let breaker = alert(AlertKind::CircuitBreaker, "paused");
        assert_eq!(
            title(&[&stalled, &hung, &done]),
            "Cortex: 1 worker needs attention",
            "one worker twice, and a completion that needs nothing"
        );
        let other = about(AlertKind::Failed, "f", 'c', Severity::Critical);
        assert_eq!(
            title(&[&stalled, &other, &breaker]),
            "Cortex: 2 workers need attention"
        );
        assert_eq!(title(&[&breaker, &done]), "Cortex: Expert paused");
        let done2 = about(AlertKind::Completed, "done", 'd', info);
        assert_eq!(title(&[&done, &done2]), "Cortex: 2 workers done");
        let mut again = done.clone();
        again.attempt = Some(2);
        assert_eq!(
            title(&[&done, &again]),
            "Cortex: Worker done",
            "one worker done twice (a reply) is one worker"
        );
        let extended = about(AlertKind::Extended, "more time", 'c', info);
        assert_eq!(title(&[&done, &extended]), "Cortex: 2 updates");
    }

    #[test]
    fn a_summary_speaks_only_of_the_members_asked_for_and_counts_them_alike() {
        let cfg = NotificationConfig::default();
        let mut summary = alert(AlertKind::Zombie, "2 more workers need attention");
        summary.severity = Severity::Critical;
        summary.summarized = vec![
            about(AlertKind::Zombie, "z", 'a', Severity::Critical),
            about(AlertKind::Completed, "done", 'b', Severity::Info),
            about(AlertKind::Stalled, "s", 'c', Severity::Warning),
        ];
        let shown = members(&cfg, &summary);
        assert_eq!(
            shown.len(),
            2,
            "the completion is left out: its notifications are off"
        );
        assert_eq!(title(&shown), "Cortex: 2 workers need attention");
        assert_eq!(body(&shown, |_| None), "zombie: z\nstalled: s");
        let lone = alert(AlertKind::Stalled, "stalled");
        summary.summarized = vec![alert(AlertKind::Completed, "done"), lone.clone()];
        assert_eq!(title(&members(&cfg, &summary)), "Cortex: Worker stalled");
    }

    #[test]
    fn a_click_opens_the_alerts_worker_and_a_summary_opens_the_dashboard() {
        let mut one = alert(AlertKind::Stalled, "stalled");
        assert_eq!(click_target(&[&one]), None);
        let id = cortex_core::id::WorkerId::parse("w-01j0000000000000000000000a");
        assert!(id.is_some(), "a valid worker id");
        one.worker_id = id;
        assert_eq!(
            click_target(&[&one]).as_deref(),
            Some("w-01j0000000000000000000000a")
        );
        let other = alert(AlertKind::Zombie, "z");
        assert_eq!(click_target(&[&one, &other]), None);
    }
}
