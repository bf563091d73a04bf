//! Creating files and folders in the home so that only their owner can read
//! them (the journal, snapshots and attempt files hold prompts, results and
//! possibly keys), and tightening a home made before that.
//!
//! Folders are created 0700 and files 0600 whatever the umask says. A home
//! whose root is not 0700 yet is walked once on start and every entry loses
//! its group and other bits; the root is changed last, so an interrupted walk
//! is repeated. Git worktrees under `worktrees/` are the user's code: only the
//! folder holding them is changed, never their content.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use tracing::warn;

/// Mode of every file the engine creates in the home.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every folder the engine creates in the home.
pub const DIR_MODE: u32 = 0o700;

/// `OpenOptions` that create with `FILE_MODE`.
pub fn options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(FILE_MODE);
    o
}

/// Creates (or empties) a file with `FILE_MODE`.
///
/// Only a file with content is truncated: on ext4 a truncation marks the
/// file for a forced write-back when it is closed (its protection of files
/// replaced by truncating and rewriting), also when the file was empty
/// already. For an attempt's ready, empty files (`spares`) that write-back
/// was the largest part of starting an agent in a burst.
pub fn create(path: &Path) -> std::io::Result<File> {
    emptied(options().write(true).create(true).open(path)?)
}

/// Creates (or empties) a file with `FILE_MODE` for a process to write
/// to: every write goes to the end, so when the owner empties the file (a
/// check's log over its cap) the writer goes on from its start, never
/// leaving a hole as long as what came before.
pub fn create_appending(path: &Path) -> std::io::Result<File> {
    emptied(options().append(true).create(true).open(path)?)
}

/// `f` emptied, if it holds anything (see `create` for why only then).
fn emptied(f: File) -> std::io::Result<File> {
    if f.metadata()?.len() != 0 {
        f.set_len(0)?;
    }
    Ok(f)
}

/// Reads a file that must be a regular one (a settings file): opened
/// without waiting, so a FIFO put in its place is refused at once instead
/// of hanging its reader until someone writes to it, and anything but a
/// regular file (a folder, a FIFO, a device) is refused as `InvalidInput`.
pub fn read_regular_text(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a folder"
        } else {
            "not a regular file (a FIFO, a socket or a device)"
        };
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what} where a JSON file belongs"),
        ));
    }
    let mut text = String::with_capacity(meta.len() as usize);
    f.read_to_string(&mut text)?;
    Ok(text)
}

/// The end of a file read by `read_end`.
#[derive(Debug, Default)]
pub struct FileEnd {
    /// Whole lines (and any unterminated last one) from the file's end.
    pub bytes: Vec<u8>,
    /// How many bytes before them were not read, a cut line's start among them.
    pub left_out: u64,
}

/// At most the last `max` bytes of a file, from the start of a line: only
/// that much is read, however large the file is or grows meanwhile.
pub fn read_end(path: &Path, max: u64) -> std::io::Result<FileEnd> {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::unix::fs::FileExt;
    let mut f = File::open(path)?;
    let from = f.metadata()?.len().saturating_sub(max);
    f.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    (&mut f).take(max).read_to_end(&mut bytes)?;
    let mut before = [b'\n'];
    if from > 0 && f.read_at(&mut before, from - 1)? == 1 && before[0] != b'\n' {
        // Read from the middle of a line: its end is left out with its start.
        let cut = memchr::memchr(b'\n', &bytes).map_or(bytes.len(), |i| i + 1);
        bytes.drain(..cut);
        return Ok(FileEnd {
            bytes,
            left_out: from + cut as u64,
        });
    }
    Ok(FileEnd {
        bytes,
        left_out: from,
    })
}

/// Writes a whole file created with `FILE_MODE` (no fsync).
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    create(path)?.write_all(bytes)
}

/// Creates one folder with `DIR_MODE`.
pub fn create_dir(path: &Path) -> std::io::Result<()> {
    DirBuilder::new().mode(DIR_MODE).create(path)
}

/// A part of a name no other writer in this process or another uses at
/// the same time (a temporary file, a staging folder): the process's id
/// and a count.
pub fn unique_suffix() -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{n}", std::process::id())
}

/// Creates a folder and any missing parent with `DIR_MODE`.
pub fn create_dir_all(path: &Path) -> std::io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(path)
}

