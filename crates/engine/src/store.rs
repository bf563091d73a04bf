//! The coordination store: journal + snapshots + the folded state.
//!
//! `Store::open_owner` is the only way to get a writable store; it holds the
//! home's lock for its whole life. `read_view` gives any process a consistent
//! read-only picture (snapshot + journal tail) without taking the lock.
//! What stands where a file or folder of the home belongs is moved aside
//! before an owner loads it (`prepare`).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use cortex_core::state::{Event, Record, State};
use cortex_core::SCHEMA_VERSION;
use tracing::{info, warn};

use crate::clock;
use crate::error::EngineError;
use crate::home::Home;
use crate::journal::{self, BadLine, JournalWriter};
use crate::lock::{OwnerKind, OwnerLock};
use crate::snapshot::{write_atomic, TaskSnapshot, WorkerSnapshot};

mod load;
mod prepare;

use load::load;
pub use prepare::{prepare_home, Prepared};
pub(crate) use prepare::{set_aside, Aside};

/// Something moved aside during load.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Quarantined {
    /// The file (and lines) it came from, e.g. `journal.jsonl line 7`.
    pub what: String,
    /// Where it was moved, under `quarantine/`.
    pub moved_to: PathBuf,
    /// Why it was moved, in words.
    pub reason: String,
}

/// What loading found, for logs and for the person.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LoadReport {
    /// True when loading started from the snapshots, not from the journal's start.
    pub from_snapshot: bool,
    /// Journal records replayed (after the snapshots' point, when they were used).
    pub replayed_records: usize,
    /// Tasks in the state once loaded.
    pub tasks: usize,
    /// What was moved aside as unreadable or misplaced.
    pub quarantined: Vec<Quarantined>,
    /// Bytes of an unterminated last journal line that were dropped.
    pub torn_tail_bytes: Option<usize>,
    /// The pid of a previous owner that had died holding the home, if there was one.
    pub took_over_from_pid: Option<u32>,
    /// The journal had lost records the snapshot held (it ends before the
    /// snapshot, or it is not whole: unreadable lines, a start after record
    /// 1), so loading started from the snapshot.
    pub journal_behind: Option<JournalBehind>,
    /// Entries of an existing home whose group and other access was taken away.
    pub tightened: usize,
}

/// The journal cannot rebuild what the snapshot holds: it ends before the
/// snapshot does (it was lost or cut short), or it is not whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct JournalBehind {
    /// The last record the journal still has (0: none).
    pub journal_last_seq: u64,
    /// The last record the snapshot holds.
    pub snapshot_seq: u64,
    /// False when the journal lacks records before its last: unreadable
    /// lines, or it starts after record 1 (it was started anew).
    pub journal_whole: bool,
}

impl JournalBehind {
    /// Why the journal could not rebuild the snapshot, in words.
    pub fn words(&self) -> String {
        if self.journal_last_seq < self.snapshot_seq {
            format!(
                "journal.jsonl ends at record {} but task-queue.json holds records up to {} \
                 (the journal was lost or cut short)",
                self.journal_last_seq, self.snapshot_seq
            )
        } else {
            format!(
                "journal.jsonl lacks records before its last ({}): lines of it are unreadable or \
                 it was started anew, and task-queue.json (records up to {}) does not match it",
                self.journal_last_seq, self.snapshot_seq
            )
        }
    }
}

/// Loads a read-only view of a home. Corrupt parts are skipped and reported
/// in the log, not moved: only the owner changes files.
pub fn read_view(home: &Home) -> Result<(State, LoadReport), EngineError> {
    let loaded = load(home)?;
    if let Some(why) = &loaded.corrupt_snapshot {
        warn!(
            file = "task-queue.json",
            "unreadable snapshot skipped: {why}"
        );
    }
    if let Some(why) = &loaded.corrupt_workers {
        warn!(
            file = "worker-pool.json",
            "unreadable snapshot skipped: {why}"
        );
    }
    if !loaded.bad.is_empty() {
        // Read once, however many lines are bad.
        let whole = fs::read(home.journal()).unwrap_or_default();
        for b in &loaded.bad {
            let line = journal::line_at(&whole, b.offset);
            warn!("unreadable journal.jsonl line {line} skipped: {}", b.error);
        }
    }
    Ok((loaded.state, loaded.report))
}

