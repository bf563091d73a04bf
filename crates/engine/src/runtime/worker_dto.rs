//! A worker as views see it: its DTO built from the journal, the live tail and the PM's verdict,
//! its live cost (an estimate until the final figure) and last activity.
//!
//! May depend on: the runtime's types (`super`), the PM's verdicts, views' derivations.

use super::*;

/// A worker as shown to people and scripts (`cortex workers --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerDto {
    /// The worker's id.
    pub id: WorkerId,
    /// The task it works on.
    pub task_id: TaskId,
    /// The expert it runs as.
    pub expert: String,
    /// Its latest attempt's number, 1 for the first; 0 before any started.
    pub attempt: u32,
    /// The live attempt's process id (a cluster's job id where workers run
    /// as jobs); None when no attempt runs.
    pub pid: Option<u32>,
    /// The live attempt's process named for people: "pid 1234", or
    /// "Slurm job 1234"; None when no attempt runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    /// The worker's lifecycle state.
    pub state: WorkerStatus,
    /// The process manager's view (starting, healthy, late, stalled, zombie, waiting).
    pub health: String,
    /// Why it is in its state (redacted), such as the cause of a failure.
    pub reason: Option<String>,
    /// Why the process manager says `health` (silent for how long, what
    /// it waits for), when it watches the worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_reason: Option<String>,
    /// The agent's session id, which a resumed attempt continues.
    pub session_id: Option<String>,
    /// Every attempt's cost: the agent's own figures, else Cortex's estimate
    /// from the tokens (then `cost_estimated` is true).
    pub cost_usd: f64,
    /// True when some of `cost_usd` is Cortex's estimate, not the agent's figure.
    #[serde(default)]
    pub cost_estimated: bool,
    /// Input and output tokens over every attempt, a running one included.
    pub tokens: TokenDto,
    /// The folder it works in (its worktree when isolated).
    pub workdir: String,
    /// When its latest attempt started; None before any did.
    pub started_at: Option<DateTime<Utc>>,
    /// When the worker was created.
    pub created_at: DateTime<Utc>,
    /// What the stream says it is doing.
    pub activity: Option<Activity>,
    /// Its latest sign of life while an attempt runs, else when its latest attempt ended.
    pub last_activity_at: Option<DateTime<Utc>>,
    /// Where that sign came from (`start`, `output`, `hook <event>`,
    /// `check-in`...); None when no attempt runs.
    pub last_activity_source: Option<String>,
    /// The agent's most recent assistant text (redacted).
    pub last_text: Option<String>,
    /// The agent's final result text (redacted), once an attempt gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The check of its work, once one ran or runs (its command, output and
    /// reason redacted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<cortex_core::worker::Verification>,
    /// Its time limit in seconds, counted from its first attempt's start, extensions included.
    pub time_limit_secs: u64,
    /// Automatic restarts used (after a crash or a hang); replies, and
    /// restarts or nudges on request, are attempts too, but not among these.
    pub restarts: u32,
    /// What it waits for while it is not working (see `views::waiting_for`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<crate::views::WaitingFor>,
    /// Seconds its ended attempts ran, summed; a view adds the running one.
    #[serde(default)]
    pub ended_attempts_secs: f64,
    /// True while a person's reply (or nudge) waits to start its next
    /// attempt: an ended worker this makes live again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replied: bool,
    /// When its running attempt began to run (once it left a cluster's
    /// queue, if it waited in one); none while no attempt runs (between
    /// attempts, in a cluster's queue, while its work is checked, once
    /// ended): what a view adds to `ended_attempts_secs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_since: Option<DateTime<Utc>>,
    /// The running attempt's own tokens and cost so far, when one runs and
    /// its figures are known here (they are in `tokens` and `cost_usd` too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_attempt: Option<AttemptFigures>,
}

/// What one attempt used so far: the agent's figures once its result line
/// arrived, else Cortex's estimate from the stream's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AttemptFigures {
    /// The attempt's number.
    pub n: u32,
    /// Its input and output tokens.
    pub tokens: TokenDto,
    /// Its cost in US dollars.
    pub cost_usd: f64,
    /// True when `cost_usd` is Cortex's estimate.
    pub cost_estimated: bool,
    /// True while its job waits in a cluster's queue: it has not begun to
    /// run, so no time of it counts yet.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub queued: bool,
}

impl AttemptFigures {
    /// A running attempt's figures as this engine reads its stream
    /// (`live_cost`): what every view of it counts.
    pub(crate) fn of(l: &Live, prices: &BTreeMap<String, ModelPrice>) -> Self {
        let (cost_usd, cost_estimated) = live_cost(l, prices);
        Self {
            n: l.attempt,
            tokens: l.progress.tokens.into(),
            cost_usd,
            cost_estimated,
            queued: false,
        }
    }
}