/// True when group or others have any access to the folder `path` names.
fn too_open(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

/// Takes group and other bits away from everything in the home, unless its
/// root is private already. Returns how many entries changed. An entry that
/// cannot be changed (another user's file) is named in the log and left as
/// it is: permissions never stop the engine.
pub fn tighten_home(root: &Path) -> usize {
    if !too_open(root) {
        return 0;
    }
    let mut changed = 0;
    let worktrees = root.join("worktrees");
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_symlink() {
                continue; // chmod would change the target, which is not ours
            }
            let path = entry.path();
            changed += usize::from(restrict(&path));
            if kind.is_dir() && path != worktrees {
                stack.push(path);
            }
        }
    }
    // The root last, through a symlink if it is one, so an interrupted walk
    // is repeated on the next start.
    let root_mode = fs::metadata(root).map(|m| m.permissions().mode() & 0o7777);
    match root_mode.and_then(|m| fs::set_permissions(root, Permissions::from_mode(m & 0o700))) {
        Ok(()) => changed + 1,
        Err(e) => {
            warn!(path = %root.display(), "cannot make the home private: {e}");
            changed
        }
    }
}

/// Removes group and other bits from one entry; true if it changed.
fn restrict(path: &Path) -> bool {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return false; // gone meanwhile
    };
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return false;
    }
    match fs::set_permissions(path, Permissions::from_mode(mode & 0o700)) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => {
            warn!(path = %path.display(), "cannot make private: {e}");
            false
        }
    }
}

/// Readies a folder of daily logs (`<prefix>.YYYY-MM-DD.<suffix>`, UTC)
/// for a logger that creates files with the umask: today's file is created
/// private before the logger opens it, and any other file there loses its
/// group and other bits. A file the logger starts at midnight takes the umask
/// until the next start (the home folder keeps others out meanwhile).
pub fn prepare_daily_log(dir: &Path, prefix: &str, suffix: &str) {
    let today = chrono::Utc::now().format("%Y-%m-%d");
    let _ = options()
        .create(true)
        .append(true)
        .open(dir.join(format!("{prefix}.{today}.{suffix}")));
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_file()) {
                restrict(&e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_of_a_file_is_read_from_a_lines_start_and_says_what_came_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        std::fs::write(&path, "first line\nsecond\nthird\n").unwrap();
        let end = |max| {
            let e = read_end(&path, max).unwrap();
            (String::from_utf8(e.bytes).unwrap(), e.left_out)
        };
        assert_eq!(end(100), ("first line\nsecond\nthird\n".into(), 0));
        // From a line's start: kept whole.
        assert_eq!(end(13), ("second\nthird\n".into(), 11));
        // From its middle: that line is left out with what came before.
        assert_eq!(end(10), ("third\n".into(), 18));
        assert_eq!(end(3), (String::new(), 24));
        assert!(read_end(&dir.path().join("gone"), 10).is_err());
    }

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn created_files_and_folders_are_private_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("a/b");
        create_dir_all(&d).unwrap();
        write(&d.join("f"), b"x").unwrap();
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&d), 0o700);
        assert_eq!(mode(&d.join("f")), 0o600);
    }

    #[test]
    fn writing_over_a_longer_file_leaves_only_the_new_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("prompt.txt");
        write(&f, b"a long first prompt").unwrap();
        write(&f, b"short").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"short");
        create(&f).unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"", "created again: empty");
        write(&f, b"into an empty file").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"into an empty file");
    }

    #[test]
    fn an_open_home_is_tightened_once_and_worktrees_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("home");
        fs::create_dir_all(root.join("workers/w-1/attempt-1")).unwrap();
        fs::create_dir_all(root.join("worktrees/t-1")).unwrap();
        fs::write(root.join("journal.jsonl"), "").unwrap();
        fs::write(root.join("workers/w-1/attempt-1/meta.json"), "{}").unwrap();
        fs::write(root.join("worktrees/t-1/code.rs"), "").unwrap();
        let open = |p: &Path, m| fs::set_permissions(p, Permissions::from_mode(m)).unwrap();
        for (p, m) in [
            ("", 0o755),
            ("workers", 0o755),
            ("workers/w-1/attempt-1", 0o755),
            ("journal.jsonl", 0o644),
            ("workers/w-1/attempt-1/meta.json", 0o644),
            ("worktrees", 0o755),
            ("worktrees/t-1/code.rs", 0o644),
        ] {
            open(&root.join(p), m);
        }
        assert!(tighten_home(&root) >= 6);
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("workers/w-1/attempt-1")), 0o700);
        assert_eq!(mode(&root.join("journal.jsonl")), 0o600);
        assert_eq!(mode(&root.join("workers/w-1/attempt-1/meta.json")), 0o600);
        assert_eq!(mode(&root.join("worktrees")), 0o700);
        assert_eq!(mode(&root.join("worktrees/t-1/code.rs")), 0o644);
        assert_eq!(tighten_home(&root), 0, "a private home is not walked");
    }
}
