//! One owner per coordination home.
//!
//! The lock is an advisory `flock` on `cortex.lock`, so the kernel releases it
//! when the owner dies, however it dies: a lock left by a dead owner is taken
//! over without anyone guessing from pids. The file's content (pid, kind,
//! start time) is only there to name the owner in a refusal. No owner deletes
//! its file (that would let two processes lock two different inodes); the
//! home's folder is locked too, and only the process holding that lock
//! writes the file again when someone else removed or replaced it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::EngineError;

/// Who holds the home. A `cli` owner holds it only for one command, so a
/// long-running owner that finds one waits briefly instead of giving up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OwnerKind {
    /// A CLI command, for its own length.
    Cli,
    /// `cortex run`, until it is stopped.
    Run,
    /// The desktop app, while it runs.
    App,
}

impl OwnerKind {
    /// The owner's kind in words, for messages that name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cli => "cli",
            Self::Run => "cortex run",
            Self::App => "desktop app",
        }
    }
}

/// Who owns a home, as `cortex.lock` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerInfo {
    /// The owner's process id.
    pub pid: u32,
    /// What kind of process the owner is.
    pub kind: OwnerKind,
    /// When it took the home (RFC 3339).
    pub since: String,
    /// When the process started, in clock ticks since boot (Linux): a name
    /// left by an owner that was killed is told apart from a later process
    /// given the same pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ticks: Option<u64>,
    /// The pid namespace its pid belongs to (Linux): only there does the pid
    /// say whether it lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_ns: Option<String>,
}

/// A held lock; dropping it releases the home.
#[derive(Debug)]
pub struct OwnerLock {
    file: File,
    path: PathBuf,
    /// Set when the previous content named a process that is gone.
    pub took_over_from: Option<u32>,
    /// The home folder, locked too (when the file system allows it).
    folder: Option<File>,
    /// What kind of owner holds it, and since when.
    kind: OwnerKind,
    since: String,
}

/// Writes this process's name, as an owner of `kind` since `since`, into
/// its lock file.
fn name_holder(file: &mut File, kind: OwnerKind, since: &str) -> std::io::Result<()> {
    let info = OwnerInfo {
        pid: std::process::id(),
        kind,
        since: since.to_string(),
        start_ticks: crate::procfs::start_ticks(std::process::id()),
        pid_ns: own_pid_ns(),
    };
    let body = serde_json::to_vec(&info).map_err(std::io::Error::other)?;
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&body)
}

/// Locks the home folder itself. Refuses when another process holds it:
/// that is an owner whose `cortex.lock` is no longer the file it locked.
/// A file system that cannot lock folders is not an error (the lock file
/// still works).
fn lock_folder(home: &Path, lock_path: &Path) -> Result<Option<File>, EngineError> {
    let Ok(dir) = File::open(home) else {
        return Ok(None);
    };
    match try_flock(&dir) {
        Ok(true) => Ok(Some(dir)),
        Ok(false) => Err(EngineError::HomeUnusable {
            path: lock_path.to_path_buf(),
            message: "another process owns this home, but cortex.lock is not the file it locked \
                      (it was removed or replaced while that process ran): stop that process \
                      (`cortex status` cannot name it; look for `cortex run` or the app using \
                      this home), then start again"
                .into(),
        }),
        Err(_) => Ok(None),
    }
}

fn try_flock(file: &File) -> std::io::Result<bool> {
    // SAFETY: flock on a file descriptor we own; no memory is shared.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

pub use crate::procfs::pid_alive;

fn read_info(file: &mut File) -> Option<OwnerInfo> {
    let mut s = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut s).ok()?;
    serde_json::from_str(&s).ok()
}

impl OwnerLock {
    /// Takes the lock or says who has it. The home's folder is locked as
    /// well, so an owner whose `cortex.lock` was removed or replaced behind
    /// its back still keeps a second one out.
    pub fn acquire(home: &Path, lock_path: &Path, kind: OwnerKind) -> Result<Self, EngineError> {
        match Self::try_acquire(lock_path, kind)? {
            Ok(mut lock) => {
                lock.folder = lock_folder(home, lock_path)?;
                Ok(lock)
            }
            Err(info) => Err(EngineError::Owned {
                home: home.to_path_buf(),
                momentary: info.as_ref().is_none_or(|i| i.kind == OwnerKind::Cli),
                pid: info.as_ref().map_or(0, |i| i.pid),
                kind: info
                    .as_ref()
                    .map_or("unknown", |i| i.kind.as_str())
                    .to_string(),
                since: info.map_or_else(|| "unknown".into(), |i| i.since),
            }),
        }
    }

