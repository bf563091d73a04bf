//! Editing one expert profile (`experts/<name>.json`) from the desktop's
//! Settings page, under the same rules as `cortex config check`.
//!
//! Theory of operation: a candidate profile is parsed and validated on its
//! own (ranges, names, non-empty keywords), then put in place of its
//! namesake among the experts loaded now (or beside them, for a new name)
//! and the whole set is checked again (a task type claimed twice), and
//! `config.json` against that set (a fallback expert that must exist). Only
//! a candidate that passes all of it is written (atomically) and applied to
//! the running engine; a refused one changes nothing, and its error names
//! the file and the key.
//!
//! May depend on: cortex-core's config types, the engine's settings.

/// The file a profile with this name lives in, relative to the home.
pub(crate) fn file_of(name: &str) -> String {
    format!("experts/{name}.json")
}

#[cfg(test)]
mod tests {
    use crate::{Engine, Home, OwnerKind};

    fn engine() -> (tempfile::TempDir, Engine) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        home.init().unwrap();
        let engine = Engine::open(&home, OwnerKind::Cli).unwrap();
        (dir, engine)
    }

    fn profile_of(e: &Engine, name: &str) -> serde_json::Value {
        let p = e
            .expert_profiles()
            .into_iter()
            .find(|p| p.name == name)
            .unwrap();
        serde_json::to_value(p).unwrap()
    }

    #[test]
    fn a_valid_edit_is_saved_applied_and_read_back_by_the_next_load() {
        let (_d, e) = engine();
        let mut p = profile_of(&e, "security");
        p["activation_keywords"] = serde_json::json!(["vulnerability", "pentest"]);
        p["time_limit_secs"] = serde_json::json!(1200);
        let saved = e.save_expert(&p.to_string()).unwrap();
        assert_eq!(saved.time_limit_secs, 1200);
        assert_eq!(profile_of(&e, "security")["time_limit_secs"], 1200);
        let (_, experts) = e.home().load_settings().unwrap();
        assert_eq!(
            experts.get("security").unwrap().activation_keywords,
            vec!["vulnerability", "pentest"]
        );
    }

    #[test]
    fn refusals_name_the_field_and_change_nothing() {
        let (_d, e) = engine();
        let file = e.home().root().join("experts/security.json");
        let before = std::fs::read(&file).unwrap();
        let cases: Vec<(serde_json::Value, &str)> = {
            let base = profile_of(&e, "security");
            let mut empty = base.clone();
            empty["activation_keywords"] = serde_json::json!([]);
            let mut blank = base.clone();
            blank["boosters"] = serde_json::json!(["ok", " "]);
            let mut range = base.clone();
            range["time_limit_secs"] = serde_json::json!(0);
            let mut budget = base.clone();
            budget["cost_budget_usd"] = serde_json::json!(-1.0);
            // Another expert already answers this type: a cross-expert rule.
            let taken = profile_of(&e, "cicd")["task_types"][0].clone();
            let mut claimed = base.clone();
            claimed["task_types"] = serde_json::json!([taken]);
            let mut unknown = base;
            unknown["colour"] = serde_json::json!("blue");
            vec![
                (empty, "activation_keywords"),
                (blank, "boosters[1]"),
                (range, "time_limit_secs"),
                (budget, "cost_budget_usd"),
                (claimed, "task_types"),
                (unknown, ""),
            ]
        };
        for (candidate, key) in cases {
            let err = e.save_expert(&candidate.to_string()).unwrap_err();
            let crate::EngineError::Config(c) = &err else {
                panic!("expected a config error, got {err}");
            };
            assert_eq!(c.file, "experts/security.json", "{err}");
            if !key.is_empty() {
                assert_eq!(c.key.as_deref(), Some(key), "{err}");
            }
        }
        assert_eq!(std::fs::read(&file).unwrap(), before);
    }
}
