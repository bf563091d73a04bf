//! Logs: human-readable on stderr, and a daily-rotated file in `<home>/logs/`.

use std::io::IsTerminal;
use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// Days of log files kept.
const KEEP_FILES: usize = 7;

/// Lines waiting for the file's writer thread at most. The queue is made
/// whole when logging starts (32 bytes a line); the library's default of
/// 128,000 lines held 4 MB of an owner's memory for bursts that never come.
/// A full queue makes the next line wait: none is dropped.
const LOG_QUEUE_LINES: usize = 16_384;

/// Installs the subscriber. `default_level` applies to stderr unless
/// `CORTEX_LOG` says otherwise; the file always gets `info` and up. The guard
/// flushes the file on drop.
pub fn init(logs_dir: Option<&Path>, default_level: &str) -> Option<WorkerGuard> {
    let stderr_filter =
        EnvFilter::try_from_env("CORTEX_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let stderr = fmt::layer()
        // Secrets (a check's command, an agent's text) never reach a log.
        .with_writer(|| cortex_core::redact::RedactingWrite(std::io::stderr()))
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .compact()
        .with_filter(stderr_filter);
    let (file_layer, guard) = match logs_dir.and_then(|d| {
        cortex_engine::files::prepare_daily_log(d, "cortex", "log");
        tracing_appender::rolling::Builder::new()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("cortex")
            .filename_suffix("log")
            .max_log_files(KEEP_FILES)
            .build(d)
            .ok()
    }) {
        Some(appender) => {
            let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .buffered_lines_limit(LOG_QUEUE_LINES)
                .lossy(false)
                .finish(appender);
            let layer = fmt::layer()
                .with_writer(move || cortex_core::redact::RedactingWrite(writer.clone()))
                .with_ansi(false)
                .with_target(false)
                .with_filter(EnvFilter::new("info"));
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .try_init();
    guard
}
