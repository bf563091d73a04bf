//! Reading an agent's stream: assistant lines of the shape the fake agent's
//! `flood` mode prints (each with its own message id and usage), folded
//! into a worker's progress. The owner reads every line an agent prints, so
//! this is what a flood of output costs it per line.

use chrono::{DateTime, Utc};
use cortex_core::stream::Progress;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn lines(n: usize) -> Vec<String> {
    let session = "173c3c12-fff6-4a9f-8c7e-8e11fbb4c4ed";
    (1..=n)
        .map(|i| {
            format!(
                concat!(
                    r#"{{"message":{{"content":[{{"text":"flood line {i} of {n}","type":"text"}}],"#,
                    r#""id":"msg_345e31372676bd39{i:06}","model":"fake-model","role":"assistant","#,
                    r#""type":"message","usage":{{"cache_creation_input_tokens":0,"#,
                    r#""cache_read_input_tokens":0,"input_tokens":100,"output_tokens":20}}}},"#,
                    r#""session_id":"{s}","type":"assistant"}}"#
                ),
                i = i,
                n = n,
                s = session
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let at: DateTime<Utc> = DateTime::from_timestamp(1_700_000_000, 0).expect("time");
    let mut group = c.benchmark_group("stream");
    for n in [10_000, 50_000] {
        let input = lines(n);
        let bytes: usize = input.iter().map(|l| l.len() + 1).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(format!("assistant_lines_{n}"), |b| {
            b.iter(|| {
                let mut p = Progress::default();
                for l in &input {
                    p.apply_line(l, at);
                }
                std::hint::black_box(p.tokens.output)
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
