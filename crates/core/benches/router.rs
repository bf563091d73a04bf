//! Routing decisions per second with the full shipped keyword lists, for
//! one- and two-line tasks (criterion), plus a latency distribution.

use std::time::Instant;

use cortex_core::config::{Config, ExpertProfile, ExpertSet};
use cortex_core::router::Router;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn shipped_router() -> Router {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../coordination");
    let config =
        Config::parse(&std::fs::read_to_string(format!("{dir}/config.json")).expect("config"))
            .expect("valid");
    let profiles = [
        "cicd",
        "coordinator",
        "development",
        "inventory",
        "security",
    ]
    .iter()
    .map(|n| {
        let file = format!("experts/{n}.json");
        let text = std::fs::read_to_string(format!("{dir}/{file}")).expect("expert file");
        let p = ExpertProfile::parse(&file, &text).expect("valid expert");
        (file, p)
    })
    .collect();
    Router::new(&config.routing, &ExpertSet::new(profiles).expect("experts"))
}

const ONE_LINE: &str = "Fix the flaky integration test that only fails on the CI runner";
/// Two jobs in one request whose second expert only a clause shows (cicd
/// 0.56 on the whole text): its clauses are routed one by one as well.
const TWO_JOBS: &str = "Pin the actions to SHAs and stop the fork workflows from getting secrets.";
const TWO_LINES: &str = "Security audit of the new payment flow: check the checkout handler for injection and CSRF.\nThen document the findings in docs/security/payments.md and list what to fix first.";

fn bench(c: &mut Criterion) {
    let router = shipped_router();
    let mut g = c.benchmark_group("route");
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_line", |b| {
        b.iter(|| router.route(std::hint::black_box(ONE_LINE), None, None))
    });
    g.bench_function("two_lines", |b| {
        b.iter(|| router.route(std::hint::black_box(TWO_LINES), None, None))
    });
    g.bench_function("two_jobs", |b| {
        b.iter(|| router.route(std::hint::black_box(TWO_JOBS), None, None))
    });
    g.finish();

    // Decisions per second of CPU time on this thread (Linux): on a shared
    // machine, wall-clock rates also count the time other work held the
    // core.
    for (name, text) in [
        ("one_line", ONE_LINE),
        ("two_lines", TWO_LINES),
        ("two_jobs", TWO_JOBS),
    ] {
        if let Some(start) = on_cpu_ns() {
            let n = 200_000u32;
            for _ in 0..n {
                std::hint::black_box(router.route(std::hint::black_box(text), None, None));
            }
            if let Some(end) = on_cpu_ns() {
                let per = (end - start) as f64 / f64::from(n);
                println!(
                    "route/{name} on CPU: {:.2} us a decision, {:.0} decisions per CPU-second",
                    per / 1000.0,
                    1e9 / per
                );
            }
        }
    }

    // Latency percentiles over single decisions.
    let mut samples: Vec<u128> = Vec::with_capacity(100_000);
    for i in 0..100_000 {
        let text = if i % 2 == 0 { ONE_LINE } else { TWO_LINES };
        let t = Instant::now();
        std::hint::black_box(router.route(text, None, None));
        samples.push(t.elapsed().as_nanos());
    }
    samples.sort_unstable();
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    println!(
        "route latency over 100,000 decisions: p50 {:.2} us, p99 {:.2} us, max {:.2} us",
        p(0.5),
        p(0.99),
        p(1.0)
    );
}

/// Nanoseconds this thread has run on a CPU (`/proc/thread-self/schedstat`).
fn on_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
