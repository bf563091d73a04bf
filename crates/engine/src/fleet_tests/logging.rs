//! What the owner's log says of workers: their secrets hidden.
//!
//! The log is captured by one subscriber set for the whole test binary,
//! which keeps only what the capturing thread logs. A subscriber set for
//! one thread (`with_default`) would miss events: while it is the only
//! one, `tracing` decides whether a log statement is wanted by asking the
//! subscriber of the thread that reaches it first, and another test's
//! thread, which has none, makes it "never" for every thread.

use super::*;
use std::cell::RefCell;
use std::sync::Mutex;

thread_local! {
    /// What this thread logged, while it captures.
    static CAPTURED: RefCell<Option<Arc<Mutex<Vec<u8>>>>> = const { RefCell::new(None) };
}

/// Writes to the capture of the thread that logs, if any.
struct ToThisThread;

impl std::io::Write for ToThisThread {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED.with_borrow(|c| {
            if let Some(log) = c {
                log.lock().expect("log").extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` and returns what this thread logged meanwhile, formatted as the
/// owner's log is (plain text, fields as `key=value`).
fn logged_by(f: impl FnOnce()) -> String {
    use tracing_subscriber::layer::SubscriberExt;
    static SET: std::sync::Once = std::sync::Once::new();
    SET.call_once(|| {
        // Asked at each event, on its thread (a `filter_fn` would be asked
        // once per statement and its answer kept for every thread).
        let capturing = tracing_subscriber::filter::dynamic_filter_fn(|_, _| {
            CAPTURED.with_borrow(|c| c.is_some())
        });
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(|| ToThisThread);
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::Layer::with_filter(layer, capturing));
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    });
    let log = Arc::new(Mutex::new(Vec::new()));
    CAPTURED.set(Some(log.clone()));
    f();
    CAPTURED.set(None);
    let bytes = log.lock().expect("log").clone();
    String::from_utf8(bytes).expect("utf-8")
}

#[test]
fn the_reason_a_worker_ended_is_logged_with_its_secrets_hidden() {
    let f = Fleet::new(Setup::default());
    // Logged as a field, the reason's quotes are escaped (`\"`).
    f.fake
        .fail_next_launch("cannot start: PGPASSWORD=\"Hunter2Hunter2xyz\" psql");
    let logged = logged_by(|| {
        // Another test's worker ends first, on its own thread.
        std::thread::spawn(|| {
            let g = Fleet::new(Setup::default());
            g.fake.fail_next_launch("cannot start: elsewhere");
            g.submit("fix the lexer", "development");
            g.tick();
        })
        .join()
        .expect("the other test");
        let task = f.submit("fix the parser", "development");
        f.tick();
        assert_eq!(f.worker_of(&task).state, WorkerStatus::Failed);
    });
    let ended: Vec<&str> = logged
        .lines()
        .filter(|l| l.contains("worker ended"))
        .collect();
    assert_eq!(ended.len(), 1, "this thread's end only: {logged}");
    assert!(
        ended[0].contains(r#"PGPASSWORD=\"[redacted]\" psql"#),
        "{}",
        ended[0]
    );
}
