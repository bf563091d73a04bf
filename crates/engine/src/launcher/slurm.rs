//! The Slurm launcher: each attempt is one batch job of a Slurm cluster
//! whose nodes share the coordination home's filesystem.
//!
//! Theory of operation: `launch` writes the attempt's `Launch` as a spec
//! file beside its output, and a two-line batch script that execs
//! `cortex agent-shim --spec FILE` (the task's text is never in the script:
//! only paths Cortex made); `sbatch` submits it with the job name
//! `cortex-<home>-<worker>-a<N>`, a comment naming home, worker and attempt,
//! and `--no-requeue` (Cortex alone decides retries). The job id stands for
//! the pid everywhere the engine names a process. The shim runs the agent
//! on the node and writes the agent's output where a local agent's goes,
//! and its start, CPU samples and end to `shim.jsonl`, which this launcher
//! reads incrementally: an end is known as soon as the shim writes it, and
//! CPU time reaches the PM as for a local process. The queue (`squeue`) is
//! asked at most every `queue_poll_secs` which of this home's jobs still
//! exist: a job gone from it without an end in its report was lost
//! (cancelled behind Cortex's back, its node gone) and ends as unknown.
//! Stopping is `scancel --signal=TERM --full` (the shim passes it to the
//! agent's process group), then `scancel --signal=KILL --full` and
//! `scancel`: the cluster's process tracking (cgroups) ends everything the
//! job started, `setsid` children included.
//!
//! With `launcher.slurm.rest`, submitting, cancelling and the queue go
//! through slurmrestd instead (`rest`), the same job description as JSON,
//! authenticated with a JWT from `scontrol token`.
//!
//! Every Slurm command runs with a fixed argument list (no shell) and a
//! time limit; once one goes unanswered the others are not run, and the
//! queue is asked in the background until it answers (`commands`), so an
//! unreachable controller delays the owner by one limit, is reported, and
//! is never mistaken for a hang of the agent.
//!
//! May depend on: the launcher trait (`super`), the shim, spawner.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cortex_core::config::SlurmConfig;
use cortex_core::stream::Exit;

use super::shim::{ReportState, ShimSpec};

mod commands;
mod queue;
mod rest;

use super::{
    write_private, Launch, Launcher, OutputSource, Poll, ProcessTable, Signal, SpawnError, Started,
};
use queue::{
    already_gone, duplicates, is_live, is_suspended, parse_queue, report_of_script,
    suspended_words, Queued,
};

/// How long a job's end is remembered after it was read (the engine
/// settles an attempt within seconds of its end).
const FORGET_ENDED_AFTER: Duration = Duration::from_secs(600);

/// How long one Slurm command may take before it is given up.
const COMMAND_LIMIT: Duration = Duration::from_secs(10);

/// What this launcher knows of one job: what its shim reported.
type Job = ReportState;

#[derive(Debug, Default)]
struct State {
    jobs: HashMap<u32, Job>,
    queue: HashMap<u32, Queued>,
    queue_read: Option<Instant>,
    /// Why the last queue read failed, said once until it works again.
    queue_error: Option<String>,
    /// Why the controller is taken for down (a command it did not answer),
    /// until the queue, asked in the background, answers again.
    down: Option<String>,
    /// That question to the queue, while it runs.
    probe: Option<std::thread::JoinHandle<Result<String, String>>>,
    /// The JWT for slurmrestd, and when it was made.
    token: Option<(String, Instant)>,
    ticks_per_second: Option<u64>,
}

/// Runs attempts as jobs of a Slurm cluster (see the module doc).
#[derive(Debug)]
pub struct SlurmLauncher {
    /// `cortex-<home id>-`: the start of every job name of this home.
    prefix: String,
    config: SlurmConfig,
    /// The program that runs `agent-shim` (the `cortex` binary).
    shim_program: PathBuf,
    /// slurmrestd, when the configuration names it.
    rest: Option<rest::Client>,
    /// How Slurm's client commands are run.
    runner: commands::Runner,
    state: Mutex<State>,
}

/// A short, stable id of a home: its path's hash, in hex.
pub fn home_id(home: &Path) -> String {
    // FNV-1a over the path's bytes: stable across builds and machines.
    use std::os::unix::ffi::OsStrExt;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in home.as_os_str().as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", h & 0xffff_ffff)
}

