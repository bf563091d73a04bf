//! Running Slurm's client commands (with `SLURM_CONF` and a time limit),
//! submitting with `sbatch`, and the JWT slurmrestd takes.
//!
//! May depend on: the launcher (`super`).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Launch, SlurmLauncher, SpawnError};

/// How a command that ran out of its time limit is said: the controller
/// did not answer it.
const NO_ANSWER: &str = "did not answer within";

/// Whether a command's failure is that it was not answered in time.
pub(super) fn unanswered(error: &str) -> bool {
    error.contains(NO_ANSWER)
}

/// Where Slurm's client commands are found and how long each may take.
#[derive(Debug, Clone)]
pub(super) struct Runner {
    /// `SLURM_CONF` for the commands, when the configuration names one.
    pub(super) conf: Option<String>,
    /// How long one command may take.
    pub(super) limit: Duration,
    /// A `PATH` for the commands other than the owner's (tests).
    pub(super) path: Option<std::ffi::OsString>,
}

impl Runner {
    /// Runs a Slurm client command with the time limit; its stdout, or why
    /// it failed (its stderr's last line, or that it timed out).
    pub(super) fn run(&self, program: &str, args: &[String]) -> Result<String, String> {
        if let Some(conf) = self.conf.as_deref().filter(|c| !Path::new(c).is_file()) {
            // Slurm's commands would wait for a controller they cannot name.
            return Err(format!(
                "launcher.slurm.conf: {conf} is not a file, expected the cluster's slurm.conf"
            ));
        }
        let mut c = Command::new(program);
        c.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(conf) = &self.conf {
            c.env("SLURM_CONF", conf);
        }
        if let Some(path) = &self.path {
            c.env("PATH", path);
        }
        let mut child = c.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("`{program}` was not found: Slurm's client commands must be on PATH")
            } else {
                format!("cannot run `{program}`: {e}")
            }
        })?;
        let deadline = Instant::now() + self.limit;
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "`{program}` {NO_ANSWER} {} s: is the cluster's controller reachable?",
                        self.limit.as_secs()
                    ));
                }
                Err(e) => return Err(format!("cannot wait for `{program}`: {e}")),
            }
        };
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut o) = child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        if status.success() {
            Ok(out)
        } else {
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            Err(format!("`{program}` failed ({status}): {last}"))
        }
    }
}

impl SlurmLauncher {
    /// Runs a Slurm client command (see `Runner::run`). Once one went
    /// unanswered, the others are not run until the queue, asked in the
    /// background (`squeue_in_background`), answers again: an unreachable
    /// controller costs the owner's loop one time limit, not one per
    /// command (a cancel not made is sent again while its job is there; a
    /// submission not made waits for the cluster).
    pub(super) fn slurm(&self, program: &str, args: &[String]) -> Result<String, String> {
        if self.rest.is_none() {
            if let Some(why) = self.state().down.clone() {
                return Err(format!(
                    "`{program}` not run while the cluster's controller does not answer ({why})"
                ));
            }
        }
        let out = self.runner.run(program, args);
        if let Err(e) = &out {
            if unanswered(e) && self.rest.is_none() {
                self.state().down = Some(e.clone());
            }
        }
        out
    }

    /// `squeue` with `args` while the controller does not answer: run in a
    /// thread of its own, its answer taken by a later call once it came;
    /// meanwhile why the controller is taken for down.
    pub(super) fn squeue_in_background(&self, args: &[String]) -> Result<String, String> {
        let mut st = self.state();
        let why = st.down.clone().unwrap_or_default();
        match st.probe.take() {
            Some(probe) if probe.is_finished() => {
                let answer = probe
                    .join()
                    .unwrap_or_else(|_| Err("the queue's reader failed".into()));
                match &answer {
                    Ok(_) => st.down = None,
                    Err(e) => st.down = Some(e.clone()),
                }
                answer
            }
            Some(probe) => {
                st.probe = Some(probe);
                Err(why)
            }
            None => {
                let (runner, args) = (self.runner.clone(), args.to_vec());
                st.probe = Some(std::thread::spawn(move || runner.run("squeue", &args)));
                Err(why)
            }
        }
    }

    /// Turns requeueing off for a job submitted through slurmrestd, whose
    /// job description (API v0.0.38, Slurm 22.05) drops `"requeue": false`:
    /// a job Slurm requeued would run the attempt twice, and Cortex alone
    /// decides retries. A job that cannot be changed is cancelled.
    pub(super) fn no_requeue(&self, id: u32) -> Result<(), String> {
        let args = vec![
            "update".to_string(),
            format!("JobId={id}"),
            "Requeue=0".into(),
        ];
        self.slurm("scontrol", &args).map(|_| ()).map_err(|e| {
            self.cancel(id, None);
            format!("job {id} was submitted but its requeueing could not be turned off ({e}); it was cancelled")
        })
    }

