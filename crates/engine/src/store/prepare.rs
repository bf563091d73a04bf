//! Before an owner loads the home: whatever stands where a file or folder
//! of the home belongs (a folder for a file, a file for a folder, a
//! symlink) is moved to `quarantine/` with a timestamp and named; missing
//! parts are created; a home readable by others is made private.
//!
//! May depend on: home, files, the store's load report (`super`).

use std::fs;
use std::path::{Path, PathBuf};

use tracing::warn;

use super::Quarantined;
use crate::clock;
use crate::error::EngineError;
use crate::home::Home;
use crate::snapshot::write_atomic;

/// What `prepare_home` did before the home was loaded.
#[derive(Debug, Default)]
pub struct Prepared {
    /// What was moved to `quarantine/`, and why.
    pub quarantined: Vec<Quarantined>,
    /// Entries whose group and other access was taken away.
    pub tightened: usize,
}

/// The files of the home (its top level and its expert profiles), and its
/// folders, by what they must be.
fn expected_layout(home: &Home) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let profiles = fs::read_dir(home.experts_dir())
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_else(|_| Vec::new());
    let mut files = vec![
        home.config_file(),
        home.journal(),
        home.task_snapshot(),
        home.worker_snapshot(),
        home.pm_snapshot(),
        home.lock_file(),
        home.owner_wanted_file(),
        home.hook_settings_file(),
        home.routing_log(),
        home.pm_activity(),
        home.router_examples(),
    ];
    files.extend(profiles);
    let dirs = vec![
        home.experts_dir(),
        home.inbox(),
        home.inbox_processing(),
        home.inbox_acks(),
        home.heartbeats(),
        home.workers_dir(),
        home.logs(),
    ];
    (files, dirs)
}

/// Makes the home loadable before anyone owns it: whatever stands where a
/// file or folder of the home belongs but is not one (a folder named
/// `journal.jsonl`, a file named `quarantine`) is moved into `quarantine/`
/// and named; missing parts are created; a home made with open permissions
/// is made private. Only things no owner ever writes are moved, so this is
/// safe while another process owns the home. Refuses only when something
/// cannot be moved aside, naming it.
pub fn prepare_home(home: &Home) -> Result<Prepared, EngineError> {
    let mut out = Prepared::default();
    let mut missing = true;
    if fs::symlink_metadata(home.root()).is_ok_and(|m| m.is_dir()) {
        missing = false;
        let stamp = clock::file_stamp(clock::now());
        let q = home.quarantine();
        if fs::symlink_metadata(&q).is_ok() && !q.is_dir() {
            // The quarantine itself is in the way: move it into a new one.
            let held = home.root().join(format!(".quarantine.{stamp}"));
            fs::rename(&q, &held).map_err(|e| cannot_move(&q, &e))?;
            crate::files::create_dir_all(&q)
                .map_err(|e| EngineError::io("cannot create", &q, e))?;
            out.quarantined.push(move_aside_as(
                &held,
                &q.join(format!("quarantine.{stamp}")),
                "quarantine",
                "a file where the quarantine folder belongs".into(),
            )?);
        }
        let (files, dirs) = expected_layout(home);
        for d in dirs {
            missing |= fs::symlink_metadata(&d).is_err();
            if fs::symlink_metadata(&d).is_ok() && !d.is_dir() {
                out.quarantined.push(set_aside(
                    home,
                    &d,
                    &stamp,
                    "a file where a folder belongs; an empty folder was made in its place".into(),
                    Aside::Move,
                )?);
            }
        }
        for f in files {
            if fs::symlink_metadata(&f).is_ok() && !f.is_file() {
                let why = if f.is_dir() {
                    "a folder where a file belongs"
                } else {
                    "not a regular file"
                };
                let why = if f == home.config_file() {
                    format!("{why}; the shipped default config.json was written in its place")
                } else if home.shipped_expert_text(&f).is_some() {
                    format!("{why}; the shipped profile was written in its place")
                } else {
                    why.to_string()
                };
                out.quarantined
                    .push(set_aside(home, &f, &stamp, why, Aside::Move)?);
                // A shipped profile set aside gets its shipped text back
                // (`init` adds none to a folder with profiles of its own).
                home.restore_shipped_expert(&f)?;
            }
        }
        for q in &out.quarantined {
            warn!(what = %q.what, moved_to = %q.moved_to.display(), "quarantined: {}", q.reason);
        }
    }
    if missing || !out.quarantined.is_empty() || !home.is_initialized() {
        home.init()?;
    }
    out.tightened = crate::files::tighten_home(home.root());
    if out.tightened > 0 {
        warn!(
            home = %home.root().display(),
            changed = out.tightened,
            "the home was readable by other users: its folders are now 0700 and its files 0600"
        );
    }
    Ok(out)
}

fn cannot_move(path: &Path, e: &std::io::Error) -> EngineError {
    EngineError::HomeUnusable {
        path: path.to_path_buf(),
        message: format!(
            "{} is not what it should be and cannot be moved aside ({e}): move or remove it, then start again",
            path.display()
        ),
    }
}

/// Where in `quarantine/` something of the home goes: `<name>.<stamp>`,
/// `name` being its path in the home with `-` for `/`. Returns both.
fn quarantine_slot(
    home: &Home,
    path: &Path,
    stamp: &str,
) -> Result<(String, PathBuf), EngineError> {
    let name = path
        .strip_prefix(home.root())
        .unwrap_or(path)
        .to_string_lossy()
        .replace('/', "-");
    let qdir = home.quarantine();
    crate::files::create_dir_all(&qdir).map_err(|e| EngineError::io("cannot create", &qdir, e))?;
    let to = free_name(&qdir, &format!("{name}.{stamp}"));
    Ok((name, to))
}

/// Whether `set_aside` moves a thing or keeps a copy of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Aside {
    Move,
    /// A durable copy (of a snapshot about to be replaced).
    Copy,
}

/// Moves (or copies) `path` into `quarantine/`.
pub(crate) fn set_aside(
    home: &Home,
    path: &Path,
    stamp: &str,
    reason: String,
    how: Aside,
) -> Result<Quarantined, EngineError> {
    let (name, to) = quarantine_slot(home, path, stamp)?;
    if how == Aside::Copy {
        let bytes = fs::read(path).map_err(|e| EngineError::io("cannot read", path, e))?;
        write_atomic(&to, &bytes)?;
        return Ok(Quarantined {
            what: format!("{name} (a copy)"),
            moved_to: to,
            reason,
        });
    }
    move_aside_as(path, &to, &name, reason)
}

fn move_aside_as(
    from: &Path,
    to: &Path,
    what: &str,
    reason: String,
) -> Result<Quarantined, EngineError> {
    fs::rename(from, to).map_err(|e| cannot_move(from, &e))?;
    crate::snapshot::sync_dir(to.parent().unwrap_or(to));
    Ok(Quarantined {
        what: what.to_string(),
        moved_to: to.to_path_buf(),
        reason,
    })
}

/// `dir/name`, or `dir/name-N` when that is taken.
fn free_name(dir: &Path, name: &str) -> PathBuf {
    let mut to = dir.join(name);
    let mut n = 1;
    while fs::symlink_metadata(&to).is_ok() {
        to = dir.join(format!("{name}-{n}"));
        n += 1;
    }
    to
}
