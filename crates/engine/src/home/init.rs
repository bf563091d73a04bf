//! Making a new home: the shipped expert profiles moved into place whole.

use std::fs;
use std::path::{Path, PathBuf};

use super::{expert_paths, Home, DEFAULT_EXPERTS};
use crate::error::EngineError;

impl Home {
    /// The shipped expert profiles, when the experts folder is missing or
    /// holds none: written into a folder of their own and moved into place
    /// whole, so a command started at the same moment on a new home never
    /// reads some of them (a fallback expert not written yet reads as a
    /// wrong setting). Another process that moved its folder first wins;
    /// this one's goes.
    pub(super) fn init_experts(&self) -> Result<Vec<PathBuf>, EngineError> {
        let dir = self.experts_dir();
        match expert_paths(&dir) {
            Ok(p) if !p.is_empty() => return Ok(Vec::new()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(unusable(e, &dir)),
        }
        let staging = self
            .root
            .join(format!(".experts-{}", crate::files::unique_suffix()));
        let staged = write_missing_profiles(&staging).and_then(|names| {
            // Moved onto a missing or empty folder; a folder another
            // process filled first is left as it is.
            fs::rename(&staging, &dir).map_err(|e| unusable(e, &dir))?;
            Ok(names)
        });
        if let Ok(names) = staged {
            return Ok(names.into_iter().map(|n| dir.join(n)).collect());
        }
        let _ = fs::remove_dir_all(&staging);
        if expert_paths(&dir).is_ok_and(|p| !p.is_empty()) {
            return Ok(Vec::new());
        }
        // A folder that holds other files (a `.gitkeep`, a README) and no
        // profile cannot be replaced whole: the profiles are written into
        // it one by one, as a person would.
        let names = write_missing_profiles(&dir)?;
        Ok(names.into_iter().map(|n| dir.join(n)).collect())
    }
}

/// Writes the shipped profiles missing from the folder `into` (made if
/// need be); the names of those written.
fn write_missing_profiles(into: &Path) -> Result<Vec<String>, EngineError> {
    crate::files::create_dir_all(into).map_err(|e| unusable(e, into))?;
    let mut written = Vec::new();
    for (name, text) in DEFAULT_EXPERTS {
        let file = format!("{name}.json");
        let path = into.join(&file);
        if !path.exists() {
            crate::snapshot::write_atomic(&path, text.as_bytes())?;
            written.push(file);
        }
    }
    Ok(written)
}

fn unusable(e: std::io::Error, path: &Path) -> EngineError {
    EngineError::HomeUnusable {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}