/// The writable store, held by the home's owner.
#[derive(Debug)]
pub struct Store {
    home: Home,
    state: State,
    journal: JournalWriter,
    snapshot_seq: u64,
    lock: OwnerLock,
}

impl Store {
    /// Takes the lock, loads, quarantines what is corrupt, and is ready to
    /// append. Never refuses to start because of a corrupt line or file.
    pub fn open_owner(home: &Home, kind: OwnerKind) -> Result<(Self, LoadReport), EngineError> {
        let prepared = prepare_home(home)?;
        Self::open_prepared(home, kind, prepared)
    }

    /// `open_owner` for a home `prepare_home` already went over; `prepared`
    /// is what it moved aside, for the report.
    pub fn open_prepared(
        home: &Home,
        kind: OwnerKind,
        prepared: Prepared,
    ) -> Result<(Self, LoadReport), EngineError> {
        if !home.is_initialized() {
            home.init()?;
        }
        let lock = OwnerLock::acquire(home.root(), &home.lock_file(), kind)?;
        let mut loaded = load(home)?;
        loaded.report.took_over_from_pid = lock.took_over_from;
        loaded.report.tightened = prepared.tightened;
        let stamp = clock::file_stamp(clock::now());
        let mut quarantined = Vec::new();
        if let Some(why) = loaded.corrupt_snapshot.take() {
            quarantined.push(set_aside(
                home,
                &home.task_snapshot(),
                &stamp,
                why,
                Aside::Move,
            )?);
        }
        if let Some(why) = loaded.corrupt_workers.take() {
            quarantined.push(set_aside(
                home,
                &home.worker_snapshot(),
                &stamp,
                why,
                Aside::Move,
            )?);
        }
        if let Some(behind) = loaded.journal_behind {
            // The snapshot is about to be rewritten at a new journal point:
            // keep the one that held what the journal lost.
            let why = format!(
                "{}: loading started from this snapshot; this copy is kept",
                behind.words()
            );
            for from in [home.task_snapshot(), home.worker_snapshot()] {
                if from.is_file() {
                    quarantined.push(set_aside(home, &from, &stamp, why.clone(), Aside::Copy)?);
                }
            }
            loaded.report.journal_behind = Some(behind);
        }
        if let Some(torn) = loaded.torn.take() {
            quarantined.extend(drop_torn_tail(home, &torn, &stamp)?);
            loaded.report.torn_tail_bytes = Some(torn.bytes.len());
        }
        if !loaded.bad.is_empty() {
            match quarantine_journal_lines(home, &loaded.bad, &stamp) {
                Ok(q) => quarantined.extend(q),
                // Left in place: every reader skips them, and the next start
                // with space moves them aside.
                Err(e) if e.is_disk_full() => warn!(
                    lines = loaded.bad.len(),
                    "unreadable journal lines left in place for now: {e}"
                ),
                Err(e) => return Err(e),
            }
        }
        for q in &quarantined {
            warn!(what = %q.what, moved_to = %q.moved_to.display(), "quarantined: {}", q.reason);
        }
        quarantined.splice(0..0, prepared.quarantined);
        let needs_snapshot = !quarantined.is_empty() || loaded.journal_behind.is_some();
        loaded.report.quarantined = quarantined;
        let jpath = home.journal();
        let offset = terminate_last_line(&jpath)?;
        let journal = JournalWriter::open(&jpath, offset)?;
        let mut store = Store {
            home: home.clone(),
            snapshot_seq: if loaded.report.from_snapshot && !needs_snapshot {
                loaded.state.last_seq
            } else {
                0
            },
            state: loaded.state,
            journal,
            lock,
        };
        if needs_snapshot || !store.home.task_snapshot().exists() {
            match store.write_snapshot(clock::now()) {
                // The journal holds everything; the snapshot waits for space.
                Err(e) if e.is_disk_full() => warn!("snapshot not written: {e}"),
                other => other?,
            }
        }
        info!(
            tasks = store.state.task_count(),
            replayed = loaded.report.replayed_records,
            from_snapshot = loaded.report.from_snapshot,
            "coordination home loaded"
        );
        Ok((store, loaded.report))
    }

