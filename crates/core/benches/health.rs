//! Policy evaluation for 10,000 workers per tick.

use chrono::{DateTime, Utc};
use cortex_core::config::PmConfig;
use cortex_core::health::{decide, Health, Observations, WorkerView};
use cortex_core::id::WorkerId;
use cortex_core::stream::Activity;
use criterion::{criterion_group, criterion_main, Criterion};

fn t(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + s, 0).expect("time")
}

fn fleet(n: usize) -> Vec<(WorkerView, Observations)> {
    (0..n)
        .map(|i| {
            let view = WorkerView {
                worker_id: WorkerId::new(i as u64, [(i % 251) as u8; 10]),
                attempt: 1,
                attempt_started_at: t(0),
                worker_started_at: t(0),
                time_limit_secs: 3600,
                extended_secs: 0,
                extensions_used: 0,
                max_extensions: 1,
                extension_secs: 900,
                restarts_used: 0,
                max_restarts: 2,
                token_budget: Some(1_000_000),
                cost_budget_usd: Some(10.0),
                health: Health::Healthy,
                time_warnings_sent: vec![50],
                time_warnings_limit_secs: 3600,
                budget_warned: false,
                circuit_open: false,
                nudges_used: 0,
            };
            // A mix: most healthy, some late/stalled/zombie, some in backoff.
            let silent_since = match i % 10 {
                0 => 1000,
                1 => 1400,
                2 => 1700,
                _ => 1990,
            };
            let activity = if i % 17 == 0 {
                Activity::RetryingApi {
                    until: t(2030),
                    status: Some(429),
                    attempt: 3,
                }
            } else {
                Activity::WaitingOnModel {
                    since: t(silent_since),
                }
            };
            let obs = Observations {
                process_alive: true,
                last_output_at: Some(t(silent_since)),
                last_hook_at: None,
                last_checkin_at: None,
                last_cpu_progress_at: (i % 7 == 0).then(|| t(1995)),
                last_transcript_growth_at: None,
                nudged_at: None,
                activity,
                tokens: 5_000,
                cost_usd: 0.5,
                queued: false,
                queued_reason: None,
                suspended: None,
                resumed_at: None,
                unreachable: None,
            };
            (view, obs)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let pm = PmConfig::default();
    let workers = fleet(10_000);
    c.bench_function("decide_10000_workers", |b| {
        b.iter(|| {
            let mut actions = 0;
            for (v, o) in &workers {
                actions += decide(&pm, v, o, t(2000)).len();
            }
            std::hint::black_box(actions)
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
