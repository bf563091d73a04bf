//! `launcher` in `config.json`: where workers run. `local` (the default)
//! starts them as processes of this machine; `slurm` submits each attempt
//! as a job of a Slurm cluster whose nodes share the coordination home's
//! filesystem. `kubernetes` is named so that a configuration asking for it
//! gets a clear refusal rather than a silent local run.
//!
//! May depend on: the configuration's error type (`super`).

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Where workers run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LauncherConfig {
    /// Which engine runs the workers.
    #[serde(default)]
    pub kind: LauncherKind,
    /// Settings for `kind: "slurm"`.
    #[serde(default)]
    pub slurm: SlurmConfig,
}

/// The engines workers can run on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LauncherKind {
    /// Processes of this machine.
    #[default]
    Local,
    /// Jobs of a Slurm cluster.
    Slurm,
    /// Jobs of a Kubernetes cluster (not available in this version).
    Kubernetes,
}

impl LauncherKind {
    /// The kind as written in `config.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            LauncherKind::Local => "local",
            LauncherKind::Slurm => "slurm",
            LauncherKind::Kubernetes => "kubernetes",
        }
    }
}

/// `launcher.slurm`: how attempts become Slurm jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmConfig {
    /// The partition jobs are submitted to; unset, the cluster's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// The `slurm.conf` the client commands (`sbatch`, `squeue`, `scancel`)
    /// read; unset, `SLURM_CONF` from the environment or the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conf: Option<String>,
    /// More arguments for `sbatch`, each one argument as written (no shell),
    /// for example `["--account=agents", "--mem=4G"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sbatch_args: Vec<String>,
    /// How often the shim around each agent reports its CPU time, seconds.
    #[serde(default = "d_sample_secs")]
    pub sample_secs: u64,
    /// How often the cluster's queue is asked which jobs still exist,
    /// seconds (a job's own end arrives through its output at once).
    #[serde(default = "d_queue_poll_secs")]
    pub queue_poll_secs: u64,
}

fn d_sample_secs() -> u64 {
    2
}
fn d_queue_poll_secs() -> u64 {
    2
}

impl Default for SlurmConfig {
    fn default() -> Self {
        Self {
            partition: None,
            conf: None,
            sbatch_args: Vec::new(),
            sample_secs: d_sample_secs(),
            queue_poll_secs: d_queue_poll_secs(),
        }
    }
}

/// The `sbatch` options Cortex sets itself: given again in `sbatch_args`
/// they would change what Cortex relies on (the job's name, output, queue
/// behaviour).
const OWN_SBATCH_OPTIONS: &[&str] = &[
    "--job-name",
    "-J",
    "--output",
    "-o",
    "--error",
    "-e",
    "--requeue",
    "--no-requeue",
    "--comment",
    "--chdir",
    "-D",
    "--wrap",
    "--parsable",
];

impl LauncherConfig {
    /// Checks the section; errors name the key and what was expected.
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        if self.kind == LauncherKind::Kubernetes {
            return Err(ConfigError::new(
                file,
                Some("launcher.kind"),
                "\"kubernetes\" is not available in this version of Cortex, expected \"local\" or \"slurm\"",
            ));
        }
        // Its numbers are checked with every other one (`CONFIG_RANGES`).
        let s = &self.slurm;
        if s.partition.as_deref().is_some_and(|p| p.trim().is_empty()) {
            return Err(ConfigError::new(
                file,
                Some("launcher.slurm.partition"),
                "is empty, expected a partition's name or no key",
            ));
        }
        for arg in &s.sbatch_args {
            let name = arg.split('=').next().unwrap_or_default();
            if !arg.starts_with('-') {
                return Err(ConfigError::new(
                    file,
                    Some("launcher.slurm.sbatch_args"),
                    format!(
                        "{arg:?} is not an option, expected options such as \"--account=agents\""
                    ),
                ));
            }
            if OWN_SBATCH_OPTIONS.contains(&name) {
                return Err(ConfigError::new(
                    file,
                    Some("launcher.slurm.sbatch_args"),
                    format!("{name} is set by Cortex itself, expected other options"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> LauncherConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn local_is_the_default_and_slurm_has_defaults() {
        let c = parse("{}");
        assert_eq!(c.kind, LauncherKind::Local);
        assert_eq!(c.slurm.sample_secs, 2);
        assert!(c.validate("config.json").is_ok());
        let s = parse(r#"{"kind": "slurm", "slurm": {"partition": "agents"}}"#);
        assert_eq!(s.kind, LauncherKind::Slurm);
        assert!(s.validate("config.json").is_ok());
    }

    #[test]
    fn bad_sections_are_refused_with_the_key_named() {
        let e = parse(r#"{"kind": "kubernetes"}"#)
            .validate("config.json")
            .unwrap_err();
        assert!(e.to_string().contains("launcher.kind"), "{e}");
        assert!(e.to_string().contains("not available"), "{e}");
        let e = parse(r#"{"slurm": {"sbatch_args": ["--job-name=x"]}}"#)
            .validate("config.json")
            .unwrap_err();
        assert!(e.to_string().contains("launcher.slurm.sbatch_args"), "{e}");
        let e = parse(r#"{"slurm": {"sbatch_args": ["rm -rf /"]}}"#)
            .validate("config.json")
            .unwrap_err();
        assert!(e.to_string().contains("not an option"), "{e}");
        assert!(
            serde_json::from_str::<LauncherConfig>(r#"{"slurm": {"partitoin": "x"}}"#).is_err()
        );
    }
}
