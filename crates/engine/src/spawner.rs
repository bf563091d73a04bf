//! Starting agent processes detached, and stopping them completely.
//!
//! Each attempt runs in its own session and process group (`setsid`), with
//! stdout and stderr in files, so it survives the engine quitting or
//! crashing and can be re-adopted. Stopping: SIGTERM to the group, a grace
//! period, SIGKILL to the group, then a sweep for processes that carry the
//! worker's environment tag but left the group (Claude Code's Bash tool
//! starts its children in a session of their own).

use std::fs::File;
use std::path::PathBuf;

/// Everything needed to start one attempt.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Launch {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Variables set on top of the engine's own environment.
    pub env: Vec<(String, String)>,
    /// The folder it runs in.
    pub cwd: PathBuf,
    /// The file its stdout goes to (`stdout.jsonl`).
    pub stdout: PathBuf,
    /// The file its stderr goes to (`stderr.log`).
    pub stderr: PathBuf,
    /// Stdin from this FIFO (created here), for agents that read messages
    /// on stdin. The agent holds it open read-write, so it never sees EOF
    /// and the FIFO outlives the engine: anyone may write a message later.
    pub stdin_fifo: Option<PathBuf>,
    /// Otherwise stdin from this file (the prompt), else /dev/null.
    pub stdin_file: Option<PathBuf>,
    /// Seconds the worker may still run (its time limit and extensions):
    /// a cluster's own deadline for the job, behind Cortex's. Unset, none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_secs: Option<u64>,
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

/// True when a start failed only for want of disk space (ENOSPC, EDQUOT),
/// as the I/O error's text says: it may succeed once space is freed.
pub fn is_disk_full(e: &SpawnError) -> bool {
    let full = |code: i32| e.0.contains(&format!("(os error {code})"));
    full(libc::ENOSPC) || full(libc::EDQUOT)
}

/// A started attempt's process, owned by the engine that started it: it
/// is reaped here, by pid.
#[derive(Debug)]
pub struct Spawned {
    pid: u32,
    status: Option<std::process::ExitStatus>,
}

impl Spawned {
    /// The process's pid (also its process group's id).
    pub fn id(&self) -> u32 {
        self.pid
    }

    /// The exit status once the process has ended, without blocking.
    pub fn try_wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        let status = try_wait_pid(self.pid)?;
        self.status = status;
        Ok(status)
    }
}

/// The exit status of our child `pid` once it has ended, without blocking
/// (it is reaped then: a second call is an error).
pub fn try_wait_pid(pid: u32) -> std::io::Result<Option<std::process::ExitStatus>> {
    use std::os::unix::process::ExitStatusExt;
    let pid = i32::try_from(pid).map_err(|_| std::io::Error::other("bad pid"))?;
    let mut raw: libc::c_int = 0;
    // SAFETY: waitpid on our own child with a valid status pointer.
    let r = unsafe { libc::waitpid(pid, &mut raw, libc::WNOHANG) };
    match r {
        0 => Ok(None),
        r if r == pid => Ok(Some(std::process::ExitStatus::from_raw(raw))),
        _ => Err(std::io::Error::last_os_error()),
    }
}

fn not_found(program: &str) -> SpawnError {
    SpawnError(format!(
        "agent command `{program}` was not found (set agent.command in config.json or CORTEX_AGENT_COMMAND)"
    ))
}

/// Starts the process in a new session and process group. The argv is
/// passed as is: nothing goes through a shell.
pub fn spawn(l: &Launch) -> Result<Spawned, SpawnError> {
    let (program, _) = l
        .argv
        .split_first()
        .ok_or_else(|| SpawnError("the agent command is empty".into()))?;
    if !l.cwd.is_dir() {
        return Err(SpawnError(format!(
            "the workdir {} does not exist",
            l.cwd.display()
        )));
    }
    let out = crate::files::create_appending(&l.stdout)
        .map_err(|e| SpawnError(format!("cannot create {}: {e}", l.stdout.display())))?;
    // One file for both when they are the same path (a check's log).
    let err = if l.stderr == l.stdout {
        out.try_clone()
    } else {
        crate::files::create_appending(&l.stderr)
    }
    .map_err(|e| SpawnError(format!("cannot create {}: {e}", l.stderr.display())))?;
    let stdin = match (&l.stdin_fifo, &l.stdin_file) {
        (Some(p), _) => Some(fifo_stdin(p)?),
        (None, Some(p)) => Some(
            File::open(p).map_err(|e| SpawnError(format!("cannot open {}: {e}", p.display())))?,
        ),
        (None, None) => None,
    };
    start(l, program, Streams { out, err, stdin })
}

