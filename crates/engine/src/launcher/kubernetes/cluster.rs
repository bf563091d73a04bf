//! The cluster as this launcher talks to it: a runtime of its own, the
//! API (connected on first use from the kubeconfig), errors said in words a
//! user can act on, and this home's Jobs and pods read from a list.
//!
//! May depend on: the manifest's labels, cortex-core config.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cortex_core::config::KubernetesConfig;
use k8s_openapi::api::batch::v1::Job as KubeJob;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};

use super::manifest;

/// How long one API call may take before it is given up.
const CALL_LIMIT: Duration = Duration::from_secs(10);
/// One of this home's Jobs, as the last list showed it.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The Job's name.
    pub name: String,
    /// The worker it runs for.
    pub worker: String,
    /// The attempt (None for a check).
    pub attempt: Option<u32>,
    /// Neither complete nor failed, nor being deleted.
    pub live: bool,
    /// No pod of it has left `Pending` yet.
    pub pending: bool,
    /// The owner-side start of the attempt's files.
    pub output: Option<PathBuf>,
    /// The cluster's deadline for it, seconds.
    pub deadline: Option<u64>,
    /// When a list first showed it ended.
    pub ended_seen: Option<Instant>,
}

/// The API objects this launcher uses, once connected.
#[derive(Clone)]
pub struct Apis {
    /// The client.
    pub client: kube::Client,
    /// Jobs of the namespace.
    pub jobs: Api<KubeJob>,
    /// Pods of the namespace.
    pub pods: Api<Pod>,
    /// The namespace's name.
    pub namespace: String,
}

/// A runtime that is shut down without waiting (it may be dropped on a
/// thread of another runtime).
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// The connection to the cluster: its runtime and API.
pub struct Cluster {
    rt: Runtime,
    apis: Mutex<Option<Apis>>,
    kubeconfig: Option<String>,
    context: Option<String>,
    namespace: Option<String>,
}

