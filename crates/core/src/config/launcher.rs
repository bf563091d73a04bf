//! `launcher` in `config.json`: where workers run. `local` (the default)
//! starts them as processes of this machine; `slurm` submits each attempt
//! as a job of a Slurm cluster whose nodes share the coordination home's
//! filesystem; `kubernetes` creates each attempt as a Job of a Kubernetes
//! cluster (`super::kubernetes`).
//!
//! May depend on: the configuration's error type (`super`).

use serde::{Deserialize, Serialize};

use super::kubernetes::KubernetesConfig;
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
    /// Settings for `kind: "kubernetes"`.
    #[serde(default)]
    pub kubernetes: KubernetesConfig,
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
    /// Jobs of a Kubernetes cluster.
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
    /// Submit, cancel and read the queue through slurmrestd instead of the
    /// client commands (`sbatch`, `scancel`, `squeue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rest: Option<SlurmRest>,
}

/// `launcher.slurm.rest`: slurmrestd, authenticated with a JWT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmRest {
    /// slurmrestd's address, `http://host:port` (it serves plain HTTP).
    pub url: String,
    /// The Slurm user requests act as; unset, the user the owner runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// More fields of each job's description (`account`, `memory_per_node`,
    /// `time_limit`...), as slurmrestd's job submission takes them.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub job: serde_json::Map<String, serde_json::Value>,
}

/// The job fields Cortex sets itself through slurmrestd.
const OWN_REST_FIELDS: &[&str] = &[
    "name",
    "comment",
    "standard_output",
    "standard_error",
    "current_working_directory",
    "requeue",
    "environment",
    "partition",
    "script",
];

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
            rest: None,
        }
    }
}

/// The `sbatch` options Cortex sets itself: given again in `sbatch_args`
/// they would change what Cortex relies on (the job's name, output, queue
/// behaviour); and those that break how it follows a job (an array's ids,
/// an `sbatch` that waits for the job's end).
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
    "--array",
    "-a",
    "--wait",
    "-W",
];

/// The option of `OWN_SBATCH_OPTIONS` that `arg` gives, however written:
/// `--job-name=x`, an abbreviation `sbatch` accepts (`--job-nam=x`), or a
/// short option with its value attached (`-Jx`).
fn own_sbatch_option(arg: &str) -> Option<&'static str> {
    match arg.strip_prefix("--") {
        Some(long) => {
            let name = long.split('=').next().unwrap_or_default();
            (!name.is_empty())
                .then(|| {
                    OWN_SBATCH_OPTIONS
                        .iter()
                        .find(|o| o.strip_prefix("--").is_some_and(|o| o.starts_with(name)))
                        .copied()
                })
                .flatten()
        }
        None => {
            let letter = arg.get(..2)?;
            OWN_SBATCH_OPTIONS.iter().find(|o| **o == letter).copied()
        }
    }
}

