//! The Kubernetes launcher: each attempt is one Job of a Kubernetes
//! cluster, in a pod that shares nothing with the owner but its log.
//!
//! Theory of operation: `launch` makes the shim's pod plan (`manifest`:
//! the prompt and hook settings as contents, the API key as a mounted
//! Secret file, the workdir as a claim or a clone of the task's repository
//! at its commit) and creates a Job named `cortex-<home>-<worker>-a<N>`,
//! labelled with the home, worker, attempt and a handle: the number the
//! engine names it by (its "pid"), unique in the home and never reused, so
//! a stale signal names an older handle and cannot touch a newer attempt.
//! The Job has no retries (Cortex alone decides them), the attempt's time
//! limit as its deadline and `pm.kill_grace_secs` as the pod's grace.
//!
//! A pump per attempt (`pump`) waits for the pod to run, streams its log
//! into the attempt's files and reconnects from the byte offset taken in
//! so far; the shim's end arrives through it at once. This home's Jobs and
//! pods are listed at most every `poll_secs`: a Job gone or finished
//! without an end in its log was lost and ends as unknown; a pod still
//! `Pending` is queued (the startup budget waits); a list that fails makes
//! the cluster `unreachable`, never a hang. Stopping deletes the Job with
//! the grace (the kubelet sends SIGTERM, which the shim passes on, then
//! SIGKILL), or at once, pods included.
//!
//! Only an owner pumps: `prune`, called once when an owner starts
//! supervising, marks this launcher as the owner's, and re-adopting a Job
//! an earlier owner started resumes its log where `pod.offset` says.
//!
//! Every API call runs on this launcher's own runtime, with a time limit,
//! so the engine's threads only wait for an answer, never drive one.
//!
//! May depend on: the launcher trait (`super`), the shim, spawner.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cortex_core::config::{KubernetesConfig, PodWorkdir};
use cortex_core::stream::Exit;
use k8s_openapi::api::batch::v1::Job as KubeJob;
use kube::api::{ListParams, PostParams};

use super::shim::ReportState;
use super::slurm::{home_id, job_name};
use super::{Launch, Launcher, OutputSource, Poll, ProcessTable, Signal, SpawnError, Started};

pub mod cluster;
pub mod manifest;
pub mod pump;

use cluster::{explain, Cluster, Listed};
use manifest::{Identity, OwnerFiles};

/// How long an ended attempt is remembered after its end was read.
const FORGET_ENDED_AFTER: Duration = Duration::from_secs(600);
/// How long the log of a Job that finished without an end is still read
/// before the attempt counts as lost.
const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// What this launcher knows of one attempt it pumps.
#[derive(Debug)]
struct Tracked {
    name: String,
    report: ReportState,
    /// Set to end the pump.
    stop: Arc<AtomicBool>,
    /// Set when the pump has ended.
    done: Arc<AtomicBool>,
}

#[derive(Debug, Default)]
struct State {
    tracked: HashMap<u32, Tracked>,
    listed: HashMap<u32, Listed>,
    list_read: Option<Instant>,
    list_error: Option<String>,
    next_handle: u32,
    ticks_per_second: Option<u64>,
    /// This launcher is the owner's: it pumps logs.
    owner: bool,
}