/// Token counts as views show them (cache reads and writes left out).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenDto {
    /// Tokens sent to the model.
    pub input: u64,
    /// Tokens the model wrote.
    pub output: u64,
}

impl From<Tokens> for TokenDto {
    fn from(t: Tokens) -> Self {
        Self {
            input: t.input,
            output: t.output,
        }
    }
}

impl From<TokenDto> for Tokens {
    fn from(t: TokenDto) -> Self {
        Self {
            input: t.input,
            output: t.output,
            ..Self::default()
        }
    }
}

/// Health words a live worker is shown under as they are; any other
/// counts as working ("healthy", or "starting" before its first output).
const SHOWN_AS_IS: [&str; 10] = [
    "scheduled",
    "starting",
    "healthy",
    "late",
    "stalled",
    "zombie",
    "unreachable",
    "verifying",
    "exited",
    "unwatched",
];

/// The places a live worker stands in that a person should know of:
/// silent, hung, out of reach, ended but not settled, waiting to go on, or
/// watched by no owner.
/// The app's `ATTENTION` (`ui/src/logic/fleet.ts`) is the same list, which
/// its tests check against this one.
pub const ATTENTION: [&str; 7] = [
    "late",
    "stalled",
    "zombie",
    "unreachable",
    "exited",
    "waiting",
    "unwatched",
];

impl WorkerDto {
    /// Where the worker stands, one word; a live worker is in exactly one
    /// (the app's `workerBucket` derives the same from the same fields).
    pub fn bucket(&self) -> &str {
        if self.state.is_terminal() {
            "ended"
        } else if self.state == WorkerStatus::Stopping {
            "stopping"
        } else if self.waiting_for.is_some()
            || self.state == WorkerStatus::Waiting
            || self.health == "waiting"
        {
            "waiting"
        } else if SHOWN_AS_IS.contains(&self.health.as_str()) {
            &self.health
        } else if self.state == WorkerStatus::Starting {
            "starting"
        } else {
            "healthy"
        }
    }

    /// A live worker that is not simply working (see `ATTENTION`).
    pub fn needs_attention(&self) -> bool {
        ATTENTION.contains(&self.bucket())
    }
}

/// Builds the DTO from the journaled worker and, if live, its stream state.
pub(crate) fn worker_dto(
    w: &Worker,
    live: Option<&Live>,
    time_limit_secs: u64,
    health: Option<String>,
    prices: &BTreeMap<String, ModelPrice>,
) -> WorkerDto {
    let current = w.current();
    let (tokens, activity, last_at, source, text) = match live {
        Some(l) => {
            let t = w.tokens.saturating_add(l.progress.tokens);
            let (at, src) = last_activity(l);
            (
                t,
                Some(l.progress.activity.clone()),
                at,
                src,
                l.progress.last_text.clone(),
            )
        }
        None => (
            w.tokens,
            None,
            current.and_then(|a| a.ended_at),
            None,
            w.last_text.clone(),
        ),
    };
    let figures = live.map(|l| AttemptFigures::of(l, prices));
    let (cost_live, live_estimated) =
        figures.map_or((0.0, false), |f| (f.cost_usd, f.cost_estimated));
    WorkerDto {
        id: w.id.clone(),
        task_id: w.task_id.clone(),
        expert: w.expert.clone(),
        attempt: current.map_or(0, |a| a.n),
        pid: w.live_attempt().and_then(|a| a.pid),
        process: None,
        state: match live {
            Some(l) if l.stop.is_some() && !w.status.is_terminal() => WorkerStatus::Stopping,
            // A stop journaled for the running attempt (a person's kill
            // carried out by another process, or by the next owner): it is
            // being stopped, whoever watches it.
            _ if w.pending_stop().is_some() && !w.status.is_terminal() => WorkerStatus::Stopping,
            _ => w.status,
        },
        health: health.unwrap_or_else(|| match (w.status, live) {
            (WorkerStatus::Running, None)
                if w.verification.as_ref().is_some_and(|v| v.running()) =>
            {
                "verifying".into()
            }
            (WorkerStatus::Running, Some(l)) if l.progress.lines == 0 => "starting".into(),
            (WorkerStatus::Running, _) => "healthy".into(),
            (WorkerStatus::Waiting, _) => "waiting".into(),
            (s, _) => s.as_str().into(),
        }),
        reason: w.reason_now().as_deref().map(redact),
        health_reason: None,
        session_id: w.session_id.clone(),
        cost_usd: w.cost_usd + cost_live,
        cost_estimated: w.cost_estimated || live_estimated,
        tokens: tokens.into(),
        workdir: w.workdir.clone(),
        started_at: current.map(|a| a.started_at),
        created_at: w.created_at,
        activity,
        last_activity_at: last_at,
        last_activity_source: source,
        last_text: text.or_else(|| w.last_text.clone()).as_deref().map(redact),
        result: w.result.as_deref().map(redact),
        verification: w
            .verification
            .as_ref()
            .map(|v| cortex_core::worker::Verification {
                command: redact(&v.command),
                output_tail: v.output_tail.as_deref().map(redact),
                reason: v.reason.as_deref().map(redact),
                ..v.clone()
            }),
        time_limit_secs: time_limit_secs.saturating_add(w.extended_secs),
        restarts: w.restarts(),
        waiting_for: crate::views::waiting_for(w, live.map(|l| &l.progress.activity)),
        ended_attempts_secs: crate::views::ended_attempts_secs(w),
        running_since: w.live_attempt().map(cortex_core::worker::Attempt::ran_from),
        replied: w.status == WorkerStatus::Waiting && w.next_prompt.is_some(),
        live_attempt: figures,
    }
}

