//! The set of expert profiles the home holds: loaded and checked together
//! (unique names, task types claimed once), looked up by name or task type.
//!
//! May depend on: the configuration types (`super`).

use super::*;

/// The loaded experts, in name order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpertSet {
    experts: BTreeMap<String, ExpertProfile>,
}

impl ExpertSet {
    /// Builds the set from parsed profiles; `(file, profile)` pairs so a
    /// duplicate name or type can be reported against its file.
    pub fn new(profiles: Vec<(String, ExpertProfile)>) -> Result<Self, ConfigError> {
        let mut experts = BTreeMap::new();
        let mut type_owner: BTreeMap<String, String> = BTreeMap::new();
        for (file, p) in profiles {
            let expected_file = format!("experts/{}.json", p.name);
            if file != expected_file {
                return Err(ConfigError::new(
                    &file,
                    Some("name"),
                    format!(
                        "`{}` does not match the file name, expected the file {expected_file}",
                        p.name
                    ),
                ));
            }
            for t in &p.task_types {
                let t = t.to_ascii_lowercase();
                if let Some(other) = type_owner.insert(t.clone(), p.name.clone()) {
                    return Err(ConfigError::new(
                        &file,
                        Some("task_types"),
                        format!("type `{t}` is already claimed by expert `{other}`, expected each type in one expert"),
                    ));
                }
            }
            experts.insert(p.name.clone(), p);
        }
        if experts.is_empty() {
            return Err(ConfigError::new(
                "experts/",
                None,
                "no expert files found, expected at least one",
            ));
        }
        Ok(Self { experts })
    }

    /// The profile of the expert named `name`.
    pub fn get(&self, name: &str) -> Option<&ExpertProfile> {
        self.experts.get(name)
    }

    /// The experts' names, in name order.
    pub fn names(&self) -> Vec<String> {
        self.experts.keys().cloned().collect()
    }

    /// The profiles, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &ExpertProfile> {
        self.experts.values()
    }

    /// Every declared task type, lowercase.
    pub fn task_types(&self) -> BTreeSet<String> {
        self.experts
            .values()
            .flat_map(|e| e.task_types.iter().map(|t| t.to_ascii_lowercase()))
            .collect()
    }

    /// The expert that owns an explicit task type.
    pub fn expert_for_type(&self, task_type: &str) -> Option<&ExpertProfile> {
        self.experts.values().find(|e| {
            e.task_types
                .iter()
                .any(|t| t.eq_ignore_ascii_case(task_type))
        })
    }
}
