//! Native notifications for alerts, per kind as the settings say. The
//! engine already coalesces alerts (one per worker per transition, a
//! summary for bursts); this only decides whether a kind is shown.

use cortex_core::alerts::Alert;
use cortex_core::config::NotificationConfig;
use cortex_core::health::AlertKind;
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
        // Only the 90% warning and the limit itself, not 50% and 75%.
        AlertKind::TimeoutWarning => cfg.timeout && alert.message.starts_with("90%"),
        AlertKind::TimedOut => cfg.timeout,
        AlertKind::Failed | AlertKind::Budget => cfg.failed,
        AlertKind::CircuitBreaker => cfg.circuit_breaker,
        AlertKind::Completed => cfg.completed,
        AlertKind::Extended => false,
        AlertKind::NeedsInput => cfg.needs_input,
    }
}

/// The notification's title for an alert.
pub fn title(alert: &Alert) -> String {
    if !alert.summarized.is_empty() {
        return format!(
            "Cortex: {} workers need attention",
            alert.summarized.len() + 1
        );
    }
    let what = match alert.kind {
        AlertKind::Stalled => "Worker stalled",
        AlertKind::Zombie => "Worker hung: killed",
        AlertKind::TimeoutWarning => "Worker near its time limit",
        AlertKind::TimedOut => "Worker out of time",
        AlertKind::Failed => "Worker failed",
        AlertKind::Budget => "Worker over budget",
        AlertKind::CircuitBreaker => "Expert paused",
        AlertKind::Completed => "Worker done",
        AlertKind::Extended => "Worker extended",
        AlertKind::NeedsInput => "Worker needs you",
    };
    format!("Cortex: {what}")
}

/// The notification's text: the alert's message, secrets redacted, without
/// a leading repeat of what the title says ("stalled: ").
pub fn body(alert: &Alert) -> String {
    let prefix = format!("{}: ", alert.kind.label());
    let message = match alert.message.get(..prefix.len()) {
        Some(head) if alert.summarized.is_empty() && head.eq_ignore_ascii_case(&prefix) => {
            &alert.message[prefix.len()..]
        }
        _ => alert.message.as_str(),
    };
    cortex_core::redact::redact(message)
}

pub fn alert(app: &AppHandle, engine: &Engine, alert: &Alert) {
    if !wanted(&engine.config().notifications, alert) {
        return;
    }
    let body = body(alert);
    #[cfg(all(unix, not(target_os = "macos")))]
    if clickable::show(app, &title(alert), &body, click_target(alert)) {
        return;
    }
    if let Err(e) = app
        .notification()
        .builder()
        .title(title(alert))
        .body(body)
        .show()
    {
        tracing::warn!("notification not shown: {e}");
    }
}

/// The worker a click on the notification opens: the alert's own worker;
/// a summary opens the dashboard.
pub fn click_target(alert: &Alert) -> Option<String> {
    if alert.summarized.is_empty() {
        alert.worker_id.as_ref().map(|w| w.to_string())
    } else {
        None
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
    use cortex_core::health::Severity;

    #[test]
    fn the_body_does_not_repeat_the_kind_and_hides_secrets() {
        assert_eq!(
            body(&alert(
                AlertKind::Stalled,
                "stalled: silent for 2s (last sign of life: start)"
            )),
            "silent for 2s (last sign of life: start)"
        );
        assert_eq!(
            body(&alert(
                AlertKind::TimedOut,
                "timed out: reached its time limit of 60s"
            )),
            "reached its time limit of 60s"
        );
        assert_eq!(
            body(&alert(
                AlertKind::Zombie,
                "silent for 60s; killed, restart 1 of 3"
            )),
            "silent for 60s; killed, restart 1 of 3"
        );
        let leaked = body(&alert(
            AlertKind::Failed,
            "failed: key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789",
        ));
        assert!(!leaked.contains("abcdefghijklmnop"), "{leaked}");
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
    fn kinds_follow_the_settings_and_only_the_90_percent_warning_notifies() {
        let mut cfg = NotificationConfig::default();
        assert!(wanted(&cfg, &alert(AlertKind::Stalled, "stalled")));
        assert!(!wanted(
            &cfg,
            &alert(AlertKind::TimeoutWarning, "50% of its time limit used")
        ));
        assert!(wanted(
            &cfg,
            &alert(AlertKind::TimeoutWarning, "90% of its time limit used")
        ));
        assert!(
            !wanted(&cfg, &alert(AlertKind::Completed, "done")),
            "completed is off by default"
        );
        cfg.stalled = false;
        assert!(!wanted(&cfg, &alert(AlertKind::Stalled, "stalled")));
        let mut summary = alert(AlertKind::Stalled, "3 more");
        summary.summarized = vec![
            alert(AlertKind::Zombie, "z"),
            alert(AlertKind::Stalled, "s"),
        ];
        assert!(
            wanted(&cfg, &summary),
            "a summary notifies if any part would"
        );
        assert_eq!(title(&summary), "Cortex: 3 workers need attention");
    }

    #[test]
    fn a_click_opens_the_alerts_worker_and_a_summary_opens_the_dashboard() {
        let mut one = alert(AlertKind::Stalled, "stalled");
        assert_eq!(click_target(&one), None);
        let id = cortex_core::id::WorkerId::parse("w-01j0000000000000000000000a");
        assert!(id.is_some(), "a valid worker id");
        one.worker_id = id;
        assert_eq!(
            click_target(&one).as_deref(),
            Some("w-01j0000000000000000000000a")
        );
        let mut summary = one.clone();
        summary.summarized = vec![alert(AlertKind::Zombie, "z")];
        assert_eq!(click_target(&summary), None);
    }
}