impl LiveSummary {
    pub(crate) fn of(l: &Live, prices: &BTreeMap<String, ModelPrice>) -> Self {
        let (cost_usd, cost_estimated) = live_cost(l, prices);
        Self {
            lines: l.progress.lines,
            tokens: l.progress.tokens,
            cost_usd,
            cost_estimated,
            activity: l.progress.activity.clone(),
            last_text: l.progress.last_text.clone(),
        }
    }
}

/// Puts the PM's verdict on a worker's DTO. The PM words a health when it
/// changes; a reason that measures the silence is measured again now, so a
/// worker late for ten minutes does not read "silent for 300s".
pub(crate) fn apply_verdict(dto: &mut WorkerDto, v: crate::pm::PmVerdict) {
    use cortex_core::health::Health as H;
    dto.health = v.health.as_str().to_string();
    let again = match (
        v.health,
        v.last_activity_at,
        v.last_activity_source.as_deref(),
    ) {
        (H::Healthy | H::Late | H::Stalled, Some(at), Some(source)) => {
            cortex_core::health::silence_reason(v.health, source, (clock::now() - at).num_seconds())
        }
        _ => None,
    };
    dto.health_reason = Some(redact(again.as_deref().unwrap_or(&v.reason)));
    // The PM reads a retry the stream announced as a wait until it is
    // overdue (`classify_health`); past that, its silence verdict is what
    // the worker is, and the announced retry no longer what it waits for.
    let overdue = matches!(v.health, H::Late | H::Stalled | H::Zombie | H::Unreachable);
    if overdue && dto.state != WorkerStatus::Waiting {
        dto.waiting_for = None;
    }
    // The cluster suspended its job: that is what it waits for, whatever
    // its stream last announced (a retry cannot happen meanwhile).
    if v.suspended && v.health == H::Waiting {
        dto.waiting_for = Some(crate::views::WaitingFor {
            kind: crate::views::WaitKind::Suspended,
            until: None,
            after: None,
            limit: None,
        });
    }
    // Still in a cluster's queue: it has not begun to run, so no time of
    // its counts yet (the owner journals when it leaves the queue).
    if v.health == H::Scheduled {
        dto.running_since = None;
        if let Some(f) = dto.live_attempt.as_mut() {
            f.queued = true;
        }
    }
    if v.last_activity_at.is_some() {
        dto.last_activity_at = v.last_activity_at;
        dto.last_activity_source = v.last_activity_source;
    }
}

/// What a live attempt has cost so far: the agent's own figure once its
/// result line arrived, else Cortex's estimate from the stream's tokens
/// (true in the second place).
pub(crate) fn live_cost(l: &Live, prices: &BTreeMap<String, ModelPrice>) -> (f64, bool) {
    match l.progress.agent_cost() {
        Some(c) => (c, false),
        None => {
            cortex_core::pricing::estimate(prices, l.progress.model.as_deref(), &l.progress.tokens)
                .map_or((0.0, false), |c| (c, true))
        }
    }
}