/// Runs attempts as Jobs of a Kubernetes cluster (see the module doc).
pub struct KubeLauncher {
    home: PathBuf,
    home_id: String,
    prefix: String,
    config: KubernetesConfig,
    grace_secs: u64,
    cluster: Cluster,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for KubeLauncher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeLauncher")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl KubeLauncher {
    /// A launcher for the home at `home`; nothing is asked of the cluster
    /// until it is used.
    pub fn new(home: &Path, config: KubernetesConfig, grace_secs: u64) -> Result<Self, String> {
        let cluster = Cluster::new(&config)?;
        let id = home_id(home);
        Ok(Self {
            home: home.to_path_buf(),
            prefix: format!("cortex-{id}-"),
            home_id: id,
            config,
            grace_secs,
            cluster,
            state: Arc::new(Mutex::new(State::default())),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the cluster answers and lets Cortex list Jobs: its version
    /// and namespace, or why not.
    pub fn check(&self) -> Result<String, String> {
        self.cluster.check()
    }

    /// Lists this home's Jobs and pods when the last list is older than
    /// `poll_secs` (or `force`); false when the cluster did not answer
    /// (what was last listed stays).
    fn refresh(&self, force: bool) -> bool {
        let every = Duration::from_secs(self.config.poll_secs.max(1));
        {
            let st = self.state();
            if !force && st.list_read.is_some_and(|t| t.elapsed() < every) {
                return st.list_error.is_none();
            }
        }
        let selector = format!("{}={}", manifest::LABEL_HOME, self.home_id);
        let read = self.cluster.apis().and_then(|apis| {
            let ns = apis.namespace.clone();
            self.cluster.call(async move {
                let lp = ListParams::default().labels(&selector);
                let jobs = apis
                    .jobs
                    .list(&lp)
                    .await
                    .map_err(|e| explain(&e, "list this home's Jobs", &ns))?;
                let pods = apis
                    .pods
                    .list(&lp)
                    .await
                    .map_err(|e| explain(&e, "list this home's pods", &ns))?;
                Ok((jobs.items, pods.items))
            })
        });
        let mut st = self.state();
        st.list_read = Some(Instant::now());
        let (jobs, pods) = match read {
            Ok(lists) => lists,
            Err(e) => {
                if st.list_error.as_deref() != Some(e.as_str()) {
                    tracing::warn!("cannot list the Kubernetes Jobs: {e}");
                }
                st.list_error = Some(e);
                return false;
            }
        };
        if st.list_error.take().is_some() {
            tracing::info!("the Kubernetes API answers again");
        }
        let mut listed = cluster::listed(&jobs, &pods, &st.listed);
        // A Job this launcher follows that the list no longer shows is gone:
        // kept as ended (since when it was first missed) while it is followed.
        let now = Instant::now();
        for h in st.tracked.keys() {
            if let (false, Some(old)) = (listed.contains_key(h), st.listed.get(h)) {
                let mut gone = old.clone();
                gone.live = false;
                gone.ended_seen = gone.ended_seen.or(Some(now));
                listed.insert(*h, gone);
            }
        }
        let max = listed.keys().copied().max().unwrap_or(0);
        st.next_handle = st.next_handle.max(max + 1);
        st.listed = listed;
        true
    }

    /// Starts pumping the log of Job `name` into the attempt's `files`.
    fn start_pump(&self, handle: u32, name: &str, worker: &str, files: OwnerFiles) {
        let Ok(apis) = self.cluster.apis() else {
            return;
        };
        let marker = std::fs::read_to_string(&files.marker).unwrap_or_default();
        let heartbeats = self.home.join("heartbeats").join(format!("{worker}.jsonl"));
        let report = ReportState::new(files.report.clone());
        let demux = pump::Demux::resume(files, heartbeats, marker);
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let (s, d, job) = (stop.clone(), done.clone(), name.to_string());
        self.cluster.handle().spawn(async move {
            pump::follow(apis.pods, apis.jobs, job, demux, s).await;
            d.store(true, Ordering::SeqCst);
        });
        self.state().tracked.insert(
            handle,
            Tracked {
                name: name.to_string(),
                report,
                stop,
                done,
            },
        );
    }

    /// Takes up a Job an earlier owner started (the owner's launcher only).
    fn adopt(&self, handle: u32) {
        let found = {
            let st = self.state();
            if !st.owner || st.tracked.contains_key(&handle) {
                return;
            }
            st.listed.get(&handle).cloned()
        };
        let Some(l) = found else {
            return;
        };
        let Some(base) = l.output else {
            return;
        };
        self.start_pump(handle, &l.name, &l.worker, OwnerFiles::at(&base));
    }

    /// Where attempt `pid` stands (the state must be fresh enough).
    fn status(&self, pid: u32, answered: bool) -> Poll {
        self.adopt(pid);
        let mut st = self.state();
        let st = &mut *st;
        if let Some(t) = st.tracked.get_mut(&pid) {
            if t.report.ended.is_none() {
                t.report.read(&mut st.ticks_per_second);
            }
            if let Some(exit) = t.report.ended {
                return Poll::Exited(exit);
            }
        }
        if !st.tracked.contains_key(&pid) {
            // Not followed here (a view): the end the owner took in, if any.
            let report = st
                .listed
                .get(&pid)
                .and_then(|l| l.output.as_ref())
                .map(|b| OwnerFiles::at(b).report);
            if let Some(report) = report {
                let mut r = ReportState::new(report);
                r.read(&mut st.ticks_per_second);
                if let Some(exit) = r.ended {
                    return Poll::Exited(exit);
                }
            }
        }
        if !answered {
            // An unanswered list is not an end.
            return Poll::Running;
        }
        let listed = st.listed.get(&pid);
        if listed.is_some_and(|l| l.live) {
            return Poll::Running;
        }
        // Finished or gone without an end read: its log may still be on
        // its way, for a while.
        let since = listed.and_then(|l| l.ended_seen);
        let draining = st.tracked.get(&pid).is_some_and(|t| {
            !t.done.load(Ordering::SeqCst) && since.is_none_or(|s| s.elapsed() < DRAIN_LIMIT)
        });
        if draining {
            Poll::Running
        } else {
            if let Some(t) = st.tracked.get(&pid) {
                t.stop.store(true, Ordering::SeqCst);
            }
            Poll::Exited(Exit::Unknown)
        }
    }

    fn delete(&self, name: &str, handle: u32, now: bool) {
        let grace = if now { 0 } else { self.grace_secs };
        let done = self.cluster.delete_job(name, handle, grace, now);
        if let Err(e) = done {
            tracing::warn!(handle, "{e}");
        }
        self.state().list_read = None;
    }
}

impl Launcher for KubeLauncher {
    fn launch(
        &self,
        launch: &Launch,
        worker_id: &str,
        attempt: Option<u32>,
    ) -> Result<Started, SpawnError> {
        let base = super::output_base(launch)?;
        let repo = match &self.config.workdir {
            Some(PodWorkdir::Clone { remote }) => {
                Some(manifest::repository_of(&launch.cwd, remote)?)
            }
            _ => None,
        };
        let mut nonce = [0u8; 8];
        getrandom::fill(&mut nonce).map_err(|e| SpawnError(format!("no randomness: {e}")))?;
        let marker = format!(
            "#cortex-shim-{} ",
            nonce.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let spec = manifest::pod_plan(
            launch,
            &self.config,
            worker_id,
            self.config.sample_secs,
            marker.clone(),
            repo,
        )
        .map_err(SpawnError)?;
        let apis = self.cluster.apis().map_err(SpawnError)?;
        if self.state().next_handle == 0 && !self.refresh(true) {
            let why = self.state().list_error.clone().unwrap_or_default();
            return Err(SpawnError(why));
        }
        let handle = {
            let mut st = self.state();
            let h = manifest::take_handle(&self.home, st.next_handle)?;
            st.next_handle = h + 1;
            h
        };
        let name = job_name(&self.prefix, worker_id, attempt);
        let body = manifest::job(
            &Identity {
                home: &self.home_id,
                name: &name,
                handle,
                worker: worker_id,
                attempt,
                output: &base,
            },
            &self.config,
            &spec,
            self.grace_secs,
            launch.deadline_secs,
        );
        let files = OwnerFiles::of(&base, launch.stdout.clone(), launch.stderr.clone());
        for f in [&files.report, &files.offset] {
            let _ = std::fs::remove_file(f);
        }
        super::write_private(&files.marker, marker.as_bytes(), 0o600)?;
        let job: KubeJob = serde_json::from_value(body)
            .map_err(|e| SpawnError(format!("the Job is not valid: {e}")))?;
        let ns = apis.namespace.clone();
        let what = format!("create Job {name}");
        self.cluster
            .call(async move {
                apis.jobs
                    .create(&PostParams::default(), &job)
                    .await
                    .map_err(|e| explain(&e, &what, &ns))
            })
            .map_err(SpawnError)?;
        self.start_pump(handle, &name, worker_id, files);
        self.state().listed.insert(
            handle,
            Listed {
                name,
                worker: worker_id.to_string(),
                attempt,
                live: true,
                pending: true,
                output: Some(base),
                deadline: launch.deadline_secs.map(|d| d + self.grace_secs),
                ended_seen: None,
            },
        );
        tracing::info!(handle, worker_id, attempt, "created a Kubernetes Job");
        Ok(Started {
            pid: handle,
            start_ticks: None,
        })
    }

    fn poll(&self, pid: u32) -> Poll {
        let answered = self.refresh(false);
        self.status(pid, answered)
    }

    fn is_running(&self, pid: u32) -> bool {
        matches!(self.poll(pid), Poll::Running)
    }

    fn is_same_process(&self, pid: u32, _start_ticks: Option<u64>, worker_id: &str) -> bool {
        self.refresh(false);
        let live = self
            .state()
            .listed
            .get(&pid)
            .filter(|l| l.worker == worker_id)
            .map(|l| l.live);
        match live {
            Some(true) => {
                self.adopt(pid);
                true
            }
            Some(false) => {
                // It ended while no owner followed its log: the rest of the
                // log is taken in first, so what settles it reads all of it.
                self.adopt(pid);
                let done = self.state().tracked.get(&pid).map(|t| t.done.clone());
                if let Some(done) = done {
                    let deadline = Instant::now() + DRAIN_LIMIT;
                    while !done.load(Ordering::SeqCst) && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                false
            }
            None => false,
        }
    }

    fn signal(&self, pid: u32, signal: Signal) {
        let name = {
            let st = self.state();
            st.tracked
                .get(&pid)
                .map(|t| t.name.clone())
                .or_else(|| st.listed.get(&pid).map(|l| l.name.clone()))
        };
        if let Some(name) = name {
            self.delete(&name, pid, signal == Signal::Kill);
        }
    }

    fn running(&self, worker_id: &str, attempt: Option<u32>) -> Vec<u32> {
        self.refresh(true);
        let st = self.state();
        let mut ids: Vec<u32> = st
            .listed
            .iter()
            .filter(|(_, l)| l.live && l.worker == worker_id)
            .filter(|(_, l)| attempt.is_none() || l.attempt == attempt)
            .map(|(h, _)| *h)
            .collect();
        ids.sort_unstable();
        ids
    }

    fn sweep(&self, worker_id: &str, attempt: Option<u32>) -> usize {
        let ids = self.running(worker_id, attempt);
        for h in &ids {
            self.signal(*h, Signal::Kill);
        }
        ids.len()
    }

    fn sample(&self) -> ProcessTable {
        let answered = self.refresh(false);
        let handles: Vec<u32> = {
            let mut st = self.state();
            // Forgotten a while after their end was read, or once lost (its
            // pump ended and the attempt was said to have ended unknown).
            st.tracked.retain(|_, t| {
                let lost = t.stop.load(Ordering::SeqCst) && t.done.load(Ordering::SeqCst);
                !lost
                    && t.report
                        .ended_seen
                        .is_none_or(|s| s.elapsed() < FORGET_ENDED_AFTER)
            });
            st.tracked.keys().copied().collect()
        };
        let rows: Vec<(u32, u64, bool)> = handles
            .into_iter()
            .map(|h| {
                let live = matches!(self.status(h, answered), Poll::Running);
                let ticks = self
                    .state()
                    .tracked
                    .get(&h)
                    .map_or(0, |t| t.report.cpu_ticks);
                (h, ticks, live)
            })
            .collect();
        ProcessTable::of(rows)
    }

    fn ticks_per_second(&self) -> u64 {
        self.state().ticks_per_second.unwrap_or(100)
    }

    fn open_output(&self, path: &Path) -> Option<Box<dyn OutputSource>> {
        super::LocalLauncher.open_output(path)
    }

    fn write_stdin(&self, _fifo: &Path, _line: &str) -> std::io::Result<()> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "a message cannot reach an agent in a Kubernetes pod",
        ))
    }

    fn delivers_stdin(&self) -> bool {
        false
    }

    fn extend_deadline(&self, pid: u32, secs: u64) {
        self.refresh(false);
        let Some((name, Some(deadline))) = self
            .state()
            .listed
            .get(&pid)
            .map(|l| (l.name.clone(), l.deadline))
        else {
            return;
        };
        let moved = deadline.saturating_add(secs);
        let done = self.cluster.set_deadline(&name, moved);
        match done {
            Ok(()) => {
                if let Some(l) = self.state().listed.get_mut(&pid) {
                    l.deadline = Some(moved);
                }
            }
            Err(e) => tracing::warn!(handle = pid, "{e}"),
        }
    }

    fn process_name(&self, pid: u32) -> String {
        match self.state().listed.get(&pid) {
            Some(l) => format!("Kubernetes Job {}", l.name),
            None => format!("Kubernetes Job #{pid}"),
        }
    }

    fn unreachable(&self) -> Option<String> {
        self.refresh(false);
        self.state()
            .list_error
            .as_ref()
            .map(|e| format!("the Kubernetes cluster cannot be listed: {e}"))
    }

    fn queued(&self, pid: u32) -> bool {
        self.refresh(false);
        let st = self.state();
        let started = st
            .tracked
            .get(&pid)
            .is_some_and(|t| t.report.started || t.report.ended.is_some());
        !started && st.listed.get(&pid).is_some_and(|l| l.live && l.pending)
    }

    fn never_ran(&self, pid: u32) -> bool {
        let st = self.state();
        st.tracked.get(&pid).is_some_and(|t| !t.report.started)
    }

    fn output_is_the_agents(&self) -> bool {
        // The owner copies a pod's log into the file: its time is the
        // owner's last copy, not the pod's last line.
        false
    }

    fn describe(&self) -> String {
        format!(
            "Kubernetes Jobs named {}<worker>-a<N> (image {}); processes are contained and ended by the cluster",
            self.prefix, self.config.image
        )
    }

    fn prune(&self) {
        // Called once when an owner starts: this launcher pumps from now on.
        self.state().owner = true;
    }
}
