//! The append-only journal (`journal.jsonl`).
//!
//! Writing: one `write_all` per record line, then `sync_data` before anything
//! that depends on it is acknowledged. Reading: lines are parsed in order; a
//! torn last line (no newline, not JSON: the writer died mid-write, so it was
//! never acknowledged) is reported separately from a corrupt line anywhere
//! else, which the owner quarantines.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use cortex_core::state::Record;
use cortex_core::SCHEMA_VERSION;

use crate::error::EngineError;

/// Appends records to the journal.
#[derive(Debug)]
pub struct JournalWriter {
    file: File,
    path: PathBuf,
    offset: u64,
    dirty: bool,
}

impl JournalWriter {
    /// Opens for appending; `offset` is the length of the valid content.
    pub fn open(path: &Path, offset: u64) -> Result<Self, EngineError> {
        let file = crate::files::options()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| EngineError::io("cannot open the journal", path, e))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            offset,
            dirty: false,
        })
    }

    /// Writes one record (not yet durable: call `sync`).
    pub fn stage(&mut self, rec: &Record) -> Result<(), EngineError> {
        self.stage_all(std::slice::from_ref(rec))
    }

    /// Writes records with one write, all or none: a write cut short (a full
    /// disk) is cut back to the last whole record, so no torn line is left
    /// for the next record to be glued to.
    pub fn stage_all(&mut self, recs: &[Record]) -> Result<(), EngineError> {
        let mut lines = Vec::new();
        for rec in recs {
            serde_json::to_writer(&mut lines, rec)
                .map_err(|e| EngineError::encode("a journal record", &e))?;
            lines.push(b'\n');
        }
        if let Err(e) = self.file.write_all(&lines) {
            // Shrinking needs no space; if it fails too, the torn bytes are
            // an unterminated line the next start quarantines.
            let _ = self.file.set_len(self.offset);
            return Err(EngineError::io(
                "cannot append to the journal",
                &self.path,
                e,
            ));
        }
        self.offset += lines.len() as u64;
        self.dirty = true;
        Ok(())
    }

    /// Makes every staged record durable.
    pub fn sync(&mut self) -> Result<(), EngineError> {
        if self.dirty {
            self.file
                .sync_data()
                .map_err(|e| EngineError::io("cannot fsync the journal", &self.path, e))?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Length of the journal's valid content in bytes.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// True while the journal's path still names the file this writer
    /// appends to, at least as long as what it wrote: false once it was
    /// deleted, replaced or cut short behind the owner's back. (Bytes past
    /// the offset are a failed append's, handled as a torn line.)
    pub fn in_place(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let (Ok(ours), Ok(named)) = (self.file.metadata(), std::fs::metadata(&self.path)) else {
            return false;
        };
        ours.dev() == named.dev() && ours.ino() == named.ino() && ours.len() >= self.offset
    }
}

/// A line that could not be used.
#[derive(Debug, Clone)]
pub struct BadLine {
    /// 1-based line number within the part read.
    pub line_no: usize,
    /// Byte offset in the journal where the line starts.
    pub offset: u64,
    /// The line as read, without its newline.
    pub bytes: Vec<u8>,
    /// Why the line could not be parsed.
    pub error: String,
}

/// What a read of the journal found besides good records.
#[derive(Debug, Default)]
pub struct ReadOutcome {
    /// Good records read.
    pub records: usize,
    /// Unparsable lines that ended with a newline (a torn last line is in `torn_tail`).
    pub bad: Vec<BadLine>,
    /// An unterminated, unparsable last line.
    pub torn_tail: Option<BadLine>,
    /// Offset just after the last complete line.
    pub end_offset: u64,
    /// Sequence number of the first record read, to check a snapshot's offset.
    pub first_seq: Option<u64>,
}

fn parse_line(line: &[u8]) -> Result<Record, String> {
    let rec: Record = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    if rec.v > SCHEMA_VERSION {
        return Err(format!(
            "record version {} is newer than this build understands ({SCHEMA_VERSION})",
            rec.v
        ));
    }
    // A damaged number is not taken: the state would go on from it, and
    // every record after it be skipped as already applied.
    if let Some(why) = Record::seq_problem(rec.seq) {
        return Err(why);
    }
    Ok(rec)
}

/// Reads records from `start` to the end, calling `on_record` for each good
/// one in order. A missing journal reads as empty.
pub fn read_from(
    path: &Path,
    start: u64,
    mut on_record: impl FnMut(Record),
) -> Result<ReadOutcome, EngineError> {
    let mut buf = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.seek(SeekFrom::Start(start))
                .and_then(|_| f.read_to_end(&mut buf))
                .map_err(|e| EngineError::io("cannot read the journal", path, e))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(EngineError::io("cannot read the journal", path, e)),
    }
    let mut out = ReadOutcome {
        end_offset: start,
        ..ReadOutcome::default()
    };
    let mut pos = 0usize;
    let mut line_no = 0usize;
    while pos < buf.len() {
        line_no += 1;
        let (line, next, terminated) = match buf[pos..].iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[pos..pos + i], pos + i + 1, true),
            None => (&buf[pos..], buf.len(), false),
        };
        let offset = start + pos as u64;
        if line.iter().all(u8::is_ascii_whitespace) {
            pos = next;
            if terminated {
                out.end_offset = start + next as u64;
            }
            continue;
        }
        match parse_line(line) {
            Ok(rec) => {
                out.first_seq.get_or_insert(rec.seq);
                out.records += 1;
                on_record(rec);
                // A complete record that only lacks its newline is kept; the
                // owner adds the newline before appending.
                out.end_offset = start + next as u64;
            }
            Err(error) => {
                let bad = BadLine {
                    line_no,
                    offset,
                    bytes: line.to_vec(),
                    error,
                };
                if terminated {
                    out.bad.push(bad);
                    out.end_offset = start + next as u64;
                } else {
                    out.torn_tail = Some(bad);
                }
            }
        }
        pos = next;
    }
    Ok(out)
}