    /// The folded state: every task, worker and plan.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The home this store owns.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// Writes an event to the journal and applies it; durable only after
    /// `sync`. Returns the record as written.
    pub fn stage(&mut self, event: Event, at: DateTime<Utc>) -> Result<Record, EngineError> {
        let rec = Record::new(self.next_seq(1)?, at, event);
        self.journal.stage(&rec)?;
        self.state.apply(&rec);
        Ok(rec)
    }

    /// Stages several events with one write, all or none (a full disk
    /// leaves neither the journal nor the state half-changed).
    pub fn stage_all(
        &mut self,
        events: Vec<Event>,
        at: DateTime<Utc>,
    ) -> Result<Vec<Record>, EngineError> {
        self.next_seq(events.len() as u64)?;
        let first = self.state.last_seq + 1;
        let recs: Vec<Record> = events
            .into_iter()
            .zip(first..)
            .map(|(e, seq)| Record::new(seq, at, e))
            .collect();
        self.journal.stage_all(&recs)?;
        for rec in &recs {
            self.state.apply(rec);
        }
        Ok(recs)
    }

    /// The number of the `n`th record from now. Refused, with nothing
    /// written, when the numbers are used up (`Record::MAX_SEQ`).
    fn next_seq(&self, n: u64) -> Result<u64, EngineError> {
        Record::seq_after(self.state.last_seq, n).ok_or_else(|| EngineError::HomeUnusable {
            path: self.home.journal(),
            message: format!(
                "its records are numbered up to {}, and no record can be numbered past {}: \
                 nothing more can be recorded in this home; start a new one with --home",
                self.state.last_seq,
                Record::MAX_SEQ
            ),
        })
    }

    /// Writes `cortex.lock` again if it was removed or replaced while this
    /// owner runs (`OwnerLock::keep_named`).
    pub fn keep_lock_named(&mut self) -> bool {
        self.lock.keep_named()
    }

    /// Makes every staged record durable. If the journal was deleted,
    /// replaced or cut short meanwhile, a snapshot holding everything is
    /// written before this returns, so nothing acknowledged depends on it.
    pub fn sync(&mut self) -> Result<(), EngineError> {
        self.journal.sync()?;
        if !self.journal.in_place() {
            self.write_snapshot(clock::now())?;
        }
        Ok(())
    }

    /// Stage + sync for a single event.
    pub fn commit(&mut self, event: Event, at: DateTime<Utc>) -> Result<Record, EngineError> {
        let rec = self.stage(event, at)?;
        self.sync()?;
        Ok(rec)
    }

    /// True when records exist that no snapshot covers.
    pub fn snapshot_due(&self) -> bool {
        self.state.last_seq > self.snapshot_seq
    }

    /// Writes `task-queue.json` covering everything journaled so far.
    pub fn write_snapshot(&mut self, now: DateTime<Utc>) -> Result<(), EngineError> {
        self.journal.sync()?;
        self.repair_in_flight()?;
        let mut tasks: Vec<_> = self.state.tasks().cloned().collect();
        tasks.sort_by(cortex_core::task::queue_order);
        let snap = TaskSnapshot {
            schema_version: SCHEMA_VERSION,
            journal_seq: self.state.last_seq,
            journal_offset: self.journal.offset(),
            updated_at: now,
            stats: self.state.counts_by_status(),
            tasks,
            plans: self.state.plans().cloned().collect(),
        };
        let workers = WorkerSnapshot {
            schema_version: SCHEMA_VERSION,
            journal_seq: self.state.last_seq,
            updated_at: now,
            spawning_paused: self.state.spawning_paused,
            workers: self.state.workers().cloned().collect(),
        };
        let wbytes = serde_json::to_vec_pretty(&workers)
            .map_err(|e| EngineError::encode("worker-pool.json", &e))?;
        write_atomic(&self.home.worker_snapshot(), &wbytes)?;
        let bytes = serde_json::to_vec_pretty(&snap)
            .map_err(|e| EngineError::encode("task-queue.json", &e))?;
        write_atomic(&self.home.task_snapshot(), &bytes)?;
        self.snapshot_seq = self.state.last_seq;
        Ok(())
    }
}