/// The files an agent's stdin, stdout and stderr are connected to.
struct Streams {
    out: File,
    err: File,
    stdin: Option<File>,
}

/// Linux: `posix_spawn` with `POSIX_SPAWN_SETSID`. glibc starts the child
/// with `CLONE_VFORK`, so the engine's memory is not copied for every
/// attempt, which a fork would do (the cost of starting many workers at
/// once), and an exec failure is reported by the call itself.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn start(l: &Launch, program: &str, io: Streams) -> Result<Spawned, SpawnError> {
    let Streams { out, err, stdin } = io;
    use std::ffi::{CString, OsString};
    use std::os::fd::AsRawFd;
    use std::os::unix::ffi::{OsStrExt, OsStringExt};

    let cstr = |b: &[u8], what: &str| {
        CString::new(b).map_err(|_| SpawnError(format!("{what} contains a NUL byte")))
    };
    // The child's environment: the engine's, then the launch's on top.
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !l.env.iter().any(|(lk, _)| k.as_bytes() == lk.as_bytes()))
        .collect();
    env.extend(l.env.iter().map(|(k, v)| (k.into(), v.into())));
    let path_var = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone());
    let exe = program_at(program, path_var.as_deref(), &l.cwd).map_err(|why| {
        SpawnError(format!(
            "agent command: {why} (set agent.command in config.json or CORTEX_AGENT_COMMAND)"
        ))
    })?;
    let exe = cstr(exe.as_os_str().as_bytes(), "the agent command")?;
    let args = l
        .argv
        .iter()
        .map(|a| cstr(a.as_bytes(), "an agent argument"))
        .collect::<Result<Vec<_>, _>>()?;
    let envs = env
        .into_iter()
        .map(|(mut k, v)| {
            k.push("=");
            k.push(v);
            cstr(&k.into_vec(), "an environment variable")
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cwd = cstr(l.cwd.as_os_str().as_bytes(), "the workdir")?;
    let dev_null = cstr(b"/dev/null", "a path")?;
    let mut argv: Vec<*mut libc::c_char> = args.iter().map(|a| a.as_ptr().cast_mut()).collect();
    argv.push(std::ptr::null_mut());
    let mut envp: Vec<*mut libc::c_char> = envs.iter().map(|a| a.as_ptr().cast_mut()).collect();
    envp.push(std::ptr::null_mut());

    let fail = |what: &str, rc: libc::c_int| {
        SpawnError(format!(
            "cannot start `{program}`: {what}: {}",
            std::io::Error::from_raw_os_error(rc)
        ))
    };
    // SAFETY: every pointer handed to the posix_spawn family points into a
    // CString or Vec above that outlives the call; the attribute and file
    // action objects are initialised before use and destroyed after.
    unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        let rc = libc::posix_spawn_file_actions_init(&mut actions);
        if rc != 0 {
            return Err(fail("file actions", rc));
        }
        let rc = libc::posix_spawnattr_init(&mut attr);
        if rc != 0 {
            libc::posix_spawn_file_actions_destroy(&mut actions);
            return Err(fail("attributes", rc));
        }
        let result = (|| {
            let check =
                |rc: libc::c_int, what: &str| if rc == 0 { Ok(()) } else { Err(fail(what, rc)) };
            match &stdin {
                Some(f) => check(
                    libc::posix_spawn_file_actions_adddup2(&mut actions, f.as_raw_fd(), 0),
                    "stdin",
                )?,
                None => check(
                    libc::posix_spawn_file_actions_addopen(
                        &mut actions,
                        0,
                        dev_null.as_ptr(),
                        libc::O_RDONLY,
                        0,
                    ),
                    "stdin",
                )?,
            }
            check(
                libc::posix_spawn_file_actions_adddup2(&mut actions, out.as_raw_fd(), 1),
                "stdout",
            )?;
            check(
                libc::posix_spawn_file_actions_adddup2(&mut actions, err.as_raw_fd(), 2),
                "stderr",
            )?;
            check(
                libc::posix_spawn_file_actions_addchdir_np(&mut actions, cwd.as_ptr()),
                "workdir",
            )?;
            // The engine ignores SIGPIPE; the agent gets the default back,
            // and no signal blocked.
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            check(
                libc::posix_spawnattr_setsigmask(&mut attr, &none),
                "signal mask",
            )?;
            let mut defaults: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut defaults);
            libc::sigaddset(&mut defaults, libc::SIGPIPE);
            check(
                libc::posix_spawnattr_setsigdefault(&mut attr, &defaults),
                "signal defaults",
            )?;
            let flags = libc::POSIX_SPAWN_SETSID
                | libc::POSIX_SPAWN_SETSIGMASK as libc::c_short
                | libc::POSIX_SPAWN_SETSIGDEF as libc::c_short;
            check(libc::posix_spawnattr_setflags(&mut attr, flags), "flags")?;
            let mut pid: libc::pid_t = 0;
            let rc = libc::posix_spawn(
                &mut pid,
                exe.as_ptr(),
                &actions,
                &attr,
                argv.as_ptr(),
                envp.as_ptr(),
            );
            match rc {
                0 => Ok(pid),
                libc::ENOENT => Err(not_found(program)),
                rc => Err(fail("exec", rc)),
            }
        })();
        libc::posix_spawnattr_destroy(&mut attr);
        libc::posix_spawn_file_actions_destroy(&mut actions);
        let pid = result?;
        Ok(Spawned {
            pid: u32::try_from(pid).map_err(|_| SpawnError("bad pid".into()))?,
            status: None,
        })
    }
}

