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

/// The last look acted on, one not yet seen twice, and why what was acted
/// on last was refused, if it was.
#[derive(Debug)]
pub(crate) struct Seen {
    look: SettingsLook,
    settling: Option<SettingsLook>,
    refused: Option<String>,
}

impl Seen {
    pub(crate) fn now(home: &crate::Home) -> Self {
        Self {
            look: look(home),
            settling: None,
            refused: None,
        }
    }
}

/// The config and every expert file (as `load_settings` lists them), with
/// their sizes and times.
pub(crate) fn look(home: &crate::Home) -> SettingsLook {
    let mut files = vec![home.config_file()];
    // Their sizes and times, not their text: this runs every second.
    if let Ok(experts) = crate::home::expert_paths(&home.experts_dir()) {
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
    /// Held while settings are read, written and applied.
    pub(crate) fn settings_writing(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner
            .settings_write
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// After this engine wrote the settings (a save from the app): what is
    /// on disk now is in use, with no edit to read. A save writes
    /// config.json or one expert's file: another file refused before may
    /// still be refused.
    pub(crate) fn settings_saved(&self) {
        let fresh = look(self.home());
        {
            let mut seen = self.seen();
            seen.look = fresh;
            seen.settling = None;
        }
        self.set_refused(self.settings_on_disk().err().map(|e| e.to_string()));
    }

    /// Records why the files on disk are refused (none when they are not);
    /// a change is written for other processes' views (`cortex status`
    /// reads it from pm-state.json).
    fn set_refused(&self, refused: Option<String>) {
        // The problem may quote the refused value (a key in an agent's
        // environment): hidden here, once, for the app, the tray, the
        // PM's file and the CLI that reads it.
        let refused = refused.map(|r| cortex_core::redact::redact(&r));
        let changed = {
            let mut seen = self.seen();
            let changed = seen.refused != refused;
            seen.refused = refused;
            changed
        };
        if changed {
            self.pm().dirty = true;
        }
    }

    /// Why the settings files on disk were refused, while they still are
    /// what was refused: the settings in use are older than the files.
    pub fn settings_refused(&self) -> Option<String> {
        self.seen().refused.clone()
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.inner
            .settings_look
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the settings again when the files changed since the last look
    /// and stayed so for one more look (an editor may be half-way through
    /// writing one).
    pub(crate) fn reload_settings_if_edited(&self) {
        let _writing = self.settings_writing();
        let now_look = look(self.home());
        // What was refused before, and whether the files are as they were
        // then: a refusal is looked at again every second, since what made
        // it (an expert's workers still running) may pass without an edit.
        let (was_refused, unchanged) = {
            let mut seen = self.seen();
            if seen.look == now_look {
                seen.settling = None;
                if seen.refused.is_none() {
                    return;
                }
                (seen.refused.clone(), true)
            } else if seen.settling.as_ref() != Some(&now_look) {
                seen.settling = Some(now_look);
                return;
            } else {
                seen.settling = None;
                seen.look = now_look;
                (seen.refused.clone(), false)
            }
        };
        let on_disk = self.settings_on_disk();
        self.set_refused(on_disk.as_ref().err().map(ToString::to_string));
        let (message, event) = match on_disk {
            Err(e) if unchanged && was_refused.as_deref() == Some(e.to_string().as_str()) => {
                // Still refused for the same reason: said already.
                return;
            }
            Ok(loaded) if *self.settings() == loaded => {
                if was_refused.is_none() {
                    // Touched without a change.
                    return;
                }
                (
                    "the settings files are valid again and say what is in use: nothing changed"
                        .to_string(),
                    "settings_applied",
                )
            }
            Ok(loaded) => {
                let later = read_at_start(
                    &self.inner.started_with,
                    &loaded.0,
                    self.runtime().command_overridden,
                );
                self.apply_settings(loaded.0, loaded.1);
                info!("settings read again: config.json or an expert file changed");
                let mut message = "config.json or an expert file changed and was read again: the new settings are in use from now on".to_string();
                if !later.is_empty() {
                    message.push_str(&format!("; except {}", later.join("; ")));
                }
                (message, "settings_applied")
            }
            Err(e) => {
                warn!(
                    "the settings files changed but are not valid, the ones in use are kept: {e}"
                );
                (
                    format!("the settings files changed but are not valid, so the ones in use are kept: {e}"),
                    crate::pm::SETTINGS_REFUSED,
                )
            }
        };
        self.pm_log_general(self.now(), event, &message);
    }

    /// The settings files as they are on disk, if this owner may use them:
    /// valid (`cortex config check`'s rules) and taking away no expert that
    /// still works. The one rule for a refusal, after an edit or a save.
    fn settings_on_disk(
        &self,
    ) -> Result<(cortex_core::config::Config, cortex_core::config::ExpertSet), crate::EngineError>
    {
        let loaded = self.home().load_settings()?;
        self.experts_still_working(&loaded.1)?;
        Ok(loaded)
    }

    /// An expert whose file went away while its workers run or its tasks
    /// wait to start would leave them with no limits or nowhere to run: such
    /// an edit is refused until they are done.
    fn experts_still_working(
        &self,
        new: &cortex_core::config::ExpertSet,
    ) -> Result<(), crate::EngineError> {
        let gone: Vec<String> = self
            .settings()
            .1
            .iter()
            .map(|p| p.name.clone())
            .filter(|name| new.get(name).is_none())
            .collect();
        let store = self.store();
        let state = store.state();
        for name in gone {
            let live = state
                .workers()
                .filter(|w| w.expert == name && !w.status.is_terminal())
                .count();
            if live > 0 {
                return Err(crate::EngineError::BadValue(format!(
                    "expert {name} is no longer in experts/, and {live} of its workers run{}: keep its file until they end",
                    if live == 1 { "s" } else { "" }
                )));
            }
        }
        Ok(())
    }
}

/// What `new` says that this owner does not follow until it starts again,
/// each with why: where workers run, the loop's period (the PM's own tick
/// follows at once down to 250 ms), the alerts' coalescing window, and an
/// agent command that `CORTEX_AGENT_COMMAND` overrides.
pub(crate) fn read_at_start(
    started: &cortex_core::config::Config,
    new: &cortex_core::config::Config,
    command_overridden: bool,
) -> Vec<&'static str> {
    let mut keys = Vec::new();
    if started.launcher != new.launcher {
        keys.push("launcher, which the owner reads as it starts");
    }
    let period = |ms: u64| ms.clamp(50, 250);
    if period(started.pm.tick_millis) != period(new.pm.tick_millis) {
        keys.push("the owner's loop period from pm.tick_millis below 250 ms, set as it starts");
    }
    if started.notifications.coalesce_window_millis != new.notifications.coalesce_window_millis {
        keys.push("notifications.coalesce_window_millis, which the owner reads as it starts");
    }
    if command_overridden && started.agent.command != new.agent.command {
        keys.push("agent.command, which CORTEX_AGENT_COMMAND overrides");
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

    /// Two of the owner's looks, a second apart in the loop: an edit is
    /// read once it stayed the same for both.
    fn two_looks(engine: &Engine) {
        engine.reload_settings_if_edited();
        engine.reload_settings_if_edited();
    }

    fn events(engine: &Engine) -> Vec<String> {
        engine
            .recent_activity(20)
            .iter()
            .map(|l| l["event"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn new_home() -> (tempfile::TempDir, Home, Engine) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path());
        home.init().unwrap();
        let engine = Engine::open(&home, OwnerKind::Run).unwrap();
        (dir, home, engine)
    }

    #[test]
    fn an_edit_on_disk_is_read_again_and_an_invalid_one_keeps_the_settings_in_use() {
        let (_dir, home, engine) = new_home();
        // Nothing changed: nothing is read or said.
        two_looks(&engine);
        assert!(events(&engine).is_empty());

        // One look sees a file being written: nothing is read yet.
        set_config(
            &home,
            r#"{"capacity": {"max_workers": 7}, "pm": {"tick_millis": 100}}"#,
        );
        engine.reload_settings_if_edited();
        assert_eq!(engine.config().capacity.max_workers, 4);
        engine.reload_settings_if_edited();
        assert_eq!(engine.config().capacity.max_workers, 7);
        let lines = engine.recent_activity(10);
        assert_eq!(events(&engine), ["settings_applied"], "{lines:?}");
        let said = lines[0]["message"].as_str().unwrap();
        assert!(
            said.contains("except the owner's loop period from pm.tick_millis below 250 ms"),
            "{said}"
        );

        // A mistyped key: refused, named, the settings in use kept.
        set_config(&home, r#"{"capacity": {"max_worker": 2}}"#);
        two_looks(&engine);
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
        // Said once, not every second while the file stays as it is; the
        // dashboard's numbers carry it as long as the file is refused.
        two_looks(&engine);
        assert_eq!(events(&engine).len(), 2);
        let refused = engine.overview().settings_refused.expect("refused");
        assert!(refused.contains("capacity.max_worker"), "{refused}");
        // A refusal that quotes a secret of the file shows it hidden.
        set_config(
            &home,
            r#"{"agent": {"env": "GITHUB_TOKEN=ghp_LIVEEDITSECRET0123456789abcdef"}}"#,
        );
        two_looks(&engine);
        let refused = engine.overview().settings_refused.expect("refused");
        assert!(refused.contains("agent.env"), "{refused}");
        assert!(!refused.contains("LIVEEDITSECRET"), "{refused}");
        // Put right to what is in use: said, so the refusal is not the
        // last word.
        set_config(
            &home,
            r#"{"capacity": {"max_workers": 7},  "pm": {"tick_millis": 100}}"#,
        );
        two_looks(&engine);
        assert_eq!(engine.overview().settings_refused, None);
        let lines = engine.recent_activity(10);
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(
            lines[3]["message"]
                .as_str()
                .unwrap()
                .contains("valid again"),
            "{}",
            lines[3]
        );
        engine.close().unwrap();
    }

    #[test]
    fn a_save_from_the_app_is_not_read_back_as_an_edit_and_a_larger_tick_needs_no_restart() {
        let (_dir, home, engine) = new_home();
        set_config(&home, r#"{"capacity": {"max_worker": 2}}"#);
        two_looks(&engine);
        assert!(engine.settings_refused().is_some());
        // The app writes settings it checked: they are in use, and the
        // refused file is gone.
        engine
            .save_config(r#"{"capacity": {"max_workers": 5}}"#)
            .unwrap();
        assert_eq!(engine.settings_refused(), None);
        // A broken expert file stays refused when config.json is saved.
        std::fs::write(home.experts_dir().join("broken.json"), "{").unwrap();
        two_looks(&engine);
        engine
            .save_config(r#"{"capacity": {"max_workers": 6}}"#)
            .unwrap();
        let still = engine.settings_refused().expect("still refused");
        assert!(still.contains("broken.json"), "{still}");
        two_looks(&engine);
        assert_eq!(events(&engine), ["settings_refused", "settings_refused"]);
        // The PM's tick follows the setting at once above the loop's 250 ms.
        assert!(super::read_at_start(
            &engine.inner.started_with,
            &cortex_core::config::Config::parse(r#"{"pm": {"tick_millis": 2000}}"#).unwrap(),
            false
        )
        .is_empty());
        engine.close().unwrap();
    }
}
