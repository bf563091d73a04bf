//! Usage over time: tokens and cost per day, by expert, model and project,
//! read from the journal.
//!
//! Theory of operation: every attempt's end (`attempt_ended`) carries its
//! tokens and cost (the agent's figure, or Cortex's estimate when it ended
//! without one), and its `modelUsage` split by model when the agent gave
//! it. The journal is append-only, so a `UsageIndex` reads it once and then
//! only what was appended since (a torn last line is left for the next
//! read); it folds each end into a bucket keyed by the local day it ended
//! on (`DayCuts`: each day from its own local midnight, so a
//! daylight-saving change moves nothing to another day), the worker's
//! expert, the model and the project (the repository the
//! worker's work started in, else its folder). A journal that became
//! shorter than what was read was replaced: the index starts over.
//!
//! Only ended attempts count: a running attempt's live estimate is shown
//! with the worker, and is counted here once it ends.
//!
//! May depend on: cortex-core, the journal reader.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use cortex_core::state::{Event, Record};
use cortex_core::stream::{credible_cost, Outcome, Tokens};
use serde::{Deserialize, Serialize};

use crate::error::EngineError;
use crate::journal;

/// The longest window a report covers, in days.
pub const MAX_DAYS: u32 = 366;

/// One bucket of a usage report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageRow {
    /// The day the attempts ended on, `YYYY-MM-DD`, in the asked offset.
    pub day: String,
    /// The expert the attempts' workers ran as.
    pub expert: String,
    /// None when the agent did not say which model it used (an attempt
    /// that ended without its result line).
    pub model: Option<String>,
    /// The repository the work started in, else the worker's folder.
    pub project: String,
    /// The tokens the attempts used.
    pub tokens: Tokens,
    /// What the attempts cost, in US dollars.
    pub cost_usd: f64,
    /// True when some of `cost_usd` is Cortex's estimate, not the agent's.
    pub cost_estimated: bool,
    /// Attempts that ended in this bucket.
    pub attempts: u64,
}

/// `usage`: the days `since..=until` and every non-empty bucket in them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageReport {
    /// The first day covered, `YYYY-MM-DD`.
    pub since: String,
    /// The last day covered (today), `YYYY-MM-DD`.
    pub until: String,
    /// How many days are covered, 1 to `MAX_DAYS`.
    pub days: u32,
    /// Minutes east of UTC today was cut in (other days were cut at their
    /// own local midnights when the viewer gave them).
    pub utc_offset_minutes: i32,
    /// The non-empty buckets, by day, then expert, model and project.
    pub rows: Vec<UsageRow>,
}

/// The widest offset from UTC a viewer can be at, in minutes.
const MAX_OFFSET_MINUTES: i32 = 14 * 60;

/// One of the viewer's local midnights: when a day starts there, and its
/// offset east of UTC from then on (the app sends one per day it shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Midnight {
    /// The instant, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Minutes east of UTC from that instant on.
    pub offset_minutes: i32,
}

/// Where the viewer's days are cut: the offset east of UTC in effect from
/// each of its local midnights on. Across a daylight-saving change the
/// offset changes from one day to the next, so a day cut at another day's
/// offset would take an hour of its neighbour's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCuts {
    /// From each instant on, its offset; oldest first, never empty. Before
    /// the first instant, the first offset.
    from: Vec<(DateTime<Utc>, i32)>,
}

impl DayCuts {
    /// One offset for every day: a time zone without daylight saving, or a
    /// caller that knows no more.
    pub fn fixed(utc_offset_minutes: i32) -> Self {
        Self {
            from: vec![(
                DateTime::<Utc>::MIN_UTC,
                utc_offset_minutes.clamp(-MAX_OFFSET_MINUTES, MAX_OFFSET_MINUTES),
            )],
        }
    }

    /// The viewer's local midnights, in any order; `fallback` when there is
    /// none (or none that is a time).
    pub fn midnights(midnights: &[Midnight], fallback: i32) -> Self {
        let mut from: Vec<(DateTime<Utc>, i32)> = midnights
            .iter()
            .filter_map(|m| {
                let at = DateTime::<Utc>::from_timestamp_millis(m.at_ms)?;
                let offset = m
                    .offset_minutes
                    .clamp(-MAX_OFFSET_MINUTES, MAX_OFFSET_MINUTES);
                Some((at, offset))
            })
            .collect();
        from.sort();
        from.dedup_by_key(|(at, _)| *at);
        if from.is_empty() {
            return Self::fixed(fallback);
        }
        Self { from }
    }