impl Store {
    /// What was changed behind this owner's back since it loaded: a journal
    /// deleted, replaced or cut short (its records are all in memory: a new
    /// journal is started, and the snapshot about to be written holds
    /// everything), and a snapshot path taken by something else.
    fn repair_in_flight(&mut self) -> Result<(), EngineError> {
        let stamp = clock::file_stamp(clock::now());
        let jpath = self.home.journal();
        if !self.journal.in_place() {
            warn!(
                records = self.state.last_seq,
                "journal.jsonl was deleted, replaced or cut short while this owner ran: \
                 a new journal is started and task-queue.json holds every record so far"
            );
            if fs::symlink_metadata(&jpath).is_ok() {
                let why = "journal.jsonl was changed while an owner ran".to_string();
                let q = set_aside(&self.home, &jpath, &stamp, why, Aside::Move)?;
                warn!(moved_to = %q.moved_to.display(), "quarantined: {}", q.reason);
            }
            self.journal = JournalWriter::open(&jpath, 0)?;
        }
        for path in [self.home.task_snapshot(), self.home.worker_snapshot()] {
            if fs::symlink_metadata(&path).is_ok() && !path.is_file() {
                let why = "a folder where a file belongs".to_string();
                let q = set_aside(&self.home, &path, &stamp, why, Aside::Move)?;
                warn!(moved_to = %q.moved_to.display(), "quarantined: {}", q.reason);
            }
        }
        Ok(())
    }
}

/// Moves an unterminated last journal line (the writer died mid-line, so it
/// was never acknowledged) into `quarantine/` and cuts the journal before
/// it. Cutting needs no space: on a full disk the copy is skipped (and the
/// line logged), never the cut, so every later command can still start.
fn drop_torn_tail(
    home: &Home,
    torn: &BadLine,
    stamp: &str,
) -> Result<Vec<Quarantined>, EngineError> {
    let jpath = home.journal();
    let qdir = home.quarantine();
    let qfile = qdir.join(format!("journal-{stamp}.torn.jsonl"));
    let mut saved = torn.bytes.clone();
    saved.push(b'\n');
    let kept = fs::create_dir_all(&qdir)
        .map_err(|e| EngineError::io("cannot create", &qdir, e))
        .and_then(|()| write_atomic(&qfile, &saved));
    let moved_to = match kept {
        Ok(()) => qfile,
        Err(e) if e.is_disk_full() => {
            warn!(
                bytes = torn.bytes.len(),
                line = %String::from_utf8_lossy(&torn.bytes[..torn.bytes.len().min(200)]),
                "no room to keep a copy of the torn last journal line: {e}"
            );
            PathBuf::new()
        }
        Err(e) => return Err(e),
    };
    OpenOptions::new()
        .write(true)
        .open(&jpath)
        .and_then(|f| {
            f.set_len(torn.offset)?;
            f.sync_all()
        })
        .map_err(|e| EngineError::io("cannot cut the torn line off", &jpath, e))?;
    warn!(
        bytes = torn.bytes.len(),
        "torn last journal line skipped (it was never acknowledged)"
    );
    Ok(vec![Quarantined {
        what: format!(
            "journal.jsonl {} (torn last line)",
            journal::place_in(&jpath, torn.offset)
        ),
        moved_to,
        reason: torn.error.clone(),
    }])
}

/// Moves unreadable journal lines into `quarantine/` and rewrites the journal
/// without them. The quarantine copy is durable before the journal changes.
fn quarantine_journal_lines(
    home: &Home,
    bad: &[BadLine],
    stamp: &str,
) -> Result<Vec<Quarantined>, EngineError> {
    let jpath = home.journal();
    let qdir = home.quarantine();
    crate::files::create_dir_all(&qdir).map_err(|e| EngineError::io("cannot create", &qdir, e))?;
    let qfile = qdir.join(format!("journal-{stamp}.jsonl"));
    let mut saved = Vec::new();
    for b in bad {
        saved.extend_from_slice(&b.bytes);
        saved.push(b'\n');
    }
    let original =
        fs::read(&jpath).map_err(|e| EngineError::io("cannot read the journal", &jpath, e))?;
    let mut kept = Vec::with_capacity(original.len());
    let mut pos = 0usize;
    for b in bad {
        let start = usize::try_from(b.offset)
            .unwrap_or(original.len())
            .min(original.len());
        let end = (start + b.bytes.len() + 1).min(original.len());
        kept.extend_from_slice(&original[pos..start]);
        pos = end;
    }
    kept.extend_from_slice(&original[pos.min(original.len())..]);
    // If the rewrite fails (a full disk), the copy goes: the lines stay in
    // the journal, and the next start moves them aside.
    write_atomic(&qfile, &saved)?;
    if let Err(e) = write_atomic(&jpath, &kept) {
        let _ = fs::remove_file(&qfile);
        return Err(e);
    }
    Ok(bad
        .iter()
        .map(|b| Quarantined {
            what: format!(
                "journal.jsonl line {}",
                journal::line_at(&original, b.offset)
            ),
            moved_to: qfile.clone(),
            reason: b.error.clone(),
        })
        .collect())
}