/// The executable a program name means: a name with a slash is a path
/// (relative to the workdir, where the agent starts); a bare name is looked
/// up on the child's PATH.
/// Where `program` runs from: a path with a `/` (from `cwd` when relative),
/// else the first runnable file of that name on `path`. Else why not, in
/// words: missing, a folder, not executable, or not on `path`.
pub fn program_at(
    program: &str,
    path: Option<&std::ffi::OsStr>,
    cwd: &std::path::Path,
) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let check = |p: &std::path::Path| match std::fs::metadata(p) {
        Err(_) => Err(format!("`{}` does not exist", p.display())),
        Ok(m) if m.is_dir() => Err(format!("`{}` is a folder, not a program", p.display())),
        Ok(m) if !m.is_file() => Err(format!("`{}` is not a regular file", p.display())),
        Ok(m) if m.permissions().mode() & 0o111 == 0 => Err(format!(
            "`{}` is not executable (mode {:o}: `chmod +x` it)",
            p.display(),
            m.permissions().mode() & 0o777
        )),
        Ok(_) => Ok(p.to_path_buf()),
    };
    if program.contains('/') {
        return check(&cwd.join(program));
    }
    let mut first_problem = None;
    for d in std::env::split_paths(path.unwrap_or_default()) {
        let d = if d.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            d
        };
        let candidate = d.join(program);
        match check(&candidate) {
            Ok(p) => return Ok(p),
            Err(why) if candidate.exists() => {
                first_problem.get_or_insert(why);
            }
            Err(_) => {}
        }
    }
    Err(match first_problem {
        Some(why) => format!("`{program}` on PATH: {why}"),
        None => format!("`{program}` was not found on PATH"),
    })
}

/// Elsewhere: the standard library's spawn, with `setsid` in the child.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn start(l: &Launch, program: &str, io: Streams) -> Result<Spawned, SpawnError> {
    let Streams { out, err, stdin } = io;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(program);
    cmd.args(&l.argv[1..])
        .current_dir(&l.cwd)
        .envs(l.env.iter().map(|(k, v)| (k, v)))
        .stdin(stdin.map_or_else(Stdio::null, Stdio::from))
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
    let child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            not_found(program)
        } else {
            SpawnError(format!("cannot start `{program}`: {e}"))
        }
    })?;
    let pid = child.id();
    // The pid is reaped through `Spawned::try_wait`; the handle is not needed.
    drop(child);
    Ok(Spawned { pid, status: None })
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

