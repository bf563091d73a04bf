//! Store benchmarks (plain harness: prints a table, writes bench/results/store.json).
//!
//! - replay: open a home whose journal holds 100,000 events, without a
//!   snapshot (full replay) and with one (tail only);
//! - snapshot: write `task-queue.json` for 10,000 tasks;
//! - inbox: acknowledged submit latency through the inbox against a running
//!   owner (file drop -> notify -> journal + fsync -> ack file), p50/p99.

use std::time::{Duration, Instant};

use cortex_core::id::RequestId;
use cortex_core::input::SubmitRequest;
use cortex_engine::inbox::{self, InboxOp, InboxRequest};
use cortex_engine::lock::OwnerKind;
use cortex_engine::store::Store;
use cortex_engine::{clock, Engine, Home};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn fresh_home() -> (tempfile::TempDir, Home) {
    let dir = tempfile::tempdir().expect("temp dir");
    let home = Home::new(dir.path());
    home.init().expect("init");
    (dir, home)
}

fn submit(engine: &Engine, i: usize) {
    engine
        .submit(&SubmitRequest {
            description: format!(
                "benchmark task number {i}: refactor the parser module and add tests"
            ),
            workdir: Some(std::env::temp_dir().display().to_string()),
            ..SubmitRequest::default()
        })
        .expect("submit");
}

/// 100k events: 50k submissions and 50k status changes.
fn bench_replay() -> (f64, f64, usize) {
    let (_dir, home) = fresh_home();
    {
        let engine = Engine::open(&home, OwnerKind::Cli).expect("open");
        for i in 0..50_000 {
            submit(&engine, i);
        }
        for id in engine.tasks().into_iter().map(|t| t.id) {
            engine.cancel(id.as_str()).expect("cancel");
        }
        engine.close().expect("close");
    }
    let lines = std::fs::read_to_string(home.journal())
        .expect("journal")
        .lines()
        .count();
    // Full replay: no snapshot.
    std::fs::remove_file(home.task_snapshot()).expect("remove snapshot");
    let t = Instant::now();
    let (store, report) = Store::open_owner(&home, OwnerKind::Cli).expect("open");
    let full = t.elapsed();
    assert_eq!(report.replayed_records, lines);
    drop(store);
    // With the snapshot the first open wrote.
    let t = Instant::now();
    let (store, report) = Store::open_owner(&home, OwnerKind::Cli).expect("open");
    let tail = t.elapsed();
    assert!(report.from_snapshot);
    drop(store);
    (ms(full), ms(tail), lines)
}

fn bench_snapshot() -> (f64, f64) {
    let (_dir, home) = fresh_home();
    let engine = Engine::open(&home, OwnerKind::Cli).expect("open");
    for i in 0..10_000 {
        submit(&engine, i);
    }
    drop(engine);
    let (mut store, _) = Store::open_owner(&home, OwnerKind::Cli).expect("open");
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        store.write_snapshot(clock::now()).expect("snapshot");
        times.push(t.elapsed());
    }
    times.sort();
    (ms(percentile(&times, 0.5)), ms(percentile(&times, 0.99)))
}

fn bench_inbox(n: usize) -> (f64, f64, f64) {
    let (_dir, home) = fresh_home();
    let engine = Engine::open(&home, OwnerKind::Run).expect("open");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let owner = engine.clone();
    let handle = runtime.spawn(async move {
        owner
            .run(async {
                let _ = stop_rx.await;
            })
            .await
    });
    std::thread::sleep(Duration::from_millis(200));
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let req = InboxRequest {
            v: 1,
            request_id: clock::request_id(clock::now()),
            op: InboxOp::Submit {
                submit: SubmitRequest {
                    description: format!("inbox latency task {i}"),
                    workdir: Some(std::env::temp_dir().display().to_string()),
                    ..SubmitRequest::default()
                },
            },
        };
        let id: RequestId = req.request_id.clone();
        let t = Instant::now();
        inbox::drop_request(&home, &req).expect("drop");
        loop {
            if inbox::take_ack(&home, &id).is_some() {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        times.push(t.elapsed());
    }
    let _ = stop_tx.send(());
    runtime.block_on(handle).expect("join").expect("run");
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    (
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99)),
        ms(mean),
    )
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would too, with
    // other flags: only run when asked to benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let (full, tail, lines) = bench_replay();
    println!("replay {lines} journal events, no snapshot:        {full:8.1} ms");
    println!("replay with a snapshot (open, tail only):          {tail:8.1} ms");
    let (s50, s99) = bench_snapshot();
    println!("snapshot write, 10,000 tasks:               p50 {s50:8.1} ms   p99 {s99:8.1} ms");
    let (p50, p99, mean) = bench_inbox(1000);
    println!("acknowledged submit through the inbox:      p50 {p50:8.2} ms   p99 {p99:8.2} ms   mean {mean:.2} ms");
    let out = serde_json::json!({
        "replay_100k_full_ms": full, "replay_with_snapshot_ms": tail, "journal_events": lines,
        "snapshot_10k_p50_ms": s50, "snapshot_10k_p99_ms": s99,
        "inbox_ack_p50_ms": p50, "inbox_ack_p99_ms": p99, "inbox_ack_mean_ms": mean,
    });
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(
            dir.join("store.json"),
            serde_json::to_string_pretty(&out).unwrap_or_default(),
        );
    }
}
