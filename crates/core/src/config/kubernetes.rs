//! `launcher.kubernetes` in `config.json`: how attempts become Jobs of a
//! Kubernetes cluster. The cluster is the one the kubeconfig names
//! (`KUBECONFIG`, `~/.kube/config`, or the pod's own service account when
//! Cortex itself runs in the cluster).
//!
//! May depend on: the configuration's error type (`super`).

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `launcher.kubernetes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    /// The kubeconfig file; unset, `KUBECONFIG` or `~/.kube/config` (or
    /// the pod's service account when Cortex runs in the cluster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
    /// The kubeconfig context; unset, the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The namespace Jobs are created in; unset, the context's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The container image: it must hold the agent and `cortex`.
    #[serde(default)]
    pub image: String,
    /// `cortex` inside the image (it runs `agent-shim`).
    #[serde(default = "d_program")]
    pub program: String,
    /// The Secret holding the model API key, mounted as a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<SecretKey>,
    /// Where the agent works inside the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<PodWorkdir>,
    /// The service account pods run as; unset, the namespace's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// How often the shim around each agent reports its CPU time, seconds.
    #[serde(default = "d_sample_secs")]
    pub sample_secs: u64,
    /// How often this home's Jobs and pods are listed, seconds (an agent's
    /// end arrives through its log at once).
    #[serde(default = "d_poll_secs")]
    pub poll_secs: u64,
}

/// A key of a Secret, handed to the agent as an environment variable read
/// from the mounted file inside the pod (never in the Job's description).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretKey {
    /// The Secret's name.
    pub secret: String,
    /// The key within it.
    #[serde(default = "d_secret_key")]
    pub key: String,
    /// The variable the agent reads it from.
    #[serde(default = "d_secret_env")]
    pub env: String,
}

/// The agent's working folder in the pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PodWorkdir {
    /// A PersistentVolumeClaim, mounted as the workdir.
    Claim {
        /// The claim's name.
        name: String,
        /// A folder inside the volume; unset, its root.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sub_path: Option<String>,
    },
    /// A clone of the task's repository at the commit its workdir is on.
    Clone {
        /// The remote of the task's workdir the pod clones from.
        #[serde(default = "d_remote")]
        remote: String,
    },
}

fn d_program() -> String {
    "cortex".into()
}
fn d_sample_secs() -> u64 {
    2
}
fn d_poll_secs() -> u64 {
    2
}
fn d_secret_key() -> String {
    "api-key".into()
}
fn d_secret_env() -> String {
    "ANTHROPIC_API_KEY".into()
}
fn d_remote() -> String {
    "origin".into()
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        Self {
            kubeconfig: None,
            context: None,
            namespace: None,
            image: String::new(),
            program: d_program(),
            api_key: None,
            workdir: None,
            service_account: None,
            sample_secs: d_sample_secs(),
            poll_secs: d_poll_secs(),
        }
    }
}

/// True for a name Kubernetes accepts for an object (RFC 1123 label).
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// True for a name Kubernetes accepts for a Secret or claim (RFC 1123
/// subdomain).
fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

impl KubernetesConfig {
    /// Checks the section (when `launcher.kind` is `kubernetes`); errors
    /// name the key and what was expected.
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let err = |key: &str, message: String| {
            Err(ConfigError::new(
                file,
                Some(&format!("launcher.kubernetes.{key}")),
                message,
            ))
        };
        if self.image.trim().is_empty() {
            return err(
                "image",
                "is missing, expected the container image that holds the agent and cortex".into(),
            );
        }
        if self
            .kubeconfig
            .as_deref()
            .is_some_and(|p| !p.starts_with('/'))
        {
            return err(
                "kubeconfig",
                "expected an absolute path to a kubeconfig file".into(),
            );
        }
        if self.program.trim().is_empty() {
            return err(
                "program",
                "is empty, expected cortex's path in the image".into(),
            );
        }
        if let Some(ns) = &self.namespace {
            if !is_dns_label(ns) {
                return err(
                    "namespace",
                    format!("{ns:?} is not a namespace's name, expected lowercase letters, digits and '-'"),
                );
            }
        }
        if let Some(sa) = &self.service_account {
            if !is_dns_subdomain(sa) {
                return err(
                    "service_account",
                    format!("{sa:?} is not a service account's name"),
                );
            }
        }
        if let Some(k) = &self.api_key {
            if !is_dns_subdomain(&k.secret) {
                return err(
                    "api_key.secret",
                    format!("{:?} is not a Secret's name", k.secret),
                );
            }
            let key_ok = !k.key.is_empty()
                && k.key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !key_ok {
                return err(
                    "api_key.key",
                    format!(
                        "{:?} is not a key of a Secret, expected letters, digits, '-', '_' or '.'",
                        k.key
                    ),
                );
            }
            let env_ok = !k.env.is_empty()
                && !k.env.starts_with(|c: char| c.is_ascii_digit())
                && k.env
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !env_ok {
                return err(
                    "api_key.env",
                    format!("{:?} is not an environment variable's name", k.env),
                );
            }
        }
        match &self.workdir {
            None => {
                return err(
                    "workdir",
                    "is missing, expected {\"claim\": {\"name\": \"<PersistentVolumeClaim>\"}} or {\"clone\": {\"remote\": \"origin\"}}".into(),
                )
            }
            Some(PodWorkdir::Claim { name, sub_path }) => {
                if !is_dns_subdomain(name) {
                    return err(
                        "workdir.claim.name",
                        format!("{name:?} is not a PersistentVolumeClaim's name"),
                    );
                }
                if sub_path
                    .as_deref()
                    .is_some_and(|p| p.starts_with('/') || p.split('/').any(|c| c == ".."))
                {
                    return err(
                        "workdir.claim.sub_path",
                        "expected a relative folder inside the volume, without \"..\"".into(),
                    );
                }
            }
            Some(PodWorkdir::Clone { remote }) => {
                if remote.trim().is_empty() || remote.starts_with('-') {
                    return err(
                        "workdir.clone.remote",
                        format!("{remote:?} is not a remote's name, expected one such as \"origin\""),
                    );
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> KubernetesConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_complete_section_passes_and_defaults_fill_the_rest() {
        let c = parse(
            r#"{"image": "registry.local/agents:1", "api_key": {"secret": "anthropic"},
                "workdir": {"clone": {}}}"#,
        );
        assert_eq!(c.program, "cortex");
        let k = c.api_key.as_ref().unwrap();
        assert_eq!(
            (k.key.as_str(), k.env.as_str()),
            ("api-key", "ANTHROPIC_API_KEY")
        );
        assert_eq!(
            c.workdir,
            Some(PodWorkdir::Clone {
                remote: "origin".into()
            })
        );
        assert!(c.validate("config.json").is_ok());
    }

    #[test]
    fn each_bad_field_is_named_with_what_was_expected() {
        let cases = [
            (r#"{"workdir": {"clone": {}}}"#, "launcher.kubernetes.image"),
            (r#"{"image": "i"}"#, "launcher.kubernetes.workdir"),
            (
                r#"{"image": "i", "namespace": "Agents", "workdir": {"clone": {}}}"#,
                "launcher.kubernetes.namespace",
            ),
            (
                r#"{"image": "i", "api_key": {"secret": "a", "env": "1X"}, "workdir": {"clone": {}}}"#,
                "launcher.kubernetes.api_key.env",
            ),
            (
                r#"{"image": "i", "workdir": {"claim": {"name": "w", "sub_path": "../x"}}}"#,
                "launcher.kubernetes.workdir.claim.sub_path",
            ),
            (
                r#"{"image": "i", "workdir": {"clone": {"remote": "--upload-pack=x"}}}"#,
                "launcher.kubernetes.workdir.clone.remote",
            ),
        ];
        for (json, key) in cases {
            let e = parse(json).validate("config.json").unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{json}: {e}");
            assert!(
                e.message.contains("expected") || e.message.contains("not a"),
                "{e}"
            );
        }
        assert!(serde_json::from_str::<KubernetesConfig>(r#"{"imag": "x"}"#).is_err());
    }
}
