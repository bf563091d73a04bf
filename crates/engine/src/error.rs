//! Errors callers branch on. Each says which file or request is involved.

#![warn(missing_docs)]

use std::path::PathBuf;

use cortex_core::config::ConfigError;
use cortex_core::input::InputError;
use thiserror::Error;

/// What went wrong, by what the caller does about it (see `is_bad_input`
/// and `code`).
#[derive(Debug, Error)]
pub enum EngineError {
    /// The request itself is wrong (exit code 2 in the CLI).
    #[error(transparent)]
    Input(#[from] InputError),
    /// A configuration file is wrong (exit code 2).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The settings on disk cannot be used (`problem`), and the record of
    /// those an owner last used, which would stand in for them, cannot be
    /// used either (`why`): both are named, so neither is a mystery. Bad
    /// input or not as `problem` is.
    #[error("{problem}; and settings-in-use.json, the settings an owner last used, cannot stand in for them: {why}")]
    NoUsableSettings {
        /// Why the settings on disk cannot be used.
        problem: Box<EngineError>,
        /// Why the record of the settings last used cannot be.
        why: String,
    },
    /// No task has this id (exit code 2).
    #[error("no task {0}")]
    UnknownTask(String),
    /// No worker has this id (exit code 2).
    #[error("no worker {0} (see `cortex workers`)")]
    UnknownWorker(String),
    /// No expert has this name (exit code 2).
    #[error("unknown expert `{given}`, expected one of: {}", known.join(", "))]
    UnknownExpert {
        /// The name asked for.
        given: String,
        /// The experts there are.
        known: Vec<String>,
    },
    /// A cancel of a task that already ended.
    #[error("task {id} is already {status}: nothing to cancel")]
    AlreadyFinished {
        /// The task.
        id: String,
        /// How it ended.
        status: String,
    },
    /// A worker control (kill, restart, extend, nudge) on a worker that ended.
    #[error("worker {id} already ended ({status}): there is nothing to {action}; `cortex logs {id}` shows what it did, and {next}")]
    WorkerEnded {
        /// The worker.
        id: String,
        /// How it ended.
        status: String,
        /// What was asked of it.
        action: &'static str,
        /// What can go on from here: a reply continues its conversation;
        /// a worker that never had one is started again by a new task.
        next: String,
    },
    /// Another process owns the home.
    #[error("the coordination home {home} is owned by pid {pid} ({kind}, since {since}); stop it or use another --home")]
    Owned {
        /// The home.
        home: PathBuf,
        /// The owner's pid.
        pid: u32,
        /// What kind of process owns it (`run`, `app`, `cli`).
        kind: String,
        /// Since when.
        since: String,
        /// The holder lets go within a moment: a CLI command, or a process
        /// caught between taking the lock and writing its name (or clearing
        /// it and closing).
        momentary: bool,
    },
    /// Something in the home is in the way and cannot be moved aside.
    #[error("the coordination home {} is not usable: {message}", path.display())]
    HomeUnusable {
        /// What is in the way.
        path: PathBuf,
        /// Why, and what to do.
        message: String,
    },
    /// A file operation failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done ("cannot write").
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// A request file the owner would not take (a symlink, too big,
    /// unreadable, another version): the request is at fault.
    #[error("{0}")]
    RequestRefused(String),
    /// The owner did not pick up or acknowledge a request in time.
    #[error("{0}")]
    Unanswered(String),
    /// A record could not be encoded (a bug, never the input's fault).
    #[error("cannot encode {what}: {message}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's error.
        message: String,
    },
    /// The system refused what the engine needs to run (a thread, a
    /// folder watch).
    #[error("{0}")]
    System(String),
    /// A git command failed.
    #[error("{0}")]
    Git(String),
    /// A value out of range or of the wrong form (exit code 2).
    #[error("{0}")]
    BadValue(String),
    /// A git operation refused to go ahead (a merge conflict, uncommitted
    /// changes, a worker still running); nothing was changed (exit code 1).
    #[error("{0}")]
    Refused(String),
    /// The disk holding the home is full (or the user's quota is used up):
    /// nothing was changed; the owner refuses new work until space returns.
    #[error("disk full: {what} {}: free space and retry", path.display())]
    DiskFull {
        /// What was being written.
        what: &'static str,
        /// Where.
        path: PathBuf,
    },
    /// The owner's loop ended by a panic (a bug): what it said.
    #[error("the engine stopped unexpectedly: {0}")]
    Stopped(String),
}

