//! Validation of `config.json` and of each expert profile: ranges of every
//! number (`CONFIG_RANGES`, `EXPERT_RANGES`), and what must hold between
//! values; every error names the file, the key and what was expected.
//!
//! May depend on: the configuration types (`super`).

use super::*;

fn check_unit(file: &str, key: &str, v: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(ConfigError::new(
            file,
            Some(key),
            format!("{v} is out of range, expected a number from 0 to 1"),
        ))
    }
}

/// Refuses a whole number outside `lo..=hi`, naming the range.
fn check_range(file: &str, key: &str, v: u64, lo: u64, hi: u64) -> Result<(), ConfigError> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(ConfigError::new(
            file,
            Some(key),
            format!("{v} is out of range, expected a whole number from {lo} to {hi}"),
        ))
    }
}

/// One day and one week, in seconds: the longest sensible durations.
const DAY: u64 = 86_400;
const WEEK: u64 = 7 * DAY;

/// The range of every whole-number key of `config.json` (documented in
/// the README's configuration table). With these, no sum, product or
/// conversion of a configured value can leave its type or `chrono`'s range.
pub const CONFIG_RANGES: &[(&str, u64, u64)] = &[
    ("capacity.max_workers", 1, 10_000),
    ("routing.learning.min_examples", 0, 1_000_000),
    ("pm.startup_budget_secs", 1, DAY),
    ("pm.late_after_secs", 1, WEEK),
    ("pm.stalled_after_secs", 1, WEEK),
    ("pm.zombie_after_secs", 1, WEEK),
    ("pm.tick_millis", 50, 5000),
    ("pm.kill_grace_secs", 0, 3600),
    ("pm.max_nudges", 0, 10),
    ("verify.timeout_secs", 1, DAY),
    ("verify.max_rounds", 0, 100),
    ("restart.backoff_base_secs", 0, DAY),
    ("restart.backoff_max_secs", 0, DAY),
    ("restart.circuit_failures", 0, 1000),
    ("restart.circuit_window_secs", 1, WEEK),
    ("notifications.coalesce_window_millis", 0, 60_000),
    ("launcher.slurm.sample_secs", 1, 60),
    ("launcher.slurm.queue_poll_secs", 1, 60),
    ("launcher.kubernetes.sample_secs", 1, 60),
    ("launcher.kubernetes.poll_secs", 1, 60),
];

/// The same for an expert file's keys.
pub const EXPERT_RANGES: &[(&str, u64, u64)] = &[
    ("max_workers", 1, 10_000),
    ("time_limit_secs", 1, WEEK),
    ("max_restarts", 0, 100),
    ("max_extensions", 0, 100),
    ("extension_secs", 0, DAY),
    ("token_budget", 1, 1_000_000_000_000),
];

/// Checks `values` (key, value) against `ranges`, in the ranges' order.
fn check_ranges(
    out: &mut Vec<ConfigError>,
    file: &str,
    ranges: &[(&str, u64, u64)],
    values: &[(&str, u64)],
) {
    for (key, lo, hi) in ranges {
        if let Some((_, v)) = values.iter().find(|(k, _)| k == key) {
            out.extend(check_range(file, key, *v, *lo, *hi).err());
        }
    }
}

