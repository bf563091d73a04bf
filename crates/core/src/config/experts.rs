//! Expert profiles: one profile (`experts/<name>.json`) with its defaults,
//! and the set of profiles the home holds: loaded and checked together
//! (unique names, task types claimed once), looked up by name or task type.
//!
//! May depend on: the configuration types (`super`).

use super::*;

/// One expert profile (`experts/<name>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpertProfile {
    /// The schema version the file was written for.
    #[serde(default = "schema_version")]
    pub schema_version: u32,
    /// The expert's name; it must match the file name.
    pub name: String,
    /// What the expert does, for a person.
    #[serde(default)]
    pub description: String,
    /// Words and phrases that activate the expert: +25 each.
    pub activation_keywords: Vec<String>,
    /// Supporting words: +12 each.
    #[serde(default)]
    pub boosters: Vec<String>,
    /// Words that argue against the expert: -30 each.
    #[serde(default)]
    pub negatives: Vec<String>,
    /// Explicit task types that go straight to this expert.
    pub task_types: Vec<String>,
    /// Appended to the agent's system prompt.
    pub preamble: String,
    /// Workers of this expert running at once.
    #[serde(default = "d_expert_workers")]
    pub max_workers: u32,
    /// Time limit of a worker, in seconds from its first attempt.
    #[serde(default = "d_time_limit")]
    pub time_limit_secs: u64,
    /// Restarts of a worker before it fails for good.
    #[serde(default = "d_restarts")]
    pub max_restarts: u32,
    /// Extensions of the time limit a worker may get.
    #[serde(default = "d_extensions")]
    pub max_extensions: u32,
    /// Seconds each extension adds.
    #[serde(default = "d_extension_secs")]
    pub extension_secs: u64,
    /// Tokens a worker may use: an alert at 80%, a stop at 100%.
    #[serde(default)]
    pub token_budget: Option<u64>,
    /// US dollars a worker may spend: an alert at 80%, a stop at 100%.
    #[serde(default)]
    pub cost_budget_usd: Option<f64>,
    /// The agent's tool permissions.
    #[serde(default)]
    pub permissions: Permissions,
    /// The model passed to the agent, when set.
    #[serde(default)]
    pub model: Option<String>,
    /// A check of this expert's work, run by `sh -c` in the workdir after
    /// an attempt succeeds (a task's own `--verify` wins over it).
    #[serde(default)]
    pub verify: Option<String>,
}
fn d_expert_workers() -> u32 {
    2
}
fn d_time_limit() -> u64 {
    3600
}
fn d_restarts() -> u32 {
    2
}
fn d_extensions() -> u32 {
    1
}
fn d_extension_secs() -> u64 {
    900
}

/// The agent's tool permissions for an expert's workers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// Passed as `--allowedTools`.
    #[serde(default)]
    pub allowed_tools: Vec<String>,
    /// Passed as `--permission-mode` when set.
    #[serde(default)]
    pub permission_mode: Option<String>,
}

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
                    // Either file may be the one a person just edited: both named.
                    return Err(ConfigError::new(
                        &file,
                        Some("task_types"),
                        format!("type `{t}` is also claimed by expert `{other}` (experts/{other}.json), expected each type in one expert"),
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
