//! What the engine can learn about processes from the OS: existence, start
//! time, environment tags, CPU time of a process tree. Linux reads `/proc`;
//! elsewhere only existence is known and the rest answers "unknown".

use std::collections::HashMap;
use std::fs;

/// Fields of `/proc/<pid>/stat` after the command name.
#[derive(Debug, Clone, Copy)]
struct Stat {
    state: char,
    ppid: u32,
    utime: u64,
    stime: u64,
    start_ticks: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    use std::io::Read;
    // One read into a stack buffer: this runs for every watched process on
    // every PM pass, and a stat line is far shorter than the buffer.
    let mut buf = [0u8; 2048];
    let mut f = fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let n = f.read(&mut buf).ok()?;
    let s = std::str::from_utf8(&buf[..n]).ok()?;
    // The command name may contain spaces and parentheses: split after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        utime: f.get(11)?.parse().ok()?,
        stime: f.get(12)?.parse().ok()?,
        start_ticks: f.get(19)?.parse().ok()?,
    })
}

/// True if a process with this pid exists (it may belong to another user,
/// or be a zombie).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for existence.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Start time of a process in clock ticks since boot (Linux), if known.
pub fn start_ticks(pid: u32) -> Option<u64> {
    read_stat(pid).map(|s| s.start_ticks)
}

/// True if the process exists and is not a zombie waiting to be reaped.
pub fn is_running(pid: u32) -> bool {
    match read_stat(pid) {
        Some(s) => s.state != 'Z' && s.state != 'X',
        None => cfg!(not(target_os = "linux")) && pid_alive(pid),
    }
}

/// True when `pid` is alive, started at `ticks` (if known), and carries the
/// worker's tag: the same process we started, not a recycled pid.
pub fn is_same_process(pid: u32, ticks: Option<u64>, worker_id: &str) -> bool {
    if !is_running(pid) {
        return false;
    }
    if cfg!(target_os = "linux") {
        if let (Some(want), Some(got)) = (ticks, start_ticks(pid)) {
            if want != got {
                return false;
            }
        }
        return has_tag(pid, worker_id);
    }
    true
}

/// True if the process's environment has `CORTEX_WORKER_ID=<worker_id>`.
pub fn has_tag(pid: u32, worker_id: &str) -> bool {
    let Ok(env) = fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let want = format!("CORTEX_WORKER_ID={worker_id}");
    env.split(|&b| b == 0).any(|kv| kv == want.as_bytes())
}

fn all_pids() -> Vec<u32> {
    fs::read_dir("/proc")
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Every live process carrying the worker's tag (children that escaped the
/// group into their own session still carry it).
pub fn tagged(worker_id: &str) -> Vec<u32> {
    all_pids()
        .into_iter()
        .filter(|&p| p != std::process::id() && has_tag(p, worker_id) && is_running(p))
        .collect()
}

/// Processes carrying the worker's tag and one attempt's number (its agent
/// and everything the agent started, which inherit both).
pub fn tagged_attempt(worker_id: &str, attempt: u32) -> Vec<u32> {
    tagged_attempts(&[(worker_id.to_string(), attempt)])
        .pop()
        .unwrap_or_default()
}

/// `tagged_attempt` for several attempts at once, reading each process's
/// environment once: the processes of each attempt, in the order given.
pub fn tagged_attempts(attempts: &[(String, u32)]) -> Vec<Vec<u32>> {
    let mut found = vec![Vec::new(); attempts.len()];
    if attempts.is_empty() {
        return found;
    }
    let slots: HashMap<(&[u8], u32), usize> = attempts
        .iter()
        .enumerate()
        .map(|(i, (w, a))| ((w.as_bytes(), *a), i))
        .collect();
    let me = std::process::id();
    for p in all_pids() {
        if p == me {
            continue;
        }
        let Ok(env) = fs::read(format!("/proc/{p}/environ")) else {
            continue;
        };
        let (mut worker, mut attempt) = (None, None);
        for kv in env.split(|&b| b == 0) {
            if let Some(v) = kv.strip_prefix(b"CORTEX_WORKER_ID=") {
                worker = Some(v);
            } else if let Some(v) = kv.strip_prefix(b"CORTEX_ATTEMPT=") {
                attempt = std::str::from_utf8(v)
                    .ok()
                    .and_then(|v| v.parse::<u32>().ok());
            }
        }
        if let (Some(w), Some(a)) = (worker, attempt) {
            if let Some(&i) = slots.get(&(w, a)) {
                if is_running(p) {
                    found[i].push(p);
                }
            }
        }
    }
    found
}

/// One read of every process's parent and CPU time, for a whole PM tick.
#[derive(Debug, Default)]
pub struct ProcessTable {
    children: HashMap<u32, Vec<u32>>,
    cpu: HashMap<u32, u64>,
    gone: std::collections::HashSet<u32>,
}

impl ProcessTable {
    /// A table of the given (pid, CPU ticks, running) rows, none of them
    /// children of another: what a launcher without `/proc` reports.
    pub fn of(rows: impl IntoIterator<Item = (u32, u64, bool)>) -> Self {
        let mut t = Self::default();
        for (pid, cpu, running) in rows {
            t.cpu.insert(pid, cpu);
            if !running {
                t.gone.insert(pid);
            }
        }
        t
    }

    /// Reads `/proc` once.
    pub fn read() -> Self {
        let mut t = Self::default();
        for p in all_pids() {
            if let Some(s) = read_stat(p) {
                if s.state == 'Z' || s.state == 'X' {
                    t.gone.insert(p);
                }
                t.children.entry(s.ppid).or_default().push(p);
                t.cpu.insert(p, s.utime + s.stime);
            }
        }
        t
    }

    /// Whether the table was read with `pid` running in it (`None`: an
    /// empty table, not read this time).
    pub fn running(&self, pid: u32) -> Option<bool> {
        if self.cpu.is_empty() {
            return None;
        }
        Some(self.cpu.contains_key(&pid) && !self.gone.contains(&pid))
    }

    /// CPU ticks of `pid` and its descendants.
    pub fn tree_cpu_ticks(&self, pid: u32) -> Option<u64> {
        let mut total = *self.cpu.get(&pid)?;
        let mut frontier = vec![pid];
        while let Some(p) = frontier.pop() {
            for c in self.children.get(&p).into_iter().flatten() {
                total += self.cpu.get(c).copied().unwrap_or(0);
                frontier.push(*c);
            }
        }
        Some(total)
    }
}

/// CPU seconds used by `pid` and all its descendants, in clock ticks.
pub fn tree_cpu_ticks(pid: u32) -> Option<u64> {
    let stats: HashMap<u32, Stat> = all_pids()
        .into_iter()
        .filter_map(|p| read_stat(p).map(|s| (p, s)))
        .collect();
    let root = stats.get(&pid)?;
    let mut total = root.utime + root.stime;
    let mut frontier = vec![pid];
    while let Some(p) = frontier.pop() {
        for (child, s) in &stats {
            if s.ppid == p {
                total += s.utime + s.stime;
                frontier.push(*child);
            }
        }
    }
    Some(total)
}

/// Clock ticks per second.
pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).ok().filter(|t| *t > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_is_visible() {
        let me = std::process::id();
        assert!(is_running(me));
        if cfg!(target_os = "linux") {
            assert!(start_ticks(me).is_some());
            assert!(tree_cpu_ticks(me).is_some());
            assert!(!has_tag(me, "w-nobody"));
        }
    }
}