impl Config {
    /// Parses and validates `config.json`: every problem, the first
    /// carrying the others (`ConfigError::also`).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        match Self::parse_all(text) {
            (Some(cfg), problems) if problems.is_empty() => Ok(cfg),
            (_, problems) => Err(ConfigError::all(problems)
                .unwrap_or_else(|| ConfigError::new("config.json", None, "not a configuration"))),
        }
    }

    /// Every problem of `config.json`, and the settings read around them
    /// (a key with a problem left at its default), when the file is JSON
    /// at all: `cortex config check` reports them all, and the rules that
    /// span files still run.
    pub fn parse_all(text: &str) -> (Option<Self>, Vec<ConfigError>) {
        let (cfg, mut problems) = parse_around::<Config>("config.json", text);
        if let Some(c) = &cfg {
            if problems.is_empty() {
                problems.extend(c.problems());
            } else {
                // Read around a key: a rule between keys could compare
                // what the file says with a default.
                let more = super::strict::without_stood_in(&problems, c.key_problems());
                problems.extend(more);
            }
        }
        (cfg, problems)
    }

    /// Rules that a type cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        ConfigError::all(self.problems()).map_or(Ok(()), Err)
    }

    /// Every rule a type cannot express that these settings break.
    pub fn problems(&self) -> Vec<ConfigError> {
        let mut out = self.key_problems();
        out.extend(self.between_keys_problems());
        out
    }

    /// The rules that compare keys with each other: not checked on
    /// settings read around a key with a problem, whose default would stand
    /// in for what the file says.
    fn between_keys_problems(&self) -> Vec<ConfigError> {
        let f = "config.json";
        let mut out = Vec::new();
        let (r, pm) = (&self.routing, &self.pm);
        if !(r.min_activation <= r.multi_threshold && r.multi_threshold <= r.single_threshold) {
            out.push(ConfigError::new(
                f,
                Some("routing"),
                "expected min_activation <= multi_threshold <= single_threshold",
            ));
        }
        if !(pm.late_after_secs <= pm.stalled_after_secs
            && pm.stalled_after_secs <= pm.zombie_after_secs)
        {
            out.push(ConfigError::new(
                f,
                Some("pm"),
                "expected late_after_secs <= stalled_after_secs <= zombie_after_secs",
            ));
        }
        if self.restart.backoff_base_secs > self.restart.backoff_max_secs {
            out.push(ConfigError::new(
                f,
                Some("restart.backoff_base_secs"),
                "expected a value no larger than restart.backoff_max_secs",
            ));
        }
        out
    }

    /// The rules each about one key.
    fn key_problems(&self) -> Vec<ConfigError> {
        let f = "config.json";
        let mut out = Vec::new();
        if self.schema_version > SCHEMA_VERSION {
            out.push(ConfigError::new(
                f,
                Some("schema_version"),
                format!(
                    "{} is newer than this build understands ({SCHEMA_VERSION})",
                    self.schema_version
                ),
            ));
        }
        let (pm, restart) = (&self.pm, &self.restart);
        check_ranges(
            &mut out,
            f,
            CONFIG_RANGES,
            &[
                ("capacity.max_workers", u64::from(self.capacity.max_workers)),
                (
                    "routing.learning.min_examples",
                    u64::from(self.routing.learning.min_examples),
                ),
                ("pm.startup_budget_secs", pm.startup_budget_secs),
                ("pm.late_after_secs", pm.late_after_secs),
                ("pm.stalled_after_secs", pm.stalled_after_secs),
                ("pm.zombie_after_secs", pm.zombie_after_secs),
                ("pm.tick_millis", pm.tick_millis),
                ("pm.kill_grace_secs", pm.kill_grace_secs),
                ("pm.max_nudges", u64::from(pm.max_nudges)),
                ("verify.timeout_secs", self.verify.timeout_secs),
                ("verify.max_rounds", u64::from(self.verify.max_rounds)),
                ("restart.backoff_base_secs", restart.backoff_base_secs),
                ("restart.backoff_max_secs", restart.backoff_max_secs),
                (
                    "restart.circuit_failures",
                    u64::from(restart.circuit_failures),
                ),
                ("restart.circuit_window_secs", restart.circuit_window_secs),
                (
                    "notifications.coalesce_window_millis",
                    self.notifications.coalesce_window_millis,
                ),
                (
                    "launcher.slurm.sample_secs",
                    self.launcher.slurm.sample_secs,
                ),
                (
                    "launcher.slurm.queue_poll_secs",
                    self.launcher.slurm.queue_poll_secs,
                ),
                (
                    "launcher.kubernetes.sample_secs",
                    self.launcher.kubernetes.sample_secs,
                ),
                (
                    "launcher.kubernetes.poll_secs",
                    self.launcher.kubernetes.poll_secs,
                ),
            ],
        );
        out.extend(self.launcher.validate(f).err());
        let r = &self.routing;
        for (key, v) in [
            ("routing.single_threshold", r.single_threshold),
            ("routing.multi_threshold", r.multi_threshold),
            ("routing.min_activation", r.min_activation),
            ("routing.learning.weight", r.learning.weight),
        ] {
            out.extend(check_unit(f, key, v).err());
        }
        for (model, p) in &self.pricing {
            for (name, v) in [
                ("input_per_mtok", p.input_per_mtok),
                ("output_per_mtok", p.output_per_mtok),
                ("cache_read_per_mtok", p.cache_read_per_mtok),
                ("cache_write_per_mtok", p.cache_write_per_mtok),
            ] {
                if !(v.is_finite() && (0.0..=10_000.0).contains(&v)) {
                    out.push(ConfigError::new(
                        f,
                        Some(&format!("pricing.{model}.{name}")),
                        format!("{v} is out of range, expected 0 to 10000 (US dollars per million tokens)"),
                    ));
                }
            }
        }
        if self.agent.command.is_empty() || self.agent.command[0].trim().is_empty() {
            out.push(ConfigError::new(
                f,
                Some("agent.command"),
                "expected a non-empty argv array such as [\"claude\"]",
            ));
        }
        if self.agent.driver == Driver::Generic
            && !self
                .agent
                .args_template
                .iter()
                .any(|a| a.contains("{prompt}") || a.contains("{prompt_file}"))
        {
            out.push(ConfigError::new(
                f,
                Some("agent.args_template"),
                "the generic driver needs an argument containing {prompt} or {prompt_file}",
            ));
        }
        if !(pm.busy_cpu_percent > 0.0 && pm.busy_cpu_percent <= 100.0) {
            out.push(ConfigError::new(
                f,
                Some("pm.busy_cpu_percent"),
                format!(
                    "{} is out of range, expected a number above 0 and at most 100",
                    pm.busy_cpu_percent
                ),
            ));
        }
        if self
            .editor
            .command
            .first()
            .is_some_and(|p| p.trim().is_empty())
        {
            out.push(ConfigError::new(
                f,
                Some("editor.command"),
                "expected the editor's program first, e.g. [\"code\"]",
            ));
        }
        if let Some(author) = &self.merge.author {
            if parse_author(author).is_none() {
                out.push(ConfigError::new(
                    f,
                    Some("merge.author"),
                    format!("{author:?} is not of the form `Name <email@example.com>`"),
                ));
            }
        }
        out
    }

    /// Cross-file rules: the fallback expert must exist.
    pub fn validate_against(&self, experts: &ExpertSet) -> Result<(), ConfigError> {
        if experts.get(&self.routing.fallback_expert).is_none() {
            return Err(ConfigError::new(
                "config.json",
                Some("routing.fallback_expert"),
                format!(
                    "`{}` is not an expert, expected one of: {}",
                    self.routing.fallback_expert,
                    experts.names().join(", ")
                ),
            ));
        }
        Ok(())
    }
}