impl LauncherConfig {
    /// Checks the section; errors name the key and what was expected.
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        if self.kind == LauncherKind::Kubernetes {
            self.kubernetes.validate(file)?;
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
        if let Some(rest) = &s.rest {
            rest.validate(file, !s.sbatch_args.is_empty())?;
        }
        for arg in &s.sbatch_args {
            if !arg.starts_with('-') {
                return Err(ConfigError::new(
                    file,
                    Some("launcher.slurm.sbatch_args"),
                    format!(
                        "{arg:?} is not an option, expected options such as \"--account=agents\""
                    ),
                ));
            }
            if let Some(own) = own_sbatch_option(arg) {
                return Err(ConfigError::new(
                    file,
                    Some("launcher.slurm.sbatch_args"),
                    format!(
                        "{arg:?} gives {own}, which Cortex sets itself or which breaks how it follows its jobs, expected other options"
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl SlurmRest {
    /// `host:port` of `url`.
    pub fn address(&self) -> Option<&str> {
        let rest = self.url.strip_prefix("http://")?;
        let addr = rest.trim_end_matches('/');
        let (host, port) = addr.rsplit_once(':')?;
        (!host.is_empty() && !addr.contains('/') && port.parse::<u16>().is_ok_and(|p| p > 0))
            .then_some(addr)
    }

    fn validate(&self, file: &str, sbatch_args: bool) -> Result<(), ConfigError> {
        if self.address().is_none() {
            return Err(ConfigError::new(
                file,
                Some("launcher.slurm.rest.url"),
                format!(
                    "{:?} is not slurmrestd's address, expected \"http://host:port\" (slurmrestd serves plain HTTP)",
                    self.url
                ),
            ));
        }
        if self.user.as_deref().is_some_and(|u| u.trim().is_empty()) {
            return Err(ConfigError::new(
                file,
                Some("launcher.slurm.rest.user"),
                "is empty, expected a Slurm user's name or no key",
            ));
        }
        if let Some(own) = self
            .job
            .keys()
            .find(|k| OWN_REST_FIELDS.contains(&k.as_str()))
        {
            return Err(ConfigError::new(
                file,
                Some("launcher.slurm.rest.job"),
                format!("{own} is set by Cortex itself (the partition by launcher.slurm.partition), expected other job fields"),
            ));
        }
        if sbatch_args {
            return Err(ConfigError::new(
                file,
                Some("launcher.slurm.sbatch_args"),
                "are options of sbatch, which is not used with launcher.slurm.rest; expected the same settings as job fields in launcher.slurm.rest.job",
            ));
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
        assert!(e.to_string().contains("launcher.kubernetes.image"), "{e}");
        let e = parse(r#"{"slurm": {"sbatch_args": ["--job-name=x"]}}"#)
            .validate("config.json")
            .unwrap_err();
        assert!(e.to_string().contains("launcher.slurm.sbatch_args"), "{e}");
        // However written: attached, abbreviated, or an option that breaks
        // how Cortex follows its jobs.
        for arg in [
            "-Jsneaky",
            "--job-nam=sneaky2",
            "--out=x",
            "--array=1-3",
            "-a1-3",
            "--wait",
        ] {
            let json = serde_json::json!({"slurm": {"sbatch_args": [arg]}}).to_string();
            let e = parse(&json).validate("config.json").unwrap_err();
            assert!(
                e.to_string().contains("which Cortex sets itself"),
                "{arg}: {e}"
            );
        }
        for fine in [
            "--account=agents",
            "--begin=now+60",
            "--export=NONE",
            "-pdebug",
            "--time=10",
        ] {
            let json = serde_json::json!({"slurm": {"sbatch_args": [fine]}}).to_string();
            assert!(parse(&json).validate("config.json").is_ok(), "{fine}");
        }
        let e = parse(r#"{"slurm": {"sbatch_args": ["rm -rf /"]}}"#)
            .validate("config.json")
            .unwrap_err();
        assert!(e.to_string().contains("not an option"), "{e}");
        assert!(
            serde_json::from_str::<LauncherConfig>(r#"{"slurm": {"partitoin": "x"}}"#).is_err()
        );
    }

    #[test]
    fn slurmrestd_is_named_by_an_http_address_and_leaves_cortexs_own_fields_alone() {
        let ok = parse(
            r#"{"kind": "slurm", "slurm": {"rest": {"url": "http://127.0.0.1:6820", "job": {"account": "ml"}}}}"#,
        );
        assert!(ok.validate("config.json").is_ok());
        assert_eq!(
            ok.slurm.rest.as_ref().unwrap().address(),
            Some("127.0.0.1:6820")
        );
        for (json, key, words) in [
            (
                r#"{"url": "https://c:6820"}"#,
                "launcher.slurm.rest.url",
                "http://host:port",
            ),
            (
                r#"{"url": "http://c"}"#,
                "launcher.slurm.rest.url",
                "http://host:port",
            ),
            (
                r#"{"url": "http://c:6820/x"}"#,
                "launcher.slurm.rest.url",
                "http://host:port",
            ),
            (
                r#"{"url": "http://c:1", "user": " "}"#,
                "launcher.slurm.rest.user",
                "is empty",
            ),
            (
                r#"{"url": "http://c:1", "job": {"name": "x"}}"#,
                "launcher.slurm.rest.job",
                "name is set by Cortex",
            ),
        ] {
            let c = parse(&format!(
                r#"{{"kind": "slurm", "slurm": {{"rest": {json}}}}}"#
            ));
            let e = c.validate("config.json").unwrap_err().to_string();
            assert!(e.contains(key) && e.contains(words), "{json}: {e}");
        }
        let both =
            parse(r#"{"slurm": {"sbatch_args": ["--mem=4G"], "rest": {"url": "http://c:1"}}}"#);
        let e = both.validate("config.json").unwrap_err().to_string();
        assert!(
            e.contains("launcher.slurm.sbatch_args") && e.contains("rest.job"),
            "{e}"
        );
        assert!(serde_json::from_str::<LauncherConfig>(
            r#"{"slurm": {"rest": {"url": "http://c:1", "token": "x"}}}"#
        )
        .is_err());
    }
}
