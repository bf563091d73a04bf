//! What the owner's log says of workers: their secrets hidden.

use super::*;

#[test]
fn the_reason_a_worker_ended_is_logged_with_its_secrets_hidden() {
    #[derive(Clone, Default)]
    struct Log(Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Log {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let f = Fleet::new(Setup::default());
    // Logged as a field, the reason's quotes are escaped (`\"`).
    f.fake
        .fail_next_launch("cannot start: PGPASSWORD=\"Hunter2Hunter2xyz\" psql");
    tracing::subscriber::with_default(subscriber, || {
        let task = f.submit("fix the parser", "development");
        f.tick();
        assert_eq!(f.worker_of(&task).state, WorkerStatus::Failed);
    });
    let logged = String::from_utf8(log.0.lock().expect("log").clone()).expect("utf-8");
    let ended = logged
        .lines()
        .find(|l| l.contains("worker ended"))
        .unwrap_or_else(|| panic!("no end logged: {logged}"));
    assert!(
        ended.contains(r#"PGPASSWORD=\"[redacted]\" psql"#),
        "{ended}"
    );
}