/// Ensures the journal ends with a newline; returns its length.
fn terminate_last_line(path: &Path) -> Result<u64, EngineError> {
    let Ok(bytes) = fs::read(path) else {
        return Ok(0);
    };
    if bytes.last().is_some_and(|&b| b != b'\n') {
        let mut f = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| EngineError::io("cannot open the journal", path, e))?;
        f.write_all(b"\n")
            .and_then(|()| f.sync_data())
            .map_err(|e| EngineError::io("cannot repair", path, e))?;
        return Ok(bytes.len() as u64 + 1);
    }
    Ok(bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testfs::SmallDisk;

    #[test]
    fn records_past_the_last_number_are_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        home.init().unwrap();
        let (mut store, _) = Store::open_owner(&home, OwnerKind::Cli).unwrap();
        let paused = || Event::SpawningPaused { paused: true };
        store.state.last_seq = Record::MAX_SEQ - 1;
        let len = || fs::metadata(home.journal()).map_or(0, |m| m.len());
        let before = len();
        let err = store
            .stage_all(vec![paused(), paused()], clock::now())
            .unwrap_err();
        assert!(
            matches!(&err, EngineError::HomeUnusable { message, .. } if message.contains("nothing more can be recorded")),
            "{err}"
        );
        assert_eq!((len(), store.state.last_seq), (before, Record::MAX_SEQ - 1));
        // The last number is still given, once.
        assert_eq!(
            store.stage(paused(), clock::now()).unwrap().seq,
            Record::MAX_SEQ
        );
        store.state.last_seq = u64::MAX;
        assert!(store.stage(paused(), clock::now()).is_err());
    }

    #[test]
    fn a_torn_last_line_on_a_full_disk_does_not_stop_the_next_start() {
        let Some(disk) = SmallDisk::mount(2 * 1024 * 1024) else {
            return;
        };
        let home = Home::new(disk.path().join("home"));
        home.init().unwrap();
        // Another test's child may hold the lock's descriptor for an instant
        // (between its fork and its exec): such a holder is waited out.
        let open = || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                match Store::open_owner(&home, OwnerKind::Cli) {
                    Err(EngineError::Owned {
                        momentary: true, ..
                    }) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    other => break other.expect("starts"),
                }
            }
        };
        let (mut store, _) = open();
        store
            .commit(Event::SpawningPaused { paused: true }, clock::now())
            .unwrap();
        drop(store);
        // The writer died mid-line.
        let mut f = OpenOptions::new()
            .append(true)
            .open(home.journal())
            .unwrap();
        f.write_all(br#"{"v":1,"seq":2,"at":"#).unwrap();
        drop(f);
        disk.fill();
        for _ in 0..3 {
            let (store, report) = open();
            assert!(store.state().spawning_paused, "acknowledged records kept");
            drop(store);
            assert!(report.quarantined.len() <= 1, "{report:?}");
        }
        let leftovers: Vec<_> = fs::read_dir(home.root())
            .unwrap()
            .chain(fs::read_dir(home.quarantine()).into_iter().flatten())
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name().to_string_lossy().ends_with(".tmp")
                    || e.metadata().is_ok_and(|m| m.is_file() && m.len() == 0)
                        && e.path().starts_with(home.quarantine())
            })
            .map(|e| e.path())
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        disk.free();
    }
}