    /// `Ok(Ok(lock))` when taken, `Ok(Err(owner))` when someone holds it.
    pub fn try_acquire(
        lock_path: &Path,
        kind: OwnerKind,
    ) -> Result<Result<Self, Option<OwnerInfo>>, EngineError> {
        let mut file = crate::files::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(lock_path)
            .map_err(|e| EngineError::io("cannot open the lock file", lock_path, e))?;
        if !try_flock(&file).map_err(|e| EngineError::io("cannot lock", lock_path, e))? {
            return Ok(Err(holder_named(&mut file)));
        }
        let previous = read_info(&mut file);
        let took_over_from = previous.map(|p| p.pid).filter(|&p| p != std::process::id());
        let since = crate::clock::now().to_rfc3339();
        match name_holder(&mut file, kind, &since) {
            Ok(()) => {}
            // The flock is the lock; the name only tells others who holds it
            // (an unnamed holder reads as one about to name itself or leave).
            Err(e) if crate::error::is_disk_full(&e) => {
                let _ = file.set_len(0);
                tracing::warn!("the lock is held but cannot name its owner: the disk is full");
            }
            Err(e) => return Err(EngineError::io("cannot write", lock_path, e)),
        }
        Ok(Ok(Self {
            file,
            path: lock_path.to_path_buf(),
            took_over_from,
            folder: None,
            kind,
            since,
        }))
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names the owner again when its `cortex.lock` was removed or replaced
    /// while it runs: a new file at the path, locked and named, so views
    /// and commands see who owns the home instead of "owner: none". Only
    /// an owner that holds the home's folder does it (that lock kept every
    /// other owner out meanwhile). True when it did.
    pub fn keep_named(&mut self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let id = |m: std::fs::Metadata| (m.dev(), m.ino());
        let ours = self.file.metadata().map(id).ok();
        let there = std::fs::symlink_metadata(&self.path).map(id).ok();
        if self.folder.is_none() {
            return false;
        }
        let kind = self.kind;
        if ours.is_some() && ours == there {
            // Its own file, its name overwritten: named again in place.
            let me = std::process::id();
            if read_info(&mut self.file).is_some_and(|i| i.pid == me) {
                return false;
            }
            return name_holder(&mut self.file, kind, &self.since).is_ok();
        }
        // What stands there is not the file this owner locked: a stranger's
        // (or a probe's) file, which no owner holds (the folder is ours).
        if there.is_some() && std::fs::remove_file(&self.path).is_err() {
            return false;
        }
        match Self::try_acquire(&self.path, kind) {
            Ok(Ok(mut renewed)) => {
                renewed.folder = self.folder.take();
                renewed.took_over_from = None;
                renewed.since.clone_from(&self.since);
                let _ = name_holder(&mut renewed.file, kind, &self.since);
                *self = renewed;
                tracing::warn!(path = %self.path.display(), "cortex.lock was removed or replaced while this owner ran: written again");
                true
            }
            _ => false,
        }
    }
}

impl Drop for OwnerLock {
    fn drop(&mut self) {
        // Clear the owner's name before the kernel releases the flock with the
        // descriptor, so a reader never sees a stale owner on a free lock.
        let _ = self.file.set_len(0);
    }
}

/// Reads who owns a home without taking anything.
pub fn current_owner(lock_path: &Path) -> Option<OwnerInfo> {
    let mut file = File::open(lock_path).ok()?;
    if try_flock(&file).ok()? {
        return None; // nobody holds it (our probe lock is dropped with `file`)
    }
    holder_named(&mut file)
}

/// Who a held lock names, unless that process is known to be gone. A name
/// left by an owner that was killed (it had no chance to clear it) is not
/// the holder: the lock is then held by a process about to name itself, or
/// by another process looking, as `current_owner` does, for a moment.
fn holder_named(file: &mut File) -> Option<OwnerInfo> {
    read_info(file).filter(|i| !provably_gone(i))
}

/// True only when the named process is known to have ended: its pid is of
/// this pid namespace and no process runs under it, or only a zombie, or
/// one that started at another time. A name from another namespace (a
/// container sharing the home) or from an earlier version is kept.
fn provably_gone(named: &OwnerInfo) -> bool {
    if named.pid_ns.is_none() || named.pid_ns != own_pid_ns() {
        return false;
    }
    if !crate::procfs::is_running(named.pid) {
        return true;
    }
    matches!(
        (named.start_ticks, crate::procfs::start_ticks(named.pid)),
        (Some(then), Some(now)) if then != now
    )
}

/// This process's pid namespace (`pid:[4026531836]`), where known.
fn own_pid_ns() -> Option<String> {
    std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(|p| p.display().to_string())
}

/// The owner that supervises the home: `cortex run` or the desktop app. A
/// CLI command holding the home for its own length supervises nothing.
pub fn supervising_owner(lock_path: &Path) -> Option<OwnerInfo> {
    current_owner(lock_path).filter(|o| o.kind != OwnerKind::Cli)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_whose_lock_file_was_removed_or_replaced_names_itself_again() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cortex.lock");
        let mut lock = OwnerLock::acquire(dir.path(), &p, OwnerKind::Run).unwrap();
        assert!(!lock.keep_named(), "its own file is there: nothing to do");
        std::fs::remove_file(&p).unwrap();
        assert!(current_owner(&p).is_none(), "views cannot name it");
        assert!(lock.keep_named());
        let named = current_owner(&p).expect("named again");
        assert_eq!(
            (named.pid, named.kind),
            (std::process::id(), OwnerKind::Run)
        );
        let since = named.since;
        // Its name overwritten in place, or its file replaced by another.
        std::fs::write(&p, "not a lock").unwrap();
        assert!(lock.keep_named());
        assert_eq!(current_owner(&p).map(|o| o.pid), Some(std::process::id()));
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, "a stranger").unwrap();
        assert!(lock.keep_named());
        let named = current_owner(&p).expect("named again");
        assert_eq!(
            (named.pid, named.since),
            (std::process::id(), since),
            "since it started"
        );
        // Still the only owner: another is refused.
        assert!(OwnerLock::acquire(dir.path(), &p, OwnerKind::Cli).is_err());
        drop(lock);
        assert!(current_owner(&p).is_none());
    }

    #[test]
    fn a_second_owner_is_refused_with_the_first_owners_pid() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cortex.lock");
        let first = OwnerLock::acquire(dir.path(), &p, OwnerKind::Run).unwrap();
        let err = OwnerLock::acquire(dir.path(), &p, OwnerKind::Cli)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains("cortex run"), "{err}");
        assert_eq!(current_owner(&p).map(|o| o.pid), Some(std::process::id()));
        drop(first);
        assert!(current_owner(&p).is_none());
        OwnerLock::acquire(dir.path(), &p, OwnerKind::Cli).unwrap();
    }

    #[test]
    fn an_owner_whose_lock_file_was_replaced_still_keeps_a_second_one_out() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cortex.lock");
        let first = OwnerLock::acquire(dir.path(), &p, OwnerKind::Run).unwrap();
        std::fs::remove_file(&p).unwrap();
        let err = OwnerLock::acquire(dir.path(), &p, OwnerKind::Cli)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("cortex.lock is not the file it locked"),
            "{err}"
        );
        drop(first);
        OwnerLock::acquire(dir.path(), &p, OwnerKind::Cli).unwrap();
    }

    /// A name in the lock file, as an owner of this namespace writes it.
    fn named(pid: u32, start_ticks: Option<u64>, pid_ns: Option<String>) -> String {
        serde_json::to_string(&OwnerInfo {
            pid,
            kind: OwnerKind::Run,
            since: "then".into(),
            start_ticks,
            pid_ns,
        })
        .unwrap()
    }

    /// Whether a new owner, while another process holds the lock for a
    /// moment, waits (true) or stops at once because `name` seems to run.
    fn waits_while_held(name: &str) -> (bool, Option<OwnerInfo>) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cortex.lock");
        std::fs::write(&p, name).unwrap();
        let looking = File::open(&p).unwrap();
        assert!(try_flock(&looking).unwrap());
        let momentary = match OwnerLock::acquire(dir.path(), &p, OwnerKind::Run) {
            Err(EngineError::Owned { momentary, .. }) => momentary,
            other => panic!("expected the lock to be held: {other:?}"),
        };
        (momentary, current_owner(&p))
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_dead_owners_name_is_not_taken_for_whoever_holds_the_lock_for_a_moment() {
        let ns = own_pid_ns();
        assert!(ns.is_some());
        // No process runs under this pid (above any pid_max): the owner
        // that wrote it was killed. (No process is started here: a child
        // between fork and exec would hold other tests' locks.)
        let dead = 999_999_999;
        assert!(!crate::procfs::is_running(dead));
        let (waits, named_now) = waits_while_held(&named(dead, Some(1), ns.clone()));
        assert!(waits, "a dead owner's name made the wait end");
        assert!(named_now.is_none());
        // A live process under the pid, started at another time: the pid
        // was given again.
        let me = std::process::id();
        let mine = crate::procfs::start_ticks(me).unwrap();
        assert!(waits_while_held(&named(me, Some(mine + 1), ns.clone())).0);
        // The owner itself, alive: named, and a new owner stops at once.
        let (waits, named_now) = waits_while_held(&named(me, Some(mine), ns.clone()));
        assert!(!waits);
        assert_eq!(named_now.map(|o| o.pid), Some(me));
        // A name from another namespace, or from an earlier version, says
        // nothing this process can check: kept.
        assert!(!waits_while_held(&named(dead, Some(1), Some("pid:[1]".into()))).0);
        assert!(
            !waits_while_held(&format!(
                r#"{{"pid": {dead}, "kind": "run", "since": "then"}}"#
            ))
            .0
        );
    }

    #[test]
    fn a_lock_file_left_by_a_dead_owner_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cortex.lock");
        std::fs::write(&p, r#"{"pid": 999999999, "kind": "run", "since": "then"}"#).unwrap();
        let lock = OwnerLock::acquire(dir.path(), &p, OwnerKind::Run).unwrap();
        assert_eq!(lock.took_over_from, Some(999_999_999));
        assert!(!pid_alive(999_999_999));
    }
}
