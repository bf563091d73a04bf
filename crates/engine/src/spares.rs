//! Attempt folders made ahead of need.
//!
//! Starting a worker's first attempt needs five new file-system entries (the
//! worker's folder, `attempt-1/`, `stdout.jsonl`, `stderr.log`,
//! `prompt.txt`); on a busy disk creating them costs more than starting the
//! agent (allocating an inode is most of a start's time in a burst). A
//! long-running owner therefore keeps up to `capacity.max_workers` of them
//! ready under `workers/.spare/`, made while it is idle, and a start renames
//! one into place: one rename instead of five creations. The files are empty
//! and private (mode 0600); the start writes into them. The folders outlive the
//! engine and are reused by the next one; anything in `.spare` that is not a
//! complete, empty spare is removed when a long-running owner starts.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Spare folders are named `s-<run>-<n>`, one being made `.tmp-<run>-<n>`,
/// where `<run>` is random per engine, so no two engines pick one name.
const READY_PREFIX: &str = "s-";
const MAKING_PREFIX: &str = ".tmp-";
/// More would only cost inodes: a pass never starts more than this many.
const MAX_SPARES: usize = 512;

/// The ready spare folders under `workers/.spare/`, and the making of more.
pub struct Spares {
    dir: PathBuf,
    ready: Mutex<Vec<PathBuf>>,
    run: u64,
    made: AtomicU64,
}

/// The files a spare holds, relative to it (they are the first attempt's).
fn files(spare: &Path) -> [PathBuf; 3] {
    let a = spare.join("attempt-1");
    [
        a.join("stdout.jsonl"),
        a.join("stderr.log"),
        a.join(crate::driver::PROMPT_FILE),
    ]
}

fn is_complete(spare: &Path) -> bool {
    files(spare)
        .iter()
        .all(|f| std::fs::metadata(f).is_ok_and(|m| m.is_file() && m.len() == 0))
}

impl Spares {
    /// The spares under `workers_dir/.spare`; nothing is read until `load`.
    pub fn new(workers_dir: &Path) -> Self {
        Self {
            dir: workers_dir.join(".spare"),
            ready: Mutex::new(Vec::new()),
            run: {
                let mut b = [0u8; 8];
                // A clash would only fail one fill, which the next pass retries.
                let _ = getrandom::fill(&mut b);
                u64::from_le_bytes(b)
            },
            made: AtomicU64::new(0),
        }
    }

    fn ready(&self) -> std::sync::MutexGuard<'_, Vec<PathBuf>> {
        self.ready.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes stock of what an earlier engine left: complete spares are kept,
    /// anything else in the folder is removed.
    pub fn load(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut kept = Vec::new();
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(READY_PREFIX) && is_complete(&path) {
                kept.push(path);
            } else if let Err(err) =
                std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path))
            {
                tracing::warn!("cannot remove {}: {err}", path.display());
            }
        }
        kept.sort();
        *self.ready() = kept;
    }

    fn len(&self) -> usize {
        self.ready().len()
    }

    /// Moves a spare to `worker_dir` (which must not exist, or be empty).
    /// False when none is ready or the move failed: the caller then creates
    /// the folders itself.
    pub fn take_into(&self, worker_dir: &Path) -> bool {
        let Some(spare) = self.ready().pop() else {
            return false;
        };
        match std::fs::rename(&spare, worker_dir) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(
                    "cannot move {} to {}: {e}",
                    spare.display(),
                    worker_dir.display()
                );
                if spare.is_dir() {
                    self.ready().push(spare);
                }
                false
            }
        }
    }

    /// Makes spares until `target` (at most `MAX_SPARES`) are ready, or
    /// removes those over it (after `capacity.max_workers` was lowered);
    /// returns how many it made.
    pub fn fill(&self, target: usize) -> std::io::Result<usize> {
        let target = target.min(MAX_SPARES);
        loop {
            let extra = {
                let mut ready = self.ready();
                if ready.len() <= target {
                    break;
                }
                ready.pop()
            };
            if let Some(extra) = extra {
                std::fs::remove_dir_all(extra)?;
            }
        }
        let mut made = 0;
        while self.len() < target {
            let spare = self.make_one()?;
            self.ready().push(spare);
            made += 1;
        }
        Ok(made)
    }

    /// Builds one spare under a temporary name, then renames it, so a spare
    /// that is seen is always complete.
    fn make_one(&self) -> std::io::Result<PathBuf> {
        let n = self.made.fetch_add(1, Ordering::Relaxed);
        let run = self.run;
        let making = self.dir.join(format!("{MAKING_PREFIX}{run:016x}-{n}"));
        let ready = self.dir.join(format!("{READY_PREFIX}{run:016x}-{n}"));
        crate::files::create_dir_all(&making.join("attempt-1"))?;
        for f in files(&making) {
            crate::files::create(&f)?;
        }
        std::fs::rename(&making, &ready)?;
        Ok(ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spare_moves_into_place_with_its_empty_output_files() {
        let dir = tempfile::tempdir().unwrap();
        let spares = Spares::new(dir.path());
        assert_eq!(spares.fill(3).unwrap(), 3);
        assert_eq!(spares.fill(3).unwrap(), 0, "already full");
        assert_eq!(spares.fill(5).unwrap(), 2);
        assert_eq!(spares.fill(3).unwrap(), 0);
        assert_eq!(
            std::fs::read_dir(dir.path().join(".spare"))
                .unwrap()
                .count(),
            3,
            "lowered: the extra ones are removed"
        );
        let w = dir.path().join("w-1");
        assert!(spares.take_into(&w));
        assert!(w.join("attempt-1/stdout.jsonl").is_file());
        assert!(w.join("attempt-1/stderr.log").is_file());
        assert!(w.join("attempt-1/prompt.txt").is_file());
        assert_eq!(spares.len(), 2);
    }

    #[test]
    fn a_spare_is_not_moved_over_a_worker_folder_with_content() {
        let dir = tempfile::tempdir().unwrap();
        let spares = Spares::new(dir.path());
        spares.fill(1).unwrap();
        let w = dir.path().join("w-1");
        std::fs::create_dir_all(w.join("attempt-1")).unwrap();
        std::fs::write(w.join("attempt-1/stdout.jsonl"), "kept\n").unwrap();
        assert!(!spares.take_into(&w));
        assert_eq!(
            std::fs::read_to_string(w.join("attempt-1/stdout.jsonl")).unwrap(),
            "kept\n"
        );
        assert_eq!(spares.len(), 1, "the spare is still there to use");
    }

    #[test]
    fn loading_keeps_complete_spares_and_removes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let first = Spares::new(dir.path());
        first.fill(2).unwrap();
        let spare_dir = dir.path().join(".spare");
        // Half made, and a spare someone wrote into.
        std::fs::create_dir_all(spare_dir.join(".tmp-1-9/attempt-1")).unwrap();
        std::fs::create_dir_all(spare_dir.join("s-1-8/attempt-1")).unwrap();
        std::fs::write(spare_dir.join("s-1-8/attempt-1/stdout.jsonl"), "x").unwrap();
        std::fs::write(spare_dir.join("s-1-8/attempt-1/stderr.log"), "").unwrap();
        std::fs::write(spare_dir.join("s-1-8/attempt-1/prompt.txt"), "").unwrap();
        let second = Spares::new(dir.path());
        second.load();
        assert_eq!(second.len(), 2);
        let mut left: Vec<_> = std::fs::read_dir(&spare_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), 2);
        assert!(
            left.iter().all(|n| n.starts_with("s-") && n != "s-1-8"),
            "{left:?}"
        );
    }
}