    /// The offset in effect at `at`.
    pub fn offset_at(&self, at: DateTime<Utc>) -> i32 {
        let i = self.from.partition_point(|(from, _)| *from <= at);
        self.from[i.saturating_sub(1)].1
    }

    /// The viewer's day `at` falls on: the day of the last midnight at or
    /// before it, whatever the offset does later that day (in autumn the
    /// clocks go back an hour after midnight: read with the later offset,
    /// the day's last hour would fall on the next). Before the first
    /// midnight known, past the last one, or with none known, `at` read
    /// with the offset in effect.
    fn day_of(&self, at: DateTime<Utc>) -> NaiveDate {
        let i = self.from.partition_point(|(from, _)| *from <= at);
        let (from, offset) = self.from[i.saturating_sub(1)];
        let local = |t: DateTime<Utc>| (t + Duration::minutes(i64::from(offset))).date_naive();
        let known_midnight = i > 0 && from != DateTime::<Utc>::MIN_UTC;
        // No day lasts longer than 25 hours.
        if known_midnight && at - from < Duration::hours(25) {
            local(from)
        } else {
            local(at)
        }
    }
}

impl From<i32> for DayCuts {
    fn from(utc_offset_minutes: i32) -> Self {
        Self::fixed(utc_offset_minutes)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    day: NaiveDate,
    expert: String,
    model: Option<String>,
    project: String,
}

#[derive(Debug, Clone, Default)]
struct Bucket {
    tokens: Tokens,
    cost_usd: f64,
    cost_estimated: bool,
    attempts: u64,
}

#[derive(Debug, Clone)]
struct WorkerFacts {
    expert: String,
    project: String,
}

/// Usage folded from a journal, kept up to date by reading what was
/// appended.
#[derive(Debug)]
pub struct UsageIndex {
    path: PathBuf,
    offset: u64,
    /// The sequence number of the last record read.
    last_seq: u64,
    cuts: DayCuts,
    workers: HashMap<String, WorkerFacts>,
    buckets: BTreeMap<Key, Bucket>,
}

/// An attempt's usage per model: from `modelUsage` when the agent gave it
/// (its per-model tokens and cost), else the whole attempt under no model.
/// A model's cost no run can have (`credible_cost`) is not taken: the
/// whole attempt is counted under no model instead, at its own cost.
fn per_model(o: &Outcome) -> Vec<(Option<String>, Tokens, f64)> {
    let count = |v: &serde_json::Value, k: &str| v.get(k).and_then(|n| n.as_u64()).unwrap_or(0);
    let split = o.model_usage.as_object().and_then(|models| {
        models
            .iter()
            .map(|(model, v)| {
                let tokens = Tokens {
                    input: count(v, "inputTokens"),
                    output: count(v, "outputTokens"),
                    cache_read: count(v, "cacheReadInputTokens"),
                    cache_creation: count(v, "cacheCreationInputTokens"),
                };
                let cost = v.get("costUSD").and_then(|c| c.as_f64()).unwrap_or(0.0);
                Some((Some(model.clone()), tokens, credible_cost(cost)?))
            })
            .collect::<Option<Vec<_>>>()
    });
    match split {
        Some(models) if !models.is_empty() => models,
        _ => vec![(None, o.tokens, o.cost_usd)],
    }
}

impl UsageIndex {
    /// An index of the journal at `path`, cutting days where `cuts` says
    /// (the viewer's time zone; an offset in minutes east of UTC cuts every
    /// day at it). Nothing is read yet.
    pub fn new(path: impl Into<PathBuf>, cuts: impl Into<DayCuts>) -> Self {
        Self {
            path: path.into(),
            offset: 0,
            last_seq: 0,
            cuts: cuts.into(),
            workers: HashMap::new(),
            buckets: BTreeMap::new(),
        }
    }

    /// True when this index reads `path` and cuts days where `cuts` says.
    pub fn is_for(&self, path: &std::path::Path, cuts: &DayCuts) -> bool {
        self.path == path && self.cuts == *cuts
    }