/// SIGKILLs every process in the worker's cgroups (see `cgroup`) and every
/// process still carrying the worker's tag. Returns how many.
pub fn sweep(worker_id: &str) -> usize {
    kill_all(
        crate::cgroup::kill(worker_id),
        crate::procfs::tagged(worker_id),
    )
}

/// SIGKILLs every process still carrying the worker's tag and the number of
/// one of its attempts: what that attempt left, not the attempt after it.
pub fn sweep_attempt(worker_id: &str, attempt: u32) -> usize {
    sweep_attempts(&[(worker_id.to_string(), attempt)])[0]
}

/// `sweep_attempt` for several ended attempts at once (each process's
/// environment and the cgroups read once): how many each left.
pub fn sweep_attempts(attempts: &[(String, u32)]) -> Vec<usize> {
    let contained = crate::cgroup::kill_attempts(attempts);
    let tagged = crate::procfs::tagged_attempts(attempts);
    contained
        .into_iter()
        .zip(tagged)
        .map(|(c, pids)| kill_all(c, pids))
        .collect()
}

fn kill_all(contained: usize, pids: Vec<u32>) -> usize {
    for &p in &pids {
        if let Ok(p) = i32::try_from(p) {
            signal(p, libc::SIGKILL);
        }
    }
    contained.max(pids.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(dir: &std::path::Path, argv: &[&str], env: &[(&str, &str)]) -> Launch {
        Launch {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cwd: dir.to_path_buf(),
            stdout: dir.join("out"),
            stderr: dir.join("err"),
            stdin_fifo: None,
            stdin_file: None,
            deadline_secs: None,
        }
    }

    fn wait(child: &mut Spawned) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(s) = child.try_wait().expect("wait") {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the child did not end"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn an_attempt_sweep_spares_the_next_attempt_of_the_same_worker() {
        let dir = tempfile::tempdir().expect("tempdir");
        let worker = format!("w-sweeptest{}", std::process::id());
        let mut attempts: Vec<Spawned> = ["1", "2"]
            .iter()
            .map(|a| {
                let d = dir.path().join(a);
                std::fs::create_dir(&d).expect("folder");
                let env = [
                    ("CORTEX_WORKER_ID", worker.as_str()),
                    ("CORTEX_ATTEMPT", *a),
                ];
                spawn(&launch(&d, &["sleep", "30"], &env)).expect("spawn")
            })
            .collect();
        let tagged = || crate::procfs::tagged(&worker).len();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        // Both carry the tag once they have exec'd (posix_spawn returns before).
        while tagged() < 2 {
            assert!(std::time::Instant::now() < deadline, "both tagged");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(sweep_attempt(&worker, 1), 1);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(wait(&mut attempts[0]).signal(), Some(libc::SIGKILL));
        assert_eq!(
            attempts[1].try_wait().expect("wait"),
            None,
            "attempt 2 runs on"
        );
        assert_eq!(sweep(&worker), 1, "a worker sweep takes every attempt");
        assert_eq!(wait(&mut attempts[1]).signal(), Some(libc::SIGKILL));
    }

    #[test]
    fn one_sweep_of_several_ended_attempts_kills_each_and_spares_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = format!("w-batchsweep-a{}", std::process::id());
        let b = format!("w-batchsweep-b{}", std::process::id());
        let tags = [(a.as_str(), "1"), (a.as_str(), "2"), (b.as_str(), "1")];
        let mut procs: Vec<Spawned> = tags
            .iter()
            .enumerate()
            .map(|(i, (w, n))| {
                let d = dir.path().join(i.to_string());
                std::fs::create_dir(&d).expect("folder");
                let env = [("CORTEX_WORKER_ID", *w), ("CORTEX_ATTEMPT", *n)];
                spawn(&launch(&d, &["sleep", "30"], &env)).expect("spawn")
            })
            .collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while crate::procfs::tagged(&a).len() + crate::procfs::tagged(&b).len() < 3 {
            assert!(std::time::Instant::now() < deadline, "all three tagged");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // Attempt 1 of each worker ended; attempt 2 of `a` runs on.
        let swept = sweep_attempts(&[(a.clone(), 1), (b.clone(), 1), (b.clone(), 7)]);
        assert_eq!(
            swept,
            vec![1, 1, 0],
            "each ended attempt's own, nothing for one without processes"
        );
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(wait(&mut procs[0]).signal(), Some(libc::SIGKILL));
        assert_eq!(wait(&mut procs[2]).signal(), Some(libc::SIGKILL));
        assert_eq!(
            procs[1].try_wait().expect("wait"),
            None,
            "attempt 2 of a runs on"
        );
        assert_eq!(sweep(&a), 1);
        assert_eq!(wait(&mut procs[1]).signal(), Some(libc::SIGKILL));
    }

    #[test]
    fn the_agent_runs_in_its_own_session_in_the_workdir_with_the_launch_env() {
        let dir = tempfile::tempdir().expect("tempdir");
        let l = launch(
            dir.path(),
            &[
                "sh",
                "-c",
                "pwd; echo \"$CORTEX_T\"; cut -d' ' -f6 /proc/$$/stat; read x || echo eof; echo oops >&2; exit 3",
            ],
            &[("CORTEX_T", "a value with spaces")],
        );
        let mut child = spawn(&l).expect("spawn");
        let status = wait(&mut child);
        assert_eq!(status.code(), Some(3));
        let out = std::fs::read_to_string(dir.path().join("out")).expect("out");
        let lines: Vec<&str> = out.lines().collect();
        let cwd = dir.path().canonicalize().expect("canonical");
        assert_eq!(lines[0], cwd.display().to_string());
        assert_eq!(lines[1], "a value with spaces");
        assert_eq!(lines[2], child.id().to_string(), "session id = its own pid");
        assert_eq!(lines[3], "eof", "stdin is /dev/null");
        let err = std::fs::read_to_string(dir.path().join("err")).expect("err");
        assert_eq!(err, "oops\n");
    }

    #[test]
    fn a_missing_agent_is_named_in_the_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = spawn(&launch(dir.path(), &["no-such-agent-cortex"], &[])).expect_err("missing");
        assert!(
            e.0.contains("`no-such-agent-cortex` was not found on PATH"),
            "{}",
            e.0
        );
        let e = spawn(&launch(dir.path(), &["./nope"], &[])).expect_err("missing");
        assert!(e.0.contains("nope` does not exist"), "{}", e.0);
        // A file that is there but cannot be run is said to be so.
        let plain = dir.path().join("plain-agent");
        std::fs::write(&plain, "#!/bin/sh\n").expect("write");
        let e = spawn(&launch(dir.path(), &[plain.to_str().expect("utf-8")], &[]))
            .expect_err("not executable");
        assert!(e.0.contains("is not executable (mode 6"), "{}", e.0);
        let e = spawn(&launch(dir.path(), &[], &[])).expect_err("empty");
        assert!(e.0.contains("empty"), "{}", e.0);
    }

    #[test]
    fn the_launch_path_is_searched_for_a_bare_name() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("mkdir");
        let agent = bin.join("my-agent");
        std::fs::write(&agent, "#!/bin/sh\necho found-me\n").expect("write");
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let path = format!("{}:/usr/bin:/bin", bin.display());
        // A script written just now can be "busy" for a moment: another
        // test's child, between its clone and exec, still holds the write fd.
        let l = launch(dir.path(), &["my-agent"], &[("PATH", &path)]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut child = loop {
            match spawn(&l) {
                Err(e)
                    if e.0.contains("Text file busy") && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => break other.expect("spawn"),
            }
        };
        assert_eq!(wait(&mut child).code(), Some(0));
        let out = std::fs::read_to_string(dir.path().join("out")).expect("out");
        assert_eq!(out, "found-me\n");
    }
}
