//! What an attempt becomes in a Kubernetes cluster, as data: the pod-side
//! plan of the shim (paths inside the pod, the prompt and hook settings as
//! file contents, the secret as a file) and the Job that runs it.
//!
//! Reads no cluster: `pod_plan` reads the attempt's prompt (the file a
//! local agent would read), `repository_of` asks git where the task's
//! workdir comes from.
//!
//! May depend on: the shim's spec, spawner's `Launch`, cortex-core config.

use std::path::{Path, PathBuf};

use cortex_core::config::{KubernetesConfig, PodWorkdir};
use serde_json::{json, Value};

use crate::launcher::shim::{PodPlan, ShimSpec, SPEC_ENV};
use crate::spawner::{Launch, SpawnError};

/// The attempt's own folder inside the pod (an `emptyDir`).
pub const POD_ATTEMPT: &str = "/var/run/cortex/attempt";
/// A home of the pod's own, where the hooks' check-ins land.
pub const POD_HOME: &str = "/var/run/cortex/home";
/// Where the API key's Secret is mounted.
pub const POD_SECRET: &str = "/var/run/cortex/secret";
/// The agent's working folder inside the pod.
pub const POD_WORKDIR: &str = "/workspace";

/// Label: the home a Job belongs to.
pub const LABEL_HOME: &str = "cortex.dev/home";
/// Label: the number the engine names the Job by (its "pid"), unique in
/// the home and never reused.
pub const LABEL_HANDLE: &str = "cortex.dev/handle";
/// Label: the worker.
pub const LABEL_WORKER: &str = "cortex.dev/worker";
/// Label: the attempt (`check` for a check of the worker's work).
pub const LABEL_ATTEMPT: &str = "cortex.dev/attempt";
/// Annotation: the attempt's output files on the owner's side (their
/// common start), so a later owner knows where the log goes.
pub const ANNOTATION_OUTPUT: &str = "cortex.dev/output";

/// Identity of one Job of this home.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity<'a> {
    /// The home's short id.
    pub home: &'a str,
    /// The Job's name.
    pub name: &'a str,
    /// The engine's number for it.
    pub handle: u32,
    /// The worker.
    pub worker: &'a str,
    /// The attempt, or None for a check.
    pub attempt: Option<u32>,
    /// The owner-side start of the attempt's output files.
    pub output: &'a Path,
}

/// What the owner's side keeps of an attempt's files, beside its stdout.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnerFiles {
    /// The agent's stdout, as a local agent would write it.
    pub stdout: PathBuf,
    /// The agent's stderr.
    pub stderr: PathBuf,
    /// The shim's reports (`shim.jsonl`).
    pub report: PathBuf,
    /// How many bytes of the pod's log were taken in.
    pub offset: PathBuf,
    /// The attempt's marker of the shim's report lines (mode 0600).
    pub marker: PathBuf,
}

impl OwnerFiles {
    /// The files of an attempt whose outputs start with `base`.
    pub fn of(base: &Path, stdout: PathBuf, stderr: PathBuf) -> Self {
        let with = |ext: &str| PathBuf::from(format!("{}.{ext}", base.display()));
        Self {
            stdout,
            stderr,
            report: with("shim.jsonl"),
            offset: with("pod.offset"),
            marker: with("pod.marker"),
        }
    }

    /// The files of an attempt a Job's `cortex.dev/output` names: its
    /// stdout and stderr beside `base`, as the driver names them.
    pub fn at(base: &Path) -> Self {
        let dir = base.parent().unwrap_or(Path::new(""));
        Self::of(base, dir.join("stdout.jsonl"), dir.join("stderr.log"))
    }
}

