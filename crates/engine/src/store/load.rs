//! Loading a home's state: the snapshots when they match the journal,
//! else the journal alone when it is whole, else the snapshots with the
//! journal's newer records (nothing a snapshot holds is dropped for a
//! journal that lacks it).

use super::*;

pub(super) struct Loaded {
    pub(super) state: State,
    pub(super) report: LoadReport,
    pub(super) bad: Vec<BadLine>,
    pub(super) torn: Option<BadLine>,
    pub(super) corrupt_snapshot: Option<String>,
    pub(super) corrupt_workers: Option<String>,
    /// Set when the snapshot holds records the journal no longer has.
    pub(super) journal_behind: Option<JournalBehind>,
}

/// Reads a snapshot file: `Ok(None)` when there is none, `Err(why)` when
/// there is something that cannot be used. `version_and_seq` gives its
/// schema version and the journal record it was taken at.
fn read_snapshot<T: serde::de::DeserializeOwned>(
    path: &Path,
    version_and_seq: impl Fn(&T) -> (u32, u64),
) -> Result<Option<T>, String> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot be read: {e}")),
    };
    let snap = serde_json::from_slice::<T>(&bytes).map_err(|e| e.to_string())?;
    let (version, seq) = version_and_seq(&snap);
    if version > SCHEMA_VERSION {
        return Err(format!("schema version {version} is newer than this build"));
    }
    // Numbering would go on from a damaged number: the journal is read
    // instead, as for any snapshot that cannot be used.
    if let Some(why) = Record::seq_problem(seq) {
        return Err(format!("its journal_seq: {why}"));
    }
    Ok(Some(snap))
}

/// Replays the journal from `start`; a journal that is not a file (the
/// owner moves such a thing aside before loading) reads as empty.
fn replay(
    jpath: &Path,
    start: u64,
    on_record: impl FnMut(Record),
) -> Result<journal::ReadOutcome, EngineError> {
    if fs::metadata(jpath).is_ok_and(|m| !m.is_file()) {
        warn!(path = %jpath.display(), "journal.jsonl is not a file; read as empty");
        return Ok(journal::ReadOutcome::default());
    }
    journal::read_from(jpath, start, on_record)
}

/// Both snapshots and why each could not be read.
type Snapshots = (
    Option<TaskSnapshot>,
    Option<String>,
    Option<WorkerSnapshot>,
    Option<String>,
);

fn read_snapshots(home: &Home) -> Snapshots {
    let (snapshot, corrupt_snapshot) =
        match read_snapshot::<TaskSnapshot>(&home.task_snapshot(), |s| {
            (s.schema_version, s.journal_seq)
        }) {
            Ok(s) => (s, None),
            Err(why) => (None, Some(why)),
        };
    let (workers, corrupt_workers) =
        match read_snapshot::<WorkerSnapshot>(&home.worker_snapshot(), |w| {
            (w.schema_version, w.journal_seq)
        }) {
            Ok(w) => (w, None),
            Err(why) => (None, Some(why)),
        };
    (snapshot, corrupt_snapshot, workers, corrupt_workers)
}

/// The snapshots as one point of the journal: the owner replaces the
/// worker snapshot, then the task snapshot, so a reader between the two
/// renames reads them from two points; it reads them again (twice at most)
/// before taking them for a mismatch left by a crash.
fn read_agreeing_snapshots(home: &Home) -> Snapshots {
    let mut read = read_snapshots(home);
    for _ in 0..2 {
        match (&read.0, &read.2) {
            (Some(t), Some(w)) if t.journal_seq != w.journal_seq => read = read_snapshots(home),
            _ => break,
        }
    }
    read
}

pub(super) fn load(home: &Home) -> Result<Loaded, EngineError> {
    let jpath = home.journal();
    let (snapshot, corrupt_snapshot, workers, corrupt_workers) = read_agreeing_snapshots(home);
    // Set when the workers are taken from a task snapshot with no usable
    // worker snapshot beside it: the journal's own workers are added.
    let mut workers_lost = false;
    let (mut state, start, journal_behind) = match snapshot {
        None => (State::default(), None, None),
        Some(snap) => {
            // Workers must come from the same journal point as the tasks.
            let workers_agree = match &workers {
                Some(w) => w.journal_seq == snap.journal_seq,
                None => no_workers_in(&snap),
            };
            let tail_fits = journal::is_line_start(&jpath, snap.journal_offset)
                && journal::seq_at(&jpath, snap.journal_offset)
                    .is_none_or(|s| s > snap.journal_seq);
            let mut journal_last = 0;
            // Whether the journal alone holds every record up to its last:
            // one from record 1 on, none unreadable, none missing between.
            let mut whole = false;
            if !(workers_agree && tail_fits) {
                let mut count = 0u64;
                let out = replay(&jpath, 0, |r| {
                    journal_last = journal_last.max(r.seq);
                    count += 1;
                })?;
                // A torn last line is the one write after the last record
                // that never finished: nothing before it is missing.
                whole = out.bad.is_empty()
                    && out.first_seq.is_none_or(|s| s == 1)
                    && count == journal_last;
            }
            let missing = workers.is_none();
            let (ws, paused) =
                workers.map_or((Vec::new(), false), |w| (w.workers, w.spawning_paused));
            if workers_agree && tail_fits {
                let offset = snap.journal_offset;
                let state = State::from_parts(snap.tasks, ws, snap.plans, paused, snap.journal_seq);
                (state, Some(offset), None)
            } else if whole && journal_last >= snap.journal_seq {
                // The journal alone rebuilds everything.
                warn!(
                    "task-queue.json does not match the journal; rebuilding from the whole journal"
                );
                (State::default(), None, None)
            } else {
                // The journal lost records the snapshot holds: start from the
                // snapshot; the journal's records it already holds are skipped.
                let behind = JournalBehind {
                    journal_last_seq: journal_last,
                    snapshot_seq: snap.journal_seq,
                    journal_whole: whole,
                };
                warn!("{}: starting from task-queue.json", behind.words());
                if missing && !workers_agree {
                    warn!("worker-pool.json is missing or unreadable: the workers the journal still holds are taken from it");
                    workers_lost = true;
                } else if !workers_agree {
                    warn!("worker-pool.json was taken at another journal point; its workers are used as they are");
                }
                let state = State::from_parts(snap.tasks, ws, snap.plans, paused, snap.journal_seq);
                (state, Some(0), Some(behind))
            }
        }
    };
    let out = replay(&jpath, start.unwrap_or(0), |r| state.apply(&r))?;
    if workers_lost {
        // Their records were skipped for workers the state did not know:
        // the journal read alone knows the ones it created.
        let mut alone = State::default();
        replay(&jpath, 0, |r| alone.apply(&r))?;
        let added = state.add_missing_workers(&alone);
        if added > 0 {
            warn!(added, "workers rebuilt from the journal alone");
        }
    }
    Ok(Loaded {
        report: LoadReport {
            from_snapshot: start.is_some(),
            replayed_records: out.records,
            tasks: state.task_count(),
            ..LoadReport::default()
        },
        state,
        bad: out.bad,
        torn: out.torn_tail,
        corrupt_snapshot,
        corrupt_workers,
        journal_behind,
    })
}

/// A task snapshot without a worker snapshot is usable alone only if no
/// task ever had a worker.
fn no_workers_in(s: &TaskSnapshot) -> bool {
    s.tasks
        .iter()
        .all(|t| t.assignments.iter().all(|a| a.worker_id.is_none()))
}
