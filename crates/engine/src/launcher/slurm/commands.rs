//! Running Slurm's client commands (with `SLURM_CONF` and a time limit),
//! submitting with `sbatch`, and the JWT slurmrestd takes.
//!
//! May depend on: the launcher (`super`).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Launch, SlurmLauncher, SpawnError, COMMAND_LIMIT};

impl SlurmLauncher {
    /// Runs a Slurm client command with a time limit; its stdout, or why
    /// it failed (its stderr's last line, or that it timed out).
    pub(super) fn slurm(&self, program: &str, args: &[String]) -> Result<String, String> {
        if let Some(conf) = self
            .config
            .conf
            .as_deref()
            .filter(|c| !Path::new(c).is_file())
        {
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
        if let Some(conf) = &self.config.conf {
            c.env("SLURM_CONF", conf);
        }
        let mut child = c.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("`{program}` was not found: Slurm's client commands must be on PATH")
            } else {
                format!("cannot run `{program}`: {e}")
            }
        })?;
        let deadline = Instant::now() + COMMAND_LIMIT;
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
                        "`{program}` did not answer within {} s: is the cluster's controller reachable?",
                        COMMAND_LIMIT.as_secs()
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