/// The job name of a worker's attempt (or its check).
pub fn job_name(prefix: &str, worker_id: &str, attempt: Option<u32>) -> String {
    match attempt {
        Some(n) => format!("{prefix}{worker_id}-a{n}"),
        None => format!("{prefix}{worker_id}-check"),
    }
}

/// Quotes a path for `sh` (single quotes; a quote inside is closed,
/// escaped and reopened). Only paths Cortex made pass through it.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The `cortex` binary that runs the shim: this one when it is `cortex`,
/// else a `cortex` beside it (the desktop app ships one), else `cortex`
/// from PATH on the node.
pub fn default_shim_program() -> PathBuf {
    let exe = std::env::current_exe().ok();
    if let Some(e) = &exe {
        if e.file_name().is_some_and(|n| n == "cortex") {
            return e.clone();
        }
        if let Some(beside) = e.parent().map(|d| d.join("cortex")) {
            if beside.is_file() {
                return beside;
            }
        }
    }
    PathBuf::from("cortex")
}

impl SlurmLauncher {
    /// A launcher for the home at `home`.
    pub fn new(home: &Path, config: SlurmConfig, shim_program: PathBuf) -> Self {
        Self {
            prefix: format!("cortex-{}-", home_id(home)),
            rest: config.rest.as_ref().map(rest::Client::new),
            runner: commands::Runner {
                conf: config.conf.clone(),
                limit: COMMAND_LIMIT,
                path: None,
            },
            config,
            shim_program,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads this home's jobs from the queue when the last reading is older
    /// than `queue_poll_secs` (or `now`); false when the queue could not be
    /// read (what was last read stays).
    fn refresh_queue(&self, force: bool) -> bool {
        let every = Duration::from_secs(self.config.queue_poll_secs.max(1));
        {
            let st = self.state();
            if !force && st.queue_read.is_some_and(|t| t.elapsed() < every) {
                return st.queue_error.is_none();
            }
        }
        let read = match &self.rest {
            Some(c) => self.rest_token().and_then(|t| c.queue(&t, &self.prefix)),
            None => {
                let args: Vec<String> = ["--me", "-h", "-o", "%i|%j|%T|%r|%o"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                let down = self.state().down.is_some();
                if down {
                    self.squeue_in_background(&args)
                } else {
                    self.slurm("squeue", &args)
                }
                .map(|text| parse_queue(&text, &self.prefix))
            }
        };
        let mut st = self.state();
        st.queue_read = Some(Instant::now());
        match read {
            Ok(queue) => {
                st.queue = queue;
                if st.queue_error.take().is_some() {
                    tracing::info!("the Slurm queue answers again");
                }
                let extra = duplicates(&st.queue, |id| st.jobs.contains_key(&id));
                drop(st);
                for id in extra {
                    tracing::warn!(
                        job = id,
                        "cancelled a second job of one attempt (a submission taken after it went unanswered)"
                    );
                    self.kill_job(id);
                }
                true
            }
            Err(e) => {
                if st.queue_error.as_deref() != Some(e.as_str()) {
                    tracing::warn!("cannot read the Slurm queue: {e}");
                }
                st.queue_error = Some(e);
                false
            }
        }
    }

    /// The job `id`, known to this launcher or found in the queue (a job an
    /// earlier owner started), with its report read up to now.
    fn with_job<T>(&self, id: u32, f: impl FnOnce(Option<&Job>, Option<&Queued>) -> T) -> T {
        let mut st = self.state();
        let st = &mut *st;
        if !st.jobs.contains_key(&id) {
            if let Some(q) = st.queue.get(&id) {
                if let Some(report) = report_of_script(&q.command) {
                    st.jobs.insert(id, Job::new(report));
                }
            }
        }
        if let Some(job) = st.jobs.get_mut(&id) {
            if job.ended.is_none() {
                job.read(&mut st.ticks_per_second);
            }
        }
        f(st.jobs.get(&id), st.queue.get(&id))
    }

    /// SIGKILL to every process of the job, then the job cancelled (a
    /// job still pending has no process to signal).
    fn kill_job(&self, id: u32) {
        self.cancel(id, Some("KILL"));
        self.cancel(id, None);
    }

    fn cancel(&self, id: u32, signal: Option<&str>) {
        let (how, done) = match &self.rest {
            Some(c) => (
                "cancelling through slurmrestd",
                self.rest_token().and_then(|t| c.cancel(&t, id, signal)),
            ),
            None => {
                let mut args = Vec::new();
                if let Some(s) = signal {
                    args.push(format!("--signal={s}"));
                    args.push("--full".into());
                }
                args.push(id.to_string());
                ("scancel", self.slurm("scancel", &args).map(|_| ()))
            }
        };
        match done {
            Ok(()) => {}
            // A job that has already left the queue has nothing left to stop.
            Err(e) if already_gone(&e) => {
                tracing::debug!(job = id, "already gone from the queue: {e}");
            }
            Err(e) => tracing::warn!(job = id, "{how} failed: {e}"),
        }
    }

    /// Whether the cluster answers: the partition's state, or why not.
    pub fn check(&self) -> Result<String, String> {
        if let Some(c) = &self.rest {
            return self
                .rest_token()
                .and_then(|t| c.check(&t, self.config.partition.as_deref()));
        }
        // Workers are submitted with sbatch and followed with squeue and
        // scancel: all must be there, not only the one asked here.
        let path = std::env::var_os("PATH");
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        for program in ["sbatch", "squeue", "scancel"] {
            if crate::spawner::program_at(program, path.as_deref(), &cwd).is_err() {
                return Err(format!(
                    "`{program}` was not found on PATH: Slurm's client commands must be on PATH"
                ));
            }
        }
        let mut args = vec!["-h".to_string(), "-o".into(), "%P %a %D %T".into()];
        if let Some(p) = &self.config.partition {
            args.push("-p".into());
            args.push(p.clone());
        }
        let out = self.slurm("sinfo", &args)?;
        let line = out.lines().next().unwrap_or("").trim().to_string();
        if line.is_empty() {
            return Err(match &self.config.partition {
                Some(p) => format!(
                    "the cluster answers, but has no partition `{p}` (launcher.slurm.partition)"
                ),
                None => "the cluster answers, but has no default partition: set launcher.slurm.partition".into(),
            });
        }
        // `%a`: a partition that is not up takes jobs that never start.
        let mut fields = line.split_whitespace();
        if let (Some(name), Some(avail)) = (fields.next(), fields.next()) {
            if avail != "up" {
                return Err(format!(
                    "the cluster answers, but partition {} is {avail}: its jobs wait until it is up",
                    name.trim_end_matches('*')
                ));
            }
        }
        Ok(line)
    }
}

impl Launcher for SlurmLauncher {
    fn launch(
        &self,
        launch: &Launch,
        worker_id: &str,
        attempt: Option<u32>,
    ) -> Result<Started, SpawnError> {
        let base = super::output_base(launch)?;
        let spec_path = PathBuf::from(format!("{}.job.json", base.display()));
        let script = PathBuf::from(format!("{}.job.sh", base.display()));
        let report = PathBuf::from(format!("{}.shim.jsonl", base.display()));
        let spec = ShimSpec {
            launch: launch.clone(),
            sample_secs: self.config.sample_secs,
            report: report.clone(),
            pod: None,
        };
        let body = serde_json::to_vec(&spec).map_err(|e| SpawnError(e.to_string()))?;
        write_private(&spec_path, &body, 0o600)?;
        let _ = std::fs::remove_file(&report);
        let text = format!(
            "#!/bin/sh\nexec {} agent-shim --spec {}\n",
            sh_quote(&self.shim_program.display().to_string()),
            sh_quote(&spec_path.display().to_string())
        );
        write_private(&script, text.as_bytes(), 0o700)?;
        let name = job_name(&self.prefix, worker_id, attempt);
        let comment = format!(
            "cortex home={} worker={worker_id} attempt={}",
            self.prefix.trim_end_matches('-'),
            attempt.map_or("check".to_string(), |n| n.to_string())
        );
        let output = format!("{}.slurm.out", base.display());
        // Made here, private: Slurm writes into a file that exists without
        // changing its mode, so the job's umask (which the agent's own work
        // keeps) does not make it readable to others.
        crate::files::create(Path::new(&output))
            .map_err(|e| SpawnError(format!("cannot create {output}: {e}")))?;
        let id = match &self.rest {
            Some(c) => {
                let id = self
                    .rest_token()
                    .and_then(|t| {
                        c.submit(
                            &t,
                            &rest::JobSpec {
                                name: &name,
                                comment: &comment,
                                output: &output,
                                cwd: &launch.cwd.display().to_string(),
                                partition: self.config.partition.as_deref(),
                                script: &text,
                            },
                        )
                    })
                    .map_err(SpawnError)?;
                // Known before the next call to the cluster: a look at the
                // queue meanwhile must not take it for a second job.
                self.state().jobs.insert(id, Job::new(report.clone()));
                if let Err(e) = self.no_requeue(id) {
                    self.state().jobs.remove(&id);
                    return Err(SpawnError(e));
                }
                id
            }
            None => self.sbatch(&name, &comment, &output, launch, &script)?,
        };
        let mut st = self.state();
        st.jobs.insert(id, Job::new(report));
        st.queue.insert(
            id,
            Queued {
                name,
                state: "PENDING".into(),
                command: script.display().to_string(),
                reason: String::new(),
            },
        );
        // Why it waits is the queue's to say (held, a start time...): the
        // next question reads it rather than guessing.
        st.queue_read = None;
        tracing::info!(job = id, worker_id, attempt, "submitted to Slurm");
        Ok(Started {
            pid: id,
            start_ticks: None,
        })
    }

    fn poll(&self, pid: u32) -> Poll {
        let answered = self.refresh_queue(false);
        self.with_job(pid, |job, queued| {
            if let Some(exit) = job.and_then(|j| j.ended) {
                return Poll::Exited(exit);
            }
            match queued {
                Some(q) if is_live(&q.state) => Poll::Running,
                // Not in the queue, or ended there, with no end reported:
                // lost (cancelled behind Cortex's back, node gone). Only
                // when the queue answered: an unreachable controller is
                // not an end.
                _ if answered => Poll::Exited(Exit::Unknown),
                _ => Poll::Running,
            }
        })
    }

    fn is_running(&self, pid: u32) -> bool {
        matches!(self.poll(pid), Poll::Running)
    }

    fn is_same_process(&self, pid: u32, _start_ticks: Option<u64>, worker_id: &str) -> bool {
        // A launcher made for one view or one start reads the queue once.
        if !self.refresh_queue(false) {
            // The queue does not answer: a job cannot be told gone from
            // running, so it is taken as still ours unless its own report
            // says it ended (nobody settles, starts again or sweeps a job
            // that may still run).
            return self.with_job(pid, |job, _| job.is_none_or(|j| j.ended.is_none()));
        }
        let st = self.state();
        st.queue.get(&pid).is_some_and(|q| {
            is_live(&q.state) && q.name.starts_with(&format!("{}{worker_id}-", self.prefix))
        })
    }

    fn signal(&self, pid: u32, signal: Signal) {
        match signal {
            Signal::Term => self.cancel(pid, Some("TERM")),
            Signal::Kill => self.kill_job(pid),
        }
        // The next poll asks the queue again.
        self.state().queue_read = None;
    }

    fn running(&self, worker_id: &str, attempt: Option<u32>) -> Vec<u32> {
        self.refresh_queue(true);
        let whole = attempt.map(|n| job_name(&self.prefix, worker_id, Some(n)));
        let start = format!("{}{worker_id}-", self.prefix);
        let st = self.state();
        let mut ids: Vec<u32> = st
            .queue
            .iter()
            .filter(|(_, q)| is_live(&q.state))
            .filter(|(_, q)| match &whole {
                Some(n) => &q.name == n,
                None => q.name.starts_with(&start),
            })
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        ids
    }

    fn sweep(&self, worker_id: &str, attempt: Option<u32>) -> usize {
        let ids = self.running(worker_id, attempt);
        for id in &ids {
            self.kill_job(*id);
        }
        ids.len()
    }

    fn sample(&self) -> ProcessTable {
        let answered = self.refresh_queue(false);
        let mut st = self.state();
        let st = &mut *st;
        // Jobs whose end was read long ago were settled since: forgotten,
        // so a long-running owner does not keep every job it ever ran.
        st.jobs.retain(|_, j| {
            j.ended_seen
                .is_none_or(|t| t.elapsed() < FORGET_ENDED_AFTER)
        });
        let mut rows = Vec::new();
        for (id, job) in &mut st.jobs {
            if job.ended.is_none() {
                job.read(&mut st.ticks_per_second);
            }
            let live = job.ended.is_none()
                && (!answered || st.queue.get(id).is_some_and(|q| is_live(&q.state)));
            rows.push((*id, job.cpu_ticks, live));
        }
        ProcessTable::of(rows)
    }

    fn ticks_per_second(&self) -> u64 {
        self.state().ticks_per_second.unwrap_or(100)
    }

    fn open_output(&self, path: &Path) -> Option<Box<dyn OutputSource>> {
        super::LocalLauncher.open_output(path)
    }

    fn write_stdin(&self, fifo: &Path, line: &str) -> std::io::Result<()> {
        // A FIFO on the shared filesystem reaches an agent on this machine's
        // node only; elsewhere the write fails and the caller says so.
        crate::spawner::write_fifo_line(fifo, line)
    }

    fn process_name(&self, pid: u32) -> String {
        format!("Slurm job {pid}")
    }

    fn unreachable(&self) -> Option<String> {
        // Read at most every `queue_poll_secs`, as for every other question.
        self.refresh_queue(false);
        self.state()
            .queue_error
            .as_ref()
            .map(|e| format!("the Slurm queue cannot be read: {e}"))
    }

    fn home_jobs(&self) -> Vec<(u32, String, Option<u32>)> {
        if !self.refresh_queue(true) {
            return Vec::new();
        }
        let st = self.state();
        st.queue
            .iter()
            .filter(|(_, q)| is_live(&q.state))
            .filter_map(|(id, q)| {
                let rest = q.name.strip_prefix(&self.prefix)?;
                if let Some(w) = rest.strip_suffix("-check") {
                    return Some((*id, w.to_string(), None));
                }
                let (w, n) = rest.rsplit_once("-a")?;
                Some((*id, w.to_string(), Some(n.parse().ok()?)))
            })
            .collect()
    }

    fn start_failure(&self, pid: u32) -> Option<String> {
        self.with_job(pid, |job, _| job.and_then(|j| j.failed.clone()))
    }

    fn queue_reason(&self, pid: u32) -> Option<String> {
        let st = self.state();
        st.queue
            .get(&pid)
            .map(|q| q.reason.trim().to_string())
            .filter(|r| !r.is_empty() && r != "None")
    }

    fn queued(&self, pid: u32) -> bool {
        self.refresh_queue(false);
        self.with_job(pid, |job, queued| {
            !job.is_some_and(|j| j.started || j.ended.is_some())
                && queued.is_some_and(|q| {
                    q.state.starts_with("PENDING") || q.state.starts_with("CONFIGURING")
                })
        })
    }

    fn suspended(&self, pid: u32) -> Option<String> {
        self.refresh_queue(false);
        let st = self.state();
        let q = st.queue.get(&pid).filter(|q| is_suspended(&q.state))?;
        Some(suspended_words(&q.state, &q.reason))
    }

    fn never_ran(&self, pid: u32) -> bool {
        // Its shim's report, which this launcher read since it submitted or
        // adopted the job, holds no start.
        let st = self.state();
        st.jobs.get(&pid).is_some_and(|j| !j.started)
    }

    fn describe(&self) -> String {
        format!(
            "Slurm jobs named {}<worker>-a<N>{}; processes are tracked and ended by the cluster",
            self.prefix,
            self.config
                .partition
                .as_deref()
                .map(|p| format!(" in partition {p}"))
                .unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_are_stable_and_scoped_to_the_home() {
        let a = home_id(Path::new("/srv/cortex"));
        assert_eq!(a, home_id(Path::new("/srv/cortex")));
        assert_ne!(a, home_id(Path::new("/srv/cortex2")));
        assert_eq!(a.len(), 8);
        let prefix = format!("cortex-{a}-");
        assert_eq!(
            job_name(&prefix, "w-1", Some(2)),
            format!("cortex-{a}-w-1-a2")
        );
        assert_eq!(
            job_name(&prefix, "w-1", None),
            format!("cortex-{a}-w-1-check")
        );
    }

    #[test]
    fn a_second_live_job_of_one_attempt_is_a_duplicate_of_the_known_one() {
        let q = parse_queue(
            "20|cortex-abc-w-1-a1|RUNNING|None|/a.job.sh\n\
             21|cortex-abc-w-1-a1|PENDING|None|/a.job.sh\n\
             22|cortex-abc-w-2-a1|RUNNING|None|/b.job.sh\n\
             23|cortex-abc-w-3-a1|RUNNING|None|/c.job.sh\n\
             24|cortex-abc-w-3-a1|RUNNING|None|/c.job.sh\n\
             25|cortex-abc-w-4-a2|RUNNING|None|/d.job.sh\n\
             26|cortex-abc-w-4-a2|COMPLETED|None|/d.job.sh\n",
            "cortex-abc-",
        );
        let known = [21u32, 22, 26];
        // 20 repeats the known 21; neither of w-3's is known yet (an owner
        // that has not adopted either): both stay until one is; an ended
        // job repeats nothing.
        assert_eq!(duplicates(&q, |id| known.contains(&id)), vec![20]);
    }

    #[test]
    fn the_queue_is_read_for_this_homes_jobs_only() {
        let q = parse_queue(
            "12|cortex-abc-w-1-a1|RUNNING|None|/h/workers/w-1/attempt-1/stdout.job.sh\n\
             13|cortex-other-w-1-a1|RUNNING|None|/x.job.sh\n\
             14|cortex-abc-w-2-a3|PENDING|PartitionDown|/h/workers/w-2/attempt-3/stdout.job.sh\n\
             garbage\n",
            "cortex-abc-",
        );
        assert_eq!(q.len(), 2);
        assert_eq!(q[&12].state, "RUNNING");
        assert!(is_live(&q[&14].state));
        assert_eq!(q[&14].reason, "PartitionDown");
        assert!(!is_live("COMPLETED") && !is_live("CANCELLED by 0") && !is_live("TIMEOUT"));
        assert_eq!(
            report_of_script(&q[&12].command),
            Some(PathBuf::from("/h/workers/w-1/attempt-1/stdout.shim.jsonl"))
        );
    }

    #[test]
    fn a_queue_that_cannot_be_read_makes_the_cluster_unreachable_with_slurms_reason() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("slurm.conf");
        let config = SlurmConfig {
            conf: Some(missing.display().to_string()),
            ..SlurmConfig::default()
        };
        let l = SlurmLauncher::new(d.path(), config, PathBuf::from("cortex"));
        let why = l.unreachable().expect("the queue cannot be read");
        assert!(
            why.starts_with("the Slurm queue cannot be read") && why.contains("slurm.conf"),
            "{why}"
        );
        assert_eq!(crate::launcher::LocalLauncher.unreachable(), None);
        // Nor is a job it cannot see taken for gone: a view or a start does
        // not settle, restart or sweep what may still run.
        assert!(l.is_same_process(61, None, "w-1"));
        assert!(matches!(l.poll(61), Poll::Running));
    }

    #[test]
    fn a_job_suspended_or_stopped_by_the_cluster_is_halted_not_hung() {
        assert!(is_suspended("SUSPENDED"));
        // `scancel --signal=STOP`: its resources kept, its process silent.
        assert!(is_suspended("STOPPED"));
        assert!(!is_suspended("RUNNING") && !is_suspended("PENDING"));
        assert!(suspended_words("STOPPED", "None")
            .ends_with("until it is sent SIGCONT (`scancel --signal=CONT`)"));
        assert!(suspended_words("SUSPENDED", "")
            .ends_with("until the cluster resumes it (`scontrol resume`)"));
    }

    #[test]
    fn a_job_already_gone_from_the_queue_is_told_from_a_failure_to_cancel() {
        assert!(already_gone(
            "`scancel` failed (exit status: 1): scancel: error: Kill job error on job id 7: Invalid job id specified"
        ));
        assert!(already_gone(
            "slurmrestd: Job/step already completing or completed"
        ));
        assert!(!already_gone(
            "`scancel` did not answer within 10 s: is the cluster's controller reachable?"
        ));
        assert!(!already_gone(
            "`scancel` failed (exit status: 1): scancel: error: Kill job error on job id 7: Access/permission denied"
        ));
    }

    #[test]
    fn a_path_is_quoted_for_the_script_whatever_it_holds() {
        assert_eq!(sh_quote("/a b/c"), "'/a b/c'");
        assert_eq!(sh_quote("/it's"), "'/it'\\''s'");
    }

    #[test]
    fn the_report_is_read_incrementally_and_a_torn_line_waits() {
        let d = tempfile::tempdir().unwrap();
        let report = d.path().join("stdout.shim.jsonl");
        std::fs::write(
            &report,
            "{\"started\":{\"pid\":5,\"node\":\"n1\",\"ticks_per_second\":100}}\n{\"cpu\":{\"ticks\":7}}\n{\"cpu\":",
        )
        .unwrap();
        let mut job = Job::new(report.clone());
        let mut tps = None;
        job.read(&mut tps);
        assert_eq!((job.cpu_ticks, tps, job.ended), (7, Some(100), None));
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&report)
            .unwrap();
        f.write_all(b"{\"ticks\":9}}\n{\"exited\":{\"code\":0}}\n")
            .unwrap();
        job.read(&mut tps);
        assert_eq!((job.cpu_ticks, job.ended), (9, Some(Exit::Code(0))));
    }
}