    /// The JWT slurmrestd takes: `SLURM_JWT` when set, else one from
    /// `scontrol token`, made again after half its hour.
    pub(super) fn rest_token(&self) -> Result<String, String> {
        if let Some(t) = std::env::var("SLURM_JWT").ok().filter(|t| !t.is_empty()) {
            return Ok(t);
        }
        if let Some((t, made)) = &self.state().token {
            if made.elapsed() < Duration::from_secs(1800) {
                return Ok(t.clone());
            }
        }
        let mut args = vec!["token".to_string(), "lifespan=3600".into()];
        if let Some(u) = self.config.rest.as_ref().and_then(|r| r.user.as_ref()) {
            args.push(format!("username={u}"));
        }
        let out = self.slurm("scontrol", &args)?;
        let token = out
            .lines()
            .find_map(|l| l.trim().strip_prefix("SLURM_JWT="))
            .map(str::to_string)
            .ok_or_else(|| {
                "scontrol token gave no SLURM_JWT (does the cluster have AuthAltTypes=auth/jwt?)"
                    .to_string()
            })?;
        self.state().token = Some((token.clone(), Instant::now()));
        Ok(token)
    }

    /// Submits `script` with `sbatch`; the job's id.
    pub(super) fn sbatch(
        &self,
        name: &str,
        comment: &str,
        output: &str,
        launch: &Launch,
        script: &Path,
    ) -> Result<u32, SpawnError> {
        let mut args = vec![
            "--parsable".to_string(),
            format!("--job-name={name}"),
            format!("--comment={comment}"),
            format!("--output={output}"),
            format!("--chdir={}", launch.cwd.display()),
            "--no-requeue".into(),
        ];
        if let Some(p) = &self.config.partition {
            args.push(format!("--partition={p}"));
        }
        args.extend(self.config.sbatch_args.iter().cloned());
        args.push(script.display().to_string());
        let out = self.slurm("sbatch", &args).map_err(SpawnError)?;
        out.trim()
            .split(';')
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| SpawnError(format!("sbatch answered {out:?}, expected a job id")))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Launcher, Poll, Signal};
    use super::*;
    use cortex_core::config::SlurmConfig;
    use std::os::unix::fs::PermissionsExt;

    /// A client command that answers only once `up` exists, else waits
    /// (as for a controller that does not answer).
    fn program(dir: &Path, name: &str, answer: &str) {
        let up = dir.join("up");
        let text = format!(
            "#!/bin/sh\nif [ -e '{}' ]; then printf '%s\\n' '{answer}'; exit 0; fi\nexec sleep 30\n",
            up.display()
        );
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn a_controller_that_does_not_answer_costs_one_time_limit_not_one_per_command() {
        let d = tempfile::tempdir().unwrap();
        let conf = d.path().join("slurm.conf");
        std::fs::write(&conf, "").unwrap();
        let mut l = SlurmLauncher::new(
            d.path(),
            SlurmConfig {
                conf: Some(conf.display().to_string()),
                queue_poll_secs: 1,
                ..SlurmConfig::default()
            },
            "cortex".into(),
        );
        let job = format!("{}w-1-a1", l.prefix);
        program(
            d.path(),
            "squeue",
            &format!("5|{job}|RUNNING|None|/x.job.sh"),
        );
        program(d.path(), "scancel", "");
        l.runner.limit = Duration::from_secs(1);
        let mut path = d.path().as_os_str().to_owned();
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        l.runner.path = Some(path);
        // The first question goes unanswered, within its limit.
        let why = l.unreachable().expect("the queue does not answer");
        assert!(unanswered(&why), "{why}");
        // Meanwhile a kill, the queue asked again (a signal makes it due)
        // and a poll wait for no other time limit: the owner's loop goes on.
        let started = Instant::now();
        l.signal(5, Signal::Kill);
        assert!(l.unreachable().is_some());
        assert!(matches!(l.poll(5), Poll::Running));
        l.signal(5, Signal::Term);
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(1800),
            "the loop waited {took:?} on a controller that does not answer"
        );
        // It answers again: found out in the background, and the job is seen.
        std::fs::write(d.path().join("up"), "").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while l.unreachable().is_some() {
            assert!(Instant::now() < deadline, "the queue never answered again");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(l.is_same_process(5, None, "w-1"));
    }
}
