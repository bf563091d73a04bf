//! A small tmpfs for tests of a full disk (used by this crate's tests and
//! the end-to-end tests; not part of the engine's API).

use std::io::Write;
use std::path::{Path, PathBuf};

/// A tmpfs of a given size mounted on a temporary folder, unmounted (by its
/// path) when dropped.
pub struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    /// Mounts it, or says why it cannot and gives `None` (the caller skips).
    pub fn mount(bytes: u64) -> Option<Self> {
        static MOUNTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = MOUNTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cortex-disk-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        // mount(2) itself, not the mount command: no process is started, so
        // no child can hold (between its fork and its exec) a descriptor
        // another test has locked.
        let c = |s: &str| std::ffi::CString::new(s).ok();
        let (Some(src), Some(target), Some(fstype), Some(data)) = (
            c("tmpfs"),
            c(&dir.to_string_lossy()),
            c("tmpfs"),
            c(&format!("size={bytes}")),
        ) else {
            return None;
        };
        // SAFETY: mount(2) with valid NUL-terminated strings.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        if rc == 0 {
            return Some(Self { dir });
        }
        let e = std::io::Error::last_os_error();
        let _ = std::fs::remove_dir(&dir);
        eprintln!("SKIPPED: cannot mount a tmpfs here ({e}); this test needs a small disk");
        None
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn filler(&self) -> PathBuf {
        self.dir.join("filler")
    }

    /// Fills every free byte.
    pub fn fill(&self) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.filler())
            .expect("filler");
        for size in [65536usize, 4096, 1] {
            let chunk = vec![0u8; size];
            while f.write_all(&chunk).is_ok() {}
        }
    }

    pub fn free(&self) {
        let _ = std::fs::remove_file(self.filler());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if let Ok(target) = std::ffi::CString::new(self.dir.to_string_lossy().as_bytes()) {
            // SAFETY: umount2(2) with a valid NUL-terminated path; a busy
            // mount is detached instead.
            unsafe {
                if libc::umount2(target.as_ptr(), 0) != 0 {
                    libc::umount2(target.as_ptr(), libc::MNT_DETACH);
                }
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}
