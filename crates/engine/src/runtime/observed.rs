//! A worker as seen from outside the engine that owns it: its output files
//! read for what it is doing, the owner's verdict for its health, a process
//! that is gone shown as such.

use super::worker_dto::{apply_verdict, worker_dto, WorkerDto};
use super::*;

/// Adds the owner's live figures of the attempt to a DTO of its worker.
fn add_summary(dto: &mut WorkerDto, s: &crate::pm::LiveSummary, a: &cortex_core::worker::Attempt) {
    let started_at = a.started_at;
    dto.tokens = Tokens::from(dto.tokens).saturating_add(s.tokens).into();
    dto.cost_usd += s.cost_usd;
    dto.cost_estimated |= s.cost_estimated;
    dto.live_attempt = Some(AttemptFigures {
        n: a.n,
        tokens: s.tokens.into(),
        cost_usd: s.cost_usd,
        cost_estimated: s.cost_estimated,
        queued: false,
    });
    dto.last_text = s.last_text.as_deref().map(redact).or(dto.last_text.take());
    dto.started_at = Some(started_at);
}

/// Shows an attempt whose process is gone and that no owner has settled:
/// what its output says, and who has not settled it (`said`).
fn show_exited(dto: &mut WorkerDto, progress: &Progress, said: &str) {
    let outcome = classify(progress, Exit::Unknown, None);
    dto.pid = None;
    dto.health = "exited".into();
    dto.health_reason = Some(format!(
        "the process is gone and {said}: {}",
        outcome.reason
    ));
    dto.result = outcome.result.or(dto.result.take());
}

/// A live worker no owner watches: nobody judges its health, so the view
/// says that instead of a verdict, with how long it has been silent.
fn show_unwatched(dto: &mut WorkerDto) {
    let silent = match (dto.last_activity_at, dto.last_activity_source.as_deref()) {
        (Some(at), Some(source)) => format!(
            "; last sign of life: {source}, {}s ago",
            (clock::now() - at).num_seconds().max(0)
        ),
        _ => String::new(),
    };
    dto.health = "unwatched".into();
    dto.health_reason = Some(format!(
        "no owner watches it: nothing judges its health, restarts or stops it until `cortex run` or the desktop app runs{silent}"
    ));
}

/// What the last 256 KiB of an output file say (its result line, when it
/// has one): an ended attempt's outcome without reading all it printed.
pub(crate) fn end_of_output(path: &std::path::Path) -> Progress {
    const TAIL: u64 = 256 << 10;
    let mut tail = Tail::new(path.to_path_buf());
    let len = std::fs::metadata(path).map_or(0, |m| m.len());
    tail.offset = len.saturating_sub(TAIL);
    let mut progress = Progress::default();
    // From the middle of a line, what is read first is that line's end.
    let mut skip = tail.offset > 0
        && std::fs::File::open(path).is_ok_and(|f| {
            let mut b = [0u8; 1];
            std::os::unix::fs::FileExt::read_at(&f, &mut b, tail.offset - 1)
                .is_ok_and(|n| n == 1 && b[0] != b'\n')
        });
    let at = clock::now();
    tail.read_with(usize::MAX, |line, _| {
        if !std::mem::take(&mut skip) {
            progress.apply_line(line, at);
        }
    });
    if let Some(r) = tail.take_rest() {
        progress.apply_line(&r, at);
    }
    progress
}

/// Names the DTO's process as the launcher calls it.
pub(crate) fn name_process(dto: &mut WorkerDto, launcher: &dyn crate::launcher::Launcher) {
    dto.process = dto.pid.map(|p| launcher.process_name(p));
}

