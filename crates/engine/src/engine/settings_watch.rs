//! Settings edited on disk while the owner runs: `config.json` and the
//! expert files are looked at once a second, and a change is read with the
//! rules `cortex config check` uses. A valid edit is applied as a save from
//! the app is (the router, limits and agent command of workers started from
//! then on); an invalid one is refused and the settings in use are kept.
//! Either way the activity log says so, which `cortex run` prints and the
//! app's Activity page shows.
//!
//! May depend on: the home (`crate::home`), the activity log (`supervision`).

use std::time::SystemTime;

use tracing::{info, warn};

use crate::engine::Engine;

/// What the settings files look like from outside: each file's path, size
/// and modification time. A change of any means "read them again".
pub(crate) type SettingsLook = Vec<(std::path::PathBuf, u64, Option<SystemTime>)>;

/// The last look, and whether what it saw was refused.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    look: SettingsLook,
    refused: bool,
}

impl Seen {
    pub(crate) fn now(home: &crate::Home) -> Self {
        Self {
            look: look(home),
            refused: false,
        }
    }
}

pub(crate) fn look(home: &crate::Home) -> SettingsLook {
    let mut files = vec![home.config_file()];
    if let Ok(dir) = std::fs::read_dir(home.experts_dir()) {
        let mut experts: Vec<_> = dir
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        experts.sort();
        files.extend(experts);
    }
    files
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let len = meta.as_ref().map_or(0, std::fs::Metadata::len);
            let modified = meta.and_then(|m| m.modified().ok());
            (p, len, modified)
        })
        .collect()
}

impl Engine {
    /// Reads the settings again when a file changed since the last look.
    pub(crate) fn reload_settings_if_edited(&self) {
        let now_look = look(self.home());
        let was_refused = {
            let mut seen = self
                .inner
                .settings_look
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if seen.look == now_look {
                return;
            }
            seen.look = now_look;
            std::mem::replace(&mut seen.refused, false)
        };
        let (message, event) = match self.home().load_settings() {
            Ok(loaded) if *self.settings() == loaded => {
                if !was_refused {
                    // Written by this engine (a save from the app), or
                    // touched without a change.
                    return;
                }
                (
                    "the settings files are valid again and say what is in use: nothing changed"
                        .to_string(),
                    "settings_applied",
                )
            }
            Ok(loaded) => {
                let later = read_at_start(&self.settings().0, &loaded.0);
                self.apply_settings(loaded.0, loaded.1);
                info!("settings read again: config.json or an expert file changed");
                let mut message = "config.json or an expert file changed and was read again: the new settings are in use from now on".to_string();
                if !later.is_empty() {
                    message.push_str(&format!(
                        "; {} change{} only when the owner starts again",
                        later.join(", "),
                        if later.len() == 1 { "s" } else { "" }
                    ));
                }
                (message, "settings_applied")
            }
            Err(e) => {
                self.inner
                    .settings_look
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .refused = true;
                warn!("settings edited on disk are not valid, the ones in use are kept: {e}");
                (
                    format!("the settings were edited but are not valid, so the ones in use are kept: {e}"),
                    "settings_refused",
                )
            }
        };
        self.pm_log_general(self.now(), event, &message);
    }
}

/// The keys that changed between `old` and `new` which the owner reads only
/// as it starts: where workers run, the PM's tick and the alerts' coalescing
/// window.
pub(crate) fn read_at_start(
    old: &cortex_core::config::Config,
    new: &cortex_core::config::Config,
) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if old.launcher != new.launcher {
        keys.push("launcher");
    }
    if old.pm.tick_millis != new.pm.tick_millis {
        keys.push("pm.tick_millis");
    }
    if old.notifications.coalesce_window_millis != new.notifications.coalesce_window_millis {
        keys.push("notifications.coalesce_window_millis");
    }
    keys
}

#[cfg(test)]
mod tests {
    use crate::lock::OwnerKind;
    use crate::{Engine, Home};

    /// Each edit has a size of its own, so the look tells it apart even
    /// when the file system's clock has not moved in between.
    fn set_config(home: &Home, text: &str) {
        std::fs::write(home.config_file(), text).unwrap();
    }

    #[test]
    fn an_edit_on_disk_is_read_again_and_an_invalid_one_keeps_the_settings_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.init().unwrap();
        let engine = Engine::open(&home, OwnerKind::Run).unwrap();
        // Nothing changed: nothing is read or said.
        engine.reload_settings_if_edited();
        assert!(engine.recent_activity(10).is_empty());

        set_config(
            &home,
            r#"{"capacity": {"max_workers": 7}, "pm": {"tick_millis": 500}}"#,
        );
        engine.reload_settings_if_edited();
        assert_eq!(engine.config().capacity.max_workers, 7);
        let lines = engine.recent_activity(10);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["event"], "settings_applied");
        let said = lines[0]["message"].as_str().unwrap();
        assert!(
            said.contains("pm.tick_millis changes only when the owner starts again"),
            "{said}"
        );

        // A mistyped key: refused, named, the settings in use kept.
        set_config(&home, r#"{"capacity": {"max_worker": 2}}"#);
        engine.reload_settings_if_edited();
        assert_eq!(engine.config().capacity.max_workers, 7);
        let lines = engine.recent_activity(10);
        let last = lines.last().unwrap();
        assert_eq!(last["event"], "settings_refused");
        assert!(
            last["message"]
                .as_str()
                .unwrap()
                .contains("capacity.max_worker"),
            "{last}"
        );
        // Said once, not every second while the file stays as it is.
        engine.reload_settings_if_edited();
        assert_eq!(engine.recent_activity(10).len(), 2);
        // Put right to what is in use: said, so the refusal is not the
        // last word.
        set_config(
            &home,
            r#"{"capacity": {"max_workers": 7},  "pm": {"tick_millis": 500}}"#,
        );
        engine.reload_settings_if_edited();
        let lines = engine.recent_activity(10);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines[2]["message"]
                .as_str()
                .unwrap()
                .contains("valid again"),
            "{}",
            lines[2]
        );
        engine.close().unwrap();
    }
}