    /// Reads what was appended to the journal since the last refresh.
    pub fn refresh(&mut self) -> Result<(), EngineError> {
        let len = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        let replaced = len < self.offset
            || !journal::is_line_start(&self.path, self.offset)
            || journal::seq_at(&self.path, self.offset).is_some_and(|s| s <= self.last_seq);
        if replaced {
            let cuts = self.cuts.clone();
            *self = Self::new(std::mem::take(&mut self.path), cuts);
        }
        let mut records = Vec::new();
        let read = journal::read_from(&self.path, self.offset, |r| records.push(r))?;
        for r in &records {
            self.last_seq = self.last_seq.max(r.seq);
            self.fold(r);
        }
        self.offset = read.end_offset;
        Ok(())
    }

    fn fold(&mut self, r: &Record) {
        match &r.event {
            Event::WorkerCreated { worker } => {
                let project = worker
                    .base
                    .as_ref()
                    .map_or_else(|| worker.workdir.clone(), |b| b.repo.clone());
                self.workers.insert(
                    worker.id.to_string(),
                    WorkerFacts {
                        expert: worker.expert.clone(),
                        project,
                    },
                );
            }
            Event::WorkerBase {
                worker_id, repo, ..
            } => {
                if let Some(w) = self.workers.get_mut(worker_id.as_str()) {
                    w.project = repo.clone();
                }
            }
            Event::AttemptEnded {
                worker_id, outcome, ..
            } => {
                let Some(w) = self.workers.get(worker_id.as_str()).cloned() else {
                    return;
                };
                let day = self.cuts.day_of(r.at);
                for (model, tokens, cost) in per_model(outcome) {
                    let b = self
                        .buckets
                        .entry(Key {
                            day,
                            expert: w.expert.clone(),
                            model,
                            project: w.project.clone(),
                        })
                        .or_default();
                    b.tokens = b.tokens.saturating_add(tokens);
                    b.cost_usd += cost;
                    b.cost_estimated |= outcome.cost_estimated;
                    b.attempts += 1;
                }
            }
            _ => {}
        }
    }

    /// The `days` days that end with the day `now` falls on (at most
    /// `MAX_DAYS`), oldest first.
    pub fn report(&self, now: DateTime<Utc>, days: u32) -> UsageReport {
        let days = days.clamp(1, MAX_DAYS);
        let until = self.cuts.day_of(now);
        let since = until - Duration::days(i64::from(days) - 1);
        let rows = self
            .buckets
            .range(
                Key {
                    day: since,
                    expert: String::new(),
                    model: None,
                    project: String::new(),
                }..,
            )
            .take_while(|(k, _)| k.day <= until)
            .map(|(k, b)| UsageRow {
                day: k.day.format("%Y-%m-%d").to_string(),
                expert: k.expert.clone(),
                model: k.model.clone(),
                project: k.project.clone(),
                tokens: b.tokens,
                cost_usd: b.cost_usd,
                cost_estimated: b.cost_estimated,
                attempts: b.attempts,
            })
            .collect();
        UsageReport {
            since: since.format("%Y-%m-%d").to_string(),
            until: until.format("%Y-%m-%d").to_string(),
            days,
            utc_offset_minutes: self.cuts.offset_at(now),
            rows,
        }
    }
}

/// Usage over the `days` days ending today, read from a home's journal.
pub fn usage(
    home: &crate::Home,
    now: DateTime<Utc>,
    days: u32,
    cuts: DayCuts,
) -> Result<UsageReport, EngineError> {
    let mut index = UsageIndex::new(home.journal(), cuts);
    index.refresh()?;
    Ok(index.report(now, days))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cortex_core::id::{TaskId, WorkerId};
    use cortex_core::stream::OutcomeKind;
    use cortex_core::worker::Worker;
    use std::io::Write;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    struct Journal {
        _dir: tempfile::TempDir,
        path: PathBuf,
        seq: u64,
    }

    impl Journal {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("journal.jsonl");
            Self {
                _dir: dir,
                path,
                seq: 0,
            }
        }
        fn push(&mut self, when: &str, event: Event) {
            self.seq += 1;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .unwrap();
            let line = serde_json::to_string(&Record::new(self.seq, at(when), event)).unwrap();
            writeln!(f, "{line}").unwrap();
        }
        fn worker(&mut self, when: &str, n: u8, expert: &str, workdir: &str) -> WorkerId {
            let id = WorkerId::new(1, [n; 10]);
            let w = Worker::new(
                id.clone(),
                TaskId::new(1, [n; 10]),
                expert,
                workdir.into(),
                at(when),
            );
            self.push(
                when,
                Event::WorkerCreated {
                    worker: Box::new(w),
                },
            );
            id
        }
        fn ended(&mut self, when: &str, id: &WorkerId, outcome: Outcome) {
            self.push(
                when,
                Event::AttemptEnded {
                    worker_id: id.clone(),
                    attempt: 1,
                    outcome,
                },
            );
        }
    }

