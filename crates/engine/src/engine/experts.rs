//! Editing expert profiles through the engine.
//!
//! May depend on: `crate::expert_edit` (validation and the file write).

use crate::engine::Engine;
use crate::error::EngineError;
use crate::expert_edit::file_of;
use cortex_core::config::{ExpertProfile, ExpertSet};

impl Engine {
    /// Every expert profile as loaded now, in name order.
    pub fn expert_profiles(&self) -> Vec<ExpertProfile> {
        self.settings().1.iter().cloned().collect()
    }

    /// Checks a profile (JSON text) as `config check` would with it in
    /// place: on its own, among the other experts, and against the config.
    pub fn check_expert(&self, text: &str) -> Result<(ExpertProfile, ExpertSet), EngineError> {
        let name = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_string))
            .unwrap_or_default();
        let file = file_of(&name);
        let profile = ExpertProfile::parse(&file, text)?;
        let (config, current) = {
            let s = self.settings();
            (s.0.clone(), s.1.clone())
        };
        let mut profiles: Vec<(String, ExpertProfile)> = current
            .iter()
            .filter(|p| p.name != profile.name)
            .map(|p| (file_of(&p.name), p.clone()))
            .collect();
        profiles.push((file.clone(), profile.clone()));
        let set = ExpertSet::new(profiles)?;
        config.validate_against(&set)?;
        Ok((profile, set))
    }

    /// Checks and saves a profile, then applies it: the router and the
    /// limits of workers started from now on use it.
    pub fn save_expert(&self, text: &str) -> Result<ExpertProfile, EngineError> {
        let _writing = self.settings_writing();
        let (profile, set) = self.check_expert(text)?;
        let pretty = serde_json::to_vec_pretty(&profile)
            .map_err(|e| EngineError::encode("an expert profile", &e))?;
        let path = self.home().root().join(file_of(&profile.name));
        crate::snapshot::write_atomic(&path, &pretty)?;
        let config = self.settings().0.clone();
        self.apply_settings(config, set);
        self.settings_saved();
        tracing::info!(expert = %profile.name, "expert profile saved");
        Ok(profile)
    }
}