/// The clone the pod makes of the task's workdir: its remote's URL and the
/// commit it is on.
pub fn repository_of(cwd: &Path, remote: &str) -> Result<(String, String), SpawnError> {
    let git = |args: &[&str]| -> Result<String, SpawnError> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(cwd)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| SpawnError(format!("cannot run git: {e}")))?;
        if !out.status.success() {
            return Err(SpawnError(format!(
                "launcher.kubernetes.workdir is a clone, but {} has no {}: {}",
                cwd.display(),
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    Ok((
        git(&["remote", "get-url", remote])?,
        git(&["rev-parse", "HEAD"])?,
    ))
}

/// The last handle a home gave, in the home.
const HANDLES_FILE: &str = "kubernetes-handle";

/// The next handle of the home at `home`, at least `floor` (above every
/// one listed): above every handle the home gave (kept in the home, since a
/// Job deleted is listed no more), and recorded before it is used.
pub fn take_handle(home: &Path, floor: u32) -> Result<u32, SpawnError> {
    let given = home.join(HANDLES_FILE);
    let last: u32 = std::fs::read_to_string(&given)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    let h = floor.max(last.saturating_add(1)).max(1);
    std::fs::write(&given, h.to_string()).map_err(|e| {
        SpawnError(format!(
            "cannot record the Job's handle in {}: {e}",
            given.display()
        ))
    })?;
    Ok(h)
}

/// The shim's spec inside the pod for `launch`; `repo` is the clone
/// (url, commit) when the workdir is one. Host paths never reach the pod:
/// the prompt and hook settings travel as contents, the agent is found on
/// the image's PATH.
pub fn pod_plan(
    launch: &Launch,
    config: &KubernetesConfig,
    worker_id: &str,
    sample_secs: u64,
    marker: String,
    repo: Option<(String, String)>,
) -> Result<ShimSpec, String> {
    let attempt = Path::new(POD_ATTEMPT);
    let mut files = Vec::new();
    let mut argv = launch.argv.clone();
    if let Some(first) = argv.first_mut() {
        if let Some(name) = Path::new(first.as_str()).file_name() {
            *first = name.to_string_lossy().into_owned();
        }
    }
    if let Some(i) = argv.iter().position(|a| a == "--settings") {
        if i + 1 < argv.len() {
            // The same hooks, reporting to the pod's own home.
            let heartbeat = [config.program.clone(), "heartbeat".to_string()];
            let settings = crate::driver::hook_settings_for(&heartbeat, Path::new(POD_HOME));
            let path = attempt.join("hooks-settings.json");
            files.push((path.clone(), settings.to_string()));
            argv[i + 1] = path.display().to_string();
        }
    }
    let stdin_file = match &launch.stdin_file {
        Some(host) => {
            let prompt = std::fs::read_to_string(host)
                .map_err(|e| format!("cannot read the prompt {}: {e}", host.display()))?;
            let path = attempt.join("prompt.txt");
            files.push((path.clone(), prompt));
            Some(path)
        }
        None => None,
    };
    let env = launch
        .env
        .iter()
        .map(|(k, v)| {
            let v = if k == "CORTEX_HOME" {
                POD_HOME.to_string()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    let env_files = config
        .api_key
        .iter()
        .map(|k| (k.env.clone(), Path::new(POD_SECRET).join(&k.key)))
        .collect();
    Ok(ShimSpec {
        launch: Launch {
            argv,
            env,
            cwd: PathBuf::from(POD_WORKDIR),
            stdout: attempt.join("stdout.jsonl"),
            stderr: attempt.join("stderr.log"),
            stdin_fifo: None,
            stdin_file,
            deadline_secs: None,
        },
        sample_secs,
        report: attempt.join("shim.jsonl"),
        pod: Some(PodPlan {
            files,
            env_files,
            clone: repo,
            heartbeats: Some(
                Path::new(POD_HOME)
                    .join("heartbeats")
                    .join(format!("{worker_id}.jsonl")),
            ),
            marker,
        }),
    })
}

/// The Job of one attempt: no retries (Cortex alone decides them), the
/// time limit as the cluster's deadline, the kill grace as the pod's, the
/// API key as a mounted Secret file and the spec in the shim's variable.
pub fn job(
    id: &Identity<'_>,
    config: &KubernetesConfig,
    spec: &ShimSpec,
    grace_secs: u64,
    deadline_secs: Option<u64>,
) -> Value {
    let attempt = id.attempt.map_or("check".to_string(), |n| n.to_string());
    let labels = json!({
        "app.kubernetes.io/managed-by": "cortex",
        LABEL_HOME: id.home,
        LABEL_HANDLE: id.handle.to_string(),
        LABEL_WORKER: id.worker,
        LABEL_ATTEMPT: attempt,
    });
    let mut volumes = vec![json!({"name": "cortex-attempt", "emptyDir": {}})];
    let mut mounts = vec![json!({"name": "cortex-attempt", "mountPath": "/var/run/cortex"})];
    if let Some(k) = &config.api_key {
        volumes.push(json!({"name": "cortex-secret", "secret": {
            "secretName": k.secret, "defaultMode": 0o400,
            "items": [{"key": k.key, "path": k.key}]}}));
        mounts.push(json!({"name": "cortex-secret", "mountPath": POD_SECRET, "readOnly": true}));
    }
    match &config.workdir {
        Some(PodWorkdir::Claim { name, sub_path }) => {
            volumes.push(json!({"name": "workdir", "persistentVolumeClaim": {"claimName": name}}));
            let mut m = json!({"name": "workdir", "mountPath": POD_WORKDIR});
            if let Some(p) = sub_path {
                m["subPath"] = p.clone().into();
            }
            mounts.push(m);
        }
        Some(PodWorkdir::Clone { .. }) | None => {
            // The shim clones into an empty folder.
            volumes.push(json!({"name": "workdir", "emptyDir": {}}));
            mounts.push(json!({"name": "workdir", "mountPath": POD_WORKDIR}));
        }
    }
    let mut pod = json!({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": grace_secs,
        "volumes": volumes,
        "containers": [{
            "name": "agent",
            "image": config.image,
            "command": [config.program, "agent-shim", "--stream"],
            "env": [{"name": SPEC_ENV, "value": serde_json::to_string(spec).unwrap_or_default()}],
            "workingDir": POD_WORKDIR,
            "volumeMounts": mounts,
        }],
    });
    if let Some(sa) = &config.service_account {
        pod["serviceAccountName"] = sa.clone().into();
    }
    let mut job_spec = json!({
        "backoffLimit": 0,
        "template": {"metadata": {"labels": labels.clone()}, "spec": pod},
    });
    if let Some(d) = deadline_secs {
        job_spec["activeDeadlineSeconds"] = (d + grace_secs).into();
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": id.name,
            "labels": labels,
            "annotations": {ANNOTATION_OUTPUT: id.output.display().to_string()},
        },
        "spec": job_spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cortex_core::config::SecretKey;

    fn config() -> KubernetesConfig {
        KubernetesConfig {
            image: "registry.local/agents:1".into(),
            api_key: Some(SecretKey {
                secret: "anthropic".into(),
                key: "api-key".into(),
                env: "ANTHROPIC_API_KEY".into(),
            }),
            workdir: Some(PodWorkdir::Clone {
                remote: "origin".into(),
            }),
            ..KubernetesConfig::default()
        }
    }

    #[test]
    fn no_host_path_and_no_secret_reach_the_pod() {
        let d = tempfile::tempdir().unwrap();
        let settings = d.path().join("hooks-settings.json");
        std::fs::write(
            &settings,
            r#"{"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "'/opt/x/cortex' heartbeat --home '/srv/h' --hook Stop"}]}]}}"#,
        )
        .unwrap();
        let prompt = d.path().join("prompt.txt");
        std::fs::write(&prompt, "fix the bug; rm -rf / is text, not a command").unwrap();
        let launch = Launch {
            argv: vec![
                "/usr/local/bin/claude".into(),
                "-p".into(),
                "--settings".into(),
                settings.display().to_string(),
            ],
            env: vec![("CORTEX_HOME".into(), "/srv/h".into())],
            cwd: d.path().to_path_buf(),
            stdout: d.path().join("stdout.jsonl"),
            stderr: d.path().join("stderr.log"),
            stdin_fifo: None,
            stdin_file: Some(prompt),
            deadline_secs: None,
        };
        let spec = pod_plan(&launch, &config(), "w-1", 2, "m:".into(), None).unwrap();
        let text = serde_json::to_string(&spec).unwrap();
        let host = d.path().display().to_string();
        assert!(!text.contains(&host), "{text}");
        assert!(
            !text.contains("/srv/h") && !text.contains("/opt/x"),
            "{text}"
        );
        assert_eq!(spec.launch.argv[0], "claude");
        assert!(
            text.contains("rm -rf / is text"),
            "the prompt travels as content"
        );
        let plan = spec.pod.as_ref().unwrap();
        assert_eq!(
            plan.env_files,
            vec![(
                "ANTHROPIC_API_KEY".to_string(),
                PathBuf::from("/var/run/cortex/secret/api-key")
            )]
        );
        let id = Identity {
            home: "abcd1234",
            name: "cortex-abcd1234-w-1-a1",
            handle: 7,
            worker: "w-1",
            attempt: Some(1),
            output: &d.path().join("stdout"),
        };
        let job = job(&id, &config(), &spec, 10, Some(600));
        assert_eq!(job["spec"]["backoffLimit"], 0);
        assert_eq!(job["spec"]["activeDeadlineSeconds"], 610);
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["terminationGracePeriodSeconds"], 10);
        assert_eq!(job["metadata"]["labels"][LABEL_HANDLE], "7");
        assert_eq!(
            pod["containers"][0]["command"],
            json!(["cortex", "agent-shim", "--stream"])
        );
        let secret = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "cortex-secret")
            .unwrap();
        assert_eq!(secret["secret"]["secretName"], "anthropic");
        // The Job is a valid batch/v1 Job.
        let typed: k8s_openapi::api::batch::v1::Job = serde_json::from_value(job).unwrap();
        assert_eq!(
            typed.metadata.name.as_deref(),
            Some("cortex-abcd1234-w-1-a1")
        );
    }
}