impl Cluster {
    /// A connection made on first use, as `config` says.
    pub fn new(config: &KubernetesConfig) -> Result<Self, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cortex-kubernetes")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the Kubernetes client's runtime: {e}"))?;
        Ok(Self {
            rt: Runtime(Some(rt)),
            apis: Mutex::new(None),
            kubeconfig: config.kubeconfig.clone(),
            context: config.context.clone(),
            namespace: config.namespace.clone(),
        })
    }

    /// The runtime API calls and log pumps run on.
    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.rt
            .0
            .as_ref()
            .expect("the runtime lives as long as the launcher")
            .handle()
    }

    /// Runs `fut` on this launcher's runtime and waits for it, at most
    /// `CALL_LIMIT`.
    pub fn call<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, String>> + Send + 'static,
    ) -> Result<T, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.handle().spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv_timeout(CALL_LIMIT).unwrap_or_else(|_| {
            Err(format!(
                "the Kubernetes API did not answer within {} s",
                CALL_LIMIT.as_secs()
            ))
        })
    }

    /// The API, connected on first use (the kubeconfig is read then).
    pub fn apis(&self) -> Result<Apis, String> {
        if let Some(a) = self.apis.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            return Ok(a.clone());
        }
        let context = self.context.clone();
        let namespace = self.namespace.clone();
        let file = self.kubeconfig.clone();
        let apis = self.call(async move {
            let options = kube::config::KubeConfigOptions {
                context: context.clone(),
                ..Default::default()
            };
            let config = match (file, context) {
                (Some(path), _) => {
                    let kc = kube::config::Kubeconfig::read_from(&path)
                        .map_err(|e| format!("cannot read the kubeconfig {path}: {e}"))?;
                    kube::Config::from_custom_kubeconfig(kc, &options)
                        .await
                        .map_err(|e| format!("the kubeconfig {path} cannot be used: {e}"))?
                }
                (None, Some(_)) => kube::Config::from_kubeconfig(&options)
                    .await
                    .map_err(|e| format!("cannot read the kubeconfig: {e}"))?,
                (None, None) => kube::Config::infer()
                    .await
                    .map_err(|e| format!("no Kubernetes cluster is configured: {e}"))?,
            };
            let ns = namespace.unwrap_or_else(|| config.default_namespace.clone());
            let client = kube::Client::try_from(config)
                .map_err(|e| format!("cannot make a Kubernetes client: {e}"))?;
            Ok(Apis {
                jobs: Api::namespaced(client.clone(), &ns),
                pods: Api::namespaced(client.clone(), &ns),
                client,
                namespace: ns,
            })
        })?;
        *self.apis.lock().unwrap_or_else(|p| p.into_inner()) = Some(apis.clone());
        Ok(apis)
    }

    /// Deletes the Job `name` with `grace` seconds for its pod (SIGTERM,
    /// then SIGKILL), and with `pods_too` its pods at once (the handle's).
    pub fn delete_job(
        &self,
        name: &str,
        handle: u32,
        grace: u64,
        pods_too: bool,
    ) -> Result<(), String> {
        let apis = self.apis()?;
        let name = name.to_string();
        let ns = apis.namespace.clone();
        self.call(async move {
            let dp =
                DeleteParams::background().grace_period(u32::try_from(grace).unwrap_or(u32::MAX));
            match apis.jobs.delete(&name, &dp).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(explain(&e, &format!("delete Job {name}"), &ns)),
            }
            if pods_too {
                let lp =
                    ListParams::default().labels(&format!("{}={handle}", manifest::LABEL_HANDLE));
                apis.pods
                    .delete_collection(&dp, &lp)
                    .await
                    .map_err(|e| explain(&e, &format!("delete the pods of Job {name}"), &ns))?;
            }
            Ok(())
        })
    }

    /// Sets the Job `name`'s deadline (`activeDeadlineSeconds`).
    pub fn set_deadline(&self, name: &str, secs: u64) -> Result<(), String> {
        let apis = self.apis()?;
        let ns = apis.namespace.clone();
        let what = format!("move the deadline of Job {name}");
        let name = name.to_string();
        let patch = serde_json::json!({"spec": {"activeDeadlineSeconds": secs}});
        self.call(async move {
            apis.jobs
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(|_| ())
                .map_err(|e| explain(&e, &what, &ns))
        })
    }

    /// Whether the cluster answers and lets Cortex list Jobs: its version
    /// and namespace, or why not.
    pub fn check(&self) -> Result<String, String> {
        let apis = self.apis()?;
        let ns = apis.namespace.clone();
        self.call(async move {
            let v = apis
                .client
                .apiserver_version()
                .await
                .map_err(|e| explain(&e, "tell its version", &ns))?;
            apis.jobs
                .list(&ListParams::default().limit(1))
                .await
                .map_err(|e| explain(&e, "list Jobs", &ns))?;
            Ok(format!(
                "Kubernetes {}, namespace {ns}: Jobs can be listed",
                v.git_version
            ))
        })
    }
}

/// An API error in words a user can act on; `what` is what was being done.
pub fn explain(e: &kube::Error, what: &str, namespace: &str) -> String {
    match e {
        kube::Error::Api(s) if s.code == 403 => format!(
            "Kubernetes refused to {what} in namespace {namespace} (403 Forbidden: {}); the account Cortex uses needs RBAC rights to create, list, watch and delete Jobs and to list, watch and read the logs of pods there",
            s.message
        ),
        kube::Error::Api(s) if s.code == 409 => format!(
            "cannot {what} in namespace {namespace}: it already exists (409 {}: {}); Cortex never runs a second copy of an attempt, delete the old Job or let the owner's sweep end it",
            s.reason, s.message
        ),
        kube::Error::Api(s) => format!(
            "Kubernetes refused to {what} in namespace {namespace} ({} {}: {})",
            s.code, s.reason, s.message
        ),
        other => format!("cannot {what}: the Kubernetes API did not answer ({other})"),
    }
}

/// Whether a Job still runs: not finished, not being deleted.
pub fn job_live(job: &KubeJob) -> bool {
    if job.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let Some(status) = &job.status else {
        return true;
    };
    let finished = status
        .conditions
        .iter()
        .flatten()
        .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True");
    !finished && status.completion_time.is_none()
}