/// The latest sign of life and where it came from.
pub(crate) fn last_activity(l: &Live) -> (Option<DateTime<Utc>>, Option<String>) {
    let mut best: (Option<DateTime<Utc>>, Option<String>) =
        (Some(l.started_at), Some("start".into()));
    if let Some(t) = l.progress.last_line_at {
        if best.0 < Some(t) {
            best = (Some(t), Some("output".into()));
        }
    }
    if let Some(t) = l.last_hook_at {
        if best.0 < Some(t) {
            best = (
                Some(t),
                Some(format!("hook {}", l.last_hook.clone().unwrap_or_default())),
            );
        }
    }
    if let Some(t) = l.progress.last_checkin_at {
        if best.0 < Some(t) {
            best = (Some(t), Some("check-in".into()));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::observed::*;

    fn assistant(n: usize) -> String {
        format!(
            r#"{{"type":"assistant","message":{{"id":"m{n}","content":[{{"type":"text","text":"line {n} {pad}"}}],"usage":{{"input_tokens":1,"output_tokens":1}}}}}}"#,
            pad = "x".repeat(200)
        )
    }

    #[test]
    fn the_end_of_a_long_output_gives_its_result_without_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("stdout.jsonl");
        let mut text = String::new();
        // About 1.5 MiB of assistant lines, then the result line.
        for n in 0..6000 {
            text.push_str(&assistant(n));
            text.push('\n');
        }
        text.push_str(r#"{"type":"result","subtype":"success","is_error":false,"result":"all done","total_cost_usd":0.5,"usage":{"input_tokens":6000,"output_tokens":6000},"num_turns":3}"#);
        text.push('\n');
        std::fs::write(&path, &text).expect("write");
        let p = end_of_output(&path);
        let r = p
            .result
            .as_ref()
            .expect("the result line, read from the end");
        assert_eq!((r.result.as_deref(), r.is_error), (Some("all done"), false));
        // Only the end was read, and the line cut by where reading starts
        // is not counted: the lines that end inside the last 256 KiB, less
        // the cut one.
        let start = text.len() - (256 << 10);
        assert_ne!(&text[start - 1..start], "\n", "the window starts mid-line");
        let ends = text[start..].matches('\n').count() as u64;
        assert_eq!(p.lines, ends - 1, "of 6001 lines");
        assert_eq!(
            classify(&p, Exit::Unknown, None).kind,
            cortex_core::stream::OutcomeKind::Success
        );
    }

    /// While an owner runs and has not reported on an attempt yet, a view
    /// reads only the end of its output: it counts none of its tokens (and
    /// says so) rather than reading a flood a second time.
    #[test]
    fn a_view_before_the_owners_first_report_reads_the_end_and_says_what_it_does_not_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = crate::Home::new(dir.path());
        let now = clock::now();
        let mut w = running_worker(now);
        let fake = crate::launcher::fake::FakeLauncher::new();
        let started = fake.orphan(w.id.as_str(), 1);
        w.attempts.push(cortex_core::worker::Attempt {
            start_ticks: started.start_ticks,
            ..cortex_core::worker::Attempt::started(1, now, Some(started.pid))
        });
        let out = attempt_dir(&home, &w.id, 1);
        std::fs::create_dir_all(&out).expect("mkdir");
        // About 1.5 MiB: 6,000 lines of 1 + 1 tokens each.
        let text: String = (0..6000).map(|n| assistant(n) + "\n").collect();
        std::fs::write(out.join("stdout.jsonl"), &text).expect("write");
        let prices = BTreeMap::new();
        let verdicts = PmVerdicts::new();
        let seen =
            |owner_runs| observed_dto(&home, &w, 3600, &prices, &verdicts, owner_runs, &fake);
        let before_report = seen(true);
        assert_eq!(
            (before_report.tokens.input, before_report.tokens.output),
            (0, 0),
            "nothing counted from a partial reading"
        );
        assert!(
            before_report
                .health_reason
                .as_deref()
                .is_some_and(|r| r.contains("has not reported on this attempt yet (its tokens and cost so far are not counted here)")),
            "{before_report:?}"
        );
        // Nothing counted, nothing claimed: no running attempt's figures,
        // no estimate mark.
        assert_eq!(before_report.live_attempt, None);
        assert!(!before_report.cost_estimated, "{before_report:?}");
        assert!(before_report
            .last_text
            .as_deref()
            .is_some_and(|t| t.starts_with("line 5999")));
        // With no owner, the view reads it all and counts every line.
        let no_owner = seen(false);
        assert_eq!(
            (no_owner.tokens.input, no_owner.tokens.output),
            (6000, 6000)
        );
        // The running attempt's own figures are what the totals count.
        let f = no_owner.live_attempt.expect("counted");
        assert_eq!((f.n, f.tokens.input, f.tokens.output), (1, 6000, 6000));
        assert_eq!(f.cost_usd, no_owner.cost_usd);
    }

    #[test]
    fn a_short_output_is_read_whole_and_one_without_an_end_says_so() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("stdout.jsonl");
        std::fs::write(&path, format!("{}\n{}\n", assistant(1), assistant(2))).expect("write");
        let p = end_of_output(&path);
        assert_eq!((p.lines, p.result.is_none()), (2, true));
        assert_eq!(
            p.last_text.as_deref().map(|t| t.starts_with("line 2")),
            Some(true)
        );
        assert_eq!(end_of_output(&dir.path().join("missing")).lines, 0);
    }

    /// A worker of the development expert, recorded as running.
    fn running_worker(now: chrono::DateTime<chrono::Utc>) -> Worker {
        let mut w = Worker::new(
            clock::worker_id(now),
            clock::task_id(now),
            "development",
            "/".into(),
            now,
        );
        w.status = WorkerStatus::Running;
        w
    }

    #[test]
    fn a_stop_journaled_for_the_running_attempt_reads_stopping_in_every_view() {
        let now = clock::now();
        let mut w = running_worker(now);
        w.attempts
            .push(cortex_core::worker::Attempt::started(1, now, Some(1)));
        let prices = BTreeMap::new();
        assert_eq!(
            worker_dto(&w, None, 3600, None, &prices).state,
            WorkerStatus::Running
        );
        w.stop = Some(cortex_core::worker::StopIntent {
            attempt: 1,
            kind: OutcomeKind::Killed,
            reason: "killed by a person".into(),
            then: Some(cortex_core::worker::AfterStop::End(WorkerStatus::Cancelled)),
            prompt: None,
        });
        let dto = worker_dto(&w, None, 3600, None, &prices);
        assert_eq!(
            (dto.state, dto.bucket()),
            (WorkerStatus::Stopping, "stopping")
        );
    }

    #[test]
    fn an_announced_api_retry_long_overdue_is_the_pm_verdict_not_a_wait() {
        use cortex_core::health::Health;
        let now = clock::now();
        let w = running_worker(now);
        let prices = BTreeMap::new();
        let with = |health| {
            let mut dto = worker_dto(&w, None, 3600, None, &prices);
            dto.activity = Some(Activity::RetryingApi {
                until: now - chrono::Duration::seconds(900),
                status: Some(529),
                attempt: 3,
            });
            dto.waiting_for = crate::views::waiting_for(&w, dto.activity.as_ref());
            assert!(dto.waiting_for.is_some());
            apply_verdict(
                &mut dto,
                crate::pm::PmVerdict {
                    health,
                    reason: "silent".into(),
                    last_activity_at: None,
                    last_activity_source: None,
                    live: None,
                    suspended: false,
                },
            );
            dto
        };
        // Still a wait while the PM reads it as one.
        let waiting = with(Health::Waiting);
        assert_eq!(waiting.bucket(), "waiting");
        // Overdue, the PM says stalled: every count and badge says so.
        let stalled = with(Health::Stalled);
        assert_eq!(
            (stalled.bucket(), stalled.waiting_for.is_none()),
            ("stalled", true)
        );
    }

    #[test]
    fn a_reason_that_measures_silence_is_measured_again_when_shown() {
        use cortex_core::health::Health;
        let now = clock::now();
        let w = Worker::new(
            clock::worker_id(now),
            clock::task_id(now),
            "development",
            "/".into(),
            now,
        );
        let prices = BTreeMap::new();
        let shown = |health, reason: &str, silent_secs| {
            let mut dto = worker_dto(&w, None, 3600, None, &prices);
            apply_verdict(
                &mut dto,
                crate::pm::PmVerdict {
                    health,
                    reason: reason.into(),
                    last_activity_at: Some(clock::now() - chrono::Duration::seconds(silent_secs)),
                    last_activity_source: Some("output".into()),
                    live: None,
                    suspended: false,
                },
            );
            dto.health_reason.unwrap_or_default()
        };
        // Turned late at 300 s of silence, shown at 540 s: it says 540 (or
        // 541, when a second turns between the two clocks).
        let late = shown(
            Health::Late,
            "silent for 300s (last sign of life: output)",
            540,
        );
        assert!(
            late == "silent for 540s (last sign of life: output)"
                || late == "silent for 541s (last sign of life: output)",
            "{late}"
        );
        let healthy = shown(Health::Healthy, "last sign of life: output, 0s ago", 190);
        assert!(
            healthy.starts_with("last sign of life: output, 19"),
            "{healthy}"
        );
        // A reason that is not about the silence is kept as the PM gave it.
        let zombie = shown(
            Health::Zombie,
            "no output within the startup budget of 120s",
            500,
        );
        assert_eq!(zombie, "no output within the startup budget of 120s");
    }
}