impl ExpertProfile {
    /// Parses and validates one expert file; `file` is its name for errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigError> {
        let (profile, mut problems) = parse_around::<ExpertProfile>(file, text);
        if let Some(p) = &profile {
            let more = super::strict::without_stood_in(&problems, p.problems(file));
            problems.extend(more);
        }
        match (profile, ConfigError::all(problems)) {
            (Some(p), None) => Ok(p),
            (_, Some(e)) => Err(e),
            (None, None) => Err(ConfigError::new(file, None, "not an expert profile")),
        }
    }

    /// Every rule this profile breaks, in the order of its fields (an
    /// editor shows them all at once, each at its field).
    pub fn problems(&self, file: &str) -> Vec<ConfigError> {
        let mut out = Vec::new();
        let name_ok = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            out.push(ConfigError::new(
                file,
                Some("name"),
                format!(
                    "`{}` is not a valid expert name, expected lowercase letters, digits, - or _",
                    self.name
                ),
            ));
        }
        // Said with the profile's other problems, not only once they are fixed.
        let stem = file
            .strip_prefix("experts/")
            .and_then(|f| f.strip_suffix(".json"));
        if stem.is_some_and(|stem| name_ok && stem != self.name) {
            out.push(ConfigError::new(
                file,
                Some("name"),
                format!(
                    "`{}` does not match the file name, expected the file experts/{}.json",
                    self.name, self.name
                ),
            ));
        }
        if self.activation_keywords.is_empty() {
            out.push(ConfigError::new(
                file,
                Some("activation_keywords"),
                "expected at least one keyword",
            ));
        }
        for (key, list) in [
            ("activation_keywords", &self.activation_keywords),
            ("boosters", &self.boosters),
            ("negatives", &self.negatives),
            ("task_types", &self.task_types),
        ] {
            if let Some(i) = list.iter().position(|k| k.trim().is_empty()) {
                out.push(ConfigError::new(
                    file,
                    Some(&format!("{key}[{i}]")),
                    "expected a non-empty word or phrase",
                ));
            }
        }
        let mut values = vec![
            ("max_workers", u64::from(self.max_workers)),
            ("time_limit_secs", self.time_limit_secs),
            ("max_restarts", u64::from(self.max_restarts)),
            ("max_extensions", u64::from(self.max_extensions)),
            ("extension_secs", self.extension_secs),
        ];
        if let Some(t) = self.token_budget {
            values.push(("token_budget", t));
        }
        check_ranges(&mut out, file, EXPERT_RANGES, &values);
        // The preamble goes to the agent as one argument, and the system
        // refuses one longer than 128 KiB: every worker would fail to start.
        if self.preamble.len() > MAX_PREAMBLE_BYTES {
            out.push(ConfigError::new(
                file,
                Some("preamble"),
                format!(
                    "{} bytes, expected at most {MAX_PREAMBLE_BYTES} (it is passed to the agent as one argument)",
                    self.preamble.len()
                ),
            ));
        }
        if let Some(c) = self.cost_budget_usd {
            if !(c > 0.0 && c.is_finite()) {
                out.push(ConfigError::new(
                    file,
                    Some("cost_budget_usd"),
                    "expected a positive number",
                ));
            }
        }
        out
    }
}

/// The longest preamble an expert may have, in bytes: it is one argument
/// of the agent's command, and Linux takes none over 128 KiB.
const MAX_PREAMBLE_BYTES: usize = 100_000;
