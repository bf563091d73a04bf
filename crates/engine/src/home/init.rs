//! Making a new home: the shipped expert profiles moved into place whole,
//! and names no other writer uses at the same time.

use std::fs;
use std::path::{Path, PathBuf};

use super::{expert_paths, Home, DEFAULT_EXPERTS};
use crate::error::EngineError;

/// A name no other writer in this process or another uses at the same
/// time: the process's id and a count.
pub(super) fn unique_suffix() -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

impl Home {
    /// The shipped expert profiles, when the experts folder is missing or
    /// holds none: written into a folder of their own and moved into place
    /// whole, so a command started at the same moment on a new home never
    /// reads some of them (a fallback expert not written yet reads as a
    /// wrong setting). Another process that moved its folder first wins;
    /// this one's goes.
    pub(super) fn init_experts(&self) -> Result<Vec<PathBuf>, EngineError> {
        let dir = self.experts_dir();
        let unusable = |e: std::io::Error, p: &Path| EngineError::HomeUnusable {
            path: p.to_path_buf(),
            message: e.to_string(),
        };
        match expert_paths(&dir) {
            Ok(p) if !p.is_empty() => return Ok(Vec::new()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(unusable(e, &dir)),
        }
        let staging = self.root.join(format!(".experts-{}", unique_suffix()));
        let staged = (|| -> Result<(), EngineError> {
            crate::files::create_dir_all(&staging).map_err(|e| unusable(e, &staging))?;
            for (name, text) in DEFAULT_EXPERTS {
                crate::snapshot::write_atomic(
                    &staging.join(format!("{name}.json")),
                    text.as_bytes(),
                )?;
            }
            // Moved onto a missing or empty folder; a folder another
            // process filled first is left as it is.
            fs::rename(&staging, &dir).map_err(|e| unusable(e, &dir))
        })();
        if staged.is_ok() {
            return Ok(DEFAULT_EXPERTS
                .iter()
                .map(|(name, _)| dir.join(format!("{name}.json")))
                .collect());
        }
        let _ = fs::remove_dir_all(&staging);
        if expert_paths(&dir).is_ok_and(|p| !p.is_empty()) {
            return Ok(Vec::new());
        }
        // A folder that holds other files (a `.gitkeep`, a README) and no
        // profile cannot be replaced whole: the profiles are written into
        // it one by one, as a person would.
        crate::files::create_dir_all(&dir).map_err(|e| unusable(e, &dir))?;
        let mut written = Vec::new();
        for (name, text) in DEFAULT_EXPERTS {
            let path = dir.join(format!("{name}.json"));
            if !path.exists() {
                crate::snapshot::write_atomic(&path, text.as_bytes())?;
                written.push(path);
            }
        }
        Ok(written)
    }
}
