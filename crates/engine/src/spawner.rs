//! Starting agent processes detached, and stopping them completely.
//!
//! Each attempt runs in its own session and process group (`setsid`), with
//! stdout and stderr in files, so it survives the engine quitting or
//! crashing and can be re-adopted. Stopping: SIGTERM to the group, a grace
//! period, SIGKILL to the group, then a sweep for processes that carry the
//! worker's environment tag but left the group (Claude Code's Bash tool
//! starts its children in a session of their own).

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Everything needed to start one attempt.
#[derive(Debug, Clone)]
pub struct Launch {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    /// Stdin from this FIFO (created here), for agents that read messages
    /// on stdin. The agent holds it open read-write, so it never sees EOF
    /// and the FIFO outlives the engine: anyone may write a message later.
    pub stdin_fifo: Option<PathBuf>,
}

/// Creates a FIFO (mode 0600) and opens it read-write for a child's stdin.
fn fifo_stdin(path: &std::path::Path) -> Result<File, SpawnError> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| SpawnError(format!("bad FIFO path {}", path.display())))?;
    // SAFETY: mkfifo with a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(SpawnError(format!("cannot create {}: {e}", path.display())));
        }
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| SpawnError(format!("cannot open {}: {e}", path.display())))
}

/// Writes one line to an agent's stdin FIFO without blocking. Fails if no
/// agent holds it open (the attempt is gone).
pub fn write_fifo_line(path: &std::path::Path, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let mut bytes = line.as_bytes().to_vec();
    bytes.push(b'\n');
    f.write_all(&bytes)
}

/// Why an attempt could not start, said plainly.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SpawnError(pub String);

/// Starts the process in a new session. The argv is passed as is: nothing
/// goes through a shell.
pub fn spawn(l: &Launch) -> Result<Child, SpawnError> {
    let (program, args) = l
        .argv
        .split_first()
        .ok_or_else(|| SpawnError("the agent command is empty".into()))?;
    let out = File::create(&l.stdout)
        .map_err(|e| SpawnError(format!("cannot create {}: {e}", l.stdout.display())))?;
    let err = File::create(&l.stderr)
        .map_err(|e| SpawnError(format!("cannot create {}: {e}", l.stderr.display())))?;
    if !l.cwd.is_dir() {
        return Err(SpawnError(format!(
            "the workdir {} does not exist",
            l.cwd.display()
        )));
    }
    let stdin = match &l.stdin_fifo {
        Some(p) => Stdio::from(fifo_stdin(p)?),
        None => Stdio::null(),
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(&l.cwd)
        .envs(l.env.iter().map(|(k, v)| (k, v)))
        .stdin(stdin)
        .stdout(out)
        .stderr(err);
    // SAFETY: setsid is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            SpawnError(format!(
                "agent command `{program}` was not found (set agent.command in config.json or CORTEX_AGENT_COMMAND)"
            ))
        } else {
            SpawnError(format!("cannot start `{program}`: {e}"))
        }
    })
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) with a pid we started (or the group it leads).
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Sends `sig` to the process group led by `pid` (the attempt's session).
pub fn signal_group(pid: u32, sig: i32) {
    if let Ok(p) = i32::try_from(pid) {
        if p > 0 {
            signal(-p, sig);
            signal(p, sig);
        }
    }
}

/// SIGKILLs every process still carrying the worker's tag. Returns how many.
pub fn sweep(worker_id: &str) -> usize {
    let pids = crate::procfs::tagged(worker_id);
    for &p in &pids {
        if let Ok(p) = i32::try_from(p) {
            signal(p, libc::SIGKILL);
        }
    }
    pids.len()
}