/// The DTO of a worker seen from outside the owning engine: its live
/// attempt's output files are read to show what it is doing, the owner's PM
/// verdict (when one runs) gives its health, and a process that is gone is
/// shown as such, never as running.
pub(crate) fn observed_dto(
    home: &crate::Home,
    w: &Worker,
    time_limit_secs: u64,
    prices: &BTreeMap<String, ModelPrice>,
    verdicts: &PmVerdicts,
    owner_runs: bool,
    launcher: &dyn crate::launcher::Launcher,
) -> WorkerDto {
    // Every way out names the process the same way.
    let mut dto = (|| -> WorkerDto {
        let Some(a) = w.live_attempt() else {
            let mut dto = worker_dto(w, None, time_limit_secs, None, prices);
            // Its work being checked while no owner runs: the check may have
            // ended since; said so, not "being checked".
            if let Some(v) = w
                .verification
                .as_ref()
                .filter(|v| v.running() && !owner_runs)
            {
                let alive = v
                    .pid
                    .is_some_and(|p| launcher.is_same_process(p, v.start_ticks, w.id.as_str()));
                if !alive {
                    let n = w.current().map_or(1, |c| c.n);
                    let log = attempt_dir(home, &w.id, n).join("verify.log");
                    dto.health = "exited".into();
                    dto.reason = Some(match crate::verify::recorded_exit(&log) {
                        Some(code) => format!(
                            "its check ended (exit {code}) while no owner ran; the next owner settles it"
                        ),
                        None => "its check's process is gone and no owner settled it; the next owner runs it again".into(),
                    });
                }
            }
            return dto;
        };
        let running = a
            .pid
            .is_some_and(|p| launcher.is_same_process(p, a.start_ticks, w.id.as_str()));
        // A verdict is the owner's: with none running, the last one's verdicts
        // in pm-state.json are history, not the worker's health now.
        let summary = verdicts
            .get(w.id.as_str())
            .filter(|(attempt, v)| owner_runs && *attempt == a.n && v.live.is_some());
        if let (Some((_, v)), false) = (summary, running) {
            // Ended while the owner still reads its output (a flood): the
            // owner's figures, and how it ended from the end of its output,
            // never a second reading of all of it.
            let dir = attempt_dir(home, &w.id, a.n);
            let mut dto = worker_dto(w, None, time_limit_secs, None, prices);
            if let Some(s) = &v.live {
                add_summary(&mut dto, s, a);
            }
            let end = end_of_output(&dir.join("stdout.jsonl"));
            show_exited(
                &mut dto,
                &end,
                "the owner has not settled it yet; its output ends",
            );
            return dto;
        }
        if let Some((_, v)) = summary.filter(|_| running) {
            // The owner's summary: no need to read the output again.
            let mut dto = worker_dto(w, None, time_limit_secs, None, prices);
            if let Some(s) = &v.live {
                add_summary(&mut dto, s, a);
                // Its state stays as `worker_dto` reads it: a stop
                // journaled for this attempt makes it `stopping`.
                dto.pid = a.pid;
                dto.activity = Some(s.activity.clone());
                dto.waiting_for = crate::views::waiting_for(w, dto.activity.as_ref());
            }
            apply_verdict(&mut dto, v.clone());
            return dto;
        }
        let dir = attempt_dir(home, &w.id, a.n);
        let mut live = Live::new(
            w,
            a,
            Tail::new(dir.join("stdout.jsonl")),
            home.heartbeats().join(format!("{}.jsonl", w.id)),
            false,
        );
        // While an owner runs it reads this output and reports on it; until
        // its first report on this attempt (it just started, or the owner is
        // busy starting a burst of agents) a view reads only the end of it, not
        // a flood a second time: what it does now, without its counts so far.
        // Whether this view counts the attempt's figures: from outside an
        // owner that has not reported yet, only a result line's.
        let mut counted = true;
        if owner_runs {
            live.progress = end_of_output(&dir.join("stdout.jsonl"));
            if live.progress.result.is_none() {
                live.progress.tokens = Default::default();
                counted = false;
            }
        } else {
            // Times of lines are not known from outside: use the file's mtime.
            let mtime = std::fs::metadata(dir.join("stdout.jsonl"))
                .and_then(|m| m.modified())
                .ok()
                .map(DateTime::<Utc>::from)
                .unwrap_or(a.started_at);
            absorb_output(&mut live, mtime);
            if !running {
                if let Some(r) = live.out.take_rest() {
                    live.progress.apply_line(&r, mtime);
                }
            }
        }
        let mut dto = worker_dto(w, Some(&live), time_limit_secs, None, prices);
        if !counted {
            // Nothing of this attempt is in the figures: none is claimed.
            dto.live_attempt = None;
            dto.cost_estimated = w.cost_estimated;
        }
        let not_counted = if counted {
            ""
        } else {
            " (its tokens and cost so far are not counted here)"
        };
        match verdicts.get(w.id.as_str()) {
            Some((attempt, v)) if *attempt == a.n && running && owner_runs => {
                apply_verdict(&mut dto, v.clone());
            }
            _ if running && !owner_runs => show_unwatched(&mut dto),
            _ if !running && owner_runs => show_exited(
                &mut dto,
                &live.progress,
                &format!("the owner has not settled it yet{not_counted}; its output ends"),
            ),
            _ if !running => show_exited(
                &mut dto,
                &live.progress,
                "no owner has settled it yet; its output says",
            ),
            _ if owner_runs => {
                dto.health_reason = Some(format!(
                    "the owner has not reported on this attempt yet{not_counted}"
                ));
            }
            _ => {}
        }
        dto
    })();
    name_process(&mut dto, launcher);
    dto
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owners_figures_too_large_to_add_leave_the_largest_count() {
        let now = clock::now();
        let mut w = Worker::new(
            clock::worker_id(now),
            clock::task_id(now),
            "development",
            "/".into(),
            now,
        );
        w.tokens.input = 5;
        let mut dto = worker_dto(&w, None, 3600, None, &BTreeMap::new());
        let summary = crate::pm::LiveSummary {
            lines: 2,
            tokens: Tokens {
                input: u64::MAX,
                ..Tokens::default()
            },
            cost_usd: 0.0,
            cost_estimated: false,
            activity: Activity::Starting,
            last_text: None,
        };
        add_summary(
            &mut dto,
            &summary,
            &cortex_core::worker::Attempt::started(1, now, None),
        );
        assert_eq!(dto.tokens.input, u64::MAX);
    }
}
