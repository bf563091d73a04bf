//! Each attempt's processes in a cgroup of their own, where the system lets
//! this process make one (Linux: cgroup v2, else a writable v1 `pids` or
//! `freezer` hierarchy), so that stopping an attempt ends every process it
//! left, also a daemon that double-forked and cleared its environment (the
//! environment tag sweep cannot find that one). Without a usable cgroup the
//! tag sweep alone is used. `mode` says which, and the owner logs it.
//!
//! The agent is moved into its cgroup right after it is spawned, before it
//! has done more than start up; everything it starts later is inside.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

#[derive(Debug)]
struct Containment {
    root: PathBuf,
    v2: bool,
}

static CONTAINMENT: OnceLock<Option<Containment>> = OnceLock::new();

fn containment() -> Option<&'static Containment> {
    CONTAINMENT.get_or_init(detect).as_ref()
}

/// How attempts' processes are found when an attempt is stopped.
pub fn mode() -> String {
    match containment() {
        Some(c) if c.v2 => format!("cgroup v2 ({})", c.root.display()),
        Some(c) => format!("cgroup v1 ({})", c.root.display()),
        None => "the environment tag sweep (no writable cgroup)".into(),
    }
}

fn detect() -> Option<Containment> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let mounts = fs::read_to_string("/proc/mounts").ok()?;
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let fields = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let mut candidates = Vec::new();
    let v2_mount = mounts
        .lines()
        .map(fields)
        .find(|f| f.get(2).is_some_and(|t| t == "cgroup2"))
        .map(|f| PathBuf::from(&f[1]));
    if let (Some(m), Some(p)) = (v2_mount, own.lines().find_map(|l| l.strip_prefix("0::"))) {
        candidates.push((m.join(p.trim_start_matches('/')), true));
    }
    for ctrl in ["pids", "freezer"] {
        let mount = mounts
            .lines()
            .map(fields)
            .find(|f| {
                f.get(2).is_some_and(|t| t == "cgroup")
                    && f.get(3).is_some_and(|o| o.split(',').any(|x| x == ctrl))
            })
            .map(|f| PathBuf::from(&f[1]));
        let path = own.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
            ctrls.split(',').any(|x| x == ctrl).then_some(path)
        });
        if let (Some(m), Some(p)) = (mount, path) {
            candidates.push((m.join(p.trim_start_matches('/')), false));
        }
    }
    candidates.into_iter().find_map(|(own_dir, v2)| {
        let root = own_dir.join("cortex");
        usable(&root).then_some(Containment { root, v2 })
    })
}

/// True when a cgroup can be made (and removed) under `root`.
fn usable(root: &Path) -> bool {
    let probe = root.join(format!("probe-{}", std::process::id()));
    fs::create_dir_all(root).is_ok()
        && fs::create_dir(&probe).is_ok()
        && probe.join("cgroup.procs").exists()
        && fs::remove_dir(&probe).is_ok()
}

/// Puts an attempt's agent into a cgroup of its own. False when there is no
/// usable cgroup (the tag sweep then finds its processes).
pub fn adopt(worker_id: &str, attempt: u32, pid: u32) -> bool {
    let Some(c) = containment() else {
        return false;
    };
    let dir = c.root.join(format!("{worker_id}.{attempt}"));
    let put = || {
        fs::create_dir_all(&dir).and_then(|()| fs::write(dir.join("cgroup.procs"), pid.to_string()))
    };
    // Once more if `prune` (another owner's) removed the new, empty cgroup.
    let moved = put().or_else(|_| put());
    if let Err(e) = &moved {
        tracing::warn!(
            worker_id,
            attempt,
            "cannot put the agent in its cgroup: {e}"
        );
    }
    moved.is_ok()
}

fn pids_in(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// SIGKILLs every process in the worker's cgroups and removes the ones left
/// empty. Returns how many processes were there.
pub fn kill(worker_id: &str) -> usize {
    let prefix = format!("{worker_id}.");
    kill_where(|name| name.starts_with(&prefix).then_some(0), 1)[0]
}

/// The same for ended attempts' cgroups (the root folder is read once):
/// what each attempt left, not the attempt after it; how many processes
/// each had.
pub fn kill_attempts(attempts: &[(String, u32)]) -> Vec<usize> {
    let names: HashMap<String, usize> = attempts
        .iter()
        .enumerate()
        .map(|(i, (w, a))| (format!("{w}.{a}"), i))
        .collect();
    kill_where(|n| names.get(n).copied(), attempts.len())
}

/// Kills what is in every cgroup `wanted` gives a slot for; how many
/// processes each slot's cgroups held.
fn kill_where(wanted: impl Fn(&str) -> Option<usize>, slots: usize) -> Vec<usize> {
    let mut killed = vec![0; slots];
    let Some(c) = containment() else {
        return killed;
    };
    let Ok(entries) = fs::read_dir(&c.root) else {
        return killed;
    };
    for (slot, dir) in entries
        .filter_map(Result::ok)
        .filter_map(|e| Some((wanted(&e.file_name().to_string_lossy())?, e.path())))
    {
        let found = pids_in(&dir);
        killed[slot] += found.len();
        if !found.is_empty() {
            let all_at_once = c.v2 && fs::write(dir.join("cgroup.kill"), "1").is_ok();
            if !all_at_once {
                // A process forking meanwhile shows up in the next reading.
                for _ in 0..10 {
                    let pids = pids_in(&dir);
                    if pids.is_empty() {
                        break;
                    }
                    for p in pids {
                        // SAFETY: kill(2) with a pid read from the cgroup.
                        unsafe {
                            libc::kill(p, libc::SIGKILL);
                        }
                    }
                }
            }
        }
        // A killed process leaves the cgroup once reaped (by init, for a
        // daemon): a moment, waited for briefly, and only after a kill. Should
        // it take longer, the next sweep of this worker removes the cgroup.
        for _ in 0..20 {
            if found.is_empty() || pids_in(&dir).is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let _ = fs::remove_dir(&dir);
    }
    killed
}

/// Removes every empty attempt cgroup (an owner does at start): those of
/// attempts whose processes were ended by something other than a sweep.
pub fn prune() {
    let Some(c) = containment() else {
        return;
    };
    let Ok(entries) = fs::read_dir(&c.root) else {
        return;
    };
    for dir in entries.filter_map(Result::ok).map(|e| e.path()) {
        if dir.is_dir() && pids_in(&dir).is_empty() {
            // Refused (busy) when a process is in it meanwhile.
            let _ = fs::remove_dir(&dir);
        }
    }
}