    fn outcome(input: u64, output: u64, cost: f64) -> Outcome {
        let mut o = Outcome::bare(OutcomeKind::Success, "done");
        o.tokens = Tokens {
            input,
            output,
            ..Tokens::default()
        };
        o.cost_usd = cost;
        o
    }

    #[test]
    fn sums_per_day_expert_model_and_project_over_the_window() {
        let mut j = Journal::new();
        let a = j.worker("2026-03-01T10:00:00Z", 1, "development", "/src/app");
        let b = j.worker("2026-03-01T10:00:00Z", 2, "security", "/src/app");
        j.push(
            "2026-03-01T10:00:01Z",
            Event::WorkerBase {
                worker_id: b.clone(),
                repo: "/src/app-repo".into(),
                commit: "abc".into(),
                branch: None,
                worktree_branch: None,
            },
        );
        // Older than the window: not counted.
        j.ended("2026-01-01T12:00:00Z", &a, outcome(1000, 1000, 9.0));
        j.ended("2026-03-01T12:00:00Z", &a, outcome(100, 10, 0.5));
        j.ended("2026-03-01T13:00:00Z", &a, outcome(200, 20, 0.25));
        let mut split = outcome(0, 0, 0.3);
        split.model_usage = serde_json::json!({
            "opus": {"inputTokens": 7, "outputTokens": 3, "costUSD": 0.2},
            "haiku": {"inputTokens": 5, "outputTokens": 1, "cacheReadInputTokens": 9, "costUSD": 0.1}
        });
        j.ended("2026-03-02T09:00:00Z", &b, split);
        let mut killed = outcome(50, 5, 0.07);
        killed.cost_estimated = true;
        j.ended("2026-03-02T10:00:00Z", &a, killed);

        let mut idx = UsageIndex::new(&j.path, 0);
        idx.refresh().unwrap();
        let r = idx.report(at("2026-03-02T23:00:00Z"), 30);
        assert_eq!(
            (r.since.as_str(), r.until.as_str()),
            ("2026-02-01", "2026-03-02")
        );
        type Seen<'a> = (
            &'a str,
            &'a str,
            Option<&'a str>,
            &'a str,
            u64,
            u64,
            f64,
            bool,
            u64,
        );
        let got: Vec<Seen> = r
            .rows
            .iter()
            .map(|x| {
                (
                    x.day.as_str(),
                    x.expert.as_str(),
                    x.model.as_deref(),
                    x.project.as_str(),
                    x.tokens.input,
                    x.tokens.cache_read,
                    (x.cost_usd * 100.0).round() / 100.0,
                    x.cost_estimated,
                    x.attempts,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "2026-03-01",
                    "development",
                    None,
                    "/src/app",
                    300,
                    0,
                    0.75,
                    false,
                    2
                ),
                (
                    "2026-03-02",
                    "development",
                    None,
                    "/src/app",
                    50,
                    0,
                    0.07,
                    true,
                    1
                ),
                (
                    "2026-03-02",
                    "security",
                    Some("haiku"),
                    "/src/app-repo",
                    5,
                    9,
                    0.1,
                    false,
                    1
                ),
                (
                    "2026-03-02",
                    "security",
                    Some("opus"),
                    "/src/app-repo",
                    7,
                    0,
                    0.2,
                    false,
                    1
                ),
            ]
        );
    }

    #[test]
    fn counts_too_large_to_add_stay_at_the_largest_and_an_absurd_model_cost_is_not_taken() {
        let mut j = Journal::new();
        let a = j.worker("2026-03-01T10:00:00Z", 1, "development", "/p");
        j.ended("2026-03-01T11:00:00Z", &a, outcome(u64::MAX, 1, 0.1));
        j.ended("2026-03-01T11:30:00Z", &a, outcome(u64::MAX, 1, 0.1));
        // One model's figure no run can have: the attempt is counted whole,
        // at the attempt's own cost, under no model.
        let mut split = outcome(4, 2, 0.5);
        split.model_usage = serde_json::json!({
            "opus": {"inputTokens": 3, "outputTokens": 1, "costUSD": 1e308},
            "haiku": {"inputTokens": 1, "outputTokens": 1, "costUSD": 0.1}
        });
        let b = j.worker("2026-03-01T10:00:00Z", 2, "security", "/p");
        j.ended("2026-03-01T12:00:00Z", &b, split);
        let mut idx = UsageIndex::new(&j.path, 0);
        idx.refresh().unwrap();
        let rows = idx.report(at("2026-03-01T13:00:00Z"), 1).rows;
        let got: Vec<(&str, Option<&str>, u64, f64)> = rows
            .iter()
            .map(|r| {
                (
                    r.expert.as_str(),
                    r.model.as_deref(),
                    r.tokens.input,
                    r.cost_usd,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("development", None, u64::MAX, 0.2),
                ("security", None, 4, 0.5)
            ]
        );
    }

    #[test]
    fn days_are_cut_in_the_viewers_time_zone() {
        let mut j = Journal::new();
        let a = j.worker("2026-03-01T10:00:00Z", 1, "development", "/p");
        j.ended("2026-03-01T23:30:00Z", &a, outcome(1, 1, 0.1));
        let mut east = UsageIndex::new(&j.path, 120);
        east.refresh().unwrap();
        let r = east.report(at("2026-03-02T10:00:00Z"), 1);
        assert_eq!(r.rows.len(), 1);
        assert_eq!(r.rows[0].day, "2026-03-02");
        let mut utc = UsageIndex::new(&j.path, 0);
        utc.refresh().unwrap();
        assert!(utc.report(at("2026-03-02T10:00:00Z"), 1).rows.is_empty());
    }

    /// 32 local midnights from `first` on: at `before` minutes east of UTC
    /// up to the day `change` (its midnight included), at `after` from the
    /// next day on.
    fn midnights_across(
        first: (i32, u32, u32),
        change: (i32, u32, u32),
        before: i32,
        after: i32,
    ) -> Vec<Midnight> {
        let date = |(y, m, d): (i32, u32, u32)| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        (0..=31)
            .map(|i| {
                let day = date(first) + Duration::days(i);
                let offset_minutes = if day <= date(change) { before } else { after };
                let at = day.and_hms_opt(0, 0, 0).unwrap().and_utc()
                    - Duration::minutes(i64::from(offset_minutes));
                Midnight {
                    at_ms: at.timestamp_millis(),
                    offset_minutes,
                }
            })
            .collect()
    }

    #[test]
    fn each_day_is_cut_at_its_own_local_midnight_across_a_daylight_saving_change() {
        // Berlin: UTC+1 until 2026-03-29 01:00Z, UTC+2 after, until
        // 2026-10-25 01:00Z. The viewer looks on 2026-04-10, at UTC+2.
        let mut j = Journal::new();
        let a = j.worker("2026-03-01T10:00:00Z", 1, "development", "/p");
        // 23:30 on 20 March in Berlin (UTC+1), and 00:30 on 21 March.
        j.ended("2026-03-20T22:30:00Z", &a, outcome(1, 0, 0.1));
        j.ended("2026-03-20T23:30:00Z", &a, outcome(2, 0, 0.1));
        // 23:30 on 5 April in Berlin (UTC+2), and 00:30 on 6 April.
        j.ended("2026-04-05T21:30:00Z", &a, outcome(4, 0, 0.1));
        j.ended("2026-04-05T22:30:00Z", &a, outcome(8, 0, 0.1));
        // The app's local midnights from 11 March to 11 April: UTC+1 up
        // to 29 March, UTC+2 from 30 March.
        let midnights = midnights_across((2026, 3, 11), (2026, 3, 29), 60, 120);
        let mut idx = UsageIndex::new(&j.path, DayCuts::midnights(&midnights, 120));
        idx.refresh().unwrap();
        let r = idx.report(at("2026-04-10T10:00:00Z"), 30);
        assert_eq!(
            (r.since.as_str(), r.until.as_str(), r.utc_offset_minutes),
            ("2026-03-12", "2026-04-10", 120)
        );
        // Today's offset for every day put the first record on 21 March.
        let mut fixed = UsageIndex::new(&j.path, 120);
        fixed.refresh().unwrap();
        assert_ne!(fixed.report(at("2026-04-10T10:00:00Z"), 30).rows, r.rows);
        // The same midnights in another order, or repeated, cut alike.
        let mut shuffled = midnights.clone();
        shuffled.reverse();
        shuffled.push(midnights[3]);
        assert_eq!(
            DayCuts::midnights(&shuffled, 0),
            DayCuts::midnights(&midnights, 0)
        );
        assert_eq!(DayCuts::midnights(&[], 60), DayCuts::fixed(60));
        let got: Vec<(&str, u64)> = r
            .rows
            .iter()
            .map(|x| (x.day.as_str(), x.tokens.input))
            .collect();
        assert_eq!(
            got,
            [
                ("2026-03-20", 1),
                ("2026-03-21", 2),
                ("2026-04-05", 4),
                ("2026-04-06", 8)
            ]
        );
    }

    #[test]
    fn the_last_hour_of_the_day_the_clocks_go_back_stays_on_that_day() {
        // Berlin: UTC+2 until 2026-10-25 01:00Z, UTC+1 after.
        let mut j = Journal::new();
        let a = j.worker("2026-10-01T10:00:00Z", 1, "development", "/p");
        // 23:30 on 24 October (UTC+2), 23:30 on 25 October (UTC+1), and
        // 00:30 on 26 October.
        j.ended("2026-10-24T21:30:00Z", &a, outcome(1, 0, 0.1));
        j.ended("2026-10-25T22:30:00Z", &a, outcome(2, 0, 0.1));
        j.ended("2026-10-25T23:30:00Z", &a, outcome(4, 0, 0.1));
        let midnights = midnights_across((2026, 10, 1), (2026, 10, 25), 120, 60);
        let mut idx = UsageIndex::new(&j.path, DayCuts::midnights(&midnights, 60));
        idx.refresh().unwrap();
        let days: Vec<(String, u64)> = idx
            .report(at("2026-10-30T10:00:00Z"), 30)
            .rows
            .into_iter()
            .map(|x| (x.day, x.tokens.input))
            .collect();
        let want = [("2026-10-24", 1), ("2026-10-25", 2), ("2026-10-26", 4)];
        assert_eq!(days, want.map(|(d, n)| (d.to_string(), n)));
    }

    #[test]
    fn reads_only_what_was_appended_and_starts_over_on_a_replaced_journal() {
        let mut j = Journal::new();
        let a = j.worker("2026-03-01T10:00:00Z", 1, "development", "/p");
        j.ended("2026-03-01T11:00:00Z", &a, outcome(1, 1, 0.1));
        let mut idx = UsageIndex::new(&j.path, 0);
        idx.refresh().unwrap();
        // A torn line is not read until it is whole.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&j.path)
            .unwrap();
        write!(f, "{{\"v\":1,\"seq\":").unwrap();
        idx.refresh().unwrap();
        let now = at("2026-03-01T12:00:00Z");
        assert_eq!(idx.report(now, 1).rows[0].attempts, 1);
        std::fs::write(&j.path, "").unwrap();
        j.seq = 0;
        let a = j.worker("2026-03-01T10:00:00Z", 1, "development", "/p");
        j.ended("2026-03-01T11:00:00Z", &a, outcome(12345, 1, 0.1));
        j.ended("2026-03-01T11:30:00Z", &a, outcome(1, 1, 0.1));
        idx.refresh().unwrap();
        let row = &idx.report(now, 1).rows[0];
        assert_eq!((row.attempts, row.tokens.input), (2, 12346));
        let len_before = std::fs::metadata(&j.path).unwrap().len();
        j.ended("2026-03-01T11:45:00Z", &a, outcome(1, 1, 0.1));
        assert!(std::fs::metadata(&j.path).unwrap().len() > len_before);
        idx.refresh().unwrap();
        assert_eq!(idx.report(now, 1).rows[0].attempts, 3);
    }
}