impl EngineError {
    /// A record of this kind could not be serialized.
    pub fn encode(what: &'static str, e: &serde_json::Error) -> Self {
        Self::Encode {
            what,
            message: e.to_string(),
        }
    }

    /// A file operation's error, as `DiskFull` when the disk is full.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        if is_disk_full(&source) {
            return Self::DiskFull {
                what,
                path: path.into(),
            };
        }
        Self::Io {
            what,
            path: path.into(),
            source,
        }
    }

    /// True when the caller gave bad input (as opposed to a runtime failure).
    pub fn is_bad_input(&self) -> bool {
        if let Self::NoUsableSettings { problem, .. } = self {
            return problem.is_bad_input();
        }
        matches!(
            self,
            Self::Input(_)
                | Self::Config(_)
                | Self::UnknownTask(_)
                | Self::UnknownWorker(_)
                | Self::UnknownExpert { .. }
                | Self::BadValue(_)
                | Self::RequestRefused(_)
                | Self::AlreadyFinished { .. }
                | Self::WorkerEnded { .. }
        )
    }

    /// A short machine-readable code for JSON output and inbox acks.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoUsableSettings { problem, .. } => problem.code(),
            Self::Input(_) => "bad_input",
            Self::Config(_) => "bad_config",
            Self::UnknownTask(_) => "unknown_task",
            Self::UnknownWorker(_) => "unknown_worker",
            Self::UnknownExpert { .. } => "unknown_expert",
            Self::AlreadyFinished { .. } => "already_finished",
            Self::WorkerEnded { .. } => "already_finished",
            Self::Owned { .. } => "home_owned",
            Self::HomeUnusable { .. } => "home_unusable",
            Self::Io { .. } => "io",
            // A request the owner refused or never answered: the inbox
            // protocol's failures, under the code they always had.
            Self::RequestRefused(_) | Self::Unanswered(_) => "protocol",
            Self::Encode { .. } => "internal",
            Self::System(_) => "system",
            Self::Git(_) => "git",
            Self::BadValue(_) => "bad_input",
            Self::DiskFull { .. } => "disk_full",
            Self::Stopped(_) => "engine_stopped",
            Self::Refused(_) => "refused",
        }
    }

    /// True for a write refused because the disk (or quota) is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::DiskFull { .. })
    }
}

/// ENOSPC or EDQUOT: the write may succeed once space is freed.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_requests_own_faults_are_bad_input() {
        let cases = [
            (
                EngineError::RequestRefused("request refused: a folder".into()),
                true,
                "protocol",
            ),
            (
                EngineError::Unanswered("not picked up".into()),
                false,
                "protocol",
            ),
            (
                EngineError::System("cannot start a thread: EAGAIN".into()),
                false,
                "system",
            ),
            (
                EngineError::Encode {
                    what: "a journal record",
                    message: "key must be a string".into(),
                },
                false,
                "internal",
            ),
            (EngineError::Git("git merge failed".into()), false, "git"),
            (
                EngineError::NoUsableSettings {
                    problem: Box::new(EngineError::io(
                        "cannot read",
                        "config.json",
                        std::io::Error::from(std::io::ErrorKind::PermissionDenied),
                    )),
                    why: "cannot be read: EOF".into(),
                },
                false,
                "io",
            ),
        ];
        for (e, bad_input, code) in cases {
            assert_eq!(e.is_bad_input(), bad_input, "{e}");
            assert_eq!(crate::inbox::AckError::of(&e).bad_input, bad_input, "{e}");
            assert_eq!(e.code(), code, "{e}");
        }
    }
}