/// The handle a Job carries, if it is one of this home's.
pub fn handle_of(labels: Option<&std::collections::BTreeMap<String, String>>) -> Option<u32> {
    labels?.get(manifest::LABEL_HANDLE)?.parse().ok()
}

/// The phase of a pod (`Pending` until it has one).
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// This home's Jobs as `jobs` and `pods` show them; `old` is the last
/// reading (when each was first seen ended).
pub fn listed(jobs: &[KubeJob], pods: &[Pod], old: &HashMap<u32, Listed>) -> HashMap<u32, Listed> {
    let mut running: HashMap<u32, bool> = HashMap::new();
    for pod in pods {
        if let Some(h) = handle_of(pod.metadata.labels.as_ref()) {
            let started = phase(pod) != "Pending";
            *running.entry(h).or_default() |= started;
        }
    }
    let mut listed = HashMap::new();
    for job in jobs {
        let Some(h) = handle_of(job.metadata.labels.as_ref()) else {
            continue;
        };
        let labels = job.metadata.labels.clone().unwrap_or_default();
        let live = job_live(job);
        let ended_seen = match old.get(&h) {
            Some(old) if !live => old.ended_seen.or(Some(Instant::now())),
            _ if !live => Some(Instant::now()),
            _ => None,
        };
        listed.insert(
            h,
            Listed {
                name: job.metadata.name.clone().unwrap_or_default(),
                worker: labels
                    .get(manifest::LABEL_WORKER)
                    .cloned()
                    .unwrap_or_default(),
                attempt: labels
                    .get(manifest::LABEL_ATTEMPT)
                    .and_then(|a| a.parse().ok()),
                live,
                pending: !running.get(&h).copied().unwrap_or(false),
                output: job
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(manifest::ANNOTATION_OUTPUT))
                    .map(PathBuf::from),
                deadline: job
                    .spec
                    .as_ref()
                    .and_then(|s| s.active_deadline_seconds)
                    .and_then(|d| u64::try_from(d).ok()),
                ended_seen,
            },
        );
    }
    listed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(handle: u32, status: serde_json::Value) -> KubeJob {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("cortex-h-w-a{handle}"),
                "labels": {"cortex.dev/handle": handle.to_string(), "cortex.dev/worker": "w",
                           "cortex.dev/attempt": "1"},
                "annotations": {"cortex.dev/output": "/h/workers/w/attempt-1/stdout"}},
            "spec": {"template": {"spec": {"containers": [{"name": "agent"}]}},
                     "activeDeadlineSeconds": 610},
            "status": status
        }))
        .unwrap()
    }

    fn pod(handle: u32, phase: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"labels": {"cortex.dev/handle": handle.to_string()}},
            "status": {"phase": phase}
        }))
        .unwrap()
    }

    #[test]
    fn a_job_is_queued_until_its_pod_runs_and_ends_with_its_conditions() {
        let complete = serde_json::json!({"succeeded": 1,
            "conditions": [{"type": "Complete", "status": "True"}]});
        let jobs = [
            job(1, serde_json::json!({})),
            job(2, serde_json::json!({"active": 1})),
            job(3, complete),
        ];
        let pods = [pod(1, "Pending"), pod(2, "Running"), pod(3, "Succeeded")];
        let l = listed(&jobs, &pods, &HashMap::new());
        assert!(l[&1].live && l[&1].pending, "a pod still Pending is queued");
        assert!(l[&2].live && !l[&2].pending);
        assert!(!l[&3].live && l[&3].ended_seen.is_some());
        assert_eq!(l[&2].deadline, Some(610));
        assert_eq!(
            l[&2].output.as_deref(),
            Some(std::path::Path::new("/h/workers/w/attempt-1/stdout"))
        );
        // A Job with no pod yet waits for the scheduler too.
        let l = listed(&jobs[..1], &[], &HashMap::new());
        assert!(l[&1].pending);
        // When it was first seen ended is kept from the last reading.
        let first = listed(&jobs[2..], &[], &HashMap::new());
        let again = listed(&jobs[2..], &[], &first);
        assert_eq!(again[&3].ended_seen, first[&3].ended_seen);
    }
}