/// The sequence number of the record that starts at `offset`, if a whole,
/// readable record starts there.
pub fn seq_at(path: &Path, offset: u64) -> Option<u64> {
    use std::io::BufRead;
    let mut f = File::open(path).ok()?;
    f.seek(SeekFrom::Start(offset)).ok()?;
    let mut line = Vec::new();
    std::io::BufReader::new(f)
        .read_until(b'\n', &mut line)
        .ok()?;
    parse_line(line.strip_suffix(b"\n").unwrap_or(&line))
        .ok()
        .map(|r| r.seq)
}

/// True when the byte before `offset` is a newline (or `offset` is 0), i.e.
/// `offset` can be the start of a line.
pub fn is_line_start(path: &Path, offset: u64) -> bool {
    if offset == 0 {
        return true;
    }
    let Ok(mut f) = File::open(path) else {
        return false;
    };
    let mut b = [0u8; 1];
    f.seek(SeekFrom::Start(offset - 1)).is_ok() && f.read_exact(&mut b).is_ok() && b[0] == b'\n'
}

/// The 1-based line of a whole journal's `bytes` that starts at `offset`
/// (a `BadLine`'s own number counts from where its read began).
pub fn line_at(bytes: &[u8], offset: u64) -> usize {
    let end = usize::try_from(offset)
        .unwrap_or(bytes.len())
        .min(bytes.len());
    bytes[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Where `offset` is in the journal at `path`, for a person: "line 812",
/// or "byte 40960" when the file cannot be read up to it.
pub fn place_in(path: &Path, offset: u64) -> String {
    let mut head = Vec::new();
    match File::open(path).and_then(|f| f.take(offset).read_to_end(&mut head)) {
        Ok(n) if n as u64 == offset => format!("line {}", line_at(&head, offset)),
        _ => format!("byte {offset}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cortex_core::id::TaskId;
    use cortex_core::state::Event;
    use cortex_core::task::TaskStatus;
    use std::fs::OpenOptions;

    fn rec(seq: u64) -> Record {
        Record::new(
            seq,
            chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            Event::TaskStatusChanged {
                task_id: TaskId::new(1, [1; 10]),
                status: TaskStatus::Queued,
                reason: None,
            },
        )
    }

    #[test]
    fn written_records_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let mut w = JournalWriter::open(&p, 0).unwrap();
        for s in 1..=3 {
            w.stage(&rec(s)).unwrap();
        }
        w.sync().unwrap();
        let mut seqs = vec![];
        let out = read_from(&p, 0, |r| seqs.push(r.seq)).unwrap();
        assert_eq!(seqs, vec![1, 2, 3]);
        assert_eq!(out.end_offset, w.offset());
        assert!(out.bad.is_empty() && out.torn_tail.is_none());
    }

    #[test]
    fn torn_tail_and_corrupt_middle_lines_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let mut w = JournalWriter::open(&p, 0).unwrap();
        w.stage(&rec(1)).unwrap();
        w.sync().unwrap();
        let good_end = w.offset();
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"garbage line\n").unwrap();
        f.write_all(&serde_json::to_vec(&rec(2)).unwrap()).unwrap();
        f.write_all(b"\n{\"v\":1,\"seq\":3,\"at\"").unwrap();
        let mut seqs = vec![];
        let out = read_from(&p, 0, |r| seqs.push(r.seq)).unwrap();
        assert_eq!(seqs, vec![1, 2]);
        assert_eq!(out.bad.len(), 1);
        assert_eq!((out.bad[0].line_no, out.bad[0].offset), (2, good_end));
        let torn = out.torn_tail.expect("torn tail");
        assert_eq!(torn.line_no, 4);
        assert_eq!(out.end_offset, torn.offset);
    }

    #[test]
    fn a_failed_append_leaves_no_torn_line() {
        let Some(disk) = crate::testfs::SmallDisk::mount(64 * 1024) else {
            return;
        };
        let p = disk.path().join("j.jsonl");
        let mut w = JournalWriter::open(&p, 0).unwrap();
        w.stage(&rec(1)).unwrap();
        w.sync().unwrap();
        disk.fill();
        let big: Vec<Record> = (2..2000).map(rec).collect();
        let err = w.stage_all(&big).expect_err("the disk is full");
        assert!(err.is_disk_full(), "{err}");
        disk.free();
        w.stage(&rec(2)).unwrap();
        w.sync().unwrap();
        let mut seqs = vec![];
        let out = read_from(&p, 0, |r| seqs.push(r.seq)).unwrap();
        assert_eq!(seqs, vec![1, 2]);
        assert!(out.bad.is_empty() && out.torn_tail.is_none(), "{out:?}");
    }

    #[test]
    fn a_newer_record_version_is_not_guessed_at() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let mut line = serde_json::to_string(&rec(1))
            .unwrap()
            .replacen("\"v\":1", "\"v\":99", 1);
        line.push('\n');
        std::fs::write(&p, line).unwrap();
        let out = read_from(&p, 0, |_| panic!("must not apply")).unwrap();
        assert!(out.bad[0].error.contains("newer"), "{}", out.bad[0].error);
    }
}
